//! Starting, watching and stopping the daemon's threads.
//!
//! `main` hands a validated [`Config`] to [`run`]. What lives as long as
//! the process starts once: the signal thread, the inotify [`Watcher`], the
//! `http` thread and the [`Health`] they all report to. The rest is one run
//! of [`Workers`]: the pattern sets, one `tail/<server>` thread per followed
//! file, the delivery thread, and per server the RCON and monitor threads.
//! A run ends on a signal or when a thread ends. Stopping drops the shutdown
//! sender: every thread sees its channel close, the followers stop, the
//! delivery thread drains what is queued, and all are joined within
//! [`SHUTDOWN_GRACE`]. SIGHUP stops the run and starts one with the new
//! config, but only once that config has been checked in full.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, select};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::alerts::Thresholds;
use crate::bot::defaults::Defaults;
use crate::bot::interaction::{Cooldowns, PlayerCache};
use crate::bot::{BotJob, Shared};
use crate::checkpoint::{self, StateDir};
use crate::config::{Config, Mode, Server, StartAt, Watch};
use crate::discord::delivery::Delivery;
use crate::discord::gateway::GatewayJob;
use crate::discord::rest::Rest;
use crate::follow::{FollowJob, SAFETY_CHECK};
use crate::health::{Health, Phase};
use crate::http::Http;
use crate::monitor::{MonitorJob, UNREACHABLE_AFTER};
use crate::notify::Notifier;
use crate::patterns::{self, PatternSet};
use crate::rcon;
use crate::tail::{Follower, Start};
use crate::watch::{Target, Watcher};
use crate::yaml::Problems;
use crate::{dryrun, route};

/// How long shutdown may take before the process exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Events queued between followers and delivery; when full, followers wait.
const EVENT_QUEUE: usize = 1024;
/// How often the daemon marks itself alive in the state dir, which tells
/// the next start how long the bridge was down.
const ALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// RCON connect, auth and per-command timeout: long enough for a save.
const RCON_TIMEOUT: Duration = Duration::from_secs(10);
/// Stack for our threads: they hold no large buffers on the stack.
const STACK_SIZE: usize = 256 * 1024;

/// Why the daemon could not run or stopped with a failure.
#[derive(Debug)]
pub enum Error {
    /// Config or pattern files are wrong; exit code 2.
    Config(Problems),
    /// Something the user gave cannot work (an unreadable `SSL_CERT_FILE`,
    /// a file to replay that does not exist, an unknown server); exit code 2.
    Setup(String),
    /// Something failed while running; exit code 1.
    Runtime(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(p) => write!(f, "{p}"),
            Error::Setup(m) | Error::Runtime(m) => f.write_str(m),
        }
    }
}

/// Loads the patterns and builds one set per server, in config order.
pub fn pattern_sets(config: &Config) -> Result<Vec<PatternSet>, Error> {
    let patterns = patterns::load::load_dirs(&config.patterns_dirs).map_err(Error::Config)?;
    config
        .servers
        .iter()
        .map(|s| {
            PatternSet::new(&patterns, |k| s.wants(k)).map_err(|e| {
                let dirs: Vec<String> = config
                    .patterns_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect();
                Error::Setup(format!(
                    "server {} (patterns from {}): {e}",
                    s.id,
                    dirs.join(", ")
                ))
            })
        })
        .collect()
}

/// Everything [`run`] needs checked before any thread starts; also what
/// `check-config` runs.
pub fn prepare(config: &Config) -> Result<Vec<PatternSet>, Error> {
    let sets = pattern_sets(config)?;
    let problems = route::check(config, &sets);
    if !problems.is_empty() {
        return Err(Error::Config(Problems(problems)));
    }
    Ok(sets)
}

/// Loads the config again on SIGHUP.
pub type Loader<'a> = &'a dyn Fn() -> Result<Config, Problems>;

