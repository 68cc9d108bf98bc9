//! Discord's HTTP API: one ureq agent with explicit timeouts, the bot's
//! `Authorization`, and the `User-Agent` Discord requires.
//!
//! TLS is rustls with compiled-in web PKI roots, so a scratch image needs no
//! CA files; `SSL_CERT_FILE` replaces them (a corporate proxy's CA). Plain
//! `http://` is allowed for `api_base` and webhook URLs (tests, and
//! Discord-compatible servers). Errors never carry a URL: a webhook URL is
//! a secret.

use std::sync::Arc;
use std::time::Duration;

use ureq::Agent;
use ureq::tls::{PemItem, RootCerts, TlsConfig};

use super::ratelimit::Headers;
use crate::secret::Secret;

/// Discord asks for `DiscordBot ($url, $version)`; Cloudflare may block others.
pub const USER_AGENT: &str = concat!(
    "DiscordBot (https://github.com/factorio-isr/factorio-isr, ",
    env!("CARGO_PKG_VERSION"),
    ")"
);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole request, connect to last byte: well under the 41 s heartbeat.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest reply body read; Discord's message objects are a few KiB.
const MAX_BODY: u64 = 1 << 20;

/// A reply from Discord, whatever its status.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Headers,
    pub body: String,
}

impl Reply {
    /// `retry_after` from a 429 body.
    pub fn retry_after(&self) -> Option<f64> {
        let v: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        v.get("retry_after")?.as_f64().filter(|s| s.is_finite())
    }

    /// Discord's JSON error `code` (10008: Unknown Message, ...).
    pub fn code(&self) -> Option<u64> {
        let v: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        v.get("code")?.as_u64()
    }

    /// Discord's own `message` from an error body, for logs.
    pub fn message(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| format!("HTTP {}", self.status))
    }
}

/// Why no reply came. Never includes the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No answer within the timeout; Discord may still have acted.
    Timeout,
    /// Could not connect or the connection broke.
    Network(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Timeout => write!(
                f,
                "no answer from Discord within {}s",
                REQUEST_TIMEOUT.as_secs()
            ),
            Error::Network(m) => write!(f, "cannot reach Discord: {m}"),
        }
    }
}

/// The methods with a JSON body we use.
#[derive(Debug, Clone, Copy)]
enum Method {
    Post,
    Patch,
    Put,
}

#[derive(Clone)]
pub struct Rest {
    agent: Agent,
    api_base: String,
    token: Option<Secret>,
}

impl Rest {
    /// `api_base` without a trailing slash. Fails only when `SSL_CERT_FILE`
    /// is set and unusable.
    pub fn new(api_base: &str, token: Option<Secret>) -> Result<Self, String> {
        let mut tls = TlsConfig::builder();
        if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
            let pem = std::fs::read(&file)
                .map_err(|e| format!("SSL_CERT_FILE {}: {e}", file.to_string_lossy()))?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(format!(
                    "SSL_CERT_FILE {} holds no PEM certificates",
                    file.to_string_lossy()
                ));
            }
            tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
        }
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(USER_AGENT)
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Self {
            agent,
            api_base: api_base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// `{api_base}/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.api_base, path.trim_start_matches('/'))
    }

    /// POSTs JSON to `url`, with the bot token when `auth`.
    pub fn post(&self, url: &str, body: &serde_json::Value, auth: bool) -> Result<Reply, Error> {
        self.send(Method::Post, url, body, auth)
    }

    /// PATCHes JSON to `url`: a channel message with the bot token when
    /// `auth`; an interaction's `@original` or a webhook's message without
    /// it (the token in the URL is the credential).
    pub fn patch(&self, url: &str, body: &serde_json::Value, auth: bool) -> Result<Reply, Error> {
        self.send(Method::Patch, url, body, auth)
    }

    /// PUTs JSON to `url` with the bot token (command registration).
    pub fn put(&self, url: &str, body: &serde_json::Value) -> Result<Reply, Error> {
        self.send(Method::Put, url, body, true)
    }

    fn send(
        &self,
        method: Method,
        url: &str,
        body: &serde_json::Value,
        auth: bool,
    ) -> Result<Reply, Error> {
        let mut req = match method {
            Method::Post => self.agent.post(url),
            Method::Patch => self.agent.patch(url),
            Method::Put => self.agent.put(url),
        }
        .header("Content-Type", "application/json");
        if let Some(token) = self.token.as_ref().filter(|_| auth) {
            req = req.header("Authorization", &format!("Bot {}", token.expose()));
        }
        let result = req.send(body.to_string().as_bytes());
        Self::reply(result)
    }

    /// GETs `url` with the bot token.
    pub fn get(&self, url: &str) -> Result<Reply, Error> {
        let mut req = self.agent.get(url);
        if let Some(token) = &self.token {
            req = req.header("Authorization", &format!("Bot {}", token.expose()));
        }
        Self::reply(req.call())
    }

    fn reply(
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply, Error> {
        let mut resp = result.map_err(classify)?;
        let status = resp.status().as_u16();
        let headers = Headers::parse(|name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(classify)?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// Maps ureq's errors to ours without their text where it could hold the
/// URL.
fn classify(e: ureq::Error) -> Error {
    match e {
        ureq::Error::Timeout(_) => Error::Timeout,
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Error::Timeout,
        // rustls reports certificate and handshake failures as InvalidData.
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            Error::Network(format!(
                "TLS handshake failed ({io}); if a proxy intercepts TLS, set SSL_CERT_FILE to its CA"
            ))
        }
        ureq::Error::Io(io) => Error::Network(io.kind().to_string()),
        ureq::Error::HostNotFound => Error::Network("host not found".to_owned()),
        ureq::Error::ConnectionFailed => Error::Network("connection failed".to_owned()),
        ureq::Error::Tls(m) => Error::Network(format!("TLS: {m}")),
        ureq::Error::BadUri(_) => {
            Error::Network("invalid URL (check api_base or webhook_url)".to_owned())
        }
        other => Error::Network(format!("{}", ErrorKind(&other))),
    }
}

/// A URL-free description of the remaining ureq errors.
struct ErrorKind<'a>(&'a ureq::Error);

impl std::fmt::Display for ErrorKind<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            ureq::Error::Protocol(_) => f.write_str("HTTP protocol error"),
            ureq::Error::BodyExceedsLimit(_) => f.write_str("reply too large"),
            _ => f.write_str("request failed"),
        }
    }
}
