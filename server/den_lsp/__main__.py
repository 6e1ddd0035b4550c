from den_lsp import keep_workspace_off_the_module_path

# Before anything else is imported: `python -m den_lsp` run in a workspace
# would find the workspace's own modules first.
keep_workspace_off_the_module_path()

from den_lsp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
