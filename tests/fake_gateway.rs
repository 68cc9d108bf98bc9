//! The fake Discord gateway in `tests/support/gateway.rs`, tested over real
//! WebSockets with a plain tungstenite client written here: HELLO, IDENTIFY
//! and READY, heartbeats and zombie mode, sequence numbers, RESUME with
//! replay on the resume URL, op 7 and op 9, close codes both ways, the
//! payload builders, and shutdown. Every assertion is on frames the client
//! really received or on what the fake recorded.

mod support;

use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::discord::TOKEN;
use support::gateway::{
    ADMIN_PERMISSIONS, APPLICATION_ID, BOT_USER_ID, CHANNEL_ID, COMMAND_ID, Ended, Endpoint,
    FakeGateway, GUILD_ID, MEMBER_PERMISSIONS, OptionValue, USER_ID, close,
    interaction_autocomplete, interaction_command, message_create, op,
};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// The longest any frame may take to arrive before the test fails:
/// generous, so a loaded machine does not fail a test.
const PATIENCE: Duration = Duration::from_secs(10);

/// GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT, what the daemon asks for.
const INTENTS: u64 = 33_281;

/// What the client got next.
#[derive(Debug)]
enum Frame {
    Payload(Value),
    /// A close frame: code and reason.
    Closed(u16, String),
    /// The connection ended without a close frame.
    Gone,
}

/// A plain gateway client: no heartbeat timer, no reconnects; the test
/// says what to send and reads what comes.
struct Client {
    ws: WebSocket<TcpStream>,
}

impl Client {
    /// Connects to `base` as a v10 JSON client would.
    fn connect(base: &str) -> Client {
        Client::connect_with_query(base, "v=10&encoding=json")
    }

    fn connect_with_query(base: &str, query: &str) -> Client {
        let addr = base
            .strip_prefix("ws://")
            .expect("the fake's URLs are ws://");
        let stream = TcpStream::connect(addr).expect("the fake accepts connections");
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("set a read timeout");
        let (ws, _) =
            tungstenite::client(format!("{base}/?{query}"), stream).expect("WebSocket handshake");
        Client { ws }
    }

    /// Connects and reads HELLO; returns its `d`.
    fn hello(base: &str) -> (Client, Value) {
        let mut client = Client::connect(base);
        let hello = client.recv_op(op::HELLO);
        (client, hello["d"].clone())
    }

    /// Connects, identifies and reads READY (s=1); returns READY's `d`.
    /// The fake must have GUILD_CREATE switched off, or it comes next.
    fn ready(fake: &FakeGateway) -> (Client, Value) {
        let (mut client, _) = Client::hello(&fake.url());
        client.send(identify(TOKEN));
        let ready = client.recv_op(op::DISPATCH);
        assert_eq!(
            (ready["t"].as_str(), ready["s"].as_u64()),
            (Some("READY"), Some(1))
        );
        (client, ready["d"].clone())
    }

    fn send(&mut self, payload: Value) {
        self.ws
            .send(Message::text(payload.to_string()))
            .expect("send to the fake");
    }

    fn next(&mut self) -> Frame {
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    return Frame::Payload(
                        serde_json::from_str(text.as_str()).expect("the fake sends JSON"),
                    );
                }
                Ok(Message::Close(frame)) => {
                    // Sends tungstenite's reply, so the fake need not wait
                    // for it.
                    let _ = self.ws.flush();
                    let (code, reason) = frame.map_or((close::NO_STATUS, String::new()), |f| {
                        (u16::from(f.code), f.reason.as_str().to_owned())
                    });
                    return Frame::Closed(code, reason);
                }
                Ok(Message::Binary(_)) => panic!("the fake sent a binary frame"),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("nothing from the fake within {PATIENCE:?}")
                }
                Err(_) => return Frame::Gone,
            }
        }
    }

    /// The next payload, which must have opcode `op`.
    fn recv_op(&mut self, op: u64) -> Value {
        match self.next() {
            Frame::Payload(payload) => {
                assert_eq!(payload["op"], op, "expected op {op}, got {payload}");
                payload
            }
            other => panic!("expected op {op}, got {other:?}"),
        }
    }

    /// The next dispatch, which must be `t` with sequence number `s`;
    /// returns its `d`.
    fn recv_dispatch(&mut self, t: &str, s: u64) -> Value {
        let payload = self.recv_op(op::DISPATCH);
        assert_eq!(
            (payload["t"].as_str(), payload["s"].as_u64()),
            (Some(t), Some(s)),
            "{payload}"
        );
        payload["d"].clone()
    }

    /// The next frame, which must be a close frame.
    fn expect_close(&mut self) -> (u16, String) {
        match self.next() {
            Frame::Closed(code, reason) => (code, reason),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// Sends a close frame with `code` and waits for the fake's reply.
    fn close(mut self, code: u16) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: "test".into(),
        };
        self.ws.close(Some(frame)).expect("send a close frame");
        while self.ws.read().is_ok() {}
    }
}

