//! What [`FakeModel::streaming`](crate::FakeModel::streaming) sends: an answer streamed as
//! server-sent events, slowly, over real HTTP, for end-to-end tests of
//! `agents.defaults.streaming`.
//!
//! The fake answers every `POST` (any path: an OpenAI-compatible
//! `/chat/completions` or an Anthropic `/v1/messages`) with `text/event-stream`: the frames of
//! its [`SlowStream`], one every [`SlowStream::every`], each written in two halves cut in the
//! middle (a client must put split lines back together). A stream may break off before its
//! end ([`SlowStream::break_after`]): the connection is then cut without ending the chunked
//! body, as a provider that crashes mid-answer does.
//!
//! Frames: [`openai_stream`] (chat completion chunks, then `data: [DONE]`), [`anthropic_stream`]
//! (Messages events, `message_start` to `message_stop`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

/// What the fake streams for every request.
#[derive(Debug, Clone)]
pub struct SlowStream {
    /// Whole SSE frames (each ending in a blank line), in order.
    pub frames: Vec<String>,
    /// The wait before each frame.
    pub every: Duration,
    /// Cut the connection after this many frames instead of finishing the stream.
    pub break_after: Option<usize>,
    /// The whole JSON answer to a request without `stream: true`, sent after as long as the
    /// stream would take (`None`: such a request gets the stream all the same).
    pub whole: Option<Value>,
}

impl SlowStream {
    /// `frames`, one every `every`, to the end.
    pub fn new(frames: Vec<String>, every: Duration) -> Self {
        Self {
            frames,
            every,
            break_after: None,
            whole: None,
        }
    }

    /// The same stream, and `answer` as the whole JSON answer to a request that does not ask
    /// for a stream.
    #[must_use]
    pub fn answering_plain_requests_with(mut self, answer: Value) -> Self {
        self.whole = Some(answer);
        self
    }

    /// The same stream, cut off after `frames` frames.
    #[must_use]
    pub fn breaking_after(mut self, frames: usize) -> Self {
        self.break_after = Some(frames);
        self
    }
}

#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<Vec<Value>>>,
    stream: Arc<SlowStream>,
}

/// The routes of [`FakeModel::streaming`](crate::FakeModel::streaming): every request body is
/// recorded in `requests` and answered with `stream`.
pub(crate) fn router(stream: SlowStream, requests: Arc<Mutex<Vec<Value>>>) -> Router {
    let shared = Shared {
        requests,
        stream: Arc::new(stream),
    };
    Router::new().fallback(respond).with_state(shared)
}

async fn respond(State(shared): State<Shared>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let streamed = body["stream"] == true;
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(body);
    let stream = Arc::clone(&shared.stream);
    if let (false, Some(whole)) = (streamed, &stream.whole) {
        let frames = u32::try_from(stream.frames.len()).unwrap_or(u32::MAX);
        tokio::time::sleep(stream.every.saturating_mul(frames)).await;
        return axum::Json(whole.clone()).into_response();
    }
    let frames = stream
        .break_after
        .unwrap_or(stream.frames.len())
        .min(stream.frames.len());
    // Each frame in two writes (`index` counts them), cut in the middle (on a character
    // boundary).
    let pieces = futures::stream::unfold(0usize, move |index| {
        let stream = Arc::clone(&stream);
        async move {
            if index > frames * 2 {
                return None;
            }
            if index == frames * 2 {
                if stream.break_after.is_some() {
                    // An error ends the body without its last chunk: the connection is cut.
                    return Some((Err(std::io::Error::other("the model crashed")), index + 1));
                }
                return None;
            }
            let frame = stream.frames.get(index / 2)?;
            let mut cut = frame.len() / 2;
            while !frame.is_char_boundary(cut) {
                cut -= 1;
            }
            let piece = if index % 2 == 0 {
                tokio::time::sleep(stream.every).await;
                &frame[..cut]
            } else {
                &frame[cut..]
            };
            Some((Ok(Bytes::from(piece.to_string())), index + 1))
        }
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(pieces),
    )
        .into_response()
}

/// The frames of an OpenAI-compatible streamed chat completion: one chunk per piece of
/// `content` (`choices[0].delta.content`), a last chunk with `finish_reason: "stop"`, then
/// `data: [DONE]`.
pub fn openai_stream(pieces: &[String]) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let chunk = json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "model": "test-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        format!("data: {chunk}\n\n")
    };
    let mut frames = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    frames.extend(
        pieces
            .iter()
            .map(|piece| chunk(json!({"content": piece}), Value::Null)),
    );
    frames.push(chunk(json!({}), json!("stop")));
    frames.push("data: [DONE]\n\n".to_string());
    frames
}

/// The frames of an Anthropic streamed message: `message_start`, a `thinking` block with
/// `thinking` (when given), a `text` block with one `text_delta` per piece, `message_delta`,
/// `message_stop`, with a `ping` after the start.
pub fn anthropic_stream(thinking: Option<&str>, pieces: &[String]) -> Vec<String> {
    let frame = |data: Value| {
        let event = data["type"].as_str().unwrap_or("message").to_string();
        format!("event: {event}\ndata: {data}\n\n")
    };
    let mut frames = vec![
        frame(json!({"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": "test-model",
            "content": [], "stop_reason": null,
        }})),
        frame(json!({"type": "ping"})),
    ];
    let mut index = 0;
    if let Some(thinking) = thinking {
        frames.push(frame(json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "thinking", "thinking": ""}})));
        frames.push(frame(json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": thinking}})));
        frames.push(frame(json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig"}})));
        frames.push(frame(json!({"type": "content_block_stop", "index": 0})));
        index = 1;
    }
    frames.push(frame(json!({"type": "content_block_start", "index": index,
        "content_block": {"type": "text", "text": ""}})));
    frames.extend(pieces.iter().map(|piece| {
        frame(json!({"type": "content_block_delta", "index": index,
            "delta": {"type": "text_delta", "text": piece}}))
    }));
    frames.push(frame(json!({"type": "content_block_stop", "index": index})));
    frames.push(frame(json!({"type": "message_delta",
        "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 10}})));
    frames.push(frame(json!({"type": "message_stop"})));
    frames
}
