// Finding the den-lsp server: the `den.server.path` setting, then `den-lsp`
// on PATH, then `python -m den_lsp`. Nothing here imports `vscode`, so the
// unit tests run it under plain Node with a fake host.

import { execFile } from "node:child_process";
import { constants, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * `python -P -m den_lsp`. The server runs in the workspace folder, and plain
 * `python -m` puts the current folder first on the module path: a workspace
 * holding `den_lsp/` or a `json.py` would have its own code imported and run.
 * `-P` (Python 3.11, which den-lsp requires) leaves the current folder out.
 */
export const MODULE_ARGS = ["-P", "-m", "den_lsp"];

/** How to run den-lsp: a command and the arguments before the subcommand. */
export interface DenCommand {
  command: string;
  args: string[];
  /** Which step of the search found it, for the log. */
  source: "setting" | "path" | "python";
}

export interface ServerSearch {
  /** `den.server.path`: a command, or a command and its leading arguments. */
  serverPath: unknown;
  /** `den.server.python`: the interpreter for `python -m den_lsp`. */
  python: unknown;
  /** Where a relative `den.server.path` is resolved from. */
  workspaceFolder?: string;
}

export type Found =
  | { ok: true; server: DenCommand }
  | { ok: false; message: string };

export interface Probe {
  ok: boolean;
  /** The reason it failed, one line, for the message. */
  detail: string;
}

/** What discovery needs from the machine; tests pass a fake. */
export interface Host {
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
  homedir: string;
  isExecutable(file: string): Promise<boolean>;
  /** Run `command args...` briefly and say whether it is den-lsp. */
  probe(command: string, args: string[]): Promise<Probe>;
}

/** den-lsp is not on PyPI yet: it installs from a checkout of its repository. */
export const INSTALL_COMMAND = "pipx install ./den-lsp";
const INSTALL_HINT = `from a den-lsp checkout: \`${INSTALL_COMMAND}\``;

const SERVER_NAME = "den-lsp";

/** Find den-lsp, or say in one message why not and how to install it. */
export async function findServer(search: ServerSearch, host: Host): Promise<Found> {
  const fromSetting = settingCommand(search.serverPath);
  if (fromSetting !== undefined) {
    return useSetting(fromSetting, search, host);
  }

  const onPath = await which(SERVER_NAME, host);
  if (onPath !== undefined) {
    return { ok: true, server: { command: onPath, args: [], source: "path" } };
  }

  const python = pythonName(search.python, host.platform);
  const interpreter = await resolveCommand(python, search.workspaceFolder, host);
  let reason: string;
  if (interpreter === undefined) {
    reason = `\`${python}\` was not found`;
  } else {
    const probe = await host.probe(interpreter, [...MODULE_ARGS, "--version"]);
    if (probe.ok) {
      return {
        ok: true,
        server: { command: interpreter, args: [...MODULE_ARGS], source: "python" },
      };
    }
    reason = `\`${python} -m den_lsp\` failed${probe.detail ? ` (${probe.detail})` : ""}`;
  }

  return {
    ok: false,
    message:
      `den-lsp is not installed: there is no \`den-lsp\` on PATH and ${reason}. ` +
      "den-lsp is not on PyPI yet: install it from a checkout of its repository with " +
      `\`${INSTALL_COMMAND}\` (run in the folder holding the checkout), or set ` +
      '`den.server.path`, then run "den: Restart server".',
  };
}

/**
 * `den.server.path` as a command line, or undefined when it is unset.
 *
 * A string is one command; a list is a command and its leading arguments. A
 * trailing `serve` is dropped, since the extension adds the subcommand itself.
 * A value of the wrong shape gives an empty list, which `findServer` reports.
 */
export function settingCommand(value: unknown): string[] | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value === "string") {
    return value.trim() === "" ? undefined : [value.trim()];
  }
  if (!Array.isArray(value)) {
    return [];
  }
  if (value.length === 0) {
    return undefined;
  }
  if (!value.every((part) => typeof part === "string")) {
    return [];
  }
  const parts = value as string[];
  return parts.length > 1 && parts[parts.length - 1] === "serve" ? parts.slice(0, -1) : parts;
}

