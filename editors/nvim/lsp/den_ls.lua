-- den-lsp for Neovim 0.11+: `vim.lsp.enable("den_ls")` starts it for `nix`
-- buffers, beside nil or nixd, and says once when `den-lsp` is not
-- installed. Override any field with `vim.lsp.config("den_ls", { ... })`.
return require("den_lsp").enable_config()