fn identify(token: &str) -> Value {
    json!({"op": op::IDENTIFY, "d": {
        "token": token,
        "intents": INTENTS,
        "properties": {"os": "linux", "browser": "factorio-isr", "device": "factorio-isr"},
    }})
}

fn resume(session_id: &str, seq: u64) -> Value {
    json!({"op": op::RESUME, "d": {"token": TOKEN, "session_id": session_id, "seq": seq}})
}

fn heartbeat(seq: Option<u64>) -> Value {
    json!({"op": op::HEARTBEAT, "d": seq})
}

/// A fake with GUILD_CREATE off, so READY is the only dispatch before the
/// test's own.
fn quiet_fake() -> FakeGateway {
    let fake = FakeGateway::start();
    fake.set_guild_create(false);
    fake
}

// ---- connect and identify ----

#[test]
fn hello_comes_first_with_the_interval_set() {
    let fake = FakeGateway::start();
    let (_client, d) = Client::hello(&fake.url());
    assert_eq!(d["heartbeat_interval"], 41_250);

    fake.set_heartbeat_interval(Duration::from_millis(250));
    let mut client = Client::connect(&fake.url());
    let hello = client.recv_op(op::HELLO);
    assert_eq!(hello["d"]["heartbeat_interval"], 250);
    assert_eq!((&hello["s"], &hello["t"]), (&Value::Null, &Value::Null));

    let log = fake.wait_for_connections(2, PATIENCE);
    assert_eq!(log[1].endpoint, Endpoint::Main);
    assert_eq!(log[1].path, "/");
    assert_eq!(log[1].query, "v=10&encoding=json");
    assert_eq!(log[1].ended, None);
    assert_eq!(fake.open_connections(), 2);
}

#[test]
fn identify_gets_ready_then_guild_create() {
    let fake = FakeGateway::start();
    let (mut client, _) = Client::hello(&fake.url());
    client.send(identify(TOKEN));

    let ready = client.recv_dispatch("READY", 1);
    assert_eq!(ready["v"], 10);
    let session_id = ready["session_id"].as_str().expect("a session id");
    assert_eq!(session_id.len(), 32);
    assert_eq!(fake.session_id().as_deref(), Some(session_id));
    assert_eq!(ready["resume_gateway_url"], fake.resume_url());
    assert_ne!(fake.resume_url(), fake.url());
    assert_eq!(ready["application"]["id"], APPLICATION_ID);
    assert_eq!(
        (&ready["user"]["id"], &ready["user"]["bot"]),
        (&json!(BOT_USER_ID), &json!(true))
    );
    assert_eq!(
        ready["guilds"],
        json!([{"id": GUILD_ID, "unavailable": true}])
    );
    let guild = client.recv_dispatch("GUILD_CREATE", 2);
    assert_eq!(guild["id"], GUILD_ID);
    assert_eq!(guild["channels"][0]["id"], CHANNEL_ID);

    let identifies = fake.wait_for_identifies(1, PATIENCE);
    assert!(identifies[0].token_ok);
    assert_eq!(identifies[0].intents, Some(INTENTS));
    assert_eq!(identifies[0].d["properties"]["os"], "linux");
    assert_eq!(identifies[0].session_id.as_deref(), Some(session_id));

    // A second identify opens a new session, which dispatches now go to.
    let (mut other, _) = Client::hello(&fake.url());
    other.send(identify(TOKEN));
    let second = other.recv_dispatch("READY", 1);
    assert_ne!(second["session_id"], ready["session_id"]);
    assert_eq!(fake.session_id().as_deref(), second["session_id"].as_str());
    assert!(fake.protocol_errors().is_empty());
}

