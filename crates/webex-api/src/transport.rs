//! Sending one logical call: budget permit, HTTP attempt, 429 pause, retries, observer, errors.
//!
//! Retry rules (contract section 6):
//! - 429: the request was refused, so it is safe to repeat for every method. The wait from
//!   `Retry-After` becomes a client-wide pause ([`crate::limiter`]) and the call retries, up to
//!   `max_rate_limit_retries` times.
//! - 5xx and network errors: idempotent methods (GET/PUT/DELETE) retry with exponential backoff
//!   and jitter, up to `max_attempts` attempts. POST does not: a 5xx or a broken connection after
//!   the request went out leaves it unknown whether the message landed, and a duplicate reply is
//!   worse than a reported failure. POST does retry on connect errors, which prove nothing was
//!   sent.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::limiter::{Limiter, Priority};
use crate::link::same_origin;
use crate::observe::RequestEvent;
use crate::retry::{backoff, parse_retry_after, MAX_BACKOFF};
use crate::upload::UploadFile;

/// Longest raw body kept in an error.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// A request body.
#[derive(Clone)]
pub(crate) enum CallBody {
    /// `application/json`.
    Json(Bytes),
    /// `multipart/form-data`: text fields, then one file part. Rebuilt for every attempt (a
    /// reqwest form is consumed by sending), sharing the file's bytes.
    Multipart {
        fields: Vec<(&'static str, String)>,
        file_field: &'static str,
        file: UploadFile,
    },
}

/// One logical API call.
pub(crate) struct Call {
    pub(crate) method: Method,
    /// Endpoint template for metrics, e.g. `/messages/{id}`.
    pub(crate) endpoint: &'static str,
    pub(crate) url: Url,
    pub(crate) body: Option<CallBody>,
    pub(crate) priority: Priority,
    /// The caller checked that `url` is on a host trusted with the token other than the API
    /// base (the Mercury module's catalog hosts); see [`crate::mercury::TrustedOrigins`].
    pub(crate) trusted: bool,
    /// Error statuses the caller reads itself (returned as responses, not [`Error::Api`]).
    pub(crate) accept: &'static [u16],
}

impl Call {
    pub(crate) fn new(method: Method, endpoint: &'static str, url: Url) -> Self {
        Self {
            method,
            endpoint,
            url,
            body: None,
            priority: Priority::Read,
            trusted: false,
            accept: &[],
        }
    }

    /// Returns these error statuses as responses for the caller to read (e.g. a download's
    /// 423, whose `Retry-After` the caller needs).
    pub(crate) fn accept(mut self, statuses: &'static [u16]) -> Self {
        self.accept = statuses;
        self
    }

    /// A `multipart/form-data` body: `fields` as text parts, then `file` as `file_field`.
    pub(crate) fn multipart(
        mut self,
        fields: Vec<(&'static str, String)>,
        file_field: &'static str,
        file: UploadFile,
    ) -> Self {
        self.body = Some(CallBody::Multipart {
            fields,
            file_field,
            file,
        });
        self
    }

    /// Marks the URL as trusted with the token although it is not on the API base origin.
    pub(crate) fn trusted(mut self) -> Self {
        self.trusted = true;
        self
    }

    pub(crate) fn json<B: serde::Serialize>(mut self, body: &B) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(|source| Error::InvalidJson {
            source,
            raw: String::new(),
        })?;
        self.body = Some(CallBody::Json(Bytes::from(bytes)));
        Ok(self)
    }

    pub(crate) fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    fn idempotent(&self) -> bool {
        self.method != Method::POST && self.method != Method::PATCH
    }
}

/// Shared state behind [`crate::WebexClient`].
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    pub(crate) config: ClientConfig,
    pub(crate) limiter: Limiter,
    auth: HeaderValue,
}

