//! `moltbot channels status webex [--deep]`: one account line's facts and its warnings.
//!
//! Without `deep` only the config and the state store are read. With `deep` the token is
//! checked with `GET /people/me` and, in webhook modes, the registration with `GET /webhooks`.

use std::time::Duration;

use moltbot_core::config::LoadedConfig;
use moltbot_core::plugin::{AccountStatus, ProbeCause, StatusOptions};
use moltbot_core::store::Store;
use serde_json::Value;
use webex_api::models::{Webhook, WebhookEvent, WebhookResource, WebhookStatus};
use webex_api::WebexClient;

use crate::channel::WEBHOOK_NAME;
use crate::config::{self, Mode, WebexConfig, CHANNEL_ID, TOKEN_ENV};
use crate::ops::cause::classify;
use crate::ops::probe::identify;

/// Store namespace and key of the generated webhook secret (kept by [`crate::channel`]).
const SECRET_NS: &str = "webex";
const SECRET_KEY: &str = "webhook_secret";

/// The webhook registration as `GET /webhooks` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookState {
    /// Our `messages:created` webhook exists and is active.
    Active,
    /// It exists but Webex disabled it (after failed deliveries).
    Inactive,
    /// None is registered.
    Missing,
}

impl WebhookState {
    /// `active`, `inactive` or `missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookState::Active => "active",
            WebhookState::Inactive => "inactive",
            WebhookState::Missing => "missing",
        }
    }
}

/// Reads everything `channels status` shows for the Webex account.
pub async fn status(
    loaded: &LoadedConfig,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    store: Option<&Store>,
    options: StatusOptions,
) -> AccountStatus {
    let raw = RawFacts::read(loaded, env);
    let state = loaded.core.plugins.state(CHANNEL_ID);
    let installed = state == moltbot_core::config::PluginState::Enabled;
    let typed = config::validate(loaded, env);
    let mut warnings = Vec::new();
    let manifest = crate::plugin::WebexPlugin::embedded_manifest();
    if let Some((problem, fix)) = moltbot_core::plugin::unavailable(&manifest, state) {
        warnings.push(format!("the channel {CHANNEL_ID} {problem}: {fix}"));
    }
    let enabled = installed && raw.enabled;
    let (configured, webex) = match typed {
        Ok(webex) => (
            webex.token_source != config::TokenSource::Missing,
            Some(webex),
        ),
        Err(issues) => {
            warnings.extend(issues.iter().map(ToString::to_string));
            (false, None)
        }
    };
    if raw.dm_policy == "open" {
        warnings.push(
            "dmPolicy is \"open\": anyone who can reach the bot can DM it and use the agent \
             (use \"pairing\" or \"allowlist\" to restrict)"
                .to_string(),
        );
    }
    let uses_webhook = matches!(raw.mode.as_str(), "webhook" | "both");
    if uses_webhook && !raw.secret_configured {
        warnings.push(secret_warning(store).await);
    }

    let (last_inbound_ms, last_outbound_ms) = match store {
        Some(s) => (
            s.ledger().last_received_at(CHANNEL_ID).await.ok().flatten(),
            s.outbox().last_sent_at(CHANNEL_ID).await.ok().flatten(),
        ),
        None => (None, None),
    };
    let mut status = AccountStatus {
        channel: CHANNEL_ID.to_string(),
        label: "Webex".to_string(),
        account: "default".to_string(),
        enabled,
        configured,
        running: enabled && configured && options.gateway_running,
        details: Vec::new(),
        last_inbound_ms,
        last_outbound_ms,
        identity: None,
        token_valid: None,
        warnings: Vec::new(),
    };
    let mut webhook = if uses_webhook { "unknown" } else { "n/a" }.to_string();

    if options.deep {
        match &webex {
            Some(webex) if configured => {
                let deep = deep_check(webex, options.timeout, &mut status, &mut warnings).await;
                if let Some(state) = deep {
                    webhook = state.as_str().to_string();
                }
            }
            _ => warnings.push(
                "--deep skipped the Webex checks: the channel is not configured (see above)"
                    .to_string(),
            ),
        }
    }

    let websocket = if raw.mode == "websocket" {
        let socket = match store {
            Some(store) => crate::websocket::status::read(store)
                .await
                .map(|socket| (socket, store.now_ms())),
            None => None,
        };
        if options.deep && status.token_valid == Some(true) {
            if let Some(webex) = &webex {
                websocket_deep_check(webex, options.timeout, &mut warnings).await;
            }
        }
        Some(describe_socket(socket.as_ref(), options.gateway_running))
    } else {
        None
    };

    status.details = vec![
        ("mode".to_string(), raw.mode),
        ("dm".to_string(), raw.dm_policy),
        ("group".to_string(), raw.group_policy),
        ("token".to_string(), raw.token_source.to_string()),
        ("webhook".to_string(), webhook),
    ];
    if let Some(websocket) = websocket {
        status.details.push(("websocket".to_string(), websocket));
    }
    status.warnings = warnings;
    status
}

