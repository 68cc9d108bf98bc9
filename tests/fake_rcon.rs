//! The fake Factorio RCON server in `tests/support/rcon.rs`, tested over
//! real TCP with a raw client framed by hand here (not with the fake's own
//! codec, so a framing bug cannot hide in both): auth, the command outputs
//! and their shapes per version, the game clock, every fault switch, what
//! is recorded, and shutdown.

mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::rcon::{FakeRcon, SPLIT_CHUNK, SPLIT_PAUSE, Version, big_body, format_map_age};

/// The longest any answer may take before the test fails: generous, so a
/// loaded machine does not fail a test.
const PATIENCE: Duration = Duration::from_secs(10);

/// The password the fakes here accept.
const PASSWORD: &str = "hunter2";

const AUTH: i32 = 3;
const AUTH_RESPONSE: i32 = 2;
const EXECCOMMAND: i32 = 2;
const RESPONSE_VALUE: i32 = 0;

/// One packet as received.
#[derive(Debug, PartialEq)]
struct Packet {
    id: i32,
    kind: i32,
    body: String,
}

/// `size | id | type | body | 0 0`, little-endian, by hand.
fn frame(id: i32, kind: i32, body: &str) -> Vec<u8> {
    let size = i32::try_from(4 + 4 + body.len() + 2).expect("test bodies are small");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&size.to_le_bytes());
    bytes.extend_from_slice(&id.to_le_bytes());
    bytes.extend_from_slice(&kind.to_le_bytes());
    bytes.extend_from_slice(body.as_bytes());
    bytes.extend_from_slice(&[0, 0]);
    bytes
}

/// A raw RCON client: writes frames, reads by length.
struct Client {
    stream: TcpStream,
}

impl Client {
    fn connect(fake: &FakeRcon) -> Client {
        let stream = TcpStream::connect(fake.addr()).expect("the fake accepts connections");
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("set a read timeout");
        Client { stream }
    }

    /// Connected and authenticated with [`PASSWORD`].
    fn authed(fake: &FakeRcon) -> Client {
        let mut client = Client::connect(fake);
        assert_eq!(client.auth(1, PASSWORD), 1, "the right password");
        client
    }

    fn send(&mut self, id: i32, kind: i32, body: &str) {
        self.stream
            .write_all(&frame(id, kind, body))
            .expect("write a packet to the fake");
    }

    /// The next packet, or the error that ended the read (EOF included).
    fn try_read(&mut self) -> io::Result<Packet> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let size = usize::try_from(i32::from_le_bytes(size)).expect("a non-negative size");
        assert!(size >= 10, "a packet is at least 10 bytes after its size");
        let mut rest = vec![0u8; size];
        self.stream.read_exact(&mut rest)?;
        assert_eq!(&rest[size - 2..], &[0, 0], "two NULs end every packet");
        Ok(Packet {
            id: i32::from_le_bytes(rest[0..4].try_into().expect("four bytes")),
            kind: i32::from_le_bytes(rest[4..8].try_into().expect("four bytes")),
            body: String::from_utf8(rest[8..size - 2].to_vec()).expect("a UTF-8 body"),
        })
    }

    fn read(&mut self) -> Packet {
        self.try_read().expect("a whole packet from the fake")
    }

    /// Sends an auth and returns the id answered (-1 for a wrong password).
    fn auth(&mut self, id: i32, password: &str) -> i32 {
        self.send(id, AUTH, password);
        let answer = self.read();
        assert_eq!(answer.kind, AUTH_RESPONSE, "{answer:?}");
        assert_eq!(answer.body, "", "{answer:?}");
        answer.id
    }

    /// Runs a command and returns the body of its one reply.
    fn exec(&mut self, id: i32, command: &str) -> String {
        self.send(id, EXECCOMMAND, command);
        let answer = self.read();
        assert_eq!((answer.id, answer.kind), (id, RESPONSE_VALUE), "{answer:?}");
        answer.body
    }

    /// Every byte until the fake closes the connection.
    fn read_to_close(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.stream
            .read_to_end(&mut bytes)
            .expect("the fake closes the connection (not a timeout)");
        bytes
    }

    /// Whether nothing arrives within `wait`.
    fn silent_for(&mut self, wait: Duration) -> bool {
        self.stream
            .set_read_timeout(Some(wait))
            .expect("set a read timeout");
        let mut byte = [0u8; 1];
        let silent = matches!(
            self.stream.read(&mut byte),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
        );
        self.stream
            .set_read_timeout(Some(PATIENCE))
            .expect("set a read timeout");
        silent
    }
}

