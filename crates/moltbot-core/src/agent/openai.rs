//! [`OpenAiAgent`]: OpenAI-compatible chat completions (OpenAI, OpenRouter, Ollama, vLLM,
//! llama.cpp, LM Studio...).
//!
//! `POST {baseUrl}/chat/completions` with `{model, messages}`, the system prompt first, then the
//! history, then the new message; `Authorization: Bearer <key>` when there is a key. The answer is
//! read leniently: `choices[0].message.content` (a string or an array of content parts) is the
//! answer, `reasoning_content` (DeepSeek, vLLM, llama.cpp) or `reasoning` (OpenRouter, Ollama)
//! the reasoning kept apart; unknown fields and finish reasons are accepted. With
//! `agents.defaults.streaming` the request asks for a stream ([`OpenAiStream`]).

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::{json, Value};

use super::attachments::{plan, Part, SizeLimits};
use super::error::truncate;
use super::http::{join_url, JsonPoster, StreamRequest};
use super::speakers;
use super::sse::StreamedAnswer;
use super::InputKinds;
use super::{
    Agent, AgentBuildError, AgentError, AgentFuture, AgentReply, AgentRequest, HttpAgentOptions,
    TextDeltas,
};
use crate::config::Secret;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// An OpenAI-compatible chat completions provider.
#[derive(Debug, Clone)]
pub struct OpenAiAgent {
    name: String,
    url: String,
    model: String,
    headers: HeaderMap,
    poster: JsonPoster,
    input: InputKinds,
}

impl OpenAiAgent {
    /// An agent called `name` sending `model` to `{base_url}/chat/completions`.
    pub fn new(
        name: impl Into<String>,
        base_url: &str,
        model: impl Into<String>,
        api_key: Option<&Secret>,
        options: HttpAgentOptions,
    ) -> Result<Self, AgentBuildError> {
        let name = name.into();
        let mut headers = HeaderMap::new();
        if let Some(key) = api_key.filter(|k| !k.is_empty()) {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose().trim()))
                .map_err(|_| {
                    AgentBuildError::Http("the API key contains invalid characters".to_string())
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(Self {
            poster: JsonPoster::new(&name, options.timeout, options.retry)?,
            name,
            url: join_url(base_url, "chat/completions"),
            model: model.into(),
            headers,
            input: InputKinds::default_for(crate::config::ProviderApi::OpenAiCompletions),
        })
    }

    /// What this provider reads besides text (config `models.providers.<name>.input`).
    #[must_use]
    pub fn with_input(mut self, input: InputKinds) -> Self {
        self.input = input;
        self
    }
}

impl Agent for OpenAiAgent {
    fn name(&self) -> &str {
        &self.name
    }

    fn reply<'a>(&'a self, req: &'a AgentRequest) -> AgentFuture<'a> {
        Box::pin(async move {
            let body =
                json!({ "model": self.model, "messages": openai_messages_for(req, self.input) });
            let answer = self.poster.post(&self.url, &self.headers, &body).await?;
            parse_openai_reply(&answer)
        })
    }

    /// The same request with `stream: true`: the answer comes as server-sent events whose
    /// `data` is a chunk with `choices[0].delta.content`, ending with `data: [DONE]`
    /// (<https://platform.openai.com/docs/api-reference/chat-streaming>). See
    /// [`OpenAiStream`].
    fn reply_streaming<'a>(
        &'a self,
        req: &'a AgentRequest,
        deltas: &'a TextDeltas,
    ) -> AgentFuture<'a> {
        Box::pin(async move {
            let body = json!({
                "model": self.model,
                "messages": openai_messages_for(req, self.input),
                "stream": true,
            });
            let request = StreamRequest {
                url: &self.url,
                headers: &self.headers,
                body: &body,
            };
            self.poster
                .stream_reply(request, OpenAiStream::default(), deltas, parse_openai_reply)
                .await
        })
    }

    fn wants_pdf_text(&self) -> bool {
        !self.input.pdf
    }
}

/// An OpenAI-compatible answer read from its stream of chunks: the `delta` of
/// `choices[0]` carries `content` (passed on as it comes), `reasoning_content` or `reasoning`
/// (kept apart, not passed on) and `refusal`; `finish_reason` closes it. A chunk with `error`
/// (some servers report a failure mid-stream that way) fails the turn; chunks that are not
/// JSON or have no choices (usage, keep-alives) are skipped.
#[derive(Debug, Default)]
pub struct OpenAiStream {
    text: String,
    reasoning: String,
    refusal: String,
    finish_reason: Option<String>,
}

