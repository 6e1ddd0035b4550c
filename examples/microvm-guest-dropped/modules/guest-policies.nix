{ den, lib, ... }:
let
  inherit (den.lib.policy) route;
in
{
  # At each host: open one guest scope per listed guest, and run the delivery
  # policy inside it.
  den.policies.resolve-guests =
    { host, ... }:
    lib.mapAttrsToList (
      _: guest:
      den.lib.policy.resolve.to.withIncludes "guest" [ den.policies.deliver-guest ] {
        guest = guest // {
          class = "nixos";
          intoAttr = [ ];
        };
      }
    ) (host.guests or { });

  # Inside a guest scope: collect the guest's nixos content and hand it to
  # the parent at the microvm slot, which re-instantiates it as the guest's
  # own NixOS system. Users or homes under the guest must not deliver again.
  den.policies.deliver-guest =
    { guest, ... }@args:
    let
      inherit (guest) name;
    in
    lib.optionals (!(args ? user) && !(args ? home)) [
      (route {
        fromClass = "nixos";
        intoClass = "nixos";
        path = [
          "microvm"
          "vms"
          name
          "config"
        ];
        collectSubtree = true;
        reinstantiate = true;
      })
    ];

  den.schema.host.includes = [ den.policies.resolve-guests ];
}
