//! A fake Discord gateway on real sockets (`127.0.0.1:0`), for tests of the
//! daemon's gateway client: API v10, JSON text frames, no compression, the
//! session model Discord documents (sequence numbers, RESUME with replay,
//! invalid sessions), switches for the faults a client must survive, and a
//! record of everything the client sent.
//!
//! Two listeners stand in for Discord's two hosts: [`FakeGateway::url`] is
//! the one `GET /gateway/bot` names, [`FakeGateway::resume_url`] the one
//! READY advertises as `resume_gateway_url`. Both speak the same protocol;
//! each [`Connection`] and [`Resume`] records which one was used, so a test
//! can check that RESUME went where Discord asks it to.
//!
//! What a connection goes through (protocol notes, part A1):
//! 1. the handshake; the query must say `v=10` (else close 4012) and
//!    `encoding=json` with no `compress` (else 4002: the fake speaks plain
//!    JSON only, a fake's choice where Discord would send ETF or zlib);
//! 2. op 10 HELLO with [`FakeGateway::set_heartbeat_interval`];
//! 3. op 2 IDENTIFY: the token must be [`super::discord::TOKEN`] (else 4004),
//!    `intents` an integer of known bits (else 4013), `properties` carry
//!    `os`, `browser` and `device` (else 4002); it opens a new session
//!    (random id) and dispatches READY (s=1) and, unless switched off,
//!    GUILD_CREATE (s=2);
//! 4. or op 6 RESUME: a known session gets every dispatch with `s` above
//!    the client's `seq` again, in order, then RESUMED; an unknown or
//!    invalidated one gets op 9 `d:false`; a `seq` the session never reached
//!    gets close 4007;
//! 5. op 1 HEARTBEAT (allowed before IDENTIFY) gets op 11 ACK; op 3 PRESENCE
//!    UPDATE is checked and recorded; ops 4, 8, 31 and 43 are accepted and
//!    only recorded.
//!
//! The client's mistakes close the connection with Discord's codes, and the
//! reason is kept in [`FakeGateway::protocol_errors`]: an unknown opcode
//! 4001; a payload that is not JSON, has no integer `op`, is binary, or is
//! over 4096 bytes 4002; anything but a heartbeat before IDENTIFY 4003; a
//! second IDENTIFY or RESUME on one connection 4005. A close frame the
//! client sends is recorded; 1000 and 1001 end its session as they do on
//! Discord, any other code (or a plain TCP drop) keeps it resumable.
//!
//! The controls, and the Discord behaviour each imitates:
//! - [`FakeGateway::dispatch`]: an event on the newest session; while that
//!   session has no connection it is only stored, as Discord keeps a
//!   dropped session's events for a RESUME;
//! - [`FakeGateway::drop_connection`]: the TCP connection dies with no close
//!   frame (a network fault, a gateway node going away);
//! - [`FakeGateway::send_reconnect`]: op 7, Discord asking the client to
//!   reconnect and resume (the fake leaves the closing to the client);
//! - [`FakeGateway::invalidate_session`]: op 9 with `d`; with `false` the
//!   session can no longer be resumed;
//! - [`FakeGateway::close_with`]: a close frame with any code; 4007 and 4009
//!   end the session, as Discord's "start a new session" codes do;
//! - [`FakeGateway::set_refuse_identify_with`]: every IDENTIFY fails with a
//!   code, e.g. 4004 (token reset) or 4014 (privileged intent not enabled);
//! - [`FakeGateway::stop_acking`]: the open connections stop answering
//!   heartbeats (a zombie connection); a new connection answers again;
//! - [`FakeGateway::request_heartbeat`]: op 1 from the server, which the
//!   client must answer at once.
//!
//! [`interaction_command`], [`interaction_autocomplete`] and
//! [`message_create`] build realistic INTERACTION_CREATE and MESSAGE_CREATE
//! payloads (protocol notes, part A2) for [`FakeGateway::send_interaction`]
//! and [`FakeGateway::send_message`].
//!
//! Threads: one acceptor per listener (`fake-gateway/accept`,
//! `fake-gateway/accept-resume`) and one per connection
//! (`fake-gateway/conn-N`), which both reads the client's frames (with a
//! short read timeout) and writes the fake's, taking them from a channel in
//! between, so a connection has a single owner. Every wait has a deadline
//! and panics with what was seen. Dropping the [`FakeGateway`] shuts every
//! connection down (no close frame), stops the acceptors and joins every
//! thread.

use super::discord::TOKEN;
use super::join_all;

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::mem;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde_json::{Map, Value, json};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// The application's id: READY's `application.id`, every interaction's
/// `application_id`; the same as the fake REST API's, so interaction
/// webhooks built from READY reach it.
pub use super::discord::APPLICATION_ID;

/// The bot user's id, as the fake REST API's `GET /users/@me` has it. It
/// differs from the application id on purpose: a client that mixes the
/// two up fails.
pub use super::discord::BOT_USER_ID;

/// The bot user's name, as the fake REST API's `GET /users/@me` has it.
pub const BOT_USERNAME: &str = "fake-bot";

/// READY's `application.flags`: `GATEWAY_MESSAGE_CONTENT_LIMITED` (1 << 19),
/// what a bot in under 100 servers with the Message Content intent has.
pub const APPLICATION_FLAGS: u64 = 1 << 19;

/// The one guild: unavailable in READY, then GUILD_CREATE, and the default
/// `guild_id` of interactions and messages.
pub const GUILD_ID: &str = "1100000000000000002";

/// The default channel of interactions and messages.
pub const CHANNEL_ID: &str = "1100000000000000003";

/// The registered command's id, in every interaction's `data.id`.
pub const COMMAND_ID: &str = "1100000000000000004";

/// The one top-level command (DESIGN: `/factorio <subcommand>`).
pub const COMMAND_NAME: &str = "factorio";

/// The default member who runs commands and writes messages.
pub const USER_ID: &str = "1100000000000000005";

/// The default member's username.
pub const USERNAME: &str = "engineer";

/// The default member's display name.
pub const GLOBAL_NAME: &str = "Engineer";

/// An ordinary member's permissions in a channel: VIEW_CHANNEL,
/// SEND_MESSAGES, EMBED_LINKS, ATTACH_FILES, READ_MESSAGE_HISTORY and
/// USE_APPLICATION_COMMANDS.
pub const MEMBER_PERMISSIONS: &str = "2147601408";

/// An admin's: [`MEMBER_PERMISSIONS`] with KICK_MEMBERS, BAN_MEMBERS,
/// ADMINISTRATOR and MANAGE_GUILD.
pub const ADMIN_PERMISSIONS: &str = "2147601454";

/// HELLO's interval until [`FakeGateway::set_heartbeat_interval`]: the
/// value Discord sends today.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(41_250);

/// The largest payload a client may send; more is closed with 4002.
pub const MAX_PAYLOAD: usize = 4096;

/// The intents bits Discord defines (0 to 25); others are closed with 4013.
const KNOWN_INTENTS: u64 = (1 << 26) - 1;

/// How long a connection thread waits for a client frame before it looks
/// at its command channel: the most a control waits to take effect.
const POLL: Duration = Duration::from_millis(10);

/// A client gets this long to finish the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// A write that takes longer gives the connection up, so a client that
/// stops reading cannot keep a thread forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// After its close frame, the fake waits this long for the client's reply
/// before it drops the TCP connection.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// How long the drop waits to connect to its own listeners to wake the
/// acceptors; it cannot fail on loopback, but a drop must never hang.
const WAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection threads hold a frame or two and a parsed payload.
const STACK_SIZE: usize = 512 * 1024;

/// The pause after a failed `accept`, so the acceptor does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// Gateway opcodes (Discord's `opcodes-and-status-codes`).
pub mod op {
    pub const DISPATCH: u64 = 0;
    pub const HEARTBEAT: u64 = 1;
    pub const IDENTIFY: u64 = 2;
    pub const PRESENCE_UPDATE: u64 = 3;
    pub const VOICE_STATE_UPDATE: u64 = 4;
    pub const RESUME: u64 = 6;
    pub const RECONNECT: u64 = 7;
    pub const REQUEST_GUILD_MEMBERS: u64 = 8;
    pub const INVALID_SESSION: u64 = 9;
    pub const HELLO: u64 = 10;
    pub const HEARTBEAT_ACK: u64 = 11;
    pub const REQUEST_SOUNDBOARD_SOUNDS: u64 = 31;
    pub const REQUEST_CHANNEL_INFO: u64 = 43;
}

