import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { inlayHintsEnabled, serverSettings } from "../src/settings";

const reading = (values: Record<string, unknown>) => (key: string) => values[key];

describe("settings sent to den-lsp", () => {
  it("sends nothing for settings left at their defaults, so den-lsp.toml applies", () => {
    assert.deepEqual(serverSettings(reading({})), { settings: {}, problems: [] });
  });

  it("sends the profile, severities and excludes in den-lsp.toml's shape", () => {
    const converted = serverSettings(
      reading({
        profile: "isolation-design",
        severity: { "den/delivery-not-verbatim": "hint", "den/isolation-leak": "off" },
        exclude: ["vendor/", "templates/**"],
        "server.path": "/opt/den-lsp",
        "trace.server": "verbose",
        "inlayHints.enable": false,
      }),
    );
    assert.deepEqual(converted, {
      settings: {
        profile: "isolation-design",
        severity: { "den/delivery-not-verbatim": "hint", "den/isolation-leak": "off" },
        exclude: ["vendor/", "templates/**"],
      },
      problems: [],
    });
  });

  it("leaves out values of the wrong shape and names each", () => {
    const converted = serverSettings(
      reading({
        profile: "newest",
        severity: { "den/isolation-leak": "loud", "den/syntax": "error" },
        exclude: "vendor/",
      }),
    );
    assert.deepEqual(converted, {
      settings: { severity: { "den/syntax": "error" } },
      problems: [
        'den.profile must be one of auto, isolation, isolation-design; ignoring "newest"',
        'den.severity: the level of den/isolation-leak must be one of error, warning, information, hint, off; ignoring "loud"',
        'den.exclude must be a list of path patterns; ignoring "vendor/"',
      ],
    });
  });

  it("keeps the string entries of a mixed exclude list", () => {
    const converted = serverSettings(reading({ exclude: ["a/", 3, null, "b/"], severity: [] }));
    assert.deepEqual(converted, {
      settings: { exclude: ["a/", "b/"] },
      problems: [
        "den.severity must be an object of rule code to level; ignoring []",
        "den.exclude: ignoring entries that are not strings",
      ],
    });
  });
});

describe("inlay hints", () => {
  it("are on unless set to false", () => {
    assert.equal(inlayHintsEnabled(reading({})), true);
    assert.equal(inlayHintsEnabled(reading({ "inlayHints.enable": true })), true);
    assert.equal(inlayHintsEnabled(reading({ "inlayHints.enable": false })), false);
  });
});
