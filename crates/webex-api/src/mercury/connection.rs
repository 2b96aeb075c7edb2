//! [`MercuryConnection`]: an authorized Mercury socket that yields events and keeps itself alive.
//!
//! After the upgrade the client sends the authorization frame and waits for a
//! `mercury.buffer_state` or `mercury.registration_status` event before it reports the
//! connection ready (webex-js-sdk `internal-plugin-mercury/src/mercury.js`, `_connectWithBackoff`
//! / `_onmessage`). Keepalive follows webex-js-sdk `socket/socket-base.js` and `config.js`: a JSON
//! ping every [`Keepalive::ping_interval`] (15 s), its pong expected within
//! [`Keepalive::pong_timeout`] (14 s); no pong or a pong for another ping ends the connection with
//! an error. The pings are sent from inside [`MercuryConnection::next_event`], so a caller that
//! keeps calling it keeps the socket alive. The client never acks by itself: the caller calls
//! [`MercuryConnection::ack`] once it has durably claimed the event.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::error::MercuryError;
use super::frames::{self, Incoming, MercuryEvent};

/// Keepalive and readiness timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Time between two pings (webex-js-sdk `pingInterval`: 15 s).
    pub ping_interval: Duration,
    /// How long a ping may wait for its pong (webex-js-sdk `pongTimeout`: 14 s).
    pub pong_timeout: Duration,
    /// How long to wait for the ready event after sending the authorization frame.
    pub ready_timeout: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(15),
            pong_timeout: Duration::from_secs(14),
            ready_timeout: Duration::from_secs(20),
        }
    }
}

/// An authorized, ready Mercury socket over any stream `S` (TCP, TLS, or an in-memory duplex in
/// tests).
pub struct MercuryConnection<S> {
    ws: WebSocketStream<S>,
    keepalive: Keepalive,
    /// The ping awaiting its pong, and the deadline.
    pending_ping: Option<(String, Instant)>,
    next_ping: Instant,
    /// Events read during the handshake, delivered first.
    queued: VecDeque<MercuryEvent>,
}

impl<S> std::fmt::Debug for MercuryConnection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MercuryConnection")
            .field("keepalive", &self.keepalive)
            .field(
                "pending_ping",
                &self.pending_ping.as_ref().map(|(id, _)| id),
            )
            .field("queued", &self.queued.len())
            .finish()
    }
}

impl<S> MercuryConnection<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Sends the authorization frame on an upgraded socket and waits for the ready event.
    ///
    /// Errors: [`MercuryError::Auth`] when Mercury closes with 4401/4403/1008,
    /// [`MercuryError::ReadyTimeout`] when no ready event comes in time, socket errors.
    pub async fn authorize(
        ws: WebSocketStream<S>,
        token: &str,
        keepalive: Keepalive,
    ) -> Result<Self, MercuryError> {
        let mut conn = Self {
            ws,
            keepalive,
            pending_ping: None,
            next_ping: Instant::now() + keepalive.ping_interval,
            queued: VecDeque::new(),
        };
        let id = uuid::Uuid::new_v4().to_string();
        conn.send(frames::authorization(&id, token)).await?;
        let deadline = Instant::now() + keepalive.ready_timeout;
        loop {
            let frame = tokio::select! {
                frame = conn.ws.next() => frame,
                () = sleep_until(deadline) => {
                    return Err(MercuryError::ReadyTimeout(keepalive.ready_timeout));
                }
            };
            match read(frame)? {
                Some(Incoming::Event(event)) => {
                    let ready = event.is_ready_signal();
                    conn.queued.push_back(event);
                    if ready {
                        break;
                    }
                }
                Some(Incoming::Unparsed(why)) => tracing::debug!(%why, "skipping a Mercury frame"),
                Some(Incoming::Pong(_)) | None => {}
            }
        }
        conn.next_ping = Instant::now() + keepalive.ping_interval;
        Ok(conn)
    }

    /// The next event, sending pings as they fall due. Events include the ready event and
    /// events this crate does not model ([`MercuryEvent::Other`]); frames that do not parse are
    /// logged and skipped.
    ///
    /// Errors end the connection: a close frame ([`MercuryError::Auth`] or
    /// [`MercuryError::Closed`]), no pong in time ([`MercuryError::PongTimeout`]), a pong for
    /// another ping ([`MercuryError::PongMismatch`]), a socket error. See
    /// [`MercuryError::recovery`].
    pub async fn next_event(&mut self) -> Result<MercuryEvent, MercuryError> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Ok(event);
            }
            let wake = match &self.pending_ping {
                Some((_, deadline)) => *deadline,
                None => self.next_ping,
            };
            let frame = tokio::select! {
                frame = self.ws.next() => frame,
                () = sleep_until(wake) => {
                    self.on_timer().await?;
                    continue;
                }
            };
            match read(frame)? {
                Some(Incoming::Event(event)) => return Ok(event),
                Some(Incoming::Pong(id)) => self.on_pong(id)?,
                Some(Incoming::Unparsed(why)) => tracing::debug!(%why, "skipping a Mercury frame"),
                None => {}
            }
        }
    }

    /// Acknowledges one envelope (its [`MercuryEvent::envelope_id`]). Call it only after the
    /// event is durably claimed: Mercury redelivers un-acked events after a reconnect.
    pub async fn ack(&mut self, envelope_id: &str) -> Result<(), MercuryError> {
        self.send(frames::ack(envelope_id)).await
    }

    /// Closes the socket politely (code 1000); errors are ignored.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    async fn on_timer(&mut self) -> Result<(), MercuryError> {
        if self.pending_ping.is_some() {
            return Err(MercuryError::PongTimeout(self.keepalive.pong_timeout));
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.send(frames::ping(&id)).await?;
        let now = Instant::now();
        self.pending_ping = Some((id, now + self.keepalive.pong_timeout));
        self.next_ping = now + self.keepalive.ping_interval;
        Ok(())
    }

    fn on_pong(&mut self, id: Option<String>) -> Result<(), MercuryError> {
        match &self.pending_ping {
            Some((pending, _)) if id.as_deref() == Some(pending.as_str()) => {
                self.pending_ping = None;
                Ok(())
            }
            Some(_) => Err(MercuryError::PongMismatch),
            // A pong nobody waits for (late, or unsolicited): harmless.
            None => Ok(()),
        }
    }

    async fn send(&mut self, text: String) -> Result<(), MercuryError> {
        self.ws
            .send(Message::text(text))
            .await
            .map_err(MercuryError::from_socket)
    }
}

/// One websocket read: `Ok(None)` for control frames, errors for close and end of stream.
fn read(
    frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Result<Option<Incoming>, MercuryError> {
    match frame {
        None => Err(MercuryError::Closed {
            code: 1006,
            reason: "the connection ended without a close frame".into(),
        }),
        Some(Err(err)) => Err(MercuryError::from_socket(err)),
        Some(Ok(Message::Text(text))) => Ok(Some(frames::parse_frame(text.as_bytes()))),
        Some(Ok(Message::Binary(bytes))) => Ok(Some(frames::parse_frame(&bytes))),
        Some(Ok(Message::Close(Some(close)))) => {
            Err(MercuryError::from_close(close.code.into(), &close.reason))
        }
        Some(Ok(Message::Close(None))) => Err(MercuryError::Closed {
            code: 1005,
            reason: String::new(),
        }),
        // Websocket pings are answered by tungstenite itself.
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(None),
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