/// Close codes: WebSocket's own and Discord's gateway codes.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    /// What a close frame without a code is recorded as (RFC 6455 7.1.5).
    pub const NO_STATUS: u16 = 1005;
    pub const UNKNOWN_ERROR: u16 = 4000;
    pub const UNKNOWN_OPCODE: u16 = 4001;
    pub const DECODE_ERROR: u16 = 4002;
    pub const NOT_AUTHENTICATED: u16 = 4003;
    pub const AUTHENTICATION_FAILED: u16 = 4004;
    pub const ALREADY_AUTHENTICATED: u16 = 4005;
    pub const INVALID_SEQ: u16 = 4007;
    pub const RATE_LIMITED: u16 = 4008;
    pub const SESSION_TIMED_OUT: u16 = 4009;
    pub const INVALID_SHARD: u16 = 4010;
    pub const SHARDING_REQUIRED: u16 = 4011;
    pub const INVALID_API_VERSION: u16 = 4012;
    pub const INVALID_INTENTS: u16 = 4013;
    pub const DISALLOWED_INTENTS: u16 = 4014;

    /// The reason Discord puts in its close frame for `code`.
    pub fn reason(code: u16) -> &'static str {
        match code {
            UNKNOWN_ERROR => "Unknown error.",
            UNKNOWN_OPCODE => "Unknown opcode.",
            DECODE_ERROR => "Decode error.",
            NOT_AUTHENTICATED => "Not authenticated.",
            AUTHENTICATION_FAILED => "Authentication failed.",
            ALREADY_AUTHENTICATED => "Already authenticated.",
            INVALID_SEQ => "Invalid seq.",
            RATE_LIMITED => "Rate limited.",
            SESSION_TIMED_OUT => "Session timed out.",
            INVALID_SHARD => "Invalid shard.",
            SHARDING_REQUIRED => "Sharding required.",
            INVALID_API_VERSION => "Invalid API version.",
            INVALID_INTENTS => "Invalid intent(s).",
            DISALLOWED_INTENTS => "Disallowed intent(s).",
            _ => "",
        }
    }
}

/// Which listener a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// [`FakeGateway::url`], the URL from `GET /gateway/bot`.
    Main,
    /// [`FakeGateway::resume_url`], READY's `resume_gateway_url`.
    Resume,
}

/// How a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The client sent a close frame with this code.
    ClientClosed(u16),
    /// The fake sent a close frame with this code.
    ServerClosed(u16),
    /// [`FakeGateway::drop_connection`] cut it.
    Dropped,
    /// The client went away without a close frame, or a write failed.
    Lost,
    /// The [`FakeGateway`] was dropped.
    Shutdown,
}

/// One WebSocket connection (counted once its handshake is done).
#[derive(Clone, Debug)]
pub struct Connection {
    /// 1 for the first TCP connection accepted, on either listener; a
    /// failed handshake uses a number too.
    pub number: usize,
    pub endpoint: Endpoint,
    /// The request path, e.g. `/`.
    pub path: String,
    /// The query without `?`, e.g. `v=10&encoding=json`.
    pub query: String,
    /// When the handshake completed.
    pub opened: Instant,
    /// `None` while open.
    pub ended: Option<Ended>,
}

/// One IDENTIFY, good or bad.
#[derive(Clone, Debug)]
pub struct Identify {
    pub connection: usize,
    pub at: Instant,
    /// Whether `token` was [`TOKEN`].
    pub token_ok: bool,
    /// `intents`, if it was an integer.
    pub intents: Option<u64>,
    /// The whole `d`, as sent.
    pub d: Value,
    /// The session it opened; `None` if it was refused.
    pub session_id: Option<String>,
}

/// One RESUME with a well-formed body and the right token.
#[derive(Clone, Debug)]
pub struct Resume {
    pub connection: usize,
    pub endpoint: Endpoint,
    pub at: Instant,
    pub session_id: String,
    /// The client's `seq`: the last dispatch it saw.
    pub seq: u64,
    /// `true`: replayed and RESUMED; `false`: op 9 or close 4007.
    pub resumed: bool,
    /// The sequence numbers sent again, in order (RESUMED not included).
    pub replayed: Vec<u64>,
}

/// One heartbeat the client sent.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    pub connection: usize,
    pub at: Instant,
    /// Its `d`: the last sequence number the client saw, `None` for null.
    pub d: Option<u64>,
    /// Whether the fake answered with op 11.
    pub acked: bool,
}

/// One op 3 PRESENCE UPDATE.
#[derive(Clone, Debug)]
pub struct Presence {
    pub connection: usize,
    pub at: Instant,
    /// Its `d`: `{since, activities, status, afk}`.
    pub d: Value,
}

/// One close frame, from either side.
#[derive(Clone, Debug)]
pub struct Close {
    pub connection: usize,
    pub at: Instant,
    /// [`close::NO_STATUS`] for a frame without a code.
    pub code: u16,
    pub reason: String,
}

/// One text or binary frame the client sent, whatever it held.
#[derive(Clone, Debug)]
pub struct Received {
    pub connection: usize,
    pub at: Instant,
    /// Its `op`, if it was JSON with an integer `op`.
    pub op: Option<u64>,
    /// The frame (binary ones lossily decoded).
    pub text: String,
}

/// One dispatch (op 0) the fake sent or stored for a session.
#[derive(Clone, Debug)]
pub struct Dispatched {
    pub session_id: String,
    pub seq: u64,
    pub t: String,
    pub d: Value,
    pub at: Instant,
    /// Whether the session had a connection when it was made; `false`: only
    /// stored, for a RESUME to replay.
    pub live: bool,
}

/// Everything the fake saw and did, in order.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    pub connections: Vec<Connection>,
    pub identifies: Vec<Identify>,
    pub resumes: Vec<Resume>,
    pub heartbeats: Vec<Heartbeat>,
    pub presence_updates: Vec<Presence>,
    /// Close frames the client started (not its replies to the fake's).
    pub client_closes: Vec<Close>,
    /// Close frames the fake sent.
    pub server_closes: Vec<Close>,
    pub received: Vec<Received>,
    pub dispatched: Vec<Dispatched>,
    /// Why the fake closed on the client: its protocol mistakes, as
    /// `connection N: ...`. Empty for a well-behaved client.
    pub protocol_errors: Vec<String>,
}

impl Observations {
    /// Connections not ended yet.
    pub fn open_connections(&self) -> usize {
        self.connections
            .iter()
            .filter(|c| c.ended.is_none())
            .count()
    }

    /// A one-line summary for timeout messages.
    fn summary(&self) -> String {
        let closes = |list: &[Close]| list.iter().map(|c| c.code).collect::<Vec<_>>();
        format!(
            "{} connections ({} open), {} identifies, {} resumes, {} heartbeats, \
             {} presence updates, client closes {:?}, server closes {:?}, protocol errors {:?}",
            self.connections.len(),
            self.open_connections(),
            self.identifies.len(),
            self.resumes.len(),
            self.heartbeats.len(),
            self.presence_updates.len(),
            closes(&self.client_closes),
            closes(&self.server_closes),
            self.protocol_errors,
        )
    }
}

/// The fake gateway. Everything takes `&self`; the state is shared with the
/// server threads, which stop when this is dropped.
pub struct FakeGateway {
    main: SocketAddr,
    resume: SocketAddr,
    shared: Arc<Shared>,
    acceptors: Vec<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled on every change, for the waits.
    changed: Condvar,
    resume_url: String,
}

struct State {
    heartbeat_interval: Duration,
    guild_create: bool,
    refuse_identify: Option<u16>,
    /// Every accepted connection not yet ended, handshake done or not.
    live: Vec<Live>,
    sessions: Vec<Session>,
    /// The newest session (identified or resumed): where dispatches go.
    current: Option<usize>,
    seen: Observations,
    accepted: usize,
    handlers: Vec<JoinHandle<()>>,
    shutting_down: bool,
}

/// What the controls need of an open connection.
struct Live {
    number: usize,
    /// A clone of the socket, to cut it from outside.
    socket: TcpStream,
    commands: Sender<Command>,
    /// No heartbeat ACKs on this connection ([`FakeGateway::stop_acking`]).
    zombie: bool,
}

/// A session: Discord keeps its events so a RESUME can replay them.
struct Session {
    id: String,
    /// The last sequence number given out.
    seq: u64,
    /// Every dispatch, as sent: `(s, frame)`.
    history: Vec<(u64, String)>,
    /// Ended by op 9 `d:false`, a 1000/1001 close, 4007 or 4009.
    invalidated: bool,
    /// The connection it is attached to, if any.
    conn: Option<usize>,
}

/// What a control asks of a connection thread.
enum Command {
    /// Write this text frame.
    Send(String),
    /// Send a close frame with this code and reason, then end.
    Close(u16, String),
}

