//! `moltbot pair` and `moltbot pairing ...` against the store, without a gateway.

mod common;

use common::{output_text, TestHome};

#[test]
fn pair_without_a_request_still_allows_and_says_so() {
    let home = TestHome::new();
    let out = home
        .moltbot()
        .args(["pair", "webex", "Bob@Example.com"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("bob@example.com"), "{stdout}");
    assert!(
        stdout.to_lowercase().contains("no pending request"),
        "{stdout}"
    );

    // Revoking works, and revoking again says there was nothing to revoke.
    let out = home
        .moltbot()
        .args(["pairing", "revoke", "webex", "bob@example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", output_text(&out));
}

#[test]
fn unknown_codes_and_channels_are_clear_errors() {
    let home = TestHome::new();
    let out = home
        .moltbot()
        .args(["pairing", "approve", "webex", "abcd2345"])
        .output()
        .unwrap();
    let (_, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("ABCD2345"), "{stderr}");
    assert!(stderr.contains("moltbot pairing list"), "{stderr}");

    let out = home
        .moltbot()
        .args(["pair", "slack", "a@b.c"])
        .output()
        .unwrap();
    let (_, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("unknown channel `slack`"), "{stderr}");
}

#[test]
fn list_is_empty_then_json() {
    let home = TestHome::new();
    let out = home.moltbot().args(["pairing", "list"]).output().unwrap();
    let (stdout, _) = output_text(&out);
    assert!(out.status.success());
    assert!(stdout.contains("No pending pairing requests"), "{stdout}");
    let out = home
        .moltbot()
        .args(["pairing", "list", "webex", "--json"])
        .output()
        .unwrap();
    let (stdout, _) = output_text(&out);
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows, serde_json::json!([]));
}
