//! Config loading: each kind of mistake gives one error naming the file, the
//! line and the key, with what to do; every mistake is reported at once; and
//! secrets never appear in errors, Debug output or the daemon's output.

mod support;

use std::collections::HashMap;
use std::path::Path;

use factorio_isr::config::{self, Config, Location, Mode, StartAt};

const TOKEN: &str = "MTIz.TOKEN-SECRET-do-not-print";
const PASSWORD: &str = "rcon-PASSWORD-secret-do-not-print";

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn no_files(path: &Path) -> std::io::Result<String> {
    match path.to_str() {
        Some("/run/secrets/rcon") => Ok(format!("{PASSWORD}\n")),
        Some("/run/secrets/empty") => Ok("\n".to_owned()),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory",
        )),
    }
}

fn parse(text: &str) -> Result<Config, Vec<String>> {
    let env = env_of(&[("DISCORD_BOT_TOKEN", TOKEN), ("RCON_PASSWORD", PASSWORD)]);
    config::parse(Path::new("servers.yml"), text, &env, &no_files)
        .map_err(|p| p.0.iter().map(|p| p.to_string()).collect())
}

/// A valid config that each case below breaks in one place.
const GOOD: &str = "\
discord:
  bot_token: ${DISCORD_BOT_TOKEN}
  event_channel_id: \"1100000000000000001\"
servers:
  prod:
    name: Production
    log_path: /factorio/console.log
    rcon_host: 127.0.0.1
    rcon_port: 27015
    rcon_password: ${RCON_PASSWORD}
";

fn one_error(text: &str) -> String {
    let errors = parse(text).expect_err("config must be rejected");
    assert_eq!(errors.len(), 1, "exactly one error expected: {errors:#?}");
    let e = errors.into_iter().next().unwrap_or_default();
    assert!(
        !e.contains(TOKEN) && !e.contains(PASSWORD),
        "secret leaked: {e}"
    );
    e
}

#[test]
fn the_good_config_loads() {
    let c = parse(GOOD).expect("valid");
    assert_eq!(c.mode(), Mode::Bot);
    let s = &c.servers[0];
    assert_eq!(
        (&*s.id, s.name.as_str(), s.start_at),
        ("prod", "Production", StartAt::End)
    );
    let rcon = s.rcon.as_ref().expect("rcon configured");
    assert_eq!(
        (rcon.host.as_str(), rcon.port, rcon.password.expose()),
        ("127.0.0.1", 27015, PASSWORD)
    );
    assert_eq!(
        c.discord.bot_token.as_ref().map(|t| t.expose()),
        Some(TOKEN)
    );
}

#[test]
fn bad_yaml_names_the_line() {
    let e = one_error(&GOOD.replace("    name: Production", "    name: [Production"));
    assert!(e.starts_with("servers.yml:7: invalid YAML"), "{e}");
}

#[test]
fn unknown_key_names_line_key_and_suggestion() {
    let e = one_error(&GOOD.replace("rcon_port:", "rcon_prot:"));
    assert_eq!(
        e,
        "servers.yml:9: servers.prod.rcon_prot: unknown key (did you mean `rcon_port`?)"
    );
}

#[test]
fn wrong_type_names_line_and_key() {
    let e = one_error(&format!("{GOOD}    allow_lua: maybe\n"));
    assert_eq!(
        e,
        "servers.yml:11: servers.prod.allow_lua: `maybe` is not true or false"
    );
    let e = one_error(&format!("{GOOD}    channels: [1, 2]\n"));
    assert_eq!(
        e,
        "servers.yml:11: servers.prod.channels: expected a mapping of keys, found a list"
    );
}

#[test]
fn missing_required_key_says_what_to_set() {
    let no_rcon = GOOD
        .replace("    log_path: /factorio/console.log\n", "")
        .replace(
            "    rcon_host: 127.0.0.1\n    rcon_port: 27015\n    rcon_password: ${RCON_PASSWORD}\n",
            "",
        );
    let e = one_error(&no_rcon);
    assert!(
        e.starts_with("servers.yml:5: servers.prod.log_path: required key is missing"),
        "{e}"
    );
    assert!(e.contains("--console-log"), "{e}");
    assert!(e.contains("rcon_password"), "{e}");
}

