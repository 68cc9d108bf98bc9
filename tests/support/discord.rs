//! A fake Discord REST API on a real socket (`127.0.0.1:0`), for tests of
//! the daemon's Discord client: message create on channels and webhooks,
//! Discord's validation and error bodies, rate limits with real headers,
//! and switches for outages, 429 storms and slow answers.
//!
//! What it answers (all under `/api/v10`, webhooks also under `/api`):
//! - `POST /channels/{id}/messages` (needs `Authorization: Bot`
//!   [`FakeDiscord::TOKEN`]) and `POST /webhooks/{id}/`[`FakeDiscord::WEBHOOK_TOKEN`]
//!   (`?wait=true` for a 200 with the message, else 204) create messages.
//! - `GET /gateway/bot` and `GET /users/@me` (token needed) answer fixed
//!   bodies; any other route is a 404, a known route with another method a 405.
//!
//! A message create goes through these steps, and the first that objects
//! answers:
//! 1. authorisation: 401;
//! 2. the global limit (all requests): 429 `global: true`;
//! 3. [`FakeDiscord::set_status_all`], [`FakeDiscord::fail_for`],
//!    [`FakeDiscord::fail_next`], then [`FakeDiscord::storm_429`]: injected
//!    answers, which use no rate-limit slot;
//! 4. the per-destination limit (bucket per channel, per webhook): 429;
//! 5. the body: `Content-Type` and JSON, the OpenAPI schema (violations are
//!    also kept in [`FakeDiscord::schema_violations`]), Discord's documented
//!    limits that the spec leaves out (content 2000 characters, embed totals,
//!    webhook usernames), and "not empty": 400;
//! 6. `enforce_nonce` with a nonce already used on this destination: 200 with
//!    the earlier message, nothing created;
//! 7. the message is created; with [`FakeDiscord::hang_next`] the answer is
//!    sent late, from its own thread, so the handlers stay free.
//!
//! Every message-create answer except a 401 carries the `X-RateLimit-*`
//! headers of its bucket. Requests are served by a few handler threads
//! sharing one `tiny_http::Server`; connections are kept alive.
//! Dropping the [`FakeDiscord`] stops the handlers, ends pending hangs early
//! and closes the listener. Connections a client keeps open are not closed:
//! a request on one after the drop gets no answer, so simulate an outage
//! with [`FakeDiscord::fail_for`] instead.

use super::join_all;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tiny_http::{Header, Request, Response, Server, StatusCode};

use super::openapi::{Spec, Violation, template_of};

/// The bot token the fake accepts: `Authorization: Bot fake-bot-token`.
pub const TOKEN: &str = "fake-bot-token";

/// The token part of every webhook URL the fake accepts.
pub const WEBHOOK_TOKEN: &str = "fake-webhook-token";

/// Threads taking requests off the shared server: enough that a slow
/// answer (a test's own, or a hung client) cannot hold up the others.
const HANDLERS: usize = 4;

/// The `X-RateLimit-Bucket` of channel message create (opaque, fixed).
pub const MESSAGE_BUCKET: &str = "80c17d2f203122d936070c88c8d10f33";

/// The `X-RateLimit-Bucket` of webhook execute (opaque, fixed).
pub const WEBHOOK_BUCKET: &str = "d8a0e5f3b1c7e2b2c5e4a0e1f2b3c4d5";

/// The `channel_id` in messages created through a webhook.
pub const WEBHOOK_CHANNEL_ID: &str = "1200000000000000001";

/// The Discord epoch (2015-01-01) in Unix milliseconds: snowflakes count
/// from it.
const DISCORD_EPOCH_MS: u128 = 1_420_070_400_000;

/// One request as the fake saw it, and the status it answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path without the query, e.g. `/api/v10/channels/1/messages`.
    pub path: String,
    /// The query without `?`, empty if there is none.
    pub query: String,
    /// Every header, names lower-cased, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body, if it was JSON.
    pub body: Option<Value>,
    /// The status answered (for a hung answer, the status it will have).
    pub status: u16,
    /// When the request was taken up.
    pub at: Instant,
}

