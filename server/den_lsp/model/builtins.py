"""Names den defines itself, so that a workspace need not declare them.

From den-reference §2.1 and §5 (den with isolation, sini/den main).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinKind:
    name: str
    is_entity: bool
    parent: str | None = None
    # Kinds whose scopes den creates from this one through built-in policies.
    creates: tuple[str, ...] = ()


BUILTIN_KINDS = {
    k.name: k
    for k in (
        BuiltinKind("conf", False),
        # `den.schema.aspect` is imported into every aspect (strict mode);
        # no scope is ever of this kind.
        BuiltinKind("aspect", False),
        BuiltinKind("flake", False, creates=("flake-system",)),
        BuiltinKind("flake-system", False, creates=("host", "home")),
        BuiltinKind("flake-parts", True),
        BuiltinKind("default", False),
        BuiltinKind("fleet", False),
        BuiltinKind("host", True, creates=("user",)),
        BuiltinKind("user", True, parent="host"),
        BuiltinKind("home", True, parent="host"),
    )
}

# Scopes den resolves without declaring a kind for them: routing-only scopes
# and pseudo-kinds read by batteries.
UNDECLARED_KINDS = frozenset({"wsl-host", "hm-host"})

# Compose kinds: their content is meant to merge into the host, through
# home-manager, hjem and maid forwards and the os/user routes that fire at
# their scopes. Isolating them drops that content.
COMPOSE_KINDS = frozenset({"user", "home"})

# The kinds den.default's includes reach.
DEFAULT_KINDS = ("host", "user", "home")

BUILTIN_CLASSES = frozenset(
    {
        "nixos",
        "darwin",
        "systemManager",
        "homeManager",
        "hjem",
        "maid",
        "user",
        "os",
        "wsl",
        "packages",
        "apps",
        "checks",
        "devShells",
        "legacyPackages",
        "flake",
        "flake-parts",
    }
)

# Aspect keys den's pipeline consumes itself (den-reference §1.5): never
# class content, never nested aspects.
STRUCTURAL_KEYS = frozenset(
    {
        "name",
        "description",
        "meta",
        "includes",
        "excludes",
        "provides",
        "policies",
        "into",
        "classes",
        "_",
        "_module",
    }
)

# Batteries den ships (`den.batteries.<name>`, also reachable as
# `den.provides.<name>`, `den._.<name>` and `<den/name>`), across the
# generations den-lsp knows.
BUILTIN_BATTERIES = frozenset(
    {
        "define-user",
        "primary-user",
        "user-shell",
        "tty-autologin",
        "vm-autologin",
        "hostname",
        "unfree",
        "insecure",
        "host-aspects",
        "flake-scope",
        "forward",
        "import-tree",
        "inputs'",
        "self'",
        "mutual-provider",
        "os-user",
        "wsl",
    }
)

# Aspects den itself defines in `den.aspects`.
BUILTIN_ASPECTS = frozenset({"wsl-host-aspect"})

# Context keys den binds besides kind names (den-reference §5.2): `self` in
# every policy call, `system` from the flake pipeline, `class` and
# `aspect-chain` while walking, and `lib`, `inputs`, `den` from the
# flake-scope battery.
BUILTIN_CONTEXT_KEYS = frozenset(
    {"self", "system", "class", "aspect-chain", "lib", "inputs", "den", "osConfig"}
    | {"__entityKind"}
)

# Module arguments that den never binds in a policy's context: a policy that
# requires one never fires.
MODULE_ONLY_ARGS = frozenset({"config", "pkgs", "options", "modulesPath"})

# Classes whose content is a whole system: what a host is built from.
SYSTEM_CLASSES = frozenset({"nixos", "darwin", "systemManager"})

BUILTIN_POLICIES = frozenset(
    {
        "host-to-users",
        "flake-to-systems",
        "system-to-os-outputs",
        "system-to-hm-outputs",
        "packages-to-flake",
        "apps-to-flake",
        "checks-to-flake",
        "devShells-to-flake",
        "legacyPackages-to-flake",
        "system-to-flake-parts",
        "packages-to-flake-parts",
        "os-to-host",
        "user-to-host",
        "wsl-to-host",
        "host-to-wsl-host",
    }
)

# Route paths whose target instantiates its payload again: the modules must
# be handed over unevaluated. `None` matches any one element (a guest name).
REINSTANTIATING_SLOTS = (
    ("microvm", "vms", None, "config"),
    ("containers", None, "config"),
)


def is_delivery_slot(path: tuple) -> bool:
    """Whether a route path is a child system's slot, e.g. microvm.vms.<n>.config."""
    for slot in REINSTANTIATING_SLOTS:
        if len(path) != len(slot):
            continue
        if all(want is None or got == want for want, got in zip(slot, path)):
            return True
    return False
