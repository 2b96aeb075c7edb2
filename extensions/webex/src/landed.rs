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

/// The id of a message the bot posted at or after `since` with exactly this content, if the
/// destination lets the bot see it: the same markdown (none for a message without text), the
/// same thread, the same card (or none), and the same file (or none). `file` is the name of
/// an uploaded file; a file is recognised by its URL (a `files: [url]` Webex kept as given) or
/// by its name (`HEAD` on the content URL, `Content-Disposition`), so a reply's second file is
/// never mistaken for its first.
pub async fn find_landed(
    shared: &WebexShared,
    message: &OutgoingMessage,
    file: Option<&str>,
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
    let markdown = (!message.markdown.is_empty()).then_some(message.markdown.as_str());
    let card = message.card.as_ref().map(crate::outgoing::card_attachment);
    let wants_file = file.is_some() || message.file.is_some();
    for m in recent {
        let same = same_entity(&m.person_id, &bot.id)
            && m.markdown.as_deref().filter(|md| !md.is_empty()) == markdown
            && m.parent_id == message.parent_id
            && m.created.is_none_or(|created| created >= since)
            && m.attachments.first() == card.as_ref()
            && m.files.is_empty() != wants_file;
        if !same {
            continue;
        }
        if !wants_file || same_file(shared, &m.files, message.file.as_deref(), file).await {
            return Some(m.id);
        }
    }
    None
}

/// Whether the one file of a message found (`files`) is the file sent: the URL sent, or a
/// file of the expected name (its URL's last segment for a URL file).
async fn same_file(
    shared: &WebexShared,
    files: &[String],
    url: Option<&str>,
    name: Option<&str>,
) -> bool {
    let [found] = files else {
        return false;
    };
    if url == Some(found.as_str()) {
        return true;
    }
    let expected = name.map(str::to_string).or_else(|| {
        url.map(|u| {
            moltbot_core::agent::ReplyFile::Url(u.to_string())
                .name()
                .to_string()
        })
    });
    let Some(expected) = expected else {
        return false;
    };
    match shared.client.file_info(found, true).await {
        Ok(info) => info.filename.as_deref() == Some(expected.as_str()),
        Err(_) => false,
    }
}
