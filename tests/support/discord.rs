//! A fake Discord REST API on a real socket (`127.0.0.1:0`), for tests of
//! the daemon's Discord client, its bot features and `doctor`: message
//! create on channels and webhooks, application commands, interaction
//! responses, the channel, guild, role and member reads that permission
//! checks need, Discord's validation and error bodies, rate limits with real
//! headers, and switches for outages, 429 storms and slow answers.
//!
//! What it answers (all under `/api/v10`, webhooks also under `/api`):
//! - `POST /channels/{id}/messages` (needs `Authorization: Bot` [`TOKEN`]) and
//!   `POST /webhooks/{id}/`[`WEBHOOK_TOKEN`] (`?wait=true` for a 200 with the
//!   message, else 204) create messages, in any channel: message create does
//!   not look at the channel set-up ([`FakeDiscord::add_channel`],
//!   [`FakeDiscord::hide_channel`]).
//! - `PATCH /channels/{id}/messages/{message}` (the bot token) and
//!   `PATCH /webhooks/{id}/`[`WEBHOOK_TOKEN`]`/messages/{message}` edit a
//!   message created there (404 Unknown Message otherwise, or after
//!   [`FakeDiscord::delete_message`]); [`Created::edits`] counts them.
//! - `GET /gateway/bot` ([`FakeDiscord::set_gateway_url`],
//!   [`FakeDiscord::set_session_start_limit`]), `GET /users/@me`
//!   ([`BOT_USER_ID`]) and `GET /applications/@me` ([`APPLICATION_ID`],
//!   [`FakeDiscord::set_application_flags`]) answer bodies the test sets up.
//! - `PUT /applications/{app}/commands` and
//!   `PUT /applications/{app}/guilds/{guild}/commands` overwrite the commands
//!   of a scope ([`FakeDiscord::command_overwrites`]).
//! - `POST /interactions/{id}/{token}/callback` answers an interaction the
//!   test registered ([`FakeDiscord::register_interaction`]); with its token,
//!   `GET` and `PATCH /webhooks/{app}/{token}/messages/@original` read and
//!   edit the original response and `POST /webhooks/{app}/{token}` sends a
//!   follow-up ([`FakeDiscord::interaction_responses`]). Like Discord, these
//!   need no `Authorization` and ignore one that is sent.
//! - `GET /channels/{id}`, `GET /guilds/{id}`, `GET /guilds/{id}/roles` and
//!   `GET /guilds/{id}/members/{user}` answer what [`FakeDiscord::add_guild`],
//!   [`FakeDiscord::add_role`], [`FakeDiscord::add_member`],
//!   [`FakeDiscord::add_channel`] and [`FakeDiscord::hide_channel`] set up.
//! - Any other route is a 404, a known route with another method a 405.
//!
//! A request to a route that is not an interaction's goes through these
//! steps, and the first that objects answers:
//! 1. authorisation: 401 (the bot token, or a webhook's token in its URL);
//! 2. the global limit (all these requests): 429 `global: true`;
//! 3. injected answers, which use no rate-limit slot: for message creates
//!    [`FakeDiscord::set_status_all`], [`FakeDiscord::fail_for`],
//!    [`FakeDiscord::fail_next`], then [`FakeDiscord::storm_429`]; for other
//!    routes only [`FakeDiscord::set_status_all`];
//! 4. the route's bucket: per channel and per webhook for message creates,
//!    per scope for command overwrites ([`FakeDiscord::set_commands_limit`]),
//!    per channel or guild for the reads; `GET /gateway/bot` and the two
//!    `@me` have none: 429;
//! 5. the route itself:
//!    - message create: the body: `Content-Type` and JSON, the OpenAPI schema
//!      (violations of every route are also kept in
//!      [`FakeDiscord::schema_violations`]), Discord's documented limits that
//!      the spec leaves out (content 2000 characters, embed totals, webhook
//!      usernames), and "not empty": 400; then `enforce_nonce` with a nonce
//!      already used on this destination: 200 with the earlier message,
//!      nothing created; then the message is created; with
//!      [`FakeDiscord::hang_next`] the answer is sent late, from its own
//!      thread, so the handlers stay free;
//!    - command overwrite: an application other than [`APPLICATION_ID`]: 403
//!      Missing Access (50001); the body: `Content-Type` and JSON, the schema,
//!      and the documented limits the spec leaves out (names, descriptions,
//!      option order and uniqueness, mixing subcommands with options, choice
//!      values, autocomplete with choices, commands per type, 8000 characters
//!      per command): 400 Invalid Form Body (50035) naming the field; then 200
//!      with the commands as stored (`id` kept per name and type, a new
//!      `version`);
//!    - reads: a hidden channel 403 Missing Access (50001), an unknown channel
//!      404 (10003), guild (10004) or member (10007); else 200.
//!
//! An interaction callback is exempt from the global limit and has no
//! bucket, as on Discord:
//! 1. [`FakeDiscord::set_status_all`];
//! 2. an interaction not registered, with another token, or not answered
//!    within the deadline (3 s from registration,
//!    [`FakeDiscord::set_interaction_deadline`]): 404 Unknown interaction
//!    (10062); one answered already: 400 (40060), or 10062 once its token has
//!    expired;
//! 3. the body: `Content-Type` and JSON, the schema, the documented limits
//!    (message flags, embed limits, autocomplete `choices` and their string
//!    values of at most 100 characters): 400 (50035); a type 4 response with
//!    nothing to show: 400 (50006). A refused callback acknowledges nothing;
//! 4. 204, or with `?with_response=true` 200 with the callback response.
//!
//! A request on an interaction's webhook, exempt from the global limit:
//! 1. an application id other than [`APPLICATION_ID`]: 404 Unknown Webhook
//!    (10015); a token of no registered interaction, or one registered longer
//!    ago than the token lifetime (15 minutes,
//!    [`FakeDiscord::set_interaction_lifetime`]): 401 (50027);
//! 2. [`FakeDiscord::set_status_all`];
//! 3. an interaction not acknowledged yet: 404 (10015);
//! 4. for follow-ups and edits, the token's bucket (the webhook limit,
//!    [`FakeDiscord::set_channel_limit`]): 429;
//! 5. for follow-ups and edits, the body: `Content-Type` and JSON, the
//!    schema, embed limits and message flags (an edit may set only
//!    SUPPRESS_EMBEDS and IS_COMPONENTS_V2, a follow-up also EPHEMERAL and
//!    SUPPRESS_NOTIFICATIONS): 400 (50035); an empty follow-up: 400 (50006);
//! 6. getting or editing an original response the callback did not create
//!    (types 1, 8, 9): 404 Unknown Message (10008); else 200 with the
//!    message. A follow-up while a deferred (type 5) response is still
//!    loading fills in that response instead, as Discord still does.
//!
//! Every callback, edit and follow-up naming a registered interaction is
//! kept, with the status it got. Every answer of a route with a bucket
//! carries the `X-RateLimit-*` headers of its bucket, unless step 1 refused
//! the request.
//! Where Discord documents no `_errors` code for a limit the spec leaves
//! out, the fake's own code is a stand-in: tests should key on the field
//! path, which is Discord's.
//!
//! Requests are served by a few handler threads sharing one
//! `tiny_http::Server`; connections are kept alive. Dropping the
//! [`FakeDiscord`] stops the handlers, ends pending hangs early and closes
//! the listener. Connections a client keeps open are not closed: a request
//! on one after the drop gets no answer, so simulate an outage with
//! [`FakeDiscord::fail_for`] instead.

use super::join_all;
use std::collections::{HashMap, HashSet, VecDeque};
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

/// The fake application's id: `GET /applications/@me`, the `{app}` of
/// command and interaction-webhook URLs. It differs from [`BOT_USER_ID`]
/// (as for applications older than their bots) so a client that mixes the
/// two up fails here rather than in production.
pub const APPLICATION_ID: &str = "1300000000000000001";

/// The bot user's id: `GET /users/@me` and the author of the messages the
/// bot creates.
pub const BOT_USER_ID: &str = "1300000000000000002";

/// Application flag: the Message Content intent is on for a verified bot.
pub const GATEWAY_MESSAGE_CONTENT: u64 = 1 << 18;

/// Application flag: the Message Content intent is on for a bot in fewer
/// than 100 servers (the toggle in the developer portal).
pub const GATEWAY_MESSAGE_CONTENT_LIMITED: u64 = 1 << 19;

/// Permission bit: see a channel.
pub const VIEW_CHANNEL: u64 = 1 << 10;

/// Permission bit: send messages in a channel.
pub const SEND_MESSAGES: u64 = 1 << 11;

/// The `type` of a permission overwrite for a role.
pub const OVERWRITE_ROLE: u8 = 0;

