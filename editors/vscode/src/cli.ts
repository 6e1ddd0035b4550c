// The den-lsp command line behind "Show scope graph" and "Explain rule".
// Nothing here imports `vscode`; the unit tests run it against small scripts.

import { execFile } from "node:child_process";

import { DenCommand, lastLine } from "./discovery";

export type CliOutcome = { ok: true; text: string } | { ok: false; message: string };

const CLI_TIMEOUT_MS = 60_000;
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;

/** Rule codes den-lsp reports, offered by "Explain rule" beside those on screen. */
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
        "This den-lsp has no `explain` command yet. Upgrade den-lsp " +
        "(`pipx upgrade den-lsp`) to read rule explanations in the editor.",
    };
  }
  if (outcome.ok && outcome.text.trim() === "") {
    return { ok: false, message: `\`den-lsp explain ${code}\` printed nothing.` };
  }
  return outcome;
}

/** Codes to offer: those on screen first, then every other known code. */
export function codeChoices(onScreen: Iterable<string>): string[] {
  const seen = new Set<string>();
  const choices: string[] = [];
  for (const code of [...onScreen, ...KNOWN_CODES]) {
    if (code.startsWith("den/") && !seen.has(code)) {
      seen.add(code);
      choices.push(code);
    }
  }
  return choices;
}
