//! Every line of a real console.log (tests/fixtures/console-real.log, see
//! its sources in ../shared/fixtures/SOURCES.md) is classified as a person
//! would classify it; stdout diagnostics produce no event.

mod support;

type Expect = Option<(&'static str, &'static [(&'static str, &'static str)])>;

/// One row per line of the fixture, in order.
const TABLE: &[(&str, Expect)] = &[
    (
        "   1.306 Info RemoteCommandProcessor.cpp:131: Starting RCON interface at port 4000",
        None,
    ),
    (
        "   0.622 Warning FileUtil.cpp:527: test not found; using test.zip",
        None,
    ),
    (
        "   0.554 Error Main.cpp:839: require_user_verification must be enabled for public games.",
        None,
    ),
    (" 640.910 Quitting: remote-quit.", None),
    ("1641.421 Goodbye", None),
    (
        "2019-01-20 10:30:04 [JOIN] User joined the game",
        Some(("join", &[("player", "User")])),
    ),
    (
        "2019-01-20 10:30:07 [CHAT] User: chat message",
        Some(("chat", &[("player", "User"), ("message", "chat message")])),
    ),
    (
        "2019-01-20 10:30:14 [COMMAND] User (command): blah",
        Some(("command", &[("player", "User"), ("command", "blah")])),
    ),
    (
        "2019-01-20 10:30:14 Cannot execute command. Error: [string \"blah\"]:1: syntax error near <eof>",
        None,
    ),
    (
        "2019-01-20 10:30:21 [LEAVE] User left the game",
        Some(("leave", &[("player", "User")])),
    ),
    (
        "2019-01-20 15:46:34 [KICK] User was kicked by <server>. Reason: unspecified.",
        Some((
            "kick",
            &[
                ("player", "User"),
                ("by", "<server>"),
                ("reason", "unspecified"),
            ],
        )),
    ),
    (
        "2019-01-20 15:47:50 [BAN] User was banned by <server>. Reason: unspecified.",
        Some((
            "ban",
            &[
                ("player", "User"),
                ("by", "<server>"),
                ("reason", "unspecified"),
            ],
        )),
    ),
    (
        "2019-01-20 15:48:28 [UNBANNED] User was unbanned by <server>.",
        Some(("unban", &[("player", "User"), ("by", "<server>")])),
    ),
    ("Error while running event level::on_nth_tick(1)", None),
    (
        "4802.763 Info AppManager.cpp:287: Saving to _autosave4 (blocking).",
        None,
    ),
    (
        "  10.806 Info AppManager.cpp:394: Saving game as C:\\factorio\\saves\\world.zip",
        None,
    ),
    (
        "4202.780 Info AppManagerStates.cpp:1802: Saving finished",
        None,
    ),
    (
        "   1.277 Script @C:\\My Cluster\\temp\\current-save\\file.lua:7: Contrived :12: example",
        None,
    ),
    (" 344.683 Script =(command):1: test", None),
    (
        "   0.751 Verbose ModManager.cpp:554: Time to load mods: 0.746762",
        None,
    ),
    (
        " 250.342 Info ServerMultiplayerManager.cpp:943: updateTick(15127) received stateChanged peerID(1) oldState(TryingToCatchUp) newState(WaitingForCommandToStartSendingTickClosures)",
        None,
    ),
    (
        " 250.355 Info GameActionHandler.cpp:4996: UpdateTick (15127) processed PlayerJoinGame peerID(1) playerIndex(0) mode(connect) ",
        None,
    ),
    (
        " 250.407 Info ServerMultiplayerManager.cpp:943: updateTick(15131) received stateChanged peerID(1) oldState(WaitingForCommandToStartSendingTickClosures) newState(InGame)",
        None,
    ),
    (
        "2024-04-09 06:08:43 [JOIN] bardella joined the game",
        Some(("join", &[("player", "bardella")])),
    ),
    (
        "2024-04-09 06:08:51 [CHAT] <server>: sup",
        Some(("chat", &[("message", "sup")])),
    ),
    (
        "2024-04-09 06:09:46 [CHAT] bardella: lol",
        Some(("chat", &[("player", "bardella"), ("message", "lol")])),
    ),
    (
        "2024-04-09 17:03:11 [CHAT] <server>: sup",
        Some(("chat", &[("message", "sup")])),
    ),
    (
        "2022-04-09 17:03:24 [KICK] bardella was kicked by <server>. Reason: reason.",
        Some((
            "kick",
            &[
                ("player", "bardella"),
                ("by", "<server>"),
                ("reason", "reason"),
            ],
        )),
    ),
    (
        "1352.490 Info ServerMultiplayerManager.cpp:1061: Disconnect notification for peer (1)",
        None,
    ),
    (
        "2024-04-10 02:28:53 [CHAT] <server>: random chat message",
        Some(("chat", &[("message", "random chat message")])),
    ),
    (
        "2024-04-10 02:26:58 [CHAT] <server>: random chat message",
        Some(("chat", &[("message", "random chat message")])),
    ),
    (
        "2024-04-10 02:27:07 [COMMAND] <server> (command): rcon.print('asdf')",
        Some((
            "command",
            &[("player", "<server>"), ("command", "rcon.print('asdf')")],
        )),
    ),
    (
        "2024-11-28 15:30:45 [LEAVE] PlayerOne left the game",
        Some(("leave", &[("player", "PlayerOne")])),
    ),
    (
        "2025-11-11 01:12:09 [CHAT] Charlie: Hello everyone!",
        Some((
            "chat",
            &[("player", "Charlie"), ("message", "Hello everyone!")],
        )),
    ),
    (
        "2025-11-11 01:12:10 [CHAT] Dave: Anyone building a mall?",
        Some((
            "chat",
            &[("player", "Dave"), ("message", "Anyone building a mall?")],
        )),
    ),
    (
        "2025-11-14 15:53:25 [JOIN] Alice joined the game",
        Some(("join", &[("player", "Alice")])),
    ),
    (
        "2025-11-14 15:53:25 [LEAVE] Bob left the game",
        Some(("leave", &[("player", "Bob")])),
    ),
    // An empty chat body is still chat.
    (
        "2025-11-18 01:56:09 [CHAT] Charlie: ",
        Some(("chat", &[("player", "Charlie"), ("message", "")])),
    ),
    (
        "2025-11-18 01:56:09 [JOIN] Player_123 joined the game",
        Some(("join", &[("player", "Player_123")])),
    ),
    (
        "2025-11-18 01:56:09 [JOIN] TestPlayer joined the game",
        Some(("join", &[("player", "TestPlayer")])),
    ),
    (
        "2025-11-18 01:56:09 [LEAVE] TestPlayer left the game",
        Some(("leave", &[("player", "TestPlayer")])),
    ),
];

