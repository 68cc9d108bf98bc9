//! The bot end to end: the real daemon in bot mode against the fake
//! gateway, the fake REST API and the fake Factorio RCON server. Every
//! slash command through an INTERACTION_CREATE, registration, permissions,
//! injection, the chat relay and its loop prevention, and heartbeats that
//! keep time while REST is slow.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::bot::{ADMIN_ROLE, AUDIT_CHANNEL, PANIC_MARKER, World, admin, as_user, public};
use support::daemon::{Workspace, append};
use support::discord::{self, FakeDiscord};
use support::gateway::{self, FakeGateway, Interaction, interaction_command, message_create};

const WAIT: Duration = Duration::from_secs(15);

/// One row: the command, what its final answer must contain, and the
/// command the game must have received (`None`: answered without RCON).
struct Row {
    interaction: Interaction,
    answer: &'static str,
    rcon: Option<&'static str>,
}

fn row(interaction: Interaction, answer: &'static str, rcon: Option<&'static str>) -> Row {
    Row {
        interaction,
        answer,
        rcon,
    }
}

/// Runs each row and checks its answer and what reached the game.
fn check_rows(w: &World, rows: Vec<Row>) {
    for (n, r) in rows.into_iter().enumerate() {
        let before = w.game.commands().len();
        let interaction = as_user(r.interaction, n);
        let shown = format!("{}", interaction.json()["data"]);
        let (answer, _) = w.answer(&interaction);
        assert!(
            answer.contains(r.answer),
            "{shown}: answer {answer:?} lacks {:?}",
            r.answer
        );
        assert!(!answer.contains("127.0.0.1"), "{shown}: {answer}");
        assert!(
            !answer.contains(&w.game.port().to_string()),
            "{shown}: {answer}"
        );
        let sent = w.game.commands()[before..].to_vec();
        match r.rcon {
            Some(want) => assert!(
                sent.iter().any(|c| c == want),
                "{shown}: the game got {sent:?}, not {want:?}"
            ),
            None => assert!(sent.is_empty(), "{shown}: the game got {sent:?}"),
        }
    }
}

#[test]
fn commands_are_registered_once_within_discords_limits() {
    let mut w = World::start(&[]);
    let deadline = Instant::now() + WAIT;
    while w.rest.command_overwrites().is_empty() {
        assert!(Instant::now() < deadline, "no registration");
        std::thread::sleep(Duration::from_millis(20));
    }
    let overwrites = w.rest.command_overwrites();
    assert_eq!(overwrites.len(), 1);
    assert_eq!(overwrites[0].0.as_deref(), Some(gateway::GUILD_ID));
    let body = &overwrites[0].1;
    let names: Vec<&str> = body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec!["factorio", "factorio-admin"]);
    assert_eq!(body[1]["default_member_permissions"], "32");
    let leaves = count_leaves(body);
    assert!(leaves >= 30, "{leaves} subcommands");
    assert_eq!(w.rest.schema_violations(), Vec::<String>::new());
    assert_eq!(w.run.stop(), 0);

    // Unchanged: a restart does not register again.
    let config = w.ws.file("config.yml");
    let mut again = w.ws.start(&config);
    w.gateway.wait_for_identifies(2, WAIT);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(w.rest.command_overwrites().len(), 1, "registered once");
    assert_eq!(again.stop(), 0);
}

fn count_leaves(commands: &Value) -> usize {
    fn walk(options: &Value) -> usize {
        options.as_array().map_or(0, |list| {
            list.iter()
                .map(|o| match o["type"].as_u64() {
                    Some(1) => 1,
                    Some(2) => walk(&o["options"]),
                    _ => 0,
                })
                .sum()
        })
    }
    commands
        .as_array()
        .map_or(0, |list| list.iter().map(|c| walk(&c["options"])).sum())
}

