{
  den.aspects.igloo = {
    nixos =
      { pkgs, ... }:
      {
        boot.loader.systemd-boot.enable = true;
        boot.loader.efi.canTouchEfiVariables = true;

        fileSystems."/" = {
          device = "/dev/disk/by-label/nixos";
          fsType = "ext4";
        };
        fileSystems."/boot" = {
          device = "/dev/disk/by-label/BOOT";
          fsType = "vfat";
        };

        networking.networkmanager.enable = true;
        time.timeZone = "Europe/Oslo";
        environment.systemPackages = [ pkgs.vim ];
      };

    # Every user who lives on igloo gets these home-manager settings.
    provides.to-users.homeManager = {
      programs.bash.enable = true;
      home.sessionVariables.EDITOR = "vim";
    };
  };
}
