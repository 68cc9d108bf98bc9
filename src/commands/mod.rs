//! The `/factorio` and `/factorio-admin` slash commands, as pure code.
//!
//! - [`spec`]: every leaf subcommand and its options, and the registration
//!   JSON built from that table.
//! - [`plan`]: a parsed invocation turned into a reply, a change of the
//!   user's default server, or console commands to run over RCON plus the
//!   function that renders their outputs.
//! - [`sanitize`]: the rules that keep Discord text from becoming console
//!   commands or Lua code.
//!
//! This module does no I/O: no threads, sockets or REST calls. The Discord
//! thread receives interactions, checks permissions and cooldowns, defers,
//! runs the planned steps on the server's RCON thread and edits the reply.
//! Default plans run no Lua, so they keep the save's achievements.

pub mod plan;
pub mod sanitize;
pub mod spec;

pub use plan::{
    Facts, Invocation, LuaApi, OptionValue, Plan, Render, complete, connect_reply, fit, help_text,
    lua_api, parse_version, plan, resolve_server,
};
pub use sanitize::{clean_text, lua_string, player, relay_line};
pub use spec::{ADMIN_ROOT, Leaf, ROOT, find, leaves, registration};
