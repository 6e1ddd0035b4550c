import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

import { findServer, Host, nodeHost, Probe, settingCommand } from "../src/discovery";

/** A machine with these executables, where these probes succeed. */
function fakeHost(
  executables: string[],
  probes: Record<string, Probe> = {},
  overrides: Partial<Host> = {},
): Host & { probed: string[] } {
  const probed: string[] = [];
  return {
    platform: "linux",
    env: { PATH: "/home/me/.local/bin:/usr/local/bin:/usr/bin" },
    homedir: "/home/me",
    isExecutable: async (file) => executables.includes(file),
    probe: async (command, args) => {
      const line = [command, ...args].join(" ");
      probed.push(line);
      return probes[line] ?? { ok: false, detail: "No module named den_lsp" };
    },
    probed,
    ...overrides,
  };
}

const NOT_INSTALLED =
  "den-lsp is not installed: there is no `den-lsp` on PATH and `python3 -m den_lsp` failed " +
  "(No module named den_lsp). den-lsp is not on PyPI yet: install it from a checkout of its " +
  "repository with `pipx install ./den-lsp` (run in the folder holding the checkout), or set " +
  '`den.server.path`, then run "den: Restart server".';

describe("the den.server.path setting", () => {
  it("runs an absolute path as given, ahead of PATH", async () => {
    const host = fakeHost(["/opt/den/bin/den-lsp", "/usr/bin/den-lsp"]);
    const found = await findServer({ serverPath: "/opt/den/bin/den-lsp", python: "" }, host);
    assert.deepEqual(found, {
      ok: true,
      server: { command: "/opt/den/bin/den-lsp", args: [], source: "setting" },
    });
    assert.deepEqual(host.probed, []);
  });

  it("looks a bare command name up on PATH and keeps the leading arguments", async () => {
    const host = fakeHost(["/usr/bin/nix"]);
    const found = await findServer(
      { serverPath: ["nix", "run", "path:/src/den-lsp", "--"], python: "" },
      host,
    );
    assert.deepEqual(found, {
      ok: true,
      server: { command: "/usr/bin/nix", args: ["run", "path:/src/den-lsp", "--"], source: "setting" },
    });
  });

  it("resolves a relative path from the workspace folder and ~ from home", async () => {
    const host = fakeHost(["/work/cfg/.venv/bin/den-lsp", "/home/me/den/bin/den-lsp"]);
    const relative = await findServer(
      { serverPath: "./.venv/bin/den-lsp", python: "", workspaceFolder: "/work/cfg" },
      host,
    );
    assert.equal(relative.ok && relative.server.command, "/work/cfg/.venv/bin/den-lsp");
    const home = await findServer({ serverPath: "~/den/bin/den-lsp", python: "" }, host);
    assert.equal(home.ok && home.server.command, "/home/me/den/bin/den-lsp");
  });

  it("reports a setting that names nothing, without falling back to PATH", async () => {
    const host = fakeHost(["/usr/bin/den-lsp"]);
    const found = await findServer({ serverPath: "/nowhere/den-lsp", python: "" }, host);
    assert.deepEqual(found, {
      ok: false,
      message:
        "The setting `den.server.path` names `/nowhere/den-lsp`, which is not an executable " +
        "file or a command on PATH. Fix it, or clear it to let den find den-lsp on PATH " +
        "(install it from a den-lsp checkout: `pipx install ./den-lsp`).",
    });
  });

  it("reports a setting of the wrong shape", async () => {
    for (const value of [42, ["den-lsp", 1], { command: "den-lsp" }]) {
      const found = await findServer({ serverPath: value, python: "" }, fakeHost(["/usr/bin/den-lsp"]));
      assert.equal(found.ok, false, JSON.stringify(value));
      assert.match(found.ok ? "" : found.message, /^The setting `den.server.path` must be a command/);
    }
  });

  it("treats an empty setting as unset", async () => {
    for (const value of ["", "  ", [], undefined, null]) {
      const found = await findServer({ serverPath: value, python: "" }, fakeHost(["/usr/bin/den-lsp"]));
      assert.deepEqual(found, {
        ok: true,
        server: { command: "/usr/bin/den-lsp", args: [], source: "path" },
      });
    }
  });

  it("drops a trailing serve, which the extension adds itself", () => {
    assert.deepEqual(settingCommand(["den-lsp", "serve"]), ["den-lsp"]);
    assert.deepEqual(settingCommand(["serve"]), ["serve"]);
    assert.deepEqual(settingCommand(" /bin/den-lsp "), ["/bin/den-lsp"]);
  });
});

