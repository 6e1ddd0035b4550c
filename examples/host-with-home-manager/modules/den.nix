{ inputs, lib, ... }:
{
  imports = [ inputs.den.flakeModule ];

  systems = [ "x86_64-linux" ];

  # Every user on every host gets a home-manager environment unless the user
  # record says otherwise.
  den.schema.user.classes = lib.mkDefault [ "homeManager" ];
}
