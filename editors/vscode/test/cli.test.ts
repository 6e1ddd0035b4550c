import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

import { codeChoices, explainRule, KNOWN_CODES, listedCodes, ruleCodes, scopeGraph } from "../src/cli";
import { DenCommand } from "../src/discovery";

const EXAMPLES = path.resolve(__dirname, "../../../../examples");

/** A stand-in den-lsp that knows `scopes` but, like den-lsp 0.1, not `explain`. */
function oldDenLsp(): DenCommand {
  const directory = mkdtempSync(path.join(tmpdir(), "den-cli-"));
  const file = path.join(directory, "den-lsp");
  writeFileSync(
    file,
    [
      "#!/bin/sh",
      'if [ "$1" = scopes ]; then echo "scope graph of $2"; exit 0; fi',
      "echo \"den-lsp: error: argument command: invalid choice: '$1' (choose from 'check', 'scopes', 'serve')\" >&2",
      "exit 2",
      "",
    ].join("\n"),
  );
  chmodSync(file, 0o755);
  return { command: file, args: [], source: "setting" };
}

describe("den-lsp commands", { skip: process.platform === "win32" }, () => {
  it("returns the scope graph printed by den-lsp scopes", async () => {
    const outcome = await scopeGraph(oldDenLsp(), tmpdir());
    assert.deepEqual(outcome, { ok: true, text: `scope graph of ${tmpdir()}\n` });
  });

  it("asks for an upgrade when den-lsp has no explain command", async () => {
    const outcome = await explainRule(oldDenLsp(), "den/isolation-leak", undefined);
    assert.deepEqual(outcome, {
      ok: false,
      message:
        "This den-lsp has no `explain` command yet. Reinstall den-lsp from a current checkout " +
        "(`pipx install --force ./den-lsp`) to read rule explanations in the editor.",
    });
  });

  it("offers every known code when den-lsp cannot list them", async () => {
    assert.deepEqual(await ruleCodes(oldDenLsp(), undefined), KNOWN_CODES);
    const missing: DenCommand = { command: "/nonexistent/den-lsp", args: [], source: "setting" };
    assert.deepEqual(await ruleCodes(missing, undefined), KNOWN_CODES);
  });

  it("reports a command that cannot be started", async () => {
    const missing: DenCommand = { command: "/nonexistent/den-lsp", args: [], source: "setting" };
    const outcome = await scopeGraph(missing, tmpdir());
    assert.deepEqual(outcome, {
      ok: false,
      message: `\`den-lsp scopes ${tmpdir()}\` failed: it could not be started (ENOENT)`,
    });
  });
});

// With DEN_LSP set to a den-lsp executable (scripts/test sets it), the same
// functions run the real command line.
const real = process.env.DEN_LSP;
describe("the real den-lsp", { skip: real === undefined ? "DEN_LSP is not set" : false }, () => {
  const den: DenCommand = { command: real ?? "", args: [], source: "setting" };

  it("prints the scope graph of a shipped example", async () => {
    const outcome = await scopeGraph(den, path.join(EXAMPLES, "microvm-guest-leak"));
    assert.equal(outcome.ok, true, outcome.ok ? "" : outcome.message);
    const text = outcome.ok ? outcome.text : "";
    assert.match(text, /^kind guest \[entity\]\n {2}scope chain: flake › flake-system › host › guest\n {2}entity: yes {3}isolated: no$/m);
  });

  it("lists its rule codes, the ones KNOWN_CODES has", async () => {
    assert.deepEqual(await ruleCodes(den, undefined), KNOWN_CODES);
  });

  it("explains a rule, or asks for an upgrade when explain is missing", async () => {
    const outcome = await explainRule(den, "den/isolation-leak", undefined);
    if (outcome.ok) {
      assert.match(outcome.text, /den\/isolation-leak/);
    } else {
      assert.match(outcome.message, /^This den-lsp has no `explain` command yet\./);
    }
  });
});

describe("codes offered by Explain rule", () => {
  it("lists codes on screen first, once each, then the rest", () => {
    const choices = codeChoices(["den/unknown-kind", "den/isolation-leak", "den/unknown-kind", "E001"]);
    assert.deepEqual(choices.slice(0, 3), ["den/unknown-kind", "den/isolation-leak", "den/syntax"]);
    assert.equal(choices.length, KNOWN_CODES.length);
    assert.equal(KNOWN_CODES.length, 22);
  });

  it("takes the codes den-lsp lists", () => {
    assert.deepEqual(codeChoices(["den/isolation-leak"], ["den/syntax", "den/isolation-leak", "den/new-rule"]), [
      "den/isolation-leak",
      "den/syntax",
      "den/new-rule",
    ]);
  });

  it("reads the codes from den-lsp explain's list", () => {
    const text =
      "den/syntax                              error        Nix syntax error\n" +
      "den/isolation-leak                      warning      A delivered child kind is not isolated\n" +
      "\n";
    assert.deepEqual(listedCodes(text), ["den/syntax", "den/isolation-leak"]);
    assert.deepEqual(listedCodes("## `den/syntax`\n\n**error.** Nix syntax error.\n"), []);
  });
});