impl FakeGateway {
    /// Listens on two free loopback ports (main and resume) and serves until
    /// dropped.
    pub fn start() -> FakeGateway {
        let bind = || TcpListener::bind("127.0.0.1:0").expect("bind a loopback port for the fake");
        let (main_listener, resume_listener) = (bind(), bind());
        let addr = |l: &TcpListener| l.local_addr().expect("a bound listener has an address");
        let (main, resume) = (addr(&main_listener), addr(&resume_listener));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
                guild_create: true,
                refuse_identify: None,
                live: Vec::new(),
                sessions: Vec::new(),
                current: None,
                seen: Observations::default(),
                accepted: 0,
                handlers: Vec::new(),
                shutting_down: false,
            }),
            changed: Condvar::new(),
            resume_url: format!("ws://{resume}"),
        });
        let acceptors = [
            (main_listener, Endpoint::Main, "fake-gateway/accept"),
            (
                resume_listener,
                Endpoint::Resume,
                "fake-gateway/accept-resume",
            ),
        ]
        .into_iter()
        .map(|(listener, endpoint, name)| {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(name.to_owned())
                .stack_size(STACK_SIZE)
                .spawn(move || accept(&shared, &listener, endpoint))
                .expect("spawn a fake gateway acceptor")
        })
        .collect();
        FakeGateway {
            main,
            resume,
            shared,
            acceptors,
        }
    }

    /// The gateway URL, `ws://127.0.0.1:PORT`, as `GET /gateway/bot` would
    /// give it (without the query the client adds).
    pub fn url(&self) -> String {
        format!("ws://{}", self.main)
    }

    /// The resume URL READY advertises: another port, as Discord's
    /// `resume_gateway_url` is another host.
    pub fn resume_url(&self) -> String {
        self.shared.resume_url.clone()
    }

    // ---- settings ----

    /// HELLO's `heartbeat_interval` for connections opened from now on
    /// ([`DEFAULT_HEARTBEAT_INTERVAL`] until set); whole milliseconds.
    pub fn set_heartbeat_interval(&self, interval: Duration) {
        self.shared.update(|st| st.heartbeat_interval = interval);
    }

    /// Whether READY is followed by a GUILD_CREATE for [`GUILD_ID`] (on
    /// until set), as Discord sends one per guild.
    pub fn set_guild_create(&self, on: bool) {
        self.shared.update(|st| st.guild_create = on);
    }

    /// `Some(code)`: every IDENTIFY with the right token is answered with a
    /// close frame `code` and Discord's reason for it, e.g. 4004 for a token
    /// reset meanwhile, 4014 for a privileged intent not enabled, 4013
    /// for invalid intents. `None` (the default) lets them through.
    pub fn set_refuse_identify_with(&self, code: Option<u16>) {
        self.shared.update(|st| st.refuse_identify = code);
    }

    // ---- controls ----

    /// `true`: the connections open now record heartbeats but never ACK
    /// them, like a connection that died halfway; connections opened later
    /// ACK as usual, as a fresh connection to Discord would. `false`: every
    /// open connection ACKs again.
    pub fn stop_acking(&self, zombie: bool) {
        self.shared.update(|st| {
            for live in &mut st.live {
                live.zombie = zombie;
            }
        });
    }

    /// Sends op 1 to every open connection, as Discord does to ask for a
    /// heartbeat now; returns when it was queued, to measure the answer
    /// against.
    pub fn request_heartbeat(&self) -> Instant {
        let at = Instant::now();
        self.broadcast(&json!({"op": op::HEARTBEAT, "d": null, "s": null, "t": null}));
        at
    }

    /// Dispatches event `t` with `d` on the newest session and returns its
    /// sequence number. If that session has no connection (dropped, or
    /// closed without 1000), the event is only stored and a RESUME replays
    /// it. Panics if no client has identified yet.
    pub fn dispatch(&self, t: &str, d: Value) -> u64 {
        let seq = self.shared.update(|st| {
            let index = st.current?;
            let (seq, text) = st.push_dispatch(index, t, d);
            if let Some(live) = st.sessions[index]
                .conn
                .and_then(|n| st.live.iter().find(|l| l.number == n))
            {
                // Unbounded: a test queues a few frames at most, and the
                // connection thread drains them within a poll.
                let _ = live.commands.send(Command::Send(text));
            }
            Some(seq)
        });
        // Outside the lock, so the panic poisons nothing.
        seq.unwrap_or_else(|| {
            panic!("fake gateway: dispatch({t}) before any IDENTIFY; wait_for_identifies first")
        })
    }

    /// Dispatches INTERACTION_CREATE with `d`, e.g. an [`Interaction`].
    pub fn send_interaction(&self, d: impl Into<Value>) -> u64 {
        self.dispatch("INTERACTION_CREATE", d.into())
    }

    /// Dispatches MESSAGE_CREATE with `d`, e.g. a [`ChatMessage`].
    pub fn send_message(&self, d: impl Into<Value>) -> u64 {
        self.dispatch("MESSAGE_CREATE", d.into())
    }

    /// Cuts every open connection without a close frame (TCP shutdown). The
    /// sessions stay resumable; events dispatched from now on are stored.
    pub fn drop_connection(&self) {
        let sockets = self.shared.update(|st| {
            let live = mem::take(&mut st.live);
            for l in &live {
                st.end(l.number, Ended::Dropped);
            }
            live.into_iter().map(|l| l.socket).collect::<Vec<_>>()
        });
        for socket in sockets {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Sends op 7 RECONNECT to every open connection. Discord closes the
    /// socket a few seconds later; the fake leaves it to the client.
    pub fn send_reconnect(&self) {
        self.broadcast(&json!({"op": op::RECONNECT, "d": null, "s": null, "t": null}));
    }

    /// Sends op 9 INVALID SESSION with `d: resumable` to every open
    /// connection; with `false` the newest session (and every session on an
    /// open connection) can no longer be resumed. The connection stays open:
    /// the client is to close it, or identify again on it.
    pub fn invalidate_session(&self, resumable: bool) {
        self.shared.update(|st| {
            if !resumable {
                let open: Vec<usize> = st.live.iter().map(|l| l.number).collect();
                let current = st.current;
                for (i, session) in st.sessions.iter_mut().enumerate() {
                    if Some(i) == current || session.conn.is_some_and(|n| open.contains(&n)) {
                        session.invalidated = true;
                    }
                }
            }
            let frame = json!({"op": op::INVALID_SESSION, "d": resumable, "s": null, "t": null});
            for live in &st.live {
                let _ = live.commands.send(Command::Send(frame.to_string()));
            }
        });
    }

    /// Sends a close frame with `code` and `reason` on every open
    /// connection, waits briefly for the client's reply, then drops it.
    /// [`close::reason`] gives Discord's reason for its codes.
    pub fn close_with(&self, code: u16, reason: &str) {
        self.shared.update(|st| {
            for live in &st.live {
                let _ = live.commands.send(Command::Close(code, reason.to_owned()));
            }
        });
    }

    /// Sends `text` as a text frame on every open connection, as it is:
    /// malformed JSON, payloads of the wrong shape. Not stored for RESUME.
    pub fn send_text(&self, text: &str) {
        self.shared.update(|st| {
            for live in &st.live {
                let _ = live.commands.send(Command::Send(text.to_owned()));
            }
        });
    }

    fn broadcast(&self, payload: &Value) {
        let text = payload.to_string();
        self.shared.update(|st| {
            for live in &st.live {
                let _ = live.commands.send(Command::Send(text.clone()));
            }
        });
    }

    // ---- observations ----

    /// The newest session's id, once a client has identified.
    pub fn session_id(&self) -> Option<String> {
        let st = self.shared.state();
        st.current.map(|i| st.sessions[i].id.clone())
    }

    /// Everything seen so far.
    pub fn observations(&self) -> Observations {
        self.shared.state().seen.clone()
    }

    /// WebSocket connections so far (handshake done), on either listener.
    pub fn connections(&self) -> usize {
        self.shared.state().seen.connections.len()
    }

    /// Those connections not ended yet.
    pub fn open_connections(&self) -> usize {
        self.shared.state().seen.open_connections()
    }

    /// Every WebSocket connection, in order.
    pub fn connection_log(&self) -> Vec<Connection> {
        self.shared.state().seen.connections.clone()
    }

    pub fn identifies(&self) -> Vec<Identify> {
        self.shared.state().seen.identifies.clone()
    }

    pub fn resumes(&self) -> Vec<Resume> {
        self.shared.state().seen.resumes.clone()
    }

    pub fn heartbeats(&self) -> Vec<Heartbeat> {
        self.shared.state().seen.heartbeats.clone()
    }

    pub fn presence_updates(&self) -> Vec<Presence> {
        self.shared.state().seen.presence_updates.clone()
    }

    /// Close frames the client started.
    pub fn client_closes(&self) -> Vec<Close> {
        self.shared.state().seen.client_closes.clone()
    }

    /// Their codes, e.g. `[1000]` after a clean shutdown.
    pub fn client_close_codes(&self) -> Vec<u16> {
        self.client_closes().iter().map(|c| c.code).collect()
    }

    /// Close frames the fake sent.
    pub fn server_closes(&self) -> Vec<Close> {
        self.shared.state().seen.server_closes.clone()
    }

    /// Every frame the client sent.
    pub fn received(&self) -> Vec<Received> {
        self.shared.state().seen.received.clone()
    }

    /// Every dispatch made, on every session.
    pub fn dispatched(&self) -> Vec<Dispatched> {
        self.shared.state().seen.dispatched.clone()
    }

    /// Why the fake closed on the client; empty for a well-behaved client.
    pub fn protocol_errors(&self) -> Vec<String> {
        self.shared.state().seen.protocol_errors.clone()
    }

    // ---- waits ----

    /// Waits until `done` holds for what was seen and returns that; panics
    /// after `timeout`, naming `what` and summing up what was seen. `done`
    /// runs under the fake's lock, woken by every change: it must not call
    /// the fake.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Observations) -> bool,
    ) -> Observations {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state();
        loop {
            if done(&st.seen) {
                return st.seen.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "fake gateway: waited {timeout:?} for {what}; saw {}",
                    st.seen.summary()
                );
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .expect("a fake gateway thread panicked while holding the state")
                .0;
        }
    }

    /// Waits for at least `n` connections; returns them all.
    pub fn wait_for_connections(&self, n: usize, timeout: Duration) -> Vec<Connection> {
        self.wait_for(&format!("{n} connections"), timeout, |o| {
            o.connections.len() >= n
        })
        .connections
    }

    /// Waits for at least `n` IDENTIFYs that were answered with READY;
    /// returns every IDENTIFY.
    pub fn wait_for_identifies(&self, n: usize, timeout: Duration) -> Vec<Identify> {
        self.wait_for(&format!("{n} successful IDENTIFYs"), timeout, |o| {
            o.identifies
                .iter()
                .filter(|i| i.session_id.is_some())
                .count()
                >= n
        })
        .identifies
    }

    /// Waits for at least `n` RESUMEs, answered either way.
    pub fn wait_for_resumes(&self, n: usize, timeout: Duration) -> Vec<Resume> {
        self.wait_for(&format!("{n} RESUMEs"), timeout, |o| o.resumes.len() >= n)
            .resumes
    }

    /// Waits for at least `n` heartbeats, on any connection.
    pub fn wait_for_heartbeats(&self, n: usize, timeout: Duration) -> Vec<Heartbeat> {
        self.wait_for(&format!("{n} heartbeats"), timeout, |o| {
            o.heartbeats.len() >= n
        })
        .heartbeats
    }

    /// Waits for at least `n` presence updates.
    pub fn wait_for_presence_updates(&self, n: usize, timeout: Duration) -> Vec<Presence> {
        self.wait_for(&format!("{n} presence updates"), timeout, |o| {
            o.presence_updates.len() >= n
        })
        .presence_updates
    }

    /// Waits for at least `n` close frames from the client.
    pub fn wait_for_client_closes(&self, n: usize, timeout: Duration) -> Vec<Close> {
        self.wait_for(&format!("{n} client close frames"), timeout, |o| {
            o.client_closes.len() >= n
        })
        .client_closes
    }

    /// Waits until no connection is open, however they ended.
    pub fn wait_for_no_connection(&self, timeout: Duration) -> Vec<Connection> {
        self.wait_for("every connection to end", timeout, |o| {
            o.open_connections() == 0
        })
        .connections
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        let live = {
            let mut st = self.shared.state_even_if_poisoned();
            st.shutting_down = true;
            mem::take(&mut st.live)
        };
        self.shared.changed.notify_all();
        for l in live {
            let _ = l.socket.shutdown(Shutdown::Both);
        }
        // The acceptors block in `accept`: one more connection wakes each,
        // and it sees `shutting_down`. Without it the join would hang.
        for (acceptor, addr) in self.acceptors.drain(..).zip([self.main, self.resume]) {
            if TcpStream::connect_timeout(&addr, WAKE_TIMEOUT).is_ok() {
                join_all(vec![acceptor]);
            }
        }
        // Taken after the acceptors are done, so no handler is missed.
        let handlers = mem::take(&mut self.shared.state_even_if_poisoned().handlers);
        join_all(handlers);
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("a fake gateway thread panicked while holding the state")
    }

    /// For the drop, which must not panic on top of a failing test.
    fn state_even_if_poisoned(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the state and wakes the waits.
    fn update<R>(&self, change: impl FnOnce(&mut State) -> R) -> R {
        let result = change(&mut self.state());
        self.changed.notify_all();
        result
    }
}

impl State {
    /// Gives `d` the session's next sequence number, keeps it for replay
    /// and records it; returns the number and the frame.
    fn push_dispatch(&mut self, index: usize, t: &str, d: Value) -> (u64, String) {
        let session = &mut self.sessions[index];
        session.seq += 1;
        let seq = session.seq;
        let text = json!({"op": op::DISPATCH, "d": d, "s": seq, "t": t}).to_string();
        session.history.push((seq, text.clone()));
        let record = Dispatched {
            session_id: session.id.clone(),
            seq,
            t: t.to_owned(),
            d,
            at: Instant::now(),
            live: session.conn.is_some(),
        };
        self.seen.dispatched.push(record);
        (seq, text)
    }

    /// Marks connection `number` ended (unless it already is) and detaches
    /// its session, which keeps its events from now on.
    fn end(&mut self, number: usize, how: Ended) {
        self.live.retain(|l| l.number != number);
        for session in &mut self.sessions {
            if session.conn == Some(number) {
                session.conn = None;
            }
        }
        if let Some(c) = self
            .seen
            .connections
            .iter_mut()
            .find(|c| c.number == number && c.ended.is_none())
        {
            c.ended = Some(how);
        }
    }

    /// Ends the session attached to connection `number`, if any.
    fn invalidate_attached(&mut self, number: usize) {
        for session in &mut self.sessions {
            if session.conn == Some(number) {
                session.invalidated = true;
            }
        }
    }

    fn zombie(&self, number: usize) -> bool {
        self.live.iter().any(|l| l.number == number && l.zombie)
    }
}

/// The acceptor of one listener: one thread per connection, until the drop.
fn accept(shared: &Arc<Shared>, listener: &TcpListener, endpoint: Endpoint) {
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
        st.accepted += 1;
        let number = st.accepted;
        let Ok(socket) = stream.try_clone() else {
            st.seen
                .protocol_errors
                .push(format!("connection {number}: could not clone the socket"));
            continue;
        };
        let (commands, rx) = crossbeam_channel::unbounded();
        st.live.push(Live {
            number,
            socket,
            commands,
            zombie: false,
        });
        let handler = {
            let shared = Arc::clone(shared);
            thread::Builder::new()
                .name(format!("fake-gateway/conn-{number}"))
                .stack_size(STACK_SIZE)
                .spawn(move || {
                    let ended = serve(&shared, number, endpoint, stream, &rx);
                    shared.update(|st| st.end(number, ended));
                })
                .expect("spawn a fake gateway connection thread")
        };
        st.handlers.push(handler);
    }
}

