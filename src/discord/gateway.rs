//! The `gateway` thread: one Discord gateway session (v10, JSON), kept
//! alive through whatever Discord does.
//!
//! The thread owns the socket and does nothing else that can block: no
//! REST call while connected, no RCON, so a heartbeat is never late. The
//! socket has a read timeout that ends at the next heartbeat (at most
//! [`TICK`], to notice shutdown and presence updates), so one thread both
//! reads and writes.
//!
//! What it does with Discord's opcodes and close codes follows the docs
//! (protocols.md A1): the first heartbeat after `interval × jitter`; no ACK
//! between two heartbeats means a zombie connection, closed with 4000 and
//! resumed; RESUME goes to `resume_gateway_url` after op 7, op 9 `true`, a
//! resumable close code or a dropped connection; op 9 `false` and close
//! codes 4007/4009 start a new session; 4004 and 4010-4014 are fatal and
//! say what to fix. Identifies are spaced at least [`IDENTIFY_SPACING`]
//! apart and wait out `session_start_limit` when it is spent, since a
//! re-identify loop can get the token reset. Shutdown closes with 1000.
//!
//! Dispatches that matter to the bot (READY, INTERACTION_CREATE,
//! MESSAGE_CREATE) go out on a bounded channel with `try_send`: a slow
//! consumer loses events rather than making the session miss heartbeats.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use serde_json::{Value, json};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

use super::rest::Rest;
use crate::backoff::{self, Jitter};
use crate::health::Health;
use crate::secret::Secret;

/// Intents the config may need: none for slash commands alone.
pub const GUILDS: u64 = 1;
pub const GUILD_MESSAGES: u64 = 1 << 9;
pub const MESSAGE_CONTENT: u64 = 1 << 15;

/// Longest the loop goes without looking at shutdown and presence.
const TICK: Duration = Duration::from_millis(250);
/// HELLO must come this soon after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(20);
/// With `max_concurrency` 1, one identify per 5 s.
pub const IDENTIFY_SPACING: Duration = Duration::from_secs(5);
/// Reconnect backoff bounds.
const RECONNECT_MIN: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(60);
/// Connect, handshake and write timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest gateway message read (tungstenite's default is 64 MiB).
pub const MAX_PAYLOAD: usize = 8 << 20;

/// What the bot half hears from the gateway.
#[derive(Debug, Clone)]
pub enum Inbound {
    /// A session started (not on resume): IDs for REST and loop prevention.
    Ready {
        application_id: String,
        user_id: String,
    },
    /// An INTERACTION_CREATE payload (`d`).
    Interaction(Value),
    /// A MESSAGE_CREATE payload (`d`).
    Message(Value),
}

/// The heartbeat intervals taken from HELLO, in ms (Discord sends 41,250).
/// A peer that says 0 would have the session beat in a busy loop and call
/// every beat unacked; one that says years would overflow the clock.
const HEARTBEAT_BOUNDS: (u64, u64) = (100, 3_600_000);

/// One payload from Discord (a text frame), read without any I/O, so the
/// fuzz target drives the same reading with arbitrary text.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// op 0: event `t` with sequence number `s` and data `d`.
    Dispatch { t: String, s: Option<u64>, d: Value },
    /// op 1: send a heartbeat now.
    Heartbeat,
    /// op 7: reconnect and resume.
    Reconnect,
    /// op 9: the session is invalid; `d` says whether it may be resumed.
    InvalidSession { resumable: bool },
    /// op 10: heartbeat every `interval` (Discord's default when absent),
    /// held within [`HEARTBEAT_BOUNDS`].
    Hello { interval: Duration },
    /// op 11.
    HeartbeatAck,
    /// Any other opcode: ignored, as the docs ask of unknown ones.
    Other,
}

impl Payload {
    /// Reads a text frame; an error for text that is not JSON.
    pub fn read(text: &str) -> Result<Payload, serde_json::Error> {
        let mut payload: Value = serde_json::from_str(text)?;
        // `get_mut`, not `payload["d"]`: mutable indexing panics on a
        // payload that is valid JSON but not an object.
        let d = payload.get_mut("d").map(Value::take).unwrap_or_default();
        Ok(match payload["op"].as_u64() {
            Some(0) => Payload::Dispatch {
                t: payload["t"].as_str().unwrap_or("").to_owned(),
                s: payload["s"].as_u64(),
                d,
            },
            Some(1) => Payload::Heartbeat,
            Some(7) => Payload::Reconnect,
            Some(9) => Payload::InvalidSession {
                resumable: d.as_bool() == Some(true),
            },
            Some(10) => Payload::Hello {
                interval: Duration::from_millis(
                    d["heartbeat_interval"]
                        .as_u64()
                        .unwrap_or(41_250)
                        .clamp(HEARTBEAT_BOUNDS.0, HEARTBEAT_BOUNDS.1),
                ),
            },
            Some(11) => Payload::HeartbeatAck,
            _ => Payload::Other,
        })
    }
}