/// Polls `probe` until it holds or [`PATIENCE`] runs out.
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !probe() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

// ---- auth ----

#[test]
fn auth_echoes_the_request_id() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::connect(&fake);
    assert_eq!(client.auth(7, PASSWORD), 7);
    assert_eq!(client.exec(8, "/seed"), "1234567890\n");
    assert_eq!(fake.auth_attempts(), [(PASSWORD.to_owned(), true)]);
    assert_eq!(fake.connections(), 1);
    assert_eq!(fake.commands(), ["/seed"]);
    assert!(fake.protocol_errors().is_empty());
}

#[test]
fn wrong_password_gets_minus_one_and_the_connection_stays_open() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::connect(&fake);
    assert_eq!(client.auth(5, "wrong"), -1);
    // Same connection: Factorio lets the client read the -1 and try again.
    assert_eq!(client.auth(6, PASSWORD), 6);
    assert_eq!(client.exec(7, "/version"), "2.0.28\n");
    assert_eq!(
        fake.auth_attempts(),
        [("wrong".to_owned(), false), (PASSWORD.to_owned(), true)]
    );
}

#[test]
fn a_command_before_auth_gets_nothing_and_a_close() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::connect(&fake);
    client.send(1, EXECCOMMAND, "/time");
    assert!(client.read_to_close().is_empty(), "no answer, just a close");
    assert!(fake.commands().is_empty());
    let errors = fake.protocol_errors();
    assert!(
        errors.len() == 1 && errors[0].contains("before auth"),
        "{errors:?}"
    );

    // After a wrong password the client is still not authenticated.
    let mut client = Client::connect(&fake);
    assert_eq!(client.auth(1, "wrong"), -1);
    client.send(2, EXECCOMMAND, "/time");
    assert!(client.read_to_close().is_empty());
}

#[test]
fn broken_framing_closes_the_connection_and_is_reported() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::authed(&fake);
    let mut bad = frame(2, EXECCOMMAND, "/time");
    let last = bad.len() - 1;
    bad[last] = b'x';
    client.stream.write_all(&bad).expect("write a bad packet");
    assert!(client.read_to_close().is_empty());
    let errors = fake.protocol_errors();
    assert!(
        errors.len() == 1 && errors[0].contains("not [0, 0]"),
        "{errors:?}"
    );

    let mut client = Client::authed(&fake);
    client
        .stream
        .write_all(&(-5i32).to_le_bytes())
        .expect("write a bad size");
    assert!(client.read_to_close().is_empty());
    assert!(fake.protocol_errors()[1].contains("size -5"));
}

// ---- replies ----

#[test]
fn every_command_gets_exactly_one_reply_with_its_id_even_pipelined() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::authed(&fake);
    for (id, command) in [(10, "/seed"), (11, "hello"), (12, "/version")] {
        client.send(id, EXECCOMMAND, command);
    }
    let answers: Vec<Packet> = (0..3).map(|_| client.read()).collect();
    let expected = [(10, "1234567890\n"), (11, ""), (12, "2.0.28\n")];
    for (answer, (id, body)) in answers.iter().zip(expected) {
        assert_eq!(
            (answer.id, answer.kind, answer.body.as_str()),
            (id, RESPONSE_VALUE, body)
        );
    }
    assert!(
        client.silent_for(Duration::from_millis(100)),
        "no extra packet"
    );
}