#[test]
fn a_wrong_token_is_closed_with_4004() {
    let fake = FakeGateway::start();
    let (mut client, _) = Client::hello(&fake.url());
    // Discord wants the bare token in IDENTIFY, not the REST header form.
    client.send(identify(&format!("Bot {TOKEN}")));
    assert_eq!(
        client.expect_close(),
        (4004, "Authentication failed.".to_owned())
    );

    let log = fake.wait_for_no_connection(PATIENCE);
    assert_eq!(log[0].ended, Some(Ended::ServerClosed(4004)));
    let identifies = fake.identifies();
    assert_eq!(identifies.len(), 1);
    assert!(!identifies[0].token_ok);
    assert_eq!(identifies[0].session_id, None);
    assert_eq!(fake.server_closes()[0].code, 4004);
    assert_eq!(fake.session_id(), None);
}

#[test]
fn refused_identifies_close_with_the_code_set() {
    let fake = quiet_fake();
    fake.set_refuse_identify_with(Some(close::DISALLOWED_INTENTS));
    let (mut client, _) = Client::hello(&fake.url());
    client.send(identify(TOKEN));
    assert_eq!(
        client.expect_close(),
        (4014, "Disallowed intent(s).".to_owned())
    );
    // Refused on purpose: not the client's mistake.
    assert!(fake.protocol_errors().is_empty());

    fake.set_refuse_identify_with(None);
    let (_client, ready) = Client::ready(&fake);
    assert!(ready["session_id"].is_string());
}

#[test]
fn identify_is_checked_like_discord_does() {
    let fake = quiet_fake();
    let cases = [
        (
            json!({"token": TOKEN, "properties": {"os": "l", "browser": "b", "device": "d"}}),
            4013,
        ),
        (
            json!({"token": TOKEN, "intents": 1u64 << 40,
                "properties": {"os": "l", "browser": "b", "device": "d"}}),
            4013,
        ),
        (
            json!({"token": TOKEN, "intents": INTENTS, "properties": {"os": "l", "browser": "b"}}),
            4002,
        ),
        (
            json!({"token": TOKEN, "intents": INTENTS, "shard": [1, 1],
                "properties": {"os": "l", "browser": "b", "device": "d"}}),
            4010,
        ),
    ];
    for (d, code) in cases {
        let (mut client, _) = Client::hello(&fake.url());
        client.send(json!({"op": op::IDENTIFY, "d": d}));
        assert_eq!(client.expect_close().0, code, "for {d}");
    }
    assert_eq!(fake.protocol_errors().len(), 4);
    assert_eq!(fake.session_id(), None);
}

// ---- heartbeats ----

#[test]
fn heartbeats_are_acked_and_recorded() {
    let fake = quiet_fake();
    let (mut client, _) = Client::hello(&fake.url());
    // Allowed before IDENTIFY: clients start their timer at HELLO.
    client.send(heartbeat(None));
    let ack = client.recv_op(op::HEARTBEAT_ACK);
    assert_eq!(ack["d"], Value::Null);

    client.send(identify(TOKEN));
    client.recv_dispatch("READY", 1);
    client.send(heartbeat(Some(1)));
    client.recv_op(op::HEARTBEAT_ACK);

    let beats = fake.wait_for_heartbeats(2, PATIENCE);
    assert_eq!(
        beats.iter().map(|b| (b.d, b.acked)).collect::<Vec<_>>(),
        [(None, true), (Some(1), true)]
    );
    assert!(beats[0].at <= beats[1].at);
}

#[test]
fn a_zombie_connection_gets_no_ack() {
    let fake = quiet_fake();
    let (mut zombie, _) = Client::ready(&fake);
    fake.stop_acking(true);
    zombie.send(heartbeat(Some(1)));
    fake.wait_for_heartbeats(1, PATIENCE);
    // Had the heartbeat been ACKed, the ACK would be written before the
    // connection takes up this dispatch: so the dispatch must come first.
    let seq = fake.dispatch("CANARY", json!({"n": 1}));
    assert_eq!(zombie.recv_dispatch("CANARY", seq)["n"], 1);
    assert!(!fake.heartbeats()[0].acked);

    // A fresh connection ACKs, as a reconnect to Discord would.
    let (mut fresh, _) = Client::hello(&fake.url());
    fresh.send(heartbeat(None));
    fresh.recv_op(op::HEARTBEAT_ACK);

    fake.stop_acking(false);
    zombie.send(heartbeat(Some(seq)));
    zombie.recv_op(op::HEARTBEAT_ACK);
    let acked: Vec<bool> = fake.heartbeats().iter().map(|b| b.acked).collect();
    assert_eq!(acked, [false, true, true]);
}