/// Runs until SIGTERM or SIGINT (then returns `Ok`), or until a thread
/// fails. SIGHUP loads the config with `load`: a valid one replaces the
/// running workers (checkpoints carry every follower over, so nothing is
/// lost or posted twice), an invalid one is logged and ignored.
pub fn run(config: Config, load: Loader<'_>) -> Result<(), Error> {
    config.warn_readable_secrets();
    let health = Arc::new(Health::new());
    let mut prepared = Prepared::new(config, None)?;
    let notifier = Notifier::from_env();
    let signals = signal_thread()?;
    let watcher = Watcher::start();
    let (http_stop, http_stop_rx) = bounded::<()>(0);
    let http = match prepared.config.health_bind {
        Some(addr) => Some(Http::bind(addr).map_err(Error::Setup)?),
        None => None,
    };
    let http = match http {
        Some(http) => {
            log::info!(
                "serving /health, /ready and /metrics on http://{}",
                http.addr()
            );
            let health = health.clone();
            Some(
                std::thread::Builder::new()
                    .name("http".to_owned())
                    .stack_size(STACK_SIZE)
                    .spawn(move || http.run(&health, &http_stop_rx))
                    .map_err(|e| Error::Runtime(format!("cannot start the http thread: {e}")))?,
            )
        }
        None => None,
    };
    let result = loop {
        let workers = Workers::start(prepared, &health, &watcher)?;
        health.set_phase(Phase::Running);
        notifier.ready(&workers.summary);
        match workers.wait(&signals, &notifier, &health, load) {
            Outcome::Stop(result) => {
                health.set_phase(Phase::Stopping);
                notifier.stopping();
                workers.stop();
                break result;
            }
            Outcome::Reload(next) => {
                health.set_phase(Phase::Reloading);
                notifier.reloading();
                workers.stop();
                health.lock().counters.reloads += 1;
                log::info!("config reloaded");
                prepared = *next;
            }
        }
    };
    drop(http_stop);
    if let Some(handle) = http {
        let _ = handle.join();
    }
    result
}

/// A config checked and ready to run: everything that can fail before any
/// thread starts, so a bad reload leaves the running workers alone.
struct Prepared {
    config: Arc<Config>,
    sets: Vec<PatternSet>,
    rest: Option<Rest>,
    state: Arc<StateDir>,
}

impl Prepared {
    /// `current` is the running state dir, reused when the path is the
    /// same (its lock is ours already).
    fn new(config: Config, current: Option<&Arc<StateDir>>) -> Result<Self, Error> {
        let sets = prepare(&config)?;
        // The REST client is built before anything starts, so a bad
        // SSL_CERT_FILE is a start-up error.
        let rest = match config.mode() {
            Mode::DryRun => None,
            Mode::Bot | Mode::Webhook => Some(
                Rest::new(&config.discord.api_base, config.discord.bot_token.clone())
                    .map_err(Error::Setup)?,
            ),
        };
        let state = match current {
            Some(state) if state.path() == config.state_dir => state.clone(),
            _ => match StateDir::open(&config.state_dir) {
                Ok(state) => Arc::new(state),
                // At start the bridge runs without checkpoints rather than
                // not at all: events still flow and /health answers 503
                // with the reason. A reload to such a dir is refused.
                Err(e @ checkpoint::Error::Unusable { .. }) if current.is_none() => {
                    log::error!(
                        "{e}; running without checkpoints (after a restart, lines are read from start_at again) \
                         until it is fixed and the daemon restarted"
                    );
                    Arc::new(StateDir::unusable(&config.state_dir, e.to_string()))
                }
                Err(e @ checkpoint::Error::Unusable { .. }) => {
                    return Err(Error::Config(Problems(vec![crate::yaml::Problem {
                        file: config.source.clone(),
                        line: None,
                        key: "state_dir".to_owned(),
                        message: e.to_string(),
                    }])));
                }
                Err(e @ checkpoint::Error::Locked { .. }) => {
                    return Err(Error::Runtime(e.to_string()));
                }
            },
        };
        Ok(Self {
            config: Arc::new(config),
            sets,
            rest,
            state,
        })
    }
}