#[test]
fn players_online_has_a_header_and_one_line_per_player() {
    let fake = FakeRcon::start(PASSWORD);
    fake.set_players(&["alice", "bob"], &["carol"]);
    let mut client = Client::authed(&fake);
    let online = "Online players (2):\n  alice (online)\n  bob (online)\n";
    assert_eq!(client.exec(2, "/players online"), online);
    assert_eq!(client.exec(3, "/p o"), online);
    assert_eq!(
        client.exec(4, "/players"),
        "Players (3):\n  alice (online)\n  bob (online)\n  carol (offline)\n"
    );
    fake.set_players(&[], &["carol"]);
    assert_eq!(client.exec(5, "/p o"), "Online players (0):\n");
}

#[test]
fn evolution_has_one_line_in_1_1_and_one_per_surface_in_2_0() {
    let fake = FakeRcon::start(PASSWORD);
    fake.set_evolution(&[("Nauvis", 0.9495), ("Gleba", 0.6436)]);
    let mut client = Client::authed(&fake);
    assert_eq!(
        client.exec(2, "/evolution"),
        "Nauvis - Evolution factor: 0.9495. (Time 100%) (Pollution 0%) (Spawner kills 0%)\n\
         Gleba - Evolution factor: 0.6436. (Time 100%) (Pollution 0%) (Spawner kills 0%)\n"
    );
    assert_eq!(
        client.exec(3, "/evolution gleba"),
        "Gleba - Evolution factor: 0.6436. (Time 100%) (Pollution 0%) (Spawner kills 0%)\n"
    );
    assert!(
        client
            .exec(4, "/evolution aquilo")
            .contains("does not exist")
    );

    fake.set_version(Version::V1_1);
    assert_eq!(
        client.exec(5, "/evolution"),
        "Evolution factor: 0.9495. (Time 100%) (Pollution 0%) (Spawner kills 0%)\n"
    );
    fake.set_evolution(&[("Nauvis", 0.0)]);
    // The real 1.1 line from the fixtures.
    assert_eq!(
        client.exec(6, "/evolution"),
        "Evolution factor: 0.0000. (Time 0%) (Pollution 0%) (Spawner kills 0%)\n"
    );
}

#[test]
fn version_seed_admins_bans_whitelist_save_and_unknown() {
    let fake = FakeRcon::start(PASSWORD);
    fake.set_players(&["admin"], &[]);
    fake.set_whitelist(&["LemonNeko", "LittleSound", "NekoMeow"]);
    fake.set_bans(&["user"]);
    let mut client = Client::authed(&fake);
    assert_eq!(client.exec(2, "/version"), "2.0.28\n");
    fake.set_version(Version::V1_1);
    assert_eq!(client.exec(3, "/version"), "1.1.110\n");
    assert_eq!(client.exec(4, "/admins"), "  admin (online)\n");
    assert_eq!(client.exec(5, "/bans"), "Banned players: user\n");
    assert_eq!(
        client.exec(6, "/whitelist get"),
        "Whitelisted players: LemonNeko, LittleSound and NekoMeow\n"
    );
    assert!(client.exec(7, "/server-save").starts_with("Saving map to "));
    assert_eq!(
        client.exec(8, "/frobnicate now"),
        "Unknown command \"frobnicate\".\n"
    );
}

#[test]
fn chat_and_moderation_answer_empty_and_are_recorded() {
    let fake = FakeRcon::start(PASSWORD);
    fake.set_players(&["bob", "eve"], &[]);
    let mut client = Client::authed(&fake);
    assert_eq!(client.exec(2, "[Discord] ann: hi: there"), "");
    assert_eq!(client.exec(3, "/kick bob griefing"), "");
    assert_eq!(client.exec(4, "/ban eve spam"), "");
    assert_eq!(client.exec(5, "/promote carol"), "");
    assert_eq!(client.exec(6, "/mute dave"), "");
    assert_eq!(fake.chats(), ["[Discord] ann: hi: there"]);
    assert_eq!(
        fake.actions(),
        [
            "kick bob griefing",
            "ban eve spam",
            "promote carol",
            "mute dave"
        ]
    );
    // The model follows: both left, eve is banned, carol an admin.
    assert_eq!(client.exec(7, "/p o"), "Online players (0):\n");
    assert_eq!(client.exec(8, "/bans"), "Banned players: eve\n");
    assert_eq!(client.exec(9, "/unban eve"), "");
    assert_eq!(client.exec(10, "/bans"), "Banned players: \n");
    assert_eq!(
        client.exec(11, "/admins"),
        "  admin (offline)\n  carol (offline)\n"
    );
    assert!(fake.lua_commands().is_empty(), "nothing above runs Lua");
}

