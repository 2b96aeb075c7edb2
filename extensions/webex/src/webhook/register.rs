//! Webhook registration: makes the bot's webhooks match what the receiver expects.
//!
//! Wanted: exactly one `messages:created` and one `attachmentActions:created` webhook, both
//! unfiltered, with `targetUrl` = the configured `webhook.url`, our secret and status `active`.
//! Webex disables a webhook after repeated failed deliveries; a `PUT` with `status: active`
//! re-activates it (<https://developer.webex.com/docs/api/v1/webhooks/update-a-webhook>).
//! Only webhooks with our name or our target URL are ever changed or deleted.

use webex_api::models::{Webhook, WebhookEvent, WebhookResource, WebhookStatus};
use webex_api::{CreateWebhook, UpdateWebhook, WebexClient};

use crate::shared::CHANNEL;

/// What [`reconcile`] did, as webhook ids per action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Webhooks created.
    pub created: Vec<String>,
    /// Webhooks updated (target URL, secret or name changed).
    pub updated: Vec<String>,
    /// Inactive webhooks re-activated (and updated as needed).
    pub reactivated: Vec<String>,
    /// Duplicate webhooks deleted.
    pub deleted: Vec<String>,
    /// Webhooks already as wanted.
    pub unchanged: Vec<String>,
}

impl ReconcileReport {
    /// Whether anything was changed at Webex.
    pub fn changed(&self) -> bool {
        !(self.created.is_empty()
            && self.updated.is_empty()
            && self.reactivated.is_empty()
            && self.deleted.is_empty())
    }
}

impl std::fmt::Display for ReconcileReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "webhooks: {} created, {} updated, {} reactivated, {} deleted, {} unchanged",
            self.created.len(),
            self.updated.len(),
            self.reactivated.len(),
            self.deleted.len(),
            self.unchanged.len()
        )
    }
}

/// The (resource, event) pairs the receiver handles.
fn wanted() -> [(WebhookResource, WebhookEvent); 2] {
    [
        (WebhookResource::Messages, WebhookEvent::Created),
        (WebhookResource::AttachmentActions, WebhookEvent::Created),
    ]
}

/// What to do for one (resource, event).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Nothing: the webhook with this id is as wanted.
    Keep(String),
    /// `PUT` the webhook with this id; `reactivate` when it was not active.
    Update { id: String, reactivate: bool },
    /// `POST` a new webhook.
    Create,
}

/// The plan for one (resource, event): the action for the one webhook we keep, and the ids of
/// our duplicates to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    action: Action,
    delete: Vec<String>,
}

fn is_kind(hook: &Webhook, resource: &WebhookResource, event: &WebhookEvent) -> bool {
    hook.resource.as_ref().map(WebhookResource::as_str) == Some(resource.as_str())
        && hook.event.as_ref().map(WebhookEvent::as_str) == Some(event.as_str())
}

fn unfiltered(hook: &Webhook) -> bool {
    hook.filter.as_deref().is_none_or(|f| f.trim().is_empty())
}

/// Decides, from the listed webhooks, what to do for `resource:event`. Pure.
fn plan(
    hooks: &[Webhook],
    resource: &WebhookResource,
    event: &WebhookEvent,
    target_url: &str,
    secret: &str,
    name: &str,
) -> Plan {
    let ours: Vec<&Webhook> = hooks
        .iter()
        .filter(|h| is_kind(h, resource, event))
        .filter(|h| h.target_url == target_url || h.name == name)
        .collect();
    // A filter cannot be removed with PUT, so only unfiltered webhooks can be kept.
    let keep = ours
        .iter()
        .find(|h| unfiltered(h) && h.target_url == target_url)
        .or_else(|| ours.iter().find(|h| unfiltered(h) && h.name == name))
        .copied();
    let delete = ours
        .iter()
        .filter(|h| keep.is_none_or(|k| k.id != h.id))
        .map(|h| h.id.clone())
        .collect();
    let action = match keep {
        None => Action::Create,
        Some(hook) => {
            // A missing status is taken as active (Webex always sends one).
            let inactive = hook
                .status
                .as_ref()
                .is_some_and(|s| s.as_str() != WebhookStatus::Active.as_str());
            // Webex echoes the secret; when it does not, re-sending it is harmless.
            let stale = hook.target_url != target_url
                || hook.secret.as_deref().unwrap_or_default() != secret;
            if inactive || stale {
                Action::Update {
                    id: hook.id.clone(),
                    reactivate: inactive,
                }
            } else {
                Action::Keep(hook.id.clone())
            }
        }
    };
    Plan { action, delete }
}

