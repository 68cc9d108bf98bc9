//! The real daemon in a temp dir, for the end-to-end tests
//! (`tests/follow.rs`, `tests/restart.rs`, ...) and the benchmark runner
//! (`benches/budgets.rs`).
//!
//! [`Workspace`] is a temp dir holding a config, log files and a state dir.
//! [`Run`] is one daemon process started on it with [`super::command_of`]
//! (clean environment, coverage variables kept): its stdout arrives as parsed
//! [`Message`]s on a channel, its stderr is kept for assertions and for the
//! text of a failing test. Without a token in its config the daemon runs in
//! dry-run mode, so every message it would post is one JSON line on stdout.
//!
//! The payload is numbered JOIN lines ([`join_line`]): player `n` is
//! `p` followed by six digits, so order and exactly-once can be checked and no
//! character of the name is escaped.
//!
//! Waits are bounded by [`PATIENCE`] per message, never a claim about speed.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Daemon, binary, command_of, root, signal};

/// How long to wait for the next message, an exit or a log line before the
/// test fails: generous so a loaded CI machine does not fail a test.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The one server every config here defines.
pub const SERVER: &str = "s1";

/// Where every event goes (`discord.event_channel_id`).
pub const DESTINATION: &str = "channel:1100000000000000001";

/// The log line Factorio writes when player `n` joins.
pub fn join_line(n: usize) -> String {
    format!("2024-04-09 06:08:43 [JOIN] p{n:06} joined the game")
}

/// Lines `range` of [`join_line`], each ended by a newline, as one string.
pub fn join_lines(range: Range<usize>) -> String {
    let mut text = String::with_capacity(range.len() * 52);
    for n in range {
        text.push_str(&join_line(n));
        text.push('\n');
    }
    text
}

/// The message content the daemon makes of [`join_line`]`(n)`.
pub fn join_content(n: usize) -> String {
    format!("👋 **p{n:06}** joined the game")
}

/// A path as a double-quoted YAML scalar (JSON string syntax is valid YAML).
pub fn yaml_path(path: &Path) -> String {
    serde_json::to_string(path.to_str().expect("temp paths are UTF-8")).expect("a string")
}

/// Appends `text` to `path`, creating the file if it does not exist.
pub fn append(path: &Path, text: &str) {
    append_bytes(path, text.as_bytes());
}

/// Appends raw bytes to `path`, creating the file if it does not exist.
pub fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {} to append: {e}", path.display()));
    file.write_all(bytes)
        .unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
}

/// A thread that appends join lines `range` to `path`, `batch` lines per
/// write with `pause` between writes: a server writing its log while the
/// daemon runs, stops and starts again.
pub fn spawn_writer(
    path: PathBuf,
    range: Range<usize>,
    batch: usize,
    pause: Duration,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("open {} to append: {e}", path.display()));
            let mut next = range.start;
            while next < range.end {
                let end = (next + batch).min(range.end);
                file.write_all(join_lines(next..end).as_bytes())
                    .expect("writer appends to the log");
                next = end;
                std::thread::sleep(pause);
            }
        })
        .expect("spawn the log writer")
}

/// A temp dir with a state dir, a config and (once written) `console.log`,
/// and the build of the daemon its runs start.
pub struct Workspace {
    dir: tempfile::TempDir,
    binary: PathBuf,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// Runs start the test build (debug, with its fault injection).
    pub fn new() -> Self {
        Self::with_binary(binary())
    }

    /// Runs start the release build ([`super::release_binary`]).
    pub fn release() -> Self {
        Self::with_binary(super::release_binary())
    }

