//! Source RCON as Factorio speaks it: the packet codec and a blocking
//! client for one authenticated connection.
//!
//! A packet is `size | id | type | body | 0 0`, little-endian, where `size`
//! counts everything after itself. Factorio answers an auth with a single
//! packet whose id echoes ours (or is -1 for a wrong password), and every
//! command with exactly one reply carrying the command's id, however long:
//! so the client reads by length and never uses Valve's empty-packet trick.
//! Ids start at 1 (id 0 may receive buffered log lines on some servers).
//! A reply that arrives after its command timed out (the game was saving)
//! is recognised by its id and dropped, so the connection survives.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::secret::Secret;

pub const SERVERDATA_AUTH: i32 = 3;
pub const SERVERDATA_AUTH_RESPONSE: i32 = 2;
pub const SERVERDATA_EXECCOMMAND: i32 = 2;
pub const SERVERDATA_RESPONSE_VALUE: i32 = 0;

/// Largest packet accepted: far above any real reply, small enough that a
/// corrupt length cannot make us allocate the machine away.
pub const MAX_PACKET: usize = 16 << 20;
/// Longest command sent: Factorio drops the session on commands of about
/// 4 KB and more.
pub const MAX_COMMAND: usize = 4000;

/// One RCON packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub id: i32,
    pub kind: i32,
    pub body: Vec<u8>,
}

/// The bytes of a packet.
pub fn encode(id: i32, kind: i32, body: &[u8]) -> Vec<u8> {
    let size = (4 + 4 + body.len() + 2) as i32;
    let mut out = Vec::with_capacity(4 + size as usize);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&[0, 0]);
    out
}

/// Decodes the first packet in `buf`: `Ok(None)` while more bytes are
/// needed, else the packet and how many bytes it used.
pub fn decode(buf: &[u8]) -> Result<Option<(Packet, usize)>, Error> {
    let Some(size) = buf
        .get(..4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return Ok(None);
    };
    if size < 10 || size as usize > MAX_PACKET {
        return Err(Error::Protocol(format!(
            "packet length {size} is impossible"
        )));
    }
    let total = 4 + size as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let int = |at: usize| i32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let body = buf[12..total - 2].to_vec();
    Ok(Some((
        Packet {
            id: int(4),
            kind: int(8),
            body,
        },
        total,
    )))
}

/// Takes the first whole packet off the front of `buf`, the bytes read so
/// far from the stream: `Ok(None)` while it holds only part of one. This
/// is the client's framing, public so the fuzz target drives it with
/// arbitrary bytes and read sizes.
pub fn take_packet(buf: &mut Vec<u8>) -> Result<Option<Packet>, Error> {
    Ok(decode(buf)?.map(|(packet, used)| {
        buf.drain(..used);
        packet
    }))
}

