//! What the request-budget tests share: a burst of DMs and the busiest minute of the bot's
//! requests at the emulator. Included with `#[path]` by the tests that need it.

#![allow(dead_code)]

use std::sync::Arc;

use moltbot_testkit::World;
use webex_sim::RecordedRequest;

/// The most requests in any 60 s window (by arrival at the emulator).
pub fn busiest_minute(requests: &[RecordedRequest]) -> usize {
    let times: Vec<u64> = requests.iter().map(|r| r.at_ms).collect();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .filter(|t| **t < times[i] + 60_000)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Each of `people` DMs the bot `each` messages (`<name> #<n>`), all people at once, each
/// person's in order; returns their rooms, in the order of `people`.
pub async fn dm_burst(world: &Arc<World>, people: &[String], each: usize) -> Vec<String> {
    let sends: Vec<_> = people
        .iter()
        .map(|name| {
            let (world, name) = (Arc::clone(world), name.clone());
            tokio::spawn(async move {
                let mut room = String::new();
                for n in 0..each {
                    room = world
                        .user(&name)
                        .dm_bot(&format!("{name} #{n}"))
                        .await
                        .room_id;
                }
                room
            })
        })
        .collect();
    let mut rooms = Vec::new();
    for send in sends {
        rooms.push(send.await.expect("a DM sender task"));
    }
    rooms
}
