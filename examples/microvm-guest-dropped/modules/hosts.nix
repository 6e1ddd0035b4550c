{ den, ... }:
{
  den.hosts.x86_64-linux.berg = {
    users.ops = { };

    # cache-vm runs inside berg and is delivered into berg's configuration
    # at microvm.vms.cache-vm.config.
    guests.cache-vm = den.hosts.x86_64-linux.cache-vm;
  };

  # A host record of its own, but with no nixosConfigurations output: it is
  # only ever built as part of its parent.
  den.hosts.x86_64-linux.cache-vm.intoAttr = [ ];
}
