//! A fake Factorio RCON server on a real socket (`127.0.0.1:0`), for tests
//! of the daemon's RCON client: Source RCON framing as Factorio does it, a
//! small game model whose console commands answer in the shapes of the real
//! outputs (`tests/fixtures/rcon-responses-real.txt`), switches for the
//! faults a client must survive, and a record of everything it was sent.
//!
//! The wire, as the shared protocol notes (part B1) describe it:
//! - every packet is `i32 size | i32 id | i32 type | body | 0 0`,
//!   little-endian, `size` counting everything after itself;
//! - an auth (type 3) gets ONE auth response (type 2) whose id echoes the
//!   request on success and is -1 on a wrong password; the connection stays
//!   open either way, so the client can read the -1 and try again;
//! - every command (type 2) gets exactly ONE response value (type 0) with
//!   the command's id, however long the body (no Valve empty-packet trick);
//! - a command before a successful auth, a packet of another type, or
//!   malformed framing (size out of `10..=`[`MAX_PACKET`], non-zero padding,
//!   a body that is not UTF-8) is answered with nothing: the connection is
//!   closed and the reason kept in [`FakeRcon::protocol_errors`].
//!
//! Every body the fake writes is made of lines, each ending in `\n`, as
//! Factorio prints them; an empty body is empty. Outputs the fixtures do not
//! show (an empty ban list, an unknown surface, Lua errors, the save
//! message) are plausible shapes, not verified ones.
//!
//! Threads: one accepts (`fake-rcon/accept`), one serves each connection
//! (`fake-rcon/conn-N`) and reads without a timeout, as Factorio keeps idle
//! sessions open. Dropping the [`FakeRcon`] shuts every connection down,
//! ends pending stalls, stops the acceptor and joins every thread;
//! [`FakeRcon::restart`] drops the connections but keeps listening on the
//! same port.

use super::join_all;
use std::io::{self, Read, Write};
use std::mem;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

/// Packet type of a client's login, its body the password.
pub const SERVERDATA_AUTH: i32 = 3;
/// Packet type of the server's answer to [`SERVERDATA_AUTH`].
pub const SERVERDATA_AUTH_RESPONSE: i32 = 2;
/// Packet type of a client's command (the same number as the auth response).
pub const SERVERDATA_EXECCOMMAND: i32 = 2;
/// Packet type of the server's answer to a command.
pub const SERVERDATA_RESPONSE_VALUE: i32 = 0;

/// The largest `size` field the fake accepts; more is taken for a corrupt
/// length, as the daemon's client should too.
pub const MAX_PACKET: usize = 16 << 20;

/// What `/seed` answers (without its line end).
pub const SEED: &str = "1234567890";

/// Where `/server-save` claims to save.
pub const SAVE_PATH: &str = "/factorio/saves/fake.zip";

/// Ticks per game second, whatever the UPS: `/time` counts game seconds.
pub const TICKS_PER_SECOND: u64 = 60;

/// [`FakeRcon::split_writes`] writes this many bytes at a time...
pub const SPLIT_CHUNK: usize = 7;

/// ...and pauses this long between two writes.
pub const SPLIT_PAUSE: Duration = Duration::from_millis(1);

/// A write that takes longer gives up on the connection, so a client that
/// stops reading cannot keep a handler thread forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the drop waits to connect to its own listener to wake the
/// acceptor; it cannot fail on loopback, but a drop must never hang.
const WAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Handlers hold a packet and a reply at a time, both on the heap.
const STACK_SIZE: usize = 256 * 1024;

/// The pause after a failed `accept` (out of file descriptors, say), so
/// the acceptor does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// The game version the fake plays: it changes `/version`, the
/// `script.active_mods["base"]` probe, `/evolution` and which Lua JSON
/// helper exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Factorio 1.1: one evolution factor, `game.table_to_json`.
    V1_1,
    /// Factorio 2.0: evolution per surface, `helpers.table_to_json`.
    V2_0,
}