    fn with_binary(binary: PathBuf) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Self { dir, binary };
        fs::create_dir(ws.state_dir()).expect("create the state dir");
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` inside the workspace.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The followed log (`servers.s1.log_path` unless a test sets its own).
    pub fn log(&self) -> PathBuf {
        self.file("console.log")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.file("state")
    }

    /// Writes `config.yml` (replacing an earlier one) with this workspace's
    /// state dir and `server` as the keys of `servers.s1`; values are YAML
    /// text, written as given. `log_path` is [`Workspace::log`] unless
    /// `server` sets `log_path` or `log_paths`.
    pub fn config(&self, server: &[(&str, &str)]) -> PathBuf {
        self.config_with_state_dir(&self.state_dir(), server)
    }

    /// [`Workspace::config`] with another `state_dir`.
    pub fn config_with_state_dir(&self, state_dir: &Path, server: &[(&str, &str)]) -> PathBuf {
        self.write_config(state_dir, &[], server)
    }

    /// [`Workspace::config`] with more keys under `discord:` (a bot token
    /// and the fake's `api_base`, a webhook URL, ...).
    pub fn config_with_discord(
        &self,
        discord: &[(&str, &str)],
        server: &[(&str, &str)],
    ) -> PathBuf {
        self.write_config(&self.state_dir(), discord, server)
    }

    /// [`Workspace::config_with_discord`] with many servers: each is its
    /// id and keys; one without `log_path` or `log_paths` follows
    /// [`Workspace::log_of`] its id.
    pub fn config_servers(
        &self,
        discord: &[(&str, &str)],
        servers: &[(&str, &[(&str, &str)])],
    ) -> PathBuf {
        self.write_servers(&self.state_dir(), discord, servers)
    }

    /// The followed log of server `id` unless its config says otherwise:
    /// [`Workspace::log`] for [`SERVER`], `console-<id>.log` for others.
    pub fn log_of(&self, id: &str) -> PathBuf {
        if id == SERVER {
            self.log()
        } else {
            self.file(&format!("console-{id}.log"))
        }
    }

    fn write_config(
        &self,
        state_dir: &Path,
        discord: &[(&str, &str)],
        server: &[(&str, &str)],
    ) -> PathBuf {
        self.write_servers(state_dir, discord, &[(SERVER, server)])
    }

    fn write_servers(
        &self,
        state_dir: &Path,
        discord: &[(&str, &str)],
        servers: &[(&str, &[(&str, &str)])],
    ) -> PathBuf {
        let mut text = String::from("discord:\n  event_channel_id: \"1100000000000000001\"\n");
        for (key, value) in discord {
            text.push_str(&format!("  {key}: {value}\n"));
        }
        // A free port for /health: tests run side by side.
        text.push_str("health:\n  bind: 127.0.0.1:0\n");
        text.push_str(&format!(
            "patterns_dir: {}\nstate_dir: {}\nservers:\n",
            yaml_path(&root().join("patterns")),
            yaml_path(state_dir),
        ));
        for (id, server) in servers {
            text.push_str(&format!("  {id}:\n"));
            if !server
                .iter()
                .any(|(k, _)| *k == "log_path" || *k == "log_paths")
            {
                text.push_str(&format!("    log_path: {}\n", yaml_path(&self.log_of(id))));
            }
            for (key, value) in *server {
                text.push_str(&format!("    {key}: {value}\n"));
            }
        }
        let path = self.file("config.yml");
        fs::write(&path, text).expect("write config.yml");
        path
    }

    /// Starts the daemon on `config`, reading its stdout at once.
    pub fn start(&self, config: &Path) -> Run {
        Run::spawn(&self.binary, self.path(), config, false, &[])
    }

    /// [`Workspace::start`] with extra environment variables (`LOG_LEVEL`).
    pub fn start_with_env(&self, config: &Path, env: &[(&str, &str)]) -> Run {
        Run::spawn(&self.binary, self.path(), config, false, env)
    }

    /// [`Workspace::start`] with another build of the daemon.
    pub fn start_binary(&self, binary: &Path, config: &Path) -> Run {
        Run::spawn(binary, self.path(), config, false, &[])
    }

    /// Starts the daemon on `config` but leaves its stdout unread until
    /// [`Run::read_stdout_now`]: its pipe fills and its writes block.
    pub fn start_unread(&self, config: &Path) -> Run {
        Run::spawn(&self.binary, self.path(), config, true, &[])
    }
}

/// One dry-run message: a JSON line of the daemon's stdout.
#[derive(Debug, Clone)]
pub struct Message {
    pub kind: String,
    pub content: String,
    pub server: String,
    pub destination: String,
    /// When the test read it (close to when the daemon printed it).
    pub at: Instant,
}

impl Message {
    fn parse(line: &str, at: Instant) -> Self {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
        let field = |key: &str| {
            v[key]
                .as_str()
                .unwrap_or_else(|| panic!("no string `{key}` in {line}"))
                .to_owned()
        };
        Self {
            kind: field("kind"),
            content: field("content"),
            server: field("server"),
            destination: field("destination"),
            at,
        }
    }

    /// The player number if this is exactly the message of a [`join_line`].
    pub fn player(&self) -> Option<usize> {
        let digits = self
            .content
            .strip_prefix("👋 **p")?
            .strip_suffix("** joined the game")?;
        if self.kind != "join" || digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }
}

/// The player numbers of `messages`, in order. Panics on a message that is
/// not one of our joins, or not routed to [`SERVER`] / [`DESTINATION`].
pub fn players(messages: &[Message]) -> Vec<usize> {
    messages
        .iter()
        .map(|m| {
            assert_eq!(m.server, SERVER, "{m:?}");
            assert_eq!(m.destination, DESTINATION, "{m:?}");
            m.player()
                .unwrap_or_else(|| panic!("not a numbered join message: {m:?}"))
        })
        .collect()
}

/// Asserts that `messages` are the joins of players `want`, each once, in
/// order. On a mismatch it names the first differing position and shows a
/// few numbers around it instead of two long lists.
pub fn assert_players(messages: &[Message], want: Range<usize>) {
    assert_sequence(&players(messages), want);
}

/// [`assert_players`] on numbers already extracted.
pub fn assert_sequence(got: &[usize], want: Range<usize>) {
    let want: Vec<usize> = want.collect();
    if got == want.as_slice() {
        return;
    }
    let at = got
        .iter()
        .zip(&want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    let window = |v: &[usize]| v[at.saturating_sub(3)..(at + 5).min(v.len())].to_vec();
    panic!(
        "wrong messages: got {} players, want {} ({}..{}); first difference at index {at}: \
         got {:?}, want {:?} (around that index)",
        got.len(),
        want.len(),
        want.first().copied().unwrap_or(0),
        want.last().map_or(0, |l| l + 1),
        window(got),
        window(&want),
    );
}

/// What the stdout reader thread reports.
enum Out {
    Line(String, Instant),
    /// End of stdout; `torn` holds a last line without its newline (only a
    /// killed process leaves one), which is not a printed message.
    Closed {
        torn: Vec<u8>,
    },
}

/// A running (or exited) daemon. Killed when dropped.
pub struct Run {
    daemon: Daemon,
    out: Receiver<Out>,
    err: Receiver<String>,
    /// Every stderr line seen so far.
    stderr: Vec<String>,
    /// Held while stdout must stay unread; sending (or dropping) releases it.
    go: Option<Sender<()>>,
    closed: bool,
}

impl Run {
    fn spawn(binary: &Path, dir: &Path, config: &Path, unread: bool, env: &[(&str, &str)]) -> Self {
        let mut child = command_of(binary, dir)
            .arg("--config")
            .arg(config)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (go, wait) = if unread {
            let (tx, rx) = mpsc::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let out = read_stdout(child.stdout.take().expect("stdout is piped"), wait);
        let err = super::lines_of(child.stderr.take().expect("stderr is piped"));
        Self {
            daemon: Daemon(child),
            out,
            err,
            stderr: Vec::new(),
            go,
            closed: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.daemon.0.id()
    }

    /// Starts reading stdout after [`Workspace::start_unread`].
    pub fn read_stdout_now(&mut self) {
        if let Some(go) = self.go.take() {
            let _ = go.send(());
        }
    }

    /// The next message, waiting up to [`PATIENCE`]; panics (with the
    /// daemon's stderr) if none comes or stdout closes.
    pub fn next(&mut self) -> Message {
        match self.try_next(PATIENCE) {
            Some(m) => m,
            None => {
                let context = self.context();
                panic!("no message within {PATIENCE:?}\n{context}")
            }
        }
    }

    /// The next message if one comes within `within`.
    pub fn try_next(&mut self, within: Duration) -> Option<Message> {
        assert!(!self.closed, "stdout already closed\n{}", self.context());
        match self.out.recv_timeout(within) {
            Ok(Out::Line(line, at)) => Some(Message::parse(&line, at)),
            Ok(Out::Closed { .. }) | Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                let _ = self.wait_exit(Duration::from_secs(2));
                let context = self.context();
                panic!("the daemon's stdout closed while a message was awaited\n{context}")
            }
            Err(RecvTimeoutError::Timeout) => None,
        }
    }

    /// The next `n` messages.
    pub fn take(&mut self, n: usize) -> Vec<Message> {
        (0..n).map(|_| self.next()).collect()
    }

    /// Messages up to and including the join of player `n`.
    pub fn until_player(&mut self, n: usize) -> Vec<Message> {
        let mut got = Vec::new();
        loop {
            let m = self.next();
            let done = m.player() == Some(n);
            got.push(m);
            if done {
                return got;
            }
        }
    }

    /// Appends join line `n` to `log` and asserts that it is the very next
    /// message: proof that nothing else (a duplicate, a line read twice) was
    /// printed or queued before it, without waiting for silence.
    pub fn assert_next_is_appended(&mut self, log: &Path, n: usize) {
        append(log, &join_lines(n..n + 1));
        let m = self.next();
        assert_eq!(
            m.player(),
            Some(n),
            "the line appended last must be the next message: {m:?}"
        );
    }

    /// Sends SIGTERM and returns the exit code; panics if the daemon does
    /// not exit within [`PATIENCE`] or dies of a signal.
    pub fn stop(&mut self) -> i32 {
        if !self.is_running() {
            let context = self.context();
            panic!("the daemon exited before SIGTERM\n{context}");
        }
        signal(&self.daemon.0, "TERM");
        let status = match self.wait_exit(PATIENCE) {
            Some(status) => status,
            None => panic!("no exit within {PATIENCE:?} of SIGTERM\n{}", self.context()),
        };
        status
            .code()
            .unwrap_or_else(|| panic!("ended by a signal, not an exit: {status:?}"))
    }

    /// Sends `sig` (`"HUP"`, `"TERM"`) to the daemon.
    pub fn signal(&self, sig: &str) {
        signal(&self.daemon.0, sig);
    }

    /// SIGKILL (`kill -9`), then reaps the process.
    pub fn kill9(&mut self) {
        self.daemon.0.kill().expect("SIGKILL the daemon");
        self.daemon.0.wait().expect("reap the daemon");
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.daemon.wait_exit(limit)
    }

    pub fn is_running(&mut self) -> bool {
        self.daemon.0.try_wait().expect("try_wait").is_none()
    }

    /// After the process has exited: every message still unread on stdout,
    /// up to its end. A torn last line (a killed process) is not a message.
    pub fn rest(&mut self) -> Vec<Message> {
        assert!(!self.is_running(), "rest() is for an exited daemon");
        self.read_stdout_now();
        let mut got = Vec::new();
        while !self.closed {
            match self.out.recv_timeout(PATIENCE) {
                Ok(Out::Line(line, at)) => got.push(Message::parse(&line, at)),
                Ok(Out::Closed { torn }) => {
                    if !torn.is_empty() {
                        eprintln!(
                            "ignoring a torn last stdout line: {:?}",
                            String::from_utf8_lossy(&torn)
                        );
                    }
                    self.closed = true;
                }
                Err(RecvTimeoutError::Disconnected) => self.closed = true,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("stdout of an exited daemon did not close")
                }
            }
        }
        got
    }

    /// Stderr lines seen so far.
    pub fn stderr(&mut self) -> &[String] {
        self.stderr.extend(self.err.try_iter());
        &self.stderr
    }

    /// After the process has exited: all of its stderr, up to its end.
    pub fn stderr_to_end(&mut self) -> Vec<String> {
        assert!(
            !self.is_running(),
            "stderr_to_end() is for an exited daemon"
        );
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self
                .err
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.stderr.push(line),
                Err(RecvTimeoutError::Disconnected) => return self.stderr.clone(),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("stderr of an exited daemon did not close")
                }
            }
        }
    }

    /// Waits for a stderr line containing `needle` and returns it.
    pub fn wait_stderr(&mut self, needle: &str) -> String {
        if let Some(line) = self.stderr().iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self
                .err
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    self.stderr.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    let context = self.context();
                    panic!("no stderr line containing {needle:?}\n{context}")
                }
            }
        }
    }

    /// Where this daemon serves /health: `http://127.0.0.1:PORT`, read from
    /// its start-up log line (configs here bind port 0).
    pub fn health_base(&mut self) -> String {
        let line = self.wait_stderr("serving /health");
        let at = line.find("http://").expect("a URL in the line");
        line[at..]
            .split(|c: char| c.is_whitespace() || c == '"')
            .next()
            .expect("the URL")
            .to_owned()
    }

