"""Generate a synthetic den workspace, or a plain Nix repository, of N files.

The den workspace follows the shapes of the real configurations den-lsp was
built against (one flake, modules loaded by import-tree): aspects with class
keys and includes spread over nested folders, hosts with users and guests,
custom kinds with parents, some of them isolated, policies that create
scopes with ``resolve.to`` and deliver content with routes, ``let``-heavy and
nested-attrset styles, helper files under ``_`` folders and a few Nix files
that have nothing to do with den. The same seed and N always give the same
bytes.

The plain repository imitates a package collection (nixpkgs): derivations,
builders and library functions, no den at all.

    python benchmarks/generate.py den /tmp/den-1000 --files 1000
    python benchmarks/generate.py plain /tmp/plain-40000 --files 40000
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

SEED = 6

CLASSES = ("nixos", "homeManager", "darwin")
GROUPS = ("core", "desktop", "dev", "services", "network", "security", "media")
SERVICES = (
    "openssh",
    "tailscale",
    "prometheus",
    "grafana",
    "nginx",
    "postgresql",
    "redis",
    "syncthing",
    "jellyfin",
    "borgbackup",
)
PACKAGES = ("ripgrep", "fd", "jq", "htop", "git", "curl", "tmux", "neovim", "bat")
FLAKE = """\
{
  description = "a generated den configuration for benchmarks";

  inputs = {
    nixpkgs.url = "github:nixos/nixpkgs/nixos-unstable";
    flake-parts.url = "github:hercules-ci/flake-parts";
    import-tree.url = "github:vic/import-tree";
    den.url = "github:denful/den";
  };

  outputs = inputs: inputs.flake-parts.lib.mkFlake { inherit inputs; } (inputs.import-tree ./modules);
}
"""


def _aspect_name(number: int) -> str:
    return f"aspect-{number:05d}"


def _service_block(rng: random.Random, indent: str) -> str:
    service = rng.choice(SERVICES)
    lines = [
        f"{indent}services.{service} = {{",
        f"{indent}  enable = true;",
        f'{indent}  package = pkgs.{service};',
        f"{indent}  openFirewall = {rng.choice(['true', 'false'])};",
        f'{indent}  extraConfig = "port {rng.randint(1000, 9999)}";',
        f"{indent}}};",
    ]
    return "\n".join(lines)


def _packages(rng: random.Random, indent: str) -> str:
    chosen = rng.sample(PACKAGES, rng.randint(2, 5))
    body = "\n".join(f"{indent}  pkgs.{p}" for p in chosen)
    return f"{indent}environment.systemPackages = [\n{body}\n{indent}];"


def aspect_file(rng: random.Random, number: int, total: int) -> str:
    """One aspect, in one of three styles real configurations use."""
    name = _aspect_name(number)
    includes = [
        _aspect_name(rng.randrange(total))
        for _ in range(rng.randint(0, 3))
        if total > 1
    ]
    include_lines = "\n".join(f"      den.aspects.{i}" for i in includes)
    style = rng.random()
    # Most aspects are short; a few carry long class modules (a skewed size
    # mix, as in real configurations: median ~1.5 KB, mean ~2.5 KB).
    count = rng.randint(1, 8) + min(int(rng.paretovariate(0.9)), 40)
    blocks = "\n\n".join(_service_block(rng, "        ") for _ in range(count))
    if style < 0.5:
        # Nested: den.aspects.<name> = { includes; nixos = ...; homeManager = ...; }
        return f"""\
{{ den, lib, ... }}:
{{
  # {name}: part of the {rng.choice(GROUPS)} group.
  den.aspects.{name} = {{
    includes = [
{include_lines}
    ];

    nixos =
      {{ pkgs, ... }}:
      {{
{blocks}

{_packages(rng, "        ")}
        networking.firewall.allowedTCPPorts = [ {rng.randint(1, 65535)} ];
      }};

    homeManager = {{
      programs.git.enable = true;
      programs.{rng.choice(("fish", "zsh", "bash"))}.enable = true;
      home.sessionVariables.EDITOR = "vim";
    }};
  }};
}}
"""
    if style < 0.8:
        # let-heavy, dotted class keys.
        return f"""\
{{ den, lib, ... }}:
let
  port = {rng.randint(1000, 9999)};
  users = [ "alice" "bob" "carol" ];
  mkUser = user: {{
    isNormalUser = true;
    extraGroups = [ "wheel" "networkmanager" ];
    description = "user ${{user}}";
  }};
  settings = {{
    inherit port;
    listen = "0.0.0.0:${{toString port}}";
    workers = {rng.randint(1, 16)};
  }};