impl Version {
    /// The version string the game reports, e.g. `2.0.28`.
    pub fn number(self) -> &'static str {
        match self {
            Version::V1_1 => "1.1.110",
            Version::V2_0 => "2.0.28",
        }
    }
}

/// The map age as `/time` prints it: days, hours, minutes and seconds,
/// zero units left out, plurals where due, "and" before the last unit, e.g.
/// `1 day, 11 hours, 1 minute and 26 seconds`; `0 seconds` for a new map.
pub fn format_map_age(seconds: u64) -> String {
    let units = [
        (seconds / 86_400, "day"),
        (seconds / 3_600 % 24, "hour"),
        (seconds / 60 % 60, "minute"),
        (seconds % 60, "second"),
    ];
    let parts: Vec<String> = units
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect();
    if parts.is_empty() {
        "0 seconds".to_owned()
    } else {
        join_and(&parts)
    }
}

/// The body [`FakeRcon::big_reply`] sends: `bytes` bytes of ASCII lines,
/// the same every time, so a test can compare what arrived.
pub fn big_body(bytes: usize) -> String {
    const PATTERN: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n";
    PATTERN
        .iter()
        .cycle()
        .take(bytes)
        .map(|&b| char::from(b))
        .collect()
}

/// The fake server. Everything takes `&self`; the state is shared with the
/// server threads, which stop when this is dropped.
pub struct FakeRcon {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    password: String,
    state: Mutex<State>,
    /// Signalled when a stall may end early: `stall_all(false)`, a restart,
    /// the drop.
    wake: Condvar,
}

struct State {
    version: Version,
    clock: Clock,
    online: Vec<String>,
    offline: Vec<String>,
    admins: Vec<String>,
    bans: Vec<String>,
    whitelist: Vec<String>,
    muted: Vec<String>,
    evolution: Vec<(String, f64)>,
    /// The player force's current research: name, level, progress.
    research: Option<(String, u32, f64)>,

    stall_next: Option<Duration>,
    /// A text and a stall for the next command containing it.
    stall_matching: Option<(String, Duration)>,
    stall_all: bool,
    drop_next: bool,
    big_reply: Option<usize>,
    split_writes: bool,
    refuse: bool,

    commands: Vec<String>,
    auth_attempts: Vec<(String, bool)>,
    connections: usize,
    chats: Vec<String>,
    actions: Vec<String>,
    protocol_errors: Vec<String>,

    /// A clone of every open connection, to shut it down from outside.
    live: Vec<(usize, TcpStream)>,
    /// Bumped by a restart: a handler of an older generation stops.
    generation: u64,
    handlers: Vec<JoinHandle<()>>,
    shutting_down: bool,
}

/// The game's tick: the integral of the UPS over wall time, by a monotonic
/// clock. Every change starts a new segment at the tick reached, so the
/// tick never jumps.
struct Clock {
    ticks_at_since: f64,
    since: Instant,
    ups: f64,
    paused: bool,
}

impl Clock {
    fn ticks(&self, now: Instant) -> f64 {
        if self.paused {
            self.ticks_at_since
        } else {
            self.ticks_at_since + self.ups * now.duration_since(self.since).as_secs_f64()
        }
    }

    fn tick(&self, now: Instant) -> u64 {
        // Saturating float-to-int: a negative UPS cannot make a tick below 0.
        self.ticks(now).floor() as u64
    }

    /// Starts a new segment now, at the tick reached.
    fn rebase(&mut self, now: Instant) {
        self.ticks_at_since = self.ticks(now);
        self.since = now;
    }
}

/// One packet as read off the wire.
struct Packet {
    id: i32,
    kind: i32,
    body: String,
}

/// Why a read ended the connection.
enum ReadError {
    /// The socket failed or was shut down: nothing to report.
    Io,
    /// The client broke the framing: kept in `protocol_errors`.
    Malformed(String),
}

