//! The door in front of tiny_http: takes each connection on `health.bind`
//! and hands tiny_http only a whole, bounded request head.
//!
//! tiny_http reads a request head with no size limit and no timeout, on a
//! thread of its own for each connection: one client sending an endless
//! header line grows memory without bound, and a few hundred that never
//! finish their request hold as many threads. The guard bounds both. It
//! holds at most [`Limits::connections`] connections at once (more are
//! answered 503 at once), gives each [`Limits::head_deadline`] in all to
//! send a head of at most [`Limits::head_bytes`] (else 408 or 431), then
//! passes the head, marked `Connection: close`, to tiny_http over a Unix
//! socket in the abstract namespace and copies the answer back.
//!
//! The abstract socket is reachable by local users (they need no file
//! permission), who could then hold tiny_http's threads as before; the
//! guard is for clients on the network (docs/SECURITY.md).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What one client may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections held at once, each one thread; more are refused.
    pub connections: usize,
    /// The request line and headers, terminator included.
    pub head_bytes: usize,
    /// From accept to the end of the head.
    pub head_deadline: Duration,
    /// For the whole answer to be taken by the client.
    pub answer_deadline: Duration,
}

impl Limits {
    /// Room for a busy Prometheus, kubelet and a few people with curl;
    /// heads as large as nginx and Apache take by default; a deadline no
    /// honest client on a LAN comes near.
    pub const DEFAULT: Self = Self {
        connections: 64,
        head_bytes: 8 * 1024,
        head_deadline: Duration::from_secs(5),
        answer_deadline: Duration::from_secs(10),
    };
}

/// Each connection's thread only shuffles bytes.
const STACK_SIZE: usize = 64 * 1024;

/// Takes connections on `listener` on a thread of its own, for the life of
/// the process, passing whole heads to the tiny_http server at `inner`.
pub fn start(listener: TcpListener, inner: UnixAddr, limits: Limits) -> io::Result<()> {
    std::thread::Builder::new()
        .name("http-guard".to_owned())
        .stack_size(STACK_SIZE)
        .spawn(move || accept(&listener, &Arc::new(inner), limits))
        .map(drop)
}

/// Counts a connection as held until dropped.
struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn accept(listener: &TcpListener, inner: &Arc<UnixAddr>, limits: Limits) {
    let held = Arc::new(AtomicUsize::new(0));
    for client in listener.incoming() {
        let client = match client {
            Ok(client) => client,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it
                // was taken: nothing to answer; do not spin.
                log::debug!("/health: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if held.fetch_add(1, Ordering::AcqRel) >= limits.connections {
            held.fetch_sub(1, Ordering::AcqRel);
            refuse(client, Refusal::Busy(limits.connections));
            continue;
        }
        let slot = Held(held.clone());
        let inner = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("http-conn".to_owned())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let _slot = slot;
                serve(client, &inner, limits);
            });
        if let Err(e) = spawned {
            // The closure, its slot and the connection are dropped with it.
            log::debug!("/health: no thread for a connection: {e}");
        }
    }
}

/// Why a connection is answered by the guard instead of tiny_http.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Busy(usize),
    TooLarge(usize),
    TooSlow(Duration),
    Unavailable,
}

impl Refusal {
    fn response(self) -> String {
        let (status, extra, body) = match self {
            Self::Busy(n) => (
                "503 Service Unavailable",
                "Retry-After: 1\r\n",
                format!("{n} connections are open already: try again in a moment\n"),
            ),
            Self::TooLarge(n) => (
                "431 Request Header Fields Too Large",
                "",
                format!(
                    "the request line and headers are over {n} bytes: send fewer or shorter headers\n"
                ),
            ),
            Self::TooSlow(d) => (
                "408 Request Timeout",
                "",
                format!(
                    "the request line and headers did not arrive within {} s\n",
                    d.as_secs()
                ),
            ),
            Self::Unavailable => (
                "503 Service Unavailable",
                "Retry-After: 1\r\n",
                "the endpoint is not answering: try again in a moment\n".to_owned(),
            ),
        };
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }
}

