//! Where moltbot keeps its files: config, state store, logs, extensions.
//!
//! Everything derives from two environment variables so tests never touch the real home:
//! `MOLTBOT_STATE_DIR` (default `~/.moltbot`) and `MOLTBOT_CONFIG_PATH`
//! (default `<state dir>/moltbot.json`).

use std::path::{Path, PathBuf};

/// Environment variable overriding the state directory.
pub const STATE_DIR_ENV: &str = "MOLTBOT_STATE_DIR";
/// Environment variable overriding the config file path.
pub const CONFIG_PATH_ENV: &str = "MOLTBOT_CONFIG_PATH";

/// The resolved locations of moltbot's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoltbotPaths {
    /// The state directory (`~/.moltbot` unless overridden).
    pub state_dir: PathBuf,
    /// The config file.
    pub config_file: PathBuf,
    /// True when [`Self::config_file`] was given (`--config` or `MOLTBOT_CONFIG_PATH`) rather
    /// than the default; a missing explicit file is an error, a missing default one is not.
    pub config_explicit: bool,
}

impl MoltbotPaths {
    /// Resolves paths from the process environment, with an optional `--config` override.
    pub fn from_env(config_override: Option<&Path>) -> Self {
        Self::resolve(
            std::env::var_os(STATE_DIR_ENV).map(PathBuf::from),
            std::env::var_os(CONFIG_PATH_ENV).map(PathBuf::from),
            config_override.map(Path::to_path_buf),
            std::env::var_os("HOME").map(PathBuf::from),
        )
    }

    /// Resolves paths from explicit values (precedence: `--config`, `MOLTBOT_CONFIG_PATH`,
    /// `<state dir>/moltbot.json`).
    pub fn resolve(
        state_dir: Option<PathBuf>,
        config_env: Option<PathBuf>,
        config_flag: Option<PathBuf>,
        home: Option<PathBuf>,
    ) -> Self {
        let state_dir = state_dir
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| home.unwrap_or_else(|| PathBuf::from(".")).join(".moltbot"));
        let explicit = config_flag.or(config_env.filter(|p| !p.as_os_str().is_empty()));
        let config_explicit = explicit.is_some();
        let config_file = explicit.unwrap_or_else(|| state_dir.join("moltbot.json"));
        Self {
            state_dir,
            config_file,
            config_explicit,
        }
    }

    /// `<state>/state/moltbot.sqlite`.
    pub fn store_file(&self) -> PathBuf {
        self.state_dir.join("state").join("moltbot.sqlite")
    }

    /// `<state>/logs`.
    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }

    /// `<state>/logs/gateway.log`.
    pub fn gateway_log(&self) -> PathBuf {
        self.logs_dir().join("gateway.log")
    }

    /// `<state>/extensions`.
    pub fn extensions_dir(&self) -> PathBuf {
        self.state_dir.join("extensions")
    }

    /// `<state>/node-id`: this machine's gateway identity (see [`Paths::node_id`]).
    pub fn node_id_file(&self) -> PathBuf {
        self.state_dir.join("node-id")
    }

    /// This state folder's node id, created (random, 0600) on first use. A gateway holds its
    /// leases in the store as `<node id>/<run>`, so a restarted gateway takes over what an
    /// earlier run of the same node left without waiting for the leases to expire. It is kept
    /// beside the store, not in it: replicas sharing one database each have their own.
    ///
    /// Errors: the file cannot be read or created.
    pub fn node_id(&self) -> std::io::Result<String> {
        let path = self.node_id_file();
        match std::fs::read_to_string(&path) {
            Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        crate::store::fs::create_private_dir_all(&self.state_dir)?;
        let id = format!("node-{:016x}", rand::random::<u64>());
        let mut file = crate::store::fs::open_private_append(&path)?;
        file.set_len(0)?;
        std::io::Write::write_all(&mut file, id.as_bytes())?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_flag_wins_over_env_and_default() {
        let p = MoltbotPaths::resolve(
            Some("/s".into()),
            Some("/env.json".into()),
            Some("/flag.json".into()),
            Some("/home/u".into()),
        );
        assert_eq!(p.config_file, PathBuf::from("/flag.json"));
        assert!(p.config_explicit);
        assert_eq!(p.state_dir, PathBuf::from("/s"));
        assert_eq!(p.store_file(), PathBuf::from("/s/state/moltbot.sqlite"));
    }

    #[test]
    fn defaults_live_under_home() {
        let p = MoltbotPaths::resolve(None, None, None, Some("/home/u".into()));
        assert!(!p.config_explicit);
        assert_eq!(p.state_dir, PathBuf::from("/home/u/.moltbot"));
        assert_eq!(
            p.config_file,
            PathBuf::from("/home/u/.moltbot/moltbot.json")
        );
        assert_eq!(
            p.gateway_log(),
            PathBuf::from("/home/u/.moltbot/logs/gateway.log")
        );
    }
}
