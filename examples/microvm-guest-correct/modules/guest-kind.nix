{ lib, ... }:
{
  # A guest is a whole NixOS system living under a host. Its nixos content is
  # its own; it reaches the parent only through the delivery route.
  den.schema.guest = {
    isEntity = true;
    parent = "host";
    isolated = true;
  };

  # Parents name the guests they run.
  den.schema.host.imports = [
    {
      options.guests = lib.mkOption {
        type = lib.types.attrsOf lib.types.raw;
        default = { };
        description = "Hosts delivered into this host as microvm guests.";
      };
    }
  ];
}
