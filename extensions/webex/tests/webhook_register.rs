//! `webhook::reconcile` against webex-sim: creates, keeps, updates, re-activates and removes
//! the bot's webhooks, and never touches anyone else's.

#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

use moltbot_webex::webhook::register::reconcile;
use webex_api::{
    ClientConfig, CreateWebhook, UpdateWebhook, WebexClient, Webhook, WebhookEvent,
    WebhookResource, WebhookStatus,
};
use webex_sim::SimServer;

const TARGET: &str = "https://bot.example.com/webex/webhook";
const SECRET: &str = "first-secret";
const NAME: &str = "moltbot";

async fn setup() -> (SimServer, WebexClient) {
    let sim = SimServer::start().await.unwrap();
    let bot = sim.add_bot("molty@webex.bot", "Molty");
    let client = WebexClient::new(
        ClientConfig::new(bot.token.as_str())
            .with_base_url_str(&sim.api_base())
            .unwrap()
            .with_requests_per_minute(100_000),
    )
    .unwrap();
    (sim, client)
}

async fn list(client: &WebexClient) -> Vec<Webhook> {
    client.list_webhooks().collect_all().await.unwrap()
}

fn kinds(hooks: &[Webhook]) -> Vec<String> {
    let mut kinds: Vec<String> = hooks
        .iter()
        .map(|h| {
            format!(
                "{}:{}",
                h.resource.as_ref().unwrap(),
                h.event.as_ref().unwrap()
            )
        })
        .collect();
    kinds.sort();
    kinds
}

fn create(name: &str, target: &str, resource: WebhookResource) -> CreateWebhook {
    CreateWebhook {
        name: name.into(),
        target_url: target.into(),
        resource,
        event: WebhookEvent::Created,
        filter: None,
        secret: Some("other".into()),
    }
}

#[tokio::test]
async fn first_run_creates_two_second_run_changes_nothing() {
    let (_sim, client) = setup().await;
    let first = reconcile(&client, TARGET, SECRET, NAME).await.unwrap();
    assert_eq!(first.created.len(), 2, "{first:?}");
    assert!(first.updated.is_empty() && first.deleted.is_empty() && first.unchanged.is_empty());

    let hooks = list(&client).await;
    assert_eq!(
        kinds(&hooks),
        ["attachmentActions:created", "messages:created"]
    );
    for hook in &hooks {
        assert_eq!(hook.target_url, TARGET);
        assert_eq!(hook.name, NAME);
        assert_eq!(hook.secret.as_deref(), Some(SECRET));
        assert_eq!(hook.status, Some(WebhookStatus::Active));
        assert!(hook.filter.is_none());
        assert!(first.created.contains(&hook.id));
    }

    let second = reconcile(&client, TARGET, SECRET, NAME).await.unwrap();
    assert!(!second.changed(), "{second:?}");
    let mut unchanged = second.unchanged.clone();
    unchanged.sort();
    let mut created = first.created.clone();
    created.sort();
    assert_eq!(unchanged, created);
    assert_eq!(list(&client).await.len(), 2);
}

#[tokio::test]
async fn inactive_webhook_is_reactivated() {
    let (_sim, client) = setup().await;
    reconcile(&client, TARGET, SECRET, NAME).await.unwrap();
    let hooks = list(&client).await;
    let messages = hooks
        .iter()
        .find(|h| h.resource == Some(WebhookResource::Messages))
        .unwrap();
    let off = UpdateWebhook {
        name: NAME.into(),
        target_url: TARGET.into(),
        secret: None,
        status: Some(WebhookStatus::Inactive),
    };
    client.update_webhook(&messages.id, &off).await.unwrap();
    assert_eq!(
        client.get_webhook(&messages.id).await.unwrap().status,
        Some(WebhookStatus::Inactive)
    );

    let report = reconcile(&client, TARGET, SECRET, NAME).await.unwrap();
    assert_eq!(report.reactivated, vec![messages.id.clone()]);
    assert_eq!(report.unchanged.len(), 1);
    assert!(report.created.is_empty() && report.deleted.is_empty());
    let after = client.get_webhook(&messages.id).await.unwrap();
    assert_eq!(after.status, Some(WebhookStatus::Active));
    assert_eq!(after.secret.as_deref(), Some(SECRET));
}