/// Makes the bot's webhooks match: exactly one `messages:created` and one
/// `attachmentActions:created` webhook (resource/event), both with `targetUrl = target_url` and
/// `secret`, status active.
///
/// Lists every webhook (all pages); per resource/event keeps the first unfiltered one whose
/// `targetUrl` is `target_url` (else the first unfiltered one named `name`), updates it when its
/// target, secret or status differ (a `PUT` with `status: active` also re-activates it), creates
/// one when there is none, then deletes the other webhooks of that resource/event that have our
/// name or our target URL. Webhooks with other names and targets are never touched. Idempotent.
pub async fn reconcile(
    client: &WebexClient,
    target_url: &str,
    secret: &str,
    name: &str,
) -> Result<ReconcileReport, webex_api::Error> {
    let hooks: Vec<Webhook> = client.list_webhooks().collect_all().await?;
    let secret_field = Some(secret.to_string()).filter(|s| !s.is_empty());
    let mut report = ReconcileReport::default();
    for (resource, event) in wanted() {
        let kind = format!("{resource}:{event}");
        let plan = plan(&hooks, &resource, &event, target_url, secret, name);
        match plan.action {
            Action::Keep(id) => {
                tracing::debug!(channel = CHANNEL, webhook = %id, kind = %kind, "webhook up to date");
                report.unchanged.push(id);
            }
            Action::Update { id, reactivate } => {
                let update = UpdateWebhook {
                    name: name.to_string(),
                    target_url: target_url.to_string(),
                    secret: secret_field.clone(),
                    status: Some(WebhookStatus::Active),
                };
                let updated = client.update_webhook(&id, &update).await?;
                if reactivate {
                    tracing::info!(channel = CHANNEL, webhook = %updated.id, kind = %kind, target = %target_url, "webhook re-activated");
                    report.reactivated.push(updated.id);
                } else {
                    tracing::info!(channel = CHANNEL, webhook = %updated.id, kind = %kind, target = %target_url, "webhook updated");
                    report.updated.push(updated.id);
                }
            }
            Action::Create => {
                let create = CreateWebhook {
                    name: name.to_string(),
                    target_url: target_url.to_string(),
                    resource: resource.clone(),
                    event: event.clone(),
                    filter: None,
                    secret: secret_field.clone(),
                };
                let created = client.create_webhook(&create).await?;
                tracing::info!(channel = CHANNEL, webhook = %created.id, kind = %kind, target = %target_url, "webhook created");
                report.created.push(created.id);
            }
        }
        for id in plan.delete {
            match client.delete_webhook(&id).await {
                Ok(()) => {}
                // Already gone: the goal is reached.
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(err),
            }
            tracing::info!(channel = CHANNEL, webhook = %id, kind = %kind, "duplicate webhook deleted");
            report.deleted.push(id);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(id: &str, name: &str, target: &str, resource: &str, event: &str) -> Webhook {
        Webhook {
            id: id.into(),
            name: name.into(),
            target_url: target.into(),
            resource: Some(WebhookResource::from_wire(resource)),
            event: Some(WebhookEvent::from_wire(event)),
            secret: Some("s".into()),
            status: Some(WebhookStatus::Active),
            ..Webhook::default()
        }
    }

    fn plan_messages(hooks: &[Webhook]) -> Plan {
        plan(
            hooks,
            &WebhookResource::Messages,
            &WebhookEvent::Created,
            "https://x/hook",
            "s",
            "moltbot",
        )
    }

    #[test]
    fn nothing_listed_creates() {
        assert_eq!(
            plan_messages(&[]),
            Plan {
                action: Action::Create,
                delete: vec![]
            }
        );
    }

    #[test]
    fn matching_webhook_is_kept() {
        let hooks = [hook(
            "a",
            "moltbot",
            "https://x/hook",
            "messages",
            "created",
        )];
        assert_eq!(plan_messages(&hooks).action, Action::Keep("a".into()));
    }

    #[test]
    fn target_match_wins_over_name_match_and_the_rest_is_deleted() {
        let hooks = [
            hook("n", "moltbot", "https://old/hook", "messages", "created"),
            hook("t", "someone", "https://x/hook", "messages", "created"),
            hook("t2", "moltbot", "https://x/hook", "messages", "created"),
        ];
        let plan = plan_messages(&hooks);
        // "t" has the target and our secret: kept as is even though its name differs.
        assert_eq!(plan.action, Action::Keep("t".into()));
        assert_eq!(plan.delete, vec!["n".to_string(), "t2".to_string()]);
    }

    #[test]
    fn other_kinds_names_and_targets_are_not_touched() {
        let hooks = [
            hook(
                "other",
                "other-app",
                "https://y/hook",
                "messages",
                "created",
            ),
            hook("del", "moltbot", "https://x/hook", "messages", "deleted"),
            hook("all", "moltbot", "https://x/hook", "all", "all"),
        ];
        let plan = plan_messages(&hooks);
        assert_eq!(plan.action, Action::Create);
        assert!(plan.delete.is_empty());
    }

    #[test]
    fn stale_secret_or_target_updates_and_inactive_reactivates() {
        let mut h = hook("a", "moltbot", "https://x/hook", "messages", "created");
        h.secret = Some("old".into());
        assert_eq!(
            plan_messages(&[h.clone()]).action,
            Action::Update {
                id: "a".into(),
                reactivate: false
            }
        );
        h.secret = None;
        assert!(matches!(plan_messages(&[h]).action, Action::Update { .. }));

        let mut moved = hook("m", "moltbot", "https://old/hook", "messages", "created");
        moved.status = Some(WebhookStatus::Active);
        assert_eq!(
            plan_messages(&[moved]).action,
            Action::Update {
                id: "m".into(),
                reactivate: false
            }
        );

        let mut off = hook("i", "moltbot", "https://x/hook", "messages", "created");
        off.status = Some(WebhookStatus::Inactive);
        assert_eq!(
            plan_messages(&[off]).action,
            Action::Update {
                id: "i".into(),
                reactivate: true
            }
        );
    }

    #[test]
    fn filtered_webhook_is_replaced() {
        let mut f = hook("f", "moltbot", "https://x/hook", "messages", "created");
        f.filter = Some("roomId=abc".into());
        let plan = plan_messages(&[f]);
        assert_eq!(plan.action, Action::Create);
        assert_eq!(plan.delete, vec!["f".to_string()]);
    }

    #[test]
    fn report_display_and_changed() {
        let mut report = ReconcileReport {
            unchanged: vec!["a".into(), "b".into()],
            ..ReconcileReport::default()
        };
        assert!(!report.changed());
        assert_eq!(
            report.to_string(),
            "webhooks: 0 created, 0 updated, 0 reactivated, 0 deleted, 2 unchanged"
        );
        report.deleted.push("c".into());
        assert!(report.changed());
    }
}
