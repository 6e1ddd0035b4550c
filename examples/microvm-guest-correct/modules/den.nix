{ inputs, den, ... }:
{
  imports = [ inputs.den.flakeModule ];

  systems = [ "x86_64-linux" ];

  den.default = {
    nixos.system.stateVersion = "25.05";
    includes = [
      den.batteries.hostname
      den.batteries.define-user
    ];
  };
}
