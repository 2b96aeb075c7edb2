//! The emulator's chat page in headless Chromium (Debian's `chromium` and `chromium-driver`,
//! driven through chromedriver as `crates/moltbot-cli/tests/browser_chat.rs` does), with no
//! gateway: the bot's side is played through the emulator's helpers.
//!
//! Alice opens her DM with the bot and sees what a Webex client shows: Markdown rendered, the
//! bot's file as a download link (after its malware scan), an edited message marked "edited" with
//! its new text, a deleted message as "Message deleted", and a card whose Action.Submit posts an
//! attachment action as Alice. She attaches a file of her own (multipart upload). The final page
//! is saved as `target/chat-page-e2e.png`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::process::{Child, Command};
use webex_sim::{Scan, SimFile, SimServer};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);
const INSTALL_HINT: &str = "install them with `sudo apt-get install -y chromium chromium-driver` \
(Debian/Ubuntu; .ci/run does this), or point CHROMIUM / CHROMEDRIVER at other binaries";

type Step = Result<(), String>;

/// Polls `probe` until it gives a value, for at most [`STEP_TIMEOUT`].
async fn until<T, F, Fut>(what: &str, mut probe: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

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

async fn start_chromedriver(binary: &Path) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", binary.display()));
    let url = format!("http://127.0.0.1:{port}");
    let status = format!("{url}/status");
    let http = reqwest::Client::new();
    until("chromedriver", || async {
        let resp = http.get(&status).send().await.ok()?;
        resp.status().is_success().then_some(())
    })
    .await
    .unwrap();
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
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1100,1400",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .unwrap_or_else(|e| panic!("cannot start Chromium through chromedriver: {e}"))
}

async fn texts_of(c: &Client, css: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for el in c.find_all(Locator::Css(css)).await.unwrap_or_default() {
        seen.push(el.text().await.unwrap_or_default().trim().to_string());
    }
    seen
}

/// Waits until an element matching `css` reads `text` exactly.
async fn shows(c: &Client, css: &str, text: &str) -> Step {
    let found = until(&format!("{css} = {text:?}"), || async {
        texts_of(c, css)
            .await
            .iter()
            .any(|t| t == text)
            .then_some(())
    })
    .await;
    match found {
        Ok(()) => Ok(()),
        Err(e) => Err(format!("{e}; saw {:?}", texts_of(c, css).await)),
    }
}

async fn click(c: &Client, css: &str) -> Step {
    until(css, || async { c.find(Locator::Css(css)).await.ok() })
        .await?
        .click()
        .await
        .map_err(|e| format!("click {css}: {e}"))
}

