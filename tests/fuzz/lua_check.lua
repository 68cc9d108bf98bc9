-- lua_string against a real Lua (run.sh): `lua5.4 lua_check.lua CASES`.
-- CASES holds one `check(literal, want)` per input, written by the
-- lua_string fuzz target with LUA_CHECK_CASES set, both arguments as
-- quoted strings of decimal escapes (a form that owes nothing to the
-- encoder under test). Each literal is loaded as `return <literal>` in an
-- empty environment, so a literal that leaked code could call nothing,
-- and must give back exactly `want`: the input with control characters
-- read as spaces.
local checked, failed = 0, 0
function check(literal, want)
  checked = checked + 1
  local f, err = load('return ' .. literal, '=literal', 't', {})
  local ok, got = false, err
  if f then ok, got = pcall(f) end
  if not ok or got ~= want then
    failed = failed + 1
    io.stderr:write(string.format('MISMATCH literal %q\n  decoded %q\n  wanted  %q\n',
      literal, tostring(got), want))
  end
end
dofile(arg[1])
print(string.format('lua_check: %d literals decoded by %s, %d wrong', checked, _VERSION, failed))
os.exit(failed == 0 and checked > 0)
