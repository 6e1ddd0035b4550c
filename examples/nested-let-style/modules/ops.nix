{ den, ... }:
{
  den.aspects.ops = {
    includes = [ den.batteries.primary-user ];

    homeManager =
      { pkgs, ... }:
      {
        home.packages = [
          pkgs.ripgrep
          pkgs.htop
        ];
        programs.git.enable = true;
      };
  };
}
