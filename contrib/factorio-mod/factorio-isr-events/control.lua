--[[
factorio-isr-events: one line per game event for the factorio-isr Discord
bridge, which turns them into messages with its patterns/mod-events.yml.

Each line is `[ISR] ` and a JSON object whose `event` key says what
happened. Lines are appended to script-output/factorio-isr/events.log on the
server (not on the clients), and printed to stdout as well when the map
setting "Also print events to stdout" is on. Factorio's --console-log gets
joins, chat and bans but none of these events, and neither print() (stdout)
nor log() (factorio-current.log) reaches it: the daemon follows this file.

One control.lua for Factorio 1.1 and 2.0 (only info.json differs):
- 2.0 moved write_file and table_to_json from `game` to `helpers`, so the
  table holding them is looked up when a line is written;
- an event is registered only when defines.events has it
  (on_achievement_gained is 2.0 only).

The mod changes no game state, keeps nothing in storage/global and has no
per-tick handler. Every handler runs under pcall: a surprise in the API (a
modded entity, a later version) costs that line and a note in
factorio-current.log, never the server.
]]

local PREFIX = "[ISR] "
local OUTPUT = "factorio-isr/events.log"
local STDOUT_SETTING = "factorio-isr-events-stdout"

-- write_file's player index 0: the server writes the file (a dedicated
-- server, or the host of a hosted game), the clients do not.
local SERVER_ONLY = 0

-- Rolling stock: a death caused by one of these is a death by train.
local TRAIN_TYPES = {
  ["locomotive"] = true,
  ["cargo-wagon"] = true,
  ["fluid-wagon"] = true,
  ["artillery-wagon"] = true,
}

-- `helpers` (2.0) or `game` (1.1): whichever holds write_file and
-- table_to_json. rawget, so that reading a global 1.1 lacks cannot fail.
local function api()
  return rawget(_G, "helpers") or game
end

-- object[key], or nil where this version or this entity type lacks the key:
-- Factorio objects raise an error for an unknown key instead of giving nil.
local function try_get(object, key)
  local ok, value = pcall(function()
    return object[key]
  end)
  if ok then
    return value
  end
  return nil
end

local function emit(record)
  local helpers_or_game = api()
  local line = PREFIX .. helpers_or_game.table_to_json(record)
  helpers_or_game.write_file(OUTPUT, line .. "\n", true, SERVER_ONLY)
  local setting = settings.global[STDOUT_SETTING]
  if setting and setting.value then
    print(line)
  end
end

local function player_name(index)
  local player = index and game.get_player(index)
  return player and player.name
end

-- The player behind an entity: a character's player, or whoever drives a
-- vehicle (car, tank, spidertron, train). nil for biters, turrets and empty
-- vehicles.
local function player_behind(entity)
  if entity.type == "character" then
    -- A character whose player left has no `player`, but still knows whose
    -- it is.
    local player = try_get(entity, "player") or try_get(entity, "associated_player")
    return player and player.name
  end
  local ok, driver = pcall(function()
    return entity.get_driver()
  end)
  if not ok or not driver then
    return nil
  end
  if driver.object_name == "LuaPlayer" then
    return driver.name
  end
  local player = try_get(driver, "player")
  return player and player.name
end

