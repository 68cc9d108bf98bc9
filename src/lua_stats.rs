//! The stats sample of a server with `allow_lua: true`: one `/sc` round
//! trip that answers with JSON, instead of `/time`, `/players online` and
//! `/evolution`.
//!
//! It buys exact figures: `game.tick` instead of the map age in whole
//! seconds, every surface's evolution, and the current research with its
//! progress, which no console command reports. It costs the save its
//! achievements, which is why it is opt-in. The snippet differs by API
//! version (1.1: `game.table_to_json`, one `evolution_factor`; 2.0:
//! `helpers.table_to_json`, `get_evolution_factor(surface)` per planet).

use crate::commands::LuaApi;

/// What one sample reports.
#[derive(Debug, Clone, PartialEq)]
pub struct LuaSample {
    pub tick: u64,
    pub players: Vec<String>,
    /// Per surface, lower-case as in /metrics; 1.1 reports `nauvis`.
    pub evolution: Vec<(String, f64)>,
    pub research: Option<Research>,
    /// The research queue after the current technology, by name.
    pub queue: Vec<String>,
}

/// The technology being researched by the player force.
#[derive(Debug, Clone, PartialEq)]
pub struct Research {
    pub name: String,
    pub level: u32,
    /// 0 to 1.
    pub progress: f64,
}

/// The `/sc` command for a sample. Reads only; prints one JSON line.
pub fn snippet(api: LuaApi) -> String {
    // Space platforms are surfaces without a planet and without biters.
    let (evolution, json) = match api {
        LuaApi::V1_1 => (
            "r.evolution.nauvis=e.evolution_factor",
            "game.table_to_json",
        ),
        LuaApi::V2_0 => (
            "for _,s in pairs(game.surfaces) do if s.planet then r.evolution[s.name]=e.get_evolution_factor(s) end end",
            "helpers.table_to_json",
        ),
    };
    format!(
        "/sc local f,e=game.forces.player,game.forces.enemy \
         local r={{tick=game.tick,players={{}},evolution={{}}}} \
         for _,p in pairs(game.connected_players) do r.players[#r.players+1]=p.name end \
         {evolution} \
         local t=f.current_research \
         if t then r.research={{name=t.name,level=t.level,progress=f.research_progress}} end \
         r.queue={{}} for i,q in ipairs(f.research_queue or {{}}) do if i>1 then r.queue[#r.queue+1]=q.name end end \
         rcon.print({json}(r))"
    )
}

/// Reads the snippet's answer. `Err` carries what the game printed instead
/// (a Lua error, usually: a mod that renamed the forces, or the wrong API).
pub fn parse(text: &str) -> Result<LuaSample, String> {
    let text = text.trim();
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| shorten(text))?;
    // A number Lua formats as `1.2e+07` or `123.0` is still a tick.
    let tick = v
        .get("tick")
        .and_then(|t| {
            t.as_u64().or_else(|| {
                t.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f as u64)
            })
        })
        .ok_or_else(|| shorten(text))?;
    let players = names(v.get("players"));
    let mut evolution: Vec<(String, f64)> = match v.get("evolution") {
        Some(serde_json::Value::Object(surfaces)) => surfaces
            .iter()
            .filter_map(|(s, f)| Some((s.to_lowercase(), f.as_f64()?)))
            .collect(),
        _ => Vec::new(),
    };
    // Nauvis first: it is the one players mean by "evolution".
    evolution.sort_by_key(|(s, _)| s != "nauvis");
    let research = v.get("research").and_then(|r| {
        Some(Research {
            name: r.get("name")?.as_str()?.to_owned(),
            level: r
                .get("level")
                .and_then(serde_json::Value::as_u64)
                .map_or(1, |l| l.min(u64::from(u32::MAX)) as u32),
            progress: r
                .get("progress")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0)
                .clamp(0.0, 1.0),
        })
    });
    let queue = names(v.get("queue"));
    Ok(LuaSample {
        tick,
        players,
        evolution,
        research,
        queue,
    })
}

/// The strings of a JSON array; `table_to_json` writes an empty Lua table
/// as `{}`, never `[]`, so anything else is no names.
fn names(value: Option<&serde_json::Value>) -> Vec<String> {
    match value {
        Some(serde_json::Value::Array(names)) => names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The start of an unexpected answer, for a log line.
fn shorten(text: &str) -> String {
    let mut s: String = text.chars().take(200).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_use_each_versions_api() {
        let old = snippet(LuaApi::V1_1);
        assert!(old.starts_with("/sc "));
        assert!(old.contains("game.table_to_json(r)"));
        assert!(old.contains("e.evolution_factor"));
        assert!(!old.contains("helpers"));
        let new = snippet(LuaApi::V2_0);
        assert!(new.contains("helpers.table_to_json(r)"));
        assert!(new.contains("get_evolution_factor(s)"));
        // One line: RCON commands are single lines.
        assert!(!new.contains('\n'));
    }

    #[test]
    fn answers_are_read_leniently() {
        let s = parse(
            r#"{"tick":123456,"players":["alice","bob"],"evolution":{"vulcanus":0.1,"Nauvis":0.5},"research":{"name":"automation-2","level":1,"progress":0.25},"queue":["logistics-2"]}"#,
        )
        .expect("sample");
        assert_eq!(s.queue, ["logistics-2"]);
        assert_eq!(s.tick, 123_456);
        assert_eq!(s.players, ["alice", "bob"]);
        assert_eq!(
            s.evolution,
            [("nauvis".to_owned(), 0.5), ("vulcanus".to_owned(), 0.1)]
        );
        assert_eq!(
            s.research,
            Some(Research {
                name: "automation-2".into(),
                level: 1,
                progress: 0.25
            })
        );
        // Empty tables come back as objects; no research is no key.
        let s = parse(r#"{"tick":5,"players":{},"evolution":{}}"#).expect("sample");
        assert_eq!(
            (s.players.len(), s.evolution.len(), s.research),
            (0, 0, None)
        );
        let err = parse("Cannot execute command. Error: [string \"...\"]:1: attempt to index")
            .expect_err("a Lua error");
        assert!(err.starts_with("Cannot execute command"), "{err}");
        assert!(parse(r#"{"players":[]}"#).is_err(), "no tick");
        assert_eq!(parse(r#"{"tick":1.2e+07}"#).map(|s| s.tick), Ok(12_000_000));
        assert!(parse(r#"{"tick":-1}"#).is_err());
        assert!(parse(&"x".repeat(1000)).expect_err("junk").chars().count() <= 201);
    }
}
