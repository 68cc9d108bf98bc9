//! The bot end to end, set up once for every test file that needs it
//! (tests/bot.rs, the fault suite): the real daemon in bot mode with a
//! gateway session on the fake gateway, the fake REST API and the fake
//! Factorio RCON server, configured as one Discord server would use it
//! (`guild_id`, an admin role, an audit channel, a chat channel); and the
//! slash commands, sent as INTERACTION_CREATE and answered.

use std::time::{Duration, Instant};

use super::daemon::{PATIENCE, Run, Workspace, append};
use super::discord::{self, FakeDiscord, InteractionReply, ReplyKind};
use super::gateway::{self, FakeGateway, Interaction, interaction_command};
use super::rcon::FakeRcon;

/// The game's RCON password: it must never be printed.
pub const RCON_PASSWORD: &str = "bot-test-rcon-password";
/// The role `admin_role_ids` names.
pub const ADMIN_ROLE: &str = "1400000000000000001";
/// Where every admin action is posted (`audit_channel_id`).
pub const AUDIT_CHANNEL: &str = "1400000000000000002";
/// The server's chat channel, and the channel interactions come from.
pub const CHAT_CHANNEL: &str = gateway::CHANNEL_ID;
/// Text that makes the daemon's debug build panic where it reads it
/// (`ISR_INJECT_PANIC`, set for every [`World`]).
pub const PANIC_MARKER: &str = "💥inject-panic💥";

/// Everything one bot test needs, started and wired together.
pub struct World {
    pub rest: FakeDiscord,
    pub gateway: FakeGateway,
    pub game: FakeRcon,
    pub ws: Workspace,
    pub run: Run,
}

impl World {
    /// A bot following an empty log, its session identified and its RCON
    /// connection made; `extra_server` adds keys to `servers.s1` or
    /// replaces the defaults (values are YAML text).
    pub fn start(extra_server: &[(&str, &str)]) -> World {
        World::start_with(&[], extra_server)
    }

    /// [`World::start`] with more (or other) keys under `discord:` too.
    pub fn start_with(extra_discord: &[(&str, &str)], extra_server: &[(&str, &str)]) -> World {
        World::start_in(Workspace::new(), extra_discord, extra_server)
    }

    /// [`World::start`] with the release build of the daemon.
    pub fn start_release(extra_server: &[(&str, &str)]) -> World {
        World::start_in(Workspace::release(), &[], extra_server)
    }

    fn start_in(
        ws: Workspace,
        extra_discord: &[(&str, &str)],
        extra_server: &[(&str, &str)],
    ) -> World {
        let rest = FakeDiscord::start();
        let gateway = FakeGateway::start();
        gateway.set_heartbeat_interval(Duration::from_millis(400));
        rest.set_gateway_url(&gateway.url());
        let game = FakeRcon::start(RCON_PASSWORD);
        game.set_players(&["alice", "bob"], &["carol"]);
        game.set_admins(&["alice"]);
        game.set_evolution(&[("Nauvis", 0.4321)]);
        append(&ws.log(), "");
        let port = game.port().to_string();
        let chat = format!("\"{CHAT_CHANNEL}\"");
        let server = overridden(
            vec![
                ("rcon_host", "127.0.0.1"),
                ("rcon_port", port.as_str()),
                ("rcon_password", RCON_PASSWORD),
                ("enable_stats_collector", "false"),
                ("chat_channel_id", &chat),
            ],
            extra_server,
        );
        let token = format!("\"{}\"", discord::TOKEN);
        let api = format!("\"{}\"", rest.api_base());
        let guild = format!("\"{}\"", gateway::GUILD_ID);
        let roles = format!("[\"{ADMIN_ROLE}\"]");
        let audit = format!("\"{AUDIT_CHANNEL}\"");
        let discord = overridden(
            vec![
                ("bot_token", token.as_str()),
                ("api_base", &api),
                ("guild_id", &guild),
                ("admin_role_ids", &roles),
                ("audit_channel_id", &audit),
            ],
            extra_discord,
        );
        let config = ws.config_with_discord(&discord, &server);
        // Debug builds panic on this marker: see tests/bot.rs
        // `a_panicking_command_is_answered_and_the_others_go_on`.
        let mut run = ws.start_with_env(&config, &[("ISR_INJECT_PANIC", PANIC_MARKER)]);
        gateway.wait_for_identifies(1, PATIENCE);
        // `start_at: end`: lines written before the file is opened are
        // skipped, so tests that write the log wait for this.
        run.wait_stderr("following");
        // The RCON thread asks `/version` once connected; tests compare
        // the game's commands before and after, so that must be behind us.
        let deadline = Instant::now() + PATIENCE;
        while !game.commands().iter().any(|c| c == "/version") {
            assert!(Instant::now() < deadline, "RCON never connected");
            std::thread::sleep(Duration::from_millis(20));
        }
        World {
            rest,
            gateway,
            game,
            ws,
            run,
        }
    }

