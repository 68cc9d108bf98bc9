-- One map setting: also print each line to stdout, for servers whose stdout
-- is captured in a file that factorio-isr follows (a container's log, a
-- wrapper). Off by default: the file in script-output is always written.
data:extend({
  {
    type = "bool-setting",
    name = "factorio-isr-events-stdout",
    setting_type = "runtime-global",
    default_value = false,
    order = "a",
  },
})