impl Recorded {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One message the fake created.
#[derive(Clone, Debug)]
pub struct Created {
    /// Its snowflake; later messages have larger ids.
    pub id: String,
    /// `content`, empty if the body had none.
    pub content: String,
    /// `nonce` as a string (an integer nonce in decimal), if sent.
    pub nonce: Option<String>,
    /// The webhook `username`, if sent.
    pub username: Option<String>,
    /// `embeds` as sent; an empty array if there were none.
    pub embeds: Value,
    /// When it was created.
    pub at: Instant,
}

/// The fake API. Everything takes `&self`; the state is shared with the
/// handler threads.
pub struct FakeDiscord {
    server: Arc<Server>,
    port: u16,
    shared: Arc<Shared>,
    handlers: Vec<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when the fake is dropped, so hung answers stop waiting.
    shutdown: Condvar,
    spec: Spec,
}

struct State {
    requests: Vec<Recorded>,
    /// Created messages per destination (`channel:<id>`, `webhook:<id>`).
    messages: HashMap<String, Vec<Stored>>,
    last_id: u64,
    channel_limit: (u32, Duration),
    global_limit: u32,
    /// Fixed windows per destination (the bucket is fixed per route kind).
    windows: HashMap<String, Window>,
    global_window: Option<Window>,
    status_all: Option<u16>,
    fail_until: Option<(Instant, u16)>,
    fail_next: VecDeque<u16>,
    storm: VecDeque<f64>,
    hangs: VecDeque<Duration>,
    violations: Vec<String>,
    shutting_down: bool,
    late_answers: Vec<JoinHandle<()>>,
}

struct Stored {
    created: Created,
    json: Value,
}

/// A fixed rate-limit window: starts at its first request, lasts `per`.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    used: u32,
}

/// Where a message goes.
#[derive(Clone)]
enum Destination {
    Channel(String),
    Webhook {
        id: String,
        token: String,
        wait: bool,
    },
}

impl Destination {
    fn key(&self) -> String {
        match self {
            Destination::Channel(id) => format!("channel:{id}"),
            Destination::Webhook { id, .. } => format!("webhook:{id}"),
        }
    }

    fn bucket(&self) -> &'static str {
        match self {
            Destination::Channel(_) => MESSAGE_BUCKET,
            Destination::Webhook { .. } => WEBHOOK_BUCKET,
        }
    }

    fn is_webhook(&self) -> bool {
        matches!(self, Destination::Webhook { .. })
    }
}

/// What the fake answers to one request.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    /// Send the answer only after this long ([`FakeDiscord::hang_next`]).
    delay: Option<Duration>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
            delay: None,
        }
    }

    fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
            headers: Vec::new(),
            delay: None,
        }
    }

    fn with_headers(mut self, headers: Vec<(String, String)>) -> Reply {
        self.headers.extend(headers);
        self
    }
}

/// One field error in a 400 `Invalid Form Body`.
struct FieldError {
    pointer: String,
    code: &'static str,
    message: String,
}

impl FakeDiscord {
    /// [`TOKEN`], the bot token the fake accepts.
    pub const TOKEN: &str = TOKEN;

    /// [`WEBHOOK_TOKEN`], the token part of every webhook URL.
    pub const WEBHOOK_TOKEN: &str = WEBHOOK_TOKEN;

