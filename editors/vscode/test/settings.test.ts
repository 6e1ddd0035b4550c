import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

import { inlayHintsEnabled, KNOWN_KEYS, LEVELS, PROFILES, serverSettings } from "../src/settings";

const reading = (values: Record<string, unknown>) => (key: string) => values[key];

describe("settings sent to den-lsp", () => {
  it("sends nothing for settings left at their defaults, so den-lsp.toml applies", () => {
    assert.deepEqual(serverSettings(reading({})), { settings: {}, problems: [] });
  });

  it("sends every den-lsp setting in den-lsp.toml's shape, and nothing else", () => {
    const converted = serverSettings(
      reading({
        profile: "isolation-design",
        severity: { "den/delivery-not-verbatim": "hint", "den/isolation-leak": "off" },
        exclude: ["vendor/", "templates/**"],
        known: { classes: ["k8s-manifests"], kinds: ["cluster"], "context-keys": ["region"] },
        cache: false,
        "server.path": "/opt/den-lsp",
        "server.python": "/usr/bin/python3",
        "trace.server": "verbose",
        "inlayHints.enable": false,
      }),
    );
    assert.deepEqual(converted, {
      settings: {
        profile: "isolation-design",
        severity: { "den/delivery-not-verbatim": "hint", "den/isolation-leak": "off" },
        exclude: ["vendor/", "templates/**"],
        known: { classes: ["k8s-manifests"], kinds: ["cluster"], "context-keys": ["region"] },
        cache: false,
      },
      problems: [],
    });
  });

  it("sends each profile den-lsp knows", () => {
    for (const profile of ["auto", "isolation", "isolation-design", "ctx"]) {
      assert.deepEqual(serverSettings(reading({ profile })), { settings: { profile }, problems: [] });
    }
  });

  it("sends a cache left on, and some of the known lists", () => {
    assert.deepEqual(serverSettings(reading({ cache: true, known: { kinds: [] } })), {
      settings: { known: { kinds: [] }, cache: true },
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
        'den.profile must be one of auto, isolation, isolation-design, ctx; ignoring "newest"',
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

  it("keeps the usable parts of the known lists and the cache switch, and names the rest", () => {
    const converted = serverSettings(
      reading({ known: { classes: ["a", 1], hosts: ["b"], kinds: "cluster" }, cache: "no" }),
    );
    assert.deepEqual(converted, {
      settings: { known: { classes: ["a"] } },
      problems: [
        "den.known.classes: ignoring entries that are not strings",
        "den.known: hosts is not one of classes, kinds, context-keys; ignoring it",
        'den.known.kinds must be a list of names; ignoring "cluster"',
        'den.cache must be true or false; ignoring "no"',
      ],
    });
    assert.deepEqual(serverSettings(reading({ known: ["cluster"] })), {
      settings: {},
      problems: ['den.known must be an object of classes, kinds, context-keys lists; ignoring ["cluster"]'],
    });
  });
});

describe("the settings the extension declares", () => {
  const manifest = JSON.parse(
    readFileSync(path.resolve(__dirname, "../../package.json"), "utf8"),
  ) as { contributes: { configuration: { properties: Record<string, Record<string, unknown>> } } };
  const declared = manifest.contributes.configuration.properties;

  it("are every setting, each with a description and a default", () => {
    assert.deepEqual(Object.keys(declared), [
      "den.server.path",
      "den.server.python",
      "den.profile",
      "den.severity",
      "den.exclude",
      "den.known",
      "den.cache",
      "den.inlayHints.enable",
      "den.trace.server",
    ]);
    for (const [key, property] of Object.entries(declared)) {
      assert.equal(typeof property.markdownDescription, "string", key);
      assert.ok("default" in property, key);
    }
  });

  it("offer the profiles and levels the extension sends", () => {
    assert.deepEqual(declared["den.profile"].enum, PROFILES);
    assert.deepEqual((declared["den.severity"].additionalProperties as { enum: string[] }).enum, LEVELS);
    assert.deepEqual(Object.keys(declared["den.known"].properties as object), [...KNOWN_KEYS]);
    assert.deepEqual(
      [declared["den.known"].default, declared["den.cache"].default, declared["den.profile"].default],
      [{}, true, "auto"],
    );
  });
});

describe("inlay hints", () => {
  it("are on unless set to false", () => {
    assert.equal(inlayHintsEnabled(reading({})), true);
    assert.equal(inlayHintsEnabled(reading({ "inlayHints.enable": true })), true);
    assert.equal(inlayHintsEnabled(reading({ "inlayHints.enable": false })), false);
  });
});
