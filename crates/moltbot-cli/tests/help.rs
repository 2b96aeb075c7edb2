//! Every command documents itself through the built binary.

mod common;

use common::TestHome;

const COMMANDS: &[&[&str]] = &[
    &[],
    &["gateway"],
    &["plugins"],
    &["plugins", "install"],
    &["plugins", "list"],
    &["pair"],
    &["pairing"],
    &["pairing", "list"],
    &["pairing", "approve"],
    &["pairing", "deny"],
    &["pairing", "revoke"],
    &["channels"],
    &["channels", "status"],
    &["channels", "probe"],
    &["message"],
    &["message", "send"],
    &["poll"],
    &["poll", "create"],
    &["poll", "results"],
    &["poll", "close"],
    &["config"],
    &["config", "validate"],
    &["store"],
    &["store", "status"],
    &["store", "migrate"],
    &["store", "copy"],
];

#[test]
fn every_command_has_help() {
    let home = TestHome::new();
    for path in COMMANDS {
        let out = home
            .moltbot()
            .args(*path)
            .arg("--help")
            .output()
            .expect("run moltbot");
        let (stdout, stderr) = common::output_text(&out);
        assert!(out.status.success(), "{path:?} --help failed: {stderr}");
        assert!(stdout.contains("Usage: moltbot"), "{path:?}: {stdout}");
        insta::assert_snapshot!(format!("help_{}", path.join("_")), stdout);
    }
}

#[test]
fn top_level_help_lists_every_command() {
    let home = TestHome::new();
    let out = home.moltbot().arg("--help").output().expect("run moltbot");
    let (stdout, _) = common::output_text(&out);
    for command in [
        "gateway", "plugins", "pair", "pairing", "channels", "message", "poll", "config", "store",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(command)),
            "missing {command} in:\n{stdout}"
        );
    }
}

/// `git args...` in the workspace: its stdout, trimmed; `None` when git is missing or fails.
fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(common::workspace_root())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit HEAD is at, when the workspace is a git checkout (the top of one) and git runs.
fn checkout_head() -> Option<String> {
    let top = std::path::PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != common::workspace_root().canonicalize().ok()? {
        return None;
    }
    git(&["rev-parse", "HEAD"])
}

#[test]
fn version_names_the_package_version_and_the_commit_it_was_built_from() {
    let home = TestHome::new();
    let out = home
        .moltbot()
        .arg("--version")
        .output()
        .expect("run moltbot");
    let (stdout, stderr) = common::output_text(&out);
    assert!(out.status.success(), "{stderr}");
    let version = stdout
        .trim()
        .strip_prefix("moltbot ")
        .unwrap_or_else(|| panic!("{stdout:?}"));
    // The PDF reader shipped beside it says the same.
    let pdf = std::process::Command::new(env!("CARGO_BIN_EXE_moltbot-pdf"))
        .arg("--version")
        .output()
        .expect("run moltbot-pdf");
    assert_eq!(
        String::from_utf8_lossy(&pdf.stdout),
        format!("moltbot-pdf {version}\n")
    );

    let package = env!("CARGO_PKG_VERSION");
    let Some(head) = checkout_head() else {
        // Built from sources that are not a git checkout (a tarball): the package version alone.
        assert_eq!(version, package);
        return;
    };
    // `0.1.0 (6c65cdc1a)`, or `0.1.0 (6c65cdc1a-dirty)` when built with uncommitted changes.
    let build = version
        .strip_prefix(&format!("{package} ("))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{version:?} names no build"));
    let commit = build.strip_suffix("-dirty").unwrap_or(build);
    assert!(
        commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{version:?}"
    );
    assert!(
        head.starts_with(commit),
        "{version:?} is not HEAD's commit {head} (cargo did not build again when HEAD moved?)"
    );
}