/// The `type` of a permission overwrite for a member.
pub const OVERWRITE_MEMBER: u8 = 1;

/// Threads taking requests off the shared server: enough that a slow
/// answer (a test's own, or a hung client) cannot hold up the others.
const HANDLERS: usize = 4;

/// The `X-RateLimit-Bucket` of channel message create (opaque, fixed).
pub const MESSAGE_BUCKET: &str = "80c17d2f203122d936070c88c8d10f33";

/// The `X-RateLimit-Bucket` of webhook execute and interaction follow-ups
/// (opaque, fixed).
pub const WEBHOOK_BUCKET: &str = "d8a0e5f3b1c7e2b2c5e4a0e1f2b3c4d5";

/// The `X-RateLimit-Bucket` of command overwrites (opaque, fixed).
pub const COMMANDS_BUCKET: &str = "3e1f7c2a9b4d6e8f0a1b2c3d4e5f6a7b";

/// The `X-RateLimit-Bucket` of edits of an original interaction response.
/// The bucket hash of message edits.
const MESSAGE_EDIT_BUCKET: &str = "9a2c4e6f8b0d1e3f5a7c9b1d3e5f7a9c";
const WEBHOOK_EDIT_BUCKET: &str = "5b7d9f1a3c5e7a9b1d3f5a7c9e1b3d5f";

/// The `X-RateLimit-Bucket` of channel and guild reads.
const READ_BUCKET: &str = "c4e6a8b0d2f4a6c8e0b2d4f6a8c0e2b4";

/// The limit of channel and guild reads: generous, so `doctor`'s few reads
/// never meet it; it is there so a client sees the headers.
const READ_LIMIT: (u32, Duration) = (50, Duration::from_secs(5));

/// The `channel_id` in messages created through a webhook or as an
/// interaction response.
pub const WEBHOOK_CHANNEL_ID: &str = "1200000000000000001";

/// The Discord epoch (2015-01-01) in Unix milliseconds: snowflakes count
/// from it.
const DISCORD_EPOCH_MS: u128 = 1_420_070_400_000;

/// The most characters of names, descriptions and choices in one command
/// (the docs raised it from 4000).
const COMMAND_SIZE_MAX: usize = 8000;

// Message flags, as far as interaction responses may set them.
const SUPPRESS_EMBEDS: u64 = 1 << 2;
const EPHEMERAL: u64 = 1 << 6;
/// Set by Discord on a deferred response until it is edited.
const LOADING: u64 = 1 << 7;
const SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;
const IS_VOICE_MESSAGE: u64 = 1 << 13;
const IS_COMPONENTS_V2: u64 = 1 << 15;

/// Flags a type 4 or 7 callback may set.
const CALLBACK_FLAGS: u64 =
    SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_VOICE_MESSAGE | IS_COMPONENTS_V2;
/// Flags an edit of a webhook message may set.
const EDIT_FLAGS: u64 = SUPPRESS_EMBEDS | IS_COMPONENTS_V2;
/// Flags a follow-up may set: a webhook's, plus EPHEMERAL.
const FOLLOWUP_FLAGS: u64 = SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2;

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
    /// How many times it was edited since (content and embeds above are
    /// the latest).
    pub edits: u32,
}

/// Which request about an interaction an [`InteractionReply`] was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// `POST /interactions/{id}/{token}/callback`: the initial response.
    Callback,
    /// `PATCH /webhooks/{app}/{token}/messages/@original`.
    Edit,
    /// `POST /webhooks/{app}/{token}`.
    Followup,
}

/// One callback, edit or follow-up the fake saw for a registered
/// interaction, taken or refused.
#[derive(Clone, Debug)]
pub struct InteractionReply {
    pub kind: ReplyKind,
    /// The body as sent; `Null` if it was not JSON.
    pub body: Value,
    /// The status answered: 2xx if Discord took it, else its error.
    pub status: u16,
    /// When the request was taken up.
    pub at: Instant,
}

impl InteractionReply {
    /// Whether Discord took it (a 2xx answer).
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
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
    commands_limit: (u32, Duration),
    global_limit: u32,
    /// Fixed windows per bucket key (see [`Bucket`]).
    windows: HashMap<String, Window>,
    global_window: Option<Window>,
    status_all: Option<u16>,
    fail_until: Option<(Instant, u16)>,
    fail_next: VecDeque<u16>,
    storm: VecDeque<f64>,
    hangs: VecDeque<Duration>,
    violations: Vec<String>,
    gateway_url: String,
    session_start_limit: SessionStartLimit,
    application_flags: u64,
    /// Command ids per scope (`None` is global), by command type and name,
    /// so an overwrite keeps the id of a command it keeps.
    command_ids: HashMap<Option<String>, HashMap<(u64, String), String>>,
    overwrites: Vec<(Option<String>, Value, Instant)>,
    interactions: HashMap<String, Interaction>,
    interaction_deadline: Duration,
    interaction_lifetime: Duration,
    guilds: HashMap<String, Guild>,
    channels: HashMap<String, Channel>,
    hidden_channels: HashSet<String>,
    shutting_down: bool,
    late_answers: Vec<JoinHandle<()>>,
}

struct Stored {
    created: Created,
    json: Value,
}

/// `session_start_limit` of `GET /gateway/bot`.
struct SessionStartLimit {
    total: u32,
    remaining: u32,
    reset_after_ms: u64,
    max_concurrency: u32,
}

/// An interaction a test registered, and what became of it.
struct Interaction {
    token: String,
    registered: Instant,
    /// Whether Discord took a callback.
    acknowledged: bool,
    /// The original response, for the callback types that create one.
    original: Option<Value>,
    replies: Vec<InteractionReply>,
}

struct Guild {
    owner_id: String,
    /// In position order: `@everyone` (id = the guild's) first.
    roles: Vec<(String, u64)>,
    /// Role ids per member.
    members: HashMap<String, Vec<String>>,
}

struct Channel {
    guild_id: String,
    /// `(id, type, allow, deny)`.
    overwrites: Vec<(String, u8, u64, u64)>,
}

/// A fixed rate-limit window: starts at its first request, lasts `per`.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    used: u32,
}

/// A rate-limit bucket as the fake keeps it: one fixed window per key, the
/// route and its top-level resource, as Discord keys them.
struct Bucket {
    key: String,
    /// The `X-RateLimit-Bucket` it answers.
    hash: &'static str,
    limit: u32,
    per: Duration,
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