    /// Sends `interaction` as an INTERACTION_CREATE, registered with the
    /// fake REST API first (as Discord knows it before it dispatches it);
    /// returns at once.
    pub fn send(&self, interaction: &Interaction) {
        self.rest
            .register_interaction(interaction.id(), interaction.token());
        self.gateway.send_interaction(interaction.json());
    }

    /// Every reply to a [`World::send`]t interaction once the final one
    /// (the edit after a defer, else the callback) has arrived, waiting up
    /// to `within` for each. The callback must have been taken: the fake
    /// refuses one after Discord's deadline (3 s unless set otherwise).
    pub fn replies(&self, interaction: &Interaction, within: Duration) -> Vec<InteractionReply> {
        let first = self.rest.wait_for_interaction_reply(
            interaction.id(),
            |r| r.kind == ReplyKind::Callback,
            within,
        );
        assert!(
            first.accepted(),
            "callback refused (404: after Discord's deadline): {first:?}"
        );
        if first.body["type"] == 5 {
            self.rest.wait_for_interaction_reply(
                interaction.id(),
                |r| r.kind == ReplyKind::Edit,
                within,
            );
        }
        self.rest.interaction_responses(interaction.id())
    }

    /// Sends `interaction` and returns every reply once the final one has
    /// arrived.
    pub fn invoke(&self, interaction: &Interaction) -> Vec<InteractionReply> {
        self.send(interaction);
        self.replies(interaction, PATIENCE)
    }

    /// The text the member finally sees, and whether only they see it.
    pub fn answer(&self, interaction: &Interaction) -> (String, bool) {
        final_answer(&self.invoke(interaction))
    }
}

/// The text of the final reply among `replies` (an interaction's, in
/// arrival order), and whether the answer is ephemeral (as the callback
/// chose).
pub fn final_answer(replies: &[InteractionReply]) -> (String, bool) {
    let last = replies.last().expect("a reply");
    let ephemeral = replies[0].body["data"]["flags"]
        .as_u64()
        .is_some_and(|f| f & 64 != 0);
    let content = match last.kind {
        ReplyKind::Callback => &last.body["data"]["content"],
        _ => &last.body["content"],
    };
    (content.as_str().unwrap_or_default().to_owned(), ephemeral)
}

/// `/factorio <path>` by an ordinary member.
pub fn public(path: &str) -> Interaction {
    interaction_command(path)
}

/// `/factorio-admin <path>` by a member with [`ADMIN_ROLE`].
pub fn admin(path: &str) -> Interaction {
    interaction_command(path)
        .command_name("factorio-admin")
        .roles(&[ADMIN_ROLE])
}

/// `i` by member `n` (`member<n>`, no display name), so one member's
/// cooldown cannot hold up another's command.
pub fn as_user(i: Interaction, n: usize) -> Interaction {
    i.user(&format!("15000000000000{n:05}"), &format!("member{n}"))
        .global_name(None)
}

/// `defaults` with each key of `extra` replaced, or added at the end.
fn overridden<'a>(
    mut defaults: Vec<(&'a str, &'a str)>,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    for &(key, value) in extra {
        match defaults.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => defaults.push((key, value)),
        }
    }
    defaults
}