/// What the thread needs, handed over at spawn.
pub struct GatewayJob {
    pub rest: Rest,
    pub token: Secret,
    pub intents: u64,
    pub inbound: Sender<Inbound>,
    /// Activity text for the bot's presence ("3 players online").
    pub presence: Receiver<String>,
    pub shutdown: Receiver<()>,
    pub health: Arc<Health>,
}

/// A session that may be resumed.
#[derive(Debug, Clone)]
struct Session {
    id: String,
    seq: Option<u64>,
    resume_url: String,
}

/// Why `GET /gateway/bot` gave no URL.
enum UrlError {
    /// The token is rejected: retrying cannot help and risks a ban.
    Unauthorized,
    Other(String),
}

/// How one connection ended, and so what the next does.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Shutdown,
    /// Reconnect and RESUME (the session is kept).
    Resume(String),
    /// Reconnect and IDENTIFY (the session is gone).
    Identify(String),
    /// Do not reconnect; the message says what to fix.
    Fatal(String),
}

/// A TCP stream, with TLS for `wss://`.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Counts a connection's state between frames.
struct Beat {
    interval: Duration,
    next: Instant,
    /// A heartbeat was sent and not yet acknowledged.
    awaiting_ack: bool,
}

impl GatewayJob {
    /// Runs until shutdown. A fatal close code ends reconnecting but not
    /// the thread: /health says unhealthy with the reason until shutdown.
    pub fn run(self) -> Result<(), String> {
        let mut jitter = Jitter::seeded();
        let mut session: Option<Session> = None;
        let mut failures = 0u32;
        let mut last_identify: Option<Instant> = None;
        let mut tls = None;
        // The last presence asked for, sent again on every new session.
        let mut presence: Option<String> = None;
        loop {
            let url = match &session {
                Some(s) => s.resume_url.clone(),
                None => match self.gateway_url(&mut last_identify) {
                    Ok(Some(url)) => url,
                    Ok(None) => return Ok(()),
                    Err(UrlError::Unauthorized) => {
                        self.stop_for(
                            "Discord rejected the bot token (401 on GET /gateway/bot): copy it again from Developer \
                             Portal > Bot > Reset Token into discord.bot_token, then restart"
                                .to_owned(),
                        );
                        return Ok(());
                    }
                    Err(UrlError::Other(e)) => {
                        failures += 1;
                        log::warn!("cannot get the gateway URL: {e}");
                        if self.pause(backoff::delay(
                            failures,
                            RECONNECT_MIN,
                            RECONNECT_MAX,
                            jitter.sample(),
                        )) {
                            return Ok(());
                        }
                        continue;
                    }
                },
            };
            self.set_state(if session.is_some() {
                "resuming"
            } else {
                "connecting"
            });
            let end = match connect(&url, &mut tls) {
                Ok(mut ws) => {
                    let (end, was_ready) = self.converse(
                        &mut ws,
                        &mut session,
                        &mut jitter,
                        &mut last_identify,
                        &mut presence,
                    );
                    if end != End::Shutdown {
                        let _ = ws.get_mut().tcp().shutdown(std::net::Shutdown::Both);
                    }
                    // A session that worked starts the backoff afresh: only
                    // failures in a row make reconnects slow.
                    if was_ready {
                        failures = 0;
                    }
                    end
                }
                Err(e) => End::Resume(format!("cannot connect: {e}")),
            };
            match end {
                End::Shutdown => return Ok(()),
                End::Fatal(why) => {
                    self.stop_for(why);
                    return Ok(());
                }
                End::Resume(why) => {
                    failures += 1;
                    log::info!("gateway: {why}; reconnecting");
                }
                End::Identify(why) => {
                    failures += 1;
                    session = None;
                    log::info!("gateway: {why}; starting a new session");
                }
            }
            // The first reconnect is quick; repeated failures back off.
            let wait = backoff::delay(failures, RECONNECT_MIN, RECONNECT_MAX, jitter.sample());
            if self.pause(wait) {
                return Ok(());
            }
        }
    }

