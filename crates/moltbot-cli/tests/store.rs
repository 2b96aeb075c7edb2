//! `moltbot store status|migrate|copy` and `store.url` through the binary: the SQLite file
//! always; PostgreSQL when `MOLTBOT_TEST_DATABASE_URL` is set (each test in a schema of its
//! own, dropped at the end).

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::{output_text, TestHome};
use moltbot_core::store::scratch::ScratchSchema;
use serde_json::Value;

/// Runs `moltbot <args>` in `home`; returns (success, stdout, stderr).
fn run(home: &TestHome, args: &[&str]) -> (bool, String, String) {
    let out = home.moltbot().args(args).output().unwrap();
    let (stdout, stderr) = output_text(&out);
    (out.status.success(), stdout, stderr)
}

/// Runs `moltbot <args>` expecting success and JSON on stdout.
fn json(home: &TestHome, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = run(home, args);
    assert!(ok, "{args:?}: {stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// A store with something in it: an approved identity and a plugin install.
fn home_with_state() -> TestHome {
    let home = TestHome::new();
    let (ok, out, err) = run(&home, &["pair", "webex", "bob@example.com"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = run(&home, &["plugins", "install", "./extensions/webex"]);
    assert!(ok, "{out}{err}");
    home
}

#[test]
fn status_reads_without_creating_and_migrate_creates() {
    let home = TestHome::new();
    let status = json(&home, &["store", "status", "--json"]);
    assert_eq!(status["backend"], "sqlite");
    assert_eq!(status["exists"], false);
    assert_eq!(status["rows"], Value::Null);
    assert!(!home.store_path().exists(), "status created the store");
    let (ok, stdout, _) = run(&home, &["store", "status"]);
    assert!(ok && stdout.contains("no store yet"), "{stdout}");

    let migrated = json(&home, &["store", "migrate", "--json"]);
    assert_eq!(
        (migrated["from"].as_u64(), migrated["to"].as_u64()),
        (Some(0), Some(7))
    );
    let (ok, stdout, _) = run(&home, &["store", "migrate"]);
    assert!(
        ok && stdout.contains("already at schema version 7"),
        "{stdout}"
    );

    let status = json(&home, &["store", "status", "--json"]);
    assert_eq!(status["schemaVersion"], 7);
    assert_eq!(status["rows"]["ledger"], 0);
}

#[test]
fn read_only_commands_never_create_the_store() {
    let home = TestHome::new();
    let listing = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    todo.push(path.clone());
                }
                found.push(path);
            }
        }
        found.sort();
        found
    };
    let before = listing(home.state_dir());
    // Commands that need existing state fail as they would on an empty store, naming it.
    for args in [
        &["poll", "results", "p1"][..],
        &["poll", "close", "p1"],
        &["pairing", "approve", "webex", "ABCD2345"],
        &["pairing", "deny", "webex", "bob@example.com"],
        &["pairing", "revoke", "webex", "bob@example.com"],
    ] {
        let (ok, stdout, stderr) = run(&home, args);
        assert!(!ok, "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("no store yet")
                && stderr.contains(&home.store_path().display().to_string()),
            "{args:?}: {stderr}"
        );
    }
    // Listing and status commands show nothing, and say why.
    for args in [
        &["pairing", "list"][..],
        &["store", "status"],
        &["channels", "status"],
    ] {
        let (ok, stdout, stderr) = run(&home, args);
        assert!(ok, "{args:?}: {stdout}{stderr}");
        if args[0] != "channels" {
            assert!(stdout.contains("no store yet"), "{args:?}: {stdout}");
        }
    }
    assert_eq!(
        json(&home, &["pairing", "list", "--json"]),
        serde_json::json!([])
    );
    assert!(
        !home.store_path().exists(),
        "a read-only command created the store"
    );
    assert_eq!(
        listing(home.state_dir()),
        before,
        "a read-only command wrote files"
    );
}