-- Whether a technology has levels (a count formula: the infinite ones, and
-- 2.0's leveled ones), so its level is worth showing.
local function leveled(tech)
  return try_get(tech, "research_unit_count_formula") ~= nil
end

local function on_player_died(event)
  local player = game.get_player(event.player_index)
  local record = {
    event = "player_died",
    tick = event.tick,
    player = player.name,
    surface = player.surface.name,
    -- How the patterns tell deaths apart: player, self, train, entity or
    -- unknown (no cause, e.g. the editor or a script).
    by = "unknown",
  }
  local cause = event.cause
  if cause and cause.valid then
    local killer = player_behind(cause)
    record.cause = cause.name
    record.cause_type = cause.type
    record.cause_force = cause.force.name
    record.killer = killer
    if TRAIN_TYPES[cause.type] then
      record.by = "train"
    elseif killer == player.name then
      record.by = "self"
    elseif killer then
      record.by = "player"
    else
      record.by = "entity"
    end
  end
  emit(record)
end

local function on_player_respawned(event)
  local player = game.get_player(event.player_index)
  emit({
    event = "player_respawned",
    tick = event.tick,
    player = player.name,
    surface = player.surface.name,
  })
end

local function on_research_started(event)
  local tech = event.research
  emit({
    event = "research_started",
    tick = event.tick,
    tech = tech.name,
    level = tech.level,
    leveled = leveled(tech),
    force = tech.force.name,
  })
end

local function on_research_finished(event)
  local tech = event.research
  local level = tech.level
  -- A leveled technology has already moved on to its next level when this
  -- event comes, unless the level just done was its last.
  if leveled(tech) and not tech.researched then
    level = level - 1
  end
  emit({
    event = "research_finished",
    tick = event.tick,
    tech = tech.name,
    level = level,
    leveled = leveled(tech),
    force = tech.force.name,
    by_script = event.by_script == true,
  })
end

local function on_research_cancelled(event)
  local force = event.force
  -- One line per technology; sorted, so the order never depends on the
  -- table's layout.
  local names = {}
  for name in pairs(event.research) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local tech = force.technologies[name]
    emit({
      event = "research_cancelled",
      tick = event.tick,
      tech = name,
      level = tech and tech.level,
      leveled = tech ~= nil and leveled(tech),
      force = force.name,
      player = player_name(event.player_index),
    })
  end
end

local function on_rocket_launched(event)
  local silo = event.rocket_silo
  local source = (silo and silo.valid) and silo or event.rocket
  local force = source.force
  emit({
    event = "rocket_launched",
    tick = event.tick,
    surface = source.surface.name,
    force = force.name,
    launches = try_get(force, "rockets_launched"),
    player = player_name(event.player_index),
  })
end

local function on_achievement_gained(event)
  emit({
    event = "achievement_gained",
    tick = event.tick,
    player = player_name(event.player_index),
    achievement = event.achievement.name,
  })
end

local function versions()
  local mods = script.active_mods
  return mods["base"], mods[script.mod_name]
end

-- Runs `handler` under pcall: whatever goes wrong, the game goes on.
local function guard(name, handler)
  return function(event)
    local ok, err = pcall(handler, event)
    if not ok then
      log("factorio-isr-events: no line for " .. name .. ": " .. tostring(err))
    end
  end
end

-- "Server started": on_init runs when a new map is made with this mod, or
-- when the mod is added to a save; on_configuration_changed when the game
-- or any mod changed. Both need a restart of the server, and both may write.
-- A plain restart of an unchanged save runs only on_load, which Factorio
-- allows nothing but restoring metatables, conditional handlers and local
-- references (it cannot reach `game`, and it runs on every joining client
-- too), so that restart is not reported and no on_load handler exists.
script.on_init(guard("on_init", function()
  local factorio, mod = versions()
  emit({
    event = "server_started",
    tick = game.tick,
    reason = game.tick == 0 and "new_game" or "mod_added",
    factorio_version = factorio,
    mod_version = mod,
  })
end))

script.on_configuration_changed(guard("on_configuration_changed", function(data)
  local ours = data.mod_changes and data.mod_changes[script.mod_name]
  if ours and ours.old_version == nil then
    -- Just added to this save: on_init has said so.
    return
  end
  local factorio, mod = versions()
  emit({
    event = "server_started",
    tick = game.tick,
    reason = "updated",
    factorio_version = factorio,
    old_factorio_version = data.old_version,
    mod_version = mod,
  })
end))

local handlers = {
  on_player_died = on_player_died,
  on_player_respawned = on_player_respawned,
  on_research_started = on_research_started,
  on_research_finished = on_research_finished,
  on_research_cancelled = on_research_cancelled,
  on_rocket_launched = on_rocket_launched,
  on_achievement_gained = on_achievement_gained,
}

for name, handler in pairs(handlers) do
  local id = defines.events[name]
  if id then
    script.on_event(id, guard(name, handler))
  end
end
