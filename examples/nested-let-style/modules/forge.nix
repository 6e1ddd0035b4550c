{
  lib,
  den,
  inputs,
  ...
}:
let
  system = "x86_64-linux";
  forgeName = "forge";
  runnerNames = [
    "runner-a"
    "runner-b"
  ];
  withRunners = runnerNames != [ ];
in
{
  config = lib.mkMerge [
    {
      den.hosts.${system}.${forgeName}.users.ops = { };

      den.aspects.${forgeName} = {
        includes = [ den.aspects.build-cache-client ];

        nixos = {
          imports = [ inputs.microvm.nixosModules.host ];

          boot.loader.systemd-boot.enable = true;
          fileSystems."/" = {
            device = "/dev/disk/by-label/nixos";
            fsType = "ext4";
          };

          systemd.network.enable = true;
          networking.useNetworkd = true;
        };
      };

      den.aspects.build-cache-client.nixos.nix.settings = {
        substituters = [ "http://cache.forge.internal" ];
        trusted-public-keys = [ "cache.forge.internal:3q2+7w==" ];
      };
    }

    (lib.mkIf withRunners {
      den.hosts.${system}.${forgeName}.runners = lib.genAttrs runnerNames (
        name: den.hosts.${system}.${name}
      );
    })
  ];
}
