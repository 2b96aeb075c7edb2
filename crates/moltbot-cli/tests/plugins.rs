//! `moltbot plugins install|list`, and when a channel's plugin counts as enabled: installed on this
//! machine or enabled in the config, unless `plugins.entries.<id>.enabled` is false.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{output_text, scrub, TestHome};

const USER_CONFIG: &str = r#"{
  // my bot, do not lose this comment
  channels: {
    webex: {
      mode: "polling", // polling behind the firewall
      botToken: "${MY_TOKEN}",
    },
  },
}
"#;

#[test]
fn a_channel_without_its_plugin_is_refused_with_the_install_command() {
    let home = TestHome::new();
    home.write_config(USER_CONFIG);
    let out = home
        .moltbot()
        .env("MY_TOKEN", "token-value-long-enough")
        .args(["config", "validate"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("moltbot plugins install @moltbot/webex"),
        "{stderr}"
    );
    insta::assert_snapshot!(scrub(&stderr, &home));

    // The gateway refuses to start on the same config.
    let out = home
        .moltbot()
        .env("MY_TOKEN", "token-value-long-enough")
        .arg("gateway")
        .output()
        .unwrap();
    let (_, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("The gateway did not start"), "{stderr}");
}

#[test]
fn install_by_package_name_enables_it_and_keeps_comments() {
    let home = TestHome::new();
    home.write_config(USER_CONFIG);
    let out = home
        .moltbot()
        .args(["plugins", "install", "@moltbot/webex"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Installed @moltbot/webex"), "{stdout}");

    let config = home.read_config();
    assert!(
        config.contains("// my bot, do not lose this comment"),
        "{config}"
    );
    assert!(
        config.contains("// polling behind the firewall"),
        "{config}"
    );
    let value = moltbot_core::config::parse_json5(&config).unwrap().unwrap();
    assert_eq!(value["plugins"]["entries"]["webex"]["enabled"], true);
    assert_eq!(value["channels"]["webex"]["mode"], "polling");

    // Now the same config validates.
    let out = home
        .moltbot()
        .env("MY_TOKEN", "token-value-long-enough")
        .args(["config", "validate"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("is valid"), "{stdout}");

    // The install is recorded in the store and listed.
    let rows = plugins_list(&home);
    assert_eq!(rows[0]["id"], "webex");
    assert_eq!(rows[0]["status"], "enabled");
    assert_eq!(rows[0]["source"], "@moltbot/webex");

    let manifest = home
        .state_dir()
        .join("extensions/webex/moltbot.plugin.json");
    assert!(manifest.is_file());
    let mode = std::fs::metadata(&manifest).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn install_from_the_local_folder_works_without_a_config_file() {
    let home = TestHome::new();
    let out = home
        .moltbot()
        .args(["plugins", "install", "./extensions/webex"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let config = home.read_config();
    let value = moltbot_core::config::parse_json5(&config).unwrap().unwrap();
    assert_eq!(value["plugins"]["entries"]["webex"]["enabled"], true);
    let mode = std::fs::metadata(home.config_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "a config file we create is private");

    let out = home.moltbot().args(["plugins", "list"]).output().unwrap();
    let (stdout, _) = output_text(&out);
    let line = stdout.lines().find(|l| l.starts_with("webex")).unwrap();
    assert!(line.contains("enabled"), "{line}");
    assert!(line.contains("extensions/webex"), "{line}");
}

#[test]
fn bad_install_specs_change_nothing() {
    let home = TestHome::new();
    home.write_config(USER_CONFIG);
    let bad_dir = home.state_dir().join("bad-plugin");
    std::fs::create_dir_all(&bad_dir).unwrap();
    std::fs::write(
        bad_dir.join("moltbot.plugin.json"),
        r#"{"id":"webex","name":"@moltbot/webex","version":"x","channels":["webex"],"configSchema":{"type":"object"}}"#,
    )
    .unwrap();
    for spec in [
        "@moltbot/nope".to_string(),
        "./does/not/exist".to_string(),
        bad_dir.display().to_string(),
    ] {
        let out = home
            .moltbot()
            .args(["plugins", "install", &spec])
            .output()
            .unwrap();
        let (stdout, stderr) = output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{spec}: {stdout}{stderr}");
        assert!(stderr.starts_with("error: "), "{spec}: {stderr}");
        assert_eq!(home.read_config(), USER_CONFIG, "{spec} changed the config");
        assert!(
            !home.state_dir().join("state/moltbot.sqlite").exists(),
            "{spec} created the store"
        );
    }
}

#[test]
fn a_config_with_a_syntax_error_is_not_edited() {
    let home = TestHome::new();
    let broken = "{ channels: { webex: { mode: \"polling\" }  \n";
    home.write_config(broken);
    let out = home
        .moltbot()
        .args(["plugins", "install", "@moltbot/webex"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(home.read_config(), broken);
}

#[test]
fn a_symlinked_config_is_edited_through_the_link() {
    let home = TestHome::new();
    let dir = home.state_dir().join("dotfiles");
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("moltbot.json5");
    std::fs::write(&target, "{ // mine\n}\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("dotfiles/moltbot.json5", home.config_path()).unwrap();
    let out = install_webex(&home);
    assert!(out.status.success(), "{out:?}");
    let link = std::fs::symlink_metadata(home.config_path()).unwrap();
    assert!(link.file_type().is_symlink(), "the link was replaced");
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(
        text.starts_with("{ // mine") && text.contains("enabled: true"),
        "{text}"
    );
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    // No temporary file is left beside the link or the target.
    let leftovers = |d: &std::path::Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .count()
    };
    assert_eq!(leftovers(&dir) + leftovers(home.state_dir()), 0);
}

#[test]
fn plugins_null_is_filled_in_and_a_non_object_gets_a_fix() {
    let home = TestHome::new();
    home.write_config("{ plugins: null }\n");
    let out = install_webex(&home);
    assert!(out.status.success(), "{out:?}");
    assert!(home.read_config().contains("enabled: true"));

    for (text, says) in [
        ("[1]\n", "the config must be an object `{ ... }`"),
        (
            "{ plugins: [] }\n",
            "`plugins` is not an object; change it to an object",
        ),
    ] {
        home.write_config(text);
        let out = install_webex(&home);
        let (_, stderr) = output_text(&out);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr.contains(says), "{stderr}");
        assert_eq!(home.read_config(), text);
    }
}

/// `moltbot plugins list --json` in `home`: one row per plugin.
fn plugins_list(home: &TestHome) -> serde_json::Value {
    let out = home
        .moltbot()
        .args(["plugins", "list", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `moltbot plugins install @moltbot/webex` in `home`.
fn install_webex(home: &TestHome) -> std::process::Output {
    home.moltbot()
        .args(["plugins", "install", "@moltbot/webex"])
        .output()
        .expect("run moltbot")
}

/// The seed's config examples (`extensions/webex/tests/fixtures/seed/`, copied verbatim from
/// the user doc): file name and text.
fn seed_examples() -> Vec<(String, String)> {
    let dir = common::workspace_root().join("extensions/webex/tests/fixtures/seed");
    let mut examples: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    examples.sort();
    assert!(examples.len() >= 7, "{examples:?}");
    examples
}

fn validate(home: &TestHome) -> (Option<i32>, String, String) {
    let out = home
        .moltbot()
        .args(["config", "validate"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn the_seed_polling_example_pasted_as_the_whole_config_after_install_validates() {
    let home = TestHome::new();
    assert!(install_webex(&home).status.success());
    let (_, polling) = seed_examples()
        .into_iter()
        .find(|(name, _)| name == "polling-mode.json5")
        .unwrap();
    assert!(
        !polling.contains("plugins"),
        "the seed has no plugins section"
    );
    home.write_config(&polling);

    let (code, stdout, stderr) = validate(&home);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("Channels: webex (@moltbot/webex)"),
        "{stdout}"
    );

    // `channels status` follows the same rule: enabled, no install warning.
    let out = home
        .moltbot()
        .args(["channels", "status", "webex", "--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|err| {
        panic!("channels status --json: {err}\n{stdout}{stderr}");
    });
    let text = status.to_string();
    assert!(!text.contains("not installed"), "{text}");
    assert!(text.contains("\"enabled\":true"), "{text}");
    // And so does `plugins list`.
    assert_eq!(plugins_list(&home)[0]["status"], "enabled");
}

#[test]
fn every_seed_example_validates_after_install() {
    let home = TestHome::new();
    assert!(install_webex(&home).status.success());
    for (name, text) in seed_examples() {
        home.write_config(&text);
        let (code, stdout, stderr) = validate(&home);
        if name == "minimal.json5" {
            // Its mode "webhook" needs a webhook.url (contract section 2); that is its only
            // problem.
            assert_eq!(code, Some(1), "{name}: {stdout}{stderr}");
            assert_eq!(stderr.matches("\n- ").count(), 1, "{name}: {stderr}");
            assert!(stderr.contains("channels.webex.webhook.url"), "{stderr}");
        } else {
            assert_eq!(code, Some(0), "{name}: {stdout}{stderr}");
        }
    }
}

#[test]
fn installed_but_disabled_and_not_installed_get_their_own_message_and_fix() {
    let home = TestHome::new();
    assert!(install_webex(&home).status.success());
    home.write_config(
        "{\n  plugins: { entries: { webex: { enabled: false } } },\n  channels: { webex: { mode: \"polling\", botToken: \"token-value-long-enough\" } },\n}\n",
    );
    let (code, stdout, stderr) = validate(&home);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "plugins.entries.webex.enabled (line 2, column 34): the channel is provided by plugin \
             @moltbot/webex, which is disabled (plugins.entries.webex.enabled is false)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("set plugins.entries.webex.enabled to true"),
        "{stderr}"
    );
    assert!(!stderr.contains("not installed"), "{stderr}");
    // `channels probe` refuses with the same words, before any network call.
    let out = home
        .moltbot()
        .args(["channels", "probe", "webex"])
        .output()
        .unwrap();
    let (_, stderr) = output_text(&out);
    assert!(stderr.contains("which is disabled"), "{stderr}");
    // Without a channels section the config is valid, but nothing runs, and both say why.
    home.write_config("{ plugins: { entries: { webex: { enabled: false } } } }\n");
    let (code, stdout, stderr) = validate(&home);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let disabled = "the channel webex is provided by plugin @moltbot/webex, which is disabled";
    assert!(
        stdout.contains(&format!("No channel is enabled: {disabled}")),
        "{stdout}"
    );
    let out = home.moltbot().arg("gateway").output().unwrap();
    let (_, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("nothing to run: {disabled}")),
        "{stderr}"
    );

    // A second machine (another state folder) where it was never installed: the install fix.
    let other = TestHome::new();
    other.write_config(
        "{ channels: { webex: { mode: \"polling\", botToken: \"token-value-long-enough\" } } }\n",
    );
    let (code, _, stderr) = validate(&other);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("which is not installed"), "{stderr}");
    assert!(
        stderr.contains("install it with `moltbot plugins install @moltbot/webex`"),
        "{stderr}"
    );
    other.write_config("{}\n");
    let (code, stdout, _) = validate(&other);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains(
            "No channel is enabled: no channel plugin is installed: run `moltbot plugins \
             install @moltbot/webex`"
        ),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_runs_an_installed_plugin_whose_config_has_no_plugins_section() {
    use moltbot_testkit::{Scenario, World, OPEN};
    let world = World::new().await;
    let home = TestHome::new();
    assert!(install_webex(&home).status.success());
    let config = world.config("polling", OPEN).replace(
        "  plugins: { entries: { webex: { enabled: true } } },\n",
        "",
    );
    assert!(!config.contains("plugins"), "{config}");
    home.write_config(&config);
    let s = Scenario::start_in(world, home).await;
    let hi = s.alice().dm_bot("are you on?").await;
    assert_eq!(s.wait_replies(&hi, 1).await, ["are you on?"]);
    s.finish().await;
}