    /// Gives up for good: logs why, tells /health, and waits for shutdown
    /// (ending the thread would stop the daemon, and delivery may still
    /// work).
    fn stop_for(&self, why: String) {
        log::error!("{why}");
        self.health.lock().discord.gateway_fatal = Some(why);
        self.set_state("stopped");
        let _ = self.shutdown.recv();
    }

    /// `GET /gateway/bot`, waiting out a spent `session_start_limit`;
    /// `None` on shutdown.
    fn gateway_url(&self, last_identify: &mut Option<Instant>) -> Result<Option<String>, UrlError> {
        let reply = self
            .rest
            .get(&self.rest.url("gateway/bot"))
            .map_err(|e| UrlError::Other(e.to_string()))?;
        match reply.status {
            200 => {}
            401 => return Err(UrlError::Unauthorized),
            s => return Err(UrlError::Other(format!("HTTP {s} {}", reply.message()))),
        }
        let body: Value = serde_json::from_str(&reply.body)
            .map_err(|e| UrlError::Other(format!("bad JSON: {e}")))?;
        let url = body["url"]
            .as_str()
            .ok_or_else(|| UrlError::Other("no url in the answer".to_owned()))?
            .to_owned();
        let limit = &body["session_start_limit"];
        if limit["remaining"].as_u64() == Some(0) {
            let wait = Duration::from_millis(limit["reset_after"].as_u64().unwrap_or(60_000));
            log::warn!(
                "Discord allows no more new sessions until the daily limit resets in {}s; waiting \
                 (a bot that re-identifies in a loop can get its token reset)",
                wait.as_secs()
            );
            if self.pause(wait) {
                return Ok(None);
            }
        }
        if let Some(at) = *last_identify {
            let left = IDENTIFY_SPACING.saturating_sub(at.elapsed());
            if self.pause(left) {
                return Ok(None);
            }
        }
        *last_identify = Some(Instant::now());
        Ok(Some(url))
    }

    /// Sleeps `d` unless shutdown comes first; true on shutdown.
    fn pause(&self, d: Duration) -> bool {
        !matches!(
            self.shutdown.recv_timeout(d),
            Err(crossbeam_channel::RecvTimeoutError::Timeout)
        )
    }

    fn set_state(&self, state: &str) {
        let mut health = self.health.lock();
        let d = &mut health.discord;
        // The clock runs from the last change between ready and not, so
        // a reconnect loop that changes its wording does not reset it.
        let was_ready = d.gateway.as_deref() == Some("ready");
        if was_ready != (state == "ready") || d.gateway_since.is_none() {
            d.gateway_since = Some(Instant::now());
        }
        d.gateway = Some(state.to_owned());
    }