    /// Listens on a free loopback port; the limits are Discord's commonly
    /// observed ones: 5 messages per 5 s per channel or webhook, 50 requests
    /// per second in all.
    pub fn start() -> FakeDiscord {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("bind a loopback port"));
        let port = server
            .server_addr()
            .to_ip()
            .expect("a TCP listener has an IP address")
            .port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                requests: Vec::new(),
                messages: HashMap::new(),
                last_id: 0,
                channel_limit: (5, Duration::from_secs(5)),
                global_limit: 50,
                windows: HashMap::new(),
                global_window: None,
                status_all: None,
                fail_until: None,
                fail_next: VecDeque::new(),
                storm: VecDeque::new(),
                hangs: VecDeque::new(),
                violations: Vec::new(),
                shutting_down: false,
                late_answers: Vec::new(),
            }),
            shutdown: Condvar::new(),
            spec: Spec::load(),
        });
        let handlers = (0..HANDLERS)
            .map(|n| {
                let server = Arc::clone(&server);
                let shared = Arc::clone(&shared);
                thread::Builder::new()
                    .name(format!("fake-discord/{n}"))
                    .spawn(move || {
                        for request in server.incoming_requests() {
                            handle(&shared, request);
                        }
                    })
                    .expect("spawn a fake Discord handler thread")
            })
            .collect();
        FakeDiscord {
            server,
            port,
            shared,
            handlers,
        }
    }

    /// The REST base URL, `http://127.0.0.1:PORT/api/v10`.
    pub fn api_base(&self) -> String {
        format!("http://127.0.0.1:{}/api/v10", self.port)
    }

    /// The URL of webhook `id` with the accepted token, in the form Discord
    /// shows it: `http://127.0.0.1:PORT/api/webhooks/{id}/fake-webhook-token`.
    pub fn webhook_url(&self, id: u64) -> String {
        format!(
            "http://127.0.0.1:{}/api/webhooks/{id}/{}",
            self.port,
            Self::WEBHOOK_TOKEN
        )
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sets the per-channel (and per-webhook) limit: `limit` message creates
    /// per window of `per`. Windows already running keep their start.
    pub fn set_channel_limit(&self, limit: u32, per: Duration) {
        self.state().channel_limit = (limit, per);
    }

    /// Sets the global limit: `n` requests per second, across everything.
    pub fn set_global_limit(&self, n: u32) {
        self.state().global_limit = n;
    }

    /// The next `n` message creates answer `status` with Discord's body for
    /// it (401, 403 Missing Permissions, 404 Unknown Channel or Unknown
    /// Webhook, 5xx `{"message", "code": 0}`; 429 as a one-second user
    /// limit). Calls queue up behind each other.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.state()
            .fail_next
            .extend(std::iter::repeat_n(status, n));
    }

    /// Every message create during the next `d` answers `status`: an outage.
    pub fn fail_for(&self, d: Duration, status: u16) {
        self.state().fail_until = Some((Instant::now() + d, status));
    }

    /// The next `n` message creates get a 429 (scope `user`) with
    /// `retry_after` seconds.
    pub fn storm_429(&self, n: usize, retry_after: f64) {
        self.state()
            .storm
            .extend(std::iter::repeat_n(retry_after, n));
    }

    /// The next `n` messages are created, but each answer is sent only after
    /// `d`: the client times out after Discord already took the message.
    pub fn hang_next(&self, n: usize, d: Duration) {
        self.state().hangs.extend(std::iter::repeat_n(d, n));
    }

    /// `Some(status)`: every request (after authorisation) answers `status`
    /// until `set_status_all(None)`.
    pub fn set_status_all(&self, status: Option<u16>) {
        self.state().status_all = status;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// The messages created on `dest` (`channel:<id>` or `webhook:<id>`), in
    /// creation order.
    pub fn messages(&self, dest: &str) -> Vec<Created> {
        self.state()
            .messages
            .get(dest)
            .map(|stored| stored.iter().map(|s| s.created.clone()).collect())
            .unwrap_or_default()
    }

    /// How many requests were answered with `status`.
    pub fn count_status(&self, status: u16) -> usize {
        self.state()
            .requests
            .iter()
            .filter(|r| r.status == status)
            .count()
    }

    /// Every OpenAPI schema violation seen in a message-create body, as
    /// `POST /channels/{channel_id}/messages: /content: ...`.
    pub fn schema_violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// Waits until `dest` has at least `n` messages or `timeout` passes, and
    /// returns what it has then.
    pub fn wait_for_messages(&self, dest: &str, n: usize, timeout: Duration) -> Vec<Created> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages(dest);
            if messages.len() >= n || Instant::now() >= deadline {
                return messages;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }
}

impl Drop for FakeDiscord {
    /// Stops the handlers (without `unblock` they would wait for requests
    /// forever), wakes hung answers and waits for all of them. A handler
    /// that panicked fails the test here, unless it is failing already.
    fn drop(&mut self) {
        self.shared.state_even_if_poisoned().shutting_down = true;
        self.shared.shutdown.notify_all();
        for _ in &self.handlers {
            self.server.unblock();
        }
        join_all(self.handlers.drain(..).collect());
        // Taken after the handlers are done, so none is missed; one started
        // after `shutting_down` was set answers at once.
        let late = std::mem::take(&mut self.shared.state_even_if_poisoned().late_answers);
        join_all(late);
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("a fake Discord thread panicked while holding the state")
    }

