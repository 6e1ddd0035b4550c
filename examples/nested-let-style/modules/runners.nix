{ config, lib, ... }:
let
  toolNames = [
    "git"
    "gnumake"
    "jq"
    "nix-output-monitor"
  ];

  toolsFrom = pkgs: toolNames |> map (n: pkgs.${n});

  tap = id: mac: {
    type = "tap";
    inherit id mac;
  };
in
{
  config.den.hosts.x86_64-linux = {
    runner-a.intoAttr = [ ];
    runner-b.intoAttr = [ ];
  };

  config.den.aspects.runner-base = {
    includes = [ config.den.aspects.build-cache-client ];

    nixos =
      { pkgs, ... }:
      {
        microvm = {
          guest.enable = true;
          hypervisor = "cloud-hypervisor";
          vcpu = 4;
          mem = 4096;
        };

        environment.systemPackages = toolsFrom pkgs;
        nix.settings.experimental-features = [
          "nix-command"
          "flakes"
        ];
        services.openssh.enable = true;
      };
  };

  config.den.aspects.runner-a = {
    includes = [ config.den.aspects.runner-base ];
    nixos.microvm.interfaces = [ (tap "vm-runner-a" "02:00:00:00:20:01") ];
  };

  config.den.aspects.runner-b = {
    includes = [ config.den.aspects.runner-base ];
    nixos = {
      microvm.interfaces = [ (tap "vm-runner-b" "02:00:00:00:20:02") ];
      microvm.mem = lib.mkForce 8192;
    };
  };
}
