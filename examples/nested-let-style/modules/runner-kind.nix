# Build runners: short-lived NixOS systems that live inside a CI host as
# microvm guests. Each one is its own isolated entity; its configuration
# reaches the host only at microvm.vms.<name>.config.
{ den, lib, ... }:
let
  inherit (den.lib.policy) route resolve;

  runnerKind = "runner";

  slotFor = name: [
    "microvm"
    "vms"
    name
    "config"
  ];

  runnersOption = {
    options.runners = lib.mkOption {
      type = lib.types.attrsOf lib.types.raw;
      default = { };
      description = "Runner microvms delivered into this host.";
    };
  };
in
{
  den = {
    schema = {
      ${runnerKind} = {
        isEntity = true;
        parent = "host";
        isolated = true;
        includes = [ den.policies.deliver-runner ];
      };

      host = {
        imports = [ runnersOption ];
        includes = [ den.policies.spawn-runners ];
      };
    };

    policies = {
      # At each host: one runner scope per entry of host.runners.
      spawn-runners =
        { host, ... }:
        (host.runners or { })
        |> lib.mapAttrsToList (
          _: vm:
          resolve.to runnerKind {
            ${runnerKind} = vm // {
              class = "nixos";
              intoAttr = [ ];
            };
          }
        );

      # Inside a runner scope (from the runner kind's includes): collect the
      # runner's nixos content and append it to the parent host, verbatim,
      # because the microvm slot re-instantiates it.
      deliver-runner =
        { runner, ... }@ctx:
        lib.optionals (!(ctx ? user) && !(ctx ? home)) [
          (route {
            fromClass = "nixos";
            intoClass = "nixos";
            path = slotFor runner.name;
            collectSubtree = true;
            appendToParent = true;
            reinstantiate = true;
          })
        ];
    };
  };
}
