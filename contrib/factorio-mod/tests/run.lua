--[[
Tests of factorio-isr-events under a plain Lua interpreter (5.2 or 5.4):

  lua5.4 contrib/factorio-mod/tests/run.lua [MOD_DIR FIXTURE_DIR] [--write]

For Factorio 1.1 and 2.0 it loads control.lua against the stub in stub.lua,
raises each event the mod handles, and compares the lines written to
script-output/factorio-isr/events.log with FIXTURE_DIR/events-<version>.log,
byte for byte. The daemon's replay test (tests/factorio_mod.rs) reads the same
fixtures, so what the mod writes and what the daemon is tested on cannot
drift apart. --write rewrites the fixtures from what the mod wrote (review the
diff before committing it).

It also checks: what on_load may do, that no per-tick handler exists, that a
failing handler costs one line and not the game, the stdout setting, and that
settings.lua and the locale agree. Prints "ok" and exits 0, or prints every
failure and exits 1.
]]

local here = (arg[0]:match("^(.*)[/\\]") or ".")
local positional, write = {}, false
for _, a in ipairs(arg) do
  if a == "--write" then
    write = true
  else
    positional[#positional + 1] = a
  end
end
local mod_dir = positional[1] or (here .. "/../factorio-isr-events")
local fixture_dir = positional[2] or (here .. "/../../../tests/fixtures/factorio-mod")

local stub = dofile(here .. "/stub.lua")

local failures = {}
local function check(ok, message)
  if not ok then
    failures[#failures + 1] = message
  end
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local text = f:read("*a")
  f:close()
  return text
end

local function lines_of(text)
  local out = {}
  for line in (text or ""):gmatch("([^\n]*)\n") do
    out[#out + 1] = line
  end
  return out
end

local info = assert(read(mod_dir .. "/info.json"), "no info.json in " .. mod_dir)
local MOD_NAME = assert(info:match('"name"%s*:%s*"([^"]+)"'), "info.json has no name")
local MOD_VERSION = assert(info:match('"version"%s*:%s*"([^"]+)"'), "info.json has no version")
local OUTPUT = "factorio-isr/events.log"

-- One game of `version`: load the mod, play the scenario, check it.
local function play(version)
  local label = "Factorio " .. version .. ": "
  local g = stub.new(version, MOD_NAME, MOD_VERSION)
  local chunk = assert(loadfile(mod_dir .. "/control.lua", "t", g.env))
  chunk()

  -- Registration: every event of this version's defines (the stub has only
  -- the ones that matter) but these two, which the mod has no use for; a
  -- nil id would have failed in script.on_event already.
  local unused = { on_tick = true, on_player_joined_game = true }
  local wanted, registered = 0, 0
  for name, id in pairs(g.defines.events) do
    if not unused[name] then
      wanted = wanted + 1
      check(g.handlers.events[id] ~= nil, label .. name .. " is not registered")
    end
  end
  for _ in pairs(g.handlers.events) do
    registered = registered + 1
  end
  check(registered == wanted, label .. "registered " .. registered .. " events, want " .. wanted)
  check(
    (version == "2.0") == (g.defines.events.on_achievement_gained ~= nil),
    label .. "on_achievement_gained is a 2.0 event only"
  )
  check(g.handlers.events[g.defines.events.on_tick] == nil, label .. "an on_tick handler exists")
  check(next(g.handlers.nth_tick) == nil, label .. "an on_nth_tick handler exists")
  check(g.handlers.init ~= nil, label .. "no on_init handler")
  check(g.handlers.configuration_changed ~= nil, label .. "no on_configuration_changed handler")

  -- The world.
  local nauvis = stub.surface("nauvis")
  local other = stub.surface(version == "2.0" and "vulcanus" or "nauvis-orbit")
  local player_force, player_force_props = stub.force("player", { rockets_launched = 0 })
  local enemy = stub.force("enemy")
  local players = g.game_props.players
  players[1] = stub.player(1, "bardella", nauvis, player_force)
  players[2] = stub.player(2, "j.doe-2", nauvis, player_force)
  players[3] = stub.player(3, 'mal"lory*', other, player_force)
  local techs = player_force_props.technologies
  local function tech(name, fields)
    techs[name] = stub.technology(name, player_force, fields)
    return techs[name]
  end
  local automation = tech("automation", {})
  local mining = tech("mining-productivity-3", { level = 3, formula = "2500*(L-2)" })
  tech("physical-projectile-damage-7", { level = 7, formula = "2^(L-7)*1000" })
  tech("automation-2", {})

  local function at(tick)
    g.game_props.tick = tick
  end

  -- The scenario, in game order.
  at(0)
  g.handlers.init()
  -- on_load: the mod registers none, and if it ever does it must not write.
  g.load()
  at(600)
  g.raise("on_research_started", { research = automation })
  at(4200)
  automation = tech("automation", { researched = true })
  g.raise("on_research_finished", { research = automation, by_script = false })
  at(5000)
  g.raise("on_research_started", { research = mining })
  at(9000)
  -- The infinite technology has moved on to level 4 when the event comes.
  mining = tech("mining-productivity-3", { level = 4, formula = "2500*(L-2)" })
  g.raise("on_research_finished", { research = mining, by_script = false })
  at(9100)
  g.raise("on_research_cancelled", {
    research = { ["physical-projectile-damage-7"] = 1, ["automation-2"] = 1 },
    force = player_force,
    player_index = version == "2.0" and 2 or nil,
  })
  at(12000)
  local biter = stub.entity("small-biter", "unit", enemy, nauvis)
  g.raise("on_player_died", { player_index = 2, cause = biter })
  at(12600)
  g.raise("on_player_respawned", { player_index = 2 })
  at(13000)
  local alice = stub.entity("character", "character", player_force, nauvis, { player = players[1] })
  g.raise("on_player_died", { player_index = 3, cause = alice })
  at(13500)
  local train = stub.entity("locomotive", "locomotive", player_force, nauvis, { vehicle = true, driver = players[1] })
  g.raise("on_player_died", { player_index = 2, cause = train })
  at(14000)
  local own = stub.entity("character", "character", player_force, nauvis, { player = players[2] })
  g.raise("on_player_died", { player_index = 2, cause = own })
  at(14500)
  local car = stub.entity("car", "car", player_force, nauvis, { vehicle = true })
  g.raise("on_player_died", { player_index = 1, cause = car })
  at(15000)
  -- A character whose player left: still known by associated_player.
  local orphan = stub.entity("character", "character", player_force, nauvis, { associated_player = players[2] })
  g.raise("on_player_died", { player_index = 1, cause = orphan })
  at(15500)
  g.raise("on_player_died", { player_index = 1 })
  at(20000)
  player_force_props.rockets_launched = 1
  local silo = stub.entity("rocket-silo", "rocket-silo", player_force, nauvis)
  local rocket = stub.entity("rocket", "rocket", player_force, nauvis)
  g.raise("on_rocket_launched", {
    rocket = rocket,
    rocket_silo = silo,
    player_index = version == "1.1" and 1 or nil,
  })
  if version == "2.0" then
    at(20100)
    g.raise("on_achievement_gained", {
      player_index = 1,
      achievement = stub.object("LuaAchievementPrototype", { name = "smoke-me-a-kipper-i-will-be-back-for-breakfast" }),
    })
  end
  -- The stdout setting: the same line on stdout as in the file.
  at(30000)
  g.settings["factorio-isr-events-stdout"] = true
  player_force_props.rockets_launched = 2
  local far_silo = stub.entity("rocket-silo", "rocket-silo", player_force, other)
  g.raise("on_rocket_launched", { rocket = rocket, rocket_silo = far_silo })
  g.settings["factorio-isr-events-stdout"] = false
  -- Adding the mod to a save: on_init spoke already, so this is silent.
  at(36000)
  g.handlers.configuration_changed({
    mod_changes = { [MOD_NAME] = { new_version = MOD_VERSION } },
    mod_startup_settings_changed = false,
    migration_applied = false,
  })
  -- An update of the game: "started" again.
  at(36001)
  g.handlers.configuration_changed({
    old_version = version == "2.0" and "2.0.69" or "1.1.109",
    new_version = version == "2.0" and "2.0.72" or "1.1.110",
    mod_changes = {},
    mod_startup_settings_changed = false,
    migration_applied = false,
  })
  -- A handler that fails (an unknown player) writes nothing and logs why.
  local writes_before = #g.writes
  g.raise("on_player_died", { player_index = 99 })
  check(#g.writes == writes_before, label .. "a failing handler wrote something")
  check(
    #g.logs == 1 and g.logs[1]:find("^factorio%-isr%-events: no line for on_player_died: ") ~= nil,
    label .. "a failing handler must log one line, logged: " .. table.concat(g.logs, " | ")
  )

  -- Every write appends to the one file, on the server only, one line each.
  for i, w in ipairs(g.writes) do
    check(w.filename == OUTPUT, label .. "write " .. i .. " went to " .. tostring(w.filename))
    check(w.append == true, label .. "write " .. i .. " does not append")
    check(w.for_player == 0, label .. "write " .. i .. " is not for the server only (for_player 0)")
    check(
      w.data:sub(-1) == "\n" and not w.data:sub(1, -2):find("\n"),
      label .. "write " .. i .. " is not exactly one line"
    )
  end
  local written = lines_of(g.files[OUTPUT])
  check(
    #g.stdout == 1 and g.stdout[1] == written[#written - 1],
    label .. "stdout must hold the one line written while the setting was on, got: "
      .. table.concat(g.stdout, " | ")
  )

  local fixture = fixture_dir .. "/events-" .. version .. ".log"
  if write then
    local f = assert(io.open(fixture, "wb"))
    f:write(g.files[OUTPUT])
    f:close()
    print("wrote " .. fixture)
    return
  end
  local want = read(fixture)
  if not want then
    check(false, label .. "no fixture " .. fixture .. " (run with --write to create it)")
    return
  end
  local expected = lines_of(want)
  local n = math.max(#expected, #written)
  for i = 1, n do
    if expected[i] ~= written[i] then
      check(
        false,
        label .. fixture .. " line " .. i .. " differs:\n  want: " .. tostring(expected[i])
          .. "\n  got:  " .. tostring(written[i])
          .. "\n(run with --write to take what the mod writes, then review the diff)"
      )
      break
    end
  end
end

-- settings.lua in the settings stage, and its names in the locale.
local function settings_and_locale()
  local defined = {}
  local env = {
    data = {
      extend = function(_, list)
        for _, s in ipairs(list) do
          defined[#defined + 1] = s
        end
      end,
    },
  }
  assert(loadfile(mod_dir .. "/settings.lua", "t", env))()
  check(#defined > 0, "settings.lua defines no setting")
  local locale = assert(read(mod_dir .. "/locale/en/locale.cfg"), "no locale/en/locale.cfg")
  local sections, section = {}, nil
  for line in locale:gmatch("[^\n]+") do
    local name = line:match("^%[([%w%-]+)%]$")
    if name then
      section = name
      sections[section] = sections[section] or {}
    elseif line:match("^[^#;]") then
      local key, value = line:match("^([%w%-_]+)=(.+)$")
      check(key ~= nil and section ~= nil, "locale.cfg: not a `key=value` line in a section: " .. line)
      if key and section then
        sections[section][key] = value
      end
    end
  end
  for _, sect in ipairs({ "mod-name", "mod-description" }) do
    check(sections[sect] and sections[sect][MOD_NAME], "locale.cfg: no [" .. sect .. "] " .. MOD_NAME)
  end
  for _, s in ipairs(defined) do
    check(s.name:sub(1, #MOD_NAME) == MOD_NAME, "setting " .. s.name .. " does not start with the mod's name")
    check(s.type == "bool-setting" and s.setting_type == "runtime-global", "setting " .. s.name .. " type")
    for _, sect in ipairs({ "mod-setting-name", "mod-setting-description" }) do
      check(sections[sect] and sections[sect][s.name], "locale.cfg: no [" .. sect .. "] " .. s.name)
    end
  end
end

play("1.1")
play("2.0")
settings_and_locale()

if #failures > 0 then
  print(_VERSION .. ": " .. #failures .. " failure(s):")
  for _, f in ipairs(failures) do
    print("- " .. f)
  end
  os.exit(1)
end
print(_VERSION .. ": ok")