#[test]
fn lua_snippets_answer_what_they_ask_and_are_listed() {
    let fake = FakeRcon::start(PASSWORD);
    fake.pause(true);
    fake.set_tick(123_456);
    fake.set_players(&["alice", "bob"], &["carol"]);
    fake.set_evolution(&[("nauvis", 0.5), ("gleba", 0.25)]);
    let mut client = Client::authed(&fake);
    assert_eq!(client.exec(2, "/sc rcon.print(game.tick)"), "123456\n");
    assert_eq!(
        client.exec(3, "/silent-command rcon.print(#game.connected_players)"),
        "2\n"
    );
    assert_eq!(
        client.exec(4, "/sc rcon.print(script.active_mods[\"base\"])"),
        "2.0.28\n"
    );
    let body = client.exec(
        5,
        "/sc rcon.print(helpers.table_to_json({tick = game.tick}))",
    );
    let parsed: Value = serde_json::from_str(&body).expect("the snippet answers JSON");
    assert_eq!(
        parsed,
        json!({"tick": 123_456, "players": ["alice", "bob"],
               "evolution": {"nauvis": 0.5, "gleba": 0.25}, "queue": {}})
    );
    assert_eq!(client.exec(6, "/c rcon.print(game.tick)"), "123456\n");
    assert_eq!(client.exec(7, "/sc game.print('hi')"), "");
    // The JSON helper of the other version is a Lua error, shown by /sc only.
    let wrong = client.exec(8, "/sc rcon.print(game.table_to_json({}))");
    assert!(wrong.starts_with("Cannot execute command."), "{wrong:?}");
    assert_eq!(client.exec(9, "/c rcon.print(game.table_to_json({}))"), "");

    fake.set_version(Version::V1_1);
    let body = client.exec(10, "/sc rcon.print(game.table_to_json({}))");
    let parsed: Value = serde_json::from_str(&body).expect("the snippet answers JSON");
    assert_eq!(
        parsed["evolution"],
        json!({"nauvis": 0.5}),
        "1.1: one factor"
    );

    client.exec(11, "/time");
    client.exec(12, "hello /sc");
    assert_eq!(fake.lua_commands().len(), 9, "{:?}", fake.lua_commands());
    assert!(
        fake.lua_commands()
            .iter()
            .all(|c| c.starts_with('/') && c != "/time")
    );
}

// ---- the game clock ----

#[test]
fn map_age_formats_like_factorio() {
    let cases = [
        (0, "0 seconds"),
        (1, "1 second"),
        (42, "42 seconds"),
        (60, "1 minute"),
        (303, "5 minutes and 3 seconds"),
        (3_600, "1 hour"),
        (3_661, "1 hour, 1 minute and 1 second"),
        (7_200 + 5, "2 hours and 5 seconds"),
        (86_400, "1 day"),
        (2 * 86_400 + 60, "2 days and 1 minute"),
        (
            86_400 + 11 * 3_600 + 60 + 26,
            "1 day, 11 hours, 1 minute and 26 seconds",
        ),
    ];
    for (seconds, expected) in cases {
        assert_eq!(format_map_age(seconds), expected, "{seconds} s");
    }
}

