-- User commands of the den-lsp plugin. Starting the server is left to
-- `vim.lsp.enable("den_ls")` (Neovim 0.11+) or `require("den_lsp").setup()`.
if vim.g.loaded_den_lsp then
  return
end
vim.g.loaded_den_lsp = true

vim.api.nvim_create_user_command("DenScopes", function(command)
  require("den_lsp").scopes(command.args ~= "" and command.args or nil)
end, {
  nargs = "?",
  complete = "dir",
  desc = "den-lsp: the scope graph of the workspace, in a scratch buffer",
})

vim.api.nvim_create_user_command("DenExplain", function(command)
  require("den_lsp").explain(command.args ~= "" and command.args or nil)
end, {
  nargs = "?",
  complete = function(lead)
    return require("den_lsp").complete_codes(lead)
  end,
  desc = "den-lsp: explain a rule (default: the finding under the cursor)",
})
