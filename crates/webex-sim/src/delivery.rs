//! Webhook delivery.
//!
//! Envelope as documented at developer.webex.com/docs/api/guides/webhooks: `{id, name,
//! targetUrl, resource, event, filter, orgId, createdBy, appId, ownedBy, status, created,
//! actorId, data}`; `data` carries ids only (never message text). When the webhook has a
//! secret, `X-Spark-Signature` is the lowercase hex HMAC-SHA1 of the exact body bytes.
//! A webhook is set `inactive` after 100 failed deliveries within 5 minutes; re-activated
//! within 5 minutes of that, its next failed delivery disables it again (Webex's guide,
//! "Disabled Webhooks").

use crate::ids::{encode, resolve, Kind};
use crate::model::{PersonType, RoomType, World};
use crate::state::{lock, SimState};
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha1::Sha1;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Failed deliveries within [`FAILURE_WINDOW`] that deactivate a webhook.
pub const FAILURE_LIMIT: usize = 100;
/// The window for [`FAILURE_LIMIT`].
pub const FAILURE_WINDOW: Duration = Duration::from_secs(300);

/// Something that happened, for webhook matching.
#[derive(Debug, Clone)]
pub struct Event {
    /// `messages`, `attachmentActions`, ...
    pub resource: &'static str,
    /// `created`, `updated`, `deleted`.
    pub event: &'static str,
    /// Who caused it.
    pub actor: Uuid,
    /// The room involved.
    pub room: Uuid,
    /// Its type.
    pub room_type: RoomType,
    /// Message author (messages) or submitter (attachment actions).
    pub person: Uuid,
    /// Email of `person`.
    pub person_email: String,
    /// People mentioned in the message.
    pub mentioned: Vec<Uuid>,
    /// For attachment actions: the author of the card message.
    pub card_author: Option<Uuid>,
    /// For attachment actions: the card message.
    pub message: Option<Uuid>,
    /// Whether the message has files.
    pub has_files: bool,
    /// The `data` object (ids only).
    pub data: Value,
}

/// Computes a signature: lowercase hex HMAC-SHA1 of `body` keyed with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Allowed filter keys per resource (for validation when webhooks are created).
pub fn filter_keys(resource: &str) -> &'static [&'static str] {
    match resource {
        "messages" => &[
            "roomId",
            "roomType",
            "personId",
            "personEmail",
            "mentionedPeople",
            "hasFiles",
        ],
        "attachmentActions" => &["roomId", "personId", "personEmail", "messageId"],
        "memberships" => &["roomId", "personId", "personEmail", "isModerator"],
        "rooms" => &["type", "isLocked"],
        _ => &[],
    }
}

