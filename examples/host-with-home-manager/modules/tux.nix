{ den, ... }:
{
  den.aspects.shell-tools.homeManager =
    { pkgs, ... }:
    {
      home.packages = [
        pkgs.ripgrep
        pkgs.fd
        pkgs.jq
      ];
      programs.fzf.enable = true;
    };

  den.aspects.tux = {
    includes = [
      den.batteries.primary-user
      (den.batteries.user-shell "fish")
      den.aspects.shell-tools
    ];

    # OS-level account settings, forwarded to users.users.tux.
    user.extraGroups = [ "networkmanager" ];

    homeManager = {
      programs.git.enable = true;
      programs.direnv.enable = true;
      programs.fish.enable = true;
    };
  };
}
