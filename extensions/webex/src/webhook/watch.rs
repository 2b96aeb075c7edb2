//! The running gateway's webhook check: Webex can disable, and people can delete or change,
//! the bot's webhooks while the gateway runs; this task notices and puts them back.
//!
//! Webex sets a webhook `inactive` after 100 failed deliveries within five minutes and never
//! re-activates it by itself (<https://developer.webex.com/docs/api/guides/webhooks>,
//! "Disabled Webhooks"); until someone does, messages only arrive through the safety poll.
//! So every check period (`webhook.safetyPollSeconds`, 60 s by default, or
//! [`CHECK_WITHOUT_SAFETY_POLL`] when the safety poll is off) the task runs
//! [`reconcile`](super::register::reconcile): one `GET /webhooks` when all is well (0.3 % of
//! the default 300 requests a minute), a `PUT`/`POST`/`DELETE` only for a webhook that needs
//! it. Each repair is logged as a warning and counted in `moltbot_webhook_repairs_total`
//! (`action`: `reactivated`, `recreated`, `updated`, `deleted`).
//!
//! Webex lowers the threshold for a webhook re-activated within five minutes of being
//! disabled (its next failure disables it again), so a webhook found disabled on two checks
//! in a row means the deliveries keep failing: that warning says to check `webhook.url`.

use std::time::Duration;

use moltbot_core::error::chain;
use moltbot_core::gateway::ChannelMetrics;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use webex_api::WebexClient;

use super::register::{reconcile, ReconcileReport};
use crate::config::WebexConfig;
use crate::shared::CHANNEL;

/// The check period when `webhook.safetyPollSeconds` is 0 (the safety poll is off): five
/// minutes, Webex's window for disabling a webhook.
pub const CHECK_WITHOUT_SAFETY_POLL: Duration = Duration::from_secs(300);

/// How often the running gateway checks its webhooks: `webhook.safetyPollSeconds`, or
/// [`CHECK_WITHOUT_SAFETY_POLL`] when that is 0.
pub fn check_period(config: &WebexConfig) -> Duration {
    config
        .webhook
        .safety_poll
        .unwrap_or(CHECK_WITHOUT_SAFETY_POLL)
}

/// When a repair was made: on start (registration) or by the running check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// The registration when the channel connects: creating or updating the webhooks is the
    /// normal set-up then, so only a re-activation counts as a repair.
    Start,
    /// A check while the gateway runs: every change counts.
    Running,
}

/// The webhook check of one gateway run.
pub struct WebhookWatch {
    client: WebexClient,
    target: String,
    secret: String,
    name: String,
    metrics: ChannelMetrics,
}

impl std::fmt::Debug for WebhookWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookWatch")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl WebhookWatch {
    /// A check keeping the webhooks named `name` pointed at `target` with `secret`.
    pub fn new(
        client: WebexClient,
        target: String,
        secret: String,
        name: String,
        metrics: ChannelMetrics,
    ) -> Self {
        Self {
            client,
            target,
            secret,
            name,
            metrics,
        }
    }

    /// Checks every `period` (the first check one period after the start) until `shutdown`.
    /// A failed check is logged and retried at the next period.
    pub async fn run(self, period: Duration, shutdown: CancellationToken) {
        let period = period.max(Duration::from_millis(1));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut previous_reactivated = false;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let outcome = tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                outcome = reconcile(&self.client, &self.target, &self.secret, &self.name) => outcome,
            };
            match outcome {
                Ok(report) => {
                    note_repairs(
                        &report,
                        &self.metrics,
                        &self.target,
                        Moment::Running,
                        previous_reactivated,
                    );
                    previous_reactivated = !report.reactivated.is_empty();
                }
                Err(err) => {
                    tracing::warn!(
                        channel = CHANNEL,
                        error = %chain(&err),
                        tracking_id = err.tracking_id().unwrap_or("-"),
                        next_check = ?period,
                        "webhook check failed; checking again later"
                    );
                }
            }
        }
    }
}