    /// The process's peak resident set size (`VmHWM`), in KiB.
    pub fn vm_hwm_kib(&self) -> u64 {
        self.vm_kib("VmHWM")
    }

    /// A size from the process's `/proc/<pid>/status` (`VmRSS`, `VmHWM`),
    /// in KiB.
    pub fn vm_kib(&self, field: &str) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let status = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {path}:\n{status}"))
    }

    /// The checks a fault scenario ends with: `/health` says healthy
    /// again (within a minute), peak memory (VmHWM) is at most
    /// `ceiling_kib`, the daemon stops cleanly (exit 0), and none of
    /// `secrets` is in anything it printed, from start to exit, or served
    /// on /health and /metrics.
    pub fn assert_recovered(&mut self, ceiling_kib: u64, secrets: &[&str]) {
        let base = self.health_base();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (status, body) = loop {
            let (status, text) = super::http_get(&format!("{base}/health"));
            let body: serde_json::Value =
                serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
            if (status == 200 && body["status"] == "healthy") || Instant::now() > deadline {
                break (status, body);
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        assert_eq!(
            (status, &body["status"]),
            (200, &serde_json::Value::from("healthy")),
            "{body}"
        );
        let peak = self.vm_hwm_kib();
        assert!(
            peak <= ceiling_kib,
            "VmHWM {peak} KiB over {ceiling_kib} KiB"
        );
        let (_, metrics) = super::http_get(&format!("{base}/metrics"));
        assert_no_secret(&format!("{body}\n{metrics}"), secrets);
        assert_eq!(self.stop(), 0);
        assert_no_secret(&self.stderr_to_end().join("\n"), secrets);
    }

    /// How many threads the process has now (`Threads` in its status).
    pub fn threads(&self) -> usize {
        let path = format!("/proc/{}/status", self.pid());
        let status = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no Threads in {path}:\n{status}"))
    }

    /// CPU time all of the process's threads have used so far: the first
    /// field of each `/proc/<pid>/task/*/schedstat`, time on a CPU in ns.
    pub fn cpu_ns(&self) -> u64 {
        let tasks = format!("/proc/{}/task", self.pid());
        fs::read_dir(&tasks)
            .unwrap_or_else(|e| panic!("read {tasks}: {e}"))
            .filter_map(|t| fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }

    /// Exit status and the last stderr lines, for a failing test's message.
    fn context(&mut self) -> String {
        let status = self.daemon.0.try_wait().ok().flatten();
        let lines = self.stderr().to_vec();
        let tail = &lines[lines.len().saturating_sub(40)..];
        format!(
            "daemon pid {} exit status: {status:?}\ndaemon stderr (last {} lines):\n{}",
            self.pid(),
            tail.len(),
            tail.join("\n")
        )
    }
}

/// Reads stdout line by line onto a channel, stamping each line with the
/// time it was read. With `wait`, reading starts only once it says so.
fn read_stdout(pipe: ChildStdout, wait: Option<Receiver<()>>) -> Receiver<Out> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("daemon-stdout".into())
        .spawn(move || {
            if let Some(wait) = wait {
                // A send or a dropped sender both mean "read now".
                let _ = wait.recv();
            }
            let mut reader = BufReader::with_capacity(64 * 1024, pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let torn = match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => Vec::new(),
                    Ok(_) if buf.last() == Some(&b'\n') => {
                        buf.pop();
                        let line = String::from_utf8_lossy(&buf).into_owned();
                        if tx.send(Out::Line(line, Instant::now())).is_err() {
                            return;
                        }
                        continue;
                    }
                    Ok(_) => buf.clone(),
                };
                let _ = tx.send(Out::Closed { torn });
                return;
            }
        })
        .expect("spawn the stdout reader");
    rx
}

/// Whether `text` contains `number` as a whole number (not inside a longer
/// run of digits), e.g. a pid in an error message.
pub fn mentions_number(text: &str, number: u32) -> bool {
    let needle = number.to_string();
    text.match_indices(&needle).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// Peak resident memory (VmHWM, KiB) allowed in any fault scenario: 16 MiB
/// for the release build they run (the static musl binary peaked at
/// 6.1 MiB across them), 48 MiB when coverage runs them on the
/// instrumented debug build.
pub fn fault_ceiling_kib() -> u64 {
    if super::release_binary() == super::binary() {
        48 * 1024
    } else {
        16 * 1024
    }
}

/// Fails if `text` holds any of `secrets`.
pub fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "a secret was shown:\n{text}");
    }
}
