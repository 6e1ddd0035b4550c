-- den-lsp in Neovim: the client configuration, a starter for Neovim
-- 0.8-0.10, and the :DenScopes and :DenExplain commands.
local M = {}

M.name = "den_ls"

local SOURCE = "den-lsp"
local INSTALL = "pipx install den-lsp"

-- Rule codes den-lsp reports, for :DenExplain completion.
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
}

-- The options `setup()` was last given, for the commands to find den-lsp.
local options = nil

local function notify(message, level)
  vim.notify("den-lsp: " .. message, level or vim.log.levels.ERROR)
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

--- The client configuration: `cmd`, `filetypes`, `root_markers`, `settings`.
--- `settings.den` takes den-lsp.toml's keys: `profile`, `severity`, `exclude`.
function M.config()
  return {
    cmd = { "den-lsp", "serve" },
    filetypes = { "nix" },
    root_markers = { "flake.nix", ".git" },
    settings = { den = vim.empty_dict() },
    commands = { ["den.showReferences"] = show_references },
  }
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
      notify(
        ("`%s` is not installed or not on PATH. Install it with `%s`, or set `cmd` in require(\"den_lsp\").setup()."):format(
          config.cmd[1],
          INSTALL
        )
      )
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
    capabilities = config.capabilities,
  }, { bufnr = bufnr })
end

--- Start den-lsp for `nix` buffers with `vim.lsp.start` (Neovim 0.8+).
--- On Neovim 0.11+ `vim.lsp.enable("den_ls")` does the same.
function M.setup(opts)
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

-- Run den-lsp with `args`: its output lines, or nil after telling the user why not.
local function run(args, bufnr)
  local prefix = command_prefix(bufnr)
  if vim.fn.executable(prefix[1]) ~= 1 then
    notify(("`%s` is not installed or not on PATH. Install it with `%s`."):format(prefix[1], INSTALL))
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
      notify(("`%s` could not be started: %s"):format(shown, tostring(result)))
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
      notify("this den-lsp has no `explain` command yet; upgrade it with `pipx upgrade den-lsp`", vim.log.levels.WARN)
    elseif problem then
      notify(("`%s` failed: %s"):format(shown, problem))
    end
    return
  end
  return show("den://explain/" .. code, lines, "markdown")
end

--- Completion for :DenExplain: codes on screen first, then every known code.
function M.complete_codes(lead)
  local seen, result = {}, {}
  local on_screen = {}
  for _, diagnostic in ipairs(vim.diagnostic.get()) do
    if diagnostic.source == SOURCE and type(diagnostic.code) == "string" then
      table.insert(on_screen, diagnostic.code)
    end
  end
  for _, code in ipairs(vim.list_extend(on_screen, M.codes)) do
    if not seen[code] and vim.startswith(code, lead or "") then
      seen[code] = true
      table.insert(result, code)
    end
  end
  return result
end

return M
