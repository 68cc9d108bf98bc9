//! The `http` thread: `/health`, `/ready` and `/metrics` on `health.bind`.
//!
//! tiny_http accepts and parses on its own threads; this one takes the
//! requests, renders from [`Health`] and answers. It lives for the whole
//! process, across config reloads, so a probe never finds the port closed
//! while the daemon restarts its workers.

use std::net::SocketAddr;
use std::sync::Arc;
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
        let server = Server::http(addr).map_err(|e| {
            format!(
                "cannot listen on {addr} for /health and /metrics: {e} (set health.bind to a free address:port, or to \
                 null to turn the endpoint off)"
            )
        })?;
        let addr = server.server_addr().to_ip().unwrap_or(addr);
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