/// Every public command, as a member without any role.
#[test]
fn every_public_command_answers_through_the_gateway() {
    let mut w = World::start(&[]);
    let rows = vec![
        row(public("servers"), "s1", None),
        row(public("connect").option("server", "s1"), "s1", None),
        row(public("status"), "alice", Some("/players online")),
        row(public("players"), "alice", Some("/players online")),
        row(public("version"), "2.0.28", Some("/version")),
        row(public("seed"), support::rcon::SEED, Some("/seed")),
        row(public("evolution"), "43.21%", Some("/evolution")),
        row(public("admins"), "alice", Some("/admins")),
        row(public("health"), "s1", None),
        row(public("time"), "has been played for", Some("/time")),
        row(public("bans"), "No one is banned", Some("/bans")),
        row(public("ups"), "UPS", None),
        row(public("mods"), "allow_lua", None),
        row(public("uptime"), "bridge", Some("/time")),
        row(public("help"), "/factorio", None),
        row(
            public("say").option("message", "hello from discord"),
            "hello from discord",
            Some("[Discord] member15: hello from discord"),
        ),
    ];
    assert_eq!(rows.len(), 16);
    check_rows(&w, rows);
    assert_eq!(
        w.game.lua_commands(),
        Vec::<String>::new(),
        "no Lua by default"
    );
    assert_eq!(w.rest.schema_violations(), Vec::<String>::new());
    assert_eq!(w.run.stop(), 0);
}

/// Every admin command, as a member with the admin role; Lua commands
/// are refused without `allow_lua`.
#[test]
fn every_admin_command_answers_and_is_audited() {
    let mut w = World::start(&[]);
    let rows = vec![
        row(
            admin("kick")
                .option("player", "bob")
                .option("reason", "afk"),
            "bob",
            Some("/kick bob afk"),
        ),
        row(
            admin("ban")
                .option("player", "carol")
                .option("reason", "griefing"),
            "carol",
            Some("/ban carol griefing"),
        ),
        row(
            admin("unban").option("player", "carol"),
            "carol",
            Some("/unban carol"),
        ),
        row(
            admin("mute").option("player", "alice"),
            "alice",
            Some("/mute alice"),
        ),
        row(
            admin("unmute").option("player", "alice"),
            "alice",
            Some("/unmute alice"),
        ),
        row(admin("mutes"), "s1", Some("/mutes")),
        row(
            admin("promote").option("player", "bob"),
            "bob",
            Some("/promote bob"),
        ),
        row(
            admin("demote").option("player", "bob"),
            "bob",
            Some("/demote bob"),
        ),
        row(admin("save"), "s1", Some("/server-save")),
        row(
            admin("broadcast").option("message", "restart soon"),
            "restart soon",
            Some("restart soon"),
        ),
        row(
            admin("whisper")
                .option("player", "alice")
                .option("message", "hi"),
            "alice",
            Some("/whisper alice hi"),
        ),
        row(
            admin("whitelist add").option("player", "dave"),
            "dave",
            Some("/whitelist add dave"),
        ),
        row(admin("whitelist list"), "dave", Some("/whitelist get")),
        row(
            admin("whitelist remove").option("player", "dave"),
            "dave",
            Some("/whitelist remove dave"),
        ),
        row(admin("whitelist clear"), "s1", Some("/whitelist clear")),
        row(admin("clock"), "allow_lua", None),
        row(admin("speed"), "allow_lua", None),
        row(admin("research status"), "allow_lua", None),
        row(
            admin("research complete").option("technology", "automation-2"),
            "allow_lua",
            None,
        ),
        row(
            admin("research undo").option("technology", "automation-2"),
            "allow_lua",
            None,
        ),
        row(admin("research all"), "allow_lua", None),
        row(
            admin("rcon").option("command", "/players"),
            "alice",
            Some("/players"),
        ),
        row(admin("help"), "/factorio-admin", None),
    ];
    check_rows(&w, rows);
    assert_eq!(
        w.game.lua_commands(),
        Vec::<String>::new(),
        "no Lua by default"
    );
    // Every admin action is in the audit channel, naming who and where.
    let audit = w
        .rest
        .wait_for_messages(&format!("channel:{AUDIT_CHANNEL}"), 23, WAIT);
    assert!(
        audit[0].content.contains("kick") && audit[0].content.contains("s1"),
        "{}",
        audit[0].content
    );
    assert_eq!(w.rest.schema_violations(), Vec::<String>::new());
    assert_eq!(w.run.stop(), 0);
}

/// With `allow_lua`, Lua commands run as `/sc`, never `/c`.
#[test]
fn lua_commands_run_as_silent_commands_only_when_allowed() {
    let mut w = World::start(&[("allow_lua", "true")]);
    let rows = vec![
        row(admin("speed"), "s1", None),
        row(public("mods"), "s1", None),
    ];
    for (n, r) in rows.into_iter().enumerate() {
        let (answer, _) = w.answer(&as_user(r.interaction, n));
        assert!(answer.contains(r.answer), "{answer}");
    }
    let lua = w.game.lua_commands();
    assert_eq!(lua.len(), 2, "{lua:?}");
    assert!(lua.iter().all(|c| c.starts_with("/sc ")), "{lua:?}");
    assert_eq!(w.run.stop(), 0);
}