/// What one command is to suffer, taken from the one-shot switches when it
/// arrives.
struct Faults {
    stall: Option<Duration>,
    drop: bool,
    big_reply: Option<usize>,
}

impl FakeRcon {
    /// Listens on `127.0.0.1:0` and accepts connections until dropped;
    /// `password` is the only one that authenticates.
    pub fn start(password: &str) -> FakeRcon {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port for the fake");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            password: password.to_owned(),
            state: Mutex::new(State::new()),
            wake: Condvar::new(),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("fake-rcon/accept".to_owned())
                .stack_size(STACK_SIZE)
                .spawn(move || accept(&shared, &listener))
                .expect("spawn the fake RCON acceptor")
        };
        FakeRcon {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port listened on (the host is `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    // ---- game model ----

    /// The game version to play (2.0 until set).
    pub fn set_version(&self, version: Version) {
        self.shared.state().version = version;
    }

    /// The game's updates per wall-clock second (60 until set); the tick
    /// reached so far is kept.
    pub fn set_ups(&self, ups: f64) {
        let mut st = self.shared.state();
        st.clock.rebase(Instant::now());
        st.clock.ups = ups;
    }

    /// Stops (`true`) or restarts the tick, as a paused game does.
    pub fn pause(&self, paused: bool) {
        let mut st = self.shared.state();
        st.clock.rebase(Instant::now());
        st.clock.paused = paused;
    }

    /// Sets the map's tick (0 at start); it goes on counting from there.
    pub fn set_tick(&self, tick: u64) {
        let mut st = self.shared.state();
        st.clock.since = Instant::now();
        st.clock.ticks_at_since = tick as f64;
    }

    /// The map's tick now.
    pub fn tick(&self) -> u64 {
        self.shared.state().clock.tick(Instant::now())
    }

    /// The players the game knows, in the order listed (none until set).
    pub fn set_players(&self, online: &[&str], offline: &[&str]) {
        let mut st = self.shared.state();
        st.online = owned(online);
        st.offline = owned(offline);
    }

    /// The admins `/admins` lists, each shown online if among the online
    /// players (`admin` until set).
    pub fn set_admins(&self, admins: &[&str]) {
        self.shared.state().admins = owned(admins);
    }

    /// The players `/bans` lists (none until set; `/ban` and `/unban`
    /// change it).
    pub fn set_bans(&self, bans: &[&str]) {
        self.shared.state().bans = owned(bans);
    }

    /// The players `/whitelist get` lists (none until set; `/whitelist
    /// add|remove|clear` change it).
    pub fn set_whitelist(&self, players: &[&str]) {
        self.shared.state().whitelist = owned(players);
    }

    /// The evolution factor per surface, named as `/evolution` prints them
    /// (`Nauvis` at 0 until set). Factorio 1.1 shows only the first.
    pub fn set_evolution(&self, factors: &[(&str, f64)]) {
        self.shared.state().evolution = factors
            .iter()
            .map(|&(surface, factor)| (surface.to_owned(), factor))
            .collect();
    }

    /// What the player force researches, as Lua sees it (no console
    /// command shows it).
    pub fn set_research(&self, research: Option<(&str, u32, f64)>) {
        self.shared.state().research =
            research.map(|(name, level, progress)| (name.to_owned(), level, progress));
    }

    // ---- faults ----

    /// The next command is answered only after `d`, as during a save; the
    /// commands after it on the same connection wait their turn.
    pub fn stall_next(&self, d: Duration) {
        self.shared.state().stall_next = Some(d);
    }

    /// The next command containing `needle` (not the commands before it)
    /// is answered only after `d`, so a test can hold one command of its
    /// own in flight, whatever else the client sends; the commands after it
    /// on the same connection wait their turn.
    pub fn stall_matching(&self, needle: &str, d: Duration) {
        self.shared.state().stall_matching = Some((needle.to_owned(), d));
    }

    /// While `true`, no command is answered; `false` answers the waiting
    /// ones.
    pub fn stall_all(&self, stalled: bool) {
        self.shared.state().stall_all = stalled;
        self.shared.wake.notify_all();
    }

    /// The next command is run, then half of its reply packet is written
    /// and the connection closed.
    pub fn drop_next(&self) {
        self.shared.state().drop_next = true;
    }

    /// The next command is run, and its reply body replaced by
    /// [`big_body`]`(bytes)`, in one packet.
    pub fn big_reply(&self, bytes: usize) {
        self.shared.state().big_reply = Some(bytes);
    }

    /// While `true`, every packet is written [`SPLIT_CHUNK`] bytes at a time
    /// with [`SPLIT_PAUSE`] between writes (and `TCP_NODELAY`), so the
    /// client's reads see it in pieces.
    pub fn split_writes(&self, split: bool) {
        self.shared.state().split_writes = split;
    }

    /// While `true`, new connections are accepted (and counted) and closed
    /// at once.
    pub fn refuse(&self, refuse: bool) {
        self.shared.state().refuse = refuse;
    }

    /// Drops every open connection (stalled commands go unanswered) and
    /// goes on accepting on the same port, as a restarted server would.
    /// Returns how many connections were accepted before it: any beyond
    /// that count was made after the restart (a client that notices at
    /// once may reconnect before the caller can look).
    pub fn restart(&self) -> usize {
        let (live, accepted) = {
            let mut st = self.shared.state();
            st.generation += 1;
            (mem::take(&mut st.live), st.connections)
        };
        self.shared.wake.notify_all();
        for (_, stream) in live {
            let _ = stream.shutdown(Shutdown::Both);
        }
        accepted
    }

    // ---- recording ----

    /// Every command body after auth, in order of arrival, across
    /// connections.
    pub fn commands(&self) -> Vec<String> {
        self.shared.state().commands.clone()
    }

    /// The commands that run Lua (`/c`, `/command`, `/sc`,
    /// `/silent-command`), any of which disables achievements.
    pub fn lua_commands(&self) -> Vec<String> {
        self.commands().into_iter().filter(|c| is_lua(c)).collect()
    }

    /// Every auth: the password sent and whether it was accepted.
    pub fn auth_attempts(&self) -> Vec<(String, bool)> {
        self.shared.state().auth_attempts.clone()
    }

    /// The connections accepted so far, refused ones included.
    pub fn connections(&self) -> usize {
        self.shared.state().connections
    }

    /// The chat lines (commands not starting with `/`), as sent.
    pub fn chats(&self) -> Vec<String> {
        self.shared.state().chats.clone()
    }

    /// The moderation commands run (`kick`, `ban`, `unban`, `mute`,
    /// `unmute`, `promote`, `demote`, `purge`, `whitelist add|remove|clear`,
    /// `server-save`), without the slash, e.g. `kick bob griefing`.
    pub fn actions(&self) -> Vec<String> {
        self.shared.state().actions.clone()
    }

    /// Why connections were closed on the client (framing broken, a
    /// command before auth): empty for a well-behaved client.
    pub fn protocol_errors(&self) -> Vec<String> {
        self.shared.state().protocol_errors.clone()
    }
}

impl Drop for FakeRcon {
    fn drop(&mut self) {
        let live = {
            let mut st = self.shared.state_even_if_poisoned();
            st.shutting_down = true;
            mem::take(&mut st.live)
        };
        self.shared.wake.notify_all();
        for (_, stream) in live {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // The acceptor blocks in `accept`: one more connection wakes it, and
        // it sees `shutting_down`. Without it the join would hang forever.
        let woke = TcpStream::connect_timeout(&self.addr, WAKE_TIMEOUT).is_ok();
        if let Some(acceptor) = self.acceptor.take()
            && woke
        {
            join_all(vec![acceptor]);
        }
        // Taken after the acceptor is done, so no handler is missed.
        let handlers = mem::take(&mut self.shared.state_even_if_poisoned().handlers);
        join_all(handlers);
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("a fake RCON thread panicked while holding the state")
    }

    /// For the drop, which must not panic on top of a failing test.
    fn state_even_if_poisoned(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `until` has passed and `stall_all` is off. `false` if the
    /// connection's generation ended or the fake is dropped meanwhile.
    fn wait_stalls(&self, until: Option<Instant>, generation: u64) -> bool {
        let mut st = self.state();
        loop {
            if st.shutting_down || st.generation != generation {
                return false;
            }
            let now = Instant::now();
            st = match until.filter(|&u| u > now) {
                Some(u) => {
                    self.wake
                        .wait_timeout(st, u - now)
                        .expect("a fake RCON thread panicked while holding the state")
                        .0
                }
                None if st.stall_all => self
                    .wake
                    .wait(st)
                    .expect("a fake RCON thread panicked while holding the state"),
                None => return true,
            };
        }
    }
}

/// The acceptor: one handler thread per connection, until the drop.
fn accept(shared: &Arc<Shared>, listener: &TcpListener) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) if shared.state().shutting_down => return,
            Err(_) => {
                thread::sleep(ACCEPT_RETRY);
                continue;
            }
        };
        let mut st = shared.state();
        if st.shutting_down {
            return;
        }
        st.connections += 1;
        let n = st.connections;
        if st.refuse {
            drop(st);
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        // Replies go out as soon as written: split writes stay split.
        let configured = stream
            .set_nodelay(true)
            .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)))
            .and_then(|()| stream.try_clone());
        let Ok(clone) = configured else {
            st.protocol_errors
                .push(format!("connection {n}: could not set the socket up"));
            continue;
        };
        st.live.push((n, clone));
        let generation = st.generation;
        let handler = {
            let shared = Arc::clone(shared);
            thread::Builder::new()
                .name(format!("fake-rcon/conn-{n}"))
                .stack_size(STACK_SIZE)
                .spawn(move || {
                    serve(&shared, &stream, generation);
                    let _ = stream.shutdown(Shutdown::Both);
                    shared.state().live.retain(|(id, _)| *id != n);
                })
                .expect("spawn a fake RCON connection handler")
        };
        st.handlers.push(handler);
    }
}