    /// For `drop`, which must not panic over a panic it will re-raise.
    fn state_even_if_poisoned(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Answers one request: reads it, decides under the lock, records it, and
/// sends the answer (now or, for a hang, from a thread of its own).
fn handle(shared: &Arc<Shared>, mut request: Request) {
    let at = Instant::now();
    let method = request.method().as_str().to_owned();
    let (path, query) = match request.url().split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (request.url().to_owned(), String::new()),
    };
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    let mut raw = Vec::new();
    let readable = request.as_reader().read_to_end(&mut raw).is_ok();
    let body = serde_json::from_slice::<Value>(&raw).ok();

    let mut state = shared.state();
    let reply = if readable {
        let incoming = Incoming {
            method: &method,
            path: &path,
            query: &query,
            headers: &headers,
            body: body.as_ref(),
        };
        answer(&mut state, shared.spec, &incoming, at)
    } else {
        Reply::json(400, json!({"message": "400: Bad Request", "code": 0}))
    };
    state.requests.push(Recorded {
        method,
        path,
        query,
        headers,
        body,
        status: reply.status,
        at,
    });
    match reply.delay {
        None => {
            drop(state);
            respond(request, reply);
        }
        Some(delay) => {
            let shared_late = Arc::clone(shared);
            let late = thread::Builder::new()
                .name("fake-discord/late".to_owned())
                .spawn(move || {
                    let state = shared_late.state();
                    // Woken early only by the fake's drop.
                    let (state, _) = shared_late
                        .shutdown
                        .wait_timeout_while(state, delay, |s| !s.shutting_down)
                        .expect("a fake Discord thread panicked while holding the state");
                    drop(state);
                    respond(request, reply);
                })
                .expect("spawn a thread for a late fake Discord answer");
            state.late_answers.push(late);
        }
    }
}

/// A request as read, borrowed for deciding the answer.
struct Incoming<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a [(String, String)],
    body: Option<&'a Value>,
}

impl Incoming<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_bot_token(&self) -> bool {
        self.header("authorization") == Some(&format!("Bot {}", FakeDiscord::TOKEN))
    }
}

/// The routes the fake knows.
enum Route {
    CreateMessage(Destination),
    GatewayBot,
    Me,
}

/// The route of `path` and the one method it takes, if the fake knows it.
fn route(path: &str, query: &str) -> Option<(&'static str, Route)> {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let snowflake = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let wait = query.split('&').any(|pair| {
        pair.split_once('=')
            .is_some_and(|(k, v)| k == "wait" && (v.eq_ignore_ascii_case("true") || v == "1"))
    });
    match segments[..] {
        ["api", "v10", "channels", id, "messages"] if snowflake(id) => Some((
            "POST",
            Route::CreateMessage(Destination::Channel(id.to_owned())),
        )),
        ["api", "webhooks", id, token] | ["api", "v10", "webhooks", id, token]
            if snowflake(id) && !token.is_empty() =>
        {
            let dest = Destination::Webhook {
                id: id.to_owned(),
                token: token.to_owned(),
                wait,
            };
            Some(("POST", Route::CreateMessage(dest)))
        }
        ["api", "v10", "gateway", "bot"] => Some(("GET", Route::GatewayBot)),
        ["api", "v10", "users", "@me"] => Some(("GET", Route::Me)),
        _ => None,
    }
}

