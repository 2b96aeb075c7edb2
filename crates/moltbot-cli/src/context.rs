//! What every command needs: where files live, how to read the environment, which plugins exist,
//! and the config checked by core and by every plugin.

use std::path::Path;
use std::sync::Arc;

use moltbot_core::config::{self, ConfigError, ConfigIssue, LoadedConfig};
use moltbot_core::logging;
use moltbot_core::paths::MoltbotPaths;
use moltbot_core::plugin::PluginRegistry;
use moltbot_core::store::{Store, StoreLocation};

/// Shared inputs of every command.
pub struct Context {
    /// Resolved file locations.
    pub paths: MoltbotPaths,
    /// Plugins compiled into this binary.
    pub registry: PluginRegistry,
}

/// A config that parsed, with every problem core and the plugins found in it.
pub struct CheckedConfig {
    /// The loaded config.
    pub config: LoadedConfig,
    /// Problems, sorted by position, without duplicates. Empty means valid.
    pub issues: Vec<ConfigIssue>,
}

impl Context {
    /// Builds the context from the process environment and the `--config` flag.
    pub fn from_env(config_flag: Option<&Path>) -> Self {
        let mut registry = PluginRegistry::new();
        registry.register(Arc::new(moltbot_webex::WebexPlugin::new()));
        Self {
            paths: MoltbotPaths::from_env(config_flag),
            registry,
        }
    }

    /// Looks up an environment variable (empty values count as unset).
    pub fn env(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    /// Loads the config file and runs every check: core sections, plugin installs (the
    /// installs on this machine's disk count, see `PluginRegistry::installed_on_disk`), and each
    /// enabled plugin's own validation. Secrets it holds are registered for log redaction
    /// before anything can print them. A config path given explicitly that does not exist is
    /// [`ConfigError::NotFound`]. `${VAR}` substitution sees empty variables as empty (and says
    /// so); everything else treats them as unset.
    pub fn check_config(&self) -> Result<CheckedConfig, ConfigError> {
        let (mut config, mut issues) =
            config::load_lenient(&self.paths.config_file, &config::process_env)?;
        config.core.plugins.installed = self
            .registry
            .installed_on_disk(&self.paths.extensions_dir());
        if self.paths.config_explicit && !config.existed {
            return Err(ConfigError::NotFound {
                path: self.paths.config_file.clone(),
            });
        }
        for plugin in self.registry.all() {
            for secret in plugin.secrets(&config, &Self::env) {
                logging::register_secret(&secret);
            }
        }
        issues.extend(self.registry.check(&config, &Self::env));
        // `store.url` itself is checked with the core sections; MOLTBOT_DATABASE_URL here.
        match config
            .core
            .store
            .location(&Self::env, self.paths.store_file())
        {
            Ok(location) => location
                .secrets()
                .iter()
                .for_each(|s| logging::register_secret(s)),
            Err(issue) if config.core.store.url.is_none() => issues.push(issue),
            Err(_) => {}
        }
        config::sort_issues(&mut issues);
        issues.dedup();
        Ok(CheckedConfig { config, issues })
    }
}

impl Context {
    /// Where the state store is for `config`: `store.url`, else `MOLTBOT_DATABASE_URL`, else
    /// the SQLite file in the state folder. Its password is registered for log redaction.
    pub fn store_location_for(&self, config: &LoadedConfig) -> anyhow::Result<StoreLocation> {
        let location = config
            .core
            .store
            .location(&Self::env, self.paths.store_file())
            .map_err(|issue| anyhow::anyhow!("{issue}"))?;
        for secret in location.secrets() {
            logging::register_secret(&secret);
        }
        Ok(location)
    }

    /// Where the state store is, reading only what that needs from the config file (a config
    /// with problems elsewhere still names its store; a missing file means the defaults).
    pub fn store_location(&self) -> anyhow::Result<StoreLocation> {
        let (config, _issues) =
            config::load_lenient(&self.paths.config_file, &config::process_env)?;
        self.store_location_for(&config)
    }

    /// Opens the store at `location` only when it exists: a SQLite file that is not there is
    /// `None` (and is not created), for the commands that only read or change existing state.
    /// A PostgreSQL database is always connected to.
    pub async fn open_store_if_present(location: &StoreLocation) -> anyhow::Result<Option<Store>> {
        if let StoreLocation::Sqlite(file) = location {
            if !file.exists() {
                return Ok(None);
            }
        }
        Self::connect_store(location).await.map(Some)
    }

    /// Connects to the store at `location` (creating and migrating it as needed).
    pub async fn connect_store(location: &StoreLocation) -> anyhow::Result<Store> {
        Store::connect(location).await.map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot open the state store ({location})"))
        })
    }
}

/// Why no channel plugin is enabled in `config`, with the fix: a plugin the config disables
/// (`plugins.entries.<id>.enabled: false`) is named as disabled, otherwise the install command
/// is given.
pub fn no_channel_reason(registry: &PluginRegistry, config: &LoadedConfig) -> String {
    let disabled = registry
        .all()
        .map(|p| p.manifest())
        .find(|m| config.core.plugins.state(&m.id) == moltbot_core::config::PluginState::Disabled);
    match disabled.and_then(|m| {
        moltbot_core::plugin::unavailable(m, moltbot_core::config::PluginState::Disabled)
            .map(|(problem, fix)| (m, problem, fix))
    }) {
        Some((m, problem, fix)) => format!("the channel {} {problem}: {fix}", m.id),
        None => "no channel plugin is installed: run `moltbot plugins install @moltbot/webex`"
            .to_string(),
    }
}

/// What a read-only command says when the SQLite store file does not exist yet (it never
/// creates it).
pub const NO_STORE_YET: &str = "no store yet: the gateway or any command that needs it creates it";

/// The error of a command that needs existing state when there is no store at `location`:
/// `no store yet (sqlite PATH), so WHAT; the gateway or any command that needs it creates it`.
pub fn no_store_yet(location: &StoreLocation, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "no store yet ({location}), so {what}; the gateway or any command that needs it creates it"
    )
}

/// Prints a config's problems to stderr under a one-line heading.
pub fn print_issues(config_path: &Path, issues: &[ConfigIssue]) {
    let noun = if issues.len() == 1 {
        "problem"
    } else {
        "problems"
    };
    eprintln!(
        "Config {} has {} {noun}:",
        config_path.display(),
        issues.len()
    );
    for issue in issues {
        eprintln!("- {}", logging::redact(&issue.to_string()));
    }
}