/// One connection, from auth to close.
fn serve(shared: &Shared, stream: &TcpStream, generation: u64) {
    let mut authenticated = false;
    loop {
        let packet = match read_packet(stream) {
            Ok(Some(packet)) => packet,
            Ok(None) | Err(ReadError::Io) => return,
            Err(ReadError::Malformed(why)) => {
                shared.state().protocol_errors.push(why);
                return;
            }
        };
        match packet.kind {
            SERVERDATA_AUTH => {
                let (ok, split) = {
                    let mut st = shared.state();
                    let ok = packet.body == shared.password;
                    st.auth_attempts.push((packet.body, ok));
                    (ok, st.split_writes)
                };
                authenticated |= ok;
                let id = if ok { packet.id } else { -1 };
                if send(stream, &encode(id, SERVERDATA_AUTH_RESPONSE, ""), split).is_err() {
                    return;
                }
            }
            SERVERDATA_EXECCOMMAND if authenticated => {
                if !run(shared, stream, generation, &packet) {
                    return;
                }
            }
            SERVERDATA_EXECCOMMAND => {
                shared.state().protocol_errors.push(format!(
                    "command before auth (id {}): {:?}",
                    packet.id, packet.body
                ));
                return;
            }
            kind => {
                shared
                    .state()
                    .protocol_errors
                    .push(format!("packet of unknown type {kind} (id {})", packet.id));
                return;
            }
        }
    }
}

