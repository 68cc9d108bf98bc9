--[[
A stub of the parts of Factorio's runtime API that factorio-isr-events uses,
for Factorio 1.1 and 2.0, so control.lua runs under a plain Lua interpreter
(Factorio itself runs a modified Lua 5.2; the tests run under 5.2 and 5.4).

What it keeps true to the game, because each is a way the mod could break:
- Objects (players, entities, forces, technologies) raise an error for a key
  they do not have, as Factorio's do, so reading a property one version lacks
  fails here too.
- 1.1 has game.write_file and game.table_to_json and no `helpers`; 2.0 has
  helpers.write_file and helpers.table_to_json and `game` has neither.
- defines.events has on_achievement_gained only in 2.0; script.on_event
  refuses a nil event id, as the game does.
- table_to_json is a real JSON encoder that refuses what Factorio cannot
  encode (functions, game objects, NaN).
- During on_load `game` is nil and writing a file is an error.
- The mod runs in its own global table with only the libraries Factorio
  offers: no io, no os.
]]

local M = {}

-- A property that exists but holds nil (a character without a player).
M.NIL = setmetatable({}, { __tostring = function() return "NIL" end })

local LUA_OBJECT = {}

-- A game object of class `class` with the given properties; reading any
-- other key is an error, as in Factorio. Returns the object and its
-- property table, which the tests may change (game.tick).
function M.object(class, props)
  props.object_name = class
  if props.valid == nil then
    props.valid = true
  end
  local proxy = {}
  setmetatable(proxy, {
    __index = function(_, key)
      local value = props[key]
      if value == nil then
        error(class .. " doesn't contain key " .. tostring(key) .. ".", 2)
      end
      if value == M.NIL then
        return nil
      end
      return value
    end,
    __newindex = function(_, key)
      error(class .. "." .. tostring(key) .. " may not be written by this mod", 2)
    end,
    __metatable = LUA_OBJECT,
  })
  return proxy, props
end

local function is_object(value)
  return type(value) == "table" and getmetatable(value) == LUA_OBJECT
end

-- JSON -------------------------------------------------------------------

local ESCAPES = {
  ['"'] = '\\"',
  ["\\"] = "\\\\",
  ["\b"] = "\\b",
  ["\f"] = "\\f",
  ["\n"] = "\\n",
  ["\r"] = "\\r",
  ["\t"] = "\\t",
}

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local encode