/// Decides the answer to a request: routing, then steps 1 to 4 of the
/// module doc, then [`create_message`].
fn answer(state: &mut State, spec: Spec, incoming: &Incoming<'_>, now: Instant) -> Reply {
    let Some((method, route)) = route(incoming.path, incoming.query) else {
        return Reply::json(404, json!({"message": "404: Not Found", "code": 0}));
    };
    if incoming.method != method {
        return Reply::json(
            405,
            json!({"message": "405: Method Not Allowed", "code": 0}),
        );
    }
    let dest = match &route {
        Route::CreateMessage(dest) => Some(dest),
        Route::GatewayBot | Route::Me => None,
    };
    match dest {
        Some(Destination::Webhook { token, .. }) if token != FakeDiscord::WEBHOOK_TOKEN => {
            return Reply::json(
                401,
                json!({"message": "Invalid Webhook Token", "code": 50027}),
            );
        }
        Some(Destination::Webhook { .. }) => {}
        Some(Destination::Channel(_)) | None if !incoming.has_bot_token() => {
            return Reply::json(401, json!({"message": "401: Unauthorized", "code": 0}));
        }
        Some(Destination::Channel(_)) | None => {}
    }
    let bucket = |state: &State| dest.map(|d| state.peek(d, now)).unwrap_or_default();
    if let Some(retry_after) = state.take_global(now) {
        return rate_limited(retry_after, true).with_headers(bucket(state));
    }
    let injected_status = match dest {
        Some(_) => state.injected(now),
        None => state.status_all,
    };
    if let Some(status) = injected_status {
        return injected(status, dest).with_headers(bucket(state));
    }
    let Some(dest) = dest else {
        return match route {
            Route::GatewayBot => Reply::json(
                200,
                json!({
                    "url": "ws://127.0.0.1:1",
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1
                    }
                }),
            ),
            _ => Reply::json(200, json!({"id": "1", "username": "fake-bot", "bot": true})),
        };
    };
    if let Some(retry_after) = state.storm.pop_front() {
        let headers = bucket_headers(state.channel_limit.0, 0, retry_after, dest.bucket());
        return rate_limited(retry_after, false).with_headers(headers);
    }
    let headers = match state.take_slot(dest, now) {
        Ok(headers) => headers,
        Err(retry_after) => {
            let headers = bucket_headers(state.channel_limit.0, 0, retry_after, dest.bucket());
            return rate_limited(retry_after, false).with_headers(headers);
        }
    };
    create_message(state, spec, dest, incoming, now).with_headers(headers)
}

/// Step 5 onwards of the module doc: the body, the nonce, the message.
fn create_message(
    state: &mut State,
    spec: Spec,
    dest: &Destination,
    incoming: &Incoming<'_>,
    now: Instant,
) -> Reply {
    let json_type = incoming.header("content-type").is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json_type {
        let error = FieldError {
            pointer: String::new(),
            code: "CONTENT_TYPE_INVALID",
            message: "Expected \"Content-Type\" header to be one of {'application/json', \
                      'application/x-www-form-urlencoded', 'multipart/form-data'}."
                .to_owned(),
        };
        return invalid_form_body(&[error]);
    }
    let Some(body) = incoming.body else {
        return Reply::json(
            400,
            json!({"message": "The request body contains invalid JSON.", "code": 50109}),
        );
    };
    let template = template_of(incoming.path).expect("the fake's routes are in the spec");
    let violations = spec.check_request("POST", template, body);
    state
        .violations
        .extend(violations.iter().map(|v| format!("POST {template}: {v}")));
    let mut errors: Vec<FieldError> = violations.iter().map(schema_error).collect();
    for error in discord_limits(body, dest.is_webhook()) {
        if !errors
            .iter()
            .any(|e| e.pointer == error.pointer && e.code == error.code)
        {
            errors.push(error);
        }
    }
    if !errors.is_empty() {
        return invalid_form_body(&errors);
    }
    if is_empty_message(body) {
        return Reply::json(
            400,
            json!({"message": "Cannot send an empty message", "code": 50006}),
        );
    }
    let key = dest.key();
    let nonce = match body.get("nonce") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if body.get("enforce_nonce") == Some(&Value::Bool(true))
        && let Some(nonce) = &nonce
        && let Some(earlier) = state.messages.get(&key).and_then(|stored| {
            stored
                .iter()
                .find(|s| s.created.nonce.as_ref() == Some(nonce))
        })
    {
        return message_reply(dest, earlier.json.clone());
    }

    state.last_id = next_snowflake(state.last_id);
    let id = state.last_id.to_string();
    let content = body
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let embeds = match body.get("embeds") {
        Some(embeds @ Value::Array(_)) => embeds.clone(),
        _ => json!([]),
    };
    let username = match dest {
        Destination::Webhook { .. } => body
            .get("username")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Destination::Channel(_) => None,
    };
    let mut message = json!({
        "id": id,
        "type": 0,
        "content": content,
        "embeds": embeds,
        "tts": false,
        "mention_everyone": false,
        "pinned": false,
    });
    let fields = message.as_object_mut().expect("a message is an object");
    if let Some(sent) = body.get("nonce").filter(|n| !n.is_null()) {
        fields.insert("nonce".to_owned(), sent.clone());
    }
    match dest {
        Destination::Channel(channel) => {
            fields.insert("channel_id".to_owned(), json!(channel));
            fields.insert(
                "author".to_owned(),
                json!({"id": "1", "username": "fake-bot", "bot": true}),
            );
        }
        Destination::Webhook { id: webhook, .. } => {
            fields.insert("channel_id".to_owned(), json!(WEBHOOK_CHANNEL_ID));
            fields.insert("webhook_id".to_owned(), json!(webhook));
            let name = username
                .clone()
                .unwrap_or_else(|| "Fake Webhook".to_owned());
            fields.insert(
                "author".to_owned(),
                json!({"id": webhook, "username": name, "bot": true}),
            );
        }
    }
    let created = Created {
        id,
        content,
        nonce,
        username,
        embeds,
        at: now,
    };
    state.messages.entry(key).or_default().push(Stored {
        created,
        json: message.clone(),
    });
    let mut reply = message_reply(dest, message);
    reply.delay = state.hangs.pop_front();
    reply
}