    fn bucket(&self, (limit, per): (u32, Duration)) -> Bucket {
        let hash = match self {
            Destination::Channel(_) => MESSAGE_BUCKET,
            Destination::Webhook { .. } => WEBHOOK_BUCKET,
        };
        Bucket {
            key: self.key(),
            hash,
            limit,
            per,
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
    /// per second in all; command overwrites get a generous 50 per 20 s per
    /// scope. The gateway URL is `ws://127.0.0.1:1` (nothing listens there)
    /// until [`FakeDiscord::set_gateway_url`]; the application has
    /// [`GATEWAY_MESSAGE_CONTENT_LIMITED`], the Message Content toggle of an
    /// unverified bot.
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
                commands_limit: (50, Duration::from_secs(20)),
                global_limit: 50,
                windows: HashMap::new(),
                global_window: None,
                status_all: None,
                fail_until: None,
                fail_next: VecDeque::new(),
                storm: VecDeque::new(),
                hangs: VecDeque::new(),
                violations: Vec::new(),
                gateway_url: "ws://127.0.0.1:1".to_owned(),
                session_start_limit: SessionStartLimit {
                    total: 1000,
                    remaining: 999,
                    reset_after_ms: 14_400_000,
                    max_concurrency: 1,
                },
                application_flags: GATEWAY_MESSAGE_CONTENT_LIMITED,
                command_ids: HashMap::new(),
                overwrites: Vec::new(),
                interactions: HashMap::new(),
                interaction_deadline: Duration::from_secs(3),
                interaction_lifetime: Duration::from_secs(15 * 60),
                guilds: HashMap::new(),
                channels: HashMap::new(),
                hidden_channels: HashSet::new(),
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

    /// Sets the global limit: `n` requests per second, across everything
    /// but interactions.
    pub fn set_global_limit(&self, n: u32) {
        self.state().global_limit = n;
    }

    /// Sets the limit of command overwrites: `limit` per window of `per`,
    /// per scope (global, or one guild).
    pub fn set_commands_limit(&self, limit: u32, per: Duration) {
        self.state().commands_limit = (limit, per);
    }

    /// The `url` that `GET /gateway/bot` answers, e.g. a fake gateway's
    /// `ws://127.0.0.1:PORT`.
    pub fn set_gateway_url(&self, url: &str) {
        self.state().gateway_url = url.to_owned();
    }

    /// The `session_start_limit` that `GET /gateway/bot` answers.
    pub fn set_session_start_limit(
        &self,
        total: u32,
        remaining: u32,
        reset_after_ms: u64,
        max_concurrency: u32,
    ) {
        self.state().session_start_limit = SessionStartLimit {
            total,
            remaining,
            reset_after_ms,
            max_concurrency,
        };
    }

    /// The `flags` of `GET /applications/@me`, e.g. 0 for a bot whose
    /// Message Content intent is off, or [`GATEWAY_MESSAGE_CONTENT`].
    pub fn set_application_flags(&self, flags: u64) {
        self.state().application_flags = flags;
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

    /// Every OpenAPI schema violation seen in a request body, as
    /// `POST /channels/{channel_id}/messages: /content: ...`.
    pub fn schema_violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// Deletes message `id` on `dest`, as a moderator would: edits of it
    /// then get 404 Unknown Message.
    pub fn delete_message(&self, dest: &str, id: &str) {
        if let Some(all) = self.shared.state().messages.get_mut(dest) {
            all.retain(|m| m.created.id != id);
        }
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

    /// Every command overwrite Discord took, in order: the guild (`None`
    /// for global commands), the body as sent, and when it arrived.
    pub fn command_overwrites(&self) -> Vec<(Option<String>, Value, Instant)> {
        self.state().overwrites.clone()
    }

    /// Makes interaction `id` with `token` known, as if Discord had just
    /// sent it: call it when injecting its `INTERACTION_CREATE` through the
    /// fake gateway. Its deadline and token lifetime count from now.
    ///
    /// Panics if `id` or `token` is registered already: Discord never
    /// reuses either, and the webhook routes find an interaction by its
    /// token.
    pub fn register_interaction(&self, id: &str, token: &str) {
        let mut state = self.state();
        assert!(
            !state.interactions.contains_key(id),
            "interaction {id} is registered already"
        );
        assert!(
            state.interactions.values().all(|i| i.token != token),
            "another interaction has token {token:?} already"
        );
        state.interactions.insert(
            id.to_owned(),
            Interaction {
                token: token.to_owned(),
                registered: Instant::now(),
                acknowledged: false,
                original: None,
                replies: Vec::new(),
            },
        );
    }

    /// How long after registration a callback is still taken (Discord: 3 s).
    pub fn set_interaction_deadline(&self, d: Duration) {
        self.state().interaction_deadline = d;
    }

    /// How long after registration an interaction's token works for edits
    /// and follow-ups (Discord: 15 minutes).
    pub fn set_interaction_lifetime(&self, d: Duration) {
        self.state().interaction_lifetime = d;
    }

    /// Every callback, edit and follow-up for interaction `id`, taken or
    /// refused, in arrival order; empty for an unregistered id.
    pub fn interaction_responses(&self, id: &str) -> Vec<InteractionReply> {
        self.state()
            .interactions
            .get(id)
            .map(|interaction| interaction.replies.clone())
            .unwrap_or_default()
    }

    /// The first reply to interaction `id` that `predicate` accepts, waiting
    /// up to `timeout` for it.
    ///
    /// Panics with the replies seen if none matches in time.
    pub fn wait_for_interaction_reply(
        &self,
        id: &str,
        predicate: impl Fn(&InteractionReply) -> bool,
        timeout: Duration,
    ) -> InteractionReply {
        let deadline = Instant::now() + timeout;
        loop {
            let replies = self.interaction_responses(id);
            if let Some(reply) = replies.iter().find(|r| predicate(r)) {
                return reply.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no reply to interaction {id} matched within {timeout:?}; replies seen: {replies:#?}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Adds guild `guild_id` owned by `owner_id`, with an `@everyone` role
    /// (id `guild_id`) that has no permissions until [`FakeDiscord::add_role`]
    /// gives it some.
    pub fn add_guild(&self, guild_id: &str, owner_id: &str) {
        self.state().guilds.insert(
            guild_id.to_owned(),
            Guild {
                owner_id: owner_id.to_owned(),
                roles: vec![(guild_id.to_owned(), 0)],
                members: HashMap::new(),
            },
        );
    }

    /// Adds role `role_id` with `permissions` to the guild, above the roles
    /// added before it; for a role that exists (`@everyone` has the guild's
    /// id) it sets the permissions.
    ///
    /// Panics if the guild was not added.
    pub fn add_role(&self, guild_id: &str, role_id: &str, permissions: u64) {
        let mut state = self.state();
        let guild = known_guild(&mut state, guild_id);
        match guild.roles.iter_mut().find(|(id, _)| id == role_id) {
            Some((_, bits)) => *bits = permissions,
            None => guild.roles.push((role_id.to_owned(), permissions)),
        }
    }

    /// Makes `user_id` a member of the guild with `roles` (besides
    /// `@everyone`, which every member has without listing it).
    ///
    /// Panics if the guild was not added.
    pub fn add_member(&self, guild_id: &str, user_id: &str, roles: &[&str]) {
        let mut state = self.state();
        let guild = known_guild(&mut state, guild_id);
        let roles = roles.iter().map(|&r| r.to_owned()).collect();
        guild.members.insert(user_id.to_owned(), roles);
    }

    /// Adds text channel `channel_id` in `guild_id` with permission
    /// overwrites `(id, type, allow, deny)`, type [`OVERWRITE_ROLE`] or
    /// [`OVERWRITE_MEMBER`]. Only `GET /channels/{id}` uses it.
    pub fn add_channel(
        &self,
        channel_id: &str,
        guild_id: &str,
        overwrites: &[(&str, u8, u64, u64)],
    ) {
        let overwrites = overwrites
            .iter()
            .map(|&(id, kind, allow, deny)| {
                assert!(
                    kind == OVERWRITE_ROLE || kind == OVERWRITE_MEMBER,
                    "an overwrite's type is 0 (role) or 1 (member), not {kind}"
                );
                (id.to_owned(), kind, allow, deny)
            })
            .collect();
        self.state().channels.insert(
            channel_id.to_owned(),
            Channel {
                guild_id: guild_id.to_owned(),
                overwrites,
            },
        );
    }

    /// `GET /channels/{channel_id}` answers 403 Missing Access, as for a
    /// channel the bot cannot see, added or not.
    pub fn hide_channel(&self, channel_id: &str) {
        self.state().hidden_channels.insert(channel_id.to_owned());
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }
}

/// The guild `id` of a test's setup.
fn known_guild<'a>(state: &'a mut State, id: &str) -> &'a mut Guild {
    state
        .guilds
        .get_mut(id)
        .unwrap_or_else(|| panic!("add_guild({id:?}, ..) first"))
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

/// The routes the fake knows. Interactions are apart because they take
/// other steps (module doc).
enum Route {
    Rest(Rest),
    Callback { id: String, token: String },
    Hook(Hook),
}

/// The routes that take the steps of an ordinary REST request.
enum Rest {
    CreateMessage(Destination),
    EditMessage { dest: Destination, message: String },
    GatewayBot,
    Me,
    Application,
    OverwriteCommands { app: String, guild: Option<String> },
    Channel(String),
    Guild(String),
    Roles(String),
    Member { guild: String, user: String },
}

impl Rest {
    /// The bucket the route counts against, with the limits as they stand.
    fn bucket(&self, state: &State) -> Option<Bucket> {
        let read = |key: String| Bucket {
            key,
            hash: READ_BUCKET,
            limit: READ_LIMIT.0,
            per: READ_LIMIT.1,
        };
        match self {
            Rest::CreateMessage(dest) => Some(dest.bucket(state.channel_limit)),
            Rest::EditMessage { dest, .. } => Some(Bucket {
                key: format!("edit:{}", dest.key()),
                hash: MESSAGE_EDIT_BUCKET,
                limit: state.channel_limit.0,
                per: state.channel_limit.1,
            }),
            Rest::OverwriteCommands { guild, .. } => Some(Bucket {
                key: format!("commands:{}", guild.as_deref().unwrap_or("global")),
                hash: COMMANDS_BUCKET,
                limit: state.commands_limit.0,
                per: state.commands_limit.1,
            }),
            Rest::Channel(id) => Some(read(format!("read:channel:{id}"))),
            // Discord keys buckets by top-level resource: all three are the
            // guild's.
            Rest::Guild(id) | Rest::Roles(id) | Rest::Member { guild: id, .. } => {
                Some(read(format!("read:guild:{id}")))
            }
            Rest::GatewayBot | Rest::Me | Rest::Application => None,
        }
    }
}

/// A request on an interaction's webhook.
struct Hook {
    app: String,
    token: String,
    op: HookOp,
}

#[derive(Clone, Copy)]
enum HookOp {
    Followup,
    Edit,
    GetOriginal,
}

impl Hook {
    /// Follow-ups and edits count against a bucket per token, with the
    /// webhook limit: Discord gives interaction webhooks a webhook's limits.
    fn bucket(&self, state: &State) -> Option<Bucket> {
        let (key, hash) = match self.op {
            HookOp::Followup => ("interaction-followup", WEBHOOK_BUCKET),
            HookOp::Edit => ("interaction-edit", WEBHOOK_EDIT_BUCKET),
            HookOp::GetOriginal => return None,
        };
        Some(Bucket {
            key: format!("{key}:{}", self.token),
            hash,
            limit: state.channel_limit.0,
            per: state.channel_limit.1,
        })
    }
}

/// What routing made of a method and path.
enum Lookup {
    Found(Route),
    WrongMethod,
    Unknown,
}

/// The route of `method` on `path`, if the fake knows it.
fn route(method: &str, path: &str, query: &str) -> Lookup {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let snowflake = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Webhook URLs as Discord shows them have no version.
    let (versioned, rest) = match &segments[..] {
        ["api", "v10", rest @ ..] => (true, rest),
        ["api", rest @ ..] => (false, rest),
        _ => return Lookup::Unknown,
    };
    let only = |allowed: &str, route: Route| {
        if method == allowed {
            Lookup::Found(route)
        } else {
            Lookup::WrongMethod
        }
    };
    let rest_route = |allowed: &str, route: Rest| only(allowed, Route::Rest(route));
    let hook = |app: &str, token: &str, op| {
        Route::Hook(Hook {
            app: app.to_owned(),
            token: token.to_owned(),
            op,
        })
    };
    match *rest {
        ["webhooks", id, token] if snowflake(id) && !token.is_empty() => {
            if id == APPLICATION_ID {
                only("POST", hook(id, token, HookOp::Followup))
            } else {
                let dest = Destination::Webhook {
                    id: id.to_owned(),
                    token: token.to_owned(),
                    wait: query_flag(query, "wait"),
                };
                rest_route("POST", Rest::CreateMessage(dest))
            }
        }
        ["webhooks", id, token, "messages", "@original"] if snowflake(id) && !token.is_empty() => {
            match method {
                "GET" => Lookup::Found(hook(id, token, HookOp::GetOriginal)),
                "PATCH" => Lookup::Found(hook(id, token, HookOp::Edit)),
                _ => Lookup::WrongMethod,
            }
        }
        ["webhooks", id, token, "messages", message]
            if snowflake(id) && !token.is_empty() && snowflake(message) =>
        {
            let dest = Destination::Webhook {
                id: id.to_owned(),
                token: token.to_owned(),
                wait: true,
            };
            let route = Rest::EditMessage {
                dest,
                message: message.to_owned(),
            };
            rest_route("PATCH", route)
        }
        _ if !versioned => Lookup::Unknown,
        ["interactions", id, token, "callback"] if snowflake(id) && !token.is_empty() => {
            let route = Route::Callback {
                id: id.to_owned(),
                token: token.to_owned(),
            };
            only("POST", route)
        }
        ["channels", id, "messages"] if snowflake(id) => rest_route(
            "POST",
            Rest::CreateMessage(Destination::Channel(id.to_owned())),
        ),
        ["channels", id, "messages", message] if snowflake(id) && snowflake(message) => {
            let route = Rest::EditMessage {
                dest: Destination::Channel(id.to_owned()),
                message: message.to_owned(),
            };
            rest_route("PATCH", route)
        }
        ["channels", id] if snowflake(id) => rest_route("GET", Rest::Channel(id.to_owned())),
        ["gateway", "bot"] => rest_route("GET", Rest::GatewayBot),
        ["users", "@me"] => rest_route("GET", Rest::Me),
        ["applications", "@me"] => rest_route("GET", Rest::Application),
        ["applications", app, "commands"] if snowflake(app) => {
            let route = Rest::OverwriteCommands {
                app: app.to_owned(),
                guild: None,
            };
            rest_route("PUT", route)
        }
        ["applications", app, "guilds", guild, "commands"]
            if snowflake(app) && snowflake(guild) =>
        {
            let route = Rest::OverwriteCommands {
                app: app.to_owned(),
                guild: Some(guild.to_owned()),
            };
            rest_route("PUT", route)
        }
        ["guilds", id] if snowflake(id) => rest_route("GET", Rest::Guild(id.to_owned())),
        ["guilds", id, "roles"] if snowflake(id) => rest_route("GET", Rest::Roles(id.to_owned())),
        ["guilds", guild, "members", user] if snowflake(guild) && snowflake(user) => {
            let route = Rest::Member {
                guild: guild.to_owned(),
                user: user.to_owned(),
            };
            rest_route("GET", route)
        }
        _ => Lookup::Unknown,
    }
}

/// Whether boolean query parameter `name` is true (`true`, any case, or `1`,
/// as Discord reads them).
fn query_flag(query: &str, name: &str) -> bool {
    query.split('&').any(|pair| {
        pair.split_once('=')
            .is_some_and(|(k, v)| k == name && (v.eq_ignore_ascii_case("true") || v == "1"))
    })
}

/// Decides the answer to a request: routing, then the steps of the module
/// doc for its kind of route.
fn answer(state: &mut State, spec: Spec, incoming: &Incoming<'_>, now: Instant) -> Reply {
    let route = match route(incoming.method, incoming.path, incoming.query) {
        Lookup::Found(Route::Rest(route)) => route,
        Lookup::Found(Route::Callback { id, token }) => {
            return interaction_callback(state, spec, incoming, &id, &token, now);
        }
        Lookup::Found(Route::Hook(hook)) => {
            return interaction_webhook(state, spec, incoming, &hook, now);
        }
        Lookup::WrongMethod => return discord_error(405, 0, "405: Method Not Allowed"),
        Lookup::Unknown => return discord_error(404, 0, "404: Not Found"),
    };
    match &route {
        Rest::CreateMessage(Destination::Webhook { token, .. })
        | Rest::EditMessage {
            dest: Destination::Webhook { token, .. },
            ..
        } if token != WEBHOOK_TOKEN => {
            return discord_error(401, 50027, "Invalid Webhook Token");
        }
        Rest::CreateMessage(Destination::Webhook { .. })
        | Rest::EditMessage {
            dest: Destination::Webhook { .. },
            ..
        } => {}
        _ if !incoming.has_bot_token() => return discord_error(401, 0, "401: Unauthorized"),
        _ => {}
    }
    let bucket = route.bucket(state);
    let peek = |state: &State| {
        bucket
            .as_ref()
            .map(|b| state.peek(b, now))
            .unwrap_or_default()
    };
    if let Some(retry_after) = state.take_global(now) {
        return rate_limited(retry_after, true).with_headers(peek(state));
    }
    let dest = match &route {
        Rest::CreateMessage(dest) => Some(dest),
        _ => None,
    };
    let injected_status = match dest {
        Some(_) => state.injected(now),
        None => state.status_all,
    };
    if let Some(status) = injected_status {
        return injected(status, dest).with_headers(peek(state));
    }
    let headers = match &bucket {
        Some(bucket) => {
            let storm = match dest {
                Some(_) => state.storm.pop_front(),
                None => None,
            };
            if let Some(retry_after) = storm {
                return limited(bucket, retry_after);
            }
            match state.take_slot(bucket, now) {
                Ok(headers) => headers,
                Err(retry_after) => return limited(bucket, retry_after),
            }
        }
        None => Vec::new(),
    };
    let reply = match route {
        Rest::CreateMessage(dest) => create_message(state, spec, &dest, incoming, now),
        Rest::EditMessage { dest, message } => edit_message(state, spec, &dest, &message, incoming),
        Rest::GatewayBot => gateway_bot(state),
        Rest::Me => Reply::json(200, bot_user()),
        Rest::Application => application(state),
        Rest::OverwriteCommands { app, guild } => {
            overwrite_commands(state, spec, incoming, &app, guild, now)
        }
        Rest::Channel(id) => channel(state, &id),
        Rest::Guild(id) => guild(state, &id),
        Rest::Roles(id) => roles(state, &id),
        Rest::Member { guild, user } => member(state, &guild, &user),
    };
    reply.with_headers(headers)
}

/// The body of a request that must carry JSON, or Discord's 400 for it.
fn json_body<'a>(incoming: &Incoming<'a>) -> Result<&'a Value, Reply> {
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
        return Err(invalid_form_body(&[error]));
    }
    incoming
        .body
        .ok_or_else(|| discord_error(400, 50109, "The request body contains invalid JSON."))
}

/// Checks `checked` (the body, or a copy normalised where the spec and the
/// docs disagree) against the spec for the request's route, keeps the
/// violations, and answers a 400 with them and with `limits`, Discord's
/// own checks, if there are any.
fn validate(
    state: &mut State,
    spec: Spec,
    incoming: &Incoming<'_>,
    checked: &Value,
    limits: Vec<FieldError>,
) -> Result<(), Reply> {
    let method = incoming.method;
    let template = template_of(incoming.path).expect("the fake's routes are in the spec");
    let violations = spec.check_request(method, template, checked);
    state.violations.extend(
        violations
            .iter()
            .map(|v| format!("{method} {template}: {v}")),
    );
    let mut errors: Vec<FieldError> = violations.iter().map(schema_error).collect();
    for error in limits {
        if !errors
            .iter()
            .any(|e| e.pointer == error.pointer && e.code == error.code)
        {
            errors.push(error);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(invalid_form_body(&errors))
    }
}

/// Step 5 of a message create: the body, the nonce, the message.
fn create_message(
    state: &mut State,
    spec: Spec,
    dest: &Destination,
    incoming: &Incoming<'_>,
    now: Instant,
) -> Reply {
    let body = match json_body(incoming) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let limits = discord_limits(body, dest.is_webhook());
    if let Err(reply) = validate(state, spec, incoming, body, limits) {
        return reply;
    }
    if is_empty_message(body) {
        return empty_message();
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

    let id = state.next_id();
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
            fields.insert("author".to_owned(), bot_user());
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
        edits: 0,
    };
    state.messages.entry(key).or_default().push(Stored {
        created,
        json: message.clone(),
    });
    let mut reply = message_reply(dest, message);
    reply.delay = state.hangs.pop_front();
    reply
}

/// A message edit: the body as for a create (but no nonce or username),
/// then the message, which must exist on that channel or webhook.
fn edit_message(
    state: &mut State,
    spec: Spec,
    dest: &Destination,
    message: &str,
    incoming: &Incoming<'_>,
) -> Reply {
    let body = match json_body(incoming) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let limits = discord_limits(body, false);
    if let Err(reply) = validate(state, spec, incoming, body, limits) {
        return reply;
    }
    let Some(stored) = state
        .messages
        .get_mut(&dest.key())
        .and_then(|all| all.iter_mut().find(|m| m.created.id == message))
    else {
        return discord_error(404, 10008, "Unknown Message");
    };
    if let Some(content) = body.get("content") {
        stored.created.content = content.as_str().unwrap_or_default().to_owned();
        stored.json["content"] = content.clone();
    }
    if let Some(embeds) = body.get("embeds") {
        stored.created.embeds = embeds.clone();
        stored.json["embeds"] = embeds.clone();
    }
    stored.created.edits += 1;
    Reply::json(200, stored.json.clone())
}

/// The bot user as `GET /users/@me` answers it and messages name their
/// author.
fn bot_user() -> Value {
    json!({"id": BOT_USER_ID, "username": "fake-bot", "bot": true})
}

fn gateway_bot(state: &State) -> Reply {
    let limit = &state.session_start_limit;
    Reply::json(
        200,
        json!({
            "url": state.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": limit.total,
                "remaining": limit.remaining,
                "reset_after": limit.reset_after_ms,
                "max_concurrency": limit.max_concurrency,
            }
        }),
    )
}

fn application(state: &State) -> Reply {
    Reply::json(
        200,
        json!({
            "id": APPLICATION_ID,
            "name": "fake-app",
            "icon": null,
            "description": "",
            "bot_public": true,
            "bot_require_code_grant": false,
            "verify_key": "0".repeat(64),
            "flags": state.application_flags,
            "team": null,
            "bot": bot_user(),
            "approximate_guild_count": state.guilds.len(),
        }),
    )
}

/// An interaction callback: the steps of the module doc, then the callback
/// is kept with its status if the interaction is registered.
fn interaction_callback(
    state: &mut State,
    spec: Spec,
    incoming: &Incoming<'_>,
    id: &str,
    token: &str,
    now: Instant,
) -> Reply {
    let reply = callback_reply(state, spec, incoming, id, token, now);
    state.record_reply(id, ReplyKind::Callback, incoming, reply.status, now);
    reply
}

fn callback_reply(
    state: &mut State,
    spec: Spec,
    incoming: &Incoming<'_>,
    id: &str,
    token: &str,
    now: Instant,
) -> Reply {
    if let Some(status) = state.status_all {
        return injected(status, None);
    }
    let (deadline, lifetime) = (state.interaction_deadline, state.interaction_lifetime);
    let Some(interaction) = state.interactions.get(id).filter(|i| i.token == token) else {
        return unknown_interaction();
    };
    let age = now.saturating_duration_since(interaction.registered);
    if interaction.acknowledged {
        // Once its token expires Discord forgets the interaction.
        return if age <= lifetime {
            discord_error(400, 40060, "Interaction has already been acknowledged.")
        } else {
            unknown_interaction()
        };
    }
    if age > deadline {
        return unknown_interaction();
    }
    let body = match json_body(incoming) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if let Err(reply) = validate(state, spec, incoming, body, callback_limits(body)) {
        return reply;
    }
    let kind = whole(body.get("type")).unwrap_or_default();
    let data = body.get("data").filter(|d| d.is_object());
    if kind == 4 && data.is_none_or(is_empty_message) {
        return empty_message();
    }
    let flags = data.map_or(0, flags_of);
    let original = match kind {
        4 | 7 => Some(interaction_message(state.next_id(), data, flags)),
        // The user sees "thinking..." until the response is edited; the
        // ephemeral choice is made now and kept.
        5 => Some(interaction_message(
            state.next_id(),
            None,
            (flags & EPHEMERAL) | LOADING,
        )),
        6 => Some(interaction_message(state.next_id(), None, 0)),
        _ => None,
    };
    let interaction = state
        .interactions
        .get_mut(id)
        .expect("the interaction was looked up above");
    interaction.acknowledged = true;
    interaction.original = original.clone();
    if !query_flag(incoming.query, "with_response") {
        return Reply::no_content();
    }
    // The fake does not know the interaction's type: an autocomplete result
    // answers type 4 (APPLICATION_COMMAND_AUTOCOMPLETE), anything else 2.
    let mut callback = json!({"id": id, "type": if kind == 8 { 4 } else { 2 }});
    if let Some(message) = &original {
        callback["response_message_id"] = message["id"].clone();
        callback["response_message_loading"] = json!(kind == 5);
        callback["response_message_ephemeral"] = json!(flags_of(message) & EPHEMERAL != 0);
    }
    let mut resource = json!({"type": kind});
    if matches!(kind, 4 | 7)
        && let Some(message) = original
    {
        resource["message"] = message;
    }
    Reply::json(200, json!({"interaction": callback, "resource": resource}))
}

/// A request on an interaction's webhook: the steps of the module doc, then
/// an edit or follow-up is kept with its status if the token is a
/// registered interaction's.
fn interaction_webhook(
    state: &mut State,
    spec: Spec,
    incoming: &Incoming<'_>,
    hook: &Hook,
    now: Instant,
) -> Reply {
    let id = state
        .interactions
        .iter()
        .find(|(_, i)| i.token == hook.token)
        .map(|(id, _)| id.clone());
    let reply = hook_reply(state, spec, incoming, hook, id.as_deref(), now);
    let kind = match hook.op {
        HookOp::Followup => Some(ReplyKind::Followup),
        HookOp::Edit => Some(ReplyKind::Edit),
        HookOp::GetOriginal => None,
    };
    if let (Some(id), Some(kind)) = (&id, kind) {
        state.record_reply(id, kind, incoming, reply.status, now);
    }
    reply
}

fn hook_reply(
    state: &mut State,
    spec: Spec,
    incoming: &Incoming<'_>,
    hook: &Hook,
    id: Option<&str>,
    now: Instant,
) -> Reply {
    if hook.app != APPLICATION_ID {
        return discord_error(404, 10015, "Unknown Webhook");
    }
    let lifetime = state.interaction_lifetime;
    let live = id
        .filter(|id| now.saturating_duration_since(state.interactions[*id].registered) <= lifetime);
    let Some(id) = live else {
        return discord_error(401, 50027, "Invalid Webhook Token");
    };
    let bucket = hook.bucket(state);
    let peek = |state: &State| {
        bucket
            .as_ref()
            .map(|b| state.peek(b, now))
            .unwrap_or_default()
    };
    if let Some(status) = state.status_all {
        return injected(status, None).with_headers(peek(state));
    }
    // The webhook of an interaction exists once it is acknowledged.
    if !state.interactions[id].acknowledged {
        return discord_error(404, 10015, "Unknown Webhook").with_headers(peek(state));
    }
    let headers = match &bucket {
        Some(bucket) => match state.take_slot(bucket, now) {
            Ok(headers) => headers,
            Err(retry_after) => return limited(bucket, retry_after),
        },
        None => Vec::new(),
    };
    let reply = match hook.op {
        HookOp::GetOriginal => match &state.interactions[id].original {
            Some(message) => Reply::json(200, message.clone()),
            None => unknown_message(),
        },
        HookOp::Edit => edit_original(state, spec, incoming, id),
        HookOp::Followup => followup(state, spec, incoming, id),
    };
    reply.with_headers(headers)
}

fn edit_original(state: &mut State, spec: Spec, incoming: &Incoming<'_>, id: &str) -> Reply {
    let body = match json_body(incoming) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let mut limits = discord_limits(body, false);
    limits.extend(flags_error(body, "", EDIT_FLAGS));
    if let Err(reply) = validate(state, spec, incoming, body, limits) {
        return reply;
    }
    let original = state
        .interactions
        .get_mut(id)
        .and_then(|i| i.original.as_mut());
    match original {
        Some(message) => {
            apply_edit(message, body);
            Reply::json(200, message.clone())
        }
        None => unknown_message(),
    }
}

fn followup(state: &mut State, spec: Spec, incoming: &Incoming<'_>, id: &str) -> Reply {
    let body = match json_body(incoming) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    // `username` and `avatar_url` are ignored on follow-ups, so no
    // webhook-username checks.
    let mut limits = discord_limits(body, false);
    limits.extend(flags_error(body, "", FOLLOWUP_FLAGS));
    if let Err(reply) = validate(state, spec, incoming, body, limits) {
        return reply;
    }
    if is_empty_message(body) {
        return empty_message();
    }
    let loading = state
        .interactions
        .get_mut(id)
        .and_then(|i| i.original.as_mut())
        .filter(|message| flags_of(message) & LOADING != 0);
    if let Some(message) = loading {
        // Deprecated but still Discord's behaviour: the first follow-up
        // after a deferral fills in the loading response, which keeps the
        // ephemeral state chosen at the deferral.
        apply_edit(message, body);
        return Reply::json(200, message.clone());
    }
    let message_id = state.next_id();
    Reply::json(
        200,
        interaction_message(message_id, Some(body), flags_of(body)),
    )
}

/// A message created by an interaction response or follow-up, with the
/// content, embeds and components of `data`.
fn interaction_message(id: String, data: Option<&Value>, flags: u64) -> Value {
    let field = |key: &str, empty: Value| {
        data.and_then(|d| d.get(key))
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(empty)
    };
    json!({
        "id": id,
        // CHAT_INPUT_COMMAND: a reply to a slash command.
        "type": 20,
        "channel_id": WEBHOOK_CHANNEL_ID,
        "application_id": APPLICATION_ID,
        "webhook_id": APPLICATION_ID,
        "author": bot_user(),
        "content": field("content", json!("")),
        "embeds": field("embeds", json!([])),
        "components": field("components", json!([])),
        "flags": flags,
        "tts": false,
        "mention_everyone": false,
        "pinned": false,
    })
}

/// Edits `message` as Edit Webhook Message does: the fields sent replace
/// the old ones (`null` clears them); EPHEMERAL cannot change and LOADING
/// ends.
fn apply_edit(message: &mut Value, edit: &Value) {
    for (key, empty) in [
        ("content", json!("")),
        ("embeds", json!([])),
        ("components", json!([])),
    ] {
        if let Some(value) = edit.get(key) {
            message[key] = if value.is_null() {
                empty
            } else {
                value.clone()
            };
        }
    }
    let old = flags_of(message);
    let set = match edit.get("flags").and_then(Value::as_u64) {
        Some(flags) => flags & EDIT_FLAGS,
        None => old & EDIT_FLAGS,
    };
    message["flags"] = json!((old & EPHEMERAL) | set);
}

/// `flags` of a message or message body; 0 if absent.
fn flags_of(message: &Value) -> u64 {
    message
        .get("flags")
        .and_then(Value::as_u64)
        .unwrap_or_default()
}

/// An error if `message` (at `pointer`) sets a flag outside `allowed`.
fn flags_error(message: &Value, pointer: &str, allowed: u64) -> Option<FieldError> {
    let flags = message.get("flags")?.as_u64()?;
    let extra = flags & !allowed;
    (extra != 0).then(|| FieldError {
        pointer: format!("{pointer}/flags"),
        code: "MESSAGE_FLAGS_INVALID",
        message: format!("Flags {extra} cannot be set here (allowed: {allowed})."),
    })
}

/// The checks Discord documents for a callback body that the spec leaves
/// out: a message response's embed limits and flags (a deferred one may set
/// only EPHEMERAL), and an autocomplete result's `choices`, whose string
/// values may be 100 characters where the spec allows 6000.
fn callback_limits(body: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let data = body.get("data").filter(|d| d.is_object());
    match (whole(body.get("type")), data) {
        (Some(4 | 7), Some(data)) => {
            let message_limits = discord_limits(data, false);
            errors.extend(message_limits.into_iter().map(|e| FieldError {
                pointer: format!("/data{}", e.pointer),
                ..e
            }));
            errors.extend(flags_error(data, "/data", CALLBACK_FLAGS));
        }
        (Some(5), Some(data)) => errors.extend(flags_error(data, "/data", EPHEMERAL)),
        (Some(8), Some(data)) => match data.get("choices").filter(|c| !c.is_null()) {
            None => errors.push(required("/data/choices".to_owned())),
            Some(choices) => {
                let choices = choices.as_array().map(Vec::as_slice).unwrap_or_default();
                for (k, choice) in choices.iter().enumerate() {
                    choice_value_limit(choice, &format!("/data/choices/{k}"), &mut errors);
                }
            }
        },
        _ => {}
    }
    errors
}

/// A choice's string value may have 100 characters (the spec says 6000).
fn choice_value_limit(choice: &Value, at: &str, errors: &mut Vec<FieldError>) {
    if let Some(value) = choice.get("value").and_then(Value::as_str)
        && value.chars().count() > 100
    {
        errors.push(max_length(format!("{at}/value"), 100));
    }
}

fn unknown_interaction() -> Reply {
    discord_error(404, 10062, "Unknown interaction")
}

fn unknown_message() -> Reply {
    discord_error(404, 10008, "Unknown Message")
}

fn empty_message() -> Reply {
    discord_error(400, 50006, "Cannot send an empty message")
}

fn missing_access() -> Reply {
    discord_error(403, 50001, "Missing Access")
}

/// A number that is whole, as JSON Schema's `integer` means it (`4.0` too).
fn whole(value: Option<&Value>) -> Option<u64> {
    let value = value?;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64)
    })
}

/// Step 5 of a command overwrite: the application, the body, then the
/// commands are stored, recorded and echoed.
fn overwrite_commands(
    state: &mut State,
    spec: Spec,
    incoming: &Incoming<'_>,
    app: &str,
    guild: Option<String>,
    now: Instant,
) -> Reply {
    if app != APPLICATION_ID {
        return missing_access();
    }
    let body = match json_body(incoming) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    // The docs type `default_member_permissions` as a string ("0" is admins
    // only) and the spec as an integer; Discord takes both, so a string of
    // digits is checked as the number it stands for.
    let checked = permissions_as_numbers(body);
    if let Err(reply) = validate(state, spec, incoming, &checked, command_limits(body)) {
        return reply;
    }
    let version = state.next_id();
    let previous = state.command_ids.remove(&guild).unwrap_or_default();
    let mut ids = HashMap::new();
    let mut stored = Vec::new();
    // The spec allows `null` for "no commands".
    for command in body.as_array().into_iter().flatten() {
        let kind = whole(command.get("type")).unwrap_or(1);
        let name = command["name"].as_str().unwrap_or_default().to_owned();
        let id = match previous.get(&(kind, name.clone())) {
            Some(id) => id.clone(),
            None => state.next_id(),
        };
        stored.push(stored_command(
            command,
            &id,
            &version,
            kind,
            guild.as_deref(),
        ));
        ids.insert((kind, name), id);
    }
    state.command_ids.insert(guild.clone(), ids);
    state.overwrites.push((guild, body.clone(), now));
    Reply::json(200, Value::Array(stored))
}

/// A copy of a command overwrite body with each `default_member_permissions`
/// that is a string of digits made a number.
fn permissions_as_numbers(body: &Value) -> Value {
    let mut copy = body.clone();
    for command in copy.as_array_mut().into_iter().flatten() {
        if let Some(permissions) = command.get_mut("default_member_permissions")
            && let Some(n) = permissions.as_str().and_then(|s| s.parse::<u64>().ok())
        {
            *permissions = json!(n);
        }
    }
    copy
}

/// A command as Discord stores and answers it: as sent, with its `id`,
/// `application_id`, `version`, `type`, scope, and permissions as a string.
fn stored_command(sent: &Value, id: &str, version: &str, kind: u64, guild: Option<&str>) -> Value {
    let permissions = match sent.get("default_member_permissions") {
        Some(Value::String(s)) => json!(s),
        Some(Value::Number(n)) => json!(n.to_string()),
        _ => Value::Null,
    };
    let mut command = sent.clone();
    let fields = command
        .as_object_mut()
        .expect("the spec makes every command an object");
    fields.insert("id".to_owned(), json!(id));
    fields.insert("application_id".to_owned(), json!(APPLICATION_ID));
    fields.insert("version".to_owned(), json!(version));
    fields.insert("type".to_owned(), json!(kind));
    fields.insert("default_member_permissions".to_owned(), permissions);
    if !fields.get("description").is_some_and(Value::is_string) {
        fields.insert("description".to_owned(), json!(""));
    }
    fields.entry("nsfw").or_insert(json!(false));
    if let Some(guild) = guild {
        fields.insert("guild_id".to_owned(), json!(guild));
    }
    command
}

/// The checks Discord documents for a command overwrite that the spec
/// leaves out. The spec already has lengths, 25 options and choices per
/// level, and the nesting (a group holds subcommands, a subcommand holds
/// neither); these are the rest: names unique per type, at most 100 slash
/// and 15 user and 15 message commands, slash command and option names of
/// the allowed characters in lower case, a slash command's description
/// present and a context-menu command's absent, options per
/// [`option_limits`], and [`COMMAND_SIZE_MAX`] characters per command.
fn command_limits(body: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let commands = body.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut seen: Vec<(u64, &str)> = Vec::new();
    let mut per_type = [0_usize; 4];
    for (i, command) in commands.iter().enumerate() {
        let at = format!("/{i}");
        let kind = match command.get("type") {
            None | Some(Value::Null) => 1,
            sent => match whole(sent) {
                Some(kind) => kind,
                // The spec reports it.
                None => continue,
            },
        };
        if let Some(slot) = usize::try_from(kind).ok().and_then(|k| per_type.get_mut(k)) {
            *slot += 1;
        }
        if let Some(name) = command.get("name").and_then(Value::as_str) {
            if seen.contains(&(kind, name)) {
                errors.push(FieldError {
                    pointer: String::new(),
                    code: "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    message: format!("Application command names must be unique ({name:?})"),
                });
            }
            seen.push((kind, name));
        }
        match kind {
            1 => {
                name_limits(command, &at, &mut errors);
                let described = command
                    .get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| !d.is_empty());
                if !described {
                    errors.push(FieldError {
                        pointer: format!("{at}/description"),
                        code: "BASE_TYPE_BAD_LENGTH",
                        message: "Must be between 1 and 100 in length.".to_owned(),
                    });
                }
                option_limits(
                    array(command, "options"),
                    &format!("{at}/options"),
                    &mut errors,
                );
            }
            2 | 3 => {
                if command
                    .get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| !d.is_empty())
                {
                    errors.push(FieldError {
                        pointer: format!("{at}/description"),
                        code: "APPLICATION_COMMAND_DESCRIPTION_INVALID",
                        message: "Context menu commands cannot have a description.".to_owned(),
                    });
                }
                if !array(command, "options").is_empty() {
                    errors.push(FieldError {
                        pointer: format!("{at}/options"),
                        code: "APPLICATION_COMMAND_OPTIONS_INVALID",
                        message: "Context menu commands cannot have options.".to_owned(),
                    });
                }
            }
            _ => {}
        }
        let size = command_size(command);
        if size > COMMAND_SIZE_MAX {
            errors.push(FieldError {
                pointer: at,
                code: "APPLICATION_COMMAND_TOO_LARGE",
                message: format!("Command exceeds maximum size ({COMMAND_SIZE_MAX}): {size}"),
            });
        }
    }
    for (kind, max, what) in [(1, 100, "slash"), (2, 15, "user"), (3, 15, "message")] {
        if per_type[kind] > max {
            errors.push(FieldError {
                pointer: String::new(),
                code: "APPLICATION_COMMANDS_TOO_MANY",
                message: format!("At most {max} {what} commands per scope."),
            });
        }
    }
    errors
}

