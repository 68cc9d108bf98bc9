//! Starting, watching and stopping the daemon's threads.
//!
//! `main` hands a validated [`Config`] to [`run`], which builds each server's
//! pattern set, checks routing, starts one `tail/<server>` thread per
//! followed file and one delivery thread, then waits for a signal or for a
//! thread to end. Shutdown drops the shutdown sender: every thread sees its
//! channel close, the followers stop, the delivery thread drains what is
//! queued, and all are joined within [`SHUTDOWN_GRACE`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, select};

use crate::config::{Config, Mode, Server};
use crate::event::Position;
use crate::patterns::{self, PatternSet};
use crate::tail::{Follower, State};
use crate::yaml::Problems;
use crate::{dryrun, route};

/// How long shutdown may take before the process exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Events queued between followers and delivery; when full, followers wait.
const EVENT_QUEUE: usize = 1024;
/// How often a follower looks for new lines (inotify replaces this in #3).
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Stack for our threads: they hold no large buffers on the stack.
const STACK_SIZE: usize = 256 * 1024;

/// Why the daemon could not run or stopped with a failure.
#[derive(Debug)]
pub enum Error {
    /// Config or pattern files are wrong; exit code 2.
    Config(Problems),
    /// The requested mode cannot run in this build; exit code 2.
    Unsupported(String),
    /// Something failed while running; exit code 1.
    Runtime(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(p) => write!(f, "{p}"),
            Error::Unsupported(m) | Error::Runtime(m) => f.write_str(m),
        }
    }
}