/// Answers a connection the acceptor cannot give a thread, without ever
/// waiting on the client: what it sent so far is read first (closing on
/// unread bytes would reset the connection and could destroy the answer),
/// and the answer fits in any socket's send buffer.
fn refuse(client: TcpStream, why: Refusal) {
    let mut client = client;
    if client.set_nonblocking(true).is_err() {
        return;
    }
    let mut sink = [0u8; 1024];
    for _ in 0..8 {
        if !matches!(client.read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
    let _ = client.write_all(why.response().as_bytes());
    let _ = client.shutdown(Shutdown::Write);
}

/// How long, and how much, a refused client may go on sending before the
/// connection is closed on it.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

/// Answers on a connection's own thread, then lingers.
fn refuse_lingering(mut client: TcpStream, why: Refusal) {
    let _ = client.set_write_timeout(Some(LINGER));
    if client.write_all(why.response().as_bytes()).is_ok() {
        linger(client);
    }
}

/// Ends the answer, then reads and drops what the client still sends
/// (a body, a pipelined request), within [`LINGER`], so that closing does
/// not reset the connection before the client has read the answer: Linux
/// answers a close with unread bytes by a reset, and the client's kernel
/// then drops what it has not yet handed to the client.
fn linger(mut client: TcpStream) {
    let deadline = Instant::now() + LINGER;
    let _ = client.shutdown(Shutdown::Write);
    let mut sink = [0u8; 8 * 1024];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || client.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match client.read(&mut sink) {
            Ok(0) => return,
            Ok(n) => drained += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn serve(mut client: TcpStream, inner: &UnixAddr, limits: Limits) {
    let head = match read_head(&mut client, limits) {
        Ok(Some(head)) => head,
        Ok(None) => return,
        Err(why) => {
            log::debug!("/health: refused a request: {why:?}");
            refuse_lingering(client, why);
            return;
        }
    };
    let mut server = match UnixStream::connect_addr(inner) {
        Ok(server) => server,
        Err(e) => {
            log::warn!("/health: the server behind the guard is gone: {e}");
            refuse_lingering(client, Refusal::Unavailable);
            return;
        }
    };
    match pass(&mut client, &mut server, &close_after(&head), limits) {
        Ok(()) => linger(client),
        Err(e) => log::debug!("/health: the client left before the answer: {e}"),
    }
}

/// Reads up to the blank line that ends the head. `Ok(None)` when the
/// client closed or reset first (no answer is owed).
fn read_head(client: &mut impl Source, limits: Limits) -> Result<Option<Vec<u8>>, Refusal> {
    let deadline = Instant::now() + limits.head_deadline;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || client.time_out_in(left).is_err() {
            return Err(Refusal::TooSlow(limits.head_deadline));
        }
        let n = match client.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Refusal::TooSlow(limits.head_deadline));
            }
            Err(_) => return Ok(None),
        };
        // The terminator may straddle two reads.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if let Some(at) = find(&head[from..], b"\r\n\r\n") {
            let end = from + at + 4;
            if end > limits.head_bytes {
                return Err(Refusal::TooLarge(limits.head_bytes));
            }
            // What follows (a body, a pipelined request) is not passed on:
            // these endpoints take no body and answer one request a
            // connection.
            head.truncate(end);
            return Ok(Some(head));
        }
        if head.len() >= limits.head_bytes {
            return Err(Refusal::TooLarge(limits.head_bytes));
        }
    }
}

/// A stream whose reads can be given a timeout: the client's TCP stream,
/// or a test's script.
trait Source: Read {
    fn time_out_in(&mut self, left: Duration) -> io::Result<()>;
}

