"""Every diagnostic code den-lsp reports, with its default severity and its documentation.

This registry is the one source for the rules: `den-lsp explain CODE`, the
rules page (`docs/rules.md`, written by `den-lsp explain --all`), hover texts
and severity validation in settings all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from den_lsp.analysis.findings import Severity

# Diagnostic tags, as LSP names them: an unnecessary construct is shown faded,
# a deprecated one struck through.
UNNECESSARY = "unnecessary"
DEPRECATED = "deprecated"


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    summary: str
    tags: tuple[str, ...] = ()
    # The documentation `den-lsp explain` prints: what den does, a wrong and
    # a right example (Nix), and how to fix or silence the finding.
    what: str = ""
    wrong: str = ""
    right: str = ""
    fix: str = ""


_ALL = (
    Code(
        "den/syntax",
        Severity.ERROR,
        "Nix syntax error",
        what=(
            "Nix refuses to parse the file, so den never sees any definition in it: "
            "every host that imports it fails to evaluate. den-lsp parses with "
            "tree-sitter and reports where the parser had to skip or invent text."
        ),
        wrong="""{ den, ... }: {
  den.aspects.igloo.nixos = { services.nginx.enable = true; }
}""",
        right="""{ den, ... }: {
  den.aspects.igloo.nixos = { services.nginx.enable = true; };
}""",
        fix="Correct the syntax at the reported place (a missing `;`, `}` or `)` is the usual cause).",
    ),
    Code(
        "den/isolation-leak",
        Severity.WARNING,
        "A delivered child kind is not isolated, so its system content leaks "
        "into the parent host",
        what=(
            "den builds a host from its class's content over the host's whole scope "
            "subtree. A child kind created under host scopes (`resolve.to` in a host "
            "policy) is part of that subtree unless `den.schema.<kind>.isolated = "
            "true`, so the child's `nixos` content is merged into the host itself as "
            "well as delivered to the child's slot. Guest-only options then break "
            "the host's build (\"option 'microvm.guest' does not exist\")."
        ),
        wrong="""den.schema.guest = { isEntity = true; };   # not isolated
den.policies.host-guests = { host, ... }:
  map (g: den.lib.policy.resolve.to.withIncludes "guest"
    [ den.policies.deliver-guest ] { guest = g; }) host.guests;""",
        right="""den.schema.guest = { isEntity = true; isolated = true; };""",
        fix=(
            "Add `isolated = true;` to `den.schema.<kind>` (the quick fix writes it). "
            "An isolated child reaches the host only through its delivery route."
        ),
    ),
    Code(
        "den/delivery-dropped",
        Severity.WARNING,
        "A delivery route inside an isolated scope appends its result to that "
        "scope, which the parent never reads",
        what=(
            "A route fired inside an isolated kind collects that scope's subtree and, "
            "by default, appends the result to the same scope. The parent's "
            "extraction skips isolated scopes, so the delivered configuration is "
            "dropped without an error."
        ),
        wrong="""den.policies.deliver-guest = { guest, ... }: [
  (den.lib.policy.route {
    fromClass = "nixos"; intoClass = "nixos";
    path = [ "microvm" "vms" guest.name "config" ];
    collectSubtree = true;
  })
];""",
        right="""  (den.lib.policy.route {
    fromClass = "nixos"; intoClass = "nixos";
    path = [ "microvm" "vms" guest.name "config" ];
    collectSubtree = true;
    appendToParent = true;
  })""",
        fix=(
            "Add `appendToParent = true;` (profile `isolation-design`: "
            "`collectScopeId`), which the quick fix writes."
        ),
    ),
    Code(
        "den/delivery-self-collect",
        Severity.WARNING,
        "A delivery route fired at the host collects the host's own "
        "configuration into a child's slot",
        what=(
            "A `collectSubtree` route fired at host scope collects the host's whole "
            "subtree of its class: the host's own configuration. Written into a "
            "child's slot (`microvm.vms.<name>.config`) it becomes the child's "
            "configuration, and an isolated child's own content is skipped."
        ),
        wrong="""den.schema.host.includes = [ den.policies.deliver ];
den.policies.deliver = { host, ... }: [
  (den.lib.policy.route { fromClass = "nixos"; intoClass = "nixos";
    collectSubtree = true; path = [ "microvm" "vms" "web" "config" ]; })
];""",
        right="""# fire the route inside the child: list it in the resolve's withIncludes
