//! The baseline most bots use: every interval, list the rooms, then list the messages of every
//! room, and answer what is new. Lives in the bench only, to compare against.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use webex_api::{
    ClientConfig, CreateMessage, ListMessages, ListRooms, MessageTarget, RoomType, WebexClient,
};

/// A client for `token` against `api_base` with a client-side budget of `rpm`.
pub fn client(api_base: &str, token: &str, rpm: u32) -> anyhow::Result<WebexClient> {
    let config = ClientConfig::new(token)
        .with_base_url_str(api_base)?
        .with_requests_per_minute(rpm);
    Ok(WebexClient::new(config)?)
}

/// Runs the naive poller as `me` (person id) until `stop` is set. Messages present at the first
/// pass are history and not answered; later ones are echoed back. `passes` counts finished
/// passes.
pub async fn run(
    client: WebexClient,
    me: String,
    interval: Duration,
    stop: Arc<AtomicBool>,
    passes: Arc<AtomicU64>,
) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let _ = pass(&client, &me, &mut seen, first).await;
        first = false;
        passes.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(interval).await;
    }
}

async fn pass(
    client: &WebexClient,
    me: &str,
    seen: &mut HashSet<String>,
    first: bool,
) -> anyhow::Result<()> {
    let rooms = client
        .list_rooms(&ListRooms {
            max: Some(1000),
            ..ListRooms::default()
        })
        .collect_all()
        .await?;
    for room in rooms {
        let mut filter = ListMessages::in_room(&room.id).with_max(50);
        if room.room_type == Some(RoomType::Group) {
            filter = filter.mentioning_me();
        }
        let Ok(Some(page)) = client.list_messages(&filter).try_next().await else {
            continue;
        };
        // Oldest first, so replies go out in order.
        for m in page.items.into_iter().rev() {
            if !seen.insert(m.id.clone()) || first || m.person_id == me {
                continue;
            }
            let text = m.text.clone().unwrap_or_default();
            let reply = CreateMessage::markdown(MessageTarget::Room(m.room_id.clone()), text);
            let _ = client.create_message(&reply).await;
        }
    }
    Ok(())
}
