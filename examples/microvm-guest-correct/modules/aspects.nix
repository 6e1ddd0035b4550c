{ den, inputs, ... }:
{
  # Shared by the parent and the guest: both export node metrics.
  den.aspects.node-metrics.nixos.services.prometheus.exporters.node = {
    enable = true;
    openFirewall = true;
  };

  # The operator account on berg.
  den.aspects.ops.nixos.users.users.ops.extraGroups = [ "wheel" ];

  den.aspects.berg = {
    includes = [ den.aspects.node-metrics ];

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

  den.aspects.cache-vm = {
    includes = [ den.aspects.node-metrics ];

    nixos = {
      microvm = {
        guest.enable = true;
        hypervisor = "cloud-hypervisor";
        vcpu = 2;
        mem = 2048;
        interfaces = [
          {
            type = "tap";
            id = "vm-cache";
            mac = "02:00:00:00:10:01";
          }
        ];
      };

      services.nix-serve = {
        enable = true;
        openFirewall = true;
        secretKeyFile = "/var/lib/nix-serve/cache-key.sec";
      };
    };
  };
}
