//! `moltbot channels probe webex`: `GET /people/me` with a timeout.

use std::time::Duration;

use moltbot_core::plugin::{ProbeCause, ProbeFailure, ProbeIdentity, ProbeReport};
use tokio::time::Instant;
use webex_api::WebexClient;

use crate::config::WebexConfig;
use crate::ops::cause::{classify, timeout_failure};

/// Calls `GET /people/me` once (no retries) and reports who answered and how fast, or the
/// precise cause of the failure. The whole call, including any rate-limit wait, is bounded by
/// `timeout`.
///
/// In websocket mode it then reads the service catalog and the bot's devices
/// (`GET <u2c>/catalog`, `GET <wdm>/devices`): the services the websocket needs must be
/// reachable from here too.
pub async fn probe(config: &WebexConfig, timeout: Duration) -> Result<ProbeReport, ProbeFailure> {
    let client = super::client(config, timeout, 1)?;
    let identity = identify(&client, &config.api_base_url, timeout).await?;
    let mut checks = Vec::new();
    if config.mode.uses_websocket() {
        checks.push(websocket_services(config, &client, timeout).await?);
    }
    Ok(ProbeReport {
        request: format!("GET {}/people/me", config.api_base_url),
        identity,
        checks,
    })
}

/// The catalog and the device service, as the websocket listener reaches them; one line.
pub async fn websocket_services(
    config: &WebexConfig,
    client: &WebexClient,
    timeout: Duration,
) -> Result<String, ProbeFailure> {
    let u2c = config.websocket.u2c_url.as_str();
    let mercury_config = webex_api::mercury::MercuryConfig::default()
        .with_u2c_url_str(u2c)
        .map_err(|err| {
            ProbeFailure::new(
                ProbeCause::Config,
                format!("channels.webex.websocket.u2cUrl: {err}"),
                Some("use https://u2c.wbx2.com/u2c/api/v1 (the default)".to_string()),
            )
        })?;
    let mercury = webex_api::mercury::Mercury::new(client.clone(), mercury_config);
    let reached = tokio::time::timeout(timeout, async {
        let catalog = mercury.catalog().await?;
        let devices = mercury.list_devices().await?;
        Ok::<_, webex_api::mercury::MercuryError>((catalog.wdm(), devices.len()))
    })
    .await;
    match reached {
        Err(_) => Err(timeout_failure(u2c, timeout.as_millis())),
        Ok(Err(webex_api::mercury::MercuryError::Api(err))) => {
            let mut failure = classify(&err, u2c, timeout.as_millis());
            if failure.cause != ProbeCause::BadToken {
                failure.message = format!("{} (websocket services at {u2c})", failure.message);
                failure.fix = Some(
                    "check channels.webex.websocket.u2cUrl (remove it for Webex's own \
                     https://u2c.wbx2.com/u2c/api/v1) and that this network reaches Webex's \
                     catalog and device service; use mode \"polling\" where they are blocked"
                        .to_string(),
                );
            }
            Err(failure)
        }
        Ok(Err(err)) => Err(ProbeFailure::new(
            ProbeCause::Api,
            format!("the websocket services at {u2c} cannot be used: {err}"),
            Some(
                "websocket mode needs Webex's service catalog and device service; use mode \"polling\" where they are blocked"
                    .to_string(),
            ),
        )),
        Ok(Ok((wdm, devices))) => Ok(format!(
            "websocket: catalog {u2c} reached; device service {}; {devices} device(s) registered for this bot",
            wdm.map_or_else(|| "-".to_string(), |url| url.to_string())
        )),
    }
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