/// Options at one level, at `at`: names as for commands and unique,
/// subcommands (and groups) not mixed with other options, required options
/// before optional ones, `autocomplete` not with `choices`, string choice
/// values of at most 100 characters; then the levels below.
fn option_limits(options: &[Value], at: &str, errors: &mut Vec<FieldError>) {
    let nesting = |option: &Value| matches!(whole(option.get("type")), Some(1 | 2));
    let nested = options.iter().filter(|o| nesting(o)).count();
    if nested > 0 && nested < options.len() {
        errors.push(FieldError {
            pointer: at.to_owned(),
            code: "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            message: "Sub-command and sub-command group option types are mutually exclusive \
                      to all other types"
                .to_owned(),
        });
    }
    let mut names: Vec<&str> = Vec::new();
    let mut optional_seen = false;
    for (j, option) in options.iter().enumerate() {
        let here = format!("{at}/{j}");
        name_limits(option, &here, errors);
        if let Some(name) = option.get("name").and_then(Value::as_str) {
            if names.contains(&name) {
                errors.push(FieldError {
                    pointer: format!("{here}/name"),
                    code: "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                    message: format!("Option names must be unique ({name:?})"),
                });
            }
            names.push(name);
        }
        if nesting(option) {
            option_limits(array(option, "options"), &format!("{here}/options"), errors);
            continue;
        }
        let required = option.get("required") == Some(&Value::Bool(true));
        if required && optional_seen {
            errors.push(FieldError {
                pointer: format!("{here}/required"),
                code: "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                message: "Required options must be placed before non-required options".to_owned(),
            });
        }
        optional_seen |= !required;
        let choices = array(option, "choices");
        if option.get("autocomplete") == Some(&Value::Bool(true)) && !choices.is_empty() {
            errors.push(FieldError {
                pointer: format!("{here}/autocomplete"),
                code: "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                message: "Autocomplete cannot be set with choices.".to_owned(),
            });
        }
        for (k, choice) in choices.iter().enumerate() {
            choice_value_limit(choice, &format!("{here}/choices/{k}"), errors);
        }
    }
}