/// 200 with the message, or for a webhook without `?wait=true` a bare 204.
fn message_reply(dest: &Destination, message: Value) -> Reply {
    match dest {
        Destination::Webhook { wait: false, .. } => Reply::no_content(),
        _ => Reply::json(200, message),
    }
}

/// The checks Discord documents but the OpenAPI spec leaves out or states
/// more loosely: content of at most 2000 characters, the embed limits
/// (counted after trimming, as Discord counts) and their 6000 total, and
/// webhook usernames.
fn discord_limits(body: &Value, webhook: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(content) = body.get("content").and_then(Value::as_str)
        && content.chars().count() > 2000
    {
        errors.push(max_length("/content".to_owned(), 2000));
    }
    let embeds = array(body, "embeds");
    let mut total = 0;
    for (i, embed) in embeds.iter().enumerate() {
        let limited = [
            ("title", None, 256),
            ("description", None, 4096),
            ("footer", Some("text"), 2048),
            ("author", Some("name"), 256),
        ];
        for (key, inner, max) in limited {
            let value = match inner {
                None => embed.get(key),
                Some(inner) => embed.get(key).and_then(|object| object.get(inner)),
            };
            let pointer = match inner {
                None => format!("/embeds/{i}/{key}"),
                Some(inner) => format!("/embeds/{i}/{key}/{inner}"),
            };
            total += counted(&mut errors, pointer, value, max);
        }
        let fields = array(embed, "fields");
        if fields.len() > 25 {
            errors.push(max_length(format!("/embeds/{i}/fields"), 25));
        }
        for (j, field) in fields.iter().enumerate() {
            for (key, max) in [("name", 256), ("value", 1024)] {
                let value = field.get(key);
                let pointer = format!("/embeds/{i}/fields/{j}/{key}");
                if value
                    .and_then(Value::as_str)
                    .is_none_or(|v| v.trim().is_empty())
                {
                    errors.push(FieldError {
                        pointer,
                        code: "BASE_TYPE_REQUIRED",
                        message: "This field is required".to_owned(),
                    });
                } else {
                    total += counted(&mut errors, pointer, value, max);
                }
            }
        }
    }
    if total > 6000 {
        errors.push(FieldError {
            pointer: "/embeds".to_owned(),
            code: "MAX_EMBED_SIZE_EXCEEDED",
            message: "Embed size exceeds maximum size of 6000".to_owned(),
        });
    }
    if webhook && let Some(name) = body.get("username").and_then(Value::as_str) {
        if !(1..=80).contains(&name.trim().chars().count()) {
            errors.push(FieldError {
                pointer: "/username".to_owned(),
                code: "BASE_TYPE_BAD_LENGTH",
                message: "Must be between 1 and 80 in length.".to_owned(),
            });
        }
        let lower = name.to_lowercase();
        for word in ["discord", "clyde"] {
            if lower.contains(word) {
                errors.push(FieldError {
                    pointer: "/username".to_owned(),
                    code: "USERNAME_INVALID_CONTAINS",
                    message: format!("Username cannot contain \"{word}\""),
                });
            }
        }
    }
    errors
}