(den.lib.policy.resolve.to.withIncludes "guest" [ den.policies.deliver ] { guest = g; })
# and set appendToParent = true on the route""",
        fix="Fire the delivery route inside the child kind, with `appendToParent = true;`.",
    ),
    Code(
        "den/append-to-parent-outside-isolation",
        Severity.WARNING,
        "appendToParent on a route that never fires inside an isolated scope",
        what=(
            "`appendToParent` appends a route's result to the parent of the scope "
            "the route fires in. Outside an isolated kind that parent is a scope no "
            "host extraction reads (the flake system, say), or the scope itself when "
            "it has none, so the result is lost or lands where it was anyway."
        ),
        wrong="""den.schema.host.includes = [ den.policies.p ];
den.policies.p = { host, ... }: [
  (den.lib.policy.route { fromClass = "os"; intoClass = "nixos"; appendToParent = true; })
];""",
        right="""(den.lib.policy.route { fromClass = "os"; intoClass = "nixos"; })""",
        fix="Remove `appendToParent`, or fire the policy inside an isolated kind.",
    ),
    Code(
        "den/isolated-not-entity",
        Severity.WARNING,
        "isolated = true on a kind that is not an entity",
        what=(
            "`isolated` does not make a kind an entity. For a kind with only "
            "collection fields, den never walks a record's `aspect`, and a plain "
            "`resolve { <kind> = ...; }` only enriches the current scope."
        ),
        wrong="""den.schema.guest.isolated = true;""",
        right="""den.schema.guest = { isEntity = true; isolated = true; };""",
        fix="Add `isEntity = true;` if its records are systems of their own.",
    ),
    Code(
        "den/isolated-compose-kind",
        Severity.ERROR,
        "isolated = true on a compose kind (user, home), whose content must "
        "reach the host",
        what=(
            "home-manager, hjem, maid and the os/user routes fire at user and home "
            "scopes and rely on the host collecting them. Isolating `user` or "
            "`home` drops `home-manager.users.*`, `users.users.*` and all "
            "user-scope system content from every host."
        ),
        wrong="""den.schema.user.isolated = true;""",
        right="""# leave user and home unisolated""",
        fix="Remove `isolated = true` from `den.schema.user` / `den.schema.home`.",
    ),
    Code(
        "den/unknown-kind",
        Severity.WARNING,
        "A kind name that is not declared",
        what=(
            '`resolve.to "<kind>"` on an undeclared kind creates a scope with no '
            "schema includes, no entity aspect, never isolated; a `parent` naming an "
            "undeclared kind makes den's relationship fan-out silently wrong."
        ),
        wrong="""(den.lib.policy.resolve.to "gest" { guest = g; })""",
        right="""(den.lib.policy.resolve.to "guest" { guest = g; })""",
        fix=(
            "Fix the name or declare `den.schema.<kind>`. A kind built dynamically "
            "can be listed under `kinds` in the `[known]` table of den-lsp.toml."
        ),
    ),
    Code(
        "den/unknown-route-field",
        Severity.WARNING,
        "A route field den does not read",
        what="den's route ignores fields it does not know, so a misspelt field changes nothing.",
        wrong="""(den.lib.policy.route { fromClass = "nixos"; intoClass = "nixos"; collectSubTree = true; })""",
        right="""(den.lib.policy.route { fromClass = "nixos"; intoClass = "nixos"; collectSubtree = true; })""",
        fix="Rename the field, or set `profile` if the workspace targets another den generation.",
    ),
    Code(
        "den/conflicting-route-fields",
        Severity.ERROR,
        "Route fields that cannot be given together",
        what=(
            '`path` with `intoPath` makes den throw "pass either intoPath or path, '
            'not both"; `appendToParent` with `collectScopeId` moves the collection '
            "root and the append target at once."
        ),
        wrong="""(den.lib.policy.route { fromClass = "os"; intoClass = "nixos"; path = [ ]; intoPath = [ "a" ]; })""",
        right="""(den.lib.policy.route { fromClass = "os"; intoClass = "nixos"; path = [ "a" ]; })""",
        fix="Keep one of the two fields.",
    ),
    Code(
        "den/delivery-not-verbatim",
        Severity.INFORMATION,
        "A route into a re-instantiating target without reinstantiate",
        what=(
            "A target like `microvm.vms.<name>.config` evaluates its payload again. "
            "A route that pre-evaluates the modules loses the guest's base modules "
            "and module identity: defaults are missing and identical declarations "
            "from several scopes collide."
        ),
        wrong="""(den.lib.policy.route { fromClass = "nixos"; intoClass = "nixos";
  path = [ "microvm" "vms" guest.name "config" ]; appendToParent = true; })""",
        right="""(den.lib.policy.route { fromClass = "nixos"; intoClass = "nixos";
  path = [ "microvm" "vms" guest.name "config" ]; appendToParent = true;
  reinstantiate = true; })""",
        fix='Add `reinstantiate = true;` (with `deliver`: `mode = "verbatim";`).',
    ),
    Code(
        "den/unknown-class",
        Severity.WARNING,
        "An aspect key or route class that is no class den knows, close to one that is",
        what=(
            "den classifies each aspect key: structural keys, quirks and registered "
            "classes have a meaning, an attribute set holding such keys is a nested "
            "aspect, and any other key is still emitted as content of a class of "
            "that name. Nothing instantiates or routes a misspelt class, so its "
            "content never reaches a configuration, without an error. A route "
            "whose `fromClass` or `intoClass` is misspelt collects nothing or "
            "appends where nothing reads. den-lsp reports a key or class only when "
            "a known class is a close match, so nested aspects and custom classes "
            "stay silent."
        ),
        wrong="""den.aspects.igloo.nixso = { services.nginx.enable = true; };""",
        right="""den.aspects.igloo.nixos = { services.nginx.enable = true; };""",
        fix=(
            "Use the class name (the quick fix rewrites it). A custom class is known "
            "once `den.classes.<name>` declares it, a route or forward names it, or "
            "den-lsp.toml lists it under `[known] classes`."
        ),
    ),
    Code(
        "den/route-source-never-authored",
        Severity.WARNING,
        "A route collects a class that nothing authors or produces",
        what=(
            "A route collects the content of its `fromClass`. If no aspect in the "
            "configuration authors that class and no route, forward, provide or "
            "battery produces it, the route delivers nothing, without an error. "
            "den-lsp stays silent when the class is registered, given to an "
            "entity, mentioned anywhere else in the configuration, or may come "
            "from a module outside the workspace."
        ),
        wrong="""den.policies.k8s = { host, ... }: [
  (den.lib.policy.route { fromClass = "k8s-manfests"; intoClass = "nixos";
    path = [ "services" "k3s" "manifests" ]; })
];""",
        right="""den.aspects.web.k8s-manifests = { deployment = { }; };
den.policies.k8s = { host, ... }: [
  (den.lib.policy.route { fromClass = "k8s-manifests"; intoClass = "nixos";
    path = [ "services" "k3s" "manifests" ]; })
];""",
        fix=(
            "Author the class on an aspect walked where the route fires, or fix the "
            "class name. Silence with `# den-lsp: ignore[den/route-source-never-authored]` "
            "when the content comes from outside the workspace."
        ),
    ),
    Code(
        "den/policy-never-activated",
        Severity.HINT,
        "A policy in den.policies that nothing includes, so it never fires",
        tags=(UNNECESSARY,),
        what=(
            "Registering a policy in `den.policies` does not activate it: den fires "
            "a policy only where an includes list places it (`den.schema.<kind>."
            "includes`, `den.default.includes`, an aspect's `includes`, a "
            "resolve's `withIncludes`). A policy no list names never fires. den's "
            "own opt-in policies work this way on purpose."
        ),
        wrong="""den.policies.motd = { host, ... }: [
  (den.lib.policy.route { fromClass = "os"; intoClass = "nixos"; })
];""",
        right="""den.policies.motd = { host, ... }: [
  (den.lib.policy.route { fromClass = "os"; intoClass = "nixos"; })
];
den.schema.host.includes = [ den.policies.motd ];""",
        fix=(
            "Add `den.policies.<name>` to the includes of the kind or aspect where it "
            "should fire, or remove the policy. den-lsp stays silent when the name "
            "occurs anywhere else, such as `with den.policies; [ ... ]`."
        ),
    ),
    Code(
        "den/policy-unknown-context",
        Severity.WARNING,
        "A policy requires an argument den never puts in its context",
        what=(
            "den calls a policy only at scopes whose context has every argument "
            "the policy requires (those without a default). The context holds kind "
            "names (`host`, `user`, ...), `self`, `system`, quirks and the keys "
            "resolves bind, never module arguments like `config` or `pkgs`. A "
            "policy requiring anything else never fires, silently."
        ),
        wrong="""den.policies.motd = { host, config, ... }: [ ];
den.policies.greet = { hots, ... }: [ ];""",
        right="""den.policies.motd = { host, ... }: [ ];   # use config inside the class module
den.policies.greet = { host, ... }: [ ];""",
        fix=(
            "Require only context keys, or give the argument a default. A key bound "
            "in a way den-lsp cannot read can be listed under `context-keys` in the "
            "`[known]` table of den-lsp.toml. Never delete a policy's other "
            "arguments: they select where it fires."
        ),
    ),
    Code(
        "den/host-scope-home-content",
        Severity.WARNING,
        "homeManager, hjem or maid content on an aspect walked only at host scope",
        what=(
            "den keeps what a scope emits in that scope's classes. A host scope "
            "builds the host's system; it resolves no `homeManager` (nor `hjem`, "
            "`maid`), so such content on an aspect walked only at host scope is "
            "inert and never reaches a user (den's fix for its issue 609). Users "
            "get host-level home content through `provides.to-users`, a "
            "`den.aspects.<host>.<user>` aspect, or `den.batteries.host-aspects`."
        ),
        wrong="""den.hosts.x86_64-linux.igloo.users.tux = { };
den.aspects.igloo.homeManager.programs.git.enable = true;""",
        right="""den.hosts.x86_64-linux.igloo.users.tux = { };
den.aspects.igloo.provides.to-users.homeManager.programs.git.enable = true;
# or: den.aspects.tux.homeManager.programs.git.enable = true;""",
        fix=(
            "Move the content to `provides.to-users` (every user of the host), to "
            "`den.aspects.<host>.<user>`, or to the user's own aspect. den-lsp is "
            "silent when `host-aspects` is used or the aspect is reached in a way "
            "it cannot follow."
        ),
    ),
    Code(
        "den/entity-without-aspect",
        Severity.INFORMATION,
        "A host, user or home with no den.aspects.<name> anywhere",
        what=(
            "An entity's aspect is `den.aspects.<name>`, found by exact name. When "
            "none is defined, den gives the entity an empty aspect: it is built only "
            "from `den.default` and its kind's schema includes. A misspelt aspect "
            "name is the usual cause."
        ),
        wrong="""den.hosts.x86_64-linux.igloo = { };
den.aspects.iglo.nixos = { };""",
        right="""den.hosts.x86_64-linux.igloo = { };
den.aspects.igloo.nixos = { };""",
        fix=(
            "Define `den.aspects.<name>` or set the entity's `aspect`. Silence with "
            '`"den/entity-without-aspect" = "off"` when empty aspects are intended.'
        ),
    ),
    Code(
        "den/unknown-aspect",
        Severity.WARNING,
        "An includes, excludes or angle-bracket reference to an aspect defined nowhere",
        what=(
            "Referencing `den.aspects.<path>` that no module defines fails the "
            'evaluation ("attribute \'...\' missing"; with angle brackets: "Aspect '
            "not found\"). den creates an entity's own aspect itself, so "
            "`den.aspects.<host>` is always defined. den-lsp stays silent when an "
            "aspect set on the way is computed or imported, and for namespaces "
            "from other flakes."
        ),
        wrong="""den.aspects.roles.desktop.nixos.services.xserver.enable = true;
den.aspects.igloo.includes = [ den.aspects.roles.dekstop ];""",
        right="""den.aspects.roles.desktop.nixos.services.xserver.enable = true;
den.aspects.igloo.includes = [ den.aspects.roles.desktop ];""",
        fix="Fix the path or define the aspect.",
    ),
    Code(
        "den/removed-api",
        Severity.WARNING,
        "Use of den API that the active profile removed",
        what=(
            "den removed `den.stages` (any use throws), its delivered-child design "
            "(`den.deliveredChild` no longer exists, a host's `deliveredChildren` "
            "is ignored, the `guest-os` class is read by nothing) and `into` in "
            "`den.ctx` (the compatibility shim drops it). Only the last two fail "
            "silently. A workspace that declares the name itself is not reported."
        ),
        wrong="""den.stages.host.includes = [ den.aspects.base ];
den.aspects.web.guest-os.services.nginx.enable = true;""",
        right="""den.schema.host.includes = [ den.aspects.base ];
den.aspects.web.nixos.services.nginx.enable = true;   # in an isolated guest kind""",
        fix="Follow the replacement the message names.",
    ),
    Code(
        "den/deprecated-api",
        Severity.HINT,
        "Use of den API that the active profile deprecates",
        tags=(DEPRECATED,),
        what=(
            "den keeps `den.ctx.<name>` (turned into `den.schema.<name>.includes`), "
            "`den.lib.parametric` and `den.lib.take` working, with a warning on "
            "every evaluation. They are den's own API before policies; that "
            "profile (`ctx`) reports nothing. `den.lib.take.unused`, a plain "
            "helper den does not warn about, is not reported."
        ),
        wrong="""den.ctx.host.includes = [ den.aspects.base ];
den.aspects.x.includes = [ (den.lib.take.atLeast ({ host, ... }: { })) ];""",
        right="""den.schema.host.includes = [ den.aspects.base ];
den.aspects.x.includes = [ ({ host, ... }: { }) ];""",
        fix='Use the replacement the message names, or set `profile = "ctx"` for den before policies.',
    ),
    Code(
        "den/closed-context-args",
        Severity.WARNING,
        "A policy takes a closed argument set, but den passes the whole context",
        what=(
            "den calls a policy with the whole context of the scope it fires in "
            "(`self` and every kind and key bound there), not only the arguments it "
            "names. A closed argument set (`{ host }:` without `...`) makes that "
            'call fail with "called with unexpected argument". Parametric aspects '
            "are different: den passes them only the arguments they name, so a "
            "closed set is fine there and is not reported."
        ),
        wrong="""den.policies.motd = { host }: [ ];""",
        right="""den.policies.motd = { host, ... }: [ ];""",
        fix="Add `...` (the quick fix writes it). Keep every argument: they select where the policy fires.",
    ),
    Code(
        "den/unused-suppression",
        Severity.HINT,
        "A den-lsp suppression comment that suppresses nothing",
        tags=(UNNECESSARY,),
        what=(
            "`# den-lsp: ignore[CODE]` silences CODE on the next line that holds "
            "code (or on its own line, written after the code), "
            "`# den-lsp: ignore-file[CODE]` in the whole file. A suppression with "
            "no finding to silence, or naming no rule, is stale."
        ),
        wrong="""# den-lsp: ignore[den/unknown-class]
den.aspects.igloo.nixos = { };""",
        right="""den.aspects.igloo.nixos = { };""",
        fix="Remove the comment, or the code from its brackets.",
    ),
)

