// The editor's `den.*` settings as the server reads them. Nothing here imports
// `vscode`: the extension passes a reader, the unit tests a plain object.

/** The configuration section the server asks for in workspace/configuration. */
export const SECTION = "den";

export const PROFILES = ["auto", "isolation", "isolation-design"];
export const LEVELS = ["error", "warning", "information", "hint", "off"];

/** The shape den-lsp reads, the same as `den-lsp.toml`. */
export interface ServerSettings {
  profile?: string;
  severity?: Record<string, string>;
  exclude?: string[];
}

/**
 * A setting's value where the user set it (workspace folder, workspace or
 * user settings), or undefined when it is left at its default.
 */
export type ReadSetting = (key: string) => unknown;

export interface Converted {
  settings: ServerSettings;
  /** What was left out, and why, for the output channel. */
  problems: string[];
}

/**
 * The settings to send den-lsp. Only what the user set is sent, so an unset
 * profile leaves `den-lsp.toml`'s in force; a value of the wrong shape is
 * left out and named in `problems` rather than sent for the server to reject.
 */
export function serverSettings(read: ReadSetting): Converted {
  const settings: ServerSettings = {};
  const problems: string[] = [];

  const profile = read("profile");
  if (profile !== undefined && profile !== null) {
    if (typeof profile === "string" && PROFILES.includes(profile)) {
      settings.profile = profile;
    } else {
      problems.push(`den.profile must be one of ${PROFILES.join(", ")}; ignoring ${show(profile)}`);
    }
  }

  const severity = read("severity");
  if (severity !== undefined && severity !== null) {
    if (isRecord(severity)) {
      const levels: Record<string, string> = {};
      for (const [code, level] of Object.entries(severity)) {
        if (typeof level === "string" && LEVELS.includes(level)) {
          levels[code] = level;
        } else {
          problems.push(
            `den.severity: the level of ${code} must be one of ${LEVELS.join(", ")}; ignoring ${show(level)}`,
          );
        }
      }
      settings.severity = levels;
    } else {
      problems.push(`den.severity must be an object of rule code to level; ignoring ${show(severity)}`);
    }
  }

  const exclude = read("exclude");
  if (exclude !== undefined && exclude !== null) {
    if (Array.isArray(exclude)) {
      const patterns = exclude.filter((item): item is string => typeof item === "string");
      if (patterns.length !== exclude.length) {
        problems.push("den.exclude: ignoring entries that are not strings");
      }
      settings.exclude = patterns;
    } else {
      problems.push(`den.exclude must be a list of path patterns; ignoring ${show(exclude)}`);
    }
  }

  return { settings, problems };
}

/** Whether den-lsp's inlay hints are shown: on unless set to false. */
export function inlayHintsEnabled(read: ReadSetting): boolean {
  return read("inlayHints.enable") !== false;
}

/** Settings whose change needs a new server process rather than a reload. */
export const RESTART_SETTINGS = ["den.server.path", "den.server.python"];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
