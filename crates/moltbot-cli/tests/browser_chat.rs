//! End to end in a real browser: `moltbot gateway --sim` and the emulator's chat page, driven in
//! headless Chromium through chromedriver (Debian's `chromium` and `chromium-driver`).
//!
//! Alice opens the DM with the bot and sends "hello" (the echo agent answers "hello"; the bot
//! then edits that reply, and the page shows the new text marked "edited" in place), then
//! mentions the bot in the demo space with "@Molty ping" (it answers "ping"). The final page is
//! saved as `target/chat-e2e.png` (a CI artifact). Without Chromium or chromedriver the test
//! fails and says how to install them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::process::{Child, Command};

use common::{start_demo, workspace_root, TestHome};
use moltbot_testkit::wait;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
const INSTALL_HINT: &str = "install them with `sudo apt-get install -y chromium chromium-driver` \
(Debian/Ubuntu; .ci/run does this), or point CHROMIUM / CHROMEDRIVER at other binaries";

/// A binary from an environment variable, or the Debian path.
fn tool(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.is_file(),
        "the browser test needs {} (not found); {INSTALL_HINT}",
        path.display()
    );
    path
}

/// A free loopback port (bound, then released for chromedriver).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// chromedriver on a free port, answering `/status`.
async fn start_chromedriver(binary: &Path) -> (Child, String) {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", binary.display()));
    let url = format!("http://127.0.0.1:{port}");
    let (http, status) = (&reqwest::Client::new(), &format!("{url}/status"));
    let ready = wait::until_async(STEP_TIMEOUT, || async move {
        let resp = http.get(status).send().await.ok()?;
        resp.status().is_success().then_some(())
    })
    .await;
    assert!(ready.is_ok(), "chromedriver did not start on {url}");
    (child, url)
}

async fn open_browser(driver: &str, chromium: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1200,820",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(driver)
        .await
        .unwrap_or_else(|e| panic!("cannot start Chromium through chromedriver: {e}"))
}

type Step = Result<(), String>;

/// Waits until an element matching `css` exists.
async fn wait_for(c: &Client, css: &str) -> Step {
    wait::until_async(STEP_TIMEOUT, || async move {
        c.find(Locator::Css(css)).await.ok().map(|_| ())
    })
    .await
    .map_err(|err| format!("no element matches {css}: {err}"))
}

/// The texts of the elements matching `css`.
async fn texts_of(c: &Client, css: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for el in c.find_all(Locator::Css(css)).await.unwrap_or_default() {
        seen.push(el.text().await.unwrap_or_default());
    }
    seen
}

/// Waits until an element matching `css` has exactly the text `text`.
async fn wait_for_text(c: &Client, css: &str, text: &str) -> Step {
    let found = wait::until_async(STEP_TIMEOUT, || async move {
        let seen = texts_of(c, css).await;
        seen.iter().any(|t| t.trim() == text).then_some(())
    })
    .await;
    match found {
        Ok(()) => Ok(()),
        Err(err) => Err(format!(
            "no {css} reads {text:?}: {err}; saw {:?}",
            texts_of(c, css).await
        )),
    }
}

async fn click(c: &Client, css: &str) -> Step {
    wait_for(c, css).await?;
    let el = c.find(Locator::Css(css)).await.map_err(|e| e.to_string())?;
    el.click().await.map_err(|e| format!("click {css}: {e}"))
}

async fn send_message(c: &Client, text: &str) -> Step {
    let input = c
        .find(Locator::Css("#text"))
        .await
        .map_err(|e| e.to_string())?;
    input
        .send_keys(text)
        .await
        .map_err(|e| format!("type {text:?}: {e}"))?;
    click(c, "#send").await
}

/// The user's side of the demo, as a person would do it.
async fn chat_flow(c: &Client, url: &str) -> Step {
    c.goto(url).await.map_err(|e| format!("open {url}: {e}"))?;
    wait_for(c, "body[data-ready='true']").await?;
    c.find(Locator::Css("#user"))
        .await
        .map_err(|e| e.to_string())?
        .select_by_value("alice@example.com")
        .await
        .map_err(|e| format!("pick Alice: {e}"))?;

    click(c, "#conversations button[data-kind='direct']").await?;
    send_message(c, "hello").await?;
    wait_for_text(c, "#messages li.msg.mine .msg-text", "hello").await?;
    wait_for_text(c, "#messages li.msg.bot .msg-text", "hello").await?;

    // The bot edits its reply (as a streamed answer does): the page shows it in place.
    edit_bot_reply(url, "hello", "hello, edited").await?;
    wait_for_text(c, "#messages li.msg.bot.edited .msg-text", "hello, edited").await?;
    wait_for_text(c, "#messages li.msg.bot.edited .edited-mark", "edited").await?;

    click(c, "#conversations button[data-kind='group']").await?;
    send_message(c, "@Molty ping").await?;
    // Sent as a real mention, shown as "@Molty".
    wait_for_text(c, "#messages li.msg.mine .msg-text", "@Molty ping").await?;
    wait_for_text(c, "#messages li.msg.mine .mention", "@Molty").await?;
    wait_for_text(c, "#messages li.msg.bot .msg-text", "ping").await
}

