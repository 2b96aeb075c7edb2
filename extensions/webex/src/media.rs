//! A message's files, downloaded for the agent.
//!
//! Each URL in a message's `files` is fetched with the bot token, from the API origin only (the
//! client refuses any other host), capped at `channels.webex.mediaMaxMb`. Webex scans files for
//! malware before it serves them (developer.webex.com/docs/basics, "Message Attachments"):
//! - 423 Locked + `Retry-After`: still being scanned; waited out, up to [`SCAN_WAIT`] in all;
//! - 410 Gone: infected or blocked; the agent is told the file was blocked;
//! - 428 Precondition Required: could not be scanned; fetched anyway only with
//!   `channels.webex.mediaAllowUnscannable`, else the agent is told.
//!
//! A file that cannot be had becomes [`Attachment::unavailable`] with the reason; nothing here
//! fails the message.

use std::time::Duration;

use moltbot_core::agent::Attachment;
use moltbot_core::error::chain;
use webex_api::{DownloadOptions, Error};

use crate::shared::{WebexShared, CHANNEL};

/// The longest a file still being scanned is waited for, in all.
pub const SCAN_WAIT: Duration = Duration::from_secs(60);

/// The longest single wait a `Retry-After` may ask for (a longer one is cut to this).
const MAX_SCAN_RETRY: Duration = Duration::from_secs(15);

/// Downloads every file of `urls` (in order), as [`Attachment`]s.
pub async fn fetch_all(shared: &WebexShared, message_id: &str, urls: &[String]) -> Vec<Attachment> {
    let mut out = Vec::with_capacity(urls.len());
    for (index, url) in urls.iter().enumerate() {
        out.push(fetch_one(shared, message_id, index, url).await);
    }
    out
}

async fn fetch_one(shared: &WebexShared, message_id: &str, index: usize, url: &str) -> Attachment {
    let config = &shared.config;
    let max_bytes = config.media_max_mb.saturating_mul(1024 * 1024);
    let mut options = DownloadOptions::max_bytes(max_bytes);
    if config.media_allow_unscannable {
        options = options.allowing_unscannable();
    }
    let fallback_name = format!("file {}", index + 1);
    let started = tokio::time::Instant::now();
    loop {
        match shared.client.download_file_with(url, options).await {
            Ok(file) => {
                let name = file.filename.unwrap_or(fallback_name);
                let content_type = file.content_type.unwrap_or_default();
                tracing::debug!(channel = CHANNEL, message_id, file = %name, bytes = file.bytes.len(), "file downloaded for the agent");
                return Attachment::new(name, &content_type, file.bytes.to_vec());
            }
            Err(Error::FileScanning { retry_after, .. }) => {
                let wait = retry_after.clamp(Duration::from_millis(100), MAX_SCAN_RETRY);
                if started.elapsed() + wait > SCAN_WAIT {
                    tracing::info!(
                        channel = CHANNEL,
                        message_id,
                        index,
                        "file still being scanned for malware after a minute; the agent is told"
                    );
                    return named(
                        shared,
                        url,
                        fallback_name,
                        "still being scanned for malware by Webex",
                    )
                    .await;
                }
                tokio::time::sleep(wait).await;
            }
            Err(Error::FileInfected { .. }) => {
                tracing::info!(
                    channel = CHANNEL,
                    message_id,
                    index,
                    "file blocked by Webex's malware scan"
                );
                return Attachment::unavailable(
                    fallback_name,
                    "application/octet-stream",
                    "blocked by Webex's malware scan",
                );
            }
            Err(Error::FileUnscannable { .. }) => {
                tracing::info!(channel = CHANNEL, message_id, index, "file could not be scanned for malware; not downloaded (channels.webex.mediaAllowUnscannable)");
                return named(
                    shared,
                    url,
                    fallback_name,
                    "Webex could not scan it for malware, and unscanned files are not read",
                )
                .await;
            }
            Err(Error::TooLarge { .. }) => {
                let why = format!(
                    "larger than {} MB (channels.webex.mediaMaxMb)",
                    config.media_max_mb
                );
                return named(shared, url, fallback_name, &why).await;
            }
            Err(err) => {
                tracing::warn!(channel = CHANNEL, message_id, index, error = %chain(&err), "could not download a file for the agent");
                return Attachment::unavailable(
                    fallback_name,
                    "application/octet-stream",
                    "could not be downloaded",
                );
            }
        }
    }
}

/// An unavailable file, named and typed from a `HEAD` when Webex answers it.
async fn named(shared: &WebexShared, url: &str, fallback: String, why: &str) -> Attachment {
    let allow = shared.config.media_allow_unscannable;
    match shared.client.file_info(url, allow).await {
        Ok(info) => Attachment::unavailable(
            info.filename.unwrap_or(fallback),
            info.content_type.as_deref().unwrap_or_default(),
            why,
        ),
        Err(_) => Attachment::unavailable(fallback, "application/octet-stream", why),
    }
}
