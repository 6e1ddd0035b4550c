from den_lsp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
