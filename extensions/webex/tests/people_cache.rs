//! `PeopleCache`: one `GET /people/{id}` per person, shared by concurrent callers, kept for its
//! time to live; a failed lookup never fails the caller.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use moltbot_core::gateway::SenderInfo;
use moltbot_webex::people::PeopleCache;
use webex_api::{ClientConfig, WebexClient};
use webex_sim::{SimPerson, SimServer};

/// A client of the bot that does not retry (so one injected failure is one failed lookup).
fn client_for(sim: &SimServer, bot: &SimPerson) -> WebexClient {
    let mut config = ClientConfig::new(bot.token.clone())
        .with_base_url_str(&sim.api_base())
        .unwrap()
        .with_requests_per_minute(10_000);
    config.max_attempts = 1;
    WebexClient::new(config).unwrap()
}

/// An emulator with the bot, Alice and Bob, and a client of the bot.
async fn world() -> (SimServer, WebexClient, SimPerson, SimPerson) {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("molty@webex.bot", "Molty");
    let alice = sim.add_person("alice@example.com", "Alice Liddell");
    let bob = sim.add_person("bob@example.com", "Bob Builder");
    let client = client_for(&sim, &bot);
    (sim, client, alice, bob)
}

fn sender(person: &SimPerson) -> SenderInfo {
    SenderInfo {
        id: person.id.clone(),
        email: Some(person.email.clone()),
        display_name: None,
    }
}

/// The `GET /v1/people/{id}` calls the emulator got for `person`.
fn lookups(sim: &SimServer, person: &SimPerson) -> usize {
    let path = format!("/v1/people/{}", person.id);
    sim.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .count()
}

#[tokio::test]
async fn each_person_is_looked_up_once_even_when_asked_concurrently() {
    let (sim, client, alice, bob) = world().await;
    let cache = PeopleCache::new();

    let (a, b) = (sender(&alice), sender(&bob));
    let (a1, a2, b1) = tokio::join!(
        cache.resolve(&client, &a),
        cache.resolve(&client, &a),
        cache.resolve(&client, &b),
    );
    let a3 = cache.resolve(&client, &sender(&alice)).await;

    for a in [&a1, &a2, &a3] {
        assert_eq!(a.display_name.as_deref(), Some("Alice Liddell"));
        assert_eq!(a.email.as_deref(), Some("alice@example.com"));
    }
    assert_eq!(b1.display_name.as_deref(), Some("Bob Builder"));
    assert_eq!(lookups(&sim, &alice), 1);
    assert_eq!(lookups(&sim, &bob), 1);
}

#[tokio::test]
async fn a_known_name_is_not_looked_up_and_an_expired_one_is_looked_up_again() {
    let (sim, client, alice, _) = world().await;
    let ttl = Duration::from_millis(100);
    let cache = PeopleCache::with_ttls(ttl, ttl);

    let mut named = sender(&alice);
    named.display_name = Some("Already Known".to_string());
    assert_eq!(cache.resolve(&client, &named).await, named);
    assert_eq!(lookups(&sim, &alice), 0);

    cache.resolve(&client, &sender(&alice)).await;
    tokio::time::sleep(ttl).await;
    let again = cache.resolve(&client, &sender(&alice)).await;
    assert_eq!(again.display_name.as_deref(), Some("Alice Liddell"));
    assert_eq!(lookups(&sim, &alice), 2);
}

#[tokio::test]
async fn a_failed_lookup_gives_the_sender_as_is_and_is_not_retried_at_once() {
    let (sim, client, alice, _) = world().await;
    let cache = PeopleCache::new();
    sim.fail_next("GET", "/v1/people", 500, 1);

    let first = cache.resolve(&client, &sender(&alice)).await;
    let second = cache.resolve(&client, &sender(&alice)).await;

    assert_eq!(first, sender(&alice));
    assert_eq!(second, sender(&alice));
    assert_eq!(lookups(&sim, &alice), 1);
}

#[tokio::test]
async fn an_unknown_person_keeps_email_and_id() {
    let (_sim, client, _, _) = world().await;
    let cache = PeopleCache::new();
    let ghost = SenderInfo {
        id: "not-a-person".to_string(),
        email: Some("ghost@example.com".to_string()),
        display_name: None,
    };

    assert_eq!(cache.resolve(&client, &ghost).await, ghost);
}
