//! The `bot` thread: what the gateway hears, turned into work.
//!
//! READY registers the slash commands; INTERACTION_CREATE becomes a job
//! for a few `cmd/N` workers, because answering means REST calls and RCON
//! round trips, and neither may hold up the next interaction (Discord wants
//! a first answer within 3 s) nor the gateway thread (its heartbeats).
//! MESSAGE_CREATE in a chat channel is queued on the server's RCON thread
//! right here, so relayed lines keep their order and no worker waits on
//! them. Every [`PRESENCE_EVERY`] the thread tells the gateway how many
//! players are online.

pub mod defaults;
pub mod interaction;
pub mod register;
pub mod relay;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, select};

use crate::checkpoint::StateDir;
use crate::config::Config;
use crate::discord::gateway::Inbound;
use crate::discord::rest::Rest;
use crate::health::Health;
use crate::rcon;

/// Threads answering interactions and relaying chat.
const WORKERS: usize = 4;
/// Jobs waiting for a worker; beyond this an interaction is refused at
/// once rather than answered after Discord's deadline.
const QUEUE: usize = 64;
/// How often the presence is brought up to date.
const PRESENCE_EVERY: Duration = Duration::from_secs(30);
/// How often relayed lines' answers are looked at while some are pending.
const RELAY_CHECK: Duration = Duration::from_millis(200);

type Job = Box<dyn FnOnce(&Shared) + Send>;

/// What every worker needs.
pub struct Shared {
    pub config: Arc<Config>,
    pub rest: Rest,
    pub health: Arc<Health>,
    /// Each server's RCON thread, by server id.
    pub rcon: HashMap<Arc<str>, Sender<rcon::Request>>,
    pub state: Arc<StateDir>,
    /// Set from READY: the application (for interaction webhooks) and the
    /// bot's own user (never relay ourselves).
    pub ids: Mutex<Option<Ids>>,
    pub defaults: defaults::Defaults,
    pub cooldowns: interaction::Cooldowns,
    pub players: interaction::PlayerCache,
}

#[derive(Debug, Clone)]
pub struct Ids {
    pub application: String,
    pub user: String,
}

impl Shared {
    pub fn ids(&self) -> Option<Ids> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub struct BotJob {
    pub shared: Arc<Shared>,
    pub inbound: Receiver<Inbound>,
    pub presence: Sender<String>,
    pub shutdown: Receiver<()>,
}

impl BotJob {
    pub fn run(self) -> Result<(), String> {
        let (jobs_tx, jobs_rx) = bounded::<Job>(QUEUE);
        let mut workers = Vec::new();
        for n in 0..WORKERS {
            let jobs = jobs_rx.clone();
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("cmd/{n}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    for job in jobs {
                        // A bug in one job must not take a worker with it.
                        if let Err(why) = crate::fault::contain(|| job(&shared)) {
                            log::error!(
                                "a bug: a command worker's job panicked ({why}); the worker goes on"
                            );
                        }
                    }
                });
            match spawned {
                Ok(h) => workers.push(h),
                Err(e) => return Err(format!("cannot start a command worker: {e}")),
            }
        }
        drop(jobs_rx);
        let mut last_presence = String::new();
        let mut presence_at = Instant::now();
        let mut relayed: Vec<relay::Pending> = Vec::new();
        let result = loop {
            let wait = if relayed.is_empty() {
                PRESENCE_EVERY.saturating_sub(presence_at.elapsed())
            } else {
                RELAY_CHECK
            };
            select! {
                recv(self.shutdown) -> _ => break Ok(()),
                recv(self.inbound) -> inbound => match inbound {
                    Ok(Inbound::Message(d)) => relayed.extend(relay::handle(&self.shared, &d)),
                    Ok(inbound) => self.route(inbound, &jobs_tx),
                    Err(_) => break Ok(()),
                },
                default(wait) => {}
            }
            relayed.retain(|p| !p.settled());
            if presence_at.elapsed() >= PRESENCE_EVERY {
                presence_at = Instant::now();
                let text = presence_text(&self.shared.health);
                if text != last_presence && self.presence.try_send(text.clone()).is_ok() {
                    last_presence = text;
                }
            }
        };
        drop(jobs_tx);
        for w in workers {
            let _ = w.join();
        }
        result
    }

    fn route(&self, inbound: Inbound, jobs: &Sender<Job>) {
        let job: Job = match inbound {
            Inbound::Ready {
                application_id,
                user_id,
            } => {
                *self.shared.ids.lock().unwrap_or_else(|e| e.into_inner()) = Some(Ids {
                    application: application_id,
                    user: user_id,
                });
                Box::new(register::register)
            }
            Inbound::Interaction(d) => Box::new(move |s: &Shared| interaction::handle(s, &d)),
            // Relayed by the loop itself, so lines keep their order.
            Inbound::Message(_) => return,
        };
        if jobs.try_send(job).is_err() {
            log::warn!("every command worker is busy; a slash command was dropped");
        }
    }
}

/// "3 players online" over every server that has reported a count.
fn presence_text(health: &Health) -> String {
    let state = health.lock();
    let counts: Vec<u64> = state.rcon.iter().filter_map(|r| r.players_online).collect();
    if counts.is_empty() {
        return "Factorio".to_owned();
    }
    let total: u64 = counts.iter().sum();
    match total {
        1 => "1 player online".to_owned(),
        n => format!("{n} players online"),
    }
}