#[test]
fn the_fake_can_ask_for_a_heartbeat() {
    let fake = quiet_fake();
    let (mut client, _) = Client::ready(&fake);
    let asked = fake.request_heartbeat();
    let request = client.recv_op(op::HEARTBEAT);
    assert_eq!(request["d"], Value::Null);
    client.send(heartbeat(Some(1)));
    client.recv_op(op::HEARTBEAT_ACK);
    let beats = fake.wait_for_heartbeats(1, PATIENCE);
    assert!(beats[0].at >= asked);
}

// ---- dispatches and resume ----

#[test]
fn dispatches_count_up_from_ready() {
    let fake = FakeGateway::start();
    let (mut client, _) = Client::hello(&fake.url());
    client.send(identify(TOKEN));
    client.recv_dispatch("READY", 1);
    client.recv_dispatch("GUILD_CREATE", 2);

    let seqs: Vec<u64> = (0..3)
        .map(|n| fake.dispatch("TEST_EVENT", json!({"n": n})))
        .collect();
    assert_eq!(seqs, [3, 4, 5]);
    for (n, seq) in seqs.into_iter().enumerate() {
        assert_eq!(client.recv_dispatch("TEST_EVENT", seq)["n"], n);
    }
    let dispatched = fake.dispatched();
    assert_eq!(dispatched.len(), 5);
    assert!(dispatched.iter().all(|d| d.live));
}

#[test]
fn resume_on_the_resume_url_replays_what_was_missed() {
    let fake = quiet_fake();
    let (mut first, ready) = Client::ready(&fake);
    let session_id = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    assert_eq!(fake.dispatch("BEFORE", json!({"n": 0})), 2);
    first.recv_dispatch("BEFORE", 2);

    fake.drop_connection();
    assert!(matches!(first.next(), Frame::Gone));
    assert_eq!(fake.dispatch("WHILE_DOWN", json!({"n": 1})), 3);
    assert_eq!(fake.dispatch("WHILE_DOWN", json!({"n": 2})), 4);
    assert!(!fake.dispatched()[3].live);

    let resume_url = ready["resume_gateway_url"].as_str().expect("a resume URL");
    let (mut second, _) = Client::hello(resume_url);
    second.send(resume(&session_id, 2));
    assert_eq!(second.recv_dispatch("WHILE_DOWN", 3)["n"], 1);
    assert_eq!(second.recv_dispatch("WHILE_DOWN", 4)["n"], 2);
    second.recv_dispatch("RESUMED", 5);

    let resumes = fake.wait_for_resumes(1, PATIENCE);
    assert_eq!(resumes[0].endpoint, Endpoint::Resume);
    assert_eq!(
        (resumes[0].session_id.as_str(), resumes[0].seq),
        (session_id.as_str(), 2)
    );
    assert!(resumes[0].resumed);
    assert_eq!(resumes[0].replayed, [3, 4]);
    let log = fake.connection_log();
    assert_eq!(log[0].ended, Some(Ended::Dropped));
    assert_eq!(log[1].endpoint, Endpoint::Resume);

    // The session lives on, on the new connection.
    assert_eq!(fake.dispatch("AFTER", json!({})), 6);
    second.recv_dispatch("AFTER", 6);
    assert!(fake.protocol_errors().is_empty());
}

