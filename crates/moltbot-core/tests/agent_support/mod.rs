//! Shared helpers of the `agent_*` tests: a local HTTP server that records every request and
//! answers from a script, and request builders.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use moltbot_core::agent::{
    answer, Agent, AgentRequest, Answer, AnswerOptions, ConversationInfo, ConversationKind,
    RetryPolicy, SenderInfo, SessionKey, Turn,
};
use serde_json::{json, Value};

/// One request the server got.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub delay: Duration,
    pub retry_after: Option<&'static str>,
}

impl Reply {
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            delay: Duration::ZERO,
            retry_after: None,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn retry_after(mut self, value: &'static str) -> Self {
        self.retry_after = Some(value);
        self
    }
}

#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

/// A server on 127.0.0.1:0 answering every path from its script (the last reply repeats).
pub struct MockServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl MockServer {
    pub async fn start(script: Vec<Reply>) -> Self {
        let shared = Shared {
            requests: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
        };
        let requests = shared.requests.clone();
        let app = Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}"),
            requests,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn handle(State(s): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.requests.lock().unwrap().push(Recorded {
        path: uri.path().to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let reply = {
        let mut script = s.script.lock().unwrap();
        if script.len() > 1 {
            script.pop_front()
        } else {
            script.front().cloned()
        }
    }
    .unwrap_or_else(|| Reply::new(500, json!({"error": {"message": "no script"}})));
    tokio::time::sleep(reply.delay).await;
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        Json(reply.body),
    )
        .into_response();
    if let Some(after) = reply.retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static(after));
    }
    response
}

/// Quick retries so tests stay fast.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    }
}

/// A group-space request with history and a system prompt.
pub fn request(text: &str, history: Vec<Turn>, system_prompt: Option<&str>) -> AgentRequest {
    AgentRequest {
        session: SessionKey::group("chat", "room-1"),
        text: text.to_string(),
        sender: SenderInfo {
            id: "person-1".to_string(),
            email: Some("alice@example.com".to_string()),
            display_name: Some("Alice".to_string()),
        },
        conversation: ConversationInfo {
            channel: "chat".to_string(),
            room_id: "room-1".to_string(),
            kind: ConversationKind::Group,
            title: Some("Team".to_string()),
        },
        history,
        system_prompt: system_prompt.map(str::to_string),
        attachments: Vec::new(),
        card: None,
    }
}

/// [`answer`] to `text` after `history` in a direct session (no speaker prefixes, no system
/// prompt), reasoning shown when `show`.
pub async fn ask(agent: &dyn Agent, text: &str, history: Vec<Turn>, show: bool) -> Answer {
    let options = AnswerOptions {
        show_reasoning: show,
    };
    answer(agent, &direct_request(text, history, None), options).await
}

/// The same request in a direct (one-to-one) session with Alice.
pub fn direct_request(text: &str, history: Vec<Turn>, system_prompt: Option<&str>) -> AgentRequest {
    let mut req = request(text, history, system_prompt);
    req.session = SessionKey::direct("chat", "person-1");
    req.conversation.kind = ConversationKind::Direct;
    req.conversation.title = None;
    req
}

/// A person of the tests: `Name <name@example.com>`, id `person-<name>`.
pub fn person(name: &str) -> SenderInfo {
    let lower = name.to_lowercase();
    SenderInfo {
        id: format!("person-{lower}"),
        email: Some(format!("{lower}@example.com")),
        display_name: Some(name.to_string()),
    }
}

/// A chat completion with extra fields and an unusual finish reason.
pub fn openai_ok(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "whatever",
        "system_fingerprint": "fp",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "annotations": []},
            "finish_reason": "something_new",
            "logprobs": null
        }],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
}

/// A Messages answer with two text blocks around a block of an unknown type.
pub fn anthropic_ok(first: &str, second: &str) -> Value {
    json!({
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "text", "text": first},
            {"type": "thinking_of_the_future", "data": 1},
            {"type": "text", "text": second}
        ],
        "stop_reason": "a_new_reason",
        "usage": {"input_tokens": 1, "output_tokens": 1}
    })
}
