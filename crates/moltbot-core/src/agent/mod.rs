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
//! With `agents.defaults.streaming`, [`answer_streaming`] asks through
//! [`Agent::reply_streaming`], which passes the answer's text on as it arrives ([`TextDeltas`]):
//! the OpenAI-compatible and Anthropic providers read their server-sent events ([`sse`]); any
//! other agent gives its whole answer as one piece.
//!
//! [`build_agent`] picks one from `agents.defaults.model` and `models.providers`. The caller owns
//! sessions ([`SessionKey`]: one per direct-message peer, one per group space) and history
//! ([`trim_history`] to `agents.defaults.historyTurns`), and resolves the system prompt.
//!
//! Failures never crash anything and never storm a provider: HTTP providers retry only on
//! 429/5xx and connection errors, a bounded number of times, within the turn's timeout
//! ([`RetryPolicy`]). [`answer`] turns any failure into the one short [`APOLOGY`] to post, and
//! logs the error with the provider's status.
//!
//! What goes to a provider and what comes back is checked in [`answer`], for every provider
//! alike: a message without text never reaches the provider (it gets [`help_text`]); empty
//! history turns are left out, so every request ends on a user turn with content; reasoning is
//! taken out of the reply ([`reasoning`]) before it is posted or stored.

mod anthropic;
pub mod attachments;
mod build;
mod command;
mod echo;
mod error;
mod http;
mod notice;
mod openai;
pub mod reasoning;
pub mod reply_files;
pub mod speakers;
pub mod sse;
mod types;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Duration;

use futures::FutureExt;

pub use self::anthropic::{
    anthropic_messages, anthropic_messages_for, anthropic_messages_url, parse_anthropic_reply,
    AnthropicAgent, AnthropicStream, ANTHROPIC_MAX_TOKENS, ANTHROPIC_VERSION,
};
pub use self::attachments::{
    Attachment, AttachmentContent, DocumentText, FileKind, InputKinds, PdfText,
};
pub use self::build::{api_key_env, build_agent};
pub use self::command::{
    command_input, parse_command_output, parse_output, CommandAgent, CommandOutput,
    MAX_STDOUT_BYTES,
};
pub use self::echo::EchoAgent;
pub use self::error::{AgentBuildError, AgentError};
pub use self::http::{error_message, retry_after, RetryPolicy};
pub use self::notice::{help_text, textless_notice, FILES_NOT_READ, NO_ANSWER};
pub use self::openai::{
    openai_messages, openai_messages_for, parse_openai_reply, OpenAiAgent, OpenAiStream,
};
pub use self::reasoning::{quote_reasoning, split_reasoning, ReasoningFilter};
pub use self::sse::StreamedAnswer;
pub use self::types::{
    clean_history, trim_history, AgentReply, AgentRequest, ConversationInfo, ConversationKind,
    LocalFile, ReplyFile, Role, SenderInfo, SessionKey, Turn,
};

/// The one message posted in the room when the agent fails or times out.
pub const APOLOGY: &str = "Sorry, I couldn't answer that just now. Please try again in a moment.";

/// The future an [`Agent`] returns.
pub type AgentFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AgentReply, AgentError>> + Send + 'a>>;

/// Where [`Agent::reply_streaming`] sends the text of a reply as it is generated: each item is
/// the next piece of the answer's text (not the text so far), reasoning blocks included as the
/// model wrote them (the receiver takes them out); separate reasoning (`thinking` blocks,
/// `reasoning_content`) is not sent. A receiver that went away is not an error.
pub type TextDeltas = tokio::sync::mpsc::UnboundedSender<String>;

/// Something that answers messages.
pub trait Agent: Send + Sync {
    /// A name for logs, such as `openai/gpt-4o-mini` or `echo`.
    fn name(&self) -> &str;

    /// Answers one message. Implementations bound their own running time (their timeout) and
    /// retries; they must not panic on anything a provider sends.
    fn reply<'a>(&'a self, req: &'a AgentRequest) -> AgentFuture<'a>;

    /// Answers one message like [`Agent::reply`], sending the answer's text to `deltas` as it
    /// arrives (`agents.defaults.streaming`). The returned reply is the whole answer and is
    /// what counts: the pieces are a preview. A failure after some pieces were sent is a
    /// failure like any other.
    ///
    /// The default calls [`Agent::reply`] and sends its whole text as one piece; the
    /// OpenAI-compatible and Anthropic providers stream.
    fn reply_streaming<'a>(
        &'a self,
        req: &'a AgentRequest,
        deltas: &'a TextDeltas,
    ) -> AgentFuture<'a> {
        Box::pin(async move {
            let reply = self.reply(req).await?;
            // A receiver that went away only means nobody watches the preview.
            let _ = deltas.send(reply.text.clone());
            Ok(reply)
        })
    }

    /// True when this agent's provider does not read PDFs (`models.providers.<name>.input`
    /// without `"pdf"`) but can be given their text: the gateway then has the text of each PDF
    /// read ([`DocumentText`]) and put in [`Attachment::pdf_text`] before asking. Default: false
    /// (the agent gets PDFs as they came, e.g. the command agent as files).
    fn wants_pdf_text(&self) -> bool {
        false
    }
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

/// How [`answer`] presents a reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerOptions {
    /// `agents.defaults.showReasoning`: post the model's reasoning as a Markdown quote before
    /// the answer (it is never stored in the history).
    pub show_reasoning: bool,
}

