//! Pattern files on disk: bad files fail with a message naming file, line
//! and pattern; ranking is deterministic; factorio-isr (Python) files load.

mod support;

use std::path::Path;

use factorio_isr::patterns::PatternSet;
use factorio_isr::patterns::load::load_dirs;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write pattern file");
}

fn errors_of(dir: &Path) -> String {
    load_dirs(&[dir.to_owned()])
        .expect_err("must be rejected")
        .to_string()
}

const JOIN: &str = "  - name: join\n    kind: join\n    regex: '\\[JOIN\\] (?P<player>\\S+) joined'\n    template: '{player} joined'\n";

#[test]
fn invalid_regex_names_file_line_and_pattern() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "a.yml",
        &format!(
            "patterns:\n{JOIN}  - name: broken\n    kind: chat\n    regex: '[CHAT'\n    template: x\n"
        ),
    );
    let e = errors_of(dir.path());
    let file = dir.path().join("a.yml");
    assert!(
        e.starts_with(&format!(
            "{}:8: pattern `broken`: invalid regex",
            file.display()
        )),
        "{e}"
    );
}

#[test]
fn duplicate_name_names_both_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yml", &format!("patterns:\n{JOIN}"));
    write(dir.path(), "b.yaml", &format!("patterns:\n{JOIN}"));
    let e = errors_of(dir.path());
    assert!(
        e.starts_with(&format!(
            "{}: pattern `join`: duplicate pattern name",
            dir.path().join("b.yaml").display()
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "first defined in {}",
            dir.path().join("a.yml").display()
        )),
        "{e}"
    );
}

#[test]
fn unknown_placeholder_names_file_line_and_pattern() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "a.yml",
        &format!(
            "patterns:\n{}",
            JOIN.replace("{player} joined", "{name} joined")
        ),
    );
    let e = errors_of(dir.path());
    assert!(
        e.starts_with(&format!(
            "{}:5: pattern `join`: template uses {{name}}",
            dir.path().join("a.yml").display()
        )),
        "{e}"
    );
}

#[test]
fn problems_from_several_files_are_all_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "a.yml",
        "patterns:\n  - name: x\n    kind: chat\n    regex: '('\n    template: x\n",
    );
    write(dir.path(), "b.yml", "patterns: [\n");
    write(dir.path(), "notes.txt", "not a pattern file");
    let e = errors_of(dir.path());
    assert_eq!(
        e.lines()
            .filter(|l| l.starts_with(&dir.path().display().to_string()))
            .count(),
        2,
        "{e}"
    );
    assert!(
        e.contains("b.yml:2: invalid YAML") || e.contains("b.yml:1: invalid YAML"),
        "{e}"
    );
}

#[test]
fn missing_directory_is_an_error() {
    let e = load_dirs(&["/nonexistent/patterns".into()])
        .expect_err("missing")
        .to_string();
    assert!(
        e.starts_with("/nonexistent/patterns: cannot read the patterns directory"),
        "{e}"
    );
}

#[test]
fn lowest_priority_wins_then_file_then_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pattern = |name: &str, priority: u32| {
        format!(
            "  - name: {name}\n    kind: other\n    regex: 'hello'\n    template: '{name}'\n    priority: {priority}\n"
        )
    };
    write(
        dir.path(),
        "b.yml",
        &format!("patterns:\n{}{}", pattern("b1", 5), pattern("b2", 5)),
    );
    write(
        dir.path(),
        "a.yml",
        &format!("patterns:\n{}{}", pattern("a1", 7), pattern("a2", 5)),
    );
    let patterns = load_dirs(&[dir.path().to_owned()]).expect("loads");
    let winner = |set: &PatternSet| {
        let mut scratch = set.scratch();
        set.classify("hello", &mut scratch)
            .expect("no JSON patterns here")
            .map(|m| m.pattern.name.to_string())
    };
    // a2 and b1 tie on priority 5; a.yml sorts first.
    assert_eq!(
        winner(&PatternSet::new(&patterns, |_| true).expect("a set")),
        Some("a2".into())
    );
    // Without a2, b1 comes before b2 in its file.
    let without_a2: Vec<_> = patterns
        .iter()
        .filter(|p| &*p.name != "a2")
        .cloned()
        .collect();
    assert_eq!(
        winner(&PatternSet::new(&without_a2, |_| true).expect("a set")),
        Some("b1".into())
    );
}

#[test]
fn disabled_patterns_and_kinds_produce_nothing() {
    let set = PatternSet::new(&support::shipped_patterns(), |k| k.name() != "join").expect("a set");
    let mut scratch = set.scratch();
    assert!(
        set.classify("2024-01-01 00:00:00 [JOIN] a joined the game", &mut scratch)
            .expect("not malformed")
            .is_none()
    );
    assert!(
        set.classify("2024-01-01 00:00:00 [LEAVE] a left the game", &mut scratch)
            .expect("not malformed")
            .is_some()
    );
}

#[test]
fn python_factorio_isr_files_load_and_match() {
    // Shapes from factorio-isr's shipped patterns/vanilla.yaml.
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "vanilla.yaml",
        r#"events:
  player_join:
    pattern: '^(?:\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} )?\[JOIN\] (?P<player>\w+) joined the game'
    type: join
    emoji: '✅👋'
    message: '**{player}** joined the server'
    enabled: true
    priority: 2
    channel: general
  player_death_biters:
    pattern: '^(?:\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} )?(?P<player>\w+) was killed by (?P<message>.+)\.$'
    type: death
    emoji: '🪲💀'
    message: '**{player}** was killed by {message}'
    priority: 95
  research_completed:
    pattern: '^(?:\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} )?\[RESEARCH\] Finished researching ()(.+)\.$'
    type: research
    message: '***Research completed: {message}***'
  server_restart_warning:
    pattern: '\[SERVER\] Server restart in (\d+) minutes?$'
    type: server
    message: 'Restart in {message} min'
  catchall_debug:
    pattern: '^(?P<message>.+)$'
    type: server
    enabled: false
"#,
    );
    let patterns = load_dirs(&[dir.path().to_owned()]).expect("python file loads");
    let set = PatternSet::new(&patterns, |_| true).expect("a set");
    let render = |line: &str| {
        let mut scratch = set.scratch();
        set.classify(line, &mut scratch)
            .expect("no JSON patterns here")
            .map(|m| (m.pattern.kind.name().to_owned(), m.render("S")))
    };
    assert_eq!(
        render("2025-11-14 15:53:25 [join] Alice joined the game"),
        Some(("join".into(), "✅👋 **Alice** joined the server".into()))
    );
    assert_eq!(
        render("Eve was killed by a small biter."),
        Some((
            "death".into(),
            "🪲💀 **Eve** was killed by a small biter".into()
        ))
    );
    assert_eq!(
        render("[RESEARCH] Finished researching Automation."),
        Some((
            "research".into(),
            "***Research completed: Automation***".into()
        ))
    );
    assert_eq!(
        render("[SERVER] Server restart in 5 minutes"),
        Some(("server".into(), "Restart in 5 min".into()))
    );
    assert_eq!(
        render("unmatched line"),
        None,
        "disabled catch-all must not match"
    );
}
