//! [`TestHome`]: a throwaway moltbot state dir with its config, and `moltbot` commands pointed at
//! it with a clean environment.

use std::io;
use std::path::{Path, PathBuf};

/// A throwaway home for one test or bench run: state dir (which also holds `moltbot.json`),
/// and the `moltbot` binary to run against it. Removed when dropped.
///
/// The methods without `try_` are for tests: they panic with the path and the error.
#[derive(Debug)]
pub struct TestHome {
    dir: tempfile::TempDir,
    binary: PathBuf,
}

impl Default for TestHome {
    fn default() -> Self {
        Self::new()
    }
}

/// The `moltbot` binary cargo built for the running integration test (the CLI's tests).
pub fn moltbot_binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("moltbot")
}

/// The workspace root (so `./extensions/webex` resolves as in the docs).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).unwrap_or(here).to_path_buf()
}

impl TestHome {
    /// A new home for [`moltbot_binary`].
    pub fn new() -> Self {
        Self::with_binary(moltbot_binary())
    }

    /// A new home for the binary at `binary`.
    pub fn with_binary(binary: impl Into<PathBuf>) -> Self {
        match Self::try_with_binary(binary) {
            Ok(home) => home,
            Err(err) => panic!("cannot create a temp dir for the test home: {err}"),
        }
    }

    /// [`Self::with_binary`], reporting a failure to create the temp dir.
    pub fn try_with_binary(binary: impl Into<PathBuf>) -> io::Result<Self> {
        Ok(Self {
            dir: tempfile::tempdir()?,
            binary: binary.into(),
        })
    }

    /// The `moltbot` binary this home runs.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The state dir (`MOLTBOT_STATE_DIR`).
    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `HOME` the binary sees (inside the temp dir, never the real one).
    pub fn user_home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The config file, `<state>/moltbot.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("moltbot.json")
    }

    /// The SQLite store the gateway and the CLI share, `<state>/state/moltbot.sqlite`.
    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("state").join("moltbot.sqlite")
    }

    /// Writes the config file.
    pub fn write_config(&self, text: &str) {
        if let Err(err) = self.try_write_config(text) {
            panic!("cannot write {}: {err}", self.config_path().display());
        }
    }

    /// [`Self::write_config`], reporting a failure.
    pub fn try_write_config(&self, text: &str) -> io::Result<()> {
        std::fs::write(self.config_path(), text)
    }

    /// The config file's text.
    pub fn read_config(&self) -> String {
        match std::fs::read_to_string(self.config_path()) {
            Ok(text) => text,
            Err(err) => panic!("cannot read {}: {err}", self.config_path().display()),
        }
    }

    /// `channels.webex.mode` of the config (`webhook` when absent or unreadable).
    pub fn webex_mode(&self) -> String {
        std::fs::read_to_string(self.config_path())
            .ok()
            .and_then(|text| moltbot_core::config::parse_json5(&text).ok().flatten())
            .and_then(|config| {
                config["channels"]["webex"]["mode"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "webhook".to_string())
    }

    /// Writes an executable script into the state dir and returns its path.
    pub fn write_script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        let written = std::fs::write(&path, body)
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)));
        if let Err(err) = written {
            panic!("cannot write script {}: {err}", path.display());
        }
        path
    }

    /// Where a gateway started in this home keeps its state: the config's `store.url`, else
    /// `MOLTBOT_DATABASE_URL` among `env` (the extra variables it is started with), else
    /// [`Self::store_path`]. A config that cannot be read means the SQLite file.
    pub fn store_location(&self, env: &[(String, String)]) -> moltbot_core::store::StoreLocation {
        let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        moltbot_core::config::load_lenient(&self.config_path(), &lookup)
            .ok()
            .and_then(|(config, _)| config.core.store.location(&lookup, self.store_path()).ok())
            .unwrap_or_else(|| moltbot_core::store::StoreLocation::Sqlite(self.store_path()))
    }

    /// The binary with a clean environment pointing at this home (`PATH`, `HOME`,
    /// `MOLTBOT_STATE_DIR` only), run from the workspace root.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.binary);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.user_home())
            .env("MOLTBOT_STATE_DIR", self.state_dir())
            .current_dir(workspace_root());
        cmd
    }

    /// [`Self::command`] as an `assert_cmd` command.
    pub fn moltbot(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.command())
    }
}
