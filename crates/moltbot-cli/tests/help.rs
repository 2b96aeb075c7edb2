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
    &["config"],
    &["config", "validate"],
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
        "gateway", "plugins", "pair", "pairing", "channels", "message", "config",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(command)),
            "missing {command} in:\n{stdout}"
        );
    }
}

#[test]
fn unfinished_commands_say_so_and_fail() {
    let home = TestHome::new();
    let cases: &[&[&str]] = &[
        &["channels", "status", "webex"],
        &["channels", "probe", "webex"],
        &[
            "message",
            "send",
            "--channel",
            "webex",
            "--to",
            "a@example.com",
            "hi",
        ],
        &["gateway", "--sim"],
    ];
    for args in cases {
        let out = home.moltbot().args(*args).output().expect("run moltbot");
        let (stdout, stderr) = common::output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("is not available yet"),
            "{args:?} should say it is not available: {stderr}"
        );
        assert!(stdout.is_empty(), "{args:?} printed to stdout: {stdout}");
    }
}
