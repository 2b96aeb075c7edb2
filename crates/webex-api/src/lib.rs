//! Typed async client for the Webex Messaging REST API.
//!
//! Knows nothing of moltbot: it speaks Webex and nothing else.
//!
//! - [`WebexClient`]: people, messages, rooms, memberships, webhooks, card actions, file
//!   uploads ([`WebexClient::create_message_with_file`]) and downloads (with Webex's
//!   anti-malware answers typed). Cheap to clone; clones share one rate limiter.
//! - One client-side budget ([`ClientConfig::requests_per_minute`]) for all calls, sends before
//!   reads; a 429 pauses every caller for `Retry-After`; idempotent calls retry 5xx and network
//!   errors with backoff and jitter. Callers never sleep on their own. Several processes
//!   running as one bot split the budget ([`WebexClient::set_budget_share`]) and apply each
//!   other's 429 pauses ([`WebexClient::pause_for`], reported by
//!   [`RequestObserver::on_rate_limited`]).
//! - List calls return [`Pages`], a stream that follows `Link: rel="next"` on the API origin only.
//! - [`mercury`]: listening on Webex's Mercury websocket (catalog, device, events, acks).
//! - [`ids`] decodes Webex ids and compares them by uuid; [`text`] holds the 7439-byte limit.
//!
//! ```no_run
//! # async fn demo() -> webex_api::Result<()> {
//! use webex_api::{ClientConfig, CreateMessage, MessageTarget, WebexClient};
//! let client = WebexClient::new(ClientConfig::new(std::env::var("WEBEX_BOT_TOKEN").unwrap_or_default()))?;
//! let me = client.people_me().await?;
//! let sent = client
//!     .create_message(&CreateMessage::markdown(
//!         MessageTarget::PersonEmail("alice@example.com".into()),
//!         format!("Hello from **{}**", me.display_name),
//!     ))
//!     .await?;
//! println!("sent {}", sent.id);
//! # Ok(()) }
//! ```

mod client;
mod config;
mod download;
mod error;
pub mod ids;
mod limiter;
pub mod link;
pub mod mercury;
pub mod models;
mod observe;
mod pagination;
mod requests;
pub mod retry;
pub mod text;
mod transport;
mod upload;

pub use client::WebexClient;
pub use config::{
    ApiToken, ClientConfig, DEFAULT_BASE_URL, DEFAULT_BURST, DEFAULT_REQUESTS_PER_MINUTE,
};
pub use download::{filename_from_disposition, DownloadOptions, DownloadedFile, FileInfo};
pub use error::{Error, Result};
pub use ids::{same_entity, WebexId};
pub use models::{
    AttachmentAction, Items, Membership, Message, Page, Person, PersonType, Room, RoomSortBy,
    RoomType, Webhook, WebhookEvent, WebhookResource, WebhookStatus,
};
pub use observe::{RequestEvent, RequestObserver};
pub use pagination::Pages;
pub use requests::{
    CreateMessage, CreateWebhook, DirectPeer, EditMessage, ListMessages, ListRooms, MessageTarget,
    UpdateWebhook,
};
pub use text::{fits, split_at_char_boundary, MAX_MESSAGE_BYTES};
pub use upload::{UploadFile, MAX_FILE_BYTES};
/// Re-exported so callers can build [`ClientConfig::base_url`] without depending on `url`.
pub use url::Url;
