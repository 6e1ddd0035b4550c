-- Helpers the Neovim tests call through the RPC API. Each reads Neovim's
-- own state (diagnostics, windows, buffer lines); none reads a log.
local T = {}

-- Messages given to vim.notify, so tests can assert on what a user is told.
-- With T.show_messages, each is also shown as Neovim shows it, so that one
-- that fails where it is given (an error inside an autocommand) fails here.
T.messages = {}
T.show_messages = false
local show = vim.notify
vim.notify = function(message, level)
  table.insert(T.messages, { message = message, level = level or vim.log.levels.INFO })
  if T.show_messages then
    show(message, level)
  end
end

local function get_clients(filter)
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  return get(filter)
end

function T.client_names(bufnr)
  local names = {}
  for _, client in ipairs(get_clients({ bufnr = bufnr or 0 })) do
    table.insert(names, client.name)
  end
  table.sort(names)
  return names
end

-- The buffer's diagnostics from `source`, in a plain, sorted form.
function T.diagnostics(source, bufnr)
  local result = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr or 0)) do
    if d.source == source then
      table.insert(result, {
        code = d.code,
        lnum = d.lnum,
        col = d.col,
        end_lnum = d.end_lnum,
        end_col = d.end_col,
        severity = d.severity,
        message = d.message,
      })
    end
  end
  table.sort(result, function(a, b)
    return a.lnum < b.lnum or (a.lnum == b.lnum and a.col < b.col)
  end)
  return result
end

-- Wait until `source` has published for the buffer and `accept` takes it.
function T.wait_diagnostics(source, count, timeout)
  local ok = vim.wait(timeout or 20000, function()
    return #T.diagnostics(source) == count
  end, 50)
  return { ok = ok, diagnostics = T.diagnostics(source) }
end

function T.wait_clients(names, timeout)
  local want = vim.deepcopy(names)
  table.sort(want)
  local ok = vim.wait(timeout or 20000, function()
    return vim.deep_equal(T.client_names(0), want)
  end, 50)
  return { ok = ok, names = T.client_names(0) }
end

local function floating_windows()
  local result = {}
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= "" then
      table.insert(result, win)
    end
  end
  return result
end

-- Hover at (line, col), 0-based, through vim.lsp.buf.hover(): the lines of
-- the floating window Neovim opens.
function T.hover(line, col, timeout)
  for _, win in ipairs(floating_windows()) do
    vim.api.nvim_win_close(win, true)
  end
  vim.api.nvim_win_set_cursor(0, { line + 1, col })
  vim.lsp.buf.hover()
  local ok = vim.wait(timeout or 10000, function()
    return #floating_windows() > 0
  end, 50)
  if not ok then
    return { ok = false, lines = {} }
  end
  local win = floating_windows()[1]
  local lines = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(win), 0, -1, false)
  vim.api.nvim_win_close(win, true)
  return { ok = true, lines = lines }
end

-- The titles of the code actions offered at (line, col), as a user would
-- see them in the menu.
function T.code_action_titles(line, col, timeout)
  vim.api.nvim_win_set_cursor(0, { line + 1, col })
  local params = vim.lsp.util.make_range_params(0, "utf-16")
  local diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(0, { lnum = line })) do
    if d.user_data and d.user_data.lsp then
      table.insert(diagnostics, d.user_data.lsp)
    end
  end
  params.context = { diagnostics = diagnostics, only = { "quickfix" } }
  local responses = vim.lsp.buf_request_sync(0, "textDocument/codeAction", params, timeout or 10000) or {}
  local titles = {}
  for _, response in pairs(responses) do
    for _, action in ipairs(response.result or {}) do
      table.insert(titles, action.title)
    end
  end
  table.sort(titles)
  return titles
end

-- Apply the code action called `title` at (line, col) the way a user does,
-- with vim.lsp.buf.code_action, and wait for the buffer to change.
function T.apply_code_action(line, col, title, timeout)
  vim.api.nvim_win_set_cursor(0, { line + 1, col })
  local tick = vim.api.nvim_buf_get_changedtick(0)
  vim.lsp.buf.code_action({
    filter = function(action)
      return action.title == title
    end,
    apply = true,
  })
  local ok = vim.wait(timeout or 10000, function()
    return vim.api.nvim_buf_get_changedtick(0) ~= tick
  end, 50)
  return { ok = ok, lines = vim.api.nvim_buf_get_lines(0, 0, -1, false) }
end

-- Run an Ex command; report a Lua or Vim error as a value, not a crash.
function T.command(command)
  local ok, problem = pcall(vim.cmd, command)
  return { ok = ok, error = ok and vim.NIL or tostring(problem) }
end

-- Whether the client `name` offered to watch files, and whether the server
-- registered its watchers (waiting for that), so a change on disk is seen.
function T.wait_watching(name, timeout)
  local client = get_clients({ name = name })[1]
  if client == nil then
    return { capability = vim.NIL, registered = false }
  end
  local capability = vim.tbl_get(client.capabilities, "workspace", "didChangeWatchedFiles", "dynamicRegistration")
  local registered = vim.wait(timeout or 20000, function()
    local registrations = client.registrations or {}
    return registrations["workspace/didChangeWatchedFiles"] ~= nil
      and #registrations["workspace/didChangeWatchedFiles"] > 0
  end, 50)
  return { capability = capability, registered = registered }
end

function T.current_buffer()
  local bufnr = vim.api.nvim_get_current_buf()
  return {
    name = vim.api.nvim_buf_get_name(bufnr),
    lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false),
    buftype = vim.bo[bufnr].buftype,
    modifiable = vim.bo[bufnr].modifiable,
    filetype = vim.bo[bufnr].filetype,
  }
end

_G.DenTest = T
return T
