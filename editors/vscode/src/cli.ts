// The den-lsp command line behind "Show scope graph" and "Explain rule".
// Nothing here imports `vscode`; the unit tests run it against small scripts.

import { execFile } from "node:child_process";

import { DenCommand, lastLine } from "./discovery";

export type CliOutcome = { ok: true; text: string } | { ok: false; message: string };

const CLI_TIMEOUT_MS = 60_000;
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;

/**
 * Every rule code den-lsp reports, for "Explain rule" when `den-lsp explain`
 * cannot list them (an older den-lsp). tests/editors/test_rule_codes.py keeps
 * it equal to den-lsp's own list.
 */
export const KNOWN_CODES = [
  "den/syntax",
  "den/isolation-leak",
  "den/delivery-dropped",
  "den/delivery-self-collect",
  "den/append-to-parent-outside-isolation",
  "den/isolated-not-entity",
  "den/isolated-compose-kind",
  "den/unknown-kind",
  "den/unknown-route-field",
  "den/conflicting-route-fields",
  "den/delivery-not-verbatim",
  "den/unknown-class",
  "den/route-source-never-authored",
  "den/policy-never-activated",
  "den/policy-unknown-context",
  "den/host-scope-home-content",
  "den/entity-without-aspect",
  "den/unknown-aspect",
  "den/removed-api",
  "den/deprecated-api",
  "den/closed-context-args",
  "den/unused-suppression",
];

/** Run `den-lsp <args>` and collect its standard output. */
export function runDen(server: DenCommand, args: string[], cwd: string | undefined): Promise<CliOutcome> {
  const shown = ["den-lsp", ...args].join(" ");
  return new Promise((resolve) => {
    execFile(
      server.command,
      [...server.args, ...args],
      { cwd, timeout: CLI_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES, windowsHide: true },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ ok: true, text: stdout });
          return;
        }
        const errno = error as NodeJS.ErrnoException & { killed?: boolean };
        let reason: string;
        if (errno.killed) {
          reason = `it did not finish within ${CLI_TIMEOUT_MS / 1000} s`;
        } else if (typeof errno.code === "string") {
          reason = `it could not be started (${errno.code})`;
        } else {
          reason = lastLine(stderr) || `it exited with status ${String(errno.code)}`;
        }
        resolve({ ok: false, message: `\`${shown}\` failed: ${reason}` });
      },
    );
  });
}

/** `den-lsp scopes FOLDER`: the scope graph of one workspace folder. */
export function scopeGraph(server: DenCommand, folder: string): Promise<CliOutcome> {
  return runDen(server, ["scopes", folder], folder);
}

/**
 * `den-lsp explain CODE`. A den-lsp from before `explain` existed rejects the
 * subcommand; that is reported as an upgrade to make, not as a failure.
 */
export async function explainRule(
  server: DenCommand,
  code: string,
  cwd: string | undefined,
): Promise<CliOutcome> {
  const outcome = await runDen(server, ["explain", code], cwd);
  if (!outcome.ok && /invalid choice: '?explain/.test(outcome.message)) {
    return {
      ok: false,
      message:
        "This den-lsp has no `explain` command yet. Reinstall den-lsp from a current " +
        "checkout (`pipx install --force ./den-lsp`) to read rule explanations in the editor.",
    };
  }
  if (outcome.ok && outcome.text.trim() === "") {
    return { ok: false, message: `\`den-lsp explain ${code}\` printed nothing.` };
  }
  return outcome;
}

/**
 * The rule codes of this den-lsp, from `den-lsp explain` (a line per rule,
 * its code first), or KNOWN_CODES when it cannot list them.
 */
export async function ruleCodes(server: DenCommand, cwd: string | undefined): Promise<string[]> {
  const outcome = await runDen(server, ["explain"], cwd);
  const codes = outcome.ok ? listedCodes(outcome.text) : [];
  return codes.length > 0 ? codes : KNOWN_CODES;
}

/** The codes that begin the lines of `den-lsp explain`'s list. */
export function listedCodes(text: string): string[] {
  const codes: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const match = /^(den\/[\w-]+)\s/.exec(line);
    if (match !== null) {
      codes.push(match[1]);
    }
  }
  return codes;
}

/** Codes to offer: those on screen first, then every other known code. */
export function codeChoices(onScreen: Iterable<string>, known: Iterable<string> = KNOWN_CODES): string[] {
  const seen = new Set<string>();
  const choices: string[] = [];
  for (const code of [...onScreen, ...known]) {
    if (code.startsWith("den/") && !seen.has(code)) {
      seen.add(code);
      choices.push(code);
    }
  }
  return choices;
}
