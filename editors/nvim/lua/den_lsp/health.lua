-- :checkhealth den_lsp
local M = {}

function M.check()
  local health = vim.health
  local start = health.start or health.report_start
  local ok = health.ok or health.report_ok
  local warn = health.warn or health.report_warn
  local error = health.error or health.report_error

  start("den-lsp")
  if vim.fn.has("nvim-0.8") ~= 1 then
    error("Neovim 0.8 or newer is needed")
  elseif vim.fn.has("nvim-0.11") == 1 then
    ok('Neovim 0.11+: start den-lsp with vim.lsp.enable("den_ls")')
  else
    ok('Neovim 0.8-0.10: start den-lsp with require("den_lsp").setup()')
  end

  if vim.fn.executable("den-lsp") ~= 1 then
    error("`den-lsp` is not on PATH", { "pipx install den-lsp", "or set `cmd` to where it is installed" })
    return
  end
  local version = vim.fn.system({ "den-lsp", "--version" })
  if vim.v.shell_error == 0 then
    ok(vim.trim(version) .. " at " .. vim.fn.exepath("den-lsp"))
  else
    warn("`den-lsp --version` failed: " .. vim.trim(version))
  end
end

return M