in
{{
  den.aspects.{name}.includes = [
{include_lines}
  ];

  den.aspects.{name}.nixos =
    {{ pkgs, ... }}:
    {{
      users.users = lib.genAttrs users mkUser;
{blocks}
      environment.etc."{name}.json".text = builtins.toJSON settings;
    }};

  den.aspects.{name}.{rng.choice(CLASSES)}.environment.variables.PORT = toString port;
}}
"""
    # config. prefix and mkMerge.
    return f"""\
{{ config, lib, ... }}:
{{
  config.den.aspects.{name} = lib.mkMerge [
    {{
      includes = [
{include_lines.replace("den.aspects", "config.den.aspects")}
      ];
      nixos =
        {{ pkgs, ... }}:
        {{
{blocks}
        }};
    }}
    {{
      darwin.system.defaults.dock.autohide = true;
    }}
  ];
}}
"""


def host_file(rng: random.Random, number: int, guests: list[tuple[str, str]]) -> str:
    name = f"host-{number:04d}"
    users = "\n".join(
        f"    users.{u} = {{ }};" for u in rng.sample(["alice", "bob", "carol", "dave"], 2)
    )
    guest_lines = "\n".join(
        f"    {slot}.{g} = den.hosts.x86_64-linux.{g};" for slot, g in guests
    )
    guest_records = "\n".join(
        f"  den.hosts.x86_64-linux.{g}.intoAttr = [ ];" for _, g in guests
    )
    return f"""\
{{ den, ... }}:
{{
  den.hosts.x86_64-linux.{name} = {{
{users}
{guest_lines}
  }};
{guest_records}

  den.aspects.{name} = {{
    includes = [ den.aspects.{_aspect_name(number)} ];
    nixos.networking.hostName = "{name}";
    nixos.boot.loader.systemd-boot.enable = true;
  }};
}}
"""


def kind_file(kind: str, parent: str, isolated: bool, slot: str) -> str:
    isolated_line = "    isolated = true;\n" if isolated else ""
    return f"""\
{{ lib, ... }}:
{{
  # A {kind} lives inside its parent and reaches it only through the
  # delivery route at {slot}.<name>.config.
  den.schema.{kind} = {{
    isEntity = true;
    parent = "{parent}";
{isolated_line}  }};

  den.schema.{parent}.imports = [
    {{
      options.{slot} = lib.mkOption {{
        type = lib.types.attrsOf lib.types.raw;
        default = {{ }};
      }};
    }}
  ];
}}
"""


def policy_file(kind: str, parent: str, slot: str, append: bool) -> str:
    append_line = "        appendToParent = true;\n" if append else ""
    return f"""\
{{ den, lib, ... }}:
let
  inherit (den.lib.policy) route resolve;
in
{{
  den.policies.resolve-{kind} =
    {{ {parent}, ... }}:
    lib.mapAttrsToList (
      _: child:
      resolve.to.withIncludes "{kind}" [ den.policies.deliver-{kind} ] {{
        {kind} = child // {{
          class = "nixos";
          intoAttr = [ ];
        }};
      }}
    ) ({parent}.{slot} or {{ }});

  den.policies.deliver-{kind} =
    {{ {kind}, ... }}@args:
    lib.optionals (!(args ? user) && !(args ? home)) [
      (route {{
        fromClass = "nixos";
        intoClass = "nixos";
        path = [
          "{slot.split(".")[0]}"
          "vms"
          {kind}.name
          "config"
        ];
        collectSubtree = true;
{append_line}        reinstantiate = true;
      }})
    ];

  den.schema.{parent}.includes = [ den.policies.resolve-{kind} ];
}}
"""


def helper_file(rng: random.Random, number: int) -> str:
    return f"""\
# Imported by hand; import-tree skips folders starting with `_`.
{{ lib }}:
rec {{
  mkPort{number} = base: base + {rng.randint(1, 100)};
  names{number} = lib.genAttrs [ "a" "b" "c" ] (n: "${{n}}-{number}");
  toList{number} = attrs: lib.mapAttrsToList (n: v: {{ inherit n v; }}) attrs;
}}
"""


def package_file(rng: random.Random, number: int) -> str:
    """A derivation, as a package collection holds thousands of."""
    pname = f"pkg-{number:05d}"
    deps = " ".join(rng.sample(PACKAGES, 3))
    hidden = '  dontHide = "hidden";\n' if rng.random() < 0.05 else ""
    return f"""\
{{
  lib,
  stdenv,
  fetchFromGitHub,
  {", ".join(rng.sample(PACKAGES, 3))},
}}:

stdenv.mkDerivation (finalAttrs: {{
  pname = "{pname}";
  version = "{rng.randint(0, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 9)}";

  src = fetchFromGitHub {{
    owner = "example";
    repo = "{pname}";
    rev = "v${{finalAttrs.version}}";
    hash = "sha256-{rng.getrandbits(160):040x}=";
  }};

  nativeBuildInputs = [ {deps} ];
{hidden}
  postPatch = ''
    substituteInPlace Makefile --replace-fail "/usr" "$out"
  '';

  meta = {{
    description = "generated package {number}";
    license = lib.licenses.mit;
    maintainers = with lib.maintainers; [ ];
    platforms = lib.platforms.unix;
  }};
}})
"""


def den_workspace(root: Path, files: int, seed: int = SEED) -> dict[str, str]:
    """Write a den workspace of ``files`` .nix files; returns notable paths."""
    rng = random.Random(seed)
    if root.exists():
        shutil.rmtree(root)
    modules = root / "modules"
    written: dict[str, str] = {}

    def write(rel: str, text: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    write("flake.nix", FLAKE)
    write(
        "modules/den.nix",
        """\
{ inputs, den, lib, ... }:
{
  imports = [ inputs.den.flakeModule ];
  systems = [ "x86_64-linux" ];
  den.schema.user.classes = lib.mkDefault [ "homeManager" ];
  den.default = {
    nixos.system.stateVersion = "25.05";
    includes = [ den.batteries.hostname den.batteries.define-user ];
  };
}
""",
    )
    budget = files - 2

    # Per 100 files: 4 custom kinds (with their policy files), 8 hosts,
    # 3 helpers under `_lib`, 3 plain Nix files, the rest aspects.
    kinds = max(5, budget * 4 // 100)
    hosts = max(1, budget * 8 // 100)
    helpers = budget * 3 // 100
    plain = budget * 3 // 100
    aspects = budget - 2 * kinds - hosts - helpers - plain

    guest_of_host: dict[int, list[tuple[str, str]]] = {}
    for k in range(kinds):
        kind = f"guest{k:03d}"
        # One kind in three nests under another custom kind; the rest under host.
        parent = "host" if k % 3 != 2 else f"guest{k - 2:03d}"
        slot = f"vm{k:03d}"
        # Some kinds are not isolated (isolation-leak findings), some routes
        # drop their delivery (delivery-dropped findings).
        isolated = k % 5 != 4
        append = k % 7 != 3
        group = f"kinds/{['compute', 'storage', 'edge'][k % 3]}"
        write(f"modules/{group}/{kind}.nix", kind_file(kind, parent, isolated, slot))
        write(f"modules/policies/{kind}.nix", policy_file(kind, parent, slot, append))
        if k == 3:
            written["kind"] = f"modules/{group}/{kind}.nix"
            written["policy"] = f"modules/policies/{kind}.nix"
        if parent == "host":
            guest_of_host.setdefault(k % hosts, []).append(
                (slot, f"{kind}-vm{k:03d}")
            )

    for h in range(hosts):
        write(
            f"modules/hosts/{['eu', 'us', 'lab'][h % 3]}/host-{h:04d}.nix",
            host_file(rng, h, guest_of_host.get(h, [])),
        )

    for a in range(aspects):
        group = GROUPS[a % len(GROUPS)]
        sub = f"part{(a // len(GROUPS)) % 10}"
        rel = f"modules/aspects/{group}/{sub}/{_aspect_name(a)}.nix"
        write(rel, aspect_file(rng, a, aspects))
        if a == aspects // 2:
            written["aspect"] = rel

    for n in range(helpers):
        write(f"modules/_lib/helpers-{n:04d}.nix", helper_file(rng, n))
    for n in range(plain):
        write(f"pkgs/pkg-{n:04d}.nix", package_file(rng, n))
    return written


def plain_repository(root: Path, files: int, seed: int = SEED) -> None:
    """Write a repository of ``files`` .nix files with no den in them."""
    rng = random.Random(seed)
    if root.exists():
        shutil.rmtree(root)
    for n in range(files):
        path = root / "pkgs" / f"by-name/{n % 97:02x}/pkg-{n:05d}/package.nix"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(package_file(rng, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shape", choices=("den", "plain"))
    parser.add_argument("root", type=Path)
    parser.add_argument("--files", type=int, required=True)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    if args.shape == "den":
        den_workspace(args.root, args.files, args.seed)
    else:
        plain_repository(args.root, args.files, args.seed)


if __name__ == "__main__":
    main()