impl Source for TcpStream {
    fn time_out_in(&mut self, left: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(left))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Headers dropped from the head passed on: these endpoints take no body
/// (tiny_http would wait for one the guard does not pass, or answer
/// `100 Continue` for it), and the connection ends after the answer.
const DROPPED: [&[u8]; 4] = [
    b"connection",
    b"content-length",
    b"transfer-encoding",
    b"expect",
];

/// The head without a body's headers and with `Connection: close`, so
/// tiny_http's answer says the connection ends after it, as it does.
fn close_after(head: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 19);
    let body = head.strip_suffix(b"\r\n\r\n").unwrap_or(head);
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        let name = name.trim_ascii();
        if i > 0 && DROPPED.iter().any(|d| name.eq_ignore_ascii_case(d)) {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

/// Sends the head to tiny_http and its whole answer to the client, within
/// the answer deadline however slowly the client reads.
fn pass(
    client: &mut TcpStream,
    server: &mut UnixStream,
    head: &[u8],
    limits: Limits,
) -> io::Result<()> {
    let deadline = Instant::now() + limits.answer_deadline;
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "past the answer deadline");
    server.set_write_timeout(Some(limits.answer_deadline))?;
    server.write_all(head)?;
    // No body follows: tiny_http sees the end of the request.
    server.shutdown(Shutdown::Write)?;
    let mut chunk = [0u8; 8 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        server.set_read_timeout(Some(left))?;
        let n = match server.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut rest = &chunk[..n];
        while !rest.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            client.set_write_timeout(Some(left))?;
            match client.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => rest = &rest[w..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that sends `parts` one read each, then `end`.
    struct Script {
        parts: std::collections::VecDeque<Vec<u8>>,
        end: io::Result<usize>,
    }

    impl Script {
        fn new(parts: &[&[u8]], end: io::Result<usize>) -> Self {
            Self {
                parts: parts.iter().map(|p| p.to_vec()).collect(),
                end,
            }
        }
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.parts.pop_front() {
                Some(part) => {
                    let n = part.len().min(buf.len());
                    buf[..n].copy_from_slice(&part[..n]);
                    if n < part.len() {
                        self.parts.push_front(part[n..].to_vec());
                    }
                    Ok(n)
                }
                None => match &self.end {
                    Ok(n) => Ok(*n),
                    Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                },
            }
        }
    }

    impl Source for Script {
        fn time_out_in(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
    }

    const LIMITS: Limits = Limits {
        connections: 2,
        head_bytes: 64,
        head_deadline: Duration::from_secs(5),
        answer_deadline: Duration::from_secs(5),
    };

    fn head_of(parts: &[&[u8]], end: io::Result<usize>) -> Result<Option<Vec<u8>>, Refusal> {
        read_head(&mut Script::new(parts, end), LIMITS)
    }

    #[test]
    fn a_head_split_anywhere_is_found_and_what_follows_dropped() {
        let whole = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        for cut in 1..whole.len() {
            let (a, b) = whole.split_at(cut);
            let got = head_of(&[a, b, b"BODY"], Ok(0));
            assert_eq!(got, Ok(Some(whole.to_vec())), "cut at {cut}");
        }
        let got = head_of(
            &[b"GET / HTTP/1.1\r\n\r\nGET /again HTTP/1.1\r\n\r\n"],
            Ok(0),
        );
        assert_eq!(got, Ok(Some(b"GET / HTTP/1.1\r\n\r\n".to_vec())));
    }

    #[test]
    fn a_head_over_the_limit_is_431_without_reading_on() {
        let long = [b'a'; 40];
        let parts: Vec<&[u8]> = vec![b"GET / HTTP/1.1\r\nX: ", &long, &long, &long];
        assert_eq!(
            head_of(&parts, Ok(0)),
            Err(Refusal::TooLarge(64)),
            "no terminator yet"
        );
        // Complete, but longer than the limit.
        let mut whole = b"GET / HTTP/1.1\r\nX: ".to_vec();
        whole.extend_from_slice(&[b'a'; 44]);
        whole.extend_from_slice(b"\r\n\r\n");
        assert_eq!(whole.len(), 67);
        assert_eq!(head_of(&[&whole], Ok(0)), Err(Refusal::TooLarge(64)));
        // Exactly the limit passes.
        let mut exact = b"GET / HTTP/1.1\r\nX: ".to_vec();
        exact.extend_from_slice(&[b'a'; 41]);
        exact.extend_from_slice(b"\r\n\r\n");
        assert_eq!(exact.len(), 64);
        assert_eq!(head_of(&[&exact], Ok(0)), Ok(Some(exact.clone())));
    }

    #[test]
    fn a_client_that_stops_sending_is_408_and_one_that_leaves_owed_nothing() {
        let slow = head_of(
            &[b"GET / HTTP/1.1\r\n"],
            Err(io::ErrorKind::WouldBlock.into()),
        );
        assert_eq!(slow, Err(Refusal::TooSlow(LIMITS.head_deadline)));
        let slow = head_of(&[b"GET"], Err(io::ErrorKind::TimedOut.into()));
        assert_eq!(slow, Err(Refusal::TooSlow(LIMITS.head_deadline)));
        assert_eq!(head_of(&[b"GET / HT"], Ok(0)), Ok(None));
        assert_eq!(head_of(&[], Ok(0)), Ok(None));
        let reset = head_of(&[b"GET"], Err(io::ErrorKind::ConnectionReset.into()));
        assert_eq!(reset, Ok(None));
    }

    #[test]
    fn the_body_headers_go_and_every_connection_header_becomes_close() {
        let head = b"GET /metrics HTTP/1.1\r\nHost: a\r\nconnection: keep-alive\r\nCONNECTION : Upgrade\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nAccept: */*\r\n\r\n";
        assert_eq!(
            String::from_utf8_lossy(&close_after(head)),
            "GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        // The request line is kept even if it looks like a header.
        assert_eq!(
            String::from_utf8_lossy(&close_after(b"connection: x\r\n\r\n")),
            "connection: x\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn refusals_are_whole_http_answers_that_say_what_to_do() {
        for (why, status, says) in [
            (Refusal::Busy(64), "503", "64 connections"),
            (Refusal::TooLarge(8192), "431", "over 8192 bytes"),
            (
                Refusal::TooSlow(Duration::from_secs(5)),
                "408",
                "within 5 s",
            ),
            (Refusal::Unavailable, "503", "not answering"),
        ] {
            let text = why.response();
            let (head, body) = text.split_once("\r\n\r\n").expect("a head");
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
            assert!(head.contains("Connection: close"), "{text}");
            assert!(
                head.contains(&format!("Content-Length: {}", body.len())),
                "{text}"
            );
            assert!(body.contains(says), "{text}");
        }
    }
}
