//! A recording fake model provider over real HTTP, for end-to-end tests of what the gateway
//! sends to a model and what it does with the answer.
//!
//! [`FakeModel::start`] listens on `127.0.0.1:0` and answers every `POST` (any path, so it
//! serves as an OpenAI-compatible `/chat/completions` or an Anthropic `/v1/messages` endpoint)
//! with the next scripted body, the last one repeating. Every request body is recorded
//! ([`FakeModel::requests`]). Bodies: [`openai_answer`], [`anthropic_answer`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Shared {
    requests: Arc<Mutex<Vec<Value>>>,
    script: Arc<Mutex<VecDeque<Value>>>,
}

/// A fake model provider (see the [module](self) docs). The server runs until the test's
/// runtime ends.
#[derive(Clone)]
pub struct FakeModel {
    base_url: String,
    shared: Shared,
}

impl std::fmt::Debug for FakeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeModel")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FakeModel {
    /// Starts a server answering with `answers` in order (the last one repeats; an empty script
    /// answers `500`). Panics if it cannot listen.
    pub async fn start(answers: Vec<Value>) -> Self {
        let shared = Shared {
            requests: Arc::default(),
            script: Arc::new(Mutex::new(answers.into())),
        };
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(err) => panic!("cannot start the fake model: {err}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(err) => panic!("cannot start the fake model: {err}"),
        };
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            shared,
        }
    }

    /// The provider's `baseUrl` (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every request body so far, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The `messages` of every request so far as `(role, content)` pairs (content as text; a
    /// non-string content as its JSON).
    pub fn conversations(&self) -> Vec<Vec<(String, String)>> {
        self.requests()
            .iter()
            .map(|body| {
                body["messages"]
                    .as_array()
                    .map(|messages| {
                        messages
                            .iter()
                            .map(|m| {
                                let content = match &m["content"] {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                };
                                (m["role"].as_str().unwrap_or_default().to_string(), content)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect()
    }
}

async fn answer(
    State(shared): State<Shared>,
    body: Bytes,
) -> (axum::http::StatusCode, Json<Value>) {
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    let next = {
        let mut script = shared.script.lock().unwrap_or_else(PoisonError::into_inner);
        if script.len() > 1 {
            script.pop_front()
        } else {
            script.front().cloned()
        }
    };
    match next {
        Some(body) => (axum::http::StatusCode::OK, Json(body)),
        None => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "the fake model has no script"}})),
        ),
    }
}

/// An OpenAI-compatible chat completion whose message has `content` and the extra `fields`
/// (such as `{"reasoning_content": "..."}`).
pub fn openai_answer(content: &str, fields: Value) -> Value {
    let mut message = json!({"role": "assistant", "content": content});
    if let (Some(message), Value::Object(extra)) = (message.as_object_mut(), fields) {
        message.extend(extra);
    }
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    })
}

/// An Anthropic Messages answer with the content `blocks` as given.
pub fn anthropic_answer(blocks: Value) -> Value {
    json!({
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "test-model",
        "content": blocks,
        "stop_reason": "end_turn",
    })
}