async function useSetting(parts: string[], search: ServerSearch, host: Host): Promise<Found> {
  if (parts.length === 0 || parts[0].trim() === "") {
    return {
      ok: false,
      message:
        "The setting `den.server.path` must be a command, or a list of a command " +
        'and its arguments such as ["den-lsp"]. Fix it, or clear it to let den find ' +
        `den-lsp on PATH (install it ${INSTALL_HINT}).`,
    };
  }
  const [first, ...rest] = parts;
  const command = await resolveCommand(first, search.workspaceFolder, host);
  if (command === undefined) {
    return {
      ok: false,
      message:
        `The setting \`den.server.path\` names \`${first}\`, which is not an ` +
        "executable file or a command on PATH. Fix it, or clear it to let den find " +
        `den-lsp on PATH (install it ${INSTALL_HINT}).`,
    };
  }
  return { ok: true, server: { command, args: rest, source: "setting" } };
}

function pythonName(value: unknown, platform: NodeJS.Platform): string {
  if (typeof value === "string" && value.trim() !== "") {
    return value.trim();
  }
  return platform === "win32" ? "python" : "python3";
}

/**
 * A command as the executable it runs: a path (with `~` and relative to the
 * workspace folder) when it has a separator, else a name looked up on PATH.
 */
export async function resolveCommand(
  name: string,
  workspaceFolder: string | undefined,
  host: Host,
): Promise<string | undefined> {
  const paths = host.platform === "win32" ? path.win32 : path.posix;
  const hasSeparator = name.includes("/") || (host.platform === "win32" && name.includes("\\"));
  if (!hasSeparator) {
    return which(name, host);
  }

  let file = name;
  if (file === "~" || file.startsWith("~/")) {
    file = paths.join(host.homedir, file.slice(1));
  } else if (!paths.isAbsolute(file) && workspaceFolder !== undefined) {
    file = paths.join(workspaceFolder, file);
  }
  for (const candidate of withExtensions(file, host)) {
    if (await host.isExecutable(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

/** The first executable called `name` in the PATH directories. */
export async function which(name: string, host: Host): Promise<string | undefined> {
  const paths = host.platform === "win32" ? path.win32 : path.posix;
  const delimiter = host.platform === "win32" ? ";" : ":";
  const pathValue = host.env.PATH ?? host.env.Path ?? "";
  for (const directory of pathValue.split(delimiter)) {
    if (directory === "") {
      continue;
    }
    for (const candidate of withExtensions(paths.join(directory, name), host)) {
      if (await host.isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

function withExtensions(file: string, host: Host): string[] {
  if (host.platform !== "win32" || path.win32.extname(file) !== "") {
    return [file];
  }
  const extensions = (host.env.PATHEXT ?? ".COM;.EXE;.BAT;.CMD").split(";");
  return [file, ...extensions.filter((e) => e !== "").map((e) => file + e.toLowerCase())];
}

// The real host: the file system and short-lived child processes.

const PROBE_TIMEOUT_MS = 15_000;

export function nodeHost(env: Record<string, string | undefined> = process.env): Host {
  return {
    platform: process.platform,
    env,
    homedir: os.homedir(),
    async isExecutable(file: string): Promise<boolean> {
      try {
        const stat = await fs.stat(file);
        if (!stat.isFile()) {
          return false;
        }
        if (process.platform !== "win32") {
          await fs.access(file, constants.X_OK);
        }
        return true;
      } catch {
        return false;
      }
    },
    probe(command: string, args: string[]): Promise<Probe> {
      return new Promise((resolve) => {
        execFile(
          command,
          args,
          { timeout: PROBE_TIMEOUT_MS, env: env as NodeJS.ProcessEnv, windowsHide: true },
          (error, stdout, stderr) => {
            if (error === null && /^den-lsp\b/.test(stdout.trim())) {
              resolve({ ok: true, detail: "" });
              return;
            }
            resolve({ ok: false, detail: lastLine(stderr) || lastLine(stdout) || errorText(error) });
          },
        );
      });
    },
  };
}

/** The last non-empty line of a program's output, shortened for a message. */
export function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "");
  const line = lines.length > 0 ? lines[lines.length - 1] : "";
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

function errorText(error: Error | null): string {
  if (error === null) {
    return "it did not print its version";
  }
  const code = (error as NodeJS.ErrnoException & { killed?: boolean }).killed
    ? "it timed out"
    : error.message;
  return lastLine(code);
}