/// One connection, from the handshake to its end.
fn serve(
    shared: &Shared,
    number: usize,
    endpoint: Endpoint,
    stream: TcpStream,
    rx: &Receiver<Command>,
) -> Ended {
    let (ws, path, query) = match handshake(stream) {
        Ok(done) => done,
        Err(why) => {
            shared.update(|st| {
                st.seen
                    .protocol_errors
                    .push(format!("connection {number}: {why}"));
            });
            return Ended::Lost;
        }
    };
    shared.update(|st| {
        st.seen.connections.push(Connection {
            number,
            endpoint,
            path,
            query: query.clone(),
            opened: Instant::now(),
            ended: None,
        });
    });
    let mut conn = Conn {
        shared,
        number,
        endpoint,
        ws,
        authenticated: false,
    };
    conn.run(&query, rx)
}

/// The WebSocket handshake, with the request's path and query.
fn handshake(stream: TcpStream) -> Result<(WebSocket<TcpStream>, String, String), String> {
    stream
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)))
        .and_then(|()| stream.set_nodelay(true))
        .map_err(|e| format!("could not set the socket up: {e}"))?;
    let mut target = (String::new(), String::new());
    // The error type is tungstenite's `Callback` signature, not ours.
    #[allow(clippy::result_large_err)]
    let see = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let uri = request.uri();
        target = (uri.path().to_owned(), uri.query().unwrap_or("").to_owned());
        Ok(response)
    };
    let ws = tungstenite::accept_hdr(stream, see)
        .map_err(|e| format!("WebSocket handshake failed: {e}"))?;
    // From here on a read waits at most POLL, so the thread can also write
    // what the controls queue.
    ws.get_ref()
        .set_read_timeout(Some(POLL))
        .map_err(|e| format!("could not set the read timeout: {e}"))?;
    Ok((ws, target.0, target.1))
}

/// Why the query is refused, as a close code and a protocol error.
fn check_query(query: &str) -> Option<(u16, String)> {
    let param = |key: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    };
    match (param("v"), param("encoding"), param("compress")) {
        (v, _, _) if v != Some("10") => Some((
            close::INVALID_API_VERSION,
            format!("query {query:?}: the fake speaks v=10 only"),
        )),
        (_, encoding, _) if encoding != Some("json") => Some((
            close::DECODE_ERROR,
            format!("query {query:?}: the fake speaks encoding=json only"),
        )),
        (_, _, Some(compress)) => Some((
            close::DECODE_ERROR,
            format!("query {query:?}: compress={compress} is not spoken by the fake"),
        )),
        _ => None,
    }
}

/// What the connection does after a frame.
enum Flow {
    Go,
    /// Close with this code and Discord's reason for it.
    Close(u16),
    Lost,
}

/// A connection's thread-side state.
struct Conn<'a> {
    shared: &'a Shared,
    number: usize,
    endpoint: Endpoint,
    ws: WebSocket<TcpStream>,
    /// IDENTIFY or RESUME succeeded on this connection.
    authenticated: bool,
}

