//! The scenarios (the five of issue 7, the burst of issue 11 and websocket mode of issue 13),
//! each producing a [`Section`](crate::report::Section).

pub mod burst;
pub mod faults;
pub mod ha;
pub mod latency;
pub mod memory;
pub mod polling;
pub mod throughput;
pub mod websocket;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use moltbot_testkit::wait;
use webex_api::WebexClient;
use webex_sim::{SimPerson, SimServer};

use crate::world::{send_dm, Tracker, World};

/// One message a user sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Message id.
    pub id: String,
    /// Room id.
    pub room: String,
    /// Its (unique) text.
    pub text: String,
    /// When `POST /messages` returned.
    pub at: Instant,
}

/// Called for every message sent, as soon as its `POST /messages` returned.
pub type OnSent = Arc<dyn Fn(&Sent) + Send + Sync>;

/// Sends `n` DMs to `bot_email` at `rate` per second (users round robin, texts `"{tag} {i}"`),
/// each in its own task. Returns what was sent (failures after retries are left out).
pub async fn send_steady(
    world: &World,
    bot_email: &str,
    tag: &str,
    n: usize,
    rate: f64,
    on_sent: Option<OnSent>,
) -> Vec<Sent> {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        ticker.tick().await;
        tasks.push(tokio::spawn(send_one(
            Arc::clone(&world.sim),
            world.users[i % world.users.len()].clone(),
            bot_email.to_string(),
            format!("{tag} {i}"),
            on_sent.clone(),
        )));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        if let Ok(Some(s)) = t.await {
            out.push(s);
        }
    }
    out
}

/// Sends `n` DMs to `bot_email` as fast as `concurrency` senders allow.
pub async fn send_burst(
    world: &World,
    bot_email: &str,
    tag: &str,
    n: usize,
    concurrency: usize,
) -> Vec<Sent> {
    send_burst_with(world, bot_email, tag, n, concurrency, None).await
}

/// [`send_burst`], calling `on_sent` for every message as soon as its `POST` returned.
pub async fn send_burst_with(
    world: &World,
    bot_email: &str,
    tag: &str,
    n: usize,
    concurrency: usize,
    on_sent: Option<OnSent>,
) -> Vec<Sent> {
    let users = world.users.clone();
    stream::iter(0..n)
        .map(|i| {
            send_one(
                Arc::clone(&world.sim),
                users[i % users.len()].clone(),
                bot_email.to_string(),
                format!("{tag} {i}"),
                on_sent.clone(),
            )
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|s| async move { s })
        .collect()
        .await
}

/// For every message sent to a bot the gateway runs: expect `bot_id`'s reply (the echo of the
/// text) in `tracker` under `series`.
pub fn expect_reply(tracker: &Arc<Tracker>, series: &'static str, bot_id: &str) -> OnSent {
    let (tracker, bot) = (Arc::clone(tracker), bot_id.to_string());
    Arc::new(move |s: &Sent| tracker.expect(series, &s.room, &bot, &s.text, s.at))
}

/// The floor: for every message sent to the floor bot (`bot_id`, whose token `client` has),
/// expect its reply in `tracker` under `series`, and as soon as the user's `POST` returned do
/// the two calls any bot must do ([`crate::floor::reply`]: `GET /messages/{id}` and `POST
/// /messages` with the text back), in a task of its own. Nothing else: no webhook hop, store,
/// queue or agent, and no ordering within a room. [`crate::floor::WebhookFloor`] is the same
/// floor behind a webhook.
pub fn floor_responder(
    tracker: &Arc<Tracker>,
    series: &'static str,
    bot_id: &str,
    client: WebexClient,
) -> OnSent {
    let (tracker, bot) = (Arc::clone(tracker), bot_id.to_string());
    Arc::new(move |s: &Sent| {
        tracker.expect(series, &s.room, &bot, &s.text, s.at);
        let (client, id) = (client.clone(), s.id.clone());
        tokio::spawn(async move { crate::floor::reply(&client, &id).await });
    })
}

async fn send_one(
    sim: Arc<SimServer>,
    user: SimPerson,
    bot_email: String,
    text: String,
    on_sent: Option<OnSent>,
) -> Option<Sent> {
    match send_dm(&sim, &user, &bot_email, &text).await {
        Ok((id, room, at)) => {
            let sent = Sent { id, room, text, at };
            if let Some(f) = &on_sent {
                f(&sent);
            }
            Some(sent)
        }
        Err(err) => {
            eprintln!("send failed: {err}");
            None
        }
    }
}

/// Every user DMs `bot` once (opening the 1:1 rooms) and, when `answered` is set, waits until
/// the bot answered all of them. Returns the rooms.
pub async fn warm_up(
    world: &World,
    bot: &SimPerson,
    answered: bool,
) -> anyhow::Result<Vec<String>> {
    let sent = send_burst(
        world,
        &bot.email,
        &format!("warm-up {}", bot.email),
        world.users.len(),
        8,
    )
    .await;
    let rooms: Vec<String> = sent.iter().map(|s| s.room.clone()).collect();
    if answered {
        let all = || (answered_in(&world.sim, bot, &rooms) >= rooms.len()).then_some(());
        if wait::until(Duration::from_secs(30), all).await.is_err() {
            anyhow::bail!("warm-up messages were not answered within 30 s");
        }
    }
    Ok(rooms)
}

/// How many messages `bot` has in `rooms` in total.
pub fn answered_in(sim: &SimServer, bot: &SimPerson, rooms: &[String]) -> usize {
    rooms.iter().map(|r| sim.messages_by(bot, r).len()).sum()
}

/// Waits until `bot` has `target` messages in `rooms` (or `timeout`); returns the moment the
/// count was first seen reached, or `None` on timeout.
pub async fn wait_answered(
    sim: &SimServer,
    bot: &SimPerson,
    rooms: &[String],
    target: usize,
    poll: Duration,
    timeout: Duration,
) -> Option<Instant> {
    wait::until_every(poll, timeout, || {
        (answered_in(sim, bot, rooms) >= target).then(Instant::now)
    })
    .await
    .ok()
}

/// The distinct rooms of `sent`.
pub fn rooms_of(sent: &[Sent]) -> Vec<String> {
    let mut rooms: Vec<String> = sent.iter().map(|s| s.room.clone()).collect();
    rooms.sort();
    rooms.dedup();
    rooms
}

/// `(room, text)` pairs of `sent`, for [`crate::world::outcome`].
pub fn pairs(sent: &[Sent]) -> Vec<(String, String)> {
    sent.iter()
        .map(|s| (s.room.clone(), s.text.clone()))
        .collect()
}