/// `--deep` in websocket mode: the catalog and device service must be reachable from here.
async fn websocket_deep_check(webex: &WebexConfig, timeout: Duration, warnings: &mut Vec<String>) {
    let client = match super::client(webex, timeout, 1) {
        Ok(client) => client,
        Err(failure) => {
            warnings.push(failure.message);
            return;
        }
    };
    if let Err(failure) = super::probe::websocket_services(webex, &client, timeout).await {
        let fix = failure
            .fix
            .map(|fix| format!("\nfix: {fix}"))
            .unwrap_or_default();
        warnings.push(format!(
            "the websocket services cannot be reached ({}): {}{fix}",
            failure.cause.as_str(),
            failure.message
        ));
    }
}

/// The `websocket` detail: what the running (or last) gateway's listener recorded, e.g.
/// `connected, device moltbot-1a2b3c (https://wdm.../devices/...), last event 12 s ago, 0
/// reconnects`. `socket` comes with the store's time of reading.
fn describe_socket(
    socket: Option<&(crate::websocket::status::SocketStatus, i64)>,
    gateway_running: bool,
) -> String {
    let Some((socket, now_ms)) = socket else {
        return "not started yet".to_string();
    };
    let ago = |ms: i64| format!("{} s ago", (now_ms - ms).max(0) / 1000);
    let state = if gateway_running {
        format!(
            "{} for {}",
            socket.state.as_str(),
            ago(socket.since_ms).trim_end_matches(" ago")
        )
    } else {
        "stopped (the gateway is not running)".to_string()
    };
    let mut parts = vec![state];
    if let Some(name) = &socket.device_name {
        parts.push(match &socket.device_url {
            Some(url) => format!("device {name} ({url})"),
            None => format!("device {name}"),
        });
    }
    parts.push(match socket.last_event_ms {
        Some(ms) => format!("last event {}", ago(ms)),
        None => "no event yet".to_string(),
    });
    parts.push(match socket.reconnects {
        1 => "1 reconnect".to_string(),
        n => format!("{n} reconnects"),
    });
    if let Some(error) = &socket.last_error {
        parts.push(format!("last error: {error}"));
    }
    parts.join(", ")
}

/// `GET /people/me`, then (webhook modes, valid token) `GET /webhooks`. Fills the identity and
/// token validity; returns the webhook state when it was checked.
async fn deep_check(
    webex: &WebexConfig,
    timeout: Duration,
    status: &mut AccountStatus,
    warnings: &mut Vec<String>,
) -> Option<WebhookState> {
    let api = webex.api_base_url.as_str();
    let client = match super::client(webex, timeout, 1) {
        Ok(client) => client,
        Err(failure) => {
            warnings.push(failure.message);
            return None;
        }
    };
    match identify(&client, api, timeout).await {
        Ok(identity) => {
            status.identity = Some(identity);
            status.token_valid = Some(true);
        }
        Err(failure) => {
            if failure.cause == ProbeCause::BadToken {
                status.token_valid = Some(false);
                warnings.push(format!(
                    "the bot token is invalid (Webex answered 401): {}",
                    crate::ops::cause::TOKEN_FIX
                ));
            } else {
                let fix = failure
                    .fix
                    .map(|fix| format!("\nfix: {fix}"))
                    .unwrap_or_default();
                warnings.push(format!(
                    "cannot verify the token: GET /people/me failed ({}): {}{fix}",
                    failure.cause.as_str(),
                    failure.message
                ));
            }
            return None;
        }
    }
    if !webex.mode.uses_webhook() {
        return None;
    }
    match webhook_state(&client, webex, timeout).await {
        Ok(state) => {
            match state {
                WebhookState::Active => {}
                WebhookState::Inactive => warnings.push(
                    "the messages:created webhook is inactive: Webex disabled it after failed \
                     deliveries; check that webhook.url is reachable from the internet; a \
                     running gateway re-activates it within webhook.safetyPollSeconds (a \
                     stopped one on start)"
                        .to_string(),
                ),
                WebhookState::Missing => warnings.push(
                    "no messages:created webhook is registered: start the gateway (it registers \
                     the webhook on start)"
                        .to_string(),
                ),
            }
            Some(state)
        }
        Err(message) => {
            warnings.push(message);
            None
        }
    }
}

