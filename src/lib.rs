//! factorio-isr: follows Factorio console logs and relays events to Discord.
//!
//! The binary is a thin `main` over [`cli::main`]; the library exists so
//! integration tests and benchmarks drive the same code. docs/ARCHITECTURE.md
//! is the map.

pub mod alerts;
pub mod app;
pub mod backoff;
pub mod bot;
pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod config;
pub mod discord;
pub mod doctor;
pub mod dryrun;
pub mod event;
pub mod expand;
pub mod factorio;
pub mod fault;
pub mod follow;
pub mod health;
pub mod healthcheck;
pub mod http;
pub mod logging;
pub mod lua_stats;
pub mod metrics;
pub mod monitor;
pub mod notify;
pub mod patterns;
pub mod rcon;
pub mod route;
pub mod secret;
pub mod stats;
pub mod tail;
pub mod text_file;
pub mod watch;
pub mod yaml;
