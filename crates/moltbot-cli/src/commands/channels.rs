//! `moltbot channels status [channel] [--deep] [--json]` and `moltbot channels probe <channel>`.
//!
//! Both work with or without a running gateway. `status` reads the config and the state store
//! (whether a gateway runs comes from its heartbeat in the store, see
//! [`moltbot_core::gateway::heartbeat`]); `--deep` and `probe` also call the channel's API
//! through its plugin. Everything printed passes through [`logging::redact`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use moltbot_core::gateway::heartbeat;
use moltbot_core::gateway::singleton::LEADER_LEASE;
use moltbot_core::logging;
use moltbot_core::plugin::{AccountStatus, ChannelPlugin, ProbeIdentity, StatusOptions};
use moltbot_core::store::Store;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::commands::Outcome;
use crate::context::Context;

/// Default timeout of `probe` and of each `status --deep` call.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Overrides [`PROBE_TIMEOUT`] in milliseconds (for tests of the timeout path).
pub const PROBE_TIMEOUT_ENV: &str = "MOLTBOT_PROBE_TIMEOUT_MS";

/// `moltbot channels status`.
pub fn status(
    ctx: &Context,
    channel: Option<&str>,
    deep: bool,
    json: bool,
) -> anyhow::Result<Outcome> {
    let checked = ctx.check_config()?;
    let plugins: Vec<&Arc<dyn ChannelPlugin>> = match channel {
        Some(channel) => vec![find_plugin(ctx, channel)?],
        None => ctx.registry.all().collect(),
    };
    let runtime = runtime()?;
    // Opened on the runtime that uses it: a pool's connections die with the runtime that
    // opened them.
    let store = runtime.block_on(Context::open_store_if_present(&ctx.store_location()?))?;
    let gateway_running = match &store {
        Some(store) => runtime
            .block_on(heartbeat::is_running(store))
            .context("cannot read the gateway heartbeat from the state store")?,
        None => false,
    };
    let options = StatusOptions {
        deep,
        gateway_running,
        timeout: probe_timeout(),
    };
    let mut accounts = Vec::new();
    for plugin in plugins {
        let env: &(dyn Fn(&str) -> Option<String> + Sync) = &Context::env;
        accounts.extend(runtime.block_on(plugin.status(
            &checked.config,
            env,
            store.as_ref(),
            options,
        )));
    }
    let now_ms = now_ms();
    let facts = match &store {
        Some(store) => {
            let (replicas, leader) = runtime
                .block_on(async {
                    let replicas = heartbeat::replicas(store).await?;
                    let leader = store.leases().holder(LEADER_LEASE).await?;
                    Ok::<_, moltbot_core::store::StoreError>((replicas, leader))
                })
                .context("cannot read the replicas' heartbeats from the state store")?;
            let leader = leader.map(|lease| lease.owner);
            Some(StoreFacts::new(store, &replicas, leader.as_deref()))
        }
        None => None,
    };
    let text = if json {
        let store = facts.as_ref().map(StoreFacts::json);
        let list: Vec<Value> = accounts
            .iter()
            .map(|a| status_json(a, deep, store.clone()))
            .collect();
        format!("{}\n", serde_json::to_string_pretty(&list)?)
    } else {
        let mut text: String = accounts.iter().map(|a| status_text(a, now_ms)).collect();
        if let Some(facts) = &facts {
            text.push_str(&facts.text());
        }
        text
    };
    out!("{}", logging::redact(&text));
    // With --deep, an account that should work but could not be verified fails the command.
    let unverified = deep
        && accounts
            .iter()
            .any(|a| a.enabled && a.configured && a.identity.is_none());
    Ok(if unverified {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

/// `moltbot channels probe <channel>`.
pub fn probe(ctx: &Context, channel: &str) -> anyhow::Result<Outcome> {
    let checked = ctx.check_config()?;
    let plugin = find_plugin(ctx, channel)?;
    let manifest = plugin.manifest();
    let state = checked.config.core.plugins.state(&manifest.id);
    if let Some((problem, fix)) = moltbot_core::plugin::unavailable(manifest, state) {
        anyhow::bail!("the channel {channel} {problem}: {fix}");
    }
    let timeout = probe_timeout();
    let env: &(dyn Fn(&str) -> Option<String> + Sync) = &Context::env;
    let result = runtime()?.block_on(plugin.probe(&checked.config, env, timeout));
    match result {
        Ok(report) => {
            let id = &report.identity;
            let mut text = format!(
                "{channel} probe OK: {}\n{}",
                report.request,
                identity_lines(id)
            );
            for check in &report.checks {
                text.push_str(&format!("  {check}\n"));
            }
            out!("{}", logging::redact(&text));
            Ok(Outcome::Success)
        }
        Err(failure) => {
            let mut text = format!(
                "{channel} probe failed ({}): {}\n",
                failure.cause.as_str(),
                failure.message
            );
            if let Some(fix) = &failure.fix {
                text.push_str(&format!("Fix: {fix}\n"));
            }
            eprint!("{}", logging::redact(&text));
            Ok(Outcome::Failure)
        }
    }
}

/// The plugin providing `channel`, or an error naming the known channels.
pub fn find_plugin<'a>(
    ctx: &'a Context,
    channel: &str,
) -> anyhow::Result<&'a Arc<dyn ChannelPlugin>> {
    ctx.registry.for_channel(channel).ok_or_else(|| {
        let known: Vec<String> = ctx
            .registry
            .all()
            .flat_map(|p| p.manifest().channels.clone())
            .collect();
        anyhow::anyhow!("unknown channel `{channel}` (known: {})", known.join(", "))
    })
}

/// A single-threaded runtime for one command's API calls.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// [`PROBE_TIMEOUT`], or [`PROBE_TIMEOUT_ENV`] when set to a number of milliseconds.
fn probe_timeout() -> Duration {
    Context::env(PROBE_TIMEOUT_ENV)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(PROBE_TIMEOUT, Duration::from_millis)
}

/// What `channels status` tells of the state store: its backend, where it is, and the
/// replicas whose heartbeat is fresh.
struct StoreFacts {
    /// `sqlite` or `postgres`.
    backend: String,
    /// The file, or `host:port/database` (no credentials).
    location: String,
    /// The live replicas, in the heartbeats' order.
    replicas: Vec<ReplicaFacts>,
    /// The leader's config fingerprint, when a live replica holds the leader lease.
    leader_fingerprint: Option<Option<String>>,
}

/// One live replica in [`StoreFacts`].
struct ReplicaFacts {
    /// Its lease owner, `<node>/<instance>`.
    owner: String,
    /// `leader` for the holder of the leader lease, else what its last beat said
    /// (`follower`, or `single` without an election).
    role: String,
    /// Whole seconds since its last beat.
    beat_ago_seconds: i64,
    /// Its channel config fingerprint, when it published one.
    fingerprint: Option<String>,
    /// A leader runs and this replica (not the leader) has another fingerprint.
    config_differs: bool,
}

impl StoreFacts {
    /// The facts of `store` from the stored heartbeats `replicas` and the holder of the leader
    /// lease `leader`.
    fn new(store: &Store, replicas: &[heartbeat::ReplicaBeat], leader: Option<&str>) -> Self {
        let info = store.backend_info();
        let now = store.now_ms();
        let live: Vec<_> = replicas
            .iter()
            .filter(|r| heartbeat::is_fresh(Some(r.beat), now))
            .collect();
        let leader_beat = live.iter().find(|r| leader == Some(r.owner.as_str()));
        let replicas = live
            .iter()
            .map(|r| {
                let is_leader = leader == Some(r.owner.as_str());
                ReplicaFacts {
                    owner: r.owner.clone(),
                    role: if is_leader { "leader" } else { r.role.as_str() }.to_string(),
                    beat_ago_seconds: now.saturating_sub(r.beat).max(0) / 1000,
                    fingerprint: r.fingerprint.clone(),
                    config_differs: leader_beat
                        .is_some_and(|lead| !is_leader && lead.fingerprint != r.fingerprint),
                }
            })
            .collect();
        Self {
            backend: info.name.to_string(),
            location: info.location.to_string(),
            replicas,
            leader_fingerprint: leader_beat.map(|lead| lead.fingerprint.clone()),
        }
    }

    /// `Store: postgres (host:5432/db)`, then the live replicas with their role; a replica
    /// whose config fingerprint differs from the leader's says so, and a last line counts them.
    fn text(&self) -> String {
        let mut text = format!("Store: {} ({})\n", self.backend, self.location);
        if self.replicas.is_empty() {
            return text;
        }
        text.push_str(&format!("Replicas: {} running\n", self.replicas.len()));
        let mut differing = Vec::new();
        for r in &self.replicas {
            text.push_str(&format!(
                "  {} {} (beat {}s ago)",
                r.owner, r.role, r.beat_ago_seconds
            ));
            if r.config_differs {
                let lead = self.leader_fingerprint.as_ref().and_then(Option::as_deref);
                text.push_str(&format!(
                    ", config differs from the leader's (fingerprint {}, the leader's {})",
                    r.fingerprint.as_deref().unwrap_or("none"),
                    lead.unwrap_or("none"),
                ));
                differing.push(r.owner.as_str());
            }
            text.push('\n');
        }
        if !differing.is_empty() {
            text.push_str(&format!(
                "Config: {} replica(s) run another channel config than the leader's ({}): they \
                 never take the lead while a replica with the leader's config runs; give every \
                 replica the same channels config\n",
                differing.len(),
                differing.join(", ")
            ));
        }
        text
    }

    /// The same facts as [`Self::text`], as the `store` object of `--json`: `{backend,
    /// location, replicas: [{owner, role, beatAgoSeconds, fingerprint, configDiffers}]}`.
    fn json(&self) -> Value {
        let replicas: Vec<Value> = self
            .replicas
            .iter()
            .map(|r| {
                json!({
                    "owner": r.owner,
                    "role": r.role,
                    "beatAgoSeconds": r.beat_ago_seconds,
                    "fingerprint": r.fingerprint,
                    "configDiffers": r.config_differs,
                })
            })
            .collect();
        json!({
            "backend": self.backend,
            "location": self.location,
            "replicas": replicas,
        })
    }
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// `Webex default: enabled, configured, running, mode:polling, ..., in:2m ago, out:1m ago`,
/// then the deep identity and the warnings, indented.
fn status_text(account: &AccountStatus, now_ms: i64) -> String {
    let mut parts = vec![
        if account.enabled {
            "enabled"
        } else {
            "disabled"
        }
        .to_string(),
        if account.configured {
            "configured"
        } else {
            "not configured"
        }
        .to_string(),
        if account.running {
            "running"
        } else {
            "not running"
        }
        .to_string(),
    ];
    parts.extend(account.details.iter().map(|(k, v)| format!("{k}:{v}")));
    parts.push(format!("in:{}", ago(account.last_inbound_ms, now_ms)));
    parts.push(format!("out:{}", ago(account.last_outbound_ms, now_ms)));
    let mut text = format!(
        "{} {}: {}\n",
        account.label,
        account.account,
        parts.join(", ")
    );
    if let Some(identity) = &account.identity {
        text.push_str(&format!(
            "  token valid: {} ({}), API answered in {} ms\n",
            identity.name,
            identity.email.as_deref().unwrap_or("no email"),
            identity.latency.as_millis()
        ));
    }
    for warning in &account.warnings {
        // Continuation lines (a config issue's fix) go under their warning.
        let warning = warning
            .lines()
            .map(str::trim_start)
            .collect::<Vec<_>>()
            .join("\n    ");
        text.push_str(&format!("  warning: {warning}\n"));
    }
    text
}

/// The JSON object of one account; `store` ([`StoreFacts::json`]) is the same for every
/// account, `null` when there is no state store yet.
fn status_json(account: &AccountStatus, deep: bool, store: Option<Value>) -> Value {
    let details: Map<String, Value> = account
        .details
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut value = json!({
        "channel": account.channel,
        "account": account.account,
        "enabled": account.enabled,
        "configured": account.configured,
        "running": account.running,
        "details": details,
        "lastInboundAt": account.last_inbound_ms.map(rfc3339),
        "lastOutboundAt": account.last_outbound_ms.map(rfc3339),
        "warnings": account.warnings,
        "store": store,
    });
    if deep {
        value["deep"] = json!({
            "tokenValid": account.token_valid,
            "bot": account.identity.as_ref().map(|id| json!({
                "id": id.id,
                "name": id.name,
                "email": id.email,
            })),
            "latencyMs": account.identity.as_ref().map(|id| id.latency.as_millis() as u64),
        });
    }
    value
}

fn identity_lines(id: &ProbeIdentity) -> String {
    format!(
        "  name:    {}\n  email:   {}\n  id:      {}\n  latency: {} ms\n",
        id.name,
        id.email.as_deref().unwrap_or("-"),
        id.id,
        id.latency.as_millis()
    )
}

fn rfc3339(ms: i64) -> Value {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

/// `never`, `just now`, `42s ago`, `3m ago`, `5h ago`, `2d ago`.
fn ago(at_ms: Option<i64>, now_ms: i64) -> String {
    let Some(at) = at_ms else {
        return "never".to_string();
    };
    let secs = now_ms.saturating_sub(at) / 1000;
    match secs {
        s if s < 1 => "just now".to_string(),
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 48 * 3600 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_rounds_down_to_the_largest_unit() {
        let now = 10_000_000;
        assert_eq!(ago(None, now), "never");
        assert_eq!(ago(Some(now + 5_000), now), "just now");
        assert_eq!(ago(Some(now - 42_000), now), "42s ago");
        assert_eq!(ago(Some(now - 120_500), now), "2m ago");
        assert_eq!(ago(Some(now - 3 * 3_600_000), now), "3h ago");
        assert_eq!(ago(Some(now - 3 * 86_400_000), now), "3d ago");
    }

    #[test]
    fn status_line_matches_the_documented_form() {
        let account = AccountStatus {
            channel: "webex".into(),
            label: "Webex".into(),
            account: "default".into(),
            enabled: true,
            configured: true,
            running: true,
            details: vec![
                ("mode".into(), "polling".into()),
                ("dm".into(), "pairing".into()),
                ("group".into(), "allowlist".into()),
                ("token".into(), "env".into()),
                ("webhook".into(), "active".into()),
            ],
            last_inbound_ms: Some(1_000_000 - 120_000),
            last_outbound_ms: Some(1_000_000 - 60_000),
            identity: None,
            token_valid: None,
            warnings: vec!["dmPolicy is open".into()],
        };
        assert_eq!(
            status_text(&account, 1_000_000),
            "Webex default: enabled, configured, running, mode:polling, dm:pairing, \
             group:allowlist, token:env, webhook:active, in:2m ago, out:1m ago\n  warning: \
             dmPolicy is open\n"
        );
    }
}