/// The bot instance of a sidecar deployment reaches servers over RCON
/// only: no log to follow.
#[test]
fn a_server_with_rcon_needs_no_log() {
    let config = parse(&GOOD.replace("    log_path: /factorio/console.log\n", ""))
        .unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(config.servers[0].log_paths.is_empty());
    assert!(config.servers[0].rcon.is_some());
}

#[test]
fn a_coloured_relay_needs_allow_lua() {
    let e = one_error(&GOOD.replace(
        "    name: Production\n",
        "    name: Production\n    relay_lua: true\n",
    ));
    assert!(
        e.contains("servers.prod.relay_lua: needs allow_lua: true"),
        "{e}"
    );
    let ok = GOOD.replace(
        "    name: Production\n",
        "    name: Production\n    relay_lua: true\n    allow_lua: true\n",
    );
    let config = parse(&ok).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(config.servers[0].relay_lua);
}

#[test]
fn command_roles_name_admin_commands() {
    let text = format!(
        "{}  command_roles:\n    kick: [\"11\"]\n    whitelist add: [\"12\", \"13\"]\n",
        GOOD.replace("servers:\n", "")
            .split("  prod:")
            .next()
            .unwrap_or_default()
    );
    let text = format!(
        "{text}servers:\n  prod:{}",
        GOOD.split("  prod:").nth(1).unwrap_or_default()
    );
    let config = parse(&text).unwrap_or_else(|e| panic!("{e:#?}\n{text}"));
    let roles = &config.discord.command_roles;
    assert_eq!(
        roles["kick"].iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![11]
    );
    assert_eq!(roles["whitelist add"].len(), 2);
    let e = one_error(&text.replace("    kick:", "    kik:"));
    assert!(e.contains("discord.command_roles"), "{e}");
    assert!(e.contains("did you mean `kick`?"), "{e}");
}

#[test]
fn bad_port_names_line_key_and_range() {
    let e = one_error(&GOOD.replace("27015", "70000"));
    assert_eq!(
        e,
        "servers.yml:9: servers.prod.rcon_port: 70000 is not a port (1-65535)"
    );
}

#[test]
fn missing_env_var_names_variable_and_fix() {
    let e = one_error(&GOOD.replace("${DISCORD_BOT_TOKEN}", "${DISCORD_TOKEN_TYPO}"));
    assert!(
        e.starts_with(
            "servers.yml:2: discord.bot_token: environment variable DISCORD_TOKEN_TYPO is not set"
        ),
        "{e}"
    );
}

#[test]
fn unreadable_secret_file_names_key_and_path() {
    let e = one_error(&GOOD.replace(
        "rcon_password: ${RCON_PASSWORD}",
        "rcon_password_file: /run/secrets/missing",
    ));
    assert!(
        e.starts_with("servers.yml:10: servers.prod.rcon_password_file: cannot read /run/secrets/missing: No such file"),
        "{e}"
    );
    let e = one_error(&GOOD.replace(
        "rcon_password: ${RCON_PASSWORD}",
        "rcon_password_file: /run/secrets/empty",
    ));
    assert!(e.contains("/run/secrets/empty is empty"), "{e}");
}

#[test]
fn secret_files_are_read_and_trimmed() {
    let c = parse(&GOOD.replace(
        "rcon_password: ${RCON_PASSWORD}",
        "rcon_password_file: /run/secrets/rcon",
    ))
    .expect("valid");
    assert_eq!(
        c.servers[0].rcon.as_ref().map(|r| r.password.expose()),
        Some(PASSWORD)
    );
}

#[test]
fn secret_and_secret_file_together_is_an_error() {
    let e = one_error(&format!(
        "{GOOD}    rcon_password_file: /run/secrets/rcon\n"
    ));
    assert!(
        e.contains("both `rcon_password` and `rcon_password_file` are set"),
        "{e}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = GOOD
        .replace("rcon_port: 27015", "rcon_port: 0")
        .replace("name: Production", "nmae: Production")
        .replace(
            "event_channel_id: \"1100000000000000001\"",
            "event_channel_id: general",
        );
    let errors = parse(&text).expect_err("rejected");
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors[0]
            .starts_with("servers.yml:3: discord.event_channel_id: `general` is not a Discord ID")
    );
    assert!(
        errors[1]
            .starts_with("servers.yml:6: servers.prod.nmae: unknown key (did you mean `name`?)")
    );
    assert!(errors[2].starts_with("servers.yml:9: servers.prod.rcon_port: 0 is not a port"));
}

