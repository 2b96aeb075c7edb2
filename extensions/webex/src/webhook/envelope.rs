//! The JSON Webex posts to a webhook's `targetUrl`.
//!
//! Fields per <https://developer.webex.com/docs/webhooks> ("Webhook payload"): the envelope
//! repeats the webhook's own registration and adds `actorId` and `data`; `data` holds ids only,
//! never the message text (which is fetched with `GET /messages/{id}`). Parsing is lenient:
//! unknown fields are ignored and everything but `resource`/`event` may be absent.

use serde::Deserialize;

/// One webhook delivery (an event; it grows as Webex documents more fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Envelope {
    /// The webhook's id.
    #[serde(default)]
    pub id: Option<String>,
    /// The webhook's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The webhook's `targetUrl`.
    #[serde(default)]
    pub target_url: Option<String>,
    /// The watched resource (`messages`, `attachmentActions`, ...).
    pub resource: String,
    /// The event (`created`, `updated`, `deleted`).
    pub event: String,
    /// The webhook's filter.
    #[serde(default)]
    pub filter: Option<String>,
    /// The organisation of the webhook's owner.
    #[serde(default)]
    pub org_id: Option<String>,
    /// Who created the webhook.
    #[serde(default)]
    pub created_by: Option<String>,
    /// The integration's app id.
    #[serde(default)]
    pub app_id: Option<String>,
    /// `creator` or `org`.
    #[serde(default)]
    pub owned_by: Option<String>,
    /// The webhook's status.
    #[serde(default)]
    pub status: Option<String>,
    /// When the webhook was created.
    #[serde(default)]
    pub created: Option<String>,
    /// Who caused the event.
    #[serde(default)]
    pub actor_id: Option<String>,
    /// The affected object (ids only).
    #[serde(default)]
    pub data: Option<EnvelopeData>,
}

/// `data` of a delivery: the affected object, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnvelopeData {
    /// The object's id (message id, attachment action id, ...).
    #[serde(default)]
    pub id: Option<String>,
    /// The room.
    #[serde(default)]
    pub room_id: Option<String>,
    /// `direct` or `group`.
    #[serde(default)]
    pub room_type: Option<String>,
    /// The author (messages) or submitter (card actions).
    #[serde(default)]
    pub person_id: Option<String>,
    /// The author's email.
    #[serde(default)]
    pub person_email: Option<String>,
    /// People mentioned in the message.
    #[serde(default)]
    pub mentioned_people: Vec<String>,
    /// For card actions: the card's message id.
    #[serde(default)]
    pub message_id: Option<String>,
    /// When the object was created (RFC 3339).
    #[serde(default)]
    pub created: Option<String>,
}

impl Envelope {
    /// `resource:event`, e.g. `messages:created`.
    pub fn kind(&self) -> String {
        format!("{}:{}", self.resource, self.event)
    }

    /// `data.id`, when present and not blank.
    pub fn data_id(&self) -> Option<&str> {
        self.data
            .as_ref()
            .and_then(|d| d.id.as_deref())
            .map(str::trim)
            .filter(|id| !id.is_empty())
    }

    /// `data.created` as unix milliseconds, when present and valid RFC 3339.
    pub fn data_created_ms(&self) -> Option<i64> {
        let text = self.data.as_ref()?.created.as_deref()?;
        let at = webex_api::models::timestamp::parse(text)?;
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of developer.webex.com/docs/webhooks ("Webhook payload"), abbreviated ids.
    const DOC_EXAMPLE: &str = r#"{
      "id":"Y2lzY29zcGFyazovL3VzL1dFQkhPT0svZjRlNjA1NjAtNjYwMi00ZmIwLWEyNWEtOTQ5ODgxNjA5NDk3",
      "name":"New message in 'Project Unicorn' room",
      "resource":"messages",
      "event":"created",
      "filter":"roomId=Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0",
      "orgId":"OTZhYmMyYWEtM2RjYy0xMWU1LWExNTItZmUzNDgxOWNkYzlh",
      "createdBy":"Y2lzY29zcGFyazovL3VzL1BFT1BMRS8xZjdkZTVjYi04NTYxLTQ2NzEtYmMwMy1iYzk3NDMxNDQ0MmQ",
      "appId":"Y2lzY29zcGFyazovL3VzL0FQUExJQ0FUSU9OL0MyNzljYjMwYzAyOTE4MGJiNGJkYWViYjA2MWI3OTY1Y2RhMzliNjAyOTdjODUwM2YyNjZhYmY2NmM5OTllYzFm",
      "ownedBy":"creator",
      "status":"active",
      "actorId":"Y2lzY29zcGFyazovL3VzL1BFT1BMRS8xZjdkZTVjYi04NTYxLTQ2NzEtYmMwMy1iYzk3NDMxNDQ0MmQ",
      "data":{
        "id":"Y2lzY29zcGFyazovL3VzL01FU1NBR0UvOTJkYjNiZTAtNDNiZC0xMWU2LThhZTktZGQ1YjNkZmM1NjVk",
        "roomId":"Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0",
        "personId":"Y2lzY29zcGFyazovL3VzL1BFT1BMRS9mNWIzNjE4Ny1jOGRkLTQ3MjctOGIyZi1mOWM0NDdmMjkwNDY",
        "personEmail":"matt@example.com",
        "created":"2015-10-18T14:26:16.000Z",
        "someFutureField": {"x": 1}
      }
    }"#;

    #[test]
    fn parses_the_documented_example() {
        let env: Envelope = serde_json::from_str(DOC_EXAMPLE).unwrap();
        assert_eq!(env.kind(), "messages:created");
        assert_eq!(
            env.data_id(),
            Some(
                "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvOTJkYjNiZTAtNDNiZC0xMWU2LThhZTktZGQ1YjNkZmM1NjVk"
            )
        );
        assert_eq!(env.data_created_ms(), Some(1_445_178_376_000));
        assert_eq!(env.owned_by.as_deref(), Some("creator"));
        let data = env.data.unwrap();
        assert_eq!(data.person_email.as_deref(), Some("matt@example.com"));
        assert!(data.mentioned_people.is_empty());
    }

    #[test]
    fn resource_and_event_are_required() {
        assert!(serde_json::from_str::<Envelope>(r#"{"test": true}"#).is_err());
        assert!(serde_json::from_str::<Envelope>(r#"{"resource":"messages"}"#).is_err());
    }

    #[test]
    fn blank_or_missing_data_id_is_none() {
        let env: Envelope =
            serde_json::from_str(r#"{"resource":"messages","event":"created"}"#).unwrap();
        assert_eq!(env.data_id(), None);
        let env: Envelope =
            serde_json::from_str(r#"{"resource":"messages","event":"created","data":{"id":"  "}}"#)
                .unwrap();
        assert_eq!(env.data_id(), None);
    }

    #[test]
    fn bad_created_falls_back_to_none() {
        let env: Envelope = serde_json::from_str(
            r#"{"resource":"messages","event":"created","data":{"id":"m","created":"yesterday"}}"#,
        )
        .unwrap();
        assert_eq!(env.data_created_ms(), None);
    }
}
