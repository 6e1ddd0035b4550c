from den_lsp.cli import main

raise SystemExit(main())