#[test]
fn time_reports_the_map_age_and_follows_the_tick() {
    let fake = FakeRcon::start(PASSWORD);
    fake.pause(true);
    let mut client = Client::authed(&fake);
    assert_eq!(client.exec(2, "/time"), "0 seconds\n");
    fake.set_tick(303 * 60 + 59);
    assert_eq!(client.exec(3, "/time"), "5 minutes and 3 seconds\n");
    thread::sleep(Duration::from_millis(50));
    assert_eq!(fake.tick(), 303 * 60 + 59, "a paused game does not tick");

    // 6000 UPS: 100 game seconds per wall second.
    fake.set_ups(6_000.0);
    fake.pause(false);
    let mut id = 4;
    eventually("/time to move on", || {
        id += 1;
        client.exec(id, "/time") != "5 minutes and 3 seconds\n"
    });
    assert!(fake.tick() > 303 * 60 + 59);
}

#[test]
fn changing_ups_keeps_the_tick_continuous() {
    let fake = FakeRcon::start(PASSWORD);
    fake.set_ups(60_000.0);
    eventually("the tick to pass 6000", || fake.tick() > 6_000);
    let before = fake.tick();
    fake.set_ups(0.0);
    let after = fake.tick();
    assert!(after >= before, "no step back: {before} -> {after}");
    assert!(after - before < 60_000, "no jump: {before} -> {after}");
    thread::sleep(Duration::from_millis(20));
    assert_eq!(fake.tick(), after, "0 UPS stands still");
    fake.set_ups(60.0);
    assert!(fake.tick() - after <= 1, "no jump on resuming");
}

// ---- faults ----

#[test]
fn a_big_reply_arrives_in_one_packet() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::authed(&fake);
    fake.big_reply(100 * 1024);
    let body = client.exec(2, "/players");
    assert_eq!(body.len(), 100 * 1024);
    assert!(body == big_body(100 * 1024), "the body is big_body's");
    // The next packet is the next command's: nothing was left over.
    assert_eq!(client.exec(3, "/version"), "2.0.28\n");
}

#[test]
fn split_writes_deliver_the_same_body_in_pieces() {
    let fake = FakeRcon::start(PASSWORD);
    fake.set_players(&["alice", "bob", "carol"], &[]);
    let mut client = Client::authed(&fake);
    let whole = client.exec(2, "/players online");
    fake.split_writes(true);
    let started = Instant::now();
    let split = client.exec(3, "/players online");
    let took = started.elapsed();
    assert_eq!(split, whole);
    // One pause between every two chunks proves the writes were split.
    let chunks = (14 + whole.len()).div_ceil(SPLIT_CHUNK);
    let pauses = u32::try_from(chunks - 1).expect("a small packet");
    assert!(took >= SPLIT_PAUSE * pauses, "{took:?} for {chunks} chunks");
    // Auth answers are split too and still parse.
    let mut other = Client::connect(&fake);
    assert_eq!(other.auth(9, PASSWORD), 9);
}

#[test]
fn stall_next_delays_one_command() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::authed(&fake);
    let stall = Duration::from_millis(500);
    fake.stall_next(stall);
    let started = Instant::now();
    assert_eq!(client.exec(2, "/seed"), "1234567890\n");
    assert!(started.elapsed() >= stall, "{:?}", started.elapsed());
    let started = Instant::now();
    assert_eq!(client.exec(3, "/seed"), "1234567890\n");
    assert!(started.elapsed() < stall, "only one command stalls");
}

#[test]
fn stall_matching_delays_only_the_command_it_names() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::authed(&fake);
    let stall = Duration::from_secs(2);
    fake.stall_matching("marker-1", stall);
    let started = Instant::now();
    assert_eq!(client.exec(2, "/seed"), "1234567890\n");
    assert!(started.elapsed() < stall, "another command does not stall");
    let started = Instant::now();
    assert_eq!(client.exec(3, "hello marker-1"), "");
    assert!(started.elapsed() >= stall, "{:?}", started.elapsed());
    let started = Instant::now();
    assert_eq!(client.exec(4, "hello marker-1 again"), "");
    assert!(started.elapsed() < stall, "only one command stalls");
}

