//! From an activity to the REST id of its message or card action.
//!
//! As fbradyirl/webex_bot does (`webex_bot/websockets/webex_websocket_client.py`,
//! `_get_base64_message_id`): take the conversation URL the activity carries (`target.url`,
//! `…/conversations/<targetId>`), replace `conversations/<targetId>` with `messages/<activityId>`
//! (or `attachment/actions/<activityId>` for a `cardAction`), and `GET` it with the bearer: the
//! answer's `id` is the REST id, with the right cluster in every Webex geography. The GET only
//! goes to a host trusted with the token (see [`super::TrustedOrigins`]).

use url::Url;

use super::frames::Activity;

/// What an activity refers to, and where to look up its REST id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRef {
    /// A message (`post`, `share`): `GET lookup` → `{"id": <REST message id>}`.
    Message {
        /// The conversation service's message URL.
        lookup: Url,
    },
    /// A card submission (`cardAction`): `GET lookup` → `{"id": <attachment action id>}`.
    AttachmentAction {
        /// The conversation service's attachment action URL.
        lookup: Url,
    },
}

impl MessageRef {
    /// The lookup URL.
    pub fn lookup(&self) -> &Url {
        match self {
            MessageRef::Message { lookup } | MessageRef::AttachmentAction { lookup } => lookup,
        }
    }

    /// The reference for `activity`, or `None` for verbs that are not a new message or a card
    /// submission, or when the activity has no usable conversation URL.
    pub fn from_activity(activity: &Activity) -> Option<Self> {
        let kind = if activity.is_new_message() {
            "messages"
        } else if activity.is_card_action() {
            "attachment/actions"
        } else {
            return None;
        };
        let lookup = lookup_url(
            activity.target.url.as_deref()?,
            &activity.target.id,
            kind,
            &activity.activity_id,
        )?;
        Some(if activity.is_card_action() {
            MessageRef::AttachmentAction { lookup }
        } else {
            MessageRef::Message { lookup }
        })
    }
}

/// Replaces the trailing `conversations/<target_id>` of `conversation_url` with
/// `<kind>/<activity_id>`. The ids must be plain path segments.
fn lookup_url(
    conversation_url: &str,
    target_id: &str,
    kind: &str,
    activity_id: &str,
) -> Option<Url> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !plain(target_id) || !plain(activity_id) {
        return None;
    }
    let mut url = Url::parse(conversation_url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let path = url.path().trim_end_matches('/').to_string();
    let prefix = path.strip_suffix(&format!("conversations/{target_id}"))?;
    url.set_path(&format!("{prefix}{kind}/{activity_id}"));
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mercury::frames::{Actor, Target};

    fn activity(verb: &str, url: Option<&str>) -> Activity {
        Activity {
            envelope_id: "env".into(),
            verb: verb.into(),
            activity_id: "11111111-2222-4333-8444-555555555555".into(),
            actor: Actor::default(),
            target: Target {
                id: "c0ffee00-0000-4000-8000-000000000000".into(),
                url: url.map(str::to_string),
                one_on_one: true,
            },
            object_type: None,
            parent_type: None,
            published: None,
            sequence_number: None,
        }
    }

    const CONV: &str = "https://conv-a.wbx2.com/conversation/api/v1/conversations/c0ffee00-0000-4000-8000-000000000000";

    #[test]
    fn posts_and_shares_map_to_the_message_url() {
        for verb in ["post", "share"] {
            let r = MessageRef::from_activity(&activity(verb, Some(CONV)));
            assert_eq!(
                r,
                Some(MessageRef::Message {
                    lookup: Url::parse("https://conv-a.wbx2.com/conversation/api/v1/messages/11111111-2222-4333-8444-555555555555").unwrap_or_else(|e| panic!("{e}"))
                })
            );
        }
    }

    #[test]
    fn card_actions_map_to_the_attachment_action_url() {
        let emulator = "http://127.0.0.1:4567/conversation/api/v1/conversations/c0ffee00-0000-4000-8000-000000000000/";
        let r = MessageRef::from_activity(&activity("cardAction", Some(emulator)));
        assert_eq!(
            r.map(|r| r.lookup().to_string()),
            Some("http://127.0.0.1:4567/conversation/api/v1/attachment/actions/11111111-2222-4333-8444-555555555555".into())
        );
    }

    #[test]
    fn other_verbs_and_bad_urls_give_none() {
        assert_eq!(
            MessageRef::from_activity(&activity("acknowledge", Some(CONV))),
            None
        );
        assert_eq!(MessageRef::from_activity(&activity("post", None)), None);
        assert_eq!(
            MessageRef::from_activity(&activity("post", Some("https://x.example/rooms/1"))),
            None
        );
        assert_eq!(
            MessageRef::from_activity(&activity(
                "post",
                Some("ftp://x/conversations/c0ffee00-0000-4000-8000-000000000000")
            )),
            None
        );
        let mut odd = activity("post", Some(CONV));
        odd.activity_id = "../../people/me".into();
        assert_eq!(MessageRef::from_activity(&odd), None);
    }
}
