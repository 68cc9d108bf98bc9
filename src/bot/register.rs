//! Registering the slash commands: one bulk overwrite to `guild_id` (shown
//! at once) or globally, and only when the definition changed since the
//! last success, which `state_dir/commands.json` remembers. Discord counts
//! new commands against a daily limit, and a PUT on every start of a
//! crash-looping daemon would spend it.

use serde_json::{Value, json};

use super::Shared;

/// FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Registers the commands if the stored record does not match.
pub fn register(shared: &Shared) {
    let Some(ids) = shared.ids() else { return };
    let body = crate::commands::spec::registration();
    let (path, scope) = match &shared.config.discord.guild_id {
        Some(guild) => (
            format!("applications/{}/guilds/{guild}/commands", ids.application),
            format!("guild {guild}"),
        ),
        None => (
            format!("applications/{}/commands", ids.application),
            "global".to_owned(),
        ),
    };
    let record = json!({
        "application": ids.application,
        "scope": scope,
        "hash": fingerprint(&body.to_string()),
    });
    let file = shared.state.path().join("commands.json");
    let stored: Option<Value> = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if stored.as_ref() == Some(&record) {
        log::debug!("slash commands unchanged ({scope}); not registering again");
        return;
    }
    match shared.rest.put(&shared.rest.url(&path), &body) {
        Ok(r) if (200..300).contains(&r.status) => {
            log::info!("registered the slash commands ({scope})");
            if let Err(e) = crate::checkpoint::write_atomic(&file, record.to_string().as_bytes()) {
                log::warn!(
                    "cannot remember the registration in {}: {e} (the commands are registered again at the next start)",
                    file.display()
                );
            }
        }
        Ok(r) if r.status == 403 => log::error!(
            "cannot register the slash commands ({scope}): {} (403). Invite the bot with the \
             applications.commands scope, or check discord.guild_id",
            r.message()
        ),
        Ok(r) => log::error!(
            "cannot register the slash commands ({scope}): HTTP {} {}",
            r.status,
            r.body
        ),
        Err(e) => log::error!(
            "cannot register the slash commands ({scope}): {e}; they are tried again at the next start"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_fnv1a() {
        assert_eq!(fingerprint(""), "cbf29ce484222325");
        assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
    }
}