/// The length of an embed text after trimming; an error if it is over `max`.
fn counted(
    errors: &mut Vec<FieldError>,
    pointer: String,
    value: Option<&Value>,
    max: usize,
) -> usize {
    let chars = value
        .and_then(Value::as_str)
        .map_or(0, |text| text.trim().chars().count());
    if chars > max {
        errors.push(max_length(pointer, max));
    }
    chars
}

fn max_length(pointer: String, max: usize) -> FieldError {
    FieldError {
        pointer,
        code: "BASE_TYPE_MAX_LENGTH",
        message: format!("Must be {max} or fewer in length."),
    }
}

/// Member `key` of `value` if it is an array, else nothing.
fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Discord refuses a message with nothing to show: no content (after
/// trimming), embeds, stickers, components or poll.
fn is_empty_message(body: &Value) -> bool {
    let content = body
        .get("content")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.trim().is_empty());
    let listed = ["embeds", "sticker_ids", "components"]
        .iter()
        .any(|key| !array(body, key).is_empty());
    let poll = body.get("poll").is_some_and(|p| !p.is_null());
    !(content || listed || poll)
}

/// A schema violation as a field error of a 400, coded like Discord's.
fn schema_error(violation: &Violation) -> FieldError {
    let code = match violation.keyword {
        "maxLength" | "maxItems" => "BASE_TYPE_MAX_LENGTH",
        "minLength" | "minItems" => "BASE_TYPE_MIN_LENGTH",
        "required" => "BASE_TYPE_REQUIRED",
        "enum" | "const" | "oneOf" | "anyOf" => "BASE_TYPE_CHOICES",
        _ => "BASE_TYPE_INVALID",
    };
    FieldError {
        pointer: violation.pointer.clone(),
        code,
        message: violation.message.clone(),
    }
}

/// A 400 `Invalid Form Body` (code 50035) with the errors nested the way
/// Discord nests them: `{"embeds": {"0": {"title": {"_errors": [..]}}}}`.
fn invalid_form_body(errors: &[FieldError]) -> Reply {
    let mut tree = Map::new();
    for error in errors {
        let mut node = &mut tree;
        for segment in error.pointer.split('/').skip(1) {
            let name = segment.replace("~1", "/").replace("~0", "~");
            node = node
                .entry(name)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("error tree nodes are objects");
        }
        let list = node.entry("_errors").or_insert_with(|| json!([]));
        if let Value::Array(list) = list {
            list.push(json!({"code": error.code, "message": error.message}));
        }
    }
    Reply::json(
        400,
        json!({"code": 50035, "errors": tree, "message": "Invalid Form Body"}),
    )
}

/// A 429 with Discord's body and headers; the bucket headers are added by
/// the caller.
fn rate_limited(retry_after: f64, global: bool) -> Reply {
    let retry_after = millis_up(retry_after);
    let mut headers = vec![header(
        "Retry-After",
        retry_after.ceil().max(1.0).to_string(),
    )];
    if global {
        headers.push(header("X-RateLimit-Global", "true".to_owned()));
    }
    let scope = if global { "global" } else { "user" };
    headers.push(header("X-RateLimit-Scope", scope.to_owned()));
    let body = json!({
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": global,
    });
    Reply::json(429, body).with_headers(headers)
}

/// The answer for an injected failure status.
fn injected(status: u16, dest: Option<&Destination>) -> Reply {
    let body = match (status, dest) {
        (429, _) => return rate_limited(1.0, false),
        (401, _) => json!({"message": "401: Unauthorized", "code": 0}),
        (403, _) => json!({"message": "Missing Permissions", "code": 50013}),
        (404, Some(Destination::Webhook { .. })) => {
            json!({"message": "Unknown Webhook", "code": 10015})
        }
        (404, Some(Destination::Channel(_))) => {
            json!({"message": "Unknown Channel", "code": 10003})
        }
        (status, _) => {
            let reason = StatusCode(status).default_reason_phrase();
            json!({"message": format!("{status}: {reason}"), "code": 0})
        }
    };
    Reply::json(status, body)
}