/// The name of a slash command or option, and its localisations.
fn name_limits(object: &Value, at: &str, errors: &mut Vec<FieldError>) {
    let mut check = |pointer: String, name: &str| {
        if !is_command_name(name) {
            errors.push(FieldError {
                pointer,
                code: "APPLICATION_COMMAND_INVALID_NAME",
                message: format!("Command name is invalid: {name:?}"),
            });
        }
    };
    if let Some(name) = object.get("name").and_then(Value::as_str) {
        check(format!("{at}/name"), name);
    }
    if let Some(Value::Object(localised)) = object.get("name_localizations") {
        for (locale, name) in localised {
            if let Some(name) = name.as_str() {
                check(format!("{at}/name_localizations/{locale}"), name);
            }
        }
    }
}

/// Whether `name` has only the characters of Discord's
/// `^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$` (the length is the
/// spec's to check) and no letter that has a lower-case form.
///
/// The regex crate here is built without Unicode classes, so this uses the
/// standard library's: `is_alphabetic` is `\p{L}` plus a few marks and
/// symbols (circled letters, Nl), slightly looser than Discord; `is_numeric`
/// is `\p{N}` exactly; the Devanagari and Thai blocks stand for the scripts.
fn is_command_name(name: &str) -> bool {
    name.chars().all(|c| {
        let allowed = matches!(c, '-' | '_' | '\'')
            || c.is_alphabetic()
            || c.is_numeric()
            || matches!(c, '\u{0900}'..='\u{097F}' | '\u{A8E0}'..='\u{A8FF}' | '\u{11B00}'..='\u{11B5F}')
            || matches!(c, '\u{0E00}'..='\u{0E7F}');
        allowed && c.to_lowercase().eq(std::iter::once(c))
    })
}