/// How a run of the workers ended.
enum Outcome {
    Stop(Result<(), Error>),
    Reload(Box<Prepared>),
}

/// One run's threads: followers, delivery, RCON and monitors.
struct Workers {
    config: Arc<Config>,
    state: Arc<StateDir>,
    threads: Threads,
    done: Receiver<(String, Result<(), String>)>,
    shutdown: Sender<()>,
    /// For systemd's STATUS= line.
    summary: String,
}

impl Workers {
    fn start(prepared: Prepared, health: &Arc<Health>, watcher: &Watcher) -> Result<Self, Error> {
        let Prepared {
            config,
            sets,
            rest,
            state,
        } = prepared;
        let mode = match config.mode() {
            Mode::DryRun => {
                log::info!(
                    "dry run: no bot token or webhook URL, so messages are printed on stdout, not sent ({} server(s))",
                    config.servers.len()
                );
                "dry-run"
            }
            Mode::Bot => {
                log::info!(
                    "posting with the bot token ({} server(s))",
                    config.servers.len()
                );
                "bot"
            }
            Mode::Webhook => {
                log::info!(
                    "posting through the webhook ({} server(s))",
                    config.servers.len()
                );
                "webhook"
            }
        };
        health.reset_components(mode, state.path().to_owned());
        health.lock().state_dir_error = state.broken().map(str::to_owned);
        let (shutdown_tx, shutdown_rx) = bounded::<()>(0);
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<(String, Result<(), String>)>();
        let (events_tx, events_rx) = bounded(EVENT_QUEUE);
        let mut threads = Threads {
            handles: Vec::new(),
            done: done_tx,
        };

        // One job per followed file, in config order; its index is its source.
        let mut jobs = Vec::new();
        let mut targets = Vec::new();
        let mut ack_senders = Vec::new();
        for (server, set) in config.servers.iter().zip(sets) {
            let set = Arc::new(set);
            for (index, path) in server.log_paths.iter().enumerate() {
                let (ack_tx, ack_rx) = crossbeam_channel::unbounded();
                // Polling followers wait on a channel that never fires;
                // watched ones get their wake-up channel below.
                let (wake_tx, wake_rx) = bounded(1);
                if server.watch == Watch::Auto {
                    let target = Target {
                        path: path.clone(),
                        wake: wake_tx,
                    };
                    targets.push((jobs.len(), target, wake_rx));
                }
                ack_senders.push(ack_tx);
                let name = if index == 0 {
                    format!("tail/{}", server.id)
                } else {
                    format!("tail/{}#{index}", server.id)
                };
                let job = FollowJob {
                    server_id: server.id.clone(),
                    server_name: server.name.clone(),
                    set: set.clone(),
                    source: jobs.len(),
                    path: path.clone(),
                    follower: Follower::new(
                        path,
                        start_of(&state, server, path),
                        server.max_line_bytes,
                    ),
                    state: state.clone(),
                    events: events_tx.clone(),
                    acks: ack_rx,
                    wake: crossbeam_channel::never(),
                    idle: server.poll_interval,
                    poll_interval: server.poll_interval,
                    max_resume_age: server.max_resume_age,
                    shutdown: shutdown_rx.clone(),
                    save_failing: false,
                    health: health.clone(),
                    slot: health.add_follower(server.id.clone(), path.clone()),
                };
                jobs.push((name, job));
            }
        }
        let followed = jobs.len();
        let (watched, targets): (Vec<_>, Vec<Target>) = targets
            .into_iter()
            .map(|(index, target, wake)| ((index, wake), target))
            .unzip();
        for ((index, wake), ok) in watched.into_iter().zip(watcher.add(targets)) {
            if ok {
                jobs[index].1.wake = wake;
                jobs[index].1.idle = SAFETY_CHECK;
            }
        }

        let bot_rest = rest.clone();
        let delivery_config = config.clone();
        let delivery_health = health.clone();
        threads.spawn("discord", move || match rest {
            Some(rest) => {
                Delivery::new(delivery_config, rest, ack_senders, delivery_health).run(events_rx)
            }
            None => {
                let mut out = std::io::stdout().lock();
                dryrun::run(delivery_config, events_rx, &ack_senders, &mut out)
                    .map_err(|e| format!("cannot write to stdout: {e}"))
            }
        })?;
        for (name, job) in jobs {
            threads.spawn(&name, move || job.run())?;
        }
        let mut rcon_senders = HashMap::new();
        for server in &config.servers {
            let Some(rcon) = &server.rcon else { continue };
            let slot = health.add_rcon(server.id.clone());
            let (req_tx, req_rx) = crossbeam_channel::unbounded();
            rcon_senders.insert(server.id.clone(), req_tx.clone());
            let target = rcon::Target {
                server: server.id.clone(),
                addr: format!("{}:{}", rcon.host, rcon.port),
                password: rcon.password.clone(),
                timeout: RCON_TIMEOUT,
                hung_after: rcon::HUNG_AFTER,
            };
            let stop = shutdown_rx.clone();
            let rcon_health = health.clone();
            threads.spawn(&format!("rcon/{}", server.id), move || {
                rcon::serve(&target, &req_rx, &stop, &rcon_health, slot);
                Ok(())
            })?;
            if server.stats.enabled {
                let job = MonitorJob {
                    server_id: server.id.clone(),
                    server_name: server.name.clone(),
                    thresholds: Thresholds {
                        warning: server.stats.ups_warning_threshold,
                        recover: server.stats.ups_recover_threshold,
                        samples: server.stats.alert_samples,
                        cooldown: server.stats.alert_cooldown,
                        unreachable_after: UNREACHABLE_AFTER,
                    },
                    interval: server.stats.collect_interval,
                    rcon: req_tx,
                    rcon_timeout: RCON_TIMEOUT,
                    events: events_tx.clone(),
                    shutdown: shutdown_rx.clone(),
                    health: health.clone(),
                    slot,
                    allow_lua: server.allow_lua,
                    stats_every: server
                        .stats
                        .stats_channel_id
                        .as_ref()
                        .map(|_| server.stats.stats_interval),
                };
                threads.spawn(&format!("alerts/{}", server.id), move || job.run())?;
            }
        }
        // Bot mode, unless edge mode (`gateway: false`): the gateway
        // session and the threads that answer it.
        if let (Some(rest), Some(token), true) = (
            bot_rest,
            config.discord.bot_token.clone(),
            config.discord.gateway,
        ) {
            let (inbound_tx, inbound_rx) = bounded(256);
            let (presence_tx, presence_rx) = bounded(4);
            let gateway = GatewayJob {
                rest: rest.clone(),
                token,
                intents: intents(&config),
                inbound: inbound_tx,
                presence: presence_rx,
                shutdown: shutdown_rx.clone(),
                health: health.clone(),
            };
            threads.spawn("gateway", move || gateway.run())?;
            let bot = BotJob {
                shared: Arc::new(Shared {
                    config: config.clone(),
                    rest,
                    health: health.clone(),
                    rcon: rcon_senders,
                    defaults: Defaults::load(state.path()),
                    state: state.clone(),
                    ids: Mutex::new(None),
                    cooldowns: Cooldowns::default(),
                    players: PlayerCache::default(),
                }),
                inbound: inbound_rx,
                presence: presence_tx,
                shutdown: shutdown_rx.clone(),
            };
            threads.spawn("bot", move || bot.run())?;
        }
        state.touch_alive();
        Ok(Self {
            summary: format!(
                "{mode}: following {followed} log file(s) of {} server(s)",
                config.servers.len()
            ),
            config,
            state,
            threads,
            done: done_rx,
            shutdown: shutdown_tx,
        })
    }

