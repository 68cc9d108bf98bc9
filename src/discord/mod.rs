//! Everything that knows Discord's rules. Only this module speaks to Discord.

pub mod delivery;
pub mod format;
pub mod gateway;
pub mod live;
pub mod outbox;
pub mod ratelimit;
pub mod rest;
pub mod tls;
