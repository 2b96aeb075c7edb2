//! The agent runtime: what answers a message.
//!
//! An [`Agent`] gets an [`AgentRequest`] (the message, who sent it, where, the session's earlier
//! turns and the system prompt) and returns an [`AgentReply`] or an [`AgentError`]. Providers:
//!
//! - [`EchoAgent`]: replies with the message text; the default when no model is configured.
//! - [`CommandAgent`]: runs a program per message, JSON request on stdin, reply on stdout.
//! - [`OpenAiAgent`]: OpenAI-compatible chat completions (OpenAI, OpenRouter, Ollama, vLLM...).
//! - [`AnthropicAgent`]: the Anthropic Messages API.
//!
//! In group sessions every user turn names its author ([`speakers`]).
//!
//! [`build_agent`] picks one from `agents.defaults.model` and `models.providers`. The caller owns
//! sessions ([`SessionKey`]: one per direct-message peer, one per group space) and history
//! ([`trim_history`] to `agents.defaults.historyTurns`), and resolves the system prompt.
//!
//! Failures never crash anything and never storm a provider: HTTP providers retry only on
//! 429/5xx and connection errors, a bounded number of times, within the turn's timeout
//! ([`RetryPolicy`]). [`answer`] turns any failure into the one short [`APOLOGY`] to post, and
//! logs the error with the provider's status.

mod anthropic;
mod build;
mod command;
mod echo;
mod error;
mod http;
mod openai;
pub mod speakers;
mod types;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Duration;

use futures::FutureExt;

pub use self::anthropic::{
    anthropic_messages, anthropic_messages_url, parse_anthropic_reply, AnthropicAgent,
    ANTHROPIC_MAX_TOKENS, ANTHROPIC_VERSION,
};
pub use self::build::{api_key_env, build_agent};
pub use self::command::{command_input, parse_output, CommandAgent, MAX_STDOUT_BYTES};
pub use self::echo::EchoAgent;
pub use self::error::{AgentBuildError, AgentError};
pub use self::http::{error_message, retry_after, RetryPolicy};
pub use self::openai::{openai_messages, parse_openai_reply, OpenAiAgent};
pub use self::types::{
    trim_history, AgentReply, AgentRequest, ConversationInfo, ConversationKind, Role, SenderInfo,
    SessionKey, Turn,
};

/// The one message posted in the room when the agent fails or times out.
pub const APOLOGY: &str = "Sorry, I couldn't answer that just now. Please try again in a moment.";

/// The future an [`Agent`] returns.
pub type AgentFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AgentReply, AgentError>> + Send + 'a>>;

/// Something that answers messages.
pub trait Agent: Send + Sync {
    /// A name for logs, such as `openai/gpt-4o-mini` or `echo`.
    fn name(&self) -> &str;

    /// Answers one message. Implementations bound their own running time (their timeout) and
    /// retries; they must not panic on anything a provider sends.
    fn reply<'a>(&'a self, req: &'a AgentRequest) -> AgentFuture<'a>;
}

/// Settings of the HTTP providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpAgentOptions {
    /// Longest time for one turn, retries and waits included.
    pub timeout: Duration,
    /// When failed requests are tried again.
    pub retry: RetryPolicy,
}

impl Default for HttpAgentOptions {
    /// The config's default timeout (120 s) and [`RetryPolicy::default`].
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(crate::config::DEFAULT_AGENT_TIMEOUT_SECONDS),
            retry: RetryPolicy::default(),
        }
    }
}

/// What to post for one message: the agent's reply, or [`APOLOGY`] with the error that caused
/// it.
#[derive(Debug)]
pub struct Answer {
    /// The text to post in the room.
    pub text: String,
    /// Why the agent failed, when `text` is the apology. Do not store the apology in the
    /// session's history.
    pub error: Option<AgentError>,
}

impl Answer {
    /// True when the agent answered (the reply belongs in the history).
    pub fn is_reply(&self) -> bool {
        self.error.is_none()
    }
}

/// Asks `agent` to answer `req` and never fails: any error (or a panic inside the agent) becomes
/// [`APOLOGY`], and the error is logged at `error` with the agent, session and provider status.
pub async fn answer(agent: &dyn Agent, req: &AgentRequest) -> Answer {
    let result = AssertUnwindSafe(agent.reply(req))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(AgentError::BadOutput("the agent panicked".to_string())))
        .and_then(|reply| {
            if reply.text.trim().is_empty() {
                Err(AgentError::BadOutput(
                    "the agent answered nothing".to_string(),
                ))
            } else {
                Ok(reply)
            }
        });
    match result {
        Ok(reply) => Answer {
            text: reply.text,
            error: None,
        },
        Err(err) => {
            tracing::error!(
                agent = %agent.name(),
                session = %req.session,
                status = ?err.status(),
                error = %err,
                "agent failed; posting an apology"
            );
            Answer {
                text: APOLOGY.to_string(),
                error: Some(err),
            }
        }
    }
}