/// Characters of a command as Discord counts them against
/// [`COMMAND_SIZE_MAX`]: names, descriptions, choice names and values, of
/// the command and every option, each field at its longest localisation.
fn command_size(command: &Value) -> usize {
    longest(command, "name")
        + longest(command, "description")
        + options_size(array(command, "options"))
}

fn options_size(options: &[Value]) -> usize {
    options
        .iter()
        .map(|option| {
            let choices: usize = array(option, "choices")
                .iter()
                .map(|choice| {
                    let value = match choice.get("value") {
                        Some(Value::String(s)) => s.chars().count(),
                        Some(Value::Number(n)) => n.to_string().len(),
                        _ => 0,
                    };
                    longest(choice, "name") + value
                })
                .sum();
            longest(option, "name")
                + longest(option, "description")
                + choices
                + options_size(array(option, "options"))
        })
        .sum()
}

/// The characters of text field `key`, or of its longest localisation.
fn longest(object: &Value, key: &str) -> usize {
    let chars = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    let own = object.get(key).map_or(0, chars);
    let localised = match object.get(format!("{key}_localizations").as_str()) {
        Some(Value::Object(map)) => map.values().map(chars).max().unwrap_or_default(),
        _ => 0,
    };
    own.max(localised)
}

/// `GET /channels/{id}`: a text channel with its overwrites.
fn channel(state: &State, id: &str) -> Reply {
    if state.hidden_channels.contains(id) {
        return missing_access();
    }
    let Some(channel) = state.channels.get(id) else {
        return discord_error(404, 10003, "Unknown Channel");
    };
    let overwrites: Vec<Value> = channel
        .overwrites
        .iter()
        .map(|(id, kind, allow, deny)| {
            json!({"id": id, "type": kind, "allow": allow.to_string(), "deny": deny.to_string()})
        })
        .collect();
    Reply::json(
        200,
        json!({
            "id": id,
            "type": 0,
            "guild_id": channel.guild_id,
            "name": format!("channel-{id}"),
            "position": 0,
            "permission_overwrites": overwrites,
            "nsfw": false,
            "parent_id": null,
            "topic": null,
            "last_message_id": null,
            "rate_limit_per_user": 0,
            "flags": 0,
        }),
    )
}