#[tokio::test]
async fn changed_secret_and_moved_url_update_in_place() {
    let (_sim, client) = setup().await;
    let first = reconcile(&client, TARGET, SECRET, NAME).await.unwrap();

    let report = reconcile(&client, TARGET, "second-secret", NAME)
        .await
        .unwrap();
    let (mut updated, mut created) = (report.updated.clone(), first.created.clone());
    updated.sort();
    created.sort();
    assert_eq!(updated, created, "{report:?}");
    assert!(list(&client)
        .await
        .iter()
        .all(|h| h.secret.as_deref() == Some("second-secret")));

    // The public URL changed: the webhooks named ours follow it (no new ones).
    let moved = "https://new.example.com/hook";
    let report = reconcile(&client, moved, "second-secret", NAME)
        .await
        .unwrap();
    assert_eq!(report.updated.len(), 2, "{report:?}");
    assert!(report.created.is_empty() && report.deleted.is_empty());
    let hooks = list(&client).await;
    assert_eq!(hooks.len(), 2);
    assert!(hooks.iter().all(|h| h.target_url == moved));
}

#[tokio::test]
async fn duplicates_are_removed_and_foreign_webhooks_kept() {
    let (_sim, client) = setup().await;
    // Ours: two messages:created at our target (one under another name), one with our name at
    // an old target, one filtered. Foreign: another app's webhooks, and ours for another event.
    let at_target = client
        .create_webhook(&create(NAME, TARGET, WebhookResource::Messages))
        .await
        .unwrap();
    let other_name_same_target = client
        .create_webhook(&create("old-name", TARGET, WebhookResource::Messages))
        .await
        .unwrap();
    let our_name_old_target = client
        .create_webhook(&create(
            NAME,
            "https://old.example.com/x",
            WebhookResource::Messages,
        ))
        .await
        .unwrap();
    let filtered = client
        .create_webhook(&CreateWebhook {
            filter: Some("personEmail=alice@example.com".into()),
            ..create(NAME, TARGET, WebhookResource::AttachmentActions)
        })
        .await
        .unwrap();
    let foreign = client
        .create_webhook(&create(
            "other-app",
            "https://other.example.com/",
            WebhookResource::Messages,
        ))
        .await
        .unwrap();
    let other_event = client
        .create_webhook(&CreateWebhook {
            event: WebhookEvent::Deleted,
            ..create(NAME, TARGET, WebhookResource::Messages)
        })
        .await
        .unwrap();

    let report = reconcile(&client, TARGET, SECRET, NAME).await.unwrap();
    // The first one at our target is kept (its secret was "other": updated).
    assert_eq!(report.updated, vec![at_target.id.clone()]);
    // attachmentActions: the filtered one cannot be kept (PUT cannot drop a filter).
    assert_eq!(report.created.len(), 1);
    let mut deleted = report.deleted.clone();
    deleted.sort();
    let mut expected = vec![
        other_name_same_target.id.clone(),
        our_name_old_target.id.clone(),
        filtered.id.clone(),
    ];
    expected.sort();
    assert_eq!(deleted, expected);

    let hooks = list(&client).await;
    let ids: Vec<&str> = hooks.iter().map(|h| h.id.as_str()).collect();
    assert!(ids.contains(&foreign.id.as_str()));
    assert!(ids.contains(&other_event.id.as_str()));
    assert!(ids.contains(&at_target.id.as_str()));
    assert_eq!(hooks.len(), 4);
    let foreign_after = client.get_webhook(&foreign.id).await.unwrap();
    assert_eq!(foreign_after.secret.as_deref(), Some("other"));

    let again = reconcile(&client, TARGET, SECRET, NAME).await.unwrap();
    assert!(!again.changed(), "{again:?}");
    assert_eq!(again.unchanged.len(), 2);
}

#[tokio::test]
async fn webhooks_beyond_the_first_page_are_seen() {
    let (_sim, client) = setup().await;
    // The sim lists 100 webhooks per page by default: push ours onto page two.
    for i in 0..100 {
        client
            .create_webhook(&create(
                &format!("foreign-{i}"),
                &format!("https://other.example.com/{i}"),
                WebhookResource::Rooms,
            ))
            .await
            .unwrap();
    }
    let first = reconcile(&client, TARGET, SECRET, NAME).await.unwrap();
    assert_eq!(first.created.len(), 2);
    let second = reconcile(&client, TARGET, SECRET, NAME).await.unwrap();
    assert!(!second.changed(), "{second:?}");
    assert_eq!(second.unchanged.len(), 2);
    assert_eq!(list(&client).await.len(), 102);
}

#[tokio::test]
async fn api_errors_are_returned() {
    let (sim, client) = setup().await;
    sim.fail_next("POST", "/v1/webhooks", 400, 1);
    let err = reconcile(&client, TARGET, SECRET, NAME).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(!err.to_string().contains(SECRET));
}