#[test]
fn other_validation_rules() {
    let e = one_error(&format!(
        "{GOOD}    ups_warning_threshold: 50\n    ups_recover_threshold: 40\n"
    ));
    assert!(
        e.contains("ups_recover_threshold: 40 is below ups_warning_threshold (50)"),
        "{e}"
    );
    let e = one_error(&GOOD.replace(
        "    log_path: /factorio/console.log\n",
        "    log_paths: [/a.log, /b.log, /a.log]\n",
    ));
    assert!(
        e.contains("servers.prod.log_paths[2]: /a.log is listed twice"),
        "{e}"
    );
    let e = one_error(&format!("{GOOD}    start_at: middle\n"));
    assert!(
        e.contains("servers.prod.start_at: `middle` is not `end` or `beginning`"),
        "{e}"
    );
    let e = one_error(&format!("{GOOD}    stats_message: replace\n"));
    assert!(
        e.contains("servers.prod.stats_message: `replace` is not `post` (a new message per report) or `edit`"),
        "{e}"
    );
    let e = one_error(&format!("{GOOD}    max_resume_age: soon\n"));
    assert!(e.contains("`soon` is not a duration"), "{e}");
    let e = one_error(&format!("{GOOD}    events:\n      jion: false\n"));
    assert!(
        e.contains("servers.yml:12: servers.prod.events.jion: unknown key (did you mean `join`?)"),
        "{e}"
    );
    let e = one_error(&GOOD.replace("  prod:", "  'prod server':"));
    assert!(e.contains("a server id is 1-32 letters"), "{e}");
    let e = one_error("discord: {}\n");
    assert!(e.contains("no servers configured"), "{e}");
    let e = one_error(&format!("{GOOD}health:\n  bind: localhost\n"));
    assert!(
        e.contains("health.bind: `localhost` is not an address:port"),
        "{e}"
    );
    let e = one_error(&GOOD.replace("    rcon_password: ${RCON_PASSWORD}\n", ""));
    assert!(e.contains("rcon_host is set but no password"), "{e}");
}

#[test]
fn webhook_url_errors_never_echo_the_url() {
    let text = GOOD.replace(
        "bot_token: ${DISCORD_BOT_TOKEN}",
        "webhook_url: ftp://hooks/123/WEBHOOK-TOKEN",
    );
    let e = one_error(&text);
    assert!(
        e.contains("discord.webhook_url: is not an http(s) URL"),
        "{e}"
    );
    assert!(!e.contains("WEBHOOK-TOKEN"), "{e}");
}

#[test]
fn debug_output_redacts_secrets() {
    let c = parse(GOOD).expect("valid");
    let debug = format!("{c:?}");
    assert!(
        !debug.contains(TOKEN) && !debug.contains(PASSWORD),
        "{debug}"
    );
    assert!(debug.contains("[redacted]"));
}

#[test]
fn environment_only_fallback() {
    let env = env_of(&[
        ("FACTORIO_LOG_PATH", "/factorio/console.log"),
        ("DISCORD_BOT_TOKEN", TOKEN),
        ("DISCORD_EVENT_CHANNEL_ID", "1100000000000000001"),
        ("RCON_HOST", "factorio"),
        ("RCON_PORT", "27016"),
        ("RCON_PASSWORD", PASSWORD),
    ]);
    let c = config::load_with(&Location::Default, &env, &no_files).expect("env config");
    let s = &c.servers[0];
    assert_eq!(
        s.log_paths,
        vec![std::path::PathBuf::from("/factorio/console.log")]
    );
    assert_eq!(
        s.rcon.as_ref().map(|r| (r.host.as_str(), r.port)),
        Some(("factorio", 27016))
    );
    assert_eq!(c.mode(), Mode::Bot);

    let env = env_of(&[
        ("FACTORIO_LOG_PATH", "/x.log"),
        ("RCON_PORT", "70000"),
        ("RCON_PASSWORD", PASSWORD),
    ]);
    let e = config::load_with(&Location::Default, &env, &no_files)
        .expect_err("bad port")
        .to_string();
    assert_eq!(
        e,
        "(environment): servers.default.rcon_port: 70000 is not a port (1-65535) (set by RCON_PORT)"
    );

    let e = config::load_with(&Location::Default, &env_of(&[]), &no_files)
        .expect_err("nothing")
        .to_string();
    assert!(
        e.contains("FACTORIO_LOG_PATH is not set") && e.contains("config/example.yml"),
        "{e}"
    );

    let e = config::load_with(
        &Location::Explicit("nope.yml".into()),
        &env_of(&[]),
        &no_files,
    )
    .expect_err("missing")
    .to_string();
    assert!(
        e.starts_with("nope.yml: cannot read the config file"),
        "{e}"
    );
}