fn guild(state: &State, id: &str) -> Reply {
    match state.guilds.get(id) {
        Some(guild) => Reply::json(
            200,
            json!({
                "id": id,
                "name": "Fake Guild",
                "icon": null,
                "owner_id": guild.owner_id,
                "roles": role_objects(id, guild),
                "emojis": [],
                "features": [],
            }),
        ),
        None => unknown_guild(),
    }
}

fn roles(state: &State, id: &str) -> Reply {
    match state.guilds.get(id) {
        Some(guild) => Reply::json(200, Value::Array(role_objects(id, guild))),
        None => unknown_guild(),
    }
}

fn member(state: &State, guild_id: &str, user_id: &str) -> Reply {
    let Some(guild) = state.guilds.get(guild_id) else {
        return unknown_guild();
    };
    let Some(roles) = guild.members.get(user_id) else {
        return discord_error(404, 10007, "Unknown Member");
    };
    let user = if user_id == BOT_USER_ID {
        bot_user()
    } else {
        json!({"id": user_id, "username": format!("user-{user_id}")})
    };
    Reply::json(
        200,
        json!({
            "user": user,
            "nick": null,
            "roles": roles,
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0,
        }),
    )
}

/// A guild's roles as Discord shows them, permissions as decimal strings.
fn role_objects(guild_id: &str, guild: &Guild) -> Vec<Value> {
    guild
        .roles
        .iter()
        .enumerate()
        .map(|(position, (id, permissions))| {
            let name = if id == guild_id {
                "@everyone".to_owned()
            } else {
                format!("role-{id}")
            };
            json!({
                "id": id,
                "name": name,
                "color": 0,
                "hoist": false,
                "position": position,
                "permissions": permissions.to_string(),
                "managed": false,
                "mentionable": false,
                "flags": 0,
            })
        })
        .collect()
}

