"""den-lsp: static analysis of den configurations for editors and CI."""

import os
import sys

__version__ = "0.1.0"


def keep_workspace_off_the_module_path() -> None:
    """Import no module from the current folder, here or in child interpreters.

    Editors start den-lsp in the workspace folder, and ``python -m`` and
    ``python -c`` put the current folder first on ``sys.path``, as do the
    interpreters that multiprocessing starts for the analysis processes:
    a workspace's ``json.py`` or ``multiprocessing/`` would be imported and
    run. The folder leaves this process's path, and ``PYTHONSAFEPATH`` keeps
    it off the path of every interpreter started from here.
    """
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        here = os.getcwd()
    except OSError:  # the folder was deleted
        here = None
    sys.path[:] = [p for p in sys.path if p not in ("", ".", here)]
