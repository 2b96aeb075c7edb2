//! [`AnthropicAgent`]: the Anthropic Messages API.
//!
//! `POST {baseUrl}/messages` when `baseUrl` ends in a version (`https://api.anthropic.com/v1`,
//! the configured default), otherwise `{baseUrl}/v1/messages` (the convention of Anthropic's own
//! SDKs, whose base URL is `https://api.anthropic.com`, followed by compatible proxies). Headers
//! `x-api-key` and `anthropic-version: 2023-06-01`; body `{model, max_tokens, system?,
//! messages}`. The API wants the conversation to start with a user turn and alternate roles, so
//! leading agent turns are dropped and consecutive turns of one role are merged
//! (<https://docs.anthropic.com/en/api/messages>: "consecutive user or assistant turns in your
//! request will be combined into a single turn"; a last assistant turn would be a prefill the
//! model continues, so the request always ends on the new user message). The reply is the
//! concatenated text of the `text` content blocks; `thinking` blocks are its reasoning, kept
//! apart, and `redacted_thinking` blocks (encrypted) are ignored. With
//! `agents.defaults.streaming` the request asks for a stream ([`AnthropicStream`]).

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};

use super::attachments::{plan, Part, SizeLimits};
use super::error::truncate;
use super::http::{join_url, JsonPoster, StreamRequest};
use super::speakers;
use super::sse::StreamedAnswer;
use super::InputKinds;
use super::{
    Agent, AgentBuildError, AgentError, AgentFuture, AgentReply, AgentRequest, HttpAgentOptions,
    Role, TextDeltas,
};
use crate::config::Secret;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The `anthropic-version` header sent.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` sent with every request (the API requires one; the config has no setting yet).
pub const ANTHROPIC_MAX_TOKENS: u32 = 4096;

/// An Anthropic Messages provider.
#[derive(Debug, Clone)]
pub struct AnthropicAgent {
    name: String,
    url: String,
    model: String,
    headers: HeaderMap,
    poster: JsonPoster,
    input: InputKinds,
}

impl AnthropicAgent {
    /// An agent called `name` sending `model` to the messages endpoint under `base_url`.
    pub fn new(
        name: impl Into<String>,
        base_url: &str,
        model: impl Into<String>,
        api_key: Option<&Secret>,
        options: HttpAgentOptions,
    ) -> Result<Self, AgentBuildError> {
        let name = name.into();
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        if let Some(key) = api_key.filter(|k| !k.is_empty()) {
            let mut value = HeaderValue::from_str(key.expose().trim()).map_err(|_| {
                AgentBuildError::Http("the API key contains invalid characters".to_string())
            })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-api-key"), value);
        }
        Ok(Self {
            poster: JsonPoster::new(&name, options.timeout, options.retry)?,
            name,
            url: anthropic_messages_url(base_url),
            model: model.into(),
            headers,
            input: InputKinds::default_for(crate::config::ProviderApi::AnthropicMessages),
        })
    }

    /// What this provider reads besides text (config `models.providers.<name>.input`).
    #[must_use]
    pub fn with_input(mut self, input: InputKinds) -> Self {
        self.input = input;
        self
    }
}

impl Agent for AnthropicAgent {
    fn name(&self) -> &str {
        &self.name
    }

    fn reply<'a>(&'a self, req: &'a AgentRequest) -> AgentFuture<'a> {
        Box::pin(async move {
            let body = self.body(req);
            let answer = self.poster.post(&self.url, &self.headers, &body).await?;
            parse_anthropic_reply(&answer)
        })
    }

    /// The same request with `stream: true`: the answer comes as server-sent events
    /// (<https://docs.anthropic.com/en/docs/build-with-claude/streaming>). See
    /// [`AnthropicStream`].
    fn reply_streaming<'a>(
        &'a self,
        req: &'a AgentRequest,
        deltas: &'a TextDeltas,
    ) -> AgentFuture<'a> {
        Box::pin(async move {
            let mut body = self.body(req);
            body["stream"] = json!(true);
            let request = StreamRequest {
                url: &self.url,
                headers: &self.headers,
                body: &body,
            };
            let stream = AnthropicStream::default();
            self.poster
                .stream_reply(request, stream, deltas, parse_anthropic_reply)
                .await
        })
    }

    fn wants_pdf_text(&self) -> bool {
        !self.input.pdf
    }
}

impl AnthropicAgent {
    /// The request body: `{model, max_tokens, messages, system?}`.
    fn body(&self, req: &AgentRequest) -> Value {
        let mut body = json!({
            "model": self.model,
            "max_tokens": ANTHROPIC_MAX_TOKENS,
            "messages": anthropic_messages_for(req, self.input),
        });
        if let Some(prompt) = speakers::system_prompt(req) {
            body["system"] = json!(prompt);
        }
        body
    }
}

/// An Anthropic answer read from its event stream, by the `type` of each event's data:
/// `content_block_delta` with a `text_delta` adds to the answer (passed on as it comes), with a
/// `thinking_delta` to the reasoning (kept apart); `message_delta` carries the stop reason;
/// `message_stop` ends the answer; `error` (e.g. `overloaded_error` mid-stream) fails the
/// turn. Everything else (`message_start`, `content_block_start`/`stop`, `ping`, signature
/// and tool deltas, events of later API versions) is skipped.
#[derive(Debug, Default)]
pub struct AnthropicStream {
    text: String,
    reasoning: String,
    stop_reason: Option<String>,
}

impl StreamedAnswer for AnthropicStream {
    /// `Ok(true)` at `message_stop`; [`AgentError::Provider`] for an `error` event.
    fn event(&mut self, data: &str, deltas: &TextDeltas) -> Result<bool, AgentError> {
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return Ok(false);
        };
        match event.get("type").and_then(Value::as_str) {
            Some("content_block_delta") => {
                let delta = event.get("delta");
                let field = |key: &str| delta.and_then(|d| d.get(key)).and_then(Value::as_str);
                match field("type") {
                    Some("text_delta") => {
                        if let Some(text) = field("text").filter(|t| !t.is_empty()) {
                            self.text.push_str(text);
                            let _ = deltas.send(text.to_string());
                        }
                    }
                    Some("thinking_delta") => {
                        self.reasoning
                            .push_str(field("thinking").unwrap_or_default());
                    }
                    _ => {}
                }
                Ok(false)
            }
            Some("message_delta") => {
                if let Some(stop) = event.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(stop.to_string());
                }
                Ok(false)
            }
            Some("message_stop") => Ok(true),
            Some("error") => Err(AgentError::Provider {
                status: None,
                message: super::http::error_message(data.as_bytes()),
            }),
            _ => Ok(false),
        }
    }

    /// Read as [`parse_anthropic_reply`] reads a complete answer.
    fn reply(&self) -> Result<AgentReply, AgentError> {
        parse_anthropic_reply(&json!({
            "content": [
                {"type": "thinking", "thinking": self.reasoning},
                {"type": "text", "text": self.text},
            ],
            "stop_reason": self.stop_reason,
        }))
    }
}

/// The messages endpoint for `base_url`: `{base}/messages` when the base ends in a version
/// segment (`/v1`), else `{base}/v1/messages`.
pub fn anthropic_messages_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let last = base.rsplit('/').next().unwrap_or_default();
    let versioned =
        last.len() > 1 && last.starts_with('v') && last[1..].chars().all(|c| c.is_ascii_digit());
    if versioned {
        join_url(base, "messages")
    } else {
        join_url(base, "v1/messages")
    }
}

/// The `messages` array: history then the new message, starting with a user turn, with
/// consecutive turns of one role merged (joined by a blank line); in group sessions user turns
/// start with their author ([`speakers`]).
pub fn anthropic_messages(req: &AgentRequest) -> Vec<Value> {
    anthropic_messages_for(
        req,
        InputKinds::default_for(crate::config::ProviderApi::AnthropicMessages),
    )
}

/// [`anthropic_messages`] for a provider that reads `input`: the new message's files become
/// content blocks of the last user turn, after its text: images as `image` blocks
/// (<https://docs.anthropic.com/en/docs/build-with-claude/vision>), PDFs as `document` blocks
/// (<https://docs.anthropic.com/en/docs/build-with-claude/pdf-support>), both base64; text files
/// and notes as `text` blocks ([`super::attachments::plan`]).
pub fn anthropic_messages_for(req: &AgentRequest, input: InputKinds) -> Vec<Value> {
    let current = (!req.text.trim().is_empty()).then(|| (Role::User, speakers::request_text(req)));
    let turns = req
        .history
        .iter()
        .filter(|t| !t.text.trim().is_empty())
        .map(|t| (t.role, speakers::turn_text(t, req.conversation.kind)))
        .chain(current)
        .skip_while(|(role, _)| *role == Role::Assistant);
    let mut merged: Vec<(Role, String)> = Vec::new();
    for (role, text) in turns {
        match merged.last_mut() {
            Some((last, acc)) if *last == role => {
                acc.push_str("\n\n");
                acc.push_str(&text);
            }
            _ => merged.push((role, text.into_owned())),
        }
    }
    let files = !req.attachments.is_empty();
    if merged.last().is_none_or(|(role, _)| *role != Role::User) && (files || merged.is_empty()) {
        // The new message needs a user turn of its own, even without text.
        merged.push((Role::User, req.text.clone()));
    }
    let last = merged.len().saturating_sub(1);
    merged
        .into_iter()
        .enumerate()
        .map(|(i, (role, text))| {
            if i == last && files {
                json!({"role": role.as_str(), "content": blocks(&text, req, input)})
            } else {
                json!({"role": role.as_str(), "content": text})
            }
        })
        .collect()
}

/// The content blocks of the last user turn: its text (when any), then the files.
fn blocks(text: &str, req: &AgentRequest, input: InputKinds) -> Vec<Value> {
    let mut blocks = Vec::new();
    if !text.trim().is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for part in plan(&req.attachments, input, SizeLimits::ANTHROPIC) {
        blocks.push(match part {
            Part::Text(text) => json!({"type": "text", "text": text}),
            Part::Image { media_type, data } => json!({
                "type": "image",
                "source": {"type": "base64", "media_type": media_type, "data": STANDARD.encode(&data)},
            }),
            Part::Pdf { data, .. } => json!({
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": STANDARD.encode(&data)},
            }),
        });
    }
    blocks
}

/// The reply in a Messages answer: the `text` of every `type: "text"` content block,
/// concatenated, and the `thinking` of every `type: "thinking"` block as its reasoning.
/// `redacted_thinking`, other block types and stop reasons are ignored.
pub fn parse_anthropic_reply(body: &Value) -> Result<AgentReply, AgentError> {
    let Some(blocks) = body.get("content").and_then(Value::as_array) else {
        if body.get("error").is_some() {
            return Err(AgentError::Provider {
                status: None,
                message: super::http::error_message(body.to_string().as_bytes()),
            });
        }
        return Err(AgentError::BadOutput(format!(
            "no content in the answer: {}",
            truncate(&body.to_string(), 200)
        )));
    };
    let of_type = |kind: &str, field: &str| -> Vec<&str> {
        blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some(kind))
            .filter_map(|b| b.get(field).and_then(Value::as_str))
            .collect()
    };
    let text = of_type("text", "text").concat();
    let text = text.trim();
    let reasoning = of_type("thinking", "thinking")
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    if text.is_empty() && reasoning.is_empty() {
        let stop = body
            .get("stop_reason")
            .and_then(Value::as_str)
            .unwrap_or("none");
        return Err(AgentError::BadOutput(format!(
            "the model returned no text (stop reason: {stop})"
        )));
    }
    Ok(AgentReply::text(text).with_reasoning((!reasoning.is_empty()).then_some(reasoning)))
}