    /// Waits for a signal or a thread's end, keeping the alive mark and the
    /// systemd watchdog fed meanwhile.
    fn wait(
        &self,
        signals: &Receiver<i32>,
        notifier: &Notifier,
        health: &Health,
        load: Loader<'_>,
    ) -> Outcome {
        let watchdog = notifier.watchdog_interval();
        let tick = watchdog.map_or(ALIVE_INTERVAL, |w| w.min(ALIVE_INTERVAL));
        let mut alive_at = Instant::now() + ALIVE_INTERVAL;
        loop {
            select! {
                recv(signals) -> sig => match sig {
                    Ok(SIGHUP) => match self.reload(load) {
                        Ok(next) => return Outcome::Reload(Box::new(next)),
                        Err(e) => {
                            log::error!("SIGHUP: the new config is not used, the running one stays:\n{e}");
                            health.lock().counters.reload_failures += 1;
                            notifier.status("running; the last reload was refused (see the log)");
                        }
                    },
                    sig => {
                        let name = match sig { Ok(SIGTERM) => "SIGTERM", Ok(SIGINT) => "SIGINT", _ => "a signal" };
                        log::info!("received {name}, shutting down");
                        return Outcome::Stop(Ok(()));
                    }
                },
                recv(self.done) -> done => return Outcome::Stop(match done {
                    Ok((name, Ok(()))) => Err(Error::Runtime(format!("thread {name} stopped unexpectedly"))),
                    Ok((name, Err(e))) => Err(Error::Runtime(format!("{name}: {e}"))),
                    Err(_) => Err(Error::Runtime("all threads stopped".to_owned())),
                }),
                default(tick) => {}
            }
            if watchdog.is_some() {
                notifier.watchdog();
            }
            if Instant::now() >= alive_at {
                self.state.touch_alive();
                alive_at = Instant::now() + ALIVE_INTERVAL;
            }
        }
    }