describe("den-lsp on PATH", () => {
  it("takes the first executable in PATH order, skipping what is not executable", async () => {
    const host = fakeHost(["/usr/local/bin/den-lsp", "/usr/bin/den-lsp"]);
    const found = await findServer({ serverPath: "", python: "" }, host);
    assert.deepEqual(found, {
      ok: true,
      server: { command: "/usr/local/bin/den-lsp", args: [], source: "path" },
    });
    assert.deepEqual(host.probed, []);
  });

  it("finds den-lsp.exe through PATHEXT on Windows", async () => {
    const host = fakeHost(["C:\\Users\\me\\pipx\\bin\\den-lsp.exe"], {}, {
      platform: "win32",
      env: { Path: "C:\\Windows;C:\\Users\\me\\pipx\\bin", PATHEXT: ".COM;.EXE" },
    });
    const found = await findServer({ serverPath: "", python: "" }, host);
    assert.equal(found.ok && found.server.command, "C:\\Users\\me\\pipx\\bin\\den-lsp.exe");
  });
});

describe("python -m den_lsp", () => {
  it("runs the module with python3 when den-lsp is not on PATH and the module imports", async () => {
    const host = fakeHost(["/usr/bin/python3"], {
      "/usr/bin/python3 -P -m den_lsp --version": { ok: true, detail: "" },
    });
    const found = await findServer({ serverPath: "", python: "" }, host);
    assert.deepEqual(found, {
      ok: true,
      server: { command: "/usr/bin/python3", args: ["-P", "-m", "den_lsp"], source: "python" },
    });
  });

  it("uses the interpreter from den.server.python", async () => {
    const host = fakeHost(["/usr/bin/python3", "/work/cfg/.venv/bin/python"], {
      "/work/cfg/.venv/bin/python -P -m den_lsp --version": { ok: true, detail: "" },
    });
    const found = await findServer(
      { serverPath: "", python: ".venv/bin/python", workspaceFolder: "/work/cfg" },
      host,
    );
    assert.equal(found.ok && found.server.command, "/work/cfg/.venv/bin/python");
  });

  it("gives one message with the install command when nothing works", async () => {
    const host = fakeHost(["/usr/bin/python3"]);
    const found = await findServer({ serverPath: "", python: "" }, host);
    assert.deepEqual(found, { ok: false, message: NOT_INSTALLED });
    assert.deepEqual(host.probed, ["/usr/bin/python3 -P -m den_lsp --version"]);
  });

  it("says so when the interpreter itself is missing", async () => {
    const found = await findServer({ serverPath: "", python: "python3.13" }, fakeHost([]));
    assert.equal(found.ok, false);
    assert.match(
      found.ok ? "" : found.message,
      /^den-lsp is not installed: there is no `den-lsp` on PATH and `python3.13` was not found\. /,
    );
  });
});

describe("the real host", { skip: process.platform === "win32" }, () => {
  const directory = mkdtempSync(path.join(tmpdir(), "den-discovery-"));
  const script = (name: string, body: string, mode = 0o755): string => {
    const file = path.join(directory, name);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, mode);
    return file;
  };
  script("den-lsp", 'echo "den-lsp 0.1.0"');
  script("python-with-den", 'echo "den-lsp 0.1.0"');
  script("python-without-den", 'echo "$0: No module named den_lsp" >&2; exit 1');
  script("not-executable", 'echo "den-lsp 0.1.0"', 0o644);

  it("finds an executable on PATH and not a plain file", async () => {
    const host = nodeHost({ PATH: directory });
    const found = await findServer({ serverPath: "", python: "" }, host);
    assert.equal(found.ok && found.server.command, path.join(directory, "den-lsp"));
    assert.equal(await host.isExecutable(path.join(directory, "not-executable")), false);
    assert.equal(await host.isExecutable(directory), false);
  });

  it("probes an interpreter by running it", async () => {
    const host = nodeHost({ PATH: "/nonexistent" });
    const good = await findServer(
      { serverPath: "", python: path.join(directory, "python-with-den") },
      host,
    );
    assert.equal(good.ok && good.server.source, "python");
    const bad = await findServer(
      { serverPath: "", python: path.join(directory, "python-without-den") },
      host,
    );
    assert.equal(bad.ok, false);
    assert.match(
      bad.ok ? "" : bad.message,
      /failed \(.*python-without-den: No module named den_lsp\)\. den-lsp is not on PyPI yet: install it from a checkout of its repository with `pipx install \.\/den-lsp`/,
    );
  });
});
