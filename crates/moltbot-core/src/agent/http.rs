//! The HTTP part shared by the model providers: one JSON POST with bounded retries.
//!
//! A request is tried again only when the provider says it is busy (429) or broken (5xx), or
//! could not be reached at all; never on other 4xx answers, which would fail the same way again.
//! Retries wait with exponential backoff and jitter, or as long as `Retry-After` asks. The whole
//! turn, retries and waits included, is bounded by the agent's timeout, so a failing provider
//! costs at most [`RetryPolicy::max_attempts`] requests per message: no retry storm.

use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use serde_json::Value;
use tokio::time::Instant;

use super::error::truncate;
use super::sse::{SseEvent, SseParser, StreamedAnswer};
use super::{AgentBuildError, AgentError, AgentReply, TextDeltas};
use crate::error::chain;

/// Longest provider error message kept in an [`AgentError`].
const MAX_ERROR_MESSAGE_CHARS: usize = 300;

/// How often and how patiently a failed provider request is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests per message, the first one included (at least 1).
    pub max_attempts: u32,
    /// Longest wait before the second attempt; doubled for each further one (see
    /// [`RetryPolicy::delays`]).
    pub base_delay: Duration,
    /// Longest computed wait (a `Retry-After` from the provider is honoured as given instead,
    /// as long as it fits in the timeout).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, waiting about 0.5 s then 1 s (at most 8 s).
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The computed waits after failed attempts 1, 2, ...: `d = min(base_delay * 2^(n-1),
    /// max_delay)`, jittered into `[d/2, d]` ([`crate::backoff::exponential`]). A `Retry-After`
    /// from the provider replaces the computed wait.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send {
        crate::backoff::exponential(self.base_delay, self.max_delay)
    }
}

/// Reads `Retry-After` when it is a number of seconds (the HTTP-date form is ignored).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = text.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// The readable message in a provider's error body: `error.message` (OpenAI, Anthropic),
/// `error` as text, `message` or `detail`; otherwise the body itself, truncated.
pub fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        let candidates = [
            v.pointer("/error/message"),
            v.get("error"),
            v.get("message"),
            v.get("detail"),
        ];
        candidates
            .into_iter()
            .flatten()
            .find_map(|c| c.as_str().map(str::to_string))
    });
    let message = from_json.unwrap_or_else(|| text.trim().to_string());
    if message.is_empty() {
        "(empty response)".to_string()
    } else {
        truncate(&message, MAX_ERROR_MESSAGE_CHARS)
    }
}

/// What was decided about one failed attempt.
enum Failure {
    /// Worth another attempt (after the given `Retry-After`, if any).
    Retry(AgentError, Option<Duration>),
    /// Final.
    Fatal(AgentError),
}

/// POSTs JSON to one provider endpoint with retries, within a timeout.
#[derive(Debug, Clone)]
pub(crate) struct JsonPoster {
    client: reqwest::Client,
    agent: String,
    timeout: Duration,
    retry: RetryPolicy,
}

