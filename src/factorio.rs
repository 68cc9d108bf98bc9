//! What Factorio's console commands print, read back into numbers and names,
//! and the rules for names that go into commands.
//!
//! Every parser here reads the output of a command that runs no Lua
//! (`/time`, `/players`, `/evolution`, `/bans`, `/whitelist get`): those
//! keep the admin's achievements. They are pure functions over text, tested
//! on real outputs (tests/fixtures/rcon-responses-real.txt).

/// A player's name as `/players` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Player {
    pub name: String,
    pub online: bool,
}

/// Seconds of map age from `/time`: "1 day, 11 hours, 1 minute and 26
/// seconds", "5 minutes and 3 seconds", "42 seconds". `None` if the text is
/// not in that shape.
pub fn parse_map_age(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = 0u64;
    for part in text.split([',']).flat_map(|p| p.split(" and ")) {
        let mut words = part.split_whitespace();
        let n: u64 = words.next()?.parse().ok()?;
        let unit = match words.next()?.trim_end_matches('s') {
            "second" => 1,
            "minute" => 60,
            "hour" => 3600,
            "day" => 86_400,
            "week" => 604_800,
            "year" => 31_536_000,
            _ => return None,
        };
        if words.next().is_some() {
            return None;
        }
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(total)
}

/// Players from `/players` or `/players online` (the first line is a
/// header and is skipped): `  name (online)` / `  name (offline)`.
pub fn parse_players(text: &str) -> Vec<Player> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim().trim_start_matches("- ");
            let (name, state) = line.rsplit_once(" (")?;
            let online = match state.strip_suffix(')')? {
                "online" => true,
                "offline" => false,
                _ => return None,
            };
            (!name.is_empty()).then(|| Player {
                name: name.to_owned(),
                online,
            })
        })
        .collect()
}

/// Evolution factors from `/evolution`: one unnamed factor in 1.1
/// (`Evolution factor: 0.0000. (Time 0%) ...`), one per surface in 2.0
/// (`Nauvis - Evolution factor: 0.9495. ...`).
pub fn parse_evolution(text: &str) -> Vec<(Option<String>, f64)> {
    text.lines()
        .filter_map(|line| {
            let (surface, rest) = match line.split_once(" - Evolution factor: ") {
                Some((s, r)) => (Some(s.trim().to_owned()), r),
                None => (None, line.trim().strip_prefix("Evolution factor: ")?),
            };
            let number = rest
                .split_once(". ")
                .map_or(rest.trim_end_matches('.'), |(n, _)| n);
            let value: f64 = number.trim().parse().ok()?;
            value.is_finite().then_some((surface, value))
        })
        .collect()
}

/// Names from `/bans` ("Banned players: a, b and c") or `/whitelist get`
/// ("Whitelisted players: A, B and C").
pub fn parse_name_list(text: &str) -> Vec<String> {
    let Some((_, list)) = text.trim().split_once(": ") else {
        return Vec::new();
    };
    list.split(", ")
        .flat_map(|part| part.split(" and "))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `name` is safe to put into a console command: factorio.com
/// names are letters, digits, `_`, `-` and `.`; anything else (spaces,
/// quotes, slashes) could change what the command does.
pub fn valid_player_name(name: &str) -> bool {
    (1..=60).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_age() {
        let check = |t: &str, s: Option<u64>| assert_eq!(parse_map_age(t), s, "{t}");
        check(
            "1 day, 11 hours, 1 minute and 26 seconds",
            Some(86_400 + 11 * 3600 + 60 + 26),
        );
        check("5 minutes and 3 seconds", Some(303));
        check("42 seconds", Some(42));
        check("1 second", Some(1));
        check("2 hours", Some(7200));
        check("", None);
        check("Unknown command \"time\".", None);
        check("5 parsecs", None);
    }

    #[test]
    fn players() {
        let got =
            parse_players("Online players (2):\n  NekoMeow (online)\n  NekoMeow2 (offline)\n");
        assert_eq!(
            got,
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
        assert_eq!(parse_players("- Alice (online)\n- Bob (online)").len(), 2);
        assert_eq!(parse_players("Players (0):"), []);
    }

    #[test]
    fn evolution_both_versions() {
        assert_eq!(
            parse_evolution(
                "Evolution factor: 0.0000. (Time 0%) (Pollution 0%) (Spawner kills 0%)"
            ),
            [(None, 0.0)]
        );
        assert_eq!(
            parse_evolution(
                "Nauvis - Evolution factor: 0.9495. (Time 10%)\nbpsb-lab-p-Kynazori - Evolution factor: 0.6358. (Time 100%)"
            ),
            [
                (Some("Nauvis".into()), 0.9495),
                (Some("bpsb-lab-p-Kynazori".into()), 0.6358)
            ]
        );
        assert_eq!(parse_evolution("Surface x does not exist"), []);
    }

    #[test]
    fn name_lists() {
        assert_eq!(parse_name_list("Banned players: user"), ["user"]);
        assert_eq!(
            parse_name_list("Whitelisted players: LemonNeko, LittleSound and NekoMeow"),
            ["LemonNeko", "LittleSound", "NekoMeow"]
        );
        assert_eq!(parse_name_list("Nobody"), Vec::<String>::new());
    }

    #[test]
    fn names_safe_for_commands() {
        for ok in ["bardella", "j.doe-2", "Player_123"] {
            assert!(valid_player_name(ok), "{ok}");
        }
        for bad in ["", "a b", "x\"y", "/c", "bob;", "日本語", &"a".repeat(61)] {
            assert!(!valid_player_name(bad), "{bad}");
        }
    }
}