fn bucket_headers(
    limit: u32,
    remaining: u32,
    reset_after: f64,
    bucket: &str,
) -> Vec<(String, String)> {
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64();
    // Rounded up to the millisecond, like `retry_after`: a client that
    // waits exactly as long as told must find the window open.
    let reset_after = millis_up(reset_after);
    vec![
        header("X-RateLimit-Limit", limit.to_string()),
        header("X-RateLimit-Remaining", remaining.to_string()),
        header(
            "X-RateLimit-Reset",
            format!("{:.3}", millis_up(epoch + reset_after)),
        ),
        header("X-RateLimit-Reset-After", format!("{reset_after:.3}")),
        header("X-RateLimit-Bucket", bucket.to_owned()),
    ]
}

/// Seconds rounded up to whole milliseconds.
fn millis_up(seconds: f64) -> f64 {
    (seconds * 1000.0).ceil() / 1000.0
}

fn header(name: &str, value: String) -> (String, String) {
    (name.to_owned(), value)
}

/// A snowflake for now, above `last` so ids always increase.
fn next_snowflake(last: u64) -> u64 {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis();
    let timestamp =
        u64::try_from(now_ms.saturating_sub(DISCORD_EPOCH_MS)).unwrap_or(u64::MAX >> 22);
    (timestamp << 22).max(last + 1)
}

impl State {
    /// Counts a request against the global limit; `Some(retry_after)` if it
    /// is over.
    fn take_global(&mut self, now: Instant) -> Option<f64> {
        let per = Duration::from_secs(1);
        let window = match self.global_window {
            Some(window) if now < window.start + per => window,
            _ => Window {
                start: now,
                used: 0,
            },
        };
        if window.used >= self.global_limit {
            self.global_window = Some(window);
            return Some((window.start + per - now).as_secs_f64());
        }
        self.global_window = Some(Window {
            used: window.used + 1,
            ..window
        });
        None
    }

    /// The injected status for this request, if any switch is on; consumes
    /// one `fail_next`.
    fn injected(&mut self, now: Instant) -> Option<u16> {
        if let Some(status) = self.status_all {
            return Some(status);
        }
        match self.fail_until {
            Some((until, status)) if now < until => return Some(status),
            Some(_) => self.fail_until = None,
            None => {}
        }
        self.fail_next.pop_front()
    }

    /// The bucket headers of `dest` as they stand, using no slot.
    fn peek(&self, dest: &Destination, now: Instant) -> Vec<(String, String)> {
        let (limit, per) = self.channel_limit;
        let (remaining, reset_after) = match self.windows.get(&dest.key()) {
            Some(window) if now < window.start + per => {
                (limit.saturating_sub(window.used), window.start + per - now)
            }
            _ => (limit, per),
        };
        bucket_headers(limit, remaining, reset_after.as_secs_f64(), dest.bucket())
    }

    /// Uses a slot of `dest`'s window: its bucket headers, or
    /// `Err(retry_after)` if the window is full.
    fn take_slot(
        &mut self,
        dest: &Destination,
        now: Instant,
    ) -> Result<Vec<(String, String)>, f64> {
        let (limit, per) = self.channel_limit;
        let window = self.windows.entry(dest.key()).or_insert(Window {
            start: now,
            used: 0,
        });
        if now >= window.start + per {
            *window = Window {
                start: now,
                used: 0,
            };
        }
        let reset_after = (window.start + per - now).as_secs_f64();
        if window.used >= limit {
            return Err(reset_after);
        }
        window.used += 1;
        Ok(bucket_headers(
            limit,
            limit - window.used,
            reset_after,
            dest.bucket(),
        ))
    }
}

/// Sends `reply`. A client that has gone away (timed out) is not an error
/// of the fake's, so write failures are ignored.
fn respond(request: Request, reply: Reply) {
    let mut headers: Vec<Header> = reply
        .headers
        .iter()
        .map(|(name, value)| {
            Header::from_bytes(name.as_bytes(), value.as_bytes())
                .expect("header names and values are ASCII")
        })
        .collect();
    let result = match reply.body {
        Some(body) => {
            headers.push(
                Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
                    .expect("a valid header"),
            );
            let mut response =
                Response::from_string(body.to_string()).with_status_code(reply.status);
            for header in headers {
                response.add_header(header);
            }
            request.respond(response)
        }
        None => {
            let mut response = Response::empty(reply.status);
            for header in headers {
                response.add_header(header);
            }
            request.respond(response)
        }
    };
    // The client may have timed out and closed the connection: that is its
    // business, not a failure of the fake.
    let _ = result;
}
