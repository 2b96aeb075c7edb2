//! After a send whose outcome is unknown (a 5xx or a timeout once the request reached Webex),
//! look for the message before sending it again.
//!
//! Webex has no idempotency key for `POST /messages`. A bot can list the messages of a 1:1 room
//! (and `GET /messages/direct`), so there the check is exact. In a space a bot may only list
//! messages that mention it (see developer.webex.com/docs/bots, "bots can only see messages in
//! which they are mentioned"), so its own replies are invisible: the check finds nothing and the
//! gateway sends again, accepting a possible duplicate rather than a lost reply.

use futures::StreamExt;
use moltbot_core::gateway::{OutgoingMessage, SendTarget};
use time::OffsetDateTime;
use webex_api::{same_entity, DirectPeer, ListMessages};

use crate::shared::WebexShared;

/// How many of the newest messages are searched.
const RECENT: usize = 10;

/// The id of a message the bot posted at or after `since` with exactly this markdown, if the
/// destination lets the bot see it.
pub async fn find_landed(
    shared: &WebexShared,
    message: &OutgoingMessage,
    since: OffsetDateTime,
) -> Option<String> {
    let bot = shared.bot()?;
    let client = &shared.client;
    let recent = match &message.target {
        SendTarget::Room(id) => client
            .list_messages(&ListMessages::in_room(id.clone()).with_max(RECENT as u32))
            .items(),
        SendTarget::Person(id) => client
            .list_direct_messages(&DirectPeer::PersonId(id.clone()))
            .items(),
        SendTarget::Email(email) => client
            .list_direct_messages(&DirectPeer::PersonEmail(email.clone()))
            .items(),
    };
    // A refused listing (a space) ends the stream with an error: nothing can be checked.
    let recent: Vec<_> = recent
        .take(RECENT)
        .take_while(|item| futures::future::ready(item.is_ok()))
        .filter_map(|item| futures::future::ready(item.ok()))
        .collect()
        .await;
    let since = since - time::Duration::seconds(5);
    recent
        .into_iter()
        .find(|m| {
            same_entity(&m.person_id, &bot.id)
                && m.markdown.as_deref() == Some(message.markdown.as_str())
                && m.parent_id == message.parent_id
                && m.created.is_none_or(|created| created >= since)
        })
        .map(|m| m.id)
}
