//! Operations commands on the Webex side: `moltbot channels status`, `moltbot channels probe`
//! and `moltbot message send`. Each works without a running gateway: it builds its own
//! [`WebexClient`] from the config (same token, `apiBaseUrl` and rate-limit budget).
//!
//! - [`probe`]: `GET /people/me` with a timeout, one attempt, failures classified by [`cause`].
//! - [`status`]: config and store facts, plus Webex calls with `deep`.
//! - [`send`]: target parsing, chunking, `POST /messages`, the first-contact explanation.

pub mod cause;
pub mod probe;
pub mod send;
pub mod status;

use std::time::Duration;

use moltbot_core::plugin::{ProbeCause, ProbeFailure};
use webex_api::{ClientConfig, WebexClient};

use crate::config::WebexConfig;

/// Builds a client for one command: the configured token, `apiBaseUrl` and budget, with
/// `timeout` per HTTP attempt and at most `attempts` attempts per call.
pub fn client(
    config: &WebexConfig,
    timeout: Duration,
    attempts: u32,
) -> Result<WebexClient, ProbeFailure> {
    let config_error = |message: String| ProbeFailure::new(ProbeCause::Config, message, None);
    let mut client_config = ClientConfig::new(config.bot_token.expose())
        .with_base_url_str(&config.api_base_url)
        .map_err(|err| {
            config_error(format!(
                "channels.webex.apiBaseUrl {:?} is not usable: {err}",
                config.api_base_url
            ))
        })?
        .with_requests_per_minute(config.rate_limit.requests_per_minute)
        .with_burst(config.rate_limit.burst);
    client_config.timeout = timeout;
    client_config.max_attempts = attempts.max(1);
    WebexClient::new(client_config)
        .map_err(|err| config_error(format!("cannot build the Webex client: {err}")))
}