/// Loads the patterns and builds one set per server, in config order.
pub fn pattern_sets(config: &Config) -> Result<Vec<PatternSet>, Error> {
    let patterns = patterns::load::load_dirs(&config.patterns_dirs).map_err(Error::Config)?;
    Ok(config
        .servers
        .iter()
        .map(|s| PatternSet::new(&patterns, |k| s.wants(k)))
        .collect())
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

/// Runs until SIGTERM or SIGINT (then returns `Ok`), or until a thread
/// fails.
pub fn run(config: Config) -> Result<(), Error> {
    let sets = prepare(&config)?;
    match config.mode() {
        Mode::DryRun => {}
        Mode::Bot | Mode::Webhook => {
            return Err(Error::Unsupported(
                "sending to Discord is not built yet; remove discord.bot_token(_file) and \
                 discord.webhook_url(_file) to run dry (messages are printed on stdout)"
                    .to_owned(),
            ));
        }
    }
    log::info!(
        "dry run: no bot token or webhook URL, so messages are printed on stdout, not sent ({} server(s))",
        config.servers.len()
    );
    let config = Arc::new(config);
    let (shutdown_tx, shutdown_rx) = bounded::<()>(0);
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<(String, Result<(), String>)>();
    let (events_tx, events_rx) = bounded(EVENT_QUEUE);
    let mut threads = Threads {
        handles: Vec::new(),
        done: done_tx,
    };

    let signals = signal_thread()?;

    let delivery_config = config.clone();
    threads.spawn("discord", move || {
        let mut out = std::io::stdout().lock();
        dryrun::run(delivery_config, events_rx, &mut out)
            .map_err(|e| format!("cannot write to stdout: {e}"))
    })?;

    for (server, set) in config.servers.iter().zip(sets) {
        let set = Arc::new(set);
        for (index, path) in server.log_paths.iter().enumerate() {
            let job = FollowJob {
                server: ServerInfo::of(server),
                set: set.clone(),
                path: path.clone(),
                index,
                follower: Follower::new(path, server.start_at),
                events: events_tx.clone(),
                shutdown: shutdown_rx.clone(),
            };
            let name = if index == 0 {
                format!("tail/{}", server.id)
            } else {
                format!("tail/{}#{index}", server.id)
            };
            threads.spawn(&name, move || job.run())?;
        }
    }
    drop(events_tx);
    drop(shutdown_rx);

    let (result, reported) = select! {
        recv(signals) -> sig => {
            log::info!("received {}, shutting down", sig.map_or("a signal", |s| s));
            (Ok(()), 0)
        }
        recv(done_rx) -> done => match done {
            Ok((name, Ok(()))) => (Err(Error::Runtime(format!("thread {name} stopped unexpectedly"))), 1),
            Ok((name, Err(e))) => (Err(Error::Runtime(format!("{name}: {e}"))), 1),
            Err(_) => (Err(Error::Runtime("all threads stopped".to_owned())), 0),
        },
    };
    drop(shutdown_tx);
    threads.join(SHUTDOWN_GRACE, &done_rx, reported);
    result
}

/// What a follower thread knows about its server.
struct ServerInfo {
    id: Arc<str>,
    name: String,
}

impl ServerInfo {
    fn of(server: &Server) -> Self {
        Self {
            id: server.id.clone(),
            name: server.name.clone(),
        }
    }
}

struct FollowJob {
    server: ServerInfo,
    set: Arc<PatternSet>,
    path: PathBuf,
    index: usize,
    follower: Follower,
    events: Sender<crate::event::Event>,
    shutdown: Receiver<()>,
}

impl FollowJob {
    fn run(mut self) -> Result<(), String> {
        let mut scratch = self.set.scratch();
        let mut last_state = None;
        let mut last_error: Option<String> = None;
        loop {
            match self.follower.poll() {
                Ok(lines) => {
                    last_error = None;
                    for line in lines {
                        let Some(m) = self.set.classify(&line.text, &mut scratch) else {
                            continue;
                        };
                        let position = Position {
                            file: self.index,
                            offset: line.end,
                        };
                        let event = m.to_event(&self.server.id, &self.server.name, position);
                        // Backpressure: wait for room, but never past shutdown.
                        select! {
                            send(self.events, event) -> sent => if sent.is_err() { return Ok(()) },
                            recv(self.shutdown) -> _ => return Ok(()),
                        }
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    if last_error.as_deref() != Some(&msg) {
                        log::warn!(
                            "cannot read {}: {msg} (will keep trying)",
                            self.path.display()
                        );
                    }
                    last_error = Some(msg);
                }
            }
            let state = self.follower.state();
            if last_state != Some(state) {
                match state {
                    State::Waiting => log::info!("waiting for {} to appear", self.path.display()),
                    State::Following => log::info!("following {}", self.path.display()),
                }
                last_state = Some(state);
            }
            let pause = if self.follower.caught_up() {
                POLL_INTERVAL
            } else {
                Duration::ZERO
            };
            select! {
                recv(self.shutdown) -> _ => return Ok(()),
                default(pause) => {}
            }
        }
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
                let result = body();
                if let Err(e) = &result {
                    log::error!("{e}");
                }
                let _ = done.send((thread_name, result));
            })
            .map_err(|e| Error::Runtime(format!("cannot start thread {name}: {e}")))?;
        self.handles.push((name.to_owned(), handle));
        Ok(())
    }

    /// Waits for every thread to finish, but no longer than `grace` in all;
    /// `reported` threads have already sent their end on `done`.
    fn join(self, grace: Duration, done: &Receiver<(String, Result<(), String>)>, reported: usize) {
        let deadline = Instant::now() + grace;
        let mut running = self.handles.len().saturating_sub(reported);
        drop(self.done);
        while running > 0 {
            match done.recv_deadline(deadline) {
                Ok(_) => running -= 1,
                Err(_) => break,
            }
        }
        for (name, handle) in self.handles {
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                log::warn!("thread {name} did not stop within {grace:?}; exiting anyway");
            }
        }
    }
}

/// A channel that yields the name of each SIGTERM or SIGINT received.
fn signal_thread() -> Result<Receiver<&'static str>, Error> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|e| Error::Runtime(format!("cannot install signal handlers: {e}")))?;
    let (tx, rx) = bounded(4);
    std::thread::Builder::new()
        .name("signals".to_owned())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            for sig in signals.forever() {
                let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                if tx.send(name).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| Error::Runtime(format!("cannot start the signal thread: {e}")))?;
    Ok(rx)
}