impl Conn<'_> {
    fn run(&mut self, query: &str, rx: &Receiver<Command>) -> Ended {
        if let Some((code, why)) = check_query(query) {
            self.error(code, why);
            return self.close(code, close::reason(code));
        }
        let interval = self.shared.state().heartbeat_interval;
        let millis = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        let hello = json!({
            "op": op::HELLO,
            "d": {"heartbeat_interval": millis, "_trace": ["[\"fake-gateway\",{\"micros\":0}]"]},
            "s": null,
            "t": null,
        });
        if !self.send(hello.to_string()) {
            return Ended::Lost;
        }
        loop {
            if self.shared.state().shutting_down {
                return Ended::Shutdown;
            }
            while let Ok(command) = rx.try_recv() {
                match command {
                    Command::Send(text) => {
                        if !self.send(text) {
                            return Ended::Lost;
                        }
                    }
                    Command::Close(code, reason) => return self.close(code, &reason),
                }
            }
            let flow = match self.ws.read() {
                Ok(Message::Text(text)) => self.handle(text.as_str()),
                Ok(Message::Binary(bytes)) => {
                    self.record(None, String::from_utf8_lossy(&bytes).into_owned());
                    self.fault(
                        close::DECODE_ERROR,
                        "a binary frame; encoding=json takes text frames".to_owned(),
                    )
                }
                Ok(Message::Close(frame)) => return self.client_closed(frame),
                // Pings are answered by tungstenite itself.
                Ok(_) => Flow::Go,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    Flow::Go
                }
                Err(_) => Flow::Lost,
            };
            match flow {
                Flow::Go => {}
                Flow::Close(code) => return self.close(code, close::reason(code)),
                Flow::Lost => return Ended::Lost,
            }
        }
    }

    /// One text frame from the client.
    fn handle(&mut self, text: &str) -> Flow {
        let payload = serde_json::from_str::<Value>(text);
        let op = payload
            .as_ref()
            .ok()
            .and_then(|p| p.get("op"))
            .and_then(Value::as_u64);
        self.record(op, text.to_owned());
        if text.len() > MAX_PAYLOAD {
            return self.fault(
                close::DECODE_ERROR,
                format!("a payload of {} bytes, over {MAX_PAYLOAD}", text.len()),
            );
        }
        let Ok(payload) = payload else {
            return self.fault(close::DECODE_ERROR, format!("not JSON: {text:?}"));
        };
        let Some(op) = op else {
            return self.fault(close::DECODE_ERROR, format!("no integer op: {text}"));
        };
        let d = payload.get("d").cloned().unwrap_or(Value::Null);
        match op {
            op::HEARTBEAT => self.heartbeat(&d),
            op::IDENTIFY => self.identify(d),
            op::RESUME => self.resume(&d),
            op::PRESENCE_UPDATE
            | op::VOICE_STATE_UPDATE
            | op::REQUEST_GUILD_MEMBERS
            | op::REQUEST_SOUNDBOARD_SOUNDS
            | op::REQUEST_CHANNEL_INFO
                if !self.authenticated =>
            {
                self.fault(
                    close::NOT_AUTHENTICATED,
                    format!("op {op} before IDENTIFY or RESUME"),
                )
            }
            op::PRESENCE_UPDATE => self.presence(d),
            // Known to Discord, not used by the daemon: kept in `received`.
            op::VOICE_STATE_UPDATE
            | op::REQUEST_GUILD_MEMBERS
            | op::REQUEST_SOUNDBOARD_SOUNDS
            | op::REQUEST_CHANNEL_INFO => Flow::Go,
            other => self.fault(close::UNKNOWN_OPCODE, format!("unknown opcode {other}")),
        }
    }

    /// Op 1: recorded, and ACKed unless the connection is a zombie.
    fn heartbeat(&mut self, d: &Value) -> Flow {
        let seq = match d {
            Value::Null => None,
            other => match other.as_u64() {
                Some(seq) => Some(seq),
                None => {
                    return self.fault(
                        close::DECODE_ERROR,
                        format!("heartbeat d {other} is neither null nor a sequence number"),
                    );
                }
            },
        };
        let number = self.number;
        let acked = self.shared.update(|st| {
            let acked = !st.zombie(number);
            st.seen.heartbeats.push(Heartbeat {
                connection: number,
                at: Instant::now(),
                d: seq,
                acked,
            });
            acked
        });
        let ack = json!({"op": op::HEARTBEAT_ACK, "d": null, "s": null, "t": null});
        if acked && !self.send(ack.to_string()) {
            return Flow::Lost;
        }
        Flow::Go
    }

    /// Op 2: checked, then a new session with READY (and GUILD_CREATE).
    fn identify(&mut self, d: Value) -> Flow {
        if self.authenticated {
            return self.fault(
                close::ALREADY_AUTHENTICATED,
                "IDENTIFY on a connection that already identified or resumed".to_owned(),
            );
        }
        let token_ok = d.get("token").and_then(Value::as_str) == Some(TOKEN);
        let number = self.number;
        let index = self.shared.update(|st| {
            st.seen.identifies.push(Identify {
                connection: number,
                at: Instant::now(),
                token_ok,
                intents: d.get("intents").and_then(Value::as_u64),
                d: d.clone(),
                session_id: None,
            });
            st.seen.identifies.len() - 1
        });
        if !token_ok {
            return self.fault(
                close::AUTHENTICATION_FAILED,
                "IDENTIFY with a wrong token".to_owned(),
            );
        }
        if let Err((code, why)) = check_identify(&d) {
            return self.fault(code, why);
        }
        let resume_url = self.shared.resume_url.clone();
        let frames = self.shared.update(|st| {
            if let Some(code) = st.refuse_identify {
                return Err(code);
            }
            let id = session_id();
            st.sessions.push(Session {
                id: id.clone(),
                seq: 0,
                history: Vec::new(),
                invalidated: false,
                conn: Some(number),
            });
            let index_session = st.sessions.len() - 1;
            st.current = Some(index_session);
            st.seen.identifies[index].session_id = Some(id.clone());
            let ready = ready(&id, &resume_url, d.get("shard"));
            let mut frames = vec![st.push_dispatch(index_session, "READY", ready).1];
            if st.guild_create {
                frames.push(st.push_dispatch(index_session, "GUILD_CREATE", guild()).1);
            }
            Ok(frames)
        });
        let frames = match frames {
            Ok(frames) => frames,
            // Refused on purpose: not the client's mistake.
            Err(code) => return Flow::Close(code),
        };
        self.authenticated = true;
        for frame in frames {
            if !self.send(frame) {
                return Flow::Lost;
            }
        }
        Flow::Go
    }

    /// Op 6: replay and RESUMED, op 9 `false`, or close 4007.
    fn resume(&mut self, d: &Value) -> Flow {
        if self.authenticated {
            return self.fault(
                close::ALREADY_AUTHENTICATED,
                "RESUME on a connection that already identified or resumed".to_owned(),
            );
        }
        if d.get("token").and_then(Value::as_str) != Some(TOKEN) {
            return self.fault(
                close::AUTHENTICATION_FAILED,
                "RESUME with a wrong token".to_owned(),
            );
        }
        let (Some(session_id), Some(seq)) = (
            d.get("session_id").and_then(Value::as_str),
            d.get("seq").and_then(Value::as_u64),
        ) else {
            return self.fault(
                close::DECODE_ERROR,
                format!("RESUME without a string session_id and an integer seq: {d}"),
            );
        };
        let (number, endpoint) = (self.number, self.endpoint);
        let outcome = self.shared.update(|st| {
            let mut record = Resume {
                connection: number,
                endpoint,
                at: Instant::now(),
                session_id: session_id.to_owned(),
                seq,
                resumed: false,
                replayed: Vec::new(),
            };
            let found = st
                .sessions
                .iter()
                .position(|s| s.id == session_id && !s.invalidated);
            let outcome = match found {
                None => ResumeOutcome::Invalid,
                Some(i) if seq > st.sessions[i].seq => {
                    st.sessions[i].invalidated = true;
                    ResumeOutcome::BadSeq(st.sessions[i].seq)
                }
                Some(i) => {
                    // The session moves here; an older connection still
                    // attached to it gets no more of its events.
                    st.sessions[i].conn = Some(number);
                    st.current = Some(i);
                    let missed: Vec<(u64, String)> = st.sessions[i]
                        .history
                        .iter()
                        .filter(|(s, _)| *s > seq)
                        .cloned()
                        .collect();
                    record.replayed = missed.iter().map(|(s, _)| *s).collect();
                    record.resumed = true;
                    let resumed = json!({"_trace": ["[\"fake-gateway\",{\"micros\":0}]"]});
                    let mut frames: Vec<String> = missed.into_iter().map(|(_, f)| f).collect();
                    frames.push(st.push_dispatch(i, "RESUMED", resumed).1);
                    ResumeOutcome::Resumed(frames)
                }
            };
            st.seen.resumes.push(record);
            outcome
        });
        match outcome {
            ResumeOutcome::Invalid => {
                // The connection stays: the client may IDENTIFY on it or
                // reconnect, as on Discord.
                let nine = json!({"op": op::INVALID_SESSION, "d": false, "s": null, "t": null});
                if self.send(nine.to_string()) {
                    Flow::Go
                } else {
                    Flow::Lost
                }
            }
            ResumeOutcome::BadSeq(last) => self.fault(
                close::INVALID_SEQ,
                format!("RESUME with seq {seq}, but the session only reached {last}"),
            ),
            ResumeOutcome::Resumed(frames) => {
                self.authenticated = true;
                for frame in frames {
                    if !self.send(frame) {
                        return Flow::Lost;
                    }
                }
                Flow::Go
            }
        }
    }

    /// Op 3: recorded, then checked.
    fn presence(&mut self, d: Value) -> Flow {
        let check = check_presence(&d);
        let number = self.number;
        self.shared.update(|st| {
            st.seen.presence_updates.push(Presence {
                connection: number,
                at: Instant::now(),
                d,
            });
        });
        match check {
            Ok(()) => Flow::Go,
            Err(why) => self.fault(close::DECODE_ERROR, format!("presence update: {why}")),
        }
    }

    fn record(&self, op: Option<u64>, text: String) {
        let number = self.number;
        self.shared.update(|st| {
            st.seen.received.push(Received {
                connection: number,
                at: Instant::now(),
                op,
                text,
            });
        });
    }

    /// Records the client's mistake; the connection closes with `code`.
    fn fault(&self, code: u16, why: String) -> Flow {
        self.error(code, why);
        Flow::Close(code)
    }

    fn error(&self, code: u16, why: String) {
        let number = self.number;
        self.shared.update(|st| {
            st.seen
                .protocol_errors
                .push(format!("connection {number}: {why} (close {code})"));
        });
    }

    /// Writes one text frame; `false` if the connection is gone.
    fn send(&mut self, text: String) -> bool {
        self.ws.send(Message::text(text)).is_ok()
    }

    /// The client's close frame: recorded, answered, and the end.
    fn client_closed(&mut self, frame: Option<CloseFrame>) -> Ended {
        let (code, reason) = frame.map_or((close::NO_STATUS, String::new()), |f| {
            (u16::from(f.code), f.reason.as_str().to_owned())
        });
        let number = self.number;
        self.shared.update(|st| {
            st.seen.client_closes.push(Close {
                connection: number,
                at: Instant::now(),
                code,
                reason,
            });
            // A clean close ends the session on Discord (the bot goes
            // offline); any other code keeps it for a RESUME.
            if code == close::NORMAL || code == close::GOING_AWAY {
                st.invalidate_attached(number);
            }
        });
        // Sends tungstenite's reply to the close; the server then drops TCP.
        let _ = self.ws.flush();
        Ended::ClientClosed(code)
    }

    /// Sends a close frame, waits a little for the client's reply, and ends.
    fn close(&mut self, code: u16, reason: &str) -> Ended {
        let number = self.number;
        self.shared.update(|st| {
            st.seen.server_closes.push(Close {
                connection: number,
                at: Instant::now(),
                code,
                reason: reason.to_owned(),
            });
            if code == close::INVALID_SEQ || code == close::SESSION_TIMED_OUT {
                st.invalidate_attached(number);
            }
        });
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        if self.ws.close(Some(frame)).is_ok() {
            let deadline = Instant::now() + CLOSE_WAIT;
            // Frames after our close are discarded, as RFC 6455 allows; the
            // read ends with an error once the client's reply is in.
            while Instant::now() < deadline && !self.shared.state().shutting_down {
                match self.ws.read() {
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
        }
        Ended::ServerClosed(code)
    }
}

enum ResumeOutcome {
    Resumed(Vec<String>),
    Invalid,
    /// The client's seq is above the session's last one.
    BadSeq(u64),
}

/// Checks an IDENTIFY `d` beyond the token.
fn check_identify(d: &Value) -> Result<(), (u16, String)> {
    let decode = |why: String| Err((close::DECODE_ERROR, why));
    if !d.is_object() {
        return decode(format!("IDENTIFY d is not an object: {d}"));
    }
    match d.get("intents").and_then(Value::as_u64) {
        None => {
            return Err((
                close::INVALID_INTENTS,
                format!("IDENTIFY without integer intents: {d}"),
            ));
        }
        Some(intents) if intents & !KNOWN_INTENTS != 0 => {
            return Err((
                close::INVALID_INTENTS,
                format!("IDENTIFY with unknown intent bits: {intents}"),
            ));
        }
        Some(_) => {}
    }
    let properties = d.get("properties");
    for key in ["os", "browser", "device"] {
        if !properties
            .and_then(|p| p.get(key))
            .is_some_and(Value::is_string)
        {
            return decode(format!(
                "IDENTIFY properties without a string {key:?}: {}",
                properties.unwrap_or(&Value::Null)
            ));
        }
    }
    if d.get("compress") == Some(&Value::Bool(true)) {
        return decode("IDENTIFY asks for payload compression, which the fake does not do".into());
    }
    if let Some(threshold) = d.get("large_threshold")
        && !threshold.as_u64().is_some_and(|t| (50..=250).contains(&t))
    {
        return decode(format!("large_threshold {threshold} is not in 50..=250"));
    }
    if let Some(shard) = d.get("shard") {
        let pair = shard
            .as_array()
            .filter(|a| a.len() == 2)
            .and_then(|a| Some((a[0].as_u64()?, a[1].as_u64()?)));
        if pair.is_none_or(|(id, count)| id >= count) {
            return Err((
                close::INVALID_SHARD,
                format!("shard {shard} is not [id, count]"),
            ));
        }
    }
    if let Some(presence) = d.get("presence") {
        check_presence(presence)
            .map_err(|why| (close::DECODE_ERROR, format!("presence: {why}")))?;
    }
    Ok(())
}

/// Checks a presence (op 3 `d`, or IDENTIFY's `presence`): every field is
/// required, as Discord's docs list them.
fn check_presence(d: &Value) -> Result<(), String> {
    match d.get("since") {
        Some(Value::Null) => {}
        Some(since) if since.is_u64() => {}
        other => return Err(format!("since is {other:?}, not null or an integer")),
    }
    let Some(activities) = d.get("activities").and_then(Value::as_array) else {
        return Err("activities is not an array".to_owned());
    };
    for activity in activities {
        let named = activity.get("name").is_some_and(Value::is_string);
        let typed = activity
            .get("type")
            .and_then(Value::as_u64)
            .is_some_and(|t| t <= 6);
        if !named || !typed {
            return Err(format!("activity {activity} needs a name and a type 0..=6"));
        }
    }
    let status = d.get("status").and_then(Value::as_str);
    if !matches!(
        status,
        Some("online" | "dnd" | "idle" | "invisible" | "offline")
    ) {
        return Err(format!(
            "status {:?} is not a Discord status",
            d.get("status")
        ));
    }
    if !d.get("afk").is_some_and(Value::is_boolean) {
        return Err("afk is not a boolean".to_owned());
    }
    Ok(())
}

/// READY's `d`.
fn ready(session_id: &str, resume_url: &str, shard: Option<&Value>) -> Value {
    let mut d = json!({
        "v": 10,
        "user": {
            "id": BOT_USER_ID,
            "username": BOT_USERNAME,
            "global_name": null,
            "discriminator": "0",
            "avatar": null,
            "bot": true,
            "verified": true,
            "mfa_enabled": false,
            "flags": 0,
        },
        "guilds": [{"id": GUILD_ID, "unavailable": true}],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_url,
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "user_settings": {},
        "geo_ordered_rtc_regions": ["rotterdam", "frankfurt"],
        "application": {"id": APPLICATION_ID, "flags": APPLICATION_FLAGS},
        "_trace": ["[\"fake-gateway\",{\"micros\":0}]"],
    });
    if let Some(shard) = shard {
        d["shard"] = shard.clone();
    }
    d
}

/// GUILD_CREATE's `d`: the guild with one text channel, and the bot.
fn guild() -> Value {
    json!({
        "id": GUILD_ID,
        "name": "Factorio",
        "icon": null,
        "owner_id": USER_ID,
        "unavailable": false,
        "large": false,
        "member_count": 2,
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "features": [],
        "roles": [{
            "id": GUILD_ID,
            "name": "@everyone",
            "permissions": MEMBER_PERMISSIONS,
            "position": 0,
            "color": 0,
            "hoist": false,
            "managed": false,
            "mentionable": false,
            "flags": 0,
        }],
        "channels": [{
            "id": CHANNEL_ID,
            "type": 0,
            "name": "factorio",
            "position": 0,
            "permission_overwrites": [],
            "parent_id": null,
            "topic": null,
        }],
        "members": [{
            "user": {"id": BOT_USER_ID, "username": BOT_USERNAME, "discriminator": "0",
                     "global_name": null, "avatar": null, "bot": true},
            "roles": [],
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0,
        }],
        "threads": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "emojis": [],
        "stickers": [],
    })
}

/// A fresh random session id: 32 hex digits, like Discord's.
fn session_id() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    // Each RandomState has fresh random keys: enough randomness for a fake.
    let keys = RandomState::new();
    let mut id = String::with_capacity(32);
    for half in 0..2u64 {
        let mut hasher = keys.build_hasher();
        hasher.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
        hasher.write_u64(half);
        let _ = write!(id, "{:016x}", hasher.finish());
    }
    id
}