impl Transport {
    pub(crate) fn new(config: ClientConfig) -> Result<Self> {
        if config.token.is_empty() {
            return Err(Error::Config("the API token is empty".into()));
        }
        let rpm = std::num::NonZeroU32::new(config.requests_per_minute)
            .ok_or_else(|| Error::Config("requests_per_minute must be at least 1".into()))?;
        if !matches!(config.base_url.scheme(), "http" | "https") {
            return Err(Error::Config("base_url must be http or https".into()));
        }
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", config.token.expose().trim()))
                .map_err(|_| Error::Config("the API token contains invalid characters".into()))?;
        auth.set_sensitive(true);
        let builder = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(5));
        // The same proxy rule as the Mercury websocket (`HTTPS_PROXY` / `HTTP_PROXY` /
        // `ALL_PROXY`, `NO_PROXY`), so REST and the socket never take different paths. The
        // environment is read once here: with no proxy named, requests skip the decision (it
        // parsed each request's URL twice and read six variables).
        let proxy_env = crate::mercury::ProxyEnv::from_process();
        for (variable, scheme) in proxy_env.unusable() {
            tracing::warn!(
                variable,
                scheme = %scheme,
                "this proxy variable is not an http:// proxy URL (moltbot uses HTTP proxies, with CONNECT for https); it is ignored and what would use it goes direct"
            );
        }
        let builder = if proxy_env.names_a_proxy() {
            builder.proxy(reqwest::Proxy::custom(move |url| {
                crate::mercury::proxy_for(url, |name| proxy_env.get(name))
            }))
        } else {
            builder.no_proxy()
        };
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            limiter: Limiter::new(rpm, config.burst),
            config,
            auth,
        })
    }

    /// Builds `<base>/<segments...>?<query>`; segments are percent-encoded.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Url> {
        let mut url = self.config.base_url.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| Error::InvalidUrl("base_url cannot have a path".into()))?;
            path.pop_if_empty();
            path.extend(segments);
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
        }
        Ok(url)
    }

    /// Sends `call` with permits, retries and the 429 pause; returns a 2xx response.
    pub(crate) async fn execute(&self, call: &Call) -> Result<Response> {
        let mut attempt = 0u32;
        let mut failures = 0u32;
        let mut delays = backoff(self.config.backoff_base);
        let mut rate_limited = 0u32;
        loop {
            attempt += 1;
            self.limiter.acquire(call.priority).await;
            let started = Instant::now();
            let result = self.request(call).send().await;
            let elapsed = started.elapsed();
            match result {
                Ok(response) => {
                    let status = response.status();
                    self.observe(call, Some(status.as_u16()), elapsed, attempt);
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let wait = retry_after(response.headers());
                        self.limiter.pause_for(wait);
                        if let Some(observer) = &self.config.observer {
                            observer.on_rate_limited(call.endpoint, wait);
                        }
                        let tracking_id = tracking_id_header(response.headers());
                        tracing::warn!(
                            endpoint = call.endpoint,
                            wait_ms = wait.as_millis() as u64,
                            tracking_id = tracking_id.as_deref(),
                            "webex rate limited the client; pausing all calls"
                        );
                        rate_limited += 1;
                        if rate_limited > self.config.max_rate_limit_retries {
                            return Err(Error::RateLimited {
                                retry_after: wait,
                                tracking_id,
                            });
                        }
                        continue;
                    }
                    if status.is_server_error()
                        && call.idempotent()
                        && failures + 1 < self.config.max_attempts
                    {
                        failures += 1;
                        let delay = delays.next().unwrap_or(MAX_BACKOFF);
                        tracing::debug!(
                            endpoint = call.endpoint,
                            status = status.as_u16(),
                            delay_ms = delay.as_millis() as u64,
                            "retrying webex call after server error"
                        );
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    if !status.is_success() && !call.accept.contains(&status.as_u16()) {
                        return Err(api_error(response).await);
                    }
                    return Ok(response);
                }
                Err(err) => {
                    self.observe(call, None, elapsed, attempt);
                    // A connect error proves the request never left; anything else may have.
                    let retryable = call.idempotent() || err.is_connect();
                    if retryable && failures + 1 < self.config.max_attempts {
                        failures += 1;
                        let delay = delays.next().unwrap_or(MAX_BACKOFF);
                        tracing::debug!(
                            endpoint = call.endpoint,
                            error = %err,
                            delay_ms = delay.as_millis() as u64,
                            "retrying webex call after network error"
                        );
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(network_error(err));
                }
            }
        }
    }

    fn request(&self, call: &Call) -> reqwest::RequestBuilder {
        let mut builder = self.http.request(call.method.clone(), call.url.clone());
        // The token only goes to the configured API origin, or to a host the caller vetted.
        if call.trusted || same_origin(&call.url, &self.config.base_url) {
            builder = builder.header(AUTHORIZATION, self.auth.clone());
        }
        match &call.body {
            None => {}
            Some(CallBody::Json(body)) => {
                builder = builder
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            Some(CallBody::Multipart {
                fields,
                file_field,
                file,
            }) => {
                let mut form = reqwest::multipart::Form::new();
                for (name, value) in fields {
                    form = form.text(*name, value.clone());
                }
                form = form.part(*file_field, file.part());
                builder = builder.multipart(form);
            }
        }
        builder
    }

    fn observe(&self, call: &Call, status: Option<u16>, elapsed: Duration, attempt: u32) {
        if let Some(observer) = &self.config.observer {
            observer.on_request(&RequestEvent {
                method: call.method.as_str(),
                endpoint: call.endpoint,
                status,
                elapsed,
                attempt,
            });
        }
    }
}

/// The wait a 429 response asks for.
pub(crate) fn retry_after(headers: &HeaderMap) -> Duration {
    let value = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok());
    parse_retry_after(value, SystemTime::now())
}