fn check_table(file: &str, table: &[(&str, Expect)]) {
    let text = std::fs::read_to_string(support::fixture(file)).expect("fixture readable");
    let lines: Vec<&str> = text.lines().collect();
    let rows: Vec<&str> = table.iter().map(|(l, _)| *l).collect();
    assert_eq!(
        lines, rows,
        "the table must list every line of {file}, in order"
    );
    let set = support::shipped_set();
    for (line, expect) in table {
        let got = support::classify(&set, line);
        let want = expect.map(|(kind, fields)| {
            (
                kind.to_owned(),
                fields
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect::<Vec<_>>(),
            )
        });
        assert_eq!(got, want, "line: {line:?}");
    }
}

#[test]
fn every_real_line_is_classified_as_expected() {
    check_table("console-real.log", TABLE);
}

/// Shapes with no real capture (see SOURCES.md "Gaps"), written in
/// Factorio's format, plus the common mod lines.
const SYNTHETIC: &[(&str, Expect)] = &[
    (
        "2025-01-02 03:04:05 [SHOUT] some-player (shout): incoming!",
        Some((
            "shout",
            &[("player", "some-player"), ("message", "incoming!")],
        )),
    ),
    (
        "2025-01-02 03:04:05 [WHISPER] j.doe to Alice: psst: over here",
        Some((
            "whisper",
            &[
                ("player", "j.doe"),
                ("target", "Alice"),
                ("message", "psst: over here"),
            ],
        )),
    ),
    (
        "2025-01-02 03:04:05 [PROMOTE] j.doe was promoted to admin by <server>.",
        Some(("promote", &[("player", "j.doe"), ("by", "<server>")])),
    ),
    (
        "2025-01-02 03:04:05 [DEMOTE] j.doe was demoted from admin by Admin1.",
        Some(("demote", &[("player", "j.doe"), ("by", "Admin1")])),
    ),
    (
        "2025-01-02 03:04:05 [CHAT] some-player.2: time: 12:30, ok?",
        Some((
            "chat",
            &[("player", "some-player.2"), ("message", "time: 12:30, ok?")],
        )),
    ),
    (
        "2025-01-02 03:04:05 [CHAT] Alice [Engineer]: tagged chat",
        Some((
            "chat",
            &[
                ("player", "Alice"),
                ("tag", "Engineer"),
                ("message", "tagged chat"),
            ],
        )),
    ),
    (
        "2025-01-02 03:04:05 [CHAT] 日本語: Hello 世界!",
        Some(("chat", &[("player", "日本語"), ("message", "Hello 世界!")])),
    ),
    // The relay's own echo is never an event.
    (
        "2025-01-02 03:04:05 [CHAT] <server>: [Discord] bob: hi from discord",
        None,
    ),
    (
        "2025-01-02 03:04:05 Eve was killed by a small biter.",
        Some(("death", &[("player", "Eve"), ("cause", "a small biter")])),
    ),
    (
        "Ivan committed suicide.",
        Some(("death", &[("player", "Ivan"), ("how", "committed suicide")])),
    ),
    (
        "2025-01-02 03:04:05 Zed died.",
        Some(("death", &[("player", "Zed"), ("how", "died")])),
    ),
    (
        "[RESEARCH] Started researching Advanced electronics.",
        Some(("research", &[("tech", "Advanced electronics")])),
    ),
    (
        "[RESEARCH] Finished researching Advanced electronics.",
        Some(("research", &[("tech", "Advanced electronics")])),
    ),
    (
        "[RESEARCH] Cancelled research of Logistics 2.",
        Some(("research", &[("tech", "Logistics 2")])),
    ),
    (
        "Kate launched a rocket!",
        Some(("rocket", &[("player", "Kate")])),
    ),
    (
        "2025-11-30 23:25:25 [ROCKET] Rocket launched!",
        Some(("rocket", &[("message", "Rocket launched!")])),
    ),
    (
        "[ACHIEVEMENT] Jack earned Iron throne 1.",
        Some((
            "achievement",
            &[("player", "Jack"), ("achievement", "Iron throne 1")],
        )),
    ),
    (
        "[MILESTONE] Produced 10,000 iron plates.",
        Some(("milestone", &[("message", "Produced 10,000 iron plates.")])),
    ),
    (
        "0000-00-00 00:00:00 [DISCORD] **bob** joined.",
        Some(("server", &[("message", "**bob** joined.")])),
    ),
    // Look-alikes that are not events.
    // A tagged line never reads as a death, even when its text would.
    ("2025-01-02 03:04:05 [CHAT] x was killed by y.", None),
    ("[LEAVE] PlayerTwo leaving", None),
    ("PlayerThree left the game", None),
    ("2025-11-30 17:44:59 Random debug output", None),
];

#[test]
fn synthetic_and_mod_lines_are_classified_as_expected() {
    check_table("console-synthetic.log", SYNTHETIC);
}
