//! A recording fake model provider over real HTTP, for end-to-end tests of what the gateway
//! sends to a model and what it does with the answer.
//!
//! It listens on `127.0.0.1:0` and answers every `POST` (any path, so it serves as an
//! OpenAI-compatible `/chat/completions` or an Anthropic `/v1/messages` endpoint) with a whole
//! JSON body: the next of a script ([`FakeModel::start`], the last one repeating) or what a
//! function of the request makes ([`FakeModel::answering`]); or streams it slowly as
//! server-sent events ([`FakeModel::streaming`]). Every request body is recorded
//! ([`FakeModel::requests`]). Bodies: [`openai_answer`], [`anthropic_answer`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::fake_stream::SlowStream;

/// How the fake answers a request body: the whole response body (`Value::Null`: a `500`).
pub type Answerer = dyn Fn(&Value) -> Value + Send + Sync;

#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<Vec<Value>>>,
    answer: Arc<Answerer>,
}

/// A fake model provider (see the [module](self) docs). The server stops when it is dropped.
pub struct FakeModel {
    base_url: String,
    requests: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
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
        let script = Mutex::new(VecDeque::from(answers));
        Self::answering(move |_| {
            let mut script = script.lock().unwrap_or_else(PoisonError::into_inner);
            let next = if script.len() > 1 {
                script.pop_front()
            } else {
                script.front().cloned()
            };
            next.unwrap_or(Value::Null)
        })
        .await
    }

    /// Starts an OpenAI-compatible server that answers its n-th request `answer <n>` (from 1),
    /// so a test can tell which request produced which reply. Panics if it cannot listen.
    pub async fn numbered() -> Self {
        let counter = std::sync::atomic::AtomicUsize::new(0);
        Self::answering(move |_| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            openai_answer(&format!("answer {n}"), serde_json::json!({}))
        })
        .await
    }

    /// Starts a server whose answer to each request is `answer(request body)` (`Value::Null`:
    /// a `500`). Panics if it cannot listen.
    pub async fn answering(answer: impl Fn(&Value) -> Value + Send + Sync + 'static) -> Self {
        let shared = Shared {
            requests: Arc::default(),
            answer: Arc::new(answer),
        };
        let requests = Arc::clone(&shared.requests);
        Self::serving(Router::new().fallback(respond).with_state(shared), requests).await
    }

    /// Starts a server that streams `stream` as server-sent events, slowly, in answer to every
    /// request ([`crate::fake_stream`]). Panics if it cannot listen.
    pub async fn streaming(stream: SlowStream) -> Self {
        let requests = Arc::default();
        let app = crate::fake_stream::router(stream, Arc::clone(&requests));
        Self::serving(app, requests).await
    }

    /// Serves `app` (which records request bodies in `requests`) on `127.0.0.1:0`. Panics if
    /// it cannot listen.
    async fn serving(app: Router, requests: Arc<Mutex<Vec<Value>>>) -> Self {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(err) => panic!("cannot start the fake model: {err}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(err) => panic!("cannot start the fake model: {err}"),
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            requests,
            task,
        }
    }

    /// The provider's `baseUrl` (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every request body so far, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.requests
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

    /// The `messages` of the request whose last message contains `needle`. Panics when there
    /// is none, listing what was received.
    pub fn messages_ending_with(&self, needle: &str) -> Vec<Value> {
        let requests = self.requests();
        let found = requests.iter().find_map(|body| {
            let messages = body.get("messages")?.as_array()?;
            let last = messages.last()?.get("content")?.as_str()?;
            last.contains(needle).then(|| messages.clone())
        });
        match found {
            Some(messages) => messages,
            None => {
                panic!("no request ends with a message containing {needle:?}; got {requests:#?}")
            }
        }
    }

    /// The content of the last message of the request that ends with `needle` (see
    /// [`Self::messages_ending_with`]): the new user turn as the model saw it.
    pub fn last_turn_with(&self, needle: &str) -> String {
        let messages = self.messages_ending_with(needle);
        let last = messages.last().and_then(|m| m.get("content"));
        match last.and_then(Value::as_str) {
            Some(text) => text.to_string(),
            None => panic!("the last message has no text content: {messages:#?}"),
        }
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn respond(State(shared): State<Shared>, body: Bytes) -> (StatusCode, Json<Value>) {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let answer = (shared.answer)(&body);
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(body);
    match answer {
        Value::Null => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "the fake model has no answer"}})),
        ),
        body => (StatusCode::OK, Json(body)),
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

/// `(role, content)` pairs as owned strings, to compare with [`FakeModel::conversations`].
pub fn turns(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(role, content)| (role.to_string(), content.to_string()))
        .collect()
}
