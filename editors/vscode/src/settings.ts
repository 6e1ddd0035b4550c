// The editor's `den.*` settings as the server reads them. Nothing here imports
// `vscode`: the extension passes a reader, the unit tests a plain object.

/** The configuration section the server asks for in workspace/configuration. */
export const SECTION = "den";

export const PROFILES = ["auto", "isolation", "isolation-design", "ctx"];
export const LEVELS = ["error", "warning", "information", "hint", "off"];

/** The shape den-lsp reads, the same as `den-lsp.toml`. */
export interface ServerSettings {
  profile?: string;
  severity?: Record<string, string>;
  exclude?: string[];
  known?: KnownNames;
  /** false: neither read nor write the on-disk cache. The server's own setting. */
  cache?: boolean;
}

/** `[known]`: names the configuration builds in ways den-lsp cannot read. */
export interface KnownNames {
  classes?: string[];
  kinds?: string[];
  "context-keys"?: string[];
}

/** The lists `den.known` takes, as den-lsp.toml's `[known]` table names them. */
export const KNOWN_KEYS = ["classes", "kinds", "context-keys"] as const;

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
 * The settings to send den-lsp: `profile`, `severity`, `exclude`, `known`
 * and `cache`. Only what the user set is sent, so an unset profile leaves
 * `den-lsp.toml`'s in force; a value of the wrong shape is left out and named
 * in `problems` rather than sent for the server to reject. Inlay hints are
 * not sent: the extension shows or hides them itself.
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

  const known = read("known");
  if (known !== undefined && known !== null) {
    if (isRecord(known)) {
      const names: KnownNames = {};
      for (const [key, value] of Object.entries(known)) {
        if (!isKnownKey(key)) {
          problems.push(`den.known: ${key} is not one of ${KNOWN_KEYS.join(", ")}; ignoring it`);
        } else if (Array.isArray(value)) {
          const strings = value.filter((item): item is string => typeof item === "string");
          if (strings.length !== value.length) {
            problems.push(`den.known.${key}: ignoring entries that are not strings`);
          }
          names[key] = strings;
        } else {
          problems.push(`den.known.${key} must be a list of names; ignoring ${show(value)}`);
        }
      }
      settings.known = names;
    } else {
      problems.push(`den.known must be an object of ${KNOWN_KEYS.join(", ")} lists; ignoring ${show(known)}`);
    }
  }

  const cache = read("cache");
  if (cache !== undefined && cache !== null) {
    if (typeof cache === "boolean") {
      settings.cache = cache;
    } else {
      problems.push(`den.cache must be true or false; ignoring ${show(cache)}`);
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

function isKnownKey(key: string): key is (typeof KNOWN_KEYS)[number] {
  return (KNOWN_KEYS as readonly string[]).includes(key);
}

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