    /// One connection, from HELLO to its end.
    fn converse(
        &self,
        ws: &mut WebSocket<Stream>,
        session: &mut Option<Session>,
        jitter: &mut Jitter,
        last_identify: &mut Option<Instant>,
        presence: &mut Option<String>,
    ) -> (End, bool) {
        let connected = Instant::now();
        let mut beat: Option<Beat> = None;
        let mut ready = false;
        let end = loop {
            let now = Instant::now();
            let until_beat = beat
                .as_ref()
                .map_or(TICK, |b| b.next.saturating_duration_since(now));
            let timeout = until_beat.clamp(Duration::from_millis(1), TICK);
            let _ = ws.get_ref().tcp().set_read_timeout(Some(timeout));
            match ws.read() {
                Ok(Message::Text(text)) => {
                    let payload = match Payload::read(text.as_str()) {
                        Ok(p) => p,
                        // Resuming would replay it: a new session skips it.
                        Err(e) => break End::Identify(format!("undecodable payload ({e})")),
                    };
                    let was_ready = ready;
                    if matches!(&payload, Payload::Dispatch { t, .. } if t == "READY" || t == "RESUMED")
                    {
                        ready = true;
                    }
                    if let Some(end) =
                        self.handle(ws, &payload, &mut beat, session, jitter, last_identify)
                    {
                        break end;
                    }
                    // A new or resumed session shows the last presence.
                    if ready
                        && !was_ready
                        && let Some(text) = presence.as_deref()
                        && let Err(e) = send(ws, &presence_payload(text))
                    {
                        break End::Resume(format!("cannot send presence ({e})"));
                    }
                }
                Ok(Message::Close(frame)) => {
                    break closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    break End::Resume("the connection closed".to_owned());
                }
                // Too large to read: resuming would replay it, so a new
                // session skips it (what it held is lost, the rest is not).
                Err(e @ tungstenite::Error::Capacity(_)) => {
                    break End::Identify(format!("a payload was refused ({e})"));
                }
                Err(e) => break End::Resume(format!("the connection broke ({e})")),
            }
            if beat.is_none() && connected.elapsed() > HELLO_TIMEOUT {
                break End::Resume("no HELLO".to_owned());
            }
            if let Some(b) = &mut beat
                && Instant::now() >= b.next
            {
                if b.awaiting_ack {
                    let _ = ws.close(Some(close_frame(4000, "zombied connection")));
                    break End::Resume(
                        "no heartbeat ACK since the last heartbeat (zombied connection)".to_owned(),
                    );
                }
                if let Err(e) = send(ws, &heartbeat(session)) {
                    break End::Resume(format!("cannot send a heartbeat ({e})"));
                }
                b.awaiting_ack = true;
                b.next += b.interval;
            }
            if !matches!(
                self.shutdown.try_recv(),
                Err(crossbeam_channel::TryRecvError::Empty)
            ) {
                // 1000 ends the session: the bot shows offline at once.
                let _ = ws.close(Some(close_frame(1000, "shutting down")));
                let _ = ws
                    .get_ref()
                    .tcp()
                    .set_read_timeout(Some(Duration::from_millis(500)));
                // Let the close handshake finish, briefly, so the frame is
                // sent; a peer that keeps talking does not hold us.
                let deadline = Instant::now() + Duration::from_millis(500);
                while Instant::now() < deadline && ws.read().is_ok() {}
                break End::Shutdown;
            }
            if let Ok(text) = self.presence.try_recv() {
                if ready && let Err(e) = send(ws, &presence_payload(&text)) {
                    break End::Resume(format!("cannot send presence ({e})"));
                }
                *presence = Some(text);
            }
        };
        (end, ready)
    }

    /// Acts on one payload; `Some` ends the connection.
    fn handle(
        &self,
        ws: &mut WebSocket<Stream>,
        payload: &Payload,
        beat: &mut Option<Beat>,
        session: &mut Option<Session>,
        jitter: &mut Jitter,
        last_identify: &mut Option<Instant>,
    ) -> Option<End> {
        match payload {
            Payload::Dispatch { t, s, d } => {
                if let (Some(s), Some(session)) = (s, session.as_mut()) {
                    session.seq = Some(*s);
                }
                self.dispatch(t, d, *s, session);
                None
            }
            Payload::Heartbeat => send(ws, &heartbeat(session))
                .err()
                .map(|e| End::Resume(format!("cannot send a heartbeat ({e})"))),
            Payload::Reconnect => {
                let _ = ws.close(Some(close_frame(4000, "reconnect requested")));
                Some(End::Resume(
                    "Discord asked for a reconnect (op 7)".to_owned(),
                ))
            }
            Payload::InvalidSession { resumable } => {
                if *resumable && session.is_some() {
                    let _ = ws.close(Some(close_frame(4000, "resuming")));
                    Some(End::Resume("invalid session, resumable (op 9)".to_owned()))
                } else {
                    let _ = ws.close(Some(close_frame(1000, "new session")));
                    *session = None;
                    Some(End::Identify("invalid session (op 9)".to_owned()))
                }
            }
            Payload::Hello { interval } => {
                // A thread told to stop while connecting must not start a
                // session next to its successor's (a reload).
                if !matches!(
                    self.shutdown.try_recv(),
                    Err(crossbeam_channel::TryRecvError::Empty)
                ) {
                    return Some(End::Shutdown);
                }
                let interval = *interval;
                *beat = Some(Beat {
                    interval,
                    next: Instant::now() + interval.mul_f64(jitter.sample().clamp(0.0, 1.0)),
                    awaiting_ack: false,
                });
                let hello_reply = match session {
                    Some(s) => json!({"op": 6, "d": {
                        "token": self.token.expose(),
                        "session_id": s.id,
                        "seq": s.seq,
                    }}),
                    None => {
                        *last_identify = Some(Instant::now());
                        json!({"op": 2, "d": {
                            "token": self.token.expose(),
                            "intents": self.intents,
                            "properties": {"os": std::env::consts::OS, "browser": "factorio-isr", "device": "factorio-isr"},
                        }})
                    }
                };
                send(ws, &hello_reply)
                    .err()
                    .map(|e| End::Resume(format!("cannot identify ({e})")))
            }
            Payload::HeartbeatAck => {
                if let Some(b) = beat {
                    b.awaiting_ack = false;
                }
                None
            }
            Payload::Other => None,
        }
    }

