//! The socket protocol against an in-memory Mercury (tokio duplex, paused time).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::*;
use crate::mercury::Recovery;

type Server = WebSocketStream<DuplexStream>;

async fn pair() -> (WebSocketStream<DuplexStream>, Server) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { tokio_tungstenite::accept_async(server_io).await });
    let (client, _) = tokio_tungstenite::client_async("ws://mercury.test/v1/x", client_io)
        .await
        .unwrap_or_else(|e| panic!("client handshake: {e}"));
    let server = server
        .await
        .unwrap_or_else(|e| panic!("join: {e}"))
        .unwrap_or_else(|e| panic!("server handshake: {e}"));
    (client, server)
}

async fn recv_json(server: &mut Server) -> Value {
    loop {
        match server.next().await {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("{e}"))
            }
            Some(Ok(_)) => continue,
            other => panic!("server read: {other:?}"),
        }
    }
}

async fn send(server: &mut Server, value: Value) {
    server
        .send(Message::text(value.to_string()))
        .await
        .unwrap_or_else(|e| panic!("server send: {e}"));
}

fn event(id: &str, event_type: &str) -> Value {
    json!({"id": id, "data": {"eventType": event_type}})
}

fn post(id: &str) -> Value {
    json!({"id": id, "data": {"eventType": "conversation.activity", "activity": {
        "id": format!("act-{id}"), "verb": "post", "actor": {"id": "alice", "type": "PERSON"},
        "target": {"id": "room", "url": "http://sim/conversation/api/v1/conversations/room",
                   "tags": ["ONE_ON_ONE"]}}}})
}

/// Reads the auth frame, checks the token, answers with `before` then buffer_state.
async fn accept_auth(server: &mut Server, before: &[Value]) {
    let auth = recv_json(server).await;
    assert_eq!(auth["type"], "authorization");
    assert_eq!(auth["data"]["token"], "Bearer secret-token");
    for frame in before {
        send(server, frame.clone()).await;
    }
    send(server, event("ready-1", "mercury.buffer_state")).await;
}

#[tokio::test(start_paused = true)]
async fn ready_only_after_the_buffer_state_event_and_events_in_order() {
    let (client, mut server) = pair().await;
    let srv = tokio::spawn(async move {
        accept_auth(&mut server, &[event("t-1", "status.start_typing")]).await;
        send(&mut server, post("env-9")).await;
        server
    });
    let mut conn = MercuryConnection::authorize(client, "secret-token", Keepalive::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let first = conn.next_event().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.envelope_id(), Some("t-1"));
    assert!(conn.next_event().await.is_ok_and(|e| e.is_ready_signal()));
    match conn.next_event().await {
        Ok(MercuryEvent::Activity(a)) => {
            assert_eq!(a.envelope_id, "env-9");
            assert_eq!(a.activity_id, "act-env-9");
            assert!(a.target.one_on_one);
        }
        other => panic!("{other:?}"),
    }
    drop(srv);
}

#[tokio::test(start_paused = true)]
async fn binary_frames_are_events_too_and_registration_status_means_ready() {
    let (client, mut server) = pair().await;
    tokio::spawn(async move {
        let _ = recv_json(&mut server).await;
        send(&mut server, event("r", "mercury.registration_status")).await;
        let _ = server
            .send(Message::binary(post("bin-1").to_string().into_bytes()))
            .await;
        // Keep the socket open.
        let _ = server.next().await;
    });
    let mut conn = MercuryConnection::authorize(client, "secret-token", Keepalive::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(conn.next_event().await.is_ok_and(|e| e.is_ready_signal()));
    let next = conn.next_event().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next.envelope_id(), Some("bin-1"));
}