#[test]
fn heartbeats_keep_time_while_rest_is_slow() {
    let mut w = World::start(&[]);
    w.gateway.wait_for_heartbeats(2, WAIT);
    // Every REST answer now takes 3 s; a command waits on two of them.
    w.rest.hang_next(10, Duration::from_secs(3));
    w.send(&public("players"));
    append(
        &w.ws.log(),
        "2024-04-09 06:08:43 [JOIN] dave joined the game\n",
    );
    let since = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let beats: Vec<Instant> = w
        .gateway
        .heartbeats()
        .into_iter()
        .map(|h| h.at)
        .filter(|at| *at >= since)
        .collect();
    // 400 ms apart; blocked behind a 3 s REST call they would not be.
    assert!(beats.len() >= 6, "{} heartbeats in 4 s", beats.len());
    let longest = beats
        .windows(2)
        .map(|p| p[1].duration_since(p[0]))
        .max()
        .unwrap_or_default();
    assert!(
        longest < Duration::from_millis(1500),
        "a heartbeat came {longest:?} after the previous one"
    );
    assert_eq!(w.run.stop(), 0);
}

/// A member without the admin role is refused, ephemerally, and nothing
/// reaches the game; with the role the same command runs once.
#[test]
fn admin_commands_need_the_role_and_nothing_reaches_rcon_without_it() {
    let mut w = World::start(&[]);
    let refused = interaction_command("kick")
        .command_name("factorio-admin")
        .option("player", "bob")
        .permissions(gateway::ADMIN_PERMISSIONS);
    let (answer, ephemeral) = w.answer(&refused);
    assert!(answer.contains("not allowed"), "{answer}");
    assert!(ephemeral, "a denial is ephemeral");
    assert!(w.game.actions().is_empty(), "{:?}", w.game.actions());
    assert!(w.game.commands().iter().all(|c| !c.starts_with("/kick")));

    // Admins of another Discord server the bot was added to get nothing.
    let elsewhere = admin("kick")
        .option("player", "bob")
        .guild("1999999999999999999")
        .permissions(gateway::ADMIN_PERMISSIONS);
    let (answer, _) = w.answer(&elsewhere);
    assert!(
        answer.contains("only in its own Discord server"),
        "{answer}"
    );
    assert!(w.game.actions().is_empty(), "{:?}", w.game.actions());

    let (answer, ephemeral) = w.answer(&admin("kick").option("player", "bob"));
    assert!(answer.contains("bob"), "{answer}");
    assert!(ephemeral, "admin answers are ephemeral");
    assert_eq!(w.game.actions(), vec!["kick bob".to_owned()]);
    assert_eq!(w.run.stop(), 0);
    let audit: Vec<String> = w
        .run
        .stderr_to_end()
        .into_iter()
        .filter(|l| l.contains("audit:"))
        .collect();
    assert_eq!(audit.len(), 3, "{audit:#?}");
    assert!(audit[0].contains("refused"), "{}", audit[0]);
}

/// `command_roles` gives one command its own roles, instead of
/// `admin_role_ids`.
#[test]
fn command_roles_replace_the_admin_roles_for_their_command() {
    const BANNER: &str = "1400000000000000077";
    let roles = format!("{{ban: [\"{BANNER}\"]}}");
    let mut w = World::start_with(&[("command_roles", &roles)], &[]);
    let (answer, _) = w.answer(&admin("ban").option("player", "carol"));
    assert!(
        answer.contains("not allowed"),
        "an admin without the ban role: {answer}"
    );
    assert!(w.game.actions().is_empty());
    let banner = interaction_command("ban")
        .command_name("factorio-admin")
        .roles(&[BANNER])
        .option("player", "carol");
    let (answer, _) = w.answer(&as_user(banner, 1));
    assert!(answer.contains("carol"), "{answer}");
    assert_eq!(w.game.actions(), vec!["ban carol".to_owned()]);
    // Other admin commands still follow admin_role_ids.
    let (answer, _) = w.answer(&as_user(admin("kick").option("player", "bob"), 2));
    assert!(answer.contains("bob"), "{answer}");
    assert_eq!(w.run.stop(), 0);
}