/// Runs one command and writes its reply; `false` if the connection is to
/// close.
fn run(shared: &Shared, stream: &TcpStream, generation: u64, packet: &Packet) -> bool {
    let faults = {
        let mut st = shared.state();
        st.commands.push(packet.body.clone());
        let matched = st
            .stall_matching
            .take_if(|(needle, _)| packet.body.contains(needle.as_str()))
            .map(|(_, d)| d);
        Faults {
            stall: st.stall_next.take().max(matched),
            drop: mem::take(&mut st.drop_next),
            big_reply: st.big_reply.take(),
        }
    };
    let until = faults.stall.map(|d| Instant::now() + d);
    if !shared.wait_stalls(until, generation) {
        return false;
    }
    let (body, split) = {
        let mut st = shared.state();
        let body = st.answer(&packet.body, Instant::now());
        (faults.big_reply.map_or(body, big_body), st.split_writes)
    };
    let reply = encode(packet.id, SERVERDATA_RESPONSE_VALUE, &body);
    if faults.drop {
        let _ = send(stream, &reply[..reply.len() / 2], split);
        return false;
    }
    send(stream, &reply, split).is_ok()
}

/// Reads one packet; `None` at a clean end of stream between packets.
fn read_packet(mut stream: &TcpStream) -> Result<Option<Packet>, ReadError> {
    let mut size = [0u8; 4];
    let mut got = 0;
    while got < size.len() {
        match stream.read(&mut size[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ReadError::Io),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadError::Io),
        }
    }
    let size = i32::from_le_bytes(size);
    let len = usize::try_from(size)
        .ok()
        .filter(|len| (10..=MAX_PACKET).contains(len))
        .ok_or_else(|| ReadError::Malformed(format!("packet size {size} out of range")))?;
    let mut rest = vec![0u8; len];
    stream.read_exact(&mut rest).map_err(|_| ReadError::Io)?;
    let id = i32::from_le_bytes(rest[0..4].try_into().expect("four bytes"));
    let kind = i32::from_le_bytes(rest[4..8].try_into().expect("four bytes"));
    if rest[len - 2..] != [0, 0] {
        return Err(ReadError::Malformed(format!(
            "packet id {id}: the two bytes after the body are {:?}, not [0, 0]",
            &rest[len - 2..]
        )));
    }
    rest.truncate(len - 2);
    let body = String::from_utf8(rest.split_off(8))
        .map_err(|e| ReadError::Malformed(format!("packet id {id}: body is not UTF-8: {e}")))?;
    Ok(Some(Packet { id, kind, body }))
}