/// The daemon's own output for a broken config holding real secrets.
#[test]
fn binary_never_prints_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = GOOD
        .replace("${DISCORD_BOT_TOKEN}", TOKEN)
        .replace("${RCON_PASSWORD}", PASSWORD)
        .replace("27015", "70000");
    std::fs::write(dir.path().join("servers.yml"), text).expect("write");
    for args in [&["check-config"][..], &[], &["replay", "servers.yml"]] {
        let out = support::command(dir.path())
            .args(["--config", "servers.yml"])
            .args(args)
            .env("LOG_LEVEL", "trace")
            .output()
            .expect("runs");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {all}");
        assert!(
            all.contains("servers.yml:9: servers.prod.rcon_port: 70000 is not a port"),
            "{all}"
        );
        assert!(
            !all.contains(TOKEN) && !all.contains(PASSWORD),
            "secret leaked: {all}"
        );
    }
}

/// docs/configuration.md documents every key the config accepts.
#[test]
fn every_config_key_is_documented() {
    let doc = std::fs::read_to_string(support::root().join("docs/configuration.md"))
        .expect("docs/configuration.md");
    let missing: Vec<String> = config::known_keys()
        .into_iter()
        .map(|k| k.replace("servers.*.", "servers.<id>."))
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(missing.is_empty(), "undocumented keys: {missing:?}");
}

/// A secret in clear in a file every user may read (the config file with a
/// literal token, a `*_file`) gets a warning naming the file and the fix;
/// mode 600, or a secret from the environment, gets none. No secret shows.
#[test]
fn secrets_readable_by_every_user_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let patterns = format!("patterns_dir: {}/patterns\n", env!("CARGO_MANIFEST_DIR"));
    let password_file = dir.path().join("rcon-password");
    std::fs::write(&password_file, PASSWORD).expect("write");
    let literal = format!(
        "{patterns}{}",
        GOOD.replace("${DISCORD_BOT_TOKEN}", TOKEN).replace(
            "rcon_password: ${RCON_PASSWORD}",
            &format!("rcon_password_file: {}", password_file.display())
        )
    );
    let config = dir.path().join("servers.yml");
    std::fs::write(&config, &literal).expect("write");
    let check = |env: &[(&str, &str)]| {
        let out = support::command(dir.path())
            .args(["--config", "servers.yml", "check-config"])
            .envs(env.iter().copied())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            !stderr.contains(TOKEN) && !stderr.contains(PASSWORD),
            "{stderr}"
        );
        stderr
    };
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    mode(&config, 0o644);
    mode(&password_file, 0o604);
    let stderr = check(&[]);
    // Named as given: the config file as on the command line.
    for file in [Path::new("servers.yml"), &password_file] {
        assert!(
            stderr.contains(&format!(
                "{} holds a secret and every user on this host may read it",
                file.display()
            )),
            "{stderr}"
        );
    }
    assert!(stderr.contains("(mode 644); run `chmod 600"), "{stderr}");
    mode(&config, 0o600);
    mode(&password_file, 0o640);
    assert!(!check(&[]).contains("holds a secret"));
    // A secret from the environment is not the file's.
    std::fs::write(&config, format!("{patterns}{GOOD}")).expect("write");
    mode(&config, 0o644);
    let env = [("DISCORD_BOT_TOKEN", TOKEN), ("RCON_PASSWORD", PASSWORD)];
    assert!(!check(&env).contains("holds a secret"));
}