/// A fresh snowflake, above every earlier one (ids of interactions and
/// messages built here).
fn snowflake() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1_300_000_000_000_000_000);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// When the payloads built here claim things happened: fixed, as nothing
/// the daemon does depends on it.
const TIMESTAMP: &str = "2026-01-01T00:00:00.000000+00:00";

// ---- payload builders ----

/// An attachment object as Discord's CDN serves it.
fn attachment(channel_id: &str, id: &str, filename: &str, size: u64) -> Value {
    let path = format!("attachments/{channel_id}/{id}/{filename}");
    json!({
        "id": id,
        "filename": filename,
        "size": size,
        "url": format!("https://cdn.discordapp.com/{path}"),
        "proxy_url": format!("https://media.discordapp.net/{path}"),
    })
}

/// A command option's value; the variant decides the option `type`.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    /// Type 3.
    String(String),
    /// Type 4.
    Integer(i64),
    /// Type 5.
    Boolean(bool),
    /// Type 6: a user id, resolved in `data.resolved.users` (and `members`).
    User(String),
    /// Type 7: a channel id, resolved in `data.resolved.channels`.
    Channel(String),
    /// Type 8: a role id, resolved in `data.resolved.roles`.
    Role(String),
    /// Type 9: a user id (the fake resolves mentionables as users).
    Mentionable(String),
    /// Type 10.
    Number(f64),
    /// Type 11: an attachment id, resolved in `data.resolved.attachments`.
    Attachment(String),
}

