//! Helpers shared by the CLI tests: a temp state dir and a `moltbot` command pointed at it.

#![allow(dead_code)]

pub mod gateway;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A throwaway home for one test: state dir, config path, and no Webex variables inherited.
pub struct TestHome {
    pub dir: tempfile::TempDir,
}

impl TestHome {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("moltbot.json")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config");
    }

    /// Writes an executable script into the state dir and returns its path.
    pub fn write_script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, body).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod script");
        path
    }

    pub fn read_config(&self) -> String {
        std::fs::read_to_string(self.config_path()).expect("read config")
    }

    /// `moltbot` with a clean environment pointing at this home.
    pub fn moltbot(&self) -> Command {
        let mut cmd = Command::cargo_bin("moltbot").expect("moltbot binary");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path().join("home"))
            .env("MOLTBOT_STATE_DIR", self.state_dir())
            .current_dir(workspace_root());
        cmd
    }
}

/// The workspace root (so `./extensions/webex` resolves as in the docs).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

/// stdout and stderr of a finished command, as text.
pub fn output_text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Replaces the temp dir path so snapshots are stable.
pub fn scrub(text: &str, home: &TestHome) -> String {
    text.replace(&home.state_dir().display().to_string(), "[STATE]")
}