/// Edits, as the bot, its message reading `old` in its DM with Alice into `new`, through the
/// emulator's REST API (the tokens come from its loopback-only `/_sim/people`).
async fn edit_bot_reply(page: &str, old: &str, new: &str) -> Step {
    let base = reqwest::Url::parse(page).map_err(|e| format!("chat URL {page}: {e}"))?;
    let at = |path: &str| base.join(path).map_err(|e| e.to_string());
    let http = reqwest::Client::new();
    let get = |url: reqwest::Url, token: String| {
        let http = http.clone();
        async move {
            let answer = http.get(url).bearer_auth(token).send().await;
            let answer = answer.map_err(|e| e.to_string())?;
            answer
                .json::<serde_json::Value>()
                .await
                .map_err(|e| e.to_string())
        }
    };
    let people = get(at("/_sim/people")?, String::new()).await?;
    let token_of = |pick: &dyn Fn(&serde_json::Value) -> bool| {
        people["items"]
            .as_array()
            .and_then(|items| items.iter().find(|p| pick(p)))
            .and_then(|p| p["token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| format!("no such person in {people}"))
    };
    let alice = token_of(&|p| p["emails"][0] == "alice@example.com")?;
    let bot = token_of(&|p| p["type"] == "bot")?;
    let rooms = get(at("/v1/rooms?type=direct")?, alice.clone()).await?;
    let room = rooms["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let messages = get(at(&format!("/v1/messages?roomId={room}"))?, alice).await?;
    let id = messages["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|m| m["text"] == old && m["roomId"] == room.as_str())
        })
        .and_then(|m| m["id"].as_str())
        .ok_or_else(|| format!("no message {old:?} in {messages}"))?
        .to_string();
    let edited = http
        .put(at(&format!("/v1/messages/{id}"))?)
        .bearer_auth(bot)
        .json(&json!({"roomId": room, "markdown": new}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if edited.status().is_success() {
        Ok(())
    } else {
        Err(format!("edit refused: {}", edited.status()))
    }
}

async fn save_screenshot(c: &Client, name: &str) -> PathBuf {
    let path = workspace_root().join("target").join(name);
    let png = c.screenshot().await.expect("screenshot");
    std::fs::create_dir_all(path.parent().expect("target dir")).expect("create target/");
    std::fs::write(&path, png).expect("write screenshot");
    println!("screenshot: {}", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_page_dm_and_space_mention_get_replies_in_headless_chromium() {
    let chromium = tool("CHROMIUM", CHROMIUM);
    let chromedriver = tool("CHROMEDRIVER", CHROMEDRIVER);
    let home = TestHome::new();
    let profile = tempfile::tempdir().expect("browser profile dir");

    let (mut demo, url, demo_stderr) = start_demo(&home).await;
    let (mut driver, driver_url) = start_chromedriver(&chromedriver).await;
    let browser = open_browser(&driver_url, &chromium, profile.path()).await;

    let result = tokio::time::timeout(Duration::from_secs(40), chat_flow(&browser, &url))
        .await
        .unwrap_or_else(|_| Err("the chat flow took too long".to_string()));
    let shot = match &result {
        Ok(()) => save_screenshot(&browser, "chat-e2e.png").await,
        Err(_) => save_screenshot(&browser, "chat-e2e-failure.png").await,
    };
    let _ = browser.close().await;
    let _ = driver.kill().await;

    if let Some(pid) = demo.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let status = tokio::time::timeout(Duration::from_secs(15), demo.wait())
        .await
        .expect("the demo exits after SIGTERM")
        .expect("wait for the demo");
    let stderr = demo_stderr.lock().expect("stderr buffer").clone();
    if let Err(why) = result {
        panic!(
            "{why}\nscreenshot: {}\ngateway stderr:\n{stderr}",
            shot.display()
        );
    }
    assert!(status.success(), "demo exit {status:?}; stderr:\n{stderr}");
    assert!(
        std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 1000,
        "the screenshot is empty"
    );
    // The demo's store is under the state dir's `sim/`, never the real home.
    assert!(home.state_dir().join("sim/state/moltbot.sqlite").is_file());
}