#[test]
fn a_resume_that_cannot_work_gets_op_9_or_4007() {
    let fake = quiet_fake();
    let (mut client, _) = Client::hello(&fake.url());
    client.send(resume("no-such-session", 1));
    assert_eq!(client.recv_op(op::INVALID_SESSION)["d"], false);
    // The connection stays usable: IDENTIFY on it opens a session.
    client.send(identify(TOKEN));
    let ready = client.recv_dispatch("READY", 1);
    let session_id = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();

    let (mut wrong_token, _) = Client::hello(&fake.resume_url());
    wrong_token.send(json!({"op": op::RESUME,
                            "d": {"token": "nope", "session_id": session_id, "seq": 1}}));
    assert_eq!(wrong_token.expect_close().0, 4004);

    // A seq the session never reached ends it.
    fake.drop_connection();
    let (mut ahead, _) = Client::hello(&fake.resume_url());
    ahead.send(resume(&session_id, 99));
    assert_eq!(ahead.expect_close(), (4007, "Invalid seq.".to_owned()));
    let (mut late, _) = Client::hello(&fake.resume_url());
    late.send(resume(&session_id, 1));
    assert_eq!(late.recv_op(op::INVALID_SESSION)["d"], false);

    let outcomes: Vec<bool> = fake.resumes().iter().map(|r| r.resumed).collect();
    assert_eq!(outcomes, [false, false, false]);
}

// ---- controls ----

#[test]
fn op_7_and_op_9_go_out_on_command() {
    let fake = quiet_fake();
    let (mut client, ready) = Client::ready(&fake);
    let session_id = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();

    fake.send_reconnect();
    assert_eq!(client.recv_op(op::RECONNECT)["d"], Value::Null);

    // d:true: the session may still be resumed.
    fake.invalidate_session(true);
    assert_eq!(client.recv_op(op::INVALID_SESSION)["d"], true);
    client.close(4000);
    let (mut resumed, _) = Client::hello(&fake.resume_url());
    resumed.send(resume(&session_id, 1));
    resumed.recv_dispatch("RESUMED", 2);

    // d:false: it may not.
    fake.invalidate_session(false);
    assert_eq!(resumed.recv_op(op::INVALID_SESSION)["d"], false);
    resumed.close(4000);
    let (mut refused, _) = Client::hello(&fake.resume_url());
    refused.send(resume(&session_id, 2));
    assert_eq!(refused.recv_op(op::INVALID_SESSION)["d"], false);
}

#[test]
fn close_with_sends_the_code_and_4009_ends_the_session() {
    let fake = quiet_fake();
    let (mut client, _) = Client::ready(&fake);
    fake.close_with(4000, close::reason(4000));
    assert_eq!(client.expect_close(), (4000, "Unknown error.".to_owned()));
    fake.wait_for_no_connection(PATIENCE);
    let session_id = fake.session_id().expect("a session");
    let (mut back, _) = Client::hello(&fake.resume_url());
    back.send(resume(&session_id, 1));
    back.recv_dispatch("RESUMED", 2);

    fake.close_with(4009, close::reason(4009));
    assert_eq!(back.expect_close().0, 4009);
    let (mut again, _) = Client::hello(&fake.resume_url());
    again.send(resume(&session_id, 2));
    assert_eq!(again.recv_op(op::INVALID_SESSION)["d"], false);
    let codes: Vec<u16> = fake.server_closes().iter().map(|c| c.code).collect();
    assert_eq!(codes, [4000, 4009]);
}

#[test]
fn the_client_close_code_is_recorded_and_1000_ends_the_session() {
    let fake = quiet_fake();
    let (client, ready) = Client::ready(&fake);
    let clean = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    client.close(1000);
    let closes = fake.wait_for_client_closes(1, PATIENCE);
    assert_eq!((closes[0].code, closes[0].reason.as_str()), (1000, "test"));
    assert_eq!(fake.client_close_codes(), [1000]);
    let log = fake.wait_for_no_connection(PATIENCE);
    assert_eq!(log[0].ended, Some(Ended::ClientClosed(1000)));
    let (mut after_clean, _) = Client::hello(&fake.url());
    after_clean.send(resume(&clean, 1));
    assert_eq!(after_clean.recv_op(op::INVALID_SESSION)["d"], false);

    // Any other code keeps the session for a RESUME.
    let (client, ready) = Client::ready(&fake);
    let kept = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    client.close(4000);
    fake.wait_for_client_closes(2, PATIENCE);
    let (mut after_4000, _) = Client::hello(&fake.resume_url());
    after_4000.send(resume(&kept, 1));
    after_4000.recv_dispatch("RESUMED", 2);
    assert_eq!(fake.client_close_codes(), [1000, 4000]);
}