CODES = {c.code: c for c in _ALL}

SILENCE = (
    "To silence one finding, write `# den-lsp: ignore[{code}]` on the line "
    "before it (or at the end of its line); for a whole file, "
    "`# den-lsp: ignore-file[{code}]`. To change the rule's severity or switch "
    'it off, set `"{code}" = "off"` (or `error`, `warning`, `information`, '
    "`hint`) under `[severity]` in den-lsp.toml."
)


def lookup(code: str) -> Code | None:
    """The code by its name, with or without the `den/` prefix."""
    if code in CODES:
        return CODES[code]
    return CODES.get(f"den/{code}")


def anchor(code: str) -> str:
    """The fragment of a code's section on the rules page: `den-unknown-class`."""
    return code.replace("/", "-")


def explain_markdown(code: str) -> str | None:
    """A rule's documentation as Markdown, or None for an unknown code."""
    rule = lookup(code)
    if rule is None:
        return None
    tags = f", tagged {', '.join(rule.tags)}" if rule.tags else ""
    parts = [
        f"## `{rule.code}`",
        "",
        f"**{rule.severity.value}{tags}.** {rule.summary}.",
        "",
        "### What den does",
        "",
        rule.what,
        "",
        "### Wrong",
        "",
        "```nix",
        rule.wrong,
        "```",
        "",
        "### Right",
        "",
        "```nix",
        rule.right,
        "```",
        "",
        "### How to fix or silence it",
        "",
        rule.fix,
        "",
        SILENCE.format(code=rule.code),
    ]
    return "\n".join(parts) + "\n"