impl OptionValue {
    /// The option `type`.
    pub fn kind(&self) -> u8 {
        match self {
            OptionValue::String(_) => 3,
            OptionValue::Integer(_) => 4,
            OptionValue::Boolean(_) => 5,
            OptionValue::User(_) => 6,
            OptionValue::Channel(_) => 7,
            OptionValue::Role(_) => 8,
            OptionValue::Mentionable(_) => 9,
            OptionValue::Number(_) => 10,
            OptionValue::Attachment(_) => 11,
        }
    }

    fn json(&self) -> Value {
        match self {
            OptionValue::String(s)
            | OptionValue::User(s)
            | OptionValue::Channel(s)
            | OptionValue::Role(s)
            | OptionValue::Mentionable(s)
            | OptionValue::Attachment(s) => json!(s),
            OptionValue::Integer(n) => json!(n),
            OptionValue::Boolean(b) => json!(b),
            OptionValue::Number(x) => json!(x),
        }
    }
}

impl From<&str> for OptionValue {
    fn from(s: &str) -> OptionValue {
        OptionValue::String(s.to_owned())
    }
}

impl From<String> for OptionValue {
    fn from(s: String) -> OptionValue {
        OptionValue::String(s)
    }
}

impl From<i64> for OptionValue {
    fn from(n: i64) -> OptionValue {
        OptionValue::Integer(n)
    }
}

impl From<i32> for OptionValue {
    fn from(n: i32) -> OptionValue {
        OptionValue::Integer(n.into())
    }
}

impl From<bool> for OptionValue {
    fn from(b: bool) -> OptionValue {
        OptionValue::Boolean(b)
    }
}

impl From<f64> for OptionValue {
    fn from(x: f64) -> OptionValue {
        OptionValue::Number(x)
    }
}

/// An INTERACTION_CREATE `d` for `/factorio ...`, in a guild channel, from
/// an ordinary member unless changed. Each one gets a fresh `id` and
/// `token`.
#[derive(Clone, Debug)]
pub struct Interaction {
    kind: u8,
    id: String,
    token: String,
    guild_id: Option<String>,
    channel_id: String,
    user_id: String,
    username: String,
    global_name: Option<String>,
    roles: Vec<String>,
    permissions: String,
    command_name: String,
    path: Vec<String>,
    /// `(name, value, focused)`, in order.
    options: Vec<(String, OptionValue, bool)>,
    locale: String,
}

/// An APPLICATION_COMMAND (type 2) for `/factorio <path>`: `path` is empty
/// (the command itself), a subcommand (`"players"`), or a group and a
/// subcommand (`"admin kick"`).
pub fn interaction_command(path: &str) -> Interaction {
    let path: Vec<String> = path.split_whitespace().map(str::to_owned).collect();
    assert!(
        path.len() <= 2,
        "a command path has at most a group and a subcommand: {path:?}"
    );
    let n = snowflake();
    Interaction {
        kind: 2,
        token: format!("fake-interaction-token-{n}"),
        id: n,
        guild_id: Some(GUILD_ID.to_owned()),
        channel_id: CHANNEL_ID.to_owned(),
        user_id: USER_ID.to_owned(),
        username: USERNAME.to_owned(),
        global_name: Some(GLOBAL_NAME.to_owned()),
        roles: Vec::new(),
        permissions: MEMBER_PERMISSIONS.to_owned(),
        command_name: COMMAND_NAME.to_owned(),
        path,
        options: Vec::new(),
        locale: "en-US".to_owned(),
    }
}

/// An APPLICATION_COMMAND_AUTOCOMPLETE (type 4) for `/factorio <path>`
/// while the user types `partial` into the string option `focused`.
pub fn interaction_autocomplete(path: &str, focused: &str, partial: &str) -> Interaction {
    let mut interaction = interaction_command(path);
    interaction.kind = 4;
    interaction.focused(focused, partial)
}

impl Interaction {
    /// Adds an option at the innermost level (under the subcommand).
    pub fn option(mut self, name: &str, value: impl Into<OptionValue>) -> Interaction {
        self.options.push((name.to_owned(), value.into(), false));
        self
    }

    /// Adds a string option marked `focused: true`, as autocomplete sends
    /// the one being typed (its value may be partial or invalid).
    pub fn focused(mut self, name: &str, partial: &str) -> Interaction {
        self.options
            .push((name.to_owned(), OptionValue::from(partial), true));
        self
    }

    /// The member (or, with [`Interaction::in_dm`], the user) who ran it.
    pub fn user(mut self, id: &str, username: &str) -> Interaction {
        self.user_id = id.to_owned();
        self.username = username.to_owned();
        self
    }

    /// The user's display name; `None` for a user who never set one.
    pub fn global_name(mut self, name: Option<&str>) -> Interaction {
        self.global_name = name.map(str::to_owned);
        self
    }

    /// The member's role ids.
    pub fn roles(mut self, roles: &[&str]) -> Interaction {
        self.roles = roles.iter().map(|&r| r.to_owned()).collect();
        self
    }

    /// The member's permissions in the channel, a decimal bit set.
    pub fn permissions(mut self, permissions: &str) -> Interaction {
        self.permissions = permissions.to_owned();
        self
    }

    /// The member has [`ADMIN_PERMISSIONS`].
    pub fn admin(self) -> Interaction {
        self.permissions(ADMIN_PERMISSIONS)
    }

    pub fn channel(mut self, id: &str) -> Interaction {
        self.channel_id = id.to_owned();
        self
    }

    pub fn guild(mut self, id: &str) -> Interaction {
        self.guild_id = Some(id.to_owned());
        self
    }

    /// Run in a DM with the bot: no guild, `user` instead of `member`.
    pub fn in_dm(mut self) -> Interaction {
        self.guild_id = None;
        self
    }

    /// The command name (`factorio` until set).
    pub fn command_name(mut self, name: &str) -> Interaction {
        self.command_name = name.to_owned();
        self
    }

    /// The user's client locale (`en-US` until set).
    pub fn locale(mut self, locale: &str) -> Interaction {
        self.locale = locale.to_owned();
        self
    }

    /// Its `id`, for the callback URL `/interactions/{id}/{token}/callback`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its `token`, for the callback and follow-up URLs.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The INTERACTION_CREATE `d`.
    pub fn json(&self) -> Value {
        let user = json!({
            "id": self.user_id,
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": null,
            "public_flags": 0,
        });
        let mut data = json!({
            "id": COMMAND_ID,
            "name": self.command_name,
            "type": 1,
        });
        if let Some(guild_id) = &self.guild_id {
            data["guild_id"] = json!(guild_id);
        }
        if !(self.path.is_empty() && self.options.is_empty()) {
            data["options"] = Value::Array(self.options_json());
        }
        if let Some(resolved) = self.resolved() {
            data["resolved"] = resolved;
        }
        let mut d = json!({
            "id": self.id,
            "application_id": APPLICATION_ID,
            "type": self.kind,
            "data": data,
            "channel_id": self.channel_id,
            "token": self.token,
            "version": 1,
            "app_permissions": MEMBER_PERMISSIONS,
            "locale": self.locale,
            "entitlements": [],
            "attachment_size_limit": 10_485_760,
        });
        match &self.guild_id {
            Some(guild_id) => {
                d["guild_id"] = json!(guild_id);
                d["guild_locale"] = json!("en-US");
                d["context"] = json!(0);
                d["authorizing_integration_owners"] = json!({"0": guild_id});
                d["channel"] = json!({
                    "id": self.channel_id, "type": 0, "name": "factorio", "guild_id": guild_id,
                });
                d["member"] = json!({
                    "user": user,
                    "roles": self.roles,
                    "permissions": self.permissions,
                    "nick": null,
                    "avatar": null,
                    "joined_at": TIMESTAMP,
                    "premium_since": null,
                    "deaf": false,
                    "mute": false,
                    "pending": false,
                    "flags": 0,
                });
            }
            None => {
                d["context"] = json!(1);
                d["authorizing_integration_owners"] = json!({"0": "0"});
                d["channel"] = json!({"id": self.channel_id, "type": 1});
                d["user"] = user;
            }
        }
        d
    }