impl StreamedAnswer for OpenAiStream {
    /// `Ok(true)` at `[DONE]`; [`AgentError::Provider`] for an `error` chunk.
    fn event(&mut self, data: &str, deltas: &TextDeltas) -> Result<bool, AgentError> {
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return Ok(false);
        };
        if chunk.get("error").is_some_and(|e| !e.is_null()) {
            return Err(AgentError::Provider {
                status: chunk
                    .pointer("/error/code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok()),
                message: super::http::error_message(data.as_bytes()),
            });
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return Ok(false);
        };
        let delta = choice.get("delta");
        let field = |key: &str| delta.and_then(|d| d.get(key)).and_then(Value::as_str);
        if let Some(content) = field("content").filter(|c| !c.is_empty()) {
            self.text.push_str(content);
            let _ = deltas.send(content.to_string());
        }
        if let Some(reasoning) = field("reasoning_content").or_else(|| field("reasoning")) {
            self.reasoning.push_str(reasoning);
        }
        if let Some(refusal) = field("refusal") {
            self.refusal.push_str(refusal);
        }
        if let Some(finish) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(finish.to_string());
        }
        Ok(false)
    }

    /// Read as [`parse_openai_reply`] reads a complete answer.
    fn reply(&self) -> Result<AgentReply, AgentError> {
        let mut message = json!({"role": "assistant", "content": self.text});
        if !self.reasoning.is_empty() {
            message["reasoning_content"] = json!(self.reasoning);
        }
        if !self.refusal.is_empty() {
            message["refusal"] = json!(self.refusal);
        }
        parse_openai_reply(&json!({
            "choices": [{"message": message, "finish_reason": self.finish_reason}],
        }))
    }

    /// A `finish_reason` was received (a server that closes without `[DONE]`).
    fn complete(&self) -> bool {
        self.finish_reason.is_some()
    }
}

/// The `messages` array: `system` (when there is a prompt, or in a group session), the
/// history, then the new message; in group sessions user turns start with their author
/// ([`speakers`]).
pub fn openai_messages(req: &AgentRequest) -> Vec<Value> {
    openai_messages_for(
        req,
        InputKinds::default_for(crate::config::ProviderApi::OpenAiCompletions),
    )
}

/// [`openai_messages`] for a provider that reads `input`: the new message's files become content
/// parts (<https://platform.openai.com/docs/guides/images-vision>: `image_url` parts with a
/// `data:` URL; <https://platform.openai.com/docs/guides/pdf-files>: `file` parts with
/// `file_data`), text files text parts, the rest a note ([`super::attachments::plan`]).
pub fn openai_messages_for(req: &AgentRequest, input: InputKinds) -> Vec<Value> {
    let mut messages = Vec::with_capacity(req.history.len() + 2);
    if let Some(prompt) = speakers::system_prompt(req) {
        messages.push(json!({"role": "system", "content": prompt}));
    }
    for turn in req.history.iter().filter(|t| !t.text.trim().is_empty()) {
        let content = speakers::turn_text(turn, req.conversation.kind);
        messages.push(json!({"role": turn.role.as_str(), "content": content}));
    }
    messages.push(json!({"role": "user", "content": user_content(req, input)}));
    messages
}

fn user_content(req: &AgentRequest, input: InputKinds) -> Value {
    let text = speakers::request_text(req);
    if req.attachments.is_empty() {
        return json!(text);
    }
    let mut parts = Vec::new();
    if !text.trim().is_empty() {
        parts.push(json!({"type": "text", "text": text}));
    }
    for part in plan(&req.attachments, input, SizeLimits::OPENAI) {
        parts.push(match part {
            Part::Text(text) => json!({"type": "text", "text": text}),
            Part::Image { media_type, data } => json!({
                "type": "image_url",
                "image_url": {"url": format!("data:{media_type};base64,{}", STANDARD.encode(&data))},
            }),
            Part::Pdf { name, data } => json!({
                "type": "file",
                "file": {
                    "filename": name,
                    "file_data": format!("data:application/pdf;base64,{}", STANDARD.encode(&data)),
                },
            }),
        });
    }
    Value::Array(parts)
}

/// The reply in a chat completion: the text is `choices[0].message.content` as a string, or the
/// text parts of a content array joined, or a `refusal` when there is no content; the
/// reasoning is `reasoning_content` or `reasoning` (a string). Only reasoning and no text is a
/// reply (with empty text: see [`answer`](super::answer)); neither is an error. A body with
/// `error` instead of `choices` (some proxies answer errors with 200) is a provider error.
pub fn parse_openai_reply(body: &Value) -> Result<AgentReply, AgentError> {
    let Some(message) = body.pointer("/choices/0/message") else {
        if body.get("error").is_some() {
            return Err(AgentError::Provider {
                status: body
                    .pointer("/error/code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok()),
                message: super::http::error_message(body.to_string().as_bytes()),
            });
        }
        return Err(AgentError::BadOutput(format!(
            "no choices in the answer: {}",
            truncate(&body.to_string(), 200)
        )));
    };
    let text = match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("text").and_then(Value::as_str),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    };
    let reasoning = ["reasoning_content", "reasoning"]
        .iter()
        .filter_map(|key| message.get(*key).and_then(Value::as_str))
        .map(str::trim)
        .find(|r| !r.is_empty())
        .map(str::to_string);
    let text = text.trim();
    let refusal = message
        .get("refusal")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    let text = if text.is_empty() { refusal } else { text };
    if !text.is_empty() || reasoning.is_some() {
        return Ok(AgentReply::text(text).with_reasoning(reasoning));
    }
    let finish = body
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("none");
    Err(AgentError::BadOutput(format!(
        "the model returned no text (finish reason: {finish})"
    )))
}