fn tracking_id_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("trackingid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(crate) fn network_error(err: reqwest::Error) -> Error {
    if err.is_timeout() {
        Error::Timeout
    } else {
        Error::Network(err)
    }
}

/// Reads a body (bounded) into an [`Error::Api`].
async fn api_error(mut response: Response) -> Error {
    let status = response.status();
    let header_tracking = tracking_id_header(response.headers());
    let mut raw = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        raw.extend_from_slice(&chunk);
        if raw.len() >= MAX_ERROR_BODY {
            raw.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    let body = String::from_utf8_lossy(&raw).into_owned();
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&raw).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let message = field("message")
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|v| v.pointer("/errors/0/description"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    Error::Api {
        status: status.as_u16(),
        message,
        tracking_id: field("trackingId").or(header_tracking),
        body,
    }
}

/// Reads a 2xx body as JSON of type `T`, keeping the raw text on failure.
pub(crate) async fn decode<T: DeserializeOwned>(response: Response) -> Result<T> {
    let bytes = response.bytes().await.map_err(network_error)?;
    parse_json(&bytes)
}

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| {
        let raw = String::from_utf8_lossy(bytes);
        let cut = crate::text::truncate_to_bytes(&raw, MAX_ERROR_BODY);
        Error::InvalidJson {
            source,
            raw: cut.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_json_keeps_the_raw_body() {
        let err = parse_json::<serde_json::Value>(b"<html>oops</html>").unwrap_err();
        match err {
            Error::InvalidJson { raw, .. } => assert_eq!(raw, "<html>oops</html>"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn urls_are_built_under_the_base_path_with_encoded_segments() {
        let config =
            ClientConfig::new("token").with_base_url(Url::parse("http://127.0.0.1:9/v1/").unwrap());
        let transport = Transport::new(config).unwrap();
        let url = transport
            .url(&["messages", "a/b c"], &[("max", "5".to_string())])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/v1/messages/a%2Fb%20c?max=5"
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(matches!(
            Transport::new(ClientConfig::new("  ")),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Transport::new(ClientConfig::new("t").with_requests_per_minute(0)),
            Err(Error::Config(_))
        ));
    }
}
