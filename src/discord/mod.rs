//! Everything that knows Discord's rules. Only this module speaks to Discord.

pub mod format;