/// One packet on the wire.
fn encode(id: i32, kind: i32, body: &str) -> Vec<u8> {
    let size = i32::try_from(10 + body.len()).expect("a reply body fits an i32 size");
    let mut bytes = Vec::with_capacity(14 + body.len());
    bytes.extend_from_slice(&size.to_le_bytes());
    bytes.extend_from_slice(&id.to_le_bytes());
    bytes.extend_from_slice(&kind.to_le_bytes());
    bytes.extend_from_slice(body.as_bytes());
    bytes.extend_from_slice(&[0, 0]);
    bytes
}

/// Writes `bytes` at once, or in [`SPLIT_CHUNK`]s with pauses.
fn send(mut stream: &TcpStream, bytes: &[u8], split: bool) -> io::Result<()> {
    if !split {
        return stream.write_all(bytes);
    }
    for (i, chunk) in bytes.chunks(SPLIT_CHUNK).enumerate() {
        if i > 0 {
            thread::sleep(SPLIT_PAUSE);
        }
        stream.write_all(chunk)?;
    }
    Ok(())
}

impl State {
    fn new() -> State {
        State {
            version: Version::V2_0,
            clock: Clock {
                ticks_at_since: 0.0,
                since: Instant::now(),
                ups: 60.0,
                paused: false,
            },
            online: Vec::new(),
            offline: Vec::new(),
            admins: vec!["admin".to_owned()],
            bans: Vec::new(),
            whitelist: Vec::new(),
            muted: Vec::new(),
            evolution: vec![("Nauvis".to_owned(), 0.0)],
            research: None,
            stall_next: None,
            stall_matching: None,
            stall_all: false,
            drop_next: false,
            big_reply: None,
            split_writes: false,
            refuse: false,
            commands: Vec::new(),
            auth_attempts: Vec::new(),
            connections: 0,
            chats: Vec::new(),
            actions: Vec::new(),
            protocol_errors: Vec::new(),
            live: Vec::new(),
            generation: 0,
            handlers: Vec::new(),
            shutting_down: false,
        }
    }

