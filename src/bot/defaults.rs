//! Each member's default server, set with `/factorio connect`, kept in
//! `state_dir/defaults.json` so it survives restarts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Defaults {
    path: PathBuf,
    map: Mutex<BTreeMap<String, String>>,
    /// Held while writing, so two saves cannot land in the wrong order;
    /// readers only take `map`.
    write: Mutex<()>,
}

impl Defaults {
    /// Loads the file in `state_dir`; a missing or unreadable one is an
    /// empty map (the worst case is a member running `connect` again).
    pub fn load(state_dir: &Path) -> Self {
        let path = state_dir.join("defaults.json");
        let map = crate::checkpoint::read_json_or_default(&path);
        Self {
            path,
            map: Mutex::new(map),
            write: Mutex::new(()),
        }
    }

    pub fn get(&self, user: &str) -> Option<String> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .cloned()
    }

    /// Sets and saves; the error says why it will not survive a restart.
    pub fn set(&self, user: &str, server: &str) -> Result<(), String> {
        // Serialised under the map's lock, written outside it: commands
        // read the map while a slow disk syncs.
        let _writing = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.insert(user.to_owned(), server.to_owned());
            serde_json::to_vec_pretty(&*map).map_err(|e| e.to_string())?
        };
        crate::checkpoint::write_atomic(&self.path, &bytes)
            .map_err(|e| format!("cannot save {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_survive_a_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = Defaults::load(dir.path());
        assert_eq!(d.get("42"), None);
        d.set("42", "nauvis").expect("saved");
        assert_eq!(
            Defaults::load(dir.path()).get("42").as_deref(),
            Some("nauvis")
        );
    }
}