impl JsonPoster {
    pub(crate) fn new(
        agent: &str,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, AgentBuildError> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("moltbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AgentBuildError::Http(chain(&e.without_url()).to_string()))?;
        Ok(Self {
            client,
            agent: agent.to_string(),
            timeout,
            retry,
        })
    }

    /// POSTs `body` to `url` with `headers` and returns the JSON of the first successful answer.
    pub(crate) async fn post(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: &Value,
    ) -> Result<Value, AgentError> {
        let attempts = self.retrying(|| async {
            let response = self.send(url, headers, body).await?;
            read_json(response).await.map_err(Failure::Fatal)
        });
        self.within_timeout(attempts).await
    }

    /// POSTs `body` (a request with `stream: true`) and reads the answer as server-sent events
    /// ([`super::sse`]), giving each to `on_event`, which returns `true` once the answer is
    /// complete (the rest of the stream is not read). Failed requests are retried as in
    /// [`JsonPoster::post`] until an answer starts; a failure after that (a broken connection,
    /// an error event) ends the turn, since text already passed on cannot be taken back. The
    /// whole turn is bounded by the timeout. A successful answer that is not an event stream (a
    /// server ignoring `stream: true`) comes back as [`Streamed::Json`].
    pub(crate) async fn post_stream(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: &Value,
        on_event: &mut (dyn FnMut(&SseEvent) -> Result<bool, AgentError> + Send),
    ) -> Result<Streamed, AgentError> {
        let turn = async {
            let response = self
                .retrying(|| async { self.send(url, headers, body).await })
                .await?;
            let is_stream = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
            if !is_stream {
                return read_json(response).await.map(Streamed::Json);
            }
            let mut parser = SseParser::new();
            let mut chunks = response.bytes_stream();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| {
                    AgentError::Network(format!(
                        "the answer stream broke off: {}",
                        chain(&e.without_url())
                    ))
                })?;
                let events = parser
                    .push(&chunk)
                    .map_err(|e| AgentError::BadOutput(e.to_string()))?;
                for event in &events {
                    if on_event(event)? {
                        return Ok(Streamed::Done);
                    }
                }
            }
            if let Some(event) = parser.finish() {
                if on_event(&event)? {
                    return Ok(Streamed::Done);
                }
            }
            Ok(Streamed::Ended)
        };
        self.within_timeout(turn).await
    }

    /// The reply to a streaming `request`, read by `answer` from its events (new text going to
    /// `deltas`), or by `parse_whole` from a whole JSON answer (sent to `deltas` as one piece).
    /// A stream that ends before the answer is complete is a failure.
    pub(crate) async fn stream_reply(
        &self,
        request: StreamRequest<'_>,
        mut answer: impl StreamedAnswer,
        deltas: &TextDeltas,
        parse_whole: fn(&Value) -> Result<AgentReply, AgentError>,
    ) -> Result<AgentReply, AgentError> {
        let ended = self
            .post_stream(request.url, request.headers, request.body, &mut |event| {
                answer.event(&event.data, deltas)
            })
            .await?;
        match ended {
            Streamed::Json(whole) => {
                let reply = parse_whole(&whole)?;
                // A receiver that went away only means nobody watches the preview.
                let _ = deltas.send(reply.text.clone());
                Ok(reply)
            }
            Streamed::Done => answer.reply(),
            Streamed::Ended if answer.complete() => answer.reply(),
            Streamed::Ended => Err(AgentError::Network(
                "the answer stream ended before the answer was complete".to_string(),
            )),
        }
    }

    /// Runs a turn within the agent's timeout.
    async fn within_timeout<T>(
        &self,
        turn: impl std::future::Future<Output = Result<T, AgentError>>,
    ) -> Result<T, AgentError> {
        match tokio::time::timeout(self.timeout, turn).await {
            Ok(result) => result,
            Err(_) => Err(AgentError::Timeout {
                after: self.timeout,
            }),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries (or the time for them)
    /// run out.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, AgentError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let started = Instant::now();
        let max_attempts = self.retry.max_attempts.max(1);
        let mut delays = self.retry.delays();
        let mut number = 1;
        loop {
            let (err, after) = match attempt().await {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(err)) => return Err(err),
                Err(Failure::Retry(err, _)) if number >= max_attempts => return Err(err),
                Err(Failure::Retry(err, after)) => (err, after),
            };
            let computed = delays.next().unwrap_or(self.retry.max_delay);
            // The provider's `Retry-After` replaces the computed wait.
            let wait = after.unwrap_or(computed);
            if started.elapsed() + wait >= self.timeout {
                // Waiting would run into the timeout: report the provider's answer instead.
                return Err(err);
            }
            tracing::warn!(
                agent = %self.agent,
                status = ?err.status(),
                attempt = number,
                retry_in_ms = wait.as_millis() as u64,
                error = %err,
                "agent request failed; retrying"
            );
            tokio::time::sleep(wait).await;
            number += 1;
        }
    }

    /// Sends the request once: the response when its status is a success.
    async fn send(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: &Value,
    ) -> Result<reqwest::Response, Failure> {
        let response = self
            .client
            .post(url)
            .headers(headers.clone())
            .json(body)
            .send()
            .await
            .map_err(|e| {
                let connect = e.is_connect();
                let err = AgentError::Network(chain(&e.without_url()).to_string());
                if connect {
                    Failure::Retry(err, None)
                } else {
                    Failure::Fatal(err)
                }
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let after = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| {
            Failure::Fatal(AgentError::Network(chain(&e.without_url()).to_string()))
        })?;
        let err = AgentError::Provider {
            status: Some(status.as_u16()),
            message: error_message(&bytes),
        };
        if status.as_u16() == 429 || status.is_server_error() {
            Err(Failure::Retry(err, after))
        } else {
            Err(Failure::Fatal(err))
        }
    }
}

/// A streaming request: where, with which headers, what.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamRequest<'a> {
    pub(crate) url: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a Value,
}

/// How a streamed answer ended.
#[derive(Debug)]
pub(crate) enum Streamed {
    /// The event handler saw the end of the answer.
    Done,
    /// The stream ended before the handler saw the end of the answer.
    Ended,
    /// The server answered with a whole JSON body instead of a stream.
    Json(Value),
}

/// The JSON body of a successful answer.
async fn read_json(response: reqwest::Response) -> Result<Value, AgentError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| AgentError::Network(chain(&e.without_url()).to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        AgentError::BadOutput(format!(
            "the provider's answer is not JSON ({e}): {}",
            truncate(&String::from_utf8_lossy(&bytes), MAX_ERROR_MESSAGE_CHARS)
        ))
    })
}

/// Joins a base URL and a path with exactly one `/`.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
