//! The companion Factorio mod (contrib/factorio-mod): its Lua under real
//! interpreters against a stub of the game's API (1.1 and 2.0), its
//! info.json and changelog in Factorio's formats, and the daemon's replay
//! of exactly the lines the Lua tests checked: both read
//! tests/fixtures/factorio-mod/events-<version>.log, so what the mod writes
//! and what the daemon is tested on cannot drift apart.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::{command, fixture, root};

const MOD_DIR: &str = "contrib/factorio-mod/factorio-isr-events";

/// Whether `lua` runs here.
fn installed(lua: &str) -> bool {
    Command::new(lua)
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// contrib/factorio-mod/tests/run.lua under one interpreter.
fn run_lua_tests(lua: &str) {
    let out = Command::new(lua)
        .arg(root().join("contrib/factorio-mod/tests/run.lua"))
        .arg(root().join(MOD_DIR))
        .arg(fixture("factorio-mod"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {lua}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with(": ok"),
        "the mod's Lua tests failed under {lua}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Debian's lua5.4 is required (.ci/run installs it); Factorio runs a
/// modified Lua 5.2, so lua5.2 runs the same tests when it is there.
#[test]
fn lua_tests_pass_under_lua_5_4_and_5_2() {
    assert!(
        installed("lua5.4"),
        "lua5.4 is not installed, and the companion mod's tests need it: \
         `apt-get install lua5.4` (Debian; .ci/run installs it when missing)"
    );
    run_lua_tests("lua5.4");
    if installed("lua5.2") {
        run_lua_tests("lua5.2");
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// `x.y.z`, each a number from 0 to 65535 (Factorio's version format).
fn is_version(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok())
}

/// One entry of `dependencies`: an optional prefix (`!`, `?`, `(?)`, `~`),
/// a mod name, and an optional `<op> x.y.z`.
fn is_dependency(text: &str) -> bool {
    let rest = ["(?) ", "! ", "? ", "~ ", "(?)", "!", "?", "~"]
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .unwrap_or(text)
        .trim_start();
    let (name, version) = match ["<=", ">=", "<", ">", "="]
        .iter()
        .find_map(|op| rest.split_once(&format!(" {op} ")))
    {
        Some((name, version)) => (name, Some(version)),
        None => (rest, None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' '));
    name_ok && version.is_none_or(is_version)
}

/// The checks Factorio's mod loader and portal apply to info.json.
fn check_manifest(path: &Path, factorio: &str) {
    let info = read_json(path);
    let at = path.display();
    let name = info["name"].as_str().unwrap_or_default();
    assert!(
        !name.is_empty()
            && name.len() <= 100
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{at}: name {name:?}"
    );
    assert_eq!(name, "factorio-isr-events", "{at}");
    let version = info["version"].as_str().unwrap_or_default();
    assert!(
        is_version(version),
        "{at}: version {version:?} is not x.y.z"
    );
    assert_eq!(info["factorio_version"], factorio, "{at}");
    for key in ["title", "author", "description"] {
        assert!(
            info[key].as_str().is_some_and(|t| !t.trim().is_empty()),
            "{at}: {key}"
        );
    }
    assert!(
        info["title"].as_str().is_some_and(|t| t.len() <= 100),
        "{at}: title over 100 characters"
    );
    let deps = info["dependencies"].as_array().expect("dependencies list");
    assert!(!deps.is_empty(), "{at}: no dependencies");
    for dep in deps {
        let dep = dep.as_str().unwrap_or_default();
        assert!(is_dependency(dep), "{at}: dependency {dep:?}");
    }
    let base = format!("base >= {factorio}.0");
    assert!(
        deps.iter().any(|d| d == base.as_str()),
        "{at}: wants `{base}` among {deps:?}"
    );
}

#[test]
fn info_json_is_a_factorio_manifest_for_2_0_and_1_1() {
    assert!(is_dependency("base >= 2.0.0") && is_dependency("? some-mod"));
    assert!(!is_dependency("base >= 2.0") && !is_dependency("bad/name"));
    let mod_info = root().join(MOD_DIR).join("info.json");
    let old_info = root().join("contrib/factorio-mod/info-1.1.json");
    check_manifest(&mod_info, "2.0");
    check_manifest(&old_info, "1.1");
    // The variants differ in the Factorio version only.
    let (mut new, mut old) = (read_json(&mod_info), read_json(&old_info));
    for v in [&mut new, &mut old] {
        v["factorio_version"] = Value::Null;
        v["dependencies"] = Value::Null;
    }
    assert_eq!(new, old, "info-1.1.json must match info.json but for 1.1");
    // The changelog's newest entry is this version.
    let changelog =
        std::fs::read_to_string(root().join(MOD_DIR).join("changelog.txt")).expect("changelog");
    let version = read_json(&mod_info)["version"].clone();
    assert!(
        changelog.contains(&format!("\nVersion: {}\n", version.as_str().unwrap_or("?"))),
        "changelog.txt has no entry for {version}"
    );
}

/// Factorio's changelog format: each entry opens with a line of 99 dashes,
/// then `Version: x.y.z`, an optional `Date:`, and categories (two spaces,
/// a name and a colon) holding items (four spaces and `- `) whose text goes
/// on at six spaces. No tabs, no trailing spaces.
#[test]
fn changelog_follows_factorios_format() {
    let text =
        std::fs::read_to_string(root().join(MOD_DIR).join("changelog.txt")).expect("changelog");
    let separator = "-".repeat(99);
    let mut state = "start";
    for (i, line) in text.lines().enumerate() {
        let at = format!("changelog.txt:{}: {line:?}", i + 1);
        assert!(
            !line.contains('\t') && line.trim_end() == line,
            "{at}: tab or trailing space"
        );
        if line.is_empty() {
            continue;
        }
        state = match state {
            "start" | "item" if line == separator => "separator",
            "separator" => {
                let version = line.strip_prefix("Version: ").unwrap_or("");
                assert!(is_version(version), "{at}: expected `Version: x.y.z`");
                "version"
            }
            "version" if line.starts_with("Date: ") => "date",
            "version" | "date" | "item"
                if line.starts_with("  ") && !line.starts_with("   ") && line.ends_with(':') =>
            {
                "category"
            }
            "category" | "item" if line.starts_with("    - ") => "item",
            "item" if line.starts_with("      ") && !line.trim().is_empty() => "item",
            _ => panic!("{at}: not allowed after {state}"),
        };
    }
    assert_eq!(state, "item", "the changelog must end with an item");
}

/// `replay` of one file with the shipped patterns and no config.
fn replay(file: &Path, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let patterns = root().join("patterns");
    command(dir.path())
        .arg("replay")
        .arg(file)
        .arg("--patterns")
        .arg(&patterns)
        .args(extra)
        .output()
        .expect("replay runs")
}

fn events(out: &std::process::Output) -> Vec<Value> {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// What each line of events-<version>.log must become: pattern and message.
fn expected(version: &str) -> Vec<(&'static str, String)> {
    let far = if version == "2.0" {
        "vulcanus"
    } else {
        "nauvis-orbit"
    };
    let mut want = vec![
        (
            "mod-server-new-game",
            format!(
                "🗺️ A new map started on **Factorio** (Factorio {version}.{})",
                if version == "2.0" { "72" } else { "110" }
            ),
        ),
        (
            "mod-research-started",
            "🔬 Research started: **automation**".into(),
        ),
        (
            "mod-research-finished",
            "✅ Research completed: **automation**".into(),
        ),
        (
            "mod-research-started-level",
            "🔬 Research started: **mining-productivity-3** (level 3)".into(),
        ),
        (
            "mod-research-finished-level",
            "✅ Research completed: **mining-productivity-3** (level 3)".into(),
        ),
        (
            "mod-research-cancelled",
            "❌ Research cancelled: **automation-2**".into(),
        ),
        (
            "mod-research-cancelled-level",
            "❌ Research cancelled: **physical-projectile-damage-7** (level 7)".into(),
        ),
        (
            "mod-died-by-entity",
            "💀 **j.doe-2** was killed by small-biter (enemy)".into(),
        ),
        ("mod-respawned", "🔄 **j.doe-2** respawned".into()),
        // The quote came through JSON, the asterisk is escaped for Discord.
        (
            "mod-died-by-player",
            "💀 **mal\"lory\\*** was killed by **bardella**".into(),
        ),
        (
            "mod-died-by-train",
            "🚂 **j.doe-2** was run over by a train (locomotive)".into(),
        ),
        (
            "mod-died-by-self",
            "💀 **j.doe-2** killed themselves".into(),
        ),
        (
            "mod-died-by-entity",
            "💀 **bardella** was killed by car (player)".into(),
        ),
        (
            "mod-died-by-player",
            "💀 **bardella** was killed by **j.doe-2**".into(),
        ),
        ("mod-died", "💀 **bardella** died".into()),
        (
            "mod-rocket-launched",
            "🚀 A rocket was launched from **nauvis** (launch 1)".into(),
        ),
    ];
    if version == "2.0" {
        want.push((
            "mod-achievement",
            "🏆 **bardella** earned the achievement **smoke-me-a-kipper-i-will-be-back-for-breakfast**"
                .into(),
        ));
    }
    want.push((
        "mod-rocket-launched",
        format!("🚀 A rocket was launched from **{far}** (launch 2)"),
    ));
    want.push((
        "mod-server-updated",
        format!(
            "🟢 **Factorio** started after an update (Factorio {version}.{})",
            if version == "2.0" { "72" } else { "110" }
        ),
    ));
    want
}

#[test]
fn replay_of_the_mods_lines_gives_the_expected_events() {
    for version in ["1.1", "2.0"] {
        let file = fixture(&format!("factorio-mod/events-{version}.log"));
        let got = events(&replay(&file, &[]));
        let lines = std::fs::read_to_string(&file)
            .expect("fixture")
            .lines()
            .count();
        assert_eq!(got.len(), lines, "{version}: one event per line");
        let want = expected(version);
        let got_pairs: Vec<(String, String)> = got
            .iter()
            .map(|e| {
                (
                    e["pattern"].as_str().unwrap_or("").to_owned(),
                    e["content"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let want_pairs: Vec<(String, String)> = want
            .iter()
            .map(|(p, c)| ((*p).to_owned(), c.clone()))
            .collect();
        assert_eq!(got_pairs, want_pairs, "Factorio {version}");
        // Kinds route deaths, research and rockets like any other source.
        let kinds: Vec<&str> = got.iter().filter_map(|e| e["kind"].as_str()).collect();
        for kind in ["server", "research", "death", "respawn", "rocket"] {
            assert!(kinds.contains(&kind), "{version}: no {kind} in {kinds:?}");
        }
        // The JSON's keys are the event's fields, as any capture would be.
        let pvp = got
            .iter()
            .find(|e| e["pattern"] == "mod-died-by-player")
            .expect("a death by a player");
        let far = if version == "2.0" {
            "vulcanus"
        } else {
            "nauvis-orbit"
        };
        assert_eq!(
            pvp["fields"],
            json!({"player": "mal\"lory*", "killer": "bardella", "cause": "character",
                   "cause_force": "player", "surface": far}),
            "{version}"
        );
    }
}

#[test]
fn malformed_json_lines_are_skipped_with_a_warning_and_replay_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.log");
    let good = std::fs::read_to_string(fixture("factorio-mod/events-2.0.log")).expect("fixture");
    let good: Vec<&str> = good.lines().collect();
    let lines = [
        good[7],                                                       // a death
        r#"[ISR] {"event":"player_died","player":}"#,                  // broken JSON
        r#"[ISR] {"event":"research_started","tech":"autom}"#,         // cut off
        r#"[ISR] {"event":"player_died","player":"x","by":"meteor"}"#, // no pattern knows it
        r#"[ISR] {"event":"player_died","player":"x""#,                // no closing brace: no match
        "[ISR] [1,2,3]",                                               // not an object: no match
        good[15],                                                      // a rocket
    ];
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");

    let out = replay(&file, &[]);
    let got = events(&out);
    assert_eq!(
        got.iter()
            .map(|e| (e["line"].clone(), e["kind"].clone()))
            .collect::<Vec<_>>(),
        vec![(json!(1), json!("death")), (json!(7), json!("rocket"))]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [2, 3] {
        let place = format!(
            "line skipped, its JSON is malformed: {}:{line}: pattern `mod-server-new-game` ({}) reads group `data` as a JSON object, but it is not one (",
            file.display(),
            root().join("patterns").join("mod-events.yml").display()
        );
        assert!(stderr.contains(&place), "{place}\nnot in:\n{stderr}");
    }
    assert_eq!(stderr.matches("malformed").count(), 2, "{stderr}");

    let summary = String::from_utf8_lossy(&replay(&file, &["--summary"]).stdout).into_owned();
    assert_eq!(
        summary,
        "(malformed)  2\n(no event)   3\ndeath        1\nrocket       1\ntotal        7\n"
    );
}