    fn dispatch(&self, t: &str, d: &Value, s: Option<u64>, session: &mut Option<Session>) {
        let inbound = match t {
            "READY" => {
                *session = Some(Session {
                    id: d["session_id"].as_str().unwrap_or_default().to_owned(),
                    seq: s,
                    resume_url: d["resume_gateway_url"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                });
                self.set_state("ready");
                log::info!(
                    "gateway session ready as {}",
                    d["user"]["username"].as_str().unwrap_or("the bot")
                );
                Inbound::Ready {
                    application_id: d["application"]["id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    user_id: d["user"]["id"].as_str().unwrap_or_default().to_owned(),
                }
            }
            "RESUMED" => {
                self.set_state("ready");
                log::info!("gateway session resumed");
                return;
            }
            "INTERACTION_CREATE" => Inbound::Interaction(d.clone()),
            "MESSAGE_CREATE" => Inbound::Message(d.clone()),
            _ => return,
        };
        match self.inbound.try_send(inbound) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                log::warn!("the bot is behind; a {t} from Discord was dropped");
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// What a close frame from Discord means for the next connection.
fn closed(frame: Option<(u16, String)>) -> End {
    let Some((code, reason)) = frame else {
        return End::Resume("Discord closed the connection".to_owned());
    };
    let fix = match code {
        4004 => Some(
            "Discord rejected the bot token (gateway close 4004): copy it again from Developer Portal > Bot > \
             Reset Token into discord.bot_token, then restart",
        ),
        4010 | 4011 => Some(
            "Discord requires sharding for this bot (close 4010/4011); factorio-isr runs one shard",
        ),
        4012 => Some("Discord refused the gateway version (close 4012); update factorio-isr"),
        4013 => Some("Discord refused the intents (close 4013); report this as a bug"),
        4014 => Some(
            "Discord refused the Message Content intent (close 4014): enable it in Developer Portal > Bot > \
             Privileged Gateway Intents, or remove chat_channel_id and use /factorio say",
        ),
        _ => None,
    };
    match (fix, code) {
        (Some(fix), _) => End::Fatal(fix.to_owned()),
        (None, 4007 | 4009) => End::Identify(format!("session ended by Discord ({code} {reason})")),
        (None, _) => End::Resume(format!("Discord closed the connection ({code} {reason})")),
    }
}

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    }
}

fn heartbeat(session: &Option<Session>) -> Value {
    json!({"op": 1, "d": session.as_ref().and_then(|s| s.seq)})
}

fn presence_payload(text: &str) -> Value {
    // Activity type 4 is a custom status: the text as written.
    json!({"op": 3, "d": {
        "since": null,
        "activities": [{"name": "Custom Status", "type": 4, "state": text}],
        "status": "online",
        "afk": false,
    }})
}

fn send(ws: &mut WebSocket<Stream>, payload: &Value) -> Result<(), tungstenite::Error> {
    ws.send(Message::text(payload.to_string()))
}

/// `host[:port]` or `[v6]:port` into host and port.
fn split_authority(authority: &str) -> (String, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (
            host.to_owned(),
            after.strip_prefix(':').and_then(|p| p.parse().ok()),
        );
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().ok()),
        None => (authority.to_owned(), None),
    }
}

