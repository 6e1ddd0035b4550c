"""Split den's CI test files into one small workspace per ``denTest`` call.

den's own tests (``templates/ci/modules`` in a den checkout) are modules
wrapped in ``denTest ( ... )`` calls, each a configuration of its own that
den's CI evaluates and asserts on. den-lsp does not read those calls as
modules, so this script writes each call's module into a folder with a
``flake.nix`` of its own, where ``den-lsp check`` analyses it as a separate
configuration. It is a trial tool for den-lsp's developers: a test den
passes is a correct configuration, on which den-lsp must not warn.

    python scripts/split-den-tests.py ~/src/den/templates/ci/modules /tmp/den-tests
    den-lsp check /tmp/den-tests
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from den_lsp.syntax.parse import parse_nix


def den_test_modules(source: bytes) -> list[bytes]:
    """The argument of every ``denTest`` application in ``source``."""
    tree = parse_nix(source)
    found = []
    stack = [tree.tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "apply_expression":
            function = node.child_by_field_name("function")
            argument = node.child_by_field_name("argument")
            if (
                function is not None
                and argument is not None
                and source[function.start_byte : function.end_byte] == b"denTest"
            ):
                found.append(source[argument.start_byte : argument.end_byte])
                continue
        stack.extend(node.children)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tests", type=Path, help="den's templates/ci/modules")
    parser.add_argument("out", type=Path, help="folder to write (replaced)")
    args = parser.parse_args()

    shutil.rmtree(args.out, ignore_errors=True)
    count = 0
    for path in sorted(args.tests.rglob("*.nix")):
        for number, module in enumerate(den_test_modules(path.read_bytes())):
            folder = args.out / f"{path.relative_to(args.tests).with_suffix('')}-{number}"
            (folder / "modules").mkdir(parents=True)
            (folder / "flake.nix").write_text("{ outputs = _: { }; }\n")
            (folder / "modules" / "test.nix").write_bytes(module)
            count += 1
    print(f"{count} den tests written under {args.out}")


if __name__ == "__main__":
    main()
