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