/// Logs (warning) and counts what `report` repaired at `moment`. `again`: the previous check
/// re-activated a webhook too.
pub fn note_repairs(
    report: &ReconcileReport,
    metrics: &ChannelMetrics,
    target: &str,
    moment: Moment,
    again: bool,
) {
    if !report.reactivated.is_empty() {
        for _ in &report.reactivated {
            metrics.webhook_repaired("reactivated");
        }
        if again {
            tracing::warn!(
                channel = CHANNEL,
                webhooks = ?report.reactivated,
                target = %target,
                "webhook disabled by Webex again since the last check: its deliveries to the \
                 target keep failing; check that channels.webex.webhook.url reaches this gateway \
                 from the internet; re-activated"
            );
        } else {
            tracing::warn!(
                channel = CHANNEL,
                webhooks = ?report.reactivated,
                target = %target,
                "webhook was inactive (Webex disables a webhook after many failed deliveries; \
                 meanwhile messages arrived only by polling: the safety poll, or the poller in `both` mode); re-activated"
            );
        }
    }
    if moment == Moment::Start {
        return;
    }
    let others: [(&[String], &'static str, &str); 3] = [
        (
            &report.created,
            "recreated",
            "webhook was missing at Webex (deleted?); created again",
        ),
        (
            &report.updated,
            "updated",
            "webhook had been changed at Webex (target URL or secret); put back",
        ),
        (
            &report.deleted,
            "deleted",
            "duplicate webhook for this gateway found at Webex; deleted",
        ),
    ];
    for (ids, action, what) in others {
        if ids.is_empty() {
            continue;
        }
        for _ in ids {
            metrics.webhook_repaired(action);
        }
        tracing::warn!(channel = CHANNEL, webhooks = ?ids, target = %target, "{what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moltbot_core::gateway::Metrics;

    fn count(metrics: &Metrics, action: &str) -> u64 {
        let text = metrics.render().unwrap();
        let series =
            format!("moltbot_webhook_repairs_total{{channel=\"webex\",action=\"{action}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(0, |v| v.parse().unwrap())
    }

    fn report() -> ReconcileReport {
        ReconcileReport {
            created: vec!["c".into()],
            updated: vec!["u".into()],
            reactivated: vec!["r1".into(), "r2".into()],
            deleted: vec!["d".into()],
            unchanged: vec!["k".into()],
        }
    }

    #[test]
    fn on_start_only_reactivations_count() {
        let metrics = Metrics::default();
        note_repairs(
            &report(),
            &metrics.channel(CHANNEL),
            "https://x",
            Moment::Start,
            false,
        );
        assert_eq!(count(&metrics, "reactivated"), 2);
        assert_eq!(count(&metrics, "recreated"), 0);
        assert_eq!(count(&metrics, "updated"), 0);
    }

    #[test]
    fn while_running_every_repair_counts_and_nothing_for_unchanged() {
        let metrics = Metrics::default();
        let channel = metrics.channel(CHANNEL);
        note_repairs(&report(), &channel, "https://x", Moment::Running, true);
        assert_eq!(count(&metrics, "reactivated"), 2);
        assert_eq!(count(&metrics, "recreated"), 1);
        assert_eq!(count(&metrics, "updated"), 1);
        assert_eq!(count(&metrics, "deleted"), 1);
        let quiet = ReconcileReport {
            unchanged: vec!["a".into(), "b".into()],
            ..ReconcileReport::default()
        };
        note_repairs(&quiet, &channel, "https://x", Moment::Running, false);
        assert_eq!(count(&metrics, "reactivated"), 2);
    }

    #[test]
    fn the_period_follows_the_safety_poll_or_five_minutes_when_it_is_off() {
        let mut config = WebexConfig::default();
        config.webhook.safety_poll = Some(Duration::from_secs(3));
        assert_eq!(check_period(&config), Duration::from_secs(3));
        config.webhook.safety_poll = None;
        assert_eq!(check_period(&config), CHECK_WITHOUT_SAFETY_POLL);
    }
}