local function encode_table(t)
  if is_object(t) then
    error("table_to_json: a game object cannot be encoded", 0)
  end
  local count, keys = 0, {}
  for key in pairs(t) do
    count = count + 1
    keys[#keys + 1] = key
  end
  -- 1..n without holes is an array, anything else an object.
  local array = count > 0
  for i = 1, count do
    if t[i] == nil then
      array = false
    end
  end
  local parts = {}
  if array then
    for i = 1, count do
      parts[i] = encode(t[i])
    end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  for _, key in ipairs(keys) do
    if type(key) ~= "string" then
      error("table_to_json: key " .. tostring(key) .. " is not text", 0)
    end
  end
  -- Sorted, so a line is the same on every run and every interpreter.
  table.sort(keys)
  for i, key in ipairs(keys) do
    parts[i] = encode_string(key) .. ":" .. encode(t[key])
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function encode(value)
  local kind = type(value)
  if kind == "string" then
    return encode_string(value)
  elseif kind == "boolean" then
    return tostring(value)
  elseif kind == "number" then
    if value ~= value or value == math.huge or value == -math.huge then
      error("table_to_json: " .. tostring(value) .. " is not a JSON number", 0)
    end
    -- Whole numbers without a fraction, as Lua 5.2 (the game's) prints them.
    if value == math.floor(value) and math.abs(value) < 2 ^ 53 then
      return string.format("%d", value)
    end
    return string.format("%.17g", value)
  elseif kind == "table" then
    return encode_table(value)
  end
  error("table_to_json: a " .. kind .. " cannot be encoded", 0)
end

M.table_to_json = encode

-- The game ------------------------------------------------------------------

local EVENTS = {
  "on_tick",
  "on_player_died",
  "on_player_respawned",
  "on_research_started",
  "on_research_finished",
  "on_research_cancelled",
  "on_rocket_launched",
  "on_player_joined_game",
}

--[[
A fresh game of `version` ("1.1" or "2.0"). Returns `game`, a table the tests
drive:
  env        the mod's global table (load control.lua with it)
  files      written files by name, appended as the game appends
  writes     every write_file call {filename, data, append, for_player}
  stdout     lines the mod printed
  logs       lines the mod logged
  handlers   {init, load, configuration_changed, events = {[id] = f}, nth_tick = {}}
  game_props the properties of `game` (set tick here)
  settings   the map settings' values by name
]]
function M.new(version, mod_name, mod_version)
  assert(version == "1.1" or version == "2.0", "version 1.1 or 2.0")
  local g = {
    files = {},
    writes = {},
    stdout = {},
    logs = {},
    handlers = { events = {}, nth_tick = {} },
    settings = {},
    loading = false,
  }

  local defines = { events = {} }
  for i, name in ipairs(EVENTS) do
    defines.events[name] = i
  end
  if version == "2.0" then
    defines.events.on_achievement_gained = #EVENTS + 1
  end
  g.defines = defines

  local function write_file(filename, data, append, for_player)
    if g.loading then
      error("write_file during on_load: the game forbids touching anything there", 2)
    end
    assert(type(filename) == "string" and type(data) == "string", "write_file(filename, data, ...)")
    g.writes[#g.writes + 1] = {
      filename = filename,
      data = data,
      append = append,
      for_player = for_player,
    }
    if append then
      g.files[filename] = (g.files[filename] or "") .. data
    else
      g.files[filename] = data
    end
  end

  local game_props = {
    tick = 0,
    players = {},
    forces = {},
  }
  game_props.get_player = function(index)
    return game_props.players[index]
  end
  if version == "1.1" then
    game_props.write_file = write_file
    game_props.table_to_json = encode
  end
  local game = M.object("LuaGameScript", game_props)
  g.game = game
  g.game_props = game_props

  local script = M.object("LuaBootstrap", {
    mod_name = mod_name,
    active_mods = { base = version == "1.1" and "1.1.110" or "2.0.72", [mod_name] = mod_version },
    on_init = function(f)
      g.handlers.init = f
    end,
    on_load = function(f)
      g.handlers.load = f
    end,
    on_configuration_changed = function(f)
      g.handlers.configuration_changed = f
    end,
    on_event = function(id, f)
      if id == nil then
        error("Invalid event id: nil", 2)
      end
      g.handlers.events[id] = f
    end,
    on_nth_tick = function(n, f)
      g.handlers.nth_tick[n] = f
    end,
  })

  local settings_global = setmetatable({}, {
    __index = function(_, name)
      local value = g.settings[name]
      if value == nil then
        return nil
      end
      return { value = value }
    end,
  })

  local env = {
    assert = assert,
    error = error,
    ipairs = ipairs,
    next = next,
    pairs = pairs,
    pcall = pcall,
    rawget = rawget,
    rawequal = rawequal,
    rawlen = rawlen,
    rawset = rawset,
    select = select,
    setmetatable = setmetatable,
    getmetatable = getmetatable,
    tonumber = tonumber,
    tostring = tostring,
    type = type,
    xpcall = xpcall,
    math = math,
    string = string,
    table = table,
    defines = defines,
    script = script,
    game = game,
    settings = M.object("LuaSettings", { global = settings_global }),
    log = function(text)
      g.logs[#g.logs + 1] = tostring(text)
    end,
    print = function(text)
      g.stdout[#g.stdout + 1] = tostring(text)
    end,
  }
  if version == "2.0" then
    env.helpers = M.object("LuaHelpers", { write_file = write_file, table_to_json = encode })
  end
  env._G = env
  g.env = env

  -- on_load as the game runs it: no `game`, nothing may be written.
  function g.load()
    if not g.handlers.load then
      return
    end
    env.game = nil
    g.loading = true
    local ok, err = pcall(g.handlers.load)
    g.loading = false
    env.game = game
    assert(ok, "on_load failed: " .. tostring(err))
  end

  -- Raises event `name` with `data` (tick and name filled in), as the game
  -- does; an event the mod did not register is not delivered.
  function g.raise(name, data)
    local id = defines.events[name]
    assert(id, name .. " is not an event of Factorio " .. version)
    data.name = id
    data.tick = game_props.tick
    local handler = g.handlers.events[id]
    if handler then
      handler(data)
    end
  end

  return g
end

-- Builders for the objects the events carry. -------------------------------

function M.surface(name)
  return (M.object("LuaSurface", { name = name, index = 1 }))
end

function M.force(name, extra)
  local props = { name = name, technologies = {}, rockets_launched = 0 }
  for k, v in pairs(extra or {}) do
    props[k] = v
  end
  return M.object("LuaForce", props)
end

function M.technology(name, force, fields)
  local props = {
    name = name,
    force = force,
    level = fields.level or 1,
    researched = fields.researched or false,
    research_unit_count_formula = fields.formula or M.NIL,
    localised_name = { "technology-name." .. name },
  }
  return M.object("LuaTechnology", props)
end

function M.player(index, name, surface, force)
  return M.object("LuaPlayer", {
    index = index,
    name = name,
    surface = surface,
    force = force,
    connected = true,
  })
end

-- An entity; `fields.driver` makes it a vehicle (get_driver), `fields.player`
-- a character.
function M.entity(name, type_name, force, surface, fields)
  fields = fields or {}
  local props = {
    name = name,
    type = type_name,
    force = force,
    surface = surface,
  }
  if type_name == "character" then
    props.player = fields.player or M.NIL
    props.associated_player = fields.associated_player or M.NIL
  end
  if fields.vehicle then
    props.get_driver = function()
      return fields.driver
    end
  end
  return (M.object("LuaEntity", props))
end

return M
