//! Build identification for `moltbot --version` and `moltbot-pdf --version`.
//!
//! Sets `MOLTBOT_VERSION` for the binaries: the package version, then the commit the build
//! came from when the sources are a git checkout, with `-dirty` when tracked files had
//! uncommitted changes: `0.1.0 (6c65cdc1a)`, `0.1.0 (6c65cdc1a-dirty)`. Without git, or outside
//! a checkout (a source tarball, `cargo install` from a registry), it is the package version
//! alone: `0.1.0`.
//!
//! Cargo runs this again when HEAD moves (a commit, a checkout, a reset) or the index changes:
//! it watches the files git keeps that state in, found through git itself, so a worktree's
//! `.git` file (pointing at `<main>/.git/worktrees/<name>`, with the refs in the main `.git`)
//! works as a plain checkout does. An edit that is neither staged nor committed does not run it
//! again, so `-dirty` says what the tree was when this last ran.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let package = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed=build.rs");
    let version = match checkout(&manifest_dir) {
        Some(checkout) => {
            for watched in checkout.watched_files() {
                println!("cargo:rerun-if-changed={}", watched.display());
            }
            match checkout.commit() {
                Some(commit) => {
                    let dirty = if checkout.is_dirty() { "-dirty" } else { "" };
                    format!("{package} ({commit}{dirty})")
                }
                None => package,
            }
        }
        None => package,
    };
    println!("cargo:rustc-env=MOLTBOT_VERSION={version}");
}

/// The git checkout the workspace is, as git sees it from `dir`.
struct Checkout {
    /// Where `dir`'s git commands run.
    dir: PathBuf,
    /// This checkout's own git dir (a worktree's is `<main>/.git/worktrees/<name>`): `HEAD`,
    /// `index`, `logs/HEAD`.
    git_dir: PathBuf,
    /// The git dir shared by all worktrees: `refs/`, `packed-refs`.
    common_dir: PathBuf,
}

/// The checkout `dir` is in, when git runs and the checkout's top is this workspace (two
/// folders up from the crate): sources copied into some other repository are not that
/// repository's commit.
fn checkout(dir: &Path) -> Option<Checkout> {
    let out = git(
        dir,
        &[
            "rev-parse",
            "--show-toplevel",
            "--git-dir",
            "--git-common-dir",
        ],
    )?;
    // `--git-dir` and `--git-common-dir` may be relative to `dir`.
    let mut lines = out.lines().map(|line| dir.join(line));
    let (top, git_dir, common_dir) = (lines.next()?, lines.next()?, lines.next()?);
    let workspace = dir.ancestors().nth(2)?;
    if top.canonicalize().ok()? != workspace.canonicalize().ok()? {
        return None;
    }
    Some(Checkout {
        dir: dir.to_path_buf(),
        git_dir,
        common_dir,
    })
}

impl Checkout {
    /// The short id of HEAD's commit (`None` in a repository without commits).
    fn commit(&self) -> Option<String> {
        git(&self.dir, &["rev-parse", "--short=9", "HEAD"])
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty())
    }

    /// Whether tracked files differ from HEAD (untracked files do not count). Never writes
    /// the index (`--no-optional-locks`), which would make cargo run this script again.
    fn is_dirty(&self) -> bool {
        git(
            &self.dir,
            &[
                "--no-optional-locks",
                "status",
                "--porcelain",
                "--untracked-files=no",
            ],
        )
        .is_some_and(|status| !status.trim().is_empty())
    }

    /// The files whose change means HEAD moved or the index changed: `HEAD`, the branch it
    /// names (a loose ref, or `packed-refs`), the HEAD reflog and the index. Only files that
    /// exist (cargo runs the script on every build for a missing one).
    fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = vec![
            self.git_dir.join("HEAD"),
            self.git_dir.join("index"),
            self.git_dir.join("logs").join("HEAD"),
            self.common_dir.join("packed-refs"),
        ];
        let head = std::fs::read_to_string(self.git_dir.join("HEAD")).unwrap_or_default();
        if let Some(branch) = head.trim().strip_prefix("ref: ") {
            files.push(self.common_dir.join(branch));
        }
        files.retain(|file| file.is_file());
        files
    }
}

/// `git args...` run in `dir`: its stdout when it succeeds, `None` when git is missing or
/// fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
