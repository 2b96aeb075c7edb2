//! The demo chat page and the control call it relies on.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use webex_sim::SimServer;

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.unwrap()
}

#[tokio::test]
async fn page_and_assets_are_served_same_origin_only() {
    let sim = SimServer::start().await.unwrap();
    assert_eq!(sim.chat_url(), format!("{}/", sim.url()));
    let page = get(&sim.chat_url()).await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    // Image previews of downloaded files are blob: URLs; nothing else is loaded from elsewhere.
    assert!(csp.contains("img-src 'self' data: blob:"), "{csp}");
    let html = page.text().await.unwrap();
    for needle in [
        "src=\"/chat/app.js\"",
        "href=\"/chat/style.css\"",
        "<label for=\"user\">",
        "role=\"log\"",
        "<input id=\"file\" name=\"file\" type=\"file\"",
        "<label for=\"file\"",
    ] {
        assert!(html.contains(needle), "page lacks {needle}");
    }
    // No external assets: nothing is loaded from another origin.
    assert!(!html.contains("http://") && !html.contains("https://"));

    for (path, kind) in [
        ("/chat/app.js", "text/javascript"),
        ("/chat/style.css", "text/css"),
    ] {
        let resp = get(&format!("{}{path}", sim.url())).await;
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        assert!(!resp.text().await.unwrap().is_empty(), "{path} is empty");
    }
}

#[tokio::test]
async fn control_api_lists_people_with_tokens() {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("molty@webex.bot", "Molty");
    let alice = sim.add_person("alice@example.com", "Alice");
    let body: Value = get(&format!("{}/_sim/people", sim.url()))
        .await
        .json()
        .await
        .unwrap();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let find = |email: &str| {
        items
            .iter()
            .find(|p| p["emails"][0] == email)
            .cloned()
            .unwrap()
    };
    let b = find("molty@webex.bot");
    assert_eq!(b["type"], "bot");
    assert_eq!(b["id"], bot.id.as_str());
    assert_eq!(b["token"], bot.token.as_str());
    let a = find("alice@example.com");
    assert_eq!(a["type"], "person");
    assert_eq!(a["displayName"], "Alice");
    assert_eq!(a["token"], alice.token.as_str());
}

#[tokio::test]
async fn unknown_paths_still_get_the_webex_error_body() {
    let sim = SimServer::start().await.unwrap();
    let resp = get(&format!("{}/nope", sim.url())).await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
}
