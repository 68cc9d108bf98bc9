//! The `http` thread: `/health`, `/ready` and `/metrics` on `health.bind`.
//!
//! The [`guard`] takes the connections and passes whole, bounded request
//! heads to tiny_http, which parses them on its own threads; this one takes
//! the requests, renders from [`Health`] and answers. It lives for the
//! whole process, across config reloads, so a probe never finds the port
//! closed while the daemon restarts its workers.

pub mod guard;

use std::net::{SocketAddr, TcpListener};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::Receiver;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::health::{Health, Status};

/// How often the loop looks at the stop channel while no request comes.
const TICK: Duration = Duration::from_millis(200);

/// A bound server, ready to run.
pub struct Http {
    server: Server,
    addr: SocketAddr,
}

impl Http {
    /// Binds now, so a port in use is a start-up error with a fix.
    pub fn bind(addr: SocketAddr) -> Result<Self, String> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            format!(
                "cannot listen on {addr} for /health and /metrics: {e} (set health.bind to a free address:port, or to \
                 null to turn the endpoint off)"
            )
        })?;
        let addr = listener.local_addr().unwrap_or(addr);
        let (inner, inner_addr) = behind_the_guard()
            .map_err(|e| format!("cannot start the server for /health and /metrics: {e}"))?;
        let server = Server::from_listener(inner, None)
            .map_err(|e| format!("cannot start the server for /health and /metrics: {e}"))?;
        guard::start(listener, inner_addr, guard::Limits::DEFAULT)
            .map_err(|e| format!("cannot start the thread for /health and /metrics: {e}"))?;
        Ok(Self { server, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers requests until `stop` closes.
    pub fn run(self, health: &Arc<Health>, stop: &Receiver<()>) {
        loop {
            if !matches!(stop.try_recv(), Err(crossbeam_channel::TryRecvError::Empty)) {
                return;
            }
            match self.server.recv_timeout(TICK) {
                Ok(Some(request)) => answer(request, health),
                Ok(None) => {}
                Err(e) => {
                    log::warn!("/health: {e}");
                    std::thread::sleep(TICK);
                }
            }
        }
    }
}

/// A listener for tiny_http in Linux's abstract namespace: no file to
/// create or clean up (the state dir may be the only writable place, and a
/// crash would leave a stale socket), gone with the process.
fn behind_the_guard() -> std::io::Result<(UnixListener, UnixAddr)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    // A name can be taken by another process; try a few.
    for _ in 0..8 {
        let name = format!(
            "factorio-isr/http/{}/{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let addr = UnixAddr::from_abstract_name(name.as_bytes())?;
        match UnixListener::bind_addr(&addr) {
            Ok(listener) => return Ok((listener, addr)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into()))
}

fn answer(request: Request, health: &Health) {
    let get = matches!(request.method(), Method::Get | Method::Head);
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    let (status, content_type, body) = match (get, path.as_str()) {
        (true, "/health") => {
            let (status, body) = health.report();
            let code = if status == Status::Unhealthy {
                503
            } else {
                200
            };
            (code, "application/json", body.to_string())
        }
        (true, "/ready") => {
            let ready = health.ready();
            let body = serde_json::json!({ "ready": ready }).to_string();
            (if ready { 200 } else { 503 }, "application/json", body)
        }
        (true, "/metrics") => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            crate::metrics::render(health),
        ),
        (false, "/health" | "/ready" | "/metrics") => {
            (405, "text/plain", "only GET is allowed\n".to_owned())
        }
        _ => (
            404,
            "text/plain",
            "not found: try /health, /ready or /metrics\n".to_owned(),
        ),
    };
    let mut response = Response::from_string(body).with_status_code(status);
    if let Ok(h) = Header::from_bytes("Content-Type", content_type) {
        response = response.with_header(h);
    }
    if let Err(e) = request.respond(response) {
        log::debug!("/health: the client left before the answer: {e}");
    }
}