    /// Runs `command` against the game model and returns the reply body.
    fn answer(&mut self, command: &str, now: Instant) -> String {
        let Some(rest) = command.strip_prefix('/') else {
            self.chats.push(command.to_owned());
            return String::new();
        };
        let (name, args) = rest
            .split_once(' ')
            .map_or((rest, ""), |(name, args)| (name, args.trim()));
        let tick = self.clock.tick(now);
        match name {
            "time" => line(&format_map_age(tick / TICKS_PER_SECOND)),
            "players" | "p" if matches!(args, "online" | "o") => {
                let mut out = line(&format!("Online players ({}):", self.online.len()));
                for name in &self.online {
                    out += &line(&format!("  {name} (online)"));
                }
                out
            }
            "players" | "p" => {
                let all = self.online.len() + self.offline.len();
                let mut out = line(&format!("Players ({all}):"));
                for name in &self.online {
                    out += &line(&format!("  {name} (online)"));
                }
                for name in &self.offline {
                    out += &line(&format!("  {name} (offline)"));
                }
                out
            }
            "evolution" => self.evolution(args),
            "version" => line(self.version.number()),
            "seed" => line(SEED),
            "admins" => self
                .admins
                .iter()
                .map(|name| {
                    let status = if self.online.contains(name) {
                        "online"
                    } else {
                        "offline"
                    };
                    line(&format!("  {name} ({status})"))
                })
                .collect(),
            "bans" => line(&format!("Banned players: {}", self.bans.join(", "))),
            "whitelist" if args == "get" => line(&format!(
                "Whitelisted players: {}",
                join_and(&self.whitelist)
            )),
            "whitelist" => {
                self.moderate(rest, "whitelist", args);
                String::new()
            }
            "server-save" => {
                self.actions.push(rest.to_owned());
                line(&format!("Saving map to {SAVE_PATH}"))
            }
            "kick" | "ban" | "unban" | "mute" | "unmute" | "promote" | "demote" | "purge" => {
                self.moderate(rest, name, args);
                String::new()
            }
            "c" | "command" => self.lua(args, false, tick),
            "sc" | "silent-command" => self.lua(args, true, tick),
            _ => line(&format!("Unknown command \"{name}\".")),
        }
    }