    /// The options, nested under the group and subcommand.
    fn options_json(&self) -> Vec<Value> {
        let leaves: Vec<Value> = self
            .options
            .iter()
            .map(|(name, value, focused)| {
                let mut option = json!({"name": name, "type": value.kind(), "value": value.json()});
                if *focused {
                    option["focused"] = json!(true);
                }
                option
            })
            .collect();
        match self.path.as_slice() {
            [] => leaves,
            [sub] => vec![json!({"name": sub, "type": 1, "options": leaves})],
            [group, sub] => vec![json!({
                "name": group,
                "type": 2,
                "options": [{"name": sub, "type": 1, "options": leaves}],
            })],
            _ => unreachable!("checked in interaction_command"),
        }
    }

    /// `data.resolved` for the options that name users, channels, roles or
    /// attachments.
    fn resolved(&self) -> Option<Value> {
        let mut sections: Map<String, Value> = Map::new();
        let mut put = |section: &str, id: &str, value: Value| {
            let entry = sections
                .entry(section.to_owned())
                .or_insert_with(|| json!({}));
            entry[id] = value;
        };
        for (_, value, _) in &self.options {
            match value {
                OptionValue::User(id) | OptionValue::Mentionable(id) => {
                    put(
                        "users",
                        id,
                        json!({"id": id, "username": format!("user-{id}"), "global_name": null,
                               "discriminator": "0", "avatar": null, "public_flags": 0}),
                    );
                    if self.guild_id.is_some() {
                        put(
                            "members",
                            id,
                            json!({"roles": [], "permissions": MEMBER_PERMISSIONS, "nick": null,
                                   "avatar": null, "joined_at": TIMESTAMP, "premium_since": null,
                                   "pending": false, "flags": 0}),
                        );
                    }
                }
                OptionValue::Channel(id) => put(
                    "channels",
                    id,
                    json!({"id": id, "name": format!("channel-{id}"), "type": 0,
                           "permissions": MEMBER_PERMISSIONS, "parent_id": null}),
                ),
                OptionValue::Role(id) => put(
                    "roles",
                    id,
                    json!({"id": id, "name": format!("role-{id}"), "color": 0, "hoist": false,
                           "position": 1, "permissions": "0", "managed": false,
                           "mentionable": true, "flags": 0}),
                ),
                OptionValue::Attachment(id) => put(
                    "attachments",
                    id,
                    attachment(&self.channel_id, id, "upload.txt", 12),
                ),
                _ => {}
            }
        }
        (!sections.is_empty()).then_some(Value::Object(sections))
    }
}

impl From<Interaction> for Value {
    fn from(interaction: Interaction) -> Value {
        interaction.json()
    }
}

impl From<&Interaction> for Value {
    fn from(interaction: &Interaction) -> Value {
        interaction.json()
    }
}

/// A MESSAGE_CREATE `d`: a member's message in the guild channel unless
/// changed. Each one gets a fresh `id`.
#[derive(Clone, Debug)]
pub struct ChatMessage {
    id: String,
    channel_id: String,
    guild_id: Option<String>,
    content: String,
    author_id: String,
    author_name: String,
    global_name: Option<String>,
    bot: bool,
    webhook_id: Option<String>,
    /// `(id, username)`.
    mentions: Vec<(String, String)>,
    mention_roles: Vec<String>,
    mention_everyone: bool,
    /// `(id, filename, size)`.
    attachments: Vec<(String, String, u64)>,
}

/// A message with `content` from the default member in [`CHANNEL_ID`].
pub fn message_create(content: &str) -> ChatMessage {
    ChatMessage {
        id: snowflake(),
        channel_id: CHANNEL_ID.to_owned(),
        guild_id: Some(GUILD_ID.to_owned()),
        content: content.to_owned(),
        author_id: USER_ID.to_owned(),
        author_name: USERNAME.to_owned(),
        global_name: Some(GLOBAL_NAME.to_owned()),
        bot: false,
        webhook_id: None,
        mentions: Vec::new(),
        mention_roles: Vec::new(),
        mention_everyone: false,
        attachments: Vec::new(),
    }
}

impl ChatMessage {
    /// The human author.
    pub fn author(mut self, id: &str, username: &str) -> ChatMessage {
        self.author_id = id.to_owned();
        self.author_name = username.to_owned();
        self
    }

    /// The author's display name; `None` for one never set.
    pub fn global_name(mut self, name: Option<&str>) -> ChatMessage {
        self.global_name = name.map(str::to_owned);
        self
    }

    /// The author is a bot (`author.bot: true`).
    pub fn bot(mut self) -> ChatMessage {
        self.bot = true;
        self
    }

    /// Sent by this bot itself, e.g. a relayed game event coming back.
    pub fn by_the_bot(self) -> ChatMessage {
        self.author(BOT_USER_ID, BOT_USERNAME)
            .global_name(None)
            .bot()
    }

    /// Sent through webhook `id` named `name`: `webhook_id` is set and the
    /// author is the webhook (its id and name, `bot: true`), with no member.
    pub fn webhook(mut self, id: &str, name: &str) -> ChatMessage {
        self.webhook_id = Some(id.to_owned());
        self.author(id, name).global_name(None).bot()
    }

    /// Mentions a user (`<@id>` is not added to the content).
    pub fn mention(mut self, id: &str, username: &str) -> ChatMessage {
        self.mentions.push((id.to_owned(), username.to_owned()));
        self
    }

    /// Mentions a role.
    pub fn mention_role(mut self, id: &str) -> ChatMessage {
        self.mention_roles.push(id.to_owned());
        self
    }

    /// `@everyone` or `@here` took effect.
    pub fn mention_everyone(mut self) -> ChatMessage {
        self.mention_everyone = true;
        self
    }

    /// Attaches a file.
    pub fn attachment(mut self, filename: &str, size: u64) -> ChatMessage {
        self.attachments
            .push((snowflake(), filename.to_owned(), size));
        self
    }

    pub fn channel(mut self, id: &str) -> ChatMessage {
        self.channel_id = id.to_owned();
        self
    }

    pub fn guild(mut self, id: &str) -> ChatMessage {
        self.guild_id = Some(id.to_owned());
        self
    }

    /// A DM to the bot: no `guild_id`, no `member`.
    pub fn in_dm(mut self) -> ChatMessage {
        self.guild_id = None;
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The MESSAGE_CREATE `d`.
    pub fn json(&self) -> Value {
        let member = json!({
            "roles": [],
            "nick": null,
            "avatar": null,
            "joined_at": TIMESTAMP,
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "pending": false,
            "flags": 0,
        });
        let mut author = json!({
            "id": self.author_id,
            "username": self.author_name,
            "global_name": self.global_name,
            "discriminator": if self.webhook_id.is_some() { "0000" } else { "0" },
            "avatar": null,
            "public_flags": 0,
        });
        // Discord leaves `bot` out for humans.
        if self.bot {
            author["bot"] = json!(true);
        }
        let mentions: Vec<Value> = self
            .mentions
            .iter()
            .map(|(id, name)| {
                let mut user = json!({"id": id, "username": name, "global_name": null,
                                      "discriminator": "0", "avatar": null, "public_flags": 0});
                if self.guild_id.is_some() {
                    user["member"] = member.clone();
                }
                user
            })
            .collect();
        let attachments: Vec<Value> = self
            .attachments
            .iter()
            .map(|(id, filename, size)| attachment(&self.channel_id, id, filename, *size))
            .collect();
        let mut d = json!({
            "id": self.id,
            "channel_id": self.channel_id,
            "type": 0,
            "content": self.content,
            "author": author,
            "timestamp": TIMESTAMP,
            "edited_timestamp": null,
            "tts": false,
            "mention_everyone": self.mention_everyone,
            "mentions": mentions,
            "mention_roles": self.mention_roles,
            "attachments": attachments,
            "embeds": [],
            "components": [],
            "pinned": false,
            "flags": 0,
        });
        if let Some(guild_id) = &self.guild_id {
            d["guild_id"] = json!(guild_id);
            // Webhook messages come with no member: the author is no user.
            if self.webhook_id.is_none() {
                d["member"] = member;
            }
        }
        if let Some(webhook_id) = &self.webhook_id {
            d["webhook_id"] = json!(webhook_id);
        }
        d
    }
}

impl From<ChatMessage> for Value {
    fn from(message: ChatMessage) -> Value {
        message.json()
    }
}

impl From<&ChatMessage> for Value {
    fn from(message: &ChatMessage) -> Value {
        message.json()
    }
}