#[test]
fn presence_updates_are_recorded_and_checked() {
    let fake = quiet_fake();
    let (mut client, _) = Client::ready(&fake);
    let presence = json!({"since": null, "status": "online", "afk": false,
                          "activities": [{"name": "Factorio: 3 players", "type": 0}]});
    client.send(json!({"op": op::PRESENCE_UPDATE, "d": presence}));
    let updates = fake.wait_for_presence_updates(1, PATIENCE);
    assert_eq!(updates[0].d, presence);

    client.send(json!({"op": op::PRESENCE_UPDATE,
                       "d": {"since": null, "status": "busy", "afk": false, "activities": []}}));
    assert_eq!(client.expect_close().0, 4002);
    assert_eq!(fake.wait_for_presence_updates(2, PATIENCE).len(), 2);
}

#[test]
fn mistakes_close_with_discords_codes() {
    let fake = quiet_fake();
    let unknown_op = json!({"op": 99, "d": null}).to_string();
    let presence = json!({"op": op::PRESENCE_UPDATE,
                          "d": {"since": null, "status": "online", "afk": false, "activities": []}})
    .to_string();
    let oversized = json!({"op": op::HEARTBEAT, "d": null, "pad": "x".repeat(5000)}).to_string();
    let cases = [
        (unknown_op, 4001, "Unknown opcode."),
        ("{not json".to_owned(), 4002, "Decode error."),
        (json!({"d": 1}).to_string(), 4002, "Decode error."),
        (oversized, 4002, "Decode error."),
        (presence, 4003, "Not authenticated."),
    ];
    for (text, code, reason) in &cases {
        let (mut client, _) = Client::hello(&fake.url());
        client.ws.send(Message::text(text.clone())).expect("send");
        assert_eq!(
            client.expect_close(),
            (*code, (*reason).to_owned()),
            "for {text:.60}"
        );
    }
    let (mut binary, _) = Client::hello(&fake.url());
    binary
        .ws
        .send(Message::binary(b"{\"op\":1,\"d\":null}".to_vec()))
        .expect("send");
    assert_eq!(binary.expect_close().0, 4002);

    let (mut twice, _) = Client::ready(&fake);
    twice.send(identify(TOKEN));
    assert_eq!(
        twice.expect_close(),
        (4005, "Already authenticated.".to_owned())
    );

    let errors = fake.protocol_errors();
    assert_eq!(errors.len(), cases.len() + 2, "{errors:#?}");
    assert!(errors[0].contains("unknown opcode 99"), "{}", errors[0]);
    let received = fake.received();
    assert_eq!(received[0].op, Some(99));
    assert_eq!(received[1].op, None);
}

#[test]
fn a_bad_query_is_refused_before_hello() {
    let fake = FakeGateway::start();
    for (query, code) in [
        ("v=9&encoding=json", 4012),
        ("encoding=json", 4012),
        ("v=10&encoding=etf", 4002),
        ("v=10&encoding=json&compress=zlib-stream", 4002),
    ] {
        let mut client = Client::connect_with_query(&fake.url(), query);
        assert_eq!(client.expect_close().0, code, "for {query}");
    }
    let log = fake.wait_for_no_connection(PATIENCE);
    assert_eq!(log[1].query, "encoding=json");
    assert_eq!(fake.protocol_errors().len(), 4);
}

// ---- payload builders ----

#[test]
fn a_slash_command_arrives_as_discord_sends_it() {
    let fake = quiet_fake();
    let (mut client, _) = Client::ready(&fake);
    let kick = interaction_command("admin kick")
        .option("player", "bob")
        .option("minutes", 5)
        .option("user", OptionValue::User("1200000000000000009".to_owned()))
        .admin();
    let seq = fake.send_interaction(&kick);
    let d = client.recv_dispatch("INTERACTION_CREATE", seq);

    assert_eq!(
        (d["id"].as_str(), d["token"].as_str()),
        (Some(kick.id()), Some(kick.token()))
    );
    assert_eq!(d["type"], 2);
    assert_eq!(d["application_id"], APPLICATION_ID);
    assert_eq!(
        (&d["guild_id"], &d["channel_id"]),
        (&json!(GUILD_ID), &json!(CHANNEL_ID))
    );
    assert_eq!(d["member"]["user"]["id"], USER_ID);
    assert_eq!(d["member"]["permissions"], ADMIN_PERMISSIONS);
    assert_eq!(d["member"]["user"]["global_name"], "Engineer");
    let data = &d["data"];
    assert_eq!(
        (&data["id"], &data["name"], &data["type"]),
        (&json!(COMMAND_ID), &json!("factorio"), &json!(1))
    );
    let group = &data["options"][0];
    assert_eq!(
        (&group["name"], &group["type"]),
        (&json!("admin"), &json!(2))
    );
    let sub = &group["options"][0];
    assert_eq!((&sub["name"], &sub["type"]), (&json!("kick"), &json!(1)));
    assert_eq!(
        sub["options"],
        json!([
            {"name": "player", "type": 3, "value": "bob"},
            {"name": "minutes", "type": 4, "value": 5},
            {"name": "user", "type": 6, "value": "1200000000000000009"},
        ])
    );
    assert_eq!(
        data["resolved"]["users"]["1200000000000000009"]["id"],
        "1200000000000000009"
    );

    // Two interactions never share an id or a token.
    let other = interaction_command("players");
    assert_ne!(other.id(), kick.id());
    assert_ne!(other.token(), kick.token());
}

