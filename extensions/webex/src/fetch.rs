//! `GET /messages/{id}` for the gateway ([`Channel::refetch`](moltbot_core::gateway::Channel)):
//! what Webex's answer means for a claimed message.
//!
//! | Webex answers | [`Fetched`] / error | why |
//! |---|---|---|
//! | the message, from someone else | `Ready` | |
//! | the message, from the bot | `Skip("own message")` | never answered |
//! | 404 (after the short retry of [`fetch_with_retry`]) | `NotYet` | Webex answers 404 for a message not readable yet (replication lag) as well as for a deleted one; it is retried until `catchUp.maxAgeMinutes` after its creation |
//! | 429 (after the client's own retries) | `NotYet`, with its `Retry-After` | |
//! | 5xx, timeout, network error | `NotYet` | |
//! | 403 | `Skip("the bot may not read this message (403)")` | the same call fails the same way |
//! | 401 | `Err` of kind [`Auth`](ChannelErrorKind::Auth) | the token is bad: the gateway stops, the message stays pending |
//! | any other refusal (400, 410, an answer that is not a message) | `Skip("Webex refused to return this message")` | |
//!
//! Webex status codes: <https://developer.webex.com/docs/basics> ("API Errors").

use moltbot_core::gateway::{ChannelError, ChannelErrorKind, Fetched};

use crate::channel::failed_call;
use crate::inbound::{fetch_with_retry, normalize};
use crate::shared::WebexShared;

/// The skip reason of the bot's own messages (the same phrase the sink uses).
pub use moltbot_core::gateway::OWN_MESSAGE;

/// The skip reason of a message Webex refuses to show the bot (403).
pub const FORBIDDEN: &str = "the bot may not read this message (403)";

/// The skip reason of a message Webex refuses to return for another lasting reason.
pub const REFUSED: &str = "Webex refused to return this message";

/// Fetches message `message_id` and says what the gateway should do with it (see the module
/// docs for the mapping).
///
/// # Errors
/// Only a refused token (kind [`Auth`](ChannelErrorKind::Auth)).
pub async fn refetch(shared: &WebexShared, message_id: &str) -> Result<Fetched, ChannelError> {
    if crate::cards::is_card_submission(message_id) {
        return crate::cards::refetch(shared, message_id).await;
    }
    let Some(bot) = shared.bot() else {
        return Ok(Fetched::not_yet("not connected to Webex yet"));
    };
    match fetch_with_retry(shared, message_id).await {
        Ok(message) => Ok(match normalize(bot, &message) {
            Some(inbound) => Fetched::ready(inbound),
            None => Fetched::skip(OWN_MESSAGE),
        }),
        Err(err) => outcome_of_error(message_id, err),
    }
}

/// What a failed `GET /messages/{message_id}` means (see the module docs).
///
/// # Errors
/// A 401, as a [`ChannelErrorKind::Auth`] error naming the bad token.
pub fn outcome_of_error(message_id: &str, err: webex_api::Error) -> Result<Fetched, ChannelError> {
    outcome_of_call(&format!("GET /messages/{message_id}"), err)
}

/// What a failed `call` (e.g. `GET /attachment/actions/{id}`) made to read a claimed event
/// means: the same mapping as for a message (see the module docs).
///
/// # Errors
/// A 401, as a [`ChannelErrorKind::Auth`] error naming the bad token.
pub fn outcome_of_call(call: &str, err: webex_api::Error) -> Result<Fetched, ChannelError> {
    let status = err.status();
    let retry_after = match &err {
        webex_api::Error::RateLimited { retry_after, .. } => Some(*retry_after),
        _ => None,
    };
    let error = failed_call(err, call);
    let evidence = moltbot_core::error::chain(&error).to_string();
    Ok(match (status, error.kind()) {
        (Some(401), _) | (_, ChannelErrorKind::Auth) => return Err(error),
        (Some(404), _) => Fetched::not_yet(format!(
            "{evidence} (not readable yet, or deleted; retried until catchUp.maxAgeMinutes after its creation)"
        )),
        (Some(403), _) => Fetched::skip(FORBIDDEN).with_detail(evidence),
        (_, ChannelErrorKind::Permanent) => Fetched::skip(REFUSED).with_detail(evidence),
        // Transient, and a client that cannot work (config): nothing to skip the message for;
        // it is retried, and given up with the others once too old.
        _ => match retry_after {
            Some(wait) => Fetched::not_yet(evidence).with_retry_after(wait),
            None => Fetched::not_yet(evidence),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ops::cause::tests::api;

    fn outcome(err: webex_api::Error) -> Result<Fetched, ChannelError> {
        outcome_of_error("M1", err)
    }

    #[test]
    fn a_404_is_not_yet_readable_and_says_so() {
        let Ok(Fetched::NotYet {
            retry_after,
            reason,
        }) = outcome(api(404))
        else {
            panic!("404 must be NotYet");
        };
        assert_eq!(retry_after, None);
        assert!(
            reason
                .starts_with("GET /messages/M1 failed: Webex API error 404: nope (trackingId T1)"),
            "{reason}"
        );
        assert!(reason.contains("not readable yet, or deleted"), "{reason}");
    }

    #[test]
    fn server_errors_timeouts_and_rate_limits_are_not_yet() {
        for err in [api(500), api(502), api(503), webex_api::Error::Timeout] {
            let shown = err.to_string();
            assert!(
                matches!(
                    outcome(err),
                    Ok(Fetched::NotYet {
                        retry_after: None,
                        ..
                    })
                ),
                "{shown}"
            );
        }
        let limited = outcome(webex_api::Error::RateLimited {
            retry_after: Duration::from_secs(7),
            tracking_id: None,
        });
        assert!(
            matches!(limited, Ok(Fetched::NotYet { retry_after: Some(d), .. }) if d == Duration::from_secs(7)),
            "{limited:?}"
        );
    }

    #[test]
    fn a_403_is_skipped_with_its_reason_and_evidence() {
        assert_eq!(
            outcome(api(403)).unwrap(),
            Fetched::skip(FORBIDDEN)
                .with_detail("GET /messages/M1 failed: Webex API error 403: nope (trackingId T1)")
        );
        assert!(matches!(outcome(api(400)), Ok(Fetched::Skip { reason, .. }) if reason == REFUSED));
    }

    #[test]
    fn a_401_is_an_auth_error_naming_the_bad_token() {
        let err = outcome(api(401)).unwrap_err();
        assert_eq!(err.kind(), ChannelErrorKind::Auth);
        let shown = moltbot_core::error::chain(&err).to_string();
        assert!(shown.contains("GET /messages/M1 failed"), "{shown}");
        assert!(shown.contains("the bot token is invalid"), "{shown}");
        assert!(shown.contains("401"), "{shown}");
    }
}