fn unknown_guild() -> Reply {
    discord_error(404, 10004, "Unknown Guild")
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
                    errors.push(required(pointer));
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

fn required(pointer: String) -> FieldError {
    FieldError {
        pointer,
        code: "BASE_TYPE_REQUIRED",
        message: "This field is required".to_owned(),
    }
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

/// An error answer in Discord's shape: `{"message", "code"}`.
fn discord_error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(status, json!({"message": message, "code": code}))
}

/// A 429 of `bucket`, with its headers.
fn limited(bucket: &Bucket, retry_after: f64) -> Reply {
    let headers = bucket_headers(bucket.limit, 0, retry_after, bucket.hash);
    rate_limited(retry_after, false).with_headers(headers)
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
    match (status, dest) {
        (429, _) => rate_limited(1.0, false),
        (401, _) => discord_error(401, 0, "401: Unauthorized"),
        (403, _) => discord_error(403, 50013, "Missing Permissions"),
        (404, Some(Destination::Webhook { .. })) => discord_error(404, 10015, "Unknown Webhook"),
        (404, Some(Destination::Channel(_))) => discord_error(404, 10003, "Unknown Channel"),
        (status, _) => {
            let reason = StatusCode(status).default_reason_phrase();
            discord_error(status, 0, &format!("{status}: {reason}"))
        }
    }
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
    /// A new snowflake, above every earlier one.
    fn next_id(&mut self) -> String {
        self.last_id = next_snowflake(self.last_id);
        self.last_id.to_string()
    }

    /// Keeps a callback, edit or follow-up of interaction `id`, if it is
    /// registered.
    fn record_reply(
        &mut self,
        id: &str,
        kind: ReplyKind,
        incoming: &Incoming<'_>,
        status: u16,
        now: Instant,
    ) {
        if let Some(interaction) = self.interactions.get_mut(id) {
            interaction.replies.push(InteractionReply {
                kind,
                body: incoming.body.cloned().unwrap_or(Value::Null),
                status,
                at: now,
            });
        }
    }

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

    /// The headers of `bucket` as they stand, using no slot.
    fn peek(&self, bucket: &Bucket, now: Instant) -> Vec<(String, String)> {
        let Bucket {
            limit, per, hash, ..
        } = *bucket;
        let (remaining, reset_after) = match self.windows.get(&bucket.key) {
            Some(window) if now < window.start + per => {
                (limit.saturating_sub(window.used), window.start + per - now)
            }
            _ => (limit, per),
        };
        bucket_headers(limit, remaining, reset_after.as_secs_f64(), hash)
    }

    /// Uses a slot of `bucket`'s window: its headers, or `Err(retry_after)`
    /// if the window is full.
    fn take_slot(&mut self, bucket: &Bucket, now: Instant) -> Result<Vec<(String, String)>, f64> {
        let Bucket {
            limit, per, hash, ..
        } = *bucket;
        let window = self.windows.entry(bucket.key.clone()).or_insert(Window {
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
            hash,
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

/// What every message the daemon posted through `fake` must satisfy:
/// bodies valid against Discord's OpenAPI spec; every POST with Discord's
/// User-Agent, mentions disabled and at most 2000 characters; every
/// channel message with the bot token and a nonce Discord enforces.
pub fn assert_wire_rules(fake: &FakeDiscord) {
    assert_eq!(
        fake.schema_violations(),
        Vec::<String>::new(),
        "request bodies must match Discord's OpenAPI spec"
    );
    for r in fake.requests().iter().filter(|r| r.method == "POST") {
        let header = |name: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert!(
            header("user-agent").is_some_and(|ua| ua.starts_with("DiscordBot (")),
            "{r:?}"
        );
        let body = r.body.as_ref().expect("a JSON body");
        assert_eq!(body["allowed_mentions"], json!({"parse": []}));
        let content = body["content"].as_str().expect("content");
        assert!(content.chars().count() <= 2000);
        if r.path.contains("/channels/") {
            assert_eq!(
                header("authorization").as_deref(),
                Some(format!("Bot {TOKEN}").as_str())
            );
            assert_eq!(body["enforce_nonce"], true);
            assert!(
                body["nonce"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty() && n.len() <= 25)
            );
        }
    }
}

/// The player numbers of every JOIN line (`support::daemon::join_line`) in
/// `messages`, in order.
pub fn join_numbers(messages: &[Created]) -> Vec<usize> {
    messages
        .iter()
        .flat_map(|m| m.content.lines())
        .filter_map(|l| l.split("**p").nth(1)?.get(..6)?.parse().ok())
        .collect()
}

/// Every JOIN line of `want` exactly once and in order across `messages`;
/// the panic shows where they first differ.
pub fn assert_joins(messages: &[Created], want: std::ops::Range<usize>) {
    let got = join_numbers(messages);
    let want: Vec<usize> = want.collect();
    if got != want {
        let first_bad = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{} lines delivered, {} expected; first difference at index {first_bad}: got {:?}, want {:?}",
            got.len(),
            want.len(),
            got.get(first_bad..(first_bad + 5).min(got.len())),
            want.get(first_bad..(first_bad + 5).min(want.len()))
        );
    }
}