#[test]
fn autocomplete_and_dm_interactions_have_their_shapes() {
    let auto = interaction_autocomplete("players", "server", "pro").json();
    assert_eq!(auto["type"], 4);
    assert_eq!(
        auto["data"]["options"],
        json!([{"name": "players", "type": 1, "options": [
            {"name": "server", "type": 3, "value": "pro", "focused": true},
        ]}])
    );
    assert_eq!(auto["member"]["permissions"], MEMBER_PERMISSIONS);

    let dm = interaction_command("status")
        .in_dm()
        .user("42", "alice")
        .json();
    assert_eq!(dm["user"]["id"], "42");
    assert!(dm.get("member").is_none() && dm.get("guild_id").is_none());
    assert_eq!(
        dm["data"]["options"],
        json!([{"name": "status", "type": 1, "options": []}])
    );

    let bare = interaction_command("").json();
    assert!(bare["data"].get("options").is_none());
}

#[test]
fn messages_arrive_with_author_mentions_and_attachments() {
    let fake = quiet_fake();
    let (mut client, _) = Client::ready(&fake);
    let message = message_create("hello <@2>")
        .mention("2", "bob")
        .attachment("map.png", 1234);
    let seq = fake.send_message(&message);
    let d = client.recv_dispatch("MESSAGE_CREATE", seq);
    assert_eq!(d["id"], message.id());
    assert_eq!(d["content"], "hello <@2>");
    assert_eq!(
        (&d["guild_id"], &d["channel_id"]),
        (&json!(GUILD_ID), &json!(CHANNEL_ID))
    );
    assert_eq!(d["author"]["id"], USER_ID);
    assert!(d["author"].get("bot").is_none(), "humans carry no bot flag");
    assert!(d["member"].is_object());
    assert_eq!(d["mentions"][0]["id"], "2");
    assert_eq!(
        (
            &d["attachments"][0]["filename"],
            &d["attachments"][0]["size"]
        ),
        (&json!("map.png"), &json!(1234))
    );
    assert!(d.get("webhook_id").is_none());

    let hook = message_create("[server] alice joined")
        .webhook("77", "Factorio")
        .json();
    assert_eq!(
        (&hook["webhook_id"], &hook["author"]["id"]),
        (&json!("77"), &json!("77"))
    );
    assert_eq!(hook["author"]["bot"], true);
    assert!(hook.get("member").is_none());

    let own = message_create("relayed").by_the_bot().json();
    assert_eq!(
        (&own["author"]["id"], &own["author"]["bot"]),
        (&json!(BOT_USER_ID), &json!(true))
    );
}

// ---- waits and shutdown ----

#[test]
#[should_panic(expected = "waited 50ms for 1 successful IDENTIFYs")]
fn a_wait_that_times_out_panics_with_what_it_waited_for() {
    let fake = FakeGateway::start();
    fake.wait_for_identifies(1, Duration::from_millis(50));
}

#[test]
#[should_panic(expected = "before any IDENTIFY")]
fn dispatch_before_identify_panics() {
    let fake = FakeGateway::start();
    fake.dispatch("READY", json!({}));
}

#[test]
fn dropping_the_fake_ends_connections_and_threads() {
    let fake = quiet_fake();
    let (mut client, _) = Client::ready(&fake);
    let started = Instant::now();
    drop(fake);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the drop took {:?}",
        started.elapsed()
    );
    assert!(matches!(client.next(), Frame::Gone));
}