/// Why an RCON exchange failed. Never includes the password.
#[derive(Debug)]
pub enum Error {
    /// The TCP connection could not be made.
    Connect { addr: String, source: io::Error },
    /// The server answered the auth with -1.
    WrongPassword { addr: String },
    /// No reply within the timeout; the connection may still be good (a
    /// save blocks RCON for seconds).
    Timeout,
    /// The server closed the connection or it broke before the command
    /// was sent whole: it did not run.
    Closed(String),
    /// The connection broke after the command was sent, before its reply:
    /// it may have run. Not to be sent again blindly (a `say` or a `ban`
    /// would happen twice).
    Lost(String),
    /// Bytes that are not RCON.
    Protocol(String),
    /// A command we refuse to send.
    BadCommand(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Connect { addr, source } => write!(
                f,
                "cannot connect to RCON at {addr}: {source} (is Factorio running with --rcon-port and --rcon-password?)"
            ),
            Error::WrongPassword { addr } => write!(
                f,
                "wrong RCON password for {addr} (rcon_password must equal Factorio's --rcon-password)"
            ),
            Error::Timeout => f.write_str("no RCON reply in time (the game may be saving)"),
            Error::Closed(why) => write!(f, "RCON connection lost: {why}"),
            Error::Lost(why) => write!(
                f,
                "RCON connection lost after the command was sent, so it may have run: {why}"
            ),
            Error::Protocol(why) => write!(f, "RCON protocol error: {why}"),
            Error::BadCommand(why) => write!(f, "command not sent: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// One authenticated RCON connection.
pub struct Client {
    stream: TcpStream,
    next_id: i32,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Client {
    /// Connects to `addr` (`host:port`) and authenticates. `timeout` bounds
    /// the connect, the auth and each command.
    pub fn connect(addr: &str, password: &Secret, timeout: Duration) -> Result<Self, Error> {
        let connect_err = |source| Error::Connect {
            addr: addr.to_owned(),
            source,
        };
        let sockets = addr.to_socket_addrs().map_err(connect_err)?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        let mut stream = None;
        for socket in sockets {
            match TcpStream::connect_timeout(&socket, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or_else(|| connect_err(last))?;
        stream.set_nodelay(true).map_err(connect_err)?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(connect_err)?;
        let mut client = Self {
            stream,
            next_id: 1,
            buf: Vec::new(),
            timeout,
        };
        let id = client.take_id();
        client.send(id, SERVERDATA_AUTH, password.expose().as_bytes())?;
        let reply = client.read_packet(Instant::now() + timeout)?;
        if reply.kind != SERVERDATA_AUTH_RESPONSE {
            return Err(Error::Protocol(format!(
                "expected an auth response, got type {}",
                reply.kind
            )));
        }
        if reply.id == -1 {
            return Err(Error::WrongPassword {
                addr: addr.to_owned(),
            });
        }
        if reply.id != id {
            return Err(Error::Protocol(format!(
                "auth response for id {} instead of {id}",
                reply.id
            )));
        }
        Ok(client)
    }

    fn take_id(&mut self) -> i32 {
        let id = self.next_id;
        // Stay positive and skip 0 when wrapping after two billion commands.
        self.next_id = if self.next_id == i32::MAX {
            1
        } else {
            self.next_id + 1
        };
        id
    }

    /// Runs `command` and returns Factorio's reply text.
    pub fn exec(&mut self, command: &str) -> Result<String, Error> {
        if command.len() > MAX_COMMAND {
            return Err(Error::BadCommand(format!(
                "{} bytes is over the {MAX_COMMAND}-byte limit Factorio accepts",
                command.len()
            )));
        }
        if command.contains('\0') {
            return Err(Error::BadCommand("it contains a NUL byte".to_owned()));
        }
        let id = self.take_id();
        self.send(id, SERVERDATA_EXECCOMMAND, command.as_bytes())?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let packet = self.read_packet(deadline).map_err(|e| match e {
                Error::Closed(why) => Error::Lost(why),
                e => e,
            })?;
            // Older ids are late replies to commands that timed out.
            if packet.id == id {
                return Ok(String::from_utf8_lossy(&packet.body).into_owned());
            }
        }
    }

    /// Whether the server has closed the connection (or reset it) while it
    /// was idle: Factorio restarted, say. A command written to it would be
    /// taken by the kernel and fail only at the read, when it is no longer
    /// known whether it ran; asked first, it is known that it did not.
    pub fn peer_closed(&self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let mut byte = [0u8; 1];
        let closed = match self.stream.peek(&mut byte) {
            Ok(0) => true,
            // A late reply to a command that timed out: still open.
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        self.stream.set_nonblocking(false).is_err() || closed
    }

    /// Any write error closes: a packet cut off by a write timeout would
    /// leave the stream's framing broken for every later command.
    fn send(&mut self, id: i32, kind: i32, body: &[u8]) -> Result<(), Error> {
        self.stream
            .write_all(&encode(id, kind, body))
            .map_err(|e| Error::Closed(e.to_string()))
    }

    fn read_packet(&mut self, deadline: Instant) -> Result<Packet, Error> {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(packet) = take_packet(&mut self.buf)? {
                return Ok(packet);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| Error::Closed(e.to_string()))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Error::Closed("the server closed the connection".to_owned())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                // The read timeout (EAGAIN). ETIMEDOUT (`TimedOut`) is TCP
                // giving up on a dead peer: the connection is gone.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(Error::Timeout),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Closed(e.to_string())),
            }
        }
    }
}

/// A command for a server's RCON thread, answered on `reply`.
pub struct Request {
    pub command: String,
    pub reply: crossbeam_channel::Sender<Result<String, Error>>,
    /// Not sent after this: whoever asked has given up (and told a
    /// Discord member so), and a command that runs minutes later would
    /// surprise everyone.
    pub deadline: Instant,
}

/// How the RCON thread reaches its server.
pub struct Target {
    /// The server's id, for messages.
    pub server: std::sync::Arc<str>,
    /// `host:port`, for connecting and for messages (never the password).
    pub addr: String,
    pub password: Secret,
    /// Connect, auth and per-command timeout.
    pub timeout: Duration,
    /// Commands timing out for this long mean a hung game or a dead peer
    /// ([`HUNG_AFTER`] in the daemon).
    pub hung_after: Duration,
}

/// Backoff between connection attempts: 1 s doubling to 60 s, with jitter.
const RECONNECT_MIN: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(60);
/// Commands timing out for this long is no save (even a huge map saves
/// in well under a minute): the game hangs or the peer is gone without a
/// word. The connection is dropped and made again, which tells which.
pub const HUNG_AFTER: Duration = Duration::from_secs(120);

/// The body of an `rcon/<server>` thread: owns the one connection to the
/// server and runs requests in the order they arrive, from the stats poller
/// and from Discord alike. While the server cannot be reached, requests
/// are answered at once with the error (nobody waits on a dead server) and
/// the connection is retried with backoff; a wrong password is reported
/// once and retried at the slowest pace, so the server is not hammered.
pub fn serve(
    target: &Target,
    requests: &crossbeam_channel::Receiver<Request>,
    shutdown: &crossbeam_channel::Receiver<()>,
    health: &crate::health::Health,
    slot: usize,
) {
    let mut client: Option<Client> = None;
    let mut failures = 0u32;
    let mut retry_at = Instant::now();
    // The kind of connect error last logged: a new kind (refused while
    // Factorio starts, then a wrong password) is logged again.
    let mut reported: Option<std::mem::Discriminant<Error>> = None;
    let mut jitter = crate::backoff::Jitter::seeded();
    // Since when every command has timed out; `None` after an answer.
    let mut silent_since: Option<Instant> = None;
    let mut version_known = false;
    loop {
        if client.is_none() && Instant::now() >= retry_at {
            match Client::connect(&target.addr, &target.password, target.timeout) {
                Ok(c) => {
                    if failures > 0 {
                        log::info!("RCON of server {} connected again", target.server);
                    }
                    // Once per connection: the game may have been updated
                    // while it was away, and Lua differs between 1.1 and 2.0.
                    let mut c = c;
                    version_known = ask_version(&mut c, health, slot);
                    client = Some(c);
                    failures = 0;
                    reported = None;
                    silent_since = None;
                    health.rcon(slot, |r| {
                        r.up = Some(true);
                        r.last_error = None;
                    });
                }
                Err(e) => {
                    failures += 1;
                    let why = e.to_string();
                    health.rcon(slot, |r| {
                        r.up = Some(false);
                        r.last_error = Some(why);
                    });
                    let wrong_password = matches!(e, Error::WrongPassword { .. });
                    // A wrong password waits the longest at once.
                    let min = if wrong_password {
                        RECONNECT_MAX
                    } else {
                        RECONNECT_MIN
                    };
                    let wait = crate::backoff::delay(failures, min, RECONNECT_MAX, jitter.sample());
                    retry_at = Instant::now() + wait;
                    let kind = std::mem::discriminant(&e);
                    if reported.replace(kind) != Some(kind) {
                        log::warn!(
                            "RCON of server {}: {e}; retrying (every {}s at most)",
                            target.server,
                            RECONNECT_MAX.as_secs()
                        );
                    }
                }
            }
        }
        let wait = if client.is_some() {
            Duration::from_secs(3600)
        } else {
            retry_at.saturating_duration_since(Instant::now())
        };
        crossbeam_channel::select! {
            recv(shutdown) -> _ => return,
            recv(requests) -> request => {
                let Ok(request) = request else { return };
                if Instant::now() >= request.deadline {
                    let _ = request.reply.send(Err(Error::Timeout));
                    continue;
                }
                let sent = Instant::now();
                let result = match client.as_mut() {
                    // Not sent, so "not reachable" is true and the next
                    // loop connects again at once.
                    Some(c) if c.peer_closed() => Err(Error::Closed(
                        "the server closed the connection while it was idle".to_owned(),
                    )),
                    Some(c) => c.exec(&request.command),
                    None => Err(Error::Closed(format!("not connected to {}; retrying", target.addr))),
                };
                if result.is_ok() {
                    let took = sent.elapsed().as_secs_f64();
                    health.rcon(slot, |r| {
                        r.commands += 1;
                        r.command_seconds += took;
                    });
                }
                let now = Instant::now();
                let hung = match &result {
                    Err(Error::Timeout) => {
                        now.duration_since(*silent_since.get_or_insert(sent)) >= target.hung_after
                    }
                    _ => {
                        silent_since = None;
                        false
                    }
                };
                let broken = matches!(
                    &result,
                    Err(Error::Closed(_) | Error::Lost(_) | Error::Protocol(_))
                );
                if (broken || hung) && client.take().is_some() {
                    let why = if hung {
                        format!("no answer for {} s", target.hung_after.as_secs())
                    } else {
                        "connection lost".to_owned()
                    };
                    log::warn!("RCON of server {}: {why}; reconnecting", target.server);
                    health.rcon(slot, |r| {
                        r.up = Some(false);
                        r.last_error = Some(format!("{why}; reconnecting"));
                    });
                    failures = 1;
                    retry_at = Instant::now();
                    silent_since = None;
                }
                let answered = result.is_ok();
                let _ = request.reply.send(result);
                // `/version` timed out at connect (a save): ask again once
                // the game answers, before any Lua is chosen by it.
                if answered
                    && !version_known
                    && let Some(c) = client.as_mut()
                {
                    version_known = ask_version(c, health, slot);
                }
            }
            default(wait) => {}
        }
    }
}

/// Asks `/version` and records it; false if the game did not say.
fn ask_version(client: &mut Client, health: &crate::health::Health, slot: usize) -> bool {
    let Ok(text) = client.exec("/version") else {
        return false;
    };
    let version = text.trim().to_owned();
    health.rcon(slot, |r| r.version = Some(version));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_and_partial_input_waits() {
        let bytes = encode(7, SERVERDATA_EXECCOMMAND, b"/time");
        assert_eq!(bytes.len(), 4 + 10 + 5);
        assert_eq!(&bytes[..4], &15i32.to_le_bytes());
        for cut in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..cut]).expect("valid prefix"),
                None,
                "cut at {cut}"
            );
        }
        let (p, used) = decode(&bytes).expect("valid").expect("complete");
        assert_eq!(
            (p.id, p.kind, p.body.as_slice(), used),
            (7, SERVERDATA_EXECCOMMAND, &b"/time"[..], bytes.len())
        );
    }

    #[test]
    fn lying_lengths_are_refused() {
        for size in [-1i32, 0, 9, (MAX_PACKET + 1) as i32] {
            let mut bytes = size.to_le_bytes().to_vec();
            bytes.extend_from_slice(&[0; 16]);
            assert!(
                matches!(decode(&bytes), Err(Error::Protocol(_))),
                "size {size}"
            );
        }
    }
}
