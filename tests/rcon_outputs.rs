//! The output parsers on real Factorio RCON outputs
//! (tests/fixtures/rcon-responses-real.txt; sources in its comments).

mod support;

use factorio_isr::factorio::{
    Player, parse_evolution, parse_map_age, parse_name_list, parse_players,
};

/// The fixture's groups: (heading, body).
fn groups() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(support::fixture("rcon-responses-real.txt")).expect("fixture");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        match line.strip_prefix("# ") {
            Some(heading) => out.push((heading.to_owned(), String::new())),
            None => {
                if let Some((_, body)) = out.last_mut() {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    out
}

fn body(starts: &str) -> String {
    groups()
        .into_iter()
        .find(|(h, _)| h.starts_with(starts))
        .map(|(_, b)| b)
        .unwrap_or_else(|| panic!("no fixture group starting with {starts:?}"))
}

#[test]
fn evolution_of_factorio_2_0_has_a_factor_per_surface() {
    let got = parse_evolution(&body("/evolution (Factorio 2.0"));
    assert_eq!(got.len(), 8);
    assert_eq!(got[0], (Some("Nauvis".to_owned()), 0.9495));
    assert_eq!(got[7], (Some("Fulgora".to_owned()), 0.5347));
}

#[test]
fn evolution_of_factorio_1_1_has_one_factor() {
    assert_eq!(
        parse_evolution(&body("/evolution (Factorio 1.1")),
        [(None, 0.0)]
    );
}

#[test]
fn time_is_the_map_age() {
    assert_eq!(
        parse_map_age(&body("/time")),
        Some(86_400 + 11 * 3600 + 60 + 26)
    );
}

#[test]
fn players_body_lines() {
    // The fixture holds the body lines only (the header is cut in its source).
    assert_eq!(
        parse_players(&body("/players")),
        [
            Player {
                name: "NekoMeow".into(),
                online: true
            },
            Player {
                name: "NekoMeow2".into(),
                online: false
            }
        ]
    );
}

#[test]
fn bans_and_whitelist() {
    assert_eq!(parse_name_list(&body("/bans")), ["user"]);
    assert_eq!(
        parse_name_list(&body("/whitelist get")),
        ["LemonNeko", "LittleSound", "NekoMeow"]
    );
}