#[test]
fn stall_all_holds_answers_until_lifted() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::authed(&fake);
    fake.stall_all(true);
    client.send(2, EXECCOMMAND, "/seed");
    assert!(
        client.silent_for(Duration::from_millis(200)),
        "no answer while stalled"
    );
    eventually("the command to arrive", || fake.commands().len() == 1);
    fake.stall_all(false);
    let answer = client.read();
    assert_eq!((answer.id, answer.body.as_str()), (2, "1234567890\n"));
}

#[test]
fn drop_next_closes_in_the_middle_of_the_reply() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::authed(&fake);
    fake.drop_next();
    client.send(2, EXECCOMMAND, "/version");
    let bytes = client.read_to_close();
    let whole = frame(2, RESPONSE_VALUE, "2.0.28\n");
    assert_eq!(
        bytes,
        whole[..whole.len() / 2],
        "half a packet, then the close"
    );
    assert_eq!(fake.commands(), ["/version"], "the command did arrive");

    // Only one command: a new connection is served normally.
    let mut client = Client::authed(&fake);
    assert_eq!(client.exec(3, "/version"), "2.0.28\n");
    assert_eq!(fake.connections(), 2);
}

#[test]
fn refuse_closes_new_connections_at_once() {
    let fake = FakeRcon::start(PASSWORD);
    fake.refuse(true);
    let mut client = Client::connect(&fake);
    client.send(1, AUTH, PASSWORD);
    let mut rest = Vec::new();
    // The close can arrive as EOF or, with our auth unread, as a reset.
    let _ = client.stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no answer from a refusing server");
    assert_eq!(fake.connections(), 1, "refused connections count");
    assert!(fake.auth_attempts().is_empty());

    fake.refuse(false);
    let mut client = Client::authed(&fake);
    assert_eq!(client.exec(2, "/seed"), "1234567890\n");
}

#[test]
fn restart_drops_connections_and_accepts_again() {
    let fake = FakeRcon::start(PASSWORD);
    let mut idle = Client::authed(&fake);
    let mut stalled = Client::authed(&fake);
    fake.stall_next(PATIENCE * 10);
    stalled.send(2, EXECCOMMAND, "/server-save");
    eventually("the stalled command to arrive", || {
        fake.commands().len() == 1
    });

    let started = Instant::now();
    fake.restart();
    assert!(idle.read_to_close().is_empty());
    assert!(
        stalled.read_to_close().is_empty(),
        "a stall ends unanswered"
    );
    assert!(started.elapsed() < PATIENCE);

    let port = fake.port();
    let mut client = Client::authed(&fake);
    assert_eq!(client.stream.peer_addr().expect("connected").port(), port);
    assert_eq!(client.exec(3, "/seed"), "1234567890\n");
    assert_eq!(fake.connections(), 3);
}

// ---- shutdown ----

#[test]
fn drop_closes_connections_and_stops_listening() {
    let fake = FakeRcon::start(PASSWORD);
    let addr = fake.addr();
    let mut idle = Client::authed(&fake);
    drop(fake);
    assert!(idle.read_to_close().is_empty());
    assert!(TcpStream::connect(addr).is_err(), "the port is closed");
}

#[test]
fn drop_ends_a_stalled_command_without_waiting() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::authed(&fake);
    fake.stall_all(true);
    client.send(2, EXECCOMMAND, "/seed");
    eventually("the command to arrive", || fake.commands().len() == 1);
    let started = Instant::now();
    // Without the stall's wake-up this would hang forever.
    drop(fake);
    assert!(started.elapsed() < PATIENCE);
    assert!(client.read_to_close().is_empty());
}

#[test]
fn a_client_that_hangs_up_mid_packet_does_not_upset_the_fake() {
    let fake = FakeRcon::start(PASSWORD);
    let mut client = Client::authed(&fake);
    let packet = frame(2, EXECCOMMAND, "/seed");
    client
        .stream
        .write_all(&packet[..5])
        .expect("write half a packet");
    client.stream.shutdown(Shutdown::Both).expect("hang up");
    let mut next = Client::authed(&fake);
    assert_eq!(next.exec(3, "/seed"), "1234567890\n");
    assert!(fake.protocol_errors().is_empty());
}