/// Parses `k=v&k2=v2`.
pub fn parse_filter(filter: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(filter.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Whether `owner` may see `ev` (webhooks and Mercury alike): a member of the room; for a
/// card submission its author or submitter; a bot in a group room only its own messages and
/// those mentioning it.
pub fn owner_sees(world: &World, owner: &Uuid, ev: &Event) -> bool {
    let Some(person) = world.person(owner) else {
        return false;
    };
    let Some(room) = world.room(&ev.room) else {
        return false;
    };
    if !room.has_member(owner) {
        return false;
    }
    if let Some(author) = ev.card_author {
        // Card submissions go to the card's author (and the submitter's own webhooks).
        return author == *owner || ev.person == *owner;
    }
    if ev.resource == "messages" && person.kind == PersonType::Bot && room.kind == RoomType::Group {
        // Bots see group messages only when they wrote them or are mentioned.
        return ev.person == *owner || ev.mentioned.contains(owner);
    }
    true
}

fn filter_matches(owner: &Uuid, filter: &str, ev: &Event) -> bool {
    parse_filter(filter).iter().all(|(k, v)| match k.as_str() {
        "roomId" => resolve(Kind::Room, v) == Some(ev.room),
        "roomType" | "type" => v == ev.room_type.as_str(),
        "personId" => resolve(Kind::People, v) == Some(ev.person),
        "personEmail" => v.eq_ignore_ascii_case(&ev.person_email),
        "mentionedPeople" => v.split(',').any(|m| {
            let m = m.trim();
            if m == "me" {
                ev.mentioned.contains(owner)
            } else {
                resolve(Kind::People, m).is_some_and(|u| ev.mentioned.contains(&u))
            }
        }),
        "hasFiles" => (v == "true") == ev.has_files,
        "messageId" => resolve(Kind::Message, v) == ev.message,
        _ => true,
    })
}

/// One webhook delivery to post.
#[derive(Clone, Debug)]
pub struct Job {
    webhook: Uuid,
    /// The event is about the webhook owner's own message or action (its author or submitter
    /// is the owner: a bot's reply coming back to it).
    about_own: bool,
    url: String,
    body: Vec<u8>,
    signature: Option<String>,
}

/// Fans `ev` out to every matching active webhook (and to Mercury devices, see
/// [`crate::mercury::publish`]). Deliveries without an injected delay are
/// posted in event order by one drainer task (so a burst in a room arrives in order, as it
/// does from Webex in practice); delayed or reordered ones (fault injection) in tasks of
/// their own.
pub fn dispatch(state: &Arc<SimState>, world: &World, ev: &Event) {
    crate::mercury::publish(state, world, ev);
    let mut jobs = Vec::new();
    for w in &world.webhooks {
        if w.status != "active" {
            continue;
        }
        if w.resource != ev.resource && w.resource != "all" {
            continue;
        }
        if w.event != ev.event && w.event != "all" {
            continue;
        }
        if !owner_sees(world, &w.owner, ev) {
            continue;
        }
        if let Some(filter) = &w.filter {
            if !filter_matches(&w.owner, filter, ev) {
                continue;
            }
        }
        let mut env = Map::new();
        env.insert("id".into(), json!(encode(Kind::Webhook, &w.uuid)));
        env.insert("name".into(), json!(w.name));
        env.insert("targetUrl".into(), json!(w.target_url));
        env.insert("resource".into(), json!(ev.resource));
        env.insert("event".into(), json!(ev.event));
        if let Some(filter) = &w.filter {
            env.insert("filter".into(), json!(filter));
        }
        env.insert(
            "orgId".into(),
            json!(encode(Kind::Organization, &world.org)),
        );
        env.insert("createdBy".into(), json!(encode(Kind::People, &w.owner)));
        env.insert("appId".into(), json!(encode(Kind::Application, &world.app)));
        env.insert("ownedBy".into(), json!("creator"));
        env.insert("status".into(), json!(w.status));
        env.insert("created".into(), json!(World::ts(w.created_ms)));
        env.insert("actorId".into(), json!(encode(Kind::People, &ev.actor)));
        env.insert("data".into(), ev.data.clone());
        let body = Value::Object(env).to_string().into_bytes();
        let signature = w.secret.as_deref().map(|s| sign(s, &body));
        jobs.push(Job {
            webhook: w.uuid,
            about_own: ev.person == w.owner,
            url: w.target_url.clone(),
            body,
            signature,
        });
    }
    for job in jobs {
        let plan = lock(&state.faults).plan_delivery();
        if plan.drop {
            continue;
        }
        let times = if plan.duplicate { 2 } else { 1 };
        state
            .deliveries_in_flight
            .fetch_add(times, std::sync::atomic::Ordering::AcqRel);
        if plan.delay.is_zero() {
            let mut queue = lock(&state.delivery_queue);
            for _ in 0..times {
                queue.push_back(job.clone());
            }
            drop(queue);
            start_drainer(state);
            continue;
        }
        let state = Arc::clone(state);
        tokio::spawn(async move {
            tokio::time::sleep(plan.delay).await;
            for _ in 0..times {
                let ok = post(&state, &job).await;
                record_result(&state, &job.webhook, ok);
                delivered(&state);
            }
        });
    }
}

/// Starts the drainer of the in-order delivery queue unless one is running.
fn start_drainer(state: &Arc<SimState>) {
    use std::sync::atomic::Ordering;
    if state.delivery_draining.swap(true, Ordering::AcqRel) {
        return;
    }
    let state = Arc::clone(state);
    tokio::spawn(async move {
        loop {
            let next = lock(&state.delivery_queue).pop_front();
            match next {
                Some(job) => {
                    let ok = post(&state, &job).await;
                    record_result(&state, &job.webhook, ok);
                    delivered(&state);
                }
                None => {
                    state.delivery_draining.store(false, Ordering::Release);
                    // A job pushed between the pop and the store would wait forever: re-check.
                    if lock(&state.delivery_queue).is_empty()
                        || state.delivery_draining.swap(true, Ordering::AcqRel)
                    {
                        return;
                    }
                }
            }
        }
    });
}

/// One scheduled delivery finished (whatever its outcome).
fn delivered(state: &SimState) {
    let before = state
        .deliveries_in_flight
        .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    if before == 1 {
        state.deliveries_idle.notify_waiters();
    }
}

/// Posts one delivery; whether its target answered with a 2xx. The time to its answer is
/// recorded ([`crate::answer_times`]).
async fn post(state: &SimState, job: &Job) -> bool {
    let mut req = state
        .http
        .post(&job.url)
        .header("content-type", "application/json; charset=utf-8")
        .header("user-agent", "webex-sim webhook")
        .body(job.body.clone());
    if let Some(sig) = &job.signature {
        req = req.header("X-Spark-Signature", sig);
    }
    let started = std::time::Instant::now();
    match req.send().await {
        Ok(resp) => {
            lock(&state.answer_times).record(job.webhook, job.about_own, started.elapsed());
            resp.status().is_success()
        }
        Err(e) => {
            tracing::debug!(error = %e, "webhook delivery failed");
            false
        }
    }
}

fn record_result(state: &SimState, webhook: &Uuid, ok: bool) {
    let now = tokio::time::Instant::now();
    let mut world = state.world();
    let Some(w) = world.webhooks.iter_mut().find(|w| &w.uuid == webhook) else {
        return;
    };
    if ok {
        state
            .deliveries_answered
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        w.fragile = false;
        return;
    }
    if w.fragile {
        w.fragile = false;
        w.status = "inactive".to_string();
        w.disabled_at = Some(now);
        return;
    }
    w.failures.push_back(now);
    while let Some(first) = w.failures.front() {
        if now.duration_since(*first) > FAILURE_WINDOW {
            w.failures.pop_front();
        } else {
            break;
        }
    }
    if w.failures.len() >= FAILURE_LIMIT {
        w.status = "inactive".to_string();
        w.disabled_at = Some(now);
    }
}

/// `PUT` with `status: active`: the webhook gets deliveries again; one disabled by failed
/// deliveries less than [`FAILURE_WINDOW`] ago is disabled again by its next failure.
pub fn reactivate(w: &mut crate::model::Webhook) {
    let now = tokio::time::Instant::now();
    w.fragile = w.status != "active"
        && w.disabled_at
            .is_some_and(|at| now.duration_since(at) < FAILURE_WINDOW);
    w.status = "active".to_string();
    w.failures.clear();
}

/// Disables every webhook, as Webex does to a webhook after 100 failed deliveries within five
/// minutes (`status: inactive`; only a `PUT` with `status: active` re-activates it). Returns
/// how many were active.
pub fn disable_all(world: &mut World) -> usize {
    let now = tokio::time::Instant::now();
    let mut disabled = 0;
    for w in &mut world.webhooks {
        if w.status == "active" {
            disabled += 1;
            w.disabled_at = Some(now);
        }
        w.status = "inactive".to_string();
        w.failures.clear();
    }
    disabled
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_lowercase_hex_hmac_sha1() {
        // RFC 2202 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    fn state_with_hook() -> (SimState, Uuid) {
        let state = SimState::new("http://127.0.0.1:1".into());
        let uuid = Uuid::new_v4();
        state.world().webhooks.push(crate::model::Webhook {
            uuid,
            name: "n".into(),
            target_url: "http://127.0.0.1:1/".into(),
            resource: "messages".into(),
            event: "created".into(),
            filter: None,
            secret: None,
            status: "active".into(),
            owner: Uuid::new_v4(),
            created_ms: 0,
            failures: Default::default(),
            disabled_at: None,
            fragile: false,
        });
        (state, uuid)
    }

    fn status(state: &SimState) -> String {
        state.world().webhooks[0].status.clone()
    }

    #[tokio::test(start_paused = true)]
    async fn hundred_failures_within_five_minutes_deactivate() {
        let (state, hook) = state_with_hook();
        for _ in 0..99 {
            record_result(&state, &hook, false);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        record_result(&state, &hook, true);
        assert_eq!(status(&state), "active");
        record_result(&state, &hook, false);
        assert_eq!(status(&state), "inactive");
    }

    #[tokio::test(start_paused = true)]
    async fn reactivated_within_five_minutes_the_next_failure_disables_again() {
        let (state, hook) = state_with_hook();
        for _ in 0..FAILURE_LIMIT {
            record_result(&state, &hook, false);
        }
        assert_eq!(status(&state), "inactive");
        tokio::time::advance(Duration::from_secs(60)).await;
        reactivate(&mut state.world().webhooks[0]);
        assert_eq!(status(&state), "active");
        record_result(&state, &hook, false);
        assert_eq!(status(&state), "inactive", "one failure is enough now");

        // Re-activated later than five minutes after: the usual threshold again.
        tokio::time::advance(FAILURE_WINDOW + Duration::from_secs(1)).await;
        reactivate(&mut state.world().webhooks[0]);
        record_result(&state, &hook, false);
        assert_eq!(status(&state), "active");
        // A success ends the lowered threshold too.
        disable_all(&mut state.world());
        reactivate(&mut state.world().webhooks[0]);
        record_result(&state, &hook, true);
        record_result(&state, &hook, false);
        assert_eq!(status(&state), "active");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_spread_over_more_than_five_minutes_do_not() {
        let (state, hook) = state_with_hook();
        for _ in 0..150 {
            record_result(&state, &hook, false);
            tokio::time::advance(Duration::from_secs(4)).await;
        }
        // 4 s apart, at most 76 failures fall inside any 300 s window.
        assert_eq!(status(&state), "active");
    }
}
