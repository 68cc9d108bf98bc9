//! The gateway session against the fake gateway and the fake REST API:
//! resume after a drop, op 7, op 9, a zombie connection, fatal close
//! codes, shutdown, and heartbeats that keep time while REST is slow.

mod support;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use factorio_isr::discord::gateway::{GatewayJob, Inbound};
use factorio_isr::discord::rest::Rest;
use factorio_isr::health::Health;
use factorio_isr::secret::Secret;
use serde_json::json;
use support::discord::{self, FakeDiscord};
use support::gateway::{Endpoint, FakeGateway};

const WAIT: Duration = Duration::from_secs(15);

/// A gateway session running in its own thread against the two fakes.
struct Session {
    rest: FakeDiscord,
    gateway: FakeGateway,
    inbound: Receiver<Inbound>,
    presence: Sender<String>,
    shutdown: Option<Sender<()>>,
    health: Arc<Health>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Session {
    fn start(token: &str, heartbeat: Duration) -> Session {
        let rest = FakeDiscord::start();
        let gateway = FakeGateway::start();
        gateway.set_heartbeat_interval(heartbeat);
        rest.set_gateway_url(&gateway.url());
        let (inbound_tx, inbound) = bounded(64);
        let (presence, presence_rx) = bounded(4);
        let (shutdown, shutdown_rx) = bounded(0);
        let health = Arc::new(Health::new());
        let job = GatewayJob {
            rest: Rest::new(&rest.api_base(), Some(Secret::new(token))).expect("rest"),
            token: Secret::new(token),
            intents: 0,
            inbound: inbound_tx,
            presence: presence_rx,
            shutdown: shutdown_rx,
            health: health.clone(),
        };
        let thread = std::thread::spawn(move || job.run());
        Session {
            rest,
            gateway,
            inbound,
            presence,
            shutdown: Some(shutdown),
            health,
            thread: Some(thread),
        }
    }

    fn ready(&self) -> (String, String) {
        match self.inbound.recv_timeout(WAIT).expect("READY in time") {
            Inbound::Ready {
                application_id,
                user_id,
            } => (application_id, user_id),
            other => panic!("expected READY, got {other:?}"),
        }
    }

    fn next_dispatch(&self) -> serde_json::Value {
        match self.inbound.recv_timeout(WAIT).expect("a dispatch in time") {
            Inbound::Interaction(d) | Inbound::Message(d) => d,
            other => panic!("expected a dispatch, got {other:?}"),
        }
    }

    /// Waits for the session to give up for good; returns why.
    fn wait_fatal(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(why) = self.health.lock().discord.gateway_fatal.clone() {
                return why;
            }
            assert!(Instant::now() < deadline, "no fatal state");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        drop(self.shutdown.take());
        let thread = self.thread.take().expect("running");
        let deadline = Instant::now() + WAIT;
        while !thread.is_finished() {
            assert!(Instant::now() < deadline, "the gateway thread did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        thread.join().expect("no panic").expect("ends cleanly");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.shutdown.take());
    }
}

#[test]
fn identify_then_resume_after_an_abrupt_drop_replays_what_was_missed() {
    let mut s = Session::start(discord::TOKEN, Duration::from_millis(500));
    let (application, user) = s.ready();
    assert_eq!(application, discord::APPLICATION_ID);
    assert_eq!(user, discord::BOT_USER_ID);
    let id = s.gateway.wait_for_identifies(1, WAIT)[0].clone();
    assert_eq!(id.intents, Some(0), "slash commands need no intents");
    assert!(id.token_ok);
    s.gateway
        .send_message(support::gateway::message_create("before").json());
    assert_eq!(s.next_dispatch()["content"], "before");

    s.gateway.drop_connection();
    // Sent while the bot is away: the resume must replay them, in order.
    s.gateway
        .dispatch("MESSAGE_CREATE", json!({"content": "missed 1"}));
    s.gateway
        .dispatch("MESSAGE_CREATE", json!({"content": "missed 2"}));
    let resume = s.gateway.wait_for_resumes(1, WAIT)[0].clone();
    assert_eq!(
        resume.endpoint,
        Endpoint::Resume,
        "resume_gateway_url was used"
    );
    assert!(resume.resumed, "{resume:?}");
    assert_eq!(resume.replayed.len(), 2);
    assert_eq!(s.next_dispatch()["content"], "missed 1");
    assert_eq!(s.next_dispatch()["content"], "missed 2");
    assert_eq!(s.gateway.identifies().len(), 1, "no new session");
    assert_eq!(s.gateway.protocol_errors(), Vec::<String>::new());
    s.stop();
    assert_eq!(s.gateway.client_close_codes().last(), Some(&1000));
}

#[test]
fn op7_resumes_and_op9_false_identifies_anew() {
    let mut s = Session::start(discord::TOKEN, Duration::from_millis(500));
    s.ready();
    s.gateway.send_reconnect();
    let resume = s.gateway.wait_for_resumes(1, WAIT)[0].clone();
    assert!(resume.resumed);
    assert_eq!(s.gateway.identifies().len(), 1);

    s.gateway.invalidate_session(false);
    s.ready();
    let identifies = s.gateway.wait_for_identifies(2, WAIT);
    assert_eq!(identifies.len(), 2, "a new session after op 9 false");
    // op 9 true keeps the session.
    s.gateway.invalidate_session(true);
    s.gateway.wait_for_resumes(2, WAIT);
    assert_eq!(s.gateway.identifies().len(), 2);
    assert_eq!(s.gateway.protocol_errors(), Vec::<String>::new());
    s.stop();
}

#[test]
fn a_zombie_connection_is_replaced_and_resumed() {
    let mut s = Session::start(discord::TOKEN, Duration::from_millis(200));
    s.ready();
    s.gateway.stop_acking(true);
    let resume = s.gateway.wait_for_resumes(1, WAIT)[0].clone();
    assert!(resume.resumed);
    // The zombie was closed with a code that keeps the session.
    let codes = s.gateway.client_close_codes();
    assert!(
        codes.first().is_some_and(|c| *c != 1000 && *c != 1001),
        "{codes:?}"
    );
    s.stop();
}

#[test]
fn a_rejected_token_stops_the_gateway_with_the_fix_and_no_storm() {
    let mut s = Session::start(discord::TOKEN, Duration::from_millis(500));
    s.gateway.set_refuse_identify_with(Some(4004));
    s.gateway.wait_for_connections(1, WAIT);
    let fatal = s.wait_fatal();
    assert!(fatal.contains("discord.bot_token"), "{fatal}");
    assert!(!fatal.contains(discord::TOKEN));
    // Three heartbeat intervals later, still only the one attempt.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.gateway.connections(), 1, "no reconnect after 4004");
    assert_eq!(
        s.health.verdict().0,
        factorio_isr::health::Status::Unhealthy
    );
    s.stop();
}

/// A token the REST API rejects never reaches the gateway, and is asked
/// about once, not in a loop.
#[test]
fn a_token_rejected_by_rest_is_asked_once() {
    let mut s = Session::start("not-the-token", Duration::from_millis(500));
    s.wait_fatal();
    std::thread::sleep(Duration::from_millis(1500));
    let asked = s
        .rest
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/gateway/bot"))
        .count();
    assert_eq!(asked, 1);
    assert_eq!(s.gateway.connections(), 0);
    s.stop();
}

#[test]
fn disallowed_intents_say_how_to_fix_them() {
    let mut s = Session::start(discord::TOKEN, Duration::from_millis(500));
    s.gateway.set_refuse_identify_with(Some(4014));
    let fatal = s.wait_fatal();
    assert!(fatal.contains("Message Content"), "{fatal}");
    assert!(fatal.contains("/factorio say"), "{fatal}");
    s.stop();
}

#[test]
fn presence_updates_reach_the_gateway() {
    let mut s = Session::start(discord::TOKEN, Duration::from_millis(500));
    s.ready();
    s.presence
        .send("3 players online".to_owned())
        .expect("send");
    let p = s.gateway.wait_for_presence_updates(1, WAIT)[0].clone();
    assert_eq!(p.d["activities"][0]["state"], "3 players online");
    // A new session shows it again without being told.
    s.gateway.invalidate_session(false);
    let again = s.gateway.wait_for_presence_updates(2, WAIT);
    assert_eq!(again[1].d["activities"][0]["state"], "3 players online");
    assert_eq!(s.gateway.identifies().len(), 2);
    s.stop();
}
