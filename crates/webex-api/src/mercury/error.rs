//! [`MercuryError`]: why a Mercury call or connection ended, and what the caller should do next.

use crate::error::Error;

/// Close codes Mercury uses for authentication failures: 4401 NotAuthorized, 4403 Forbidden,
/// 1008 "authentication failed" / authorization timeout (webex-js-sdk
/// `internal-plugin-mercury/src/mercury.js`, `_onclose`).
pub const AUTH_CLOSE_CODES: [u16; 3] = [4401, 4403, 1008];

/// What a caller should do after a [`MercuryError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Check the token (`GET /people/me`): stop with a clear error if it is bad, else register
    /// the device again and reconnect.
    CheckToken,
    /// The device is gone: register again (a fresh device), then reconnect.
    Reregister,
    /// Reconnect to the same device after a backoff ([`super::reconnect_backoff`]).
    Reconnect,
    /// Nothing will help without a change (configuration, a bad URL).
    GiveUp,
}

/// Everything that can end a Mercury call or connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MercuryError {
    /// A REST call (catalog, devices, activity lookup) failed.
    #[error(transparent)]
    Api(#[from] Error),
    /// The catalog has no `serviceLinks.wdm`.
    #[error("the Webex service catalog names no wdm (device) service")]
    NoWdm,
    /// Mercury closed with an authentication code (4401, 4403, 1008), or refused the upgrade
    /// with 401/403.
    #[error("Mercury refused the token (close code {code}: {reason})")]
    Auth {
        /// The close code, or the HTTP status of a refused upgrade.
        code: u16,
        /// The reason Mercury gave (may be empty).
        reason: String,
    },
    /// The websocket upgrade answered 404: the device registration is gone.
    #[error("Mercury answered 404 on the websocket upgrade: the device registration is gone")]
    DeviceGone,
    /// Registering again after [`MercuryError::DeviceGone`] kept failing.
    #[error("the device registration was gone {attempts} times in a row")]
    DeviceChurn {
        /// How many registrations were tried.
        attempts: u32,
    },
    /// Mercury closed the socket with another code (or the socket ended without a close frame:
    /// code 1006).
    #[error("Mercury closed the websocket (code {code}: {reason})")]
    Closed {
        /// The close code.
        code: u16,
        /// The reason Mercury gave (may be empty).
        reason: String,
    },
    /// No pong arrived in time for our ping.
    #[error("Mercury did not answer a ping within {0:?}")]
    PongTimeout(std::time::Duration),
    /// A pong arrived with another id than the ping pending (webex-js-sdk closes on this too).
    #[error("Mercury answered a ping with a mismatched pong id")]
    PongMismatch,
    /// The socket opened but Mercury sent no buffer-state or registration-status event in time.
    #[error("Mercury sent no buffer-state or registration-status event within {0:?}")]
    ReadyTimeout(std::time::Duration),
    /// The websocket (or TLS, or TCP) failed.
    #[error("websocket error talking to Mercury: {0}")]
    Socket(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// Connecting failed before the websocket handshake (TCP, TLS, proxy).
    #[error("cannot reach Mercury at {host}: {reason}")]
    Connect {
        /// `host:port` dialled (the proxy's when one is used).
        host: String,
        /// What went wrong.
        reason: String,
    },
    /// A URL given to or received by the client is unusable, or points at a host not trusted
    /// with the token.
    #[error("invalid Mercury URL: {0}")]
    InvalidUrl(String),
}

impl MercuryError {
    /// What the caller should do next (the reconnect policy is the caller's).
    pub fn recovery(&self) -> Recovery {
        match self {
            MercuryError::Auth { .. } => Recovery::CheckToken,
            MercuryError::DeviceGone => Recovery::Reregister,
            MercuryError::Api(err) if matches!(err.status(), Some(401)) => Recovery::CheckToken,
            MercuryError::Api(
                Error::Config(_) | Error::ForeignHost { .. } | Error::InvalidUrl(_),
            )
            | MercuryError::InvalidUrl(_)
            | MercuryError::NoWdm => Recovery::GiveUp,
            _ => Recovery::Reconnect,
        }
    }

    /// Maps a websocket close frame (code, reason) to an error.
    pub fn from_close(code: u16, reason: &str) -> Self {
        if AUTH_CLOSE_CODES.contains(&code) {
            MercuryError::Auth {
                code,
                reason: reason.to_string(),
            }
        } else {
            MercuryError::Closed {
                code,
                reason: reason.to_string(),
            }
        }
    }

    /// Maps a failed websocket handshake or socket error.
    pub(crate) fn from_socket(err: tokio_tungstenite::tungstenite::Error) -> Self {
        use tokio_tungstenite::tungstenite::Error as WsError;
        if let WsError::Http(response) = &err {
            match response.status().as_u16() {
                404 => return MercuryError::DeviceGone,
                code @ (401 | 403) => {
                    return MercuryError::Auth {
                        code,
                        reason: "websocket upgrade refused".into(),
                    }
                }
                _ => {}
            }
        }
        MercuryError::Socket(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_close_codes_ask_for_a_token_check() {
        for code in [4401, 4403, 1008] {
            let err = MercuryError::from_close(code, "nope");
            assert!(matches!(err, MercuryError::Auth { code: c, .. } if c == code));
            assert_eq!(err.recovery(), Recovery::CheckToken);
        }
    }

    #[test]
    fn other_close_codes_reconnect() {
        for code in [1000, 1001, 1005, 1006, 1011, 4000, 4400] {
            let err = MercuryError::from_close(code, "");
            assert!(matches!(err, MercuryError::Closed { .. }), "{code}");
            assert_eq!(err.recovery(), Recovery::Reconnect, "{code}");
        }
    }

    #[test]
    fn upgrade_statuses_map_to_device_gone_or_auth() {
        use tokio_tungstenite::tungstenite::http::Response;
        use tokio_tungstenite::tungstenite::Error as WsError;
        let refused = |status: u16| {
            let response = Response::builder()
                .status(status)
                .body(None)
                .unwrap_or_default();
            MercuryError::from_socket(WsError::Http(Box::new(response)))
        };
        assert!(matches!(refused(404), MercuryError::DeviceGone));
        assert_eq!(refused(404).recovery(), Recovery::Reregister);
        assert!(matches!(refused(401), MercuryError::Auth { code: 401, .. }));
        assert!(matches!(refused(403), MercuryError::Auth { code: 403, .. }));
        assert_eq!(refused(502).recovery(), Recovery::Reconnect);
    }

    #[test]
    fn a_rest_401_asks_for_a_token_check() {
        let err = MercuryError::Api(Error::Api {
            status: 401,
            message: "bad token".into(),
            tracking_id: None,
            body: String::new(),
        });
        assert_eq!(err.recovery(), Recovery::CheckToken);
    }
}