/// Most characters of reasoning quoted when `showReasoning` is on (the channel's output hook
/// may shorten it further to fit its message bound; it never drops the answer for it).
pub const MAX_QUOTED_REASONING_CHARS: usize = 3000;

/// What to post for one message: the agent's reply, one of our notices, or [`APOLOGY`] with the
/// error that caused it.
#[derive(Debug)]
pub struct Answer {
    /// The text to post in the room: the answer (or our notice, or the apology), without the
    /// reasoning.
    pub text: String,
    /// With `showReasoning`, the model's reasoning as a Markdown quote (at most
    /// [`MAX_QUOTED_REASONING_CHARS`] characters), posted before [`Answer::text`]. Kept apart
    /// so the channel's output hook can shorten it, never the answer, to fit its bounds.
    pub reasoning: Option<String>,
    /// Why the agent failed, when `text` is the apology.
    pub error: Option<AgentError>,
    /// The agent's answer as it goes into the session's history (reasoning removed); `None`
    /// when nothing belongs there: the apology, or a notice of ours (help line, files not read,
    /// no answer), after which the session's history is left as it was. The gateway notes
    /// the card and files it sends in it (`[card sent]`, `[file sent: name]`).
    pub history: Option<String>,
    /// Files the agent posts after the text, in order (none for a notice or the apology).
    pub files: Vec<ReplyFile>,
    /// The adaptive card the agent posts after the text, if any.
    pub card: Option<serde_json::Value>,
}

impl Answer {
    /// True when the agent answered (the reply belongs in the history).
    pub fn is_reply(&self) -> bool {
        self.history.is_some()
    }

    /// A notice of ours, posted instead of asking the agent: nothing goes into the history.
    pub fn notice(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            reasoning: None,
            error: None,
            history: None,
            files: Vec::new(),
            card: None,
        }
    }

    /// Everything posted, as one text: the quoted reasoning (if shown), a blank line, the
    /// answer. What a channel without bounds shows.
    pub fn posted(&self) -> String {
        match &self.reasoning {
            Some(reasoning) => format!("{reasoning}\n\n{}", self.text),
            None => self.text.clone(),
        }
    }
}

/// Asks `agent` to answer `req` and never fails.
///
/// - A message without text gets [`help_text`] without asking the agent (no provider ever gets
///   an empty user turn); history turns without text are left out ([`clean_history`]).
/// - Any error (or a panic inside the agent) becomes [`APOLOGY`], logged at `error` with the
///   agent, session and provider status.
/// - Reasoning is taken out of the reply ([`split_reasoning`], plus what the provider returned
///   apart, such as `reasoning_content`); with [`AnswerOptions::show_reasoning`] it is posted
///   as a quote before the answer. A reply with nothing left but reasoning posts [`NO_ANSWER`]
///   and stores nothing.
pub async fn answer(agent: &dyn Agent, req: &AgentRequest, options: AnswerOptions) -> Answer {
    answer_streaming(agent, req.clone(), options, None).await
}

/// [`answer`], with the answer's text sent to `deltas` as it arrives when given
/// ([`Agent::reply_streaming`]); `deltas` is dropped (closing its channel) when the answer is
/// complete. Nothing is sent for our notices (help line) nor for the apology. Takes the request
/// by value: only its history is rewritten, the rest (files included) goes to the agent as it is.
pub async fn answer_streaming(
    agent: &dyn Agent,
    mut req: AgentRequest,
    options: AnswerOptions,
    deltas: Option<TextDeltas>,
) -> Answer {
    if req.text.trim().is_empty() && req.attachments.is_empty() {
        return Answer::notice(help_text());
    }
    req.history = clean_history(&req.history);
    let req = &req;
    let call = match &deltas {
        Some(deltas) => agent.reply_streaming(req, deltas),
        None => agent.reply(req),
    };
    let result = AssertUnwindSafe(call)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(AgentError::BadOutput("the agent panicked".to_string())))
        .and_then(|reply| {
            if reply.is_blank() {
                Err(AgentError::BadOutput(
                    "the agent answered nothing".to_string(),
                ))
            } else {
                Ok(reply)
            }
        });
    match result {
        Ok(reply) => present(agent, req, reply, options),
        Err(err) => {
            tracing::error!(
                agent = %agent.name(),
                session = %req.session,
                status = ?err.status(),
                error = %err,
                "agent failed; posting an apology"
            );
            Answer {
                error: Some(err),
                ..Answer::notice(APOLOGY)
            }
        }
    }
}

/// The answer to post and store for a reply: reasoning out, quoted when asked for.
fn present(
    agent: &dyn Agent,
    req: &AgentRequest,
    reply: AgentReply,
    options: AnswerOptions,
) -> Answer {
    let split = split_reasoning(&reply.text);
    let reasoning = [reply.reasoning.as_deref().unwrap_or(""), &split.reasoning]
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let extras = !reply.files.is_empty() || reply.card.is_some();
    let (body, history) = if split.answer.is_empty() && !extras {
        tracing::warn!(
            agent = %agent.name(),
            session = %req.session,
            reasoning_chars = reasoning.chars().count(),
            "the agent answered with reasoning only; posting a notice"
        );
        (NO_ANSWER.to_string(), None)
    } else {
        (split.answer.clone(), Some(split.answer))
    };
    let shown = (options.show_reasoning && !reasoning.is_empty())
        .then(|| quote_reasoning(&reasoning, MAX_QUOTED_REASONING_CHARS));
    Answer {
        text: body,
        reasoning: shown,
        error: None,
        history,
        files: reply.files,
        card: reply.card,
    }
}