#[tokio::test(start_paused = true)]
async fn no_ready_event_times_out() {
    let (client, mut server) = pair().await;
    tokio::spawn(async move {
        let _ = recv_json(&mut server).await;
        send(&mut server, event("t", "status.start_typing")).await;
        let _ = server.next().await;
    });
    let started = Instant::now();
    let err = MercuryConnection::authorize(client, "secret-token", Keepalive::default())
        .await
        .err();
    assert!(
        matches!(err, Some(MercuryError::ReadyTimeout(_))),
        "{err:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(20));
}

#[tokio::test(start_paused = true)]
async fn auth_close_during_the_handshake_is_an_auth_error() {
    let (client, mut server) = pair().await;
    tokio::spawn(async move {
        let _ = recv_json(&mut server).await;
        let _ = server
            .close(Some(CloseFrame {
                code: CloseCode::from(4401),
                reason: "NotAuthorized".into(),
            }))
            .await;
        let _ = server.next().await;
    });
    let err = MercuryConnection::authorize(client, "secret-token", Keepalive::default())
        .await
        .err();
    match err {
        Some(err @ MercuryError::Auth { code: 4401, .. }) => {
            assert_eq!(err.recovery(), Recovery::CheckToken)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn other_close_codes_and_a_dropped_socket_mean_reconnect() {
    for code in [Some(4000u16), Some(1001), None] {
        let (client, mut server) = pair().await;
        tokio::spawn(async move {
            accept_auth(&mut server, &[]).await;
            match code {
                Some(code) => {
                    let _ = server
                        .close(Some(CloseFrame {
                            code: CloseCode::from(code),
                            reason: "bye".into(),
                        }))
                        .await;
                    let _ = server.next().await;
                }
                None => drop(server),
            }
        });
        let mut conn = MercuryConnection::authorize(client, "secret-token", Keepalive::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(conn.next_event().await.is_ok_and(|e| e.is_ready_signal()));
        let err = conn.next_event().await.err();
        match (&err, code) {
            (Some(MercuryError::Closed { code: got, .. }), Some(want)) => assert_eq!(*got, want),
            (Some(e), None) => assert_eq!(e.recovery(), Recovery::Reconnect, "{e}"),
            _ => panic!("{code:?}: {err:?}"),
        }
        assert_eq!(err.map(|e| e.recovery()), Some(Recovery::Reconnect));
    }
}

/// Server side that answers pings (or not) and reports (time, frame) of everything received.
fn spawn_mercury(
    mut server: Server,
    answer_pings: bool,
    seen: mpsc::UnboundedSender<(Duration, Value)>,
) {
    let start = Instant::now();
    tokio::spawn(async move {
        accept_auth(&mut server, &[]).await;
        send(&mut server, post("env-1")).await;
        loop {
            let frame = match server.next().await {
                Some(Ok(Message::Text(t))) => {
                    serde_json::from_str::<Value>(t.as_str()).unwrap_or_default()
                }
                Some(Ok(_)) => continue,
                _ => return,
            };
            if answer_pings && frame["type"] == "ping" {
                send(&mut server, json!({"type": "pong", "id": frame["id"]})).await;
            }
            let _ = seen.send((start.elapsed(), frame));
        }
    });
}

#[tokio::test(start_paused = true)]
async fn pings_every_15_seconds_while_pongs_come_and_no_ack_unless_asked() {
    let (client, server) = pair().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    spawn_mercury(server, true, tx);
    let mut conn = MercuryConnection::authorize(client, "secret-token", Keepalive::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(conn.next_event().await.is_ok_and(|e| e.is_ready_signal()));
    let activity = conn.next_event().await.unwrap_or_else(|e| panic!("{e}"));
    // Drive the connection for 50 s: no event comes, pings keep it alive.
    let quiet = tokio::time::timeout(Duration::from_secs(50), conn.next_event()).await;
    assert!(quiet.is_err(), "the connection ended: {quiet:?}");
    let mut frames = Vec::new();
    while let Ok(frame) = rx.try_recv() {
        frames.push(frame);
    }
    let ping_times: Vec<u64> = frames
        .iter()
        .filter(|(_, f)| f["type"] == "ping")
        .map(|(t, _)| t.as_secs())
        .collect();
    assert_eq!(ping_times, vec![15, 30, 45]);
    assert!(frames.iter().all(|(_, f)| f["type"] != "ack"), "{frames:?}");
    // The caller acks after its claim: exactly the envelope id goes out.
    conn.ack(activity.envelope_id().unwrap_or_default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, ack) = rx.recv().await.unwrap_or_default();
    assert_eq!(ack, json!({"type": "ack", "messageId": "env-1"}));
}

#[tokio::test(start_paused = true)]
async fn a_missing_pong_ends_the_connection_after_14_seconds() {
    let (client, server) = pair().await;
    let (tx, _rx) = mpsc::unbounded_channel();
    spawn_mercury(server, false, tx);
    let mut conn = MercuryConnection::authorize(client, "secret-token", Keepalive::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let err = loop {
        match conn.next_event().await {
            Ok(_) => continue,
            Err(err) => break err,
        }
    };
    assert!(
        matches!(err, MercuryError::PongTimeout(d) if d == Duration::from_secs(14)),
        "{err}"
    );
    assert_eq!(err.recovery(), Recovery::Reconnect);
    assert_eq!(started.elapsed(), Duration::from_secs(15 + 14));
}

#[tokio::test(start_paused = true)]
async fn a_pong_for_another_ping_is_a_mismatch() {
    let (client, mut server) = pair().await;
    tokio::spawn(async move {
        accept_auth(&mut server, &[]).await;
        loop {
            let frame = recv_json(&mut server).await;
            if frame["type"] == "ping" {
                send(&mut server, json!({"type": "pong", "id": "someone-else"})).await;
            }
        }
    });
    let mut conn = MercuryConnection::authorize(client, "secret-token", Keepalive::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let err = loop {
        match conn.next_event().await {
            Ok(_) => continue,
            Err(err) => break err,
        }
    };
    assert!(matches!(err, MercuryError::PongMismatch), "{err}");
}