/// Types `keys` into the element matching `css` (a file input takes a path).
async fn type_into(c: &Client, css: &str, keys: &str) -> Step {
    c.find(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .send_keys(keys)
        .await
        .map_err(|e| format!("type into {css}: {e}"))
}

async fn flow(c: &Client, sim: &SimServer, upload: &Path) -> Step {
    let bot = sim.bot();
    let alice = sim.user("alice");
    let hi = alice.dm_bot("hi").await;
    let molty = sim.as_user(&bot);
    molty
        .try_send(json!({"roomId": hi.room_id, "markdown": "**Welcome**\n\n- one\n- two"}))
        .await
        .unwrap();
    sim.new_files_scan_as(Scan::scanning(1, 1));
    let report = molty
        .sends_file(&hi, SimFile::text("report.txt", "all good\n"), "the report")
        .await;
    sim.new_files_scan_as(Scan::Clean);
    let draft = molty.post(&hi, "draft").await;
    let oops = molty.post(&hi, "oops").await;
    let card = molty
        .try_send(json!({"roomId": hi.room_id, "text": "Vote (your client cannot show cards)",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                "content": {"type": "AdaptiveCard", "version": "1.3", "body": [
                    {"type": "TextBlock", "text": "Lunch?", "weight": "bolder"},
                    {"type": "Input.ChoiceSet", "id": "choice", "value": "tea", "choices": [
                        {"title": "Tea", "value": "tea"}, {"title": "Soup", "value": "soup"}]}],
                  "actions": [{"type": "Action.Submit", "title": "Vote", "data": {"poll": "p1"}}]}}]}))
        .await
        .unwrap();

    let url = sim.chat_url();
    c.goto(&url).await.map_err(|e| format!("open {url}: {e}"))?;
    until("the page", || async {
        c.find(Locator::Css("body[data-ready='true']")).await.ok()
    })
    .await?;
    c.find(Locator::Css("#user"))
        .await
        .map_err(|e| e.to_string())?
        .select_by_value("alice@example.com")
        .await
        .map_err(|e| format!("pick Alice: {e}"))?;
    click(c, "#conversations button[data-kind='direct']").await?;

    // Markdown as html; the file after its scan (one 423, then the link with its name).
    shows(c, "#messages li.msg.mine .msg-text", "hi").await?;
    shows(c, "#messages li.msg.bot .msg-text strong", "Welcome").await?;
    let items = texts_of(c, "#messages li.msg.bot .msg-text li").await;
    if items != ["one", "two"] {
        return Err(format!("list items {items:?}"));
    }
    shows(c, "#messages li.msg.bot .file-link", "report.txt (9 B)").await?;
    if sim.file(&report).map(|f| f.fetches) != Some(2) {
        return Err(format!("report fetched {:?}", sim.file(&report)));
    }

    // An edit and a deletion, as the page polls.
    shows(c, "#messages li.msg.bot .msg-text", "oops").await?;
    let room = hi.room_id.clone();
    sim.call(
        &bot,
        reqwest::Method::PUT,
        &format!("/messages/{}", draft.id),
        Some(json!({"roomId": room, "text": "final"})),
    )
    .await
    .map_err(|e| e.to_string())?;
    sim.call(
        &bot,
        reqwest::Method::DELETE,
        &format!("/messages/{}", oops.id),
        None,
    )
    .await
    .map_err(|e| e.to_string())?;
    shows(c, "#messages li.msg.edited .msg-text", "final").await?;
    shows(c, "#messages li.msg.edited .edited-mark", "edited").await?;
    shows(c, "#messages li.msg.deleted .msg-text", "Message deleted").await?;
    if texts_of(c, "#messages .msg-text")
        .await
        .iter()
        .any(|t| t == "oops" || t == "draft")
    {
        return Err("the old texts are still shown".into());
    }

    // The card: its text, a choice, and Vote posts the attachment action as Alice.
    shows(c, "#messages .card .card-text", "Lunch?").await?;
    c.find(Locator::Css("#messages .card select"))
        .await
        .map_err(|e| e.to_string())?
        .select_by_value("soup")
        .await
        .map_err(|e| format!("choose soup: {e}"))?;
    click(c, "#messages .card .card-submit").await?;
    let submitted = until("the card submission", || async {
        sim.card_submissions().into_iter().next()
    })
    .await?;
    let expected = json!({"choice": "soup", "poll": "p1"});
    if submitted["inputs"] != expected
        || submitted["personId"] != alice.id()
        || submitted["messageId"] != card.id.as_str()
    {
        return Err(format!("submitted {submitted}"));
    }

    // Alice attaches a file (multipart) with a line of text.
    type_into(c, "#file", &upload.display().to_string()).await?;
    type_into(c, "#text", "here it is").await?;
    click(c, "#send").await?;
    let sent = until("Alice's file", || async {
        sim.files()
            .into_iter()
            .find(|f| f.name == "notes.txt" && f.message_id != report.id)
    })
    .await?;
    if &sent.bytes[..] != b"from the browser\n" || sent.content_type != "text/plain" {
        return Err(format!("stored {sent:?}"));
    }
    shows(c, "#messages li.msg.mine .file-link", "notes.txt (17 B)").await?;
    shows(c, "#messages li.msg.mine .msg-text", "here it is").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_page_shows_markdown_files_edits_deletions_and_cards_and_uploads() {
    let chromium = tool("CHROMIUM", CHROMIUM);
    let chromedriver = tool("CHROMEDRIVER", CHROMEDRIVER);
    let sim = SimServer::start().await.unwrap();
    sim.add_bot("molty@webex.bot", "Molty");
    let dir = tempfile::tempdir().unwrap();
    let upload = dir.path().join("notes.txt");
    std::fs::write(&upload, "from the browser\n").unwrap();
    let profile = tempfile::tempdir().unwrap();
    let (mut driver, driver_url) = start_chromedriver(&chromedriver).await;
    let browser = open_browser(&driver_url, &chromium, profile.path()).await;

    let result = tokio::time::timeout(Duration::from_secs(60), flow(&browser, &sim, &upload))
        .await
        .unwrap_or_else(|_| Err("the flow took too long".to_string()));
    let name = if result.is_ok() {
        "chat-page-e2e.png"
    } else {
        "chat-page-e2e-failure.png"
    };
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target")
        .join(name);
    if let Ok(png) = browser.screenshot().await {
        let _ = std::fs::write(&shot, png);
    }
    let _ = browser.close().await;
    let _ = driver.kill().await;
    if let Err(why) = result {
        panic!("{why}\nscreenshot: {}", shot.display());
    }
}
