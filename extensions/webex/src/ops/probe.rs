//! `moltbot channels probe webex`: `GET /people/me` with a timeout.

use std::time::Duration;

use moltbot_core::plugin::{ProbeFailure, ProbeIdentity, ProbeReport};
use tokio::time::Instant;
use webex_api::WebexClient;

use crate::config::WebexConfig;
use crate::ops::cause::{classify, timeout_failure};

/// Calls `GET /people/me` once (no retries) and reports who answered and how fast, or the
/// precise cause of the failure. The whole call, including any rate-limit wait, is bounded by
/// `timeout`.
pub async fn probe(config: &WebexConfig, timeout: Duration) -> Result<ProbeReport, ProbeFailure> {
    let client = super::client(config, timeout, 1)?;
    identify(&client, &config.api_base_url, timeout)
        .await
        .map(|identity| ProbeReport {
            request: format!("GET {}/people/me", config.api_base_url),
            identity,
        })
}

/// `GET /people/me` with `client`, bounded by `timeout`.
pub async fn identify(
    client: &WebexClient,
    api: &str,
    timeout: Duration,
) -> Result<ProbeIdentity, ProbeFailure> {
    let started = Instant::now();
    let answer = tokio::time::timeout(timeout, client.people_me()).await;
    let latency = started.elapsed();
    match answer {
        Err(_) => Err(timeout_failure(api, timeout.as_millis())),
        Ok(Err(err)) => Err(classify(&err, api, timeout.as_millis())),
        Ok(Ok(me)) => Ok(ProbeIdentity {
            id: me.id,
            name: me.display_name,
            email: me.emails.into_iter().next(),
            latency,
        }),
    }
}
