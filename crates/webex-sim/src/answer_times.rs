//! How long each webhook's target took to answer its deliveries, as the emulator timed them.
//!
//! The emulator posts the deliveries that have no injected delay one at a time, in event order,
//! through one queue shared by all webhooks ([`crate::delivery`]; a choice of the emulator's,
//! not a promise of Webex's), so in a burst the time a target takes to answer adds up along the
//! whole queue (and a slow target delays the others' deliveries, a wait no sum here shows).
//! This records that time per delivery: from the request being handed to the HTTP client (a
//! new connection included when none is pooled) to the answer's status line, whatever the
//! status (so "answered" here counts more than `SimServer::deliveries_answered`, which counts
//! 2xx only). Deliveries that got no answer (refused, timed out
//! after 15 s) are not recorded, so a sum undercounts a target that hangs. Deliveries delayed by
//! fault injection (posted beside the queue) and each copy of a duplicated one are recorded
//! like the others; deliveries the fault plan drops are never posted, so never timed. A test or
//! benchmark reads them with [`crate::server::SimServer::delivery_answer_times`];
//! [`crate::state::SimState::reset`] clears them. Past [`MAX_SAMPLES`] a list keeps its first
//! samples and drops the rest without a flag.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

/// Answers kept per webhook and kind, the first ones (a long run does not grow memory past it).
pub const MAX_SAMPLES: usize = 100_000;

/// The answer times of one webhook's deliveries, split by whether the event's person (a
/// message's author, a card's submitter, a membership's member) is the webhook's owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryTimes {
    /// Deliveries about something another person did (a user's message, for a bot).
    pub others: Vec<Duration>,
    /// Deliveries about the webhook owner's own message or action (a bot's own reply coming
    /// back).
    pub own: Vec<Duration>,
}

/// Every webhook's [`DeliveryTimes`], by webhook.
#[derive(Debug, Default)]
pub struct AnswerTimes {
    by_webhook: HashMap<Uuid, DeliveryTimes>,
}

impl AnswerTimes {
    /// Records one answered delivery of `webhook`; `own`: it announced the owner's own message
    /// or action.
    pub fn record(&mut self, webhook: Uuid, own: bool, took: Duration) {
        let times = self.by_webhook.entry(webhook).or_default();
        let list = if own {
            &mut times.own
        } else {
            &mut times.others
        };
        if list.len() < MAX_SAMPLES {
            list.push(took);
        }
    }

    /// What `webhook`'s deliveries took so far (empty when none was answered).
    pub fn of(&self, webhook: &Uuid) -> DeliveryTimes {
        self.by_webhook.get(webhook).cloned().unwrap_or_default()
    }

    /// Forgets every recorded time.
    pub fn clear(&mut self) {
        self.by_webhook.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_kept_per_webhook_and_kind_up_to_the_cap() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut times = AnswerTimes::default();
        times.record(a, false, Duration::from_micros(300));
        times.record(a, true, Duration::from_micros(90));
        times.record(b, false, Duration::from_micros(100));
        assert_eq!(
            times.of(&a),
            DeliveryTimes {
                others: vec![Duration::from_micros(300)],
                own: vec![Duration::from_micros(90)],
            }
        );
        assert_eq!(times.of(&b).others, vec![Duration::from_micros(100)]);
        for _ in 0..MAX_SAMPLES + 5 {
            times.record(b, true, Duration::from_micros(1));
        }
        assert_eq!(times.of(&b).own.len(), MAX_SAMPLES);
        times.clear();
        assert_eq!(times.of(&a), DeliveryTimes::default());
    }
}