/// Opens `url` (`ws://` or `wss://`) with `v=10&encoding=json`.
fn connect(
    url: &str,
    tls: &mut Option<Arc<rustls::ClientConfig>>,
) -> Result<WebSocket<Stream>, String> {
    let (secure, rest) = if let Some(rest) = url.strip_prefix("wss://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("ws://") {
        (false, rest)
    } else {
        return Err("the gateway URL is neither ws:// nor wss://".to_owned());
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (host, port) = split_authority(authority);
    let port = port.unwrap_or(if secure { 443 } else { 80 });
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .map_err(|e| format!("cannot resolve the gateway host ({e})"))?
        .next()
        .ok_or("the gateway host has no address")?;
    let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.kind().to_string())?;
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
    let stream = if secure {
        let config = match tls {
            Some(c) => c.clone(),
            None => {
                let c = super::tls::client_config()?;
                *tls = Some(c.clone());
                c
            }
        };
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| "the gateway host is not a valid TLS name".to_owned())?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| format!("TLS: {e}"))?;
        Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
    } else {
        Stream::Plain(tcp)
    };
    let base = url.split('?').next().unwrap_or(url).trim_end_matches('/');
    let request = format!("{base}/?v=10&encoding=json");
    // Discord's largest dispatch for our intents (GUILD_CREATE of a large
    // server) stays well under this; a bigger payload is refused while
    // reading instead of being buffered whole, and the session resumes.
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_PAYLOAD))
        .max_frame_size(Some(MAX_PAYLOAD));
    let (ws, _) = tungstenite::client::client_with_config(request.as_str(), stream, Some(config))
        .map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => format!("handshake failed ({e})"),
        tungstenite::HandshakeError::Interrupted(_) => "handshake interrupted".to_owned(),
    })?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            split_authority("gateway.discord.gg"),
            ("gateway.discord.gg".into(), None)
        );
        assert_eq!(
            split_authority("127.0.0.1:9000"),
            ("127.0.0.1".into(), Some(9000))
        );
        assert_eq!(split_authority("[::1]:9000"), ("::1".into(), Some(9000)));
        assert_eq!(split_authority("[::1]"), ("::1".into(), None));
    }

    #[test]
    fn payloads_read_by_opcode() {
        let read = |text: &str| Payload::read(text).expect("JSON");
        assert_eq!(
            read(r#"{"op":0,"t":"READY","s":3,"d":{"v":10}}"#),
            Payload::Dispatch {
                t: "READY".to_owned(),
                s: Some(3),
                d: json!({"v": 10}),
            }
        );
        assert_eq!(
            read(r#"{"op":10,"d":{"heartbeat_interval":45000}}"#),
            Payload::Hello {
                interval: Duration::from_secs(45)
            }
        );
        assert_eq!(
            read(r#"{"op":10}"#),
            Payload::Hello {
                interval: Duration::from_millis(41_250)
            }
        );
        // A hostile or broken peer's interval is held within bounds.
        for (said, taken) in [(0, 100), (u64::MAX, 3_600_000), (99, 100)] {
            assert_eq!(
                read(&format!(
                    r#"{{"op":10,"d":{{"heartbeat_interval":{said}}}}}"#
                )),
                Payload::Hello {
                    interval: Duration::from_millis(taken)
                }
            );
        }
        assert_eq!(
            read(r#"{"op":9,"d":true}"#),
            Payload::InvalidSession { resumable: true }
        );
        assert_eq!(
            read(r#"{"op":9,"d":"true"}"#),
            Payload::InvalidSession { resumable: false }
        );
        assert_eq!(read(r#"{"op":1,"d":null}"#), Payload::Heartbeat);
        assert_eq!(read(r#"{"op":7}"#), Payload::Reconnect);
        assert_eq!(read(r#"{"op":11}"#), Payload::HeartbeatAck);
        // Unknown opcodes and JSON that is no payload at all are ignored.
        for other in [
            r#"{"op":99}"#,
            r#"{"op":0.0,"t":"READY"}"#,
            "[1,2]",
            "7",
            "null",
        ] {
            assert_eq!(read(other), Payload::Other, "{other}");
        }
        assert!(Payload::read("not json").is_err());
    }

    #[test]
    fn close_codes_decide_what_comes_next() {
        assert!(
            matches!(closed(Some((4004, String::new()))), End::Fatal(m) if m.contains("discord.bot_token"))
        );
        assert!(
            matches!(closed(Some((4014, String::new()))), End::Fatal(m) if m.contains("Message Content"))
        );
        for code in [4010, 4011, 4012, 4013] {
            assert!(
                matches!(closed(Some((code, String::new()))), End::Fatal(_)),
                "{code}"
            );
        }
        for code in [4007, 4009] {
            assert!(
                matches!(closed(Some((code, String::new()))), End::Identify(_)),
                "{code}"
            );
        }
        for code in [1000, 1001, 4000, 4001, 4002, 4003, 4005, 4008] {
            assert!(
                matches!(closed(Some((code, String::new()))), End::Resume(_)),
                "{code}"
            );
        }
        assert!(matches!(closed(None), End::Resume(_)));
    }
}