    /// `/evolution [surface]`.
    fn evolution(&self, surface: &str) -> String {
        match self.version {
            Version::V1_1 => {
                let factor = self.evolution.first().map_or(0.0, |(_, f)| *f);
                line(&evolution_text(factor))
            }
            Version::V2_0 if surface.is_empty() => self
                .evolution
                .iter()
                .map(|(name, factor)| line(&format!("{name} - {}", evolution_text(*factor))))
                .collect(),
            Version::V2_0 => match self
                .evolution
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(surface))
            {
                Some((name, factor)) => line(&format!("{name} - {}", evolution_text(*factor))),
                None => line(&format!("Surface \"{surface}\" does not exist.")),
            },
        }
    }

    /// Records a moderation command and applies it to the model.
    fn moderate(&mut self, command: &str, name: &str, args: &str) {
        self.actions.push(command.to_owned());
        let mut words = args.split_whitespace();
        let first = words.next().unwrap_or_default().to_owned();
        match name {
            "kick" => go_offline(&mut self.online, &mut self.offline, &first),
            "ban" => {
                go_offline(&mut self.online, &mut self.offline, &first);
                add(&mut self.bans, first);
            }
            "unban" => remove(&mut self.bans, &first),
            "mute" => add(&mut self.muted, first),
            "unmute" => remove(&mut self.muted, &first),
            "promote" => add(&mut self.admins, first),
            "demote" => remove(&mut self.admins, &first),
            "whitelist" => {
                let player = words.next().unwrap_or_default().to_owned();
                match first.as_str() {
                    "add" => add(&mut self.whitelist, player),
                    "remove" => remove(&mut self.whitelist, &player),
                    "clear" => self.whitelist.clear(),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// A Lua snippet, answered from what it asks for. `/sc` returns Lua
    /// errors in the body, `/c` does not.
    fn lua(&self, snippet: &str, silent: bool, tick: u64) -> String {
        let error = |message: &str| {
            if silent {
                line(&format!("Cannot execute command. Error: {message}"))
            } else {
                String::new()
            }
        };
        let helpers = snippet.contains("helpers.table_to_json");
        let game = snippet.contains("game.table_to_json");
        if helpers || game {
            return match self.version {
                Version::V2_0 if helpers => line(&self.json(tick)),
                Version::V1_1 if game => line(&self.json(tick)),
                Version::V2_0 => error("LuaGameScript doesn't contain key table_to_json."),
                Version::V1_1 => error("attempt to index global 'helpers' (a nil value)"),
            };
        }
        if snippet.contains("script.active_mods[\"base\"]") {
            line(self.version.number())
        } else if snippet.contains("#game.connected_players") {
            line(&self.online.len().to_string())
        } else if snippet.contains("game.tick") {
            line(&tick.to_string())
        } else {
            String::new()
        }
    }

    /// `{"tick":..,"players":[..],"evolution":{surface: factor},"research":{..}}`
    /// as `table_to_json` writes it: an empty table is `{}`, a nil field is
    /// absent. 1.1 has a single factor, shown for the first surface.
    fn json(&self, tick: u64) -> String {
        let shown = match self.version {
            Version::V1_1 => &self.evolution[..self.evolution.len().min(1)],
            Version::V2_0 => &self.evolution[..],
        };
        let evolution: Map<String, Value> = shown
            .iter()
            .map(|(surface, factor)| (surface.clone(), json!(factor)))
            .collect();
        let players = if self.online.is_empty() {
            json!({})
        } else {
            json!(self.online)
        };
        // The snippet sets `queue` to a table; empty here, so `{}`.
        let mut out =
            json!({ "tick": tick, "players": players, "evolution": evolution, "queue": {} });
        if let Some((name, level, progress)) = &self.research {
            out["research"] = json!({ "name": name, "level": level, "progress": progress });
        }
        out.to_string()
    }
}

/// `Evolution factor: 0.9495. (Time 100%) (Pollution 0%) (Spawner kills 0%)`:
/// the fake puts all of a non-zero factor down to time.
fn evolution_text(factor: f64) -> String {
    let time = if factor > 0.0 { 100 } else { 0 };
    format!("Evolution factor: {factor:.4}. (Time {time}%) (Pollution 0%) (Spawner kills 0%)")
}

/// Whether a command runs Lua (and so disables achievements): Factorio's
/// Lua commands by name, with or without arguments, in any case.
fn is_lua(command: &str) -> bool {
    let name = command
        .trim_start()
        .strip_prefix('/')
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_ascii_lowercase();
    ["c", "command", "sc", "silent-command", "measured-command"].contains(&name.as_str())
}

/// `A`, `A and B`, `A, B and C`.
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A line of output, ending in `\n`.
fn line(text: &str) -> String {
    format!("{text}\n")
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

fn add(list: &mut Vec<String>, name: String) {
    if !name.is_empty() && !list.contains(&name) {
        list.push(name);
    }
}

fn remove(list: &mut Vec<String>, name: &str) {
    list.retain(|n| n != name);
}

fn go_offline(online: &mut Vec<String>, offline: &mut Vec<String>, name: &str) {
    if online.iter().any(|n| n == name) {
        remove(online, name);
        add(offline, name.to_owned());
    }
}
