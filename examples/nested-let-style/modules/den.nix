{
  inputs,
  lib,
  den,
  ...
}:
{
  imports = [ inputs.den.flakeModule ];

  systems = [ "x86_64-linux" ];

  den = {
    schema = {
      user = {
        classes = lib.mkDefault [ "homeManager" ];
      };
    };

    default = {
      nixos.system.stateVersion = "25.05";
      homeManager.home.stateVersion = "25.05";

      includes = [
        den.batteries.hostname
        den.batteries.define-user
      ];
    };
  };
}