/// What the game receives for hostile names and text: names are refused
/// before anything is sent; text is one line that cannot start a command
/// or leave a Lua string.
#[test]
fn injection_attempts_reach_rcon_harmless() {
    let mut w = World::start(&[("allow_lua", "true")]);
    for (n, name) in [
        "bob\"; game.print(1) --",
        "a b",
        "x\n/c game.print(1)",
        "]]",
        "/c",
    ]
    .iter()
    .enumerate()
    {
        let (answer, _) = w.answer(&as_user(admin("kick").option("player", *name), n));
        assert!(!answer.is_empty());
    }
    assert!(
        w.game.actions().is_empty(),
        "refused names reached the game: {:?}",
        w.game.actions()
    );

    let hostile = "ok\n/c game.print(1) ]==] \"); game.print(2) --";
    w.answer(&as_user(
        admin("kick")
            .option("player", "bob")
            .option("reason", hostile),
        10,
    ));
    w.answer(&as_user(public("say").option("message", hostile), 11));
    w.answer(&as_user(admin("broadcast").option("message", hostile), 12));
    let sent = w.game.commands();
    let kick = sent
        .iter()
        .find(|c| c.starts_with("/kick "))
        .expect("the kick");
    assert_eq!(
        kick,
        "/kick bob ok /c game.print(1) ]==] \"); game.print(2) --"
    );
    let say = sent
        .iter()
        .find(|c| c.starts_with("[Discord] "))
        .expect("the say");
    assert_eq!(
        say,
        "[Discord] member11: ok /c game.print(1) ]==] \"); game.print(2) --"
    );
    let broadcast = sent
        .iter()
        .find(|c| c.starts_with("/sc game.print("))
        .expect("the broadcast, as Lua since allow_lua is on");
    // A long bracket whose closing the text does not contain: `]==]` is
    // in the text, `]=]` is not.
    assert!(
        broadcast
            .starts_with("/sc game.print([=[ok /c game.print(1) ]==] \"); game.print(2) --]=]"),
        "{broadcast}"
    );
    assert!(sent.iter().all(|c| !c.contains('\n') && !c.contains('\0')));
    assert!(
        w.game.lua_commands().iter().all(|c| c.starts_with("/sc ")),
        "{:?}",
        w.game.lua_commands()
    );
    assert_eq!(w.run.stop(), 0);
}