    /// The config as it is now on disk, ready to replace this run's.
    fn reload(&self, load: Loader<'_>) -> Result<Prepared, Error> {
        log::info!("SIGHUP: loading {}", self.config.source.display());
        let config = load().map_err(Error::Config)?;
        Prepared::new(config, Some(&self.state))
    }

    /// Stops every thread (delivery drains, followers save checkpoints) and
    /// waits for them, within [`SHUTDOWN_GRACE`].
    fn stop(self) {
        drop(self.shutdown);
        self.threads.join(SHUTDOWN_GRACE, &self.done);
        self.state.touch_alive();
    }
}

/// Gateway intents: none for slash commands; the relay needs message
/// events and, privileged, their content.
fn intents(config: &Config) -> u64 {
    use crate::discord::gateway::{GUILD_MESSAGES, GUILDS, MESSAGE_CONTENT};
    if config.servers.iter().any(|s| s.chat_channel_id.is_some()) {
        GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT
    } else {
        0
    }
}

/// Where a file's follower starts: its checkpoint, or `start_at` on the
/// very first run.
fn start_of(state: &StateDir, server: &Server, path: &std::path::Path) -> Start {
    match state.load(&server.id, path) {
        Some(checkpoint) => {
            // What counts is how long the bridge was down, not how long ago
            // the checkpoint last moved (a quiet server writes no lines).
            let down = state.downtime().unwrap_or_else(|| checkpoint.age());
            let replay = down <= server.max_resume_age;
            Start::Resume { checkpoint, replay }
        }
        None => match server.start_at {
            StartAt::Beginning => Start::Beginning,
            StartAt::End => Start::End,
        },
    }
}

/// The daemon's threads, each reporting its end on `done`.
struct Threads {
    handles: Vec<(String, JoinHandle<()>)>,
    done: Sender<(String, Result<(), String>)>,
}