/// Our `messages:created` webhook's state: any active one wins.
async fn webhook_state(
    client: &WebexClient,
    webex: &WebexConfig,
    timeout: Duration,
) -> Result<WebhookState, String> {
    let api = webex.api_base_url.as_str();
    let listed = tokio::time::timeout(timeout, client.list_webhooks().collect_all()).await;
    let hooks: Vec<Webhook> = match listed {
        Err(_) => {
            return Err(format!(
                "GET {api}/webhooks: no answer within {} ms",
                timeout.as_millis()
            ))
        }
        Ok(Err(err)) => {
            let failure = classify(&err, api, timeout.as_millis());
            return Err(format!("GET {api}/webhooks failed: {failure}"));
        }
        Ok(Ok(hooks)) => hooks,
    };
    Ok(pick_state(&hooks, webex.webhook.url.as_deref()))
}

/// Pure part of [`webhook_state`]: ours are the `messages:created` webhooks named
/// [`WEBHOOK_NAME`] or targeting `url`.
fn pick_state(hooks: &[Webhook], url: Option<&str>) -> WebhookState {
    let ours: Vec<&Webhook> = hooks
        .iter()
        .filter(|h| {
            h.resource.as_ref().map(WebhookResource::as_str)
                == Some(WebhookResource::Messages.as_str())
                && h.event.as_ref().map(WebhookEvent::as_str)
                    == Some(WebhookEvent::Created.as_str())
        })
        .filter(|h| h.name == WEBHOOK_NAME || Some(h.target_url.as_str()) == url)
        .collect();
    if ours.is_empty() {
        WebhookState::Missing
    } else if ours.iter().any(|h| {
        h.status
            .as_ref()
            .is_none_or(|s| s.as_str() == WebhookStatus::Active.as_str())
    }) {
        WebhookState::Active
    } else {
        WebhookState::Inactive
    }
}

async fn secret_warning(store: Option<&Store>) -> String {
    let generated = match store {
        Some(s) => matches!(s.kv().get(SECRET_NS, SECRET_KEY).await, Ok(Some(_))),
        None => false,
    };
    if generated {
        "webhook.secret is not configured: the gateway uses a secret it generated and keeps in \
         the state store (set channels.webex.webhook.secret to keep it across store resets)"
            .to_string()
    } else {
        "webhook.secret is not configured: the gateway generates one on its first start and \
         keeps it in the state store (or set channels.webex.webhook.secret)"
            .to_string()
    }
}

/// What the config says, read leniently so an invalid config still shows its settings.
struct RawFacts {
    enabled: bool,
    mode: String,
    dm_policy: String,
    group_policy: String,
    token_source: &'static str,
    secret_configured: bool,
}

impl RawFacts {
    fn read(loaded: &LoadedConfig, env: &(dyn Fn(&str) -> Option<String> + Sync)) -> Self {
        let section = loaded.channel_section(CHANNEL_ID);
        let text = |pointer: &str, default: &str| {
            section
                .and_then(|s| s.pointer(pointer))
                .and_then(Value::as_str)
                .unwrap_or(default)
                .to_string()
        };
        let has = |pointer: &str| {
            section
                .and_then(|s| s.pointer(pointer))
                .and_then(Value::as_str)
                .is_some_and(|v| !v.trim().is_empty())
        };
        let token_source = if section.is_some_and(|s| s.get("botToken").is_some()) {
            "config"
        } else if env(TOKEN_ENV).is_some_and(|t| !t.trim().is_empty()) {
            "env"
        } else {
            "none"
        };
        Self {
            enabled: section
                .and_then(|s| s.get("enabled"))
                .and_then(Value::as_bool)
                .unwrap_or(true),
            mode: text("/mode", Mode::Webhook.as_str()),
            dm_policy: text("/dmPolicy", "pairing"),
            group_policy: text("/groupPolicy", "allowlist"),
            token_source,
            secret_configured: has("/webhook/secret"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(name: &str, target: &str, status: WebhookStatus) -> Webhook {
        Webhook {
            id: "w".into(),
            name: name.into(),
            target_url: target.into(),
            resource: Some(WebhookResource::Messages),
            event: Some(WebhookEvent::Created),
            status: Some(status),
            ..Webhook::default()
        }
    }

    #[test]
    fn webhook_state_from_the_list() {
        let url = Some("https://x/hook");
        assert_eq!(pick_state(&[], url), WebhookState::Missing);
        let other = hook("someone", "https://y/hook", WebhookStatus::Active);
        assert_eq!(
            pick_state(std::slice::from_ref(&other), url),
            WebhookState::Missing
        );
        let off = hook(WEBHOOK_NAME, "https://old/hook", WebhookStatus::Inactive);
        assert_eq!(
            pick_state(&[other, off.clone()], url),
            WebhookState::Inactive
        );
        let on = hook("renamed", "https://x/hook", WebhookStatus::Active);
        assert_eq!(pick_state(&[off, on], url), WebhookState::Active);
    }
}