/// Chat from people in the chat channel reaches the game as plain text;
/// bots, webhooks and the bridge itself do not; the echo Factorio writes
/// to its log does not come back to Discord.
#[test]
fn chat_is_relayed_once_and_never_loops() {
    let mut w = World::start(&[]);
    let m = message_create("hello <@42> :) <:factorio:7>\nsecond line")
        .author("1500000000000000001", "ann")
        .global_name(None)
        .mention("42", "bob")
        .attachment("map.png", 1024);
    w.gateway.send_message(m.json());
    w.gateway
        .send_message(message_create("from a bot").bot().json());
    w.gateway.send_message(
        message_create("from a webhook")
            .webhook("77", "hook")
            .json(),
    );
    w.gateway
        .send_message(message_create("from us").by_the_bot().json());
    let mut other = message_create("elsewhere").json();
    other["channel_id"] = "1".into();
    w.gateway.send_message(other);
    let deadline = Instant::now() + WAIT;
    while w.game.chats().is_empty() {
        assert!(Instant::now() < deadline, "nothing relayed");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let chats = w.game.chats();
    assert_eq!(
        chats,
        vec!["[Discord] ann: hello @bob :) :factorio: second line [attachment]".to_owned()],
    );
    // Factorio writes the relayed line to its log; it must not be posted.
    append(
        &w.ws.log(),
        &format!(
            "2024-04-09 06:08:43 [CHAT] <server>: {}\n2024-04-09 06:08:44 [JOIN] erin joined the game\n",
            chats[0]
        ),
    );
    w.rest
        .wait_for_messages(support::daemon::DESTINATION, 1, WAIT);
    std::thread::sleep(Duration::from_millis(500));
    let posted: Vec<String> = w
        .rest
        .messages(support::daemon::DESTINATION)
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert!(
        posted.iter().all(|c| !c.contains("[Discord]")),
        "{posted:?}"
    );
    assert!(posted.iter().any(|c| c.contains("erin")), "{posted:?}");
    assert_eq!(w.run.stop(), 0);
}

/// `relay_lua` (with `allow_lua`) shows relayed chat in colour through
/// `/sc game.print`, the text in a literal it cannot close.
#[test]
fn the_coloured_relay_is_opt_in_lua() {
    let mut w = World::start(&[("allow_lua", "true"), ("relay_lua", "true")]);
    let m = message_create("hi ]] there")
        .author("1500000000000000001", "ann")
        .global_name(None);
    w.gateway.send_message(m.json());
    let deadline = Instant::now() + WAIT;
    while w.game.lua_commands().is_empty() {
        assert!(Instant::now() < deadline, "nothing relayed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        w.game.lua_commands(),
        vec![
            "/sc game.print([=[[Discord] ann: hi ]] there]=], {color={r=1,g=0.6,b=0.8}})"
                .to_owned()
        ]
    );
    assert!(w.game.chats().is_empty(), "not also as plain chat");
    assert_eq!(w.run.stop(), 0);
}

/// Edge mode: events are posted, but no gateway session is opened.
#[test]
fn edge_mode_posts_events_without_a_gateway_session() {
    let rest = FakeDiscord::start();
    let gateway = FakeGateway::start();
    rest.set_gateway_url(&gateway.url());
    let ws = Workspace::new();
    append(&ws.log(), "");
    let token = format!("\"{}\"", discord::TOKEN);
    let api = format!("\"{}\"", rest.api_base());
    let config = ws.config_with_discord(
        &[
            ("bot_token", &token),
            ("api_base", &api),
            ("gateway", "false"),
        ],
        &[],
    );
    let mut run = ws.start(&config);
    run.wait_stderr("following");
    append(
        &ws.log(),
        "2024-04-09 06:08:43 [JOIN] erin joined the game\n",
    );
    let posted = rest.wait_for_messages(support::daemon::DESTINATION, 1, WAIT);
    assert!(posted[0].content.contains("erin"), "{}", posted[0].content);
    assert_eq!(gateway.connections(), 0, "no gateway session in edge mode");
    assert!(
        rest.requests()
            .iter()
            .all(|r| !r.path.ends_with("/gateway/bot")),
        "edge mode does not even ask for the gateway URL"
    );
    assert_eq!(run.stop(), 0);
}

/// Autocomplete offers servers and the online players, from RCON.
#[test]
fn autocomplete_offers_servers_and_online_players() {
    let mut w = World::start(&[]);
    for (focused, partial, want) in [("player", "a", vec!["alice"]), ("server", "s", vec!["s1"])] {
        let i = gateway::interaction_autocomplete("kick", focused, partial)
            .command_name("factorio-admin")
            .roles(&[ADMIN_ROLE]);
        let replies = w.invoke(&i);
        let choices: Vec<&str> = replies[0].body["data"]["choices"]
            .as_array()
            .expect("choices")
            .iter()
            .filter_map(|c| c["value"].as_str())
            .collect();
        assert_eq!(choices, want, "{focused}");
    }
    assert_eq!(w.run.stop(), 0);
}

/// A server that is down gets a clear answer within 5 s.
#[test]
fn a_server_that_is_down_is_answered_within_five_seconds() {
    let mut w = World::start(&[]);
    w.game.stall_all(true);
    let i = public("players");
    let sent = Instant::now();
    let (answer, _) = w.answer(&i);
    let took = sent.elapsed();
    assert!(answer.contains("did not answer"), "{answer}");
    // The 5 s budget, and the time to post the answer on a slow machine.
    assert!(took < Duration::from_secs(6), "answered after {took:?}");
    assert!(!answer.contains("127.0.0.1"));
    assert_eq!(w.run.stop(), 0);
}

#[test]
fn shutdown_closes_the_session_with_1000() {
    let mut w = World::start(&[]);
    assert_eq!(w.run.stop(), 0);
    assert_eq!(w.gateway.client_close_codes().last(), Some(&1000));
}

/// A command whose handling panics (a bug, injected) gets an answer that
/// says so; the worker and every other command go on.
#[test]
fn a_panicking_command_is_answered_and_the_others_go_on() {
    let mut w = World::start(&[]);
    let (answer, ephemeral) = w.answer(&as_user(
        public("say").option("message", format!("hi {PANIC_MARKER}").as_str()),
        1,
    ));
    assert!(
        answer.contains("Something went wrong inside the bridge"),
        "{answer}"
    );
    assert!(ephemeral);
    w.run
        .wait_stderr("a bug: handling a slash command panicked");
    assert!(w.game.chats().is_empty(), "nothing reached the game");
    // Four workers: more commands than workers, all answered.
    for n in 2..8 {
        let (answer, _) = w.answer(&as_user(public("players"), n));
        assert!(answer.contains("alice"), "{answer}");
    }
    assert!(w.run.is_running());
}
