//! [`FakeOpenAi`]: a recording OpenAI-compatible chat completions server, so end-to-end tests
//! can see exactly what the gateway sends a model provider.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// How the fake answers a request body: the text of the assistant's reply.
pub type Answerer = dyn Fn(&Value) -> String + Send + Sync;

#[derive(Clone)]
struct Shared {
    bodies: Arc<Mutex<Vec<Value>>>,
    answer: Arc<Answerer>,
}

/// A server on `127.0.0.1:0` answering `POST /v1/chat/completions` with
/// `choices[0].message.content` from its answerer, recording every request body.
pub struct FakeOpenAi {
    base_url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeOpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeOpenAi")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FakeOpenAi {
    /// Starts a fake whose replies are `answer(request body)`. Panics if it cannot listen.
    pub async fn start(answer: impl Fn(&Value) -> String + Send + Sync + 'static) -> Self {
        let shared = Shared {
            bodies: Arc::default(),
            answer: Arc::new(answer),
        };
        let bodies = Arc::clone(&shared.bodies);
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(shared);
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(err) => panic!("the fake provider cannot listen: {err}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(err) => panic!("the fake provider has no address: {err}"),
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            bodies,
            task,
        }
    }

    /// The `baseUrl` to configure (`http://127.0.0.1:<port>/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every request body received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn complete(State(s): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    let text = (s.answer)(&body);
    s.bodies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(body);
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop"
        }]
    }))
}
