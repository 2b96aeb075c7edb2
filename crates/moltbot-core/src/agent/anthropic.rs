//! [`AnthropicAgent`]: the Anthropic Messages API.
//!
//! `POST {baseUrl}/messages` when `baseUrl` ends in a version (`https://api.anthropic.com/v1`,
//! the configured default), otherwise `{baseUrl}/v1/messages` (the convention of Anthropic's own
//! SDKs, whose base URL is `https://api.anthropic.com`, followed by compatible proxies). Headers
//! `x-api-key` and `anthropic-version: 2023-06-01`; body `{model, max_tokens, system?,
//! messages}`. The API wants the conversation to start with a user turn and alternate roles, so
//! leading agent turns are dropped and consecutive turns of one role are merged. The reply is the
//! concatenated text of the `text` content blocks.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};

use super::error::truncate;
use super::http::{join_url, JsonPoster};
use super::speakers;
use super::{
    Agent, AgentBuildError, AgentError, AgentFuture, AgentReply, AgentRequest, HttpAgentOptions,
    Role,
};
use crate::config::Secret;

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
        })
    }
}

impl Agent for AnthropicAgent {
    fn name(&self) -> &str {
        &self.name
    }

    fn reply<'a>(&'a self, req: &'a AgentRequest) -> AgentFuture<'a> {
        Box::pin(async move {
            let mut body = json!({
                "model": self.model,
                "max_tokens": ANTHROPIC_MAX_TOKENS,
                "messages": anthropic_messages(req),
            });
            if let Some(prompt) = speakers::system_prompt(req) {
                body["system"] = json!(prompt);
            }
            let answer = self.poster.post(&self.url, &self.headers, &body).await?;
            parse_anthropic_reply(&answer).map(|text| AgentReply { text })
        })
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
    if merged.is_empty() {
        // An empty message still needs a user turn for the API to accept the request.
        merged.push((Role::User, req.text.clone()));
    }
    merged
        .into_iter()
        .map(|(role, text)| json!({"role": role.as_str(), "content": text}))
        .collect()
}

/// The reply text in a Messages answer: the `text` of every `type: "text"` content block,
/// concatenated. Unknown block types and stop reasons are ignored.
pub fn parse_anthropic_reply(body: &Value) -> Result<String, AgentError> {
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
    let text: String = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let text = text.trim();
    if text.is_empty() {
        let stop = body
            .get("stop_reason")
            .and_then(Value::as_str)
            .unwrap_or("none");
        return Err(AgentError::BadOutput(format!(
            "the model returned no text (stop reason: {stop})"
        )));
    }
    Ok(text.to_string())
}