impl Threads {
    fn spawn(
        &mut self,
        name: &str,
        body: impl FnOnce() -> Result<(), String> + Send + 'static,
    ) -> Result<(), Error> {
        let done = self.done.clone();
        let thread_name = name.to_owned();
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                // A panic that escapes the thread's own containment (a
                // bug outside a line, command or reply) is reported like
                // an error: the daemon stops and exits non-zero, so the
                // supervisor restarts it, instead of running on without
                // the thread while /health and the watchdog stay content.
                // Nothing of the thread's state is used after it.
                let result = crate::fault::contain(body)
                    .unwrap_or_else(|panic| Err(format!("the thread panicked: {panic}")));
                if let Err(e) = &result {
                    log::error!("{e}");
                }
                let _ = done.send((thread_name, result));
            })
            .map_err(|e| Error::Runtime(format!("cannot start thread {name}: {e}")))?;
        self.handles.push((name.to_owned(), handle));
        Ok(())
    }

    /// Waits for every thread to finish, but no longer than `grace` in all.
    fn join(self, grace: Duration, done: &Receiver<(String, Result<(), String>)>) {
        let deadline = Instant::now() + grace;
        drop(self.done);
        // A thread reports on `done` just before it ends; the short timeout
        // covers the moment between the two.
        while self.handles.iter().any(|(_, h)| !h.is_finished()) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = done.recv_timeout(left.min(Duration::from_millis(10)));
        }
        for (name, handle) in self.handles {
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                log::warn!("thread {name} did not stop within {grace:?}; going on without it");
            }
        }
    }
}

/// A channel that yields each SIGTERM, SIGINT and SIGHUP received.
fn signal_thread() -> Result<Receiver<i32>, Error> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| Error::Runtime(format!("cannot install signal handlers: {e}")))?;
    let (tx, rx) = bounded(4);
    std::thread::Builder::new()
        .name("signals".to_owned())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send(sig).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| Error::Runtime(format!("cannot start the signal thread: {e}")))?;
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, Cursor, FileId, Fingerprint};

    fn server(max_resume_age: Duration) -> Server {
        let text = format!(
            "discord: {{event_channel_id: \"1\"}}\nservers:\n  s:\n    log_path: /x.log\n    max_resume_age: {}s\n",
            max_resume_age.as_secs()
        );
        let config = crate::config::parse(std::path::Path::new("c.yml"), &text, &|_| None, &|_| {
            Err(std::io::ErrorKind::NotFound.into())
        })
        .expect("valid config");
        config.servers[0].clone()
    }

    /// A thread that panics reports its end like an error, so `wait`
    /// stops the daemon instead of running on without it.
    #[test]
    fn a_panicking_thread_reports_its_end() {
        let (done_tx, done_rx) = bounded(1);
        let mut threads = Threads {
            handles: Vec::new(),
            done: done_tx,
        };
        threads
            .spawn("doomed", || -> Result<(), String> { panic!("a bug") })
            .expect("spawned");
        let (name, result) = done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the end reported");
        assert_eq!(name, "doomed");
        assert_eq!(result, Err("the thread panicked: a bug".to_owned()));
        threads.join(Duration::from_secs(10), &done_rx);
    }

    /// A quiet server's checkpoint may be hours old; what decides replaying
    /// is how long the bridge was down.
    #[test]
    fn resume_age_is_the_downtime_not_the_checkpoint_age() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = std::path::Path::new("/x.log");
        let cursor = Cursor {
            id: FileId { dev: 1, ino: 2 },
            fingerprint: Fingerprint { len: 0, hash: 0 },
            offset: 0,
        };
        {
            let state = StateDir::open(dir.path()).expect("state");
            let mut cp = Checkpoint::new(path, cursor);
            cp.saved_at -= 7200;
            state.save("s", &cp).expect("save");
            // No daemon ever marked itself alive: the checkpoint's age counts.
            assert!(matches!(
                start_of(&state, &server(Duration::from_secs(3600)), path),
                Start::Resume { replay: false, .. }
            ));
            state.touch_alive();
        }
        let state = StateDir::open(dir.path()).expect("state");
        assert!(
            state
                .downtime()
                .is_some_and(|d| d < Duration::from_secs(60))
        );
        assert!(matches!(
            start_of(&state, &server(Duration::from_secs(3600)), path),
            Start::Resume { replay: true, .. }
        ));
    }
}