#[test]
fn copy_between_sqlite_files_checks_counts_and_refuses_a_full_target() {
    let home = home_with_state();
    let status = json(&home, &["store", "status", "--json"]);
    assert_eq!(status["rows"]["approved_identities"], 1);
    assert_eq!(status["rows"]["plugin_installs"], 1);

    let target = home.state_dir().join("copy.sqlite");
    let to = format!("sqlite:{}", target.display());
    let copied = json(&home, &["store", "copy", "--to", &to, "--json"]);
    assert_eq!(copied["verified"], true);
    assert_eq!(copied["to"]["backend"], "sqlite");
    assert_eq!(copied["tables"], status["rows"]);
    assert_eq!(copied["total"], 2);

    let (ok, _, stderr) = run(&home, &["store", "copy", "--to", &to]);
    assert!(!ok);
    assert!(
        stderr.contains("not empty") && stderr.contains("--force"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = run(&home, &["store", "copy", "--to", &to, "--force"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("Copied 2 rows") && stdout.contains("Verified"),
        "{stdout}"
    );

    // The copy is a store the CLI can use.
    home.write_config(&format!("{{ store: {{ url: \"{to}\" }} }}"));
    let listed = json(&home, &["plugins", "list", "--json"]);
    assert!(listed[0]["installedAt"].is_i64(), "{listed}");

    let (ok, _, stderr) = run(&home, &["store", "copy", "--to", "mysql://u:pw@h/d"]);
    assert!(!ok);
    assert!(
        stderr.contains("--to") && stderr.contains("postgres://"),
        "{stderr}"
    );
}

#[test]
fn a_sqlite_copy_is_one_self_contained_file_in_an_existing_folder() {
    let home = home_with_state();
    let target = home.state_dir().join("backup.sqlite");
    let to = format!("sqlite:{}", target.display());
    let copied = json(&home, &["store", "copy", "--to", &to, "--json"]);
    assert_eq!(copied["total"], 2);
    for suffix in ["-wal", "-shm"] {
        let companion = home.state_dir().join(format!("backup.sqlite{suffix}"));
        assert!(!companion.exists(), "{} left behind", companion.display());
    }
    // The backup taken as that one file, alone in another folder, holds the rows.
    let elsewhere = tempfile::tempdir().unwrap();
    let alone = elsewhere.path().join("restored.sqlite");
    std::fs::copy(&target, &alone).unwrap();
    home.write_config(&format!(
        "{{ store: {{ url: \"sqlite:{}\" }} }}",
        alone.display()
    ));
    let status = json(&home, &["store", "status", "--json"]);
    assert_eq!(status["rows"]["approved_identities"], 1, "{status}");
    assert_eq!(status["rows"]["plugin_installs"], 1, "{status}");
    home.write_config("{}");

    // A missing folder is refused by name, not created.
    let missing = home.state_dir().join("no-such-folder");
    let to = format!("sqlite:{}", missing.join("x.sqlite").display());
    let (ok, stdout, stderr) = run(&home, &["store", "copy", "--to", &to]);
    assert!(!ok, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("the folder {} does not exist", missing.display())),
        "{stderr}"
    );
    assert!(
        !missing.exists(),
        "store copy created {}",
        missing.display()
    );
}

#[test]
fn a_bad_store_url_is_a_config_error_and_validate_never_connects() {
    let home = TestHome::new();
    home.write_config("{ store: { url: \"postgres://u:hunter2@db/x?sslmode=sometimes\" } }");
    let (ok, stdout, stderr) = run(&home, &["config", "validate"]);
    assert!(!ok);
    let text = format!("{stdout}{stderr}");
    assert!(
        text.contains("store.url") && text.contains("sslmode"),
        "{text}"
    );
    assert!(text.contains("postgres://USER:PASSWORD@HOST"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    // A well-formed URL of a database nobody runs: validate is content, it connects to nothing.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    home.write_config(&format!(
        "{{ store: {{ url: \"postgres://u:hunter2@127.0.0.1:{port}/x\" }} }}"
    ));
    let (ok, stdout, stderr) = run(&home, &["config", "validate"]);
    assert!(ok && stdout.contains("is valid"), "{stdout}{stderr}");
    // Using it fails as unavailable, naming where without the password.
    let (ok, _, stderr) = run(&home, &["store", "status"]);
    assert!(!ok);
    assert!(stderr.contains(&format!("127.0.0.1:{port}/x")), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // MOLTBOT_DATABASE_URL applies when store.url is absent, and is checked the same way.
    home.write_config("{}");
    let out = home
        .moltbot()
        .env("MOLTBOT_DATABASE_URL", "db.internal:5432")
        .args(["config", "validate"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(!out.status.success());
    assert!(
        format!("{stdout}{stderr}").contains("MOLTBOT_DATABASE_URL"),
        "{stdout}{stderr}"
    );
}

#[test]
fn copy_to_postgres_and_the_cli_then_works_on_it() {
    let Some(schema) = ScratchSchema::from_env("cli_copy") else {
        return;
    };
    let home = home_with_state();
    // A password in the URL (the test server trusts local connections and ignores it) must
    // never be printed.
    let (url, password) = schema.url_with_password();
    assert!(!password.is_empty(), "{url}");
    let out = home
        .moltbot()
        .args(["store", "copy", "--to", &url])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let at = schema.location().unwrap().to_string();
    assert!(stdout.contains(&format!("to {at}:")), "{at}: {stdout}");
    assert!(
        !format!("{stdout}{stderr}").contains(&password),
        "{stdout}{stderr}"
    );

    // Point the CLI at it through the environment: it reads and writes PostgreSQL now.
    let in_pg = |args: &[&str]| {
        let out = home
            .moltbot()
            .env("MOLTBOT_DATABASE_URL", &url)
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = output_text(&out);
        assert!(out.status.success(), "{args:?}: {stdout}{stderr}");
        assert!(
            !format!("{stdout}{stderr}").contains(&password),
            "{stdout}{stderr}"
        );
        stdout
    };
    let status: Value = serde_json::from_str(&in_pg(&["store", "status", "--json"])).unwrap();
    assert_eq!(status["backend"], "postgres");
    assert_eq!(status["schemaVersion"], 7);
    assert_eq!(status["rows"]["approved_identities"], 1);
    in_pg(&["pair", "webex", "carol@example.com"]);
    let status: Value = serde_json::from_str(&in_pg(&["store", "status", "--json"])).unwrap();
    assert_eq!(status["rows"]["approved_identities"], 2);
    // The SQLite file is left as it was.
    let sqlite = json(&home, &["store", "status", "--json"]);
    assert_eq!(sqlite["rows"]["approved_identities"], 1);
    let migrated: Value = serde_json::from_str(&in_pg(&["store", "migrate", "--json"])).unwrap();
    assert_eq!(
        (migrated["from"].as_u64(), migrated["to"].as_u64()),
        (Some(7), Some(7))
    );
}

#[test]
fn channels_status_on_postgres_leaves_stderr_clean() {
    let Some(schema) = ScratchSchema::from_env("cli_status_stderr") else {
        return;
    };
    let home = TestHome::new();
    home.write_config(&format!("{{ store: {{ url: \"{}\" }} }}", schema.url()));
    let (ok, stdout, stderr) = run(&home, &["store", "migrate"]);
    assert!(ok, "{stdout}{stderr}");
    for _ in 0..2 {
        let (ok, stdout, stderr) = run(&home, &["channels", "status"]);
        assert!(ok, "{stdout}{stderr}");
        assert!(stdout.contains("Store: postgres"), "{stdout}");
        assert_eq!(stderr, "", "channels status printed to stderr");
    }
}

/// `store copy` leaves the store it copies from as it was (docs/operations.md: the way back to
/// the previous release): one at an older schema is refused with the way forward instead of
/// being upgraded in place, and one at a newer schema is refused too; the file keeps its
/// version and no target is written.
#[test]
fn copy_refuses_a_source_at_another_schema_and_leaves_it_as_it_was() {
    let home = home_with_state();
    let source = home.state_dir().join("state/moltbot.sqlite");
    let version = |v: Option<i64>| {
        let conn = rusqlite::Connection::open(&source).unwrap();
        if let Some(v) = v {
            conn.pragma_update(None, "user_version", v).unwrap();
        }
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    let current = version(None);
    for (label, set, expected) in [
        ("older", current - 1, "older than this moltbot's"),
        ("newer", 99, "newer than this moltbot supports"),
    ] {
        version(Some(set));
        let target = home.state_dir().join(format!("copy-of-{label}.sqlite"));
        let to = format!("sqlite:{}", target.display());
        let (ok, out, err) = run(&home, &["store", "copy", "--to", &to]);
        assert!(!ok, "{label}: {out}{err}");
        assert!(err.contains(expected), "{label}: {err}");
        assert_eq!(version(None), set, "{label}: the source keeps its version");
        assert!(!target.exists(), "{label}: nothing written to the target");
    }
}
