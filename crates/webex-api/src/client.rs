//! [`WebexClient`]: the typed calls.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use url::Url;

use crate::config::ClientConfig;
use crate::error::Result;
use crate::limiter::Priority;
use crate::models::{AttachmentAction, Items, Membership, Message, Person, Room, Webhook};
use crate::pagination::Pages;
use crate::requests::{
    CreateMessage, CreateWebhook, DirectPeer, EditMessage, ListMessages, ListRooms, UpdateWebhook,
};
use crate::transport::{decode, Call, Transport};

/// A Webex REST client. Cheap to clone; clones share one connection pool and one rate limiter.
#[derive(Clone)]
pub struct WebexClient {
    inner: Arc<Transport>,
}

impl std::fmt::Debug for WebexClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebexClient")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl WebexClient {
    /// Builds a client. Fails on an empty token, a zero budget or a non-http(s) base URL.
    pub fn new(config: ClientConfig) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(Transport::new(config)?),
        })
    }

    /// The configured API base.
    pub fn base_url(&self) -> &Url {
        &self.inner.config.base_url
    }

    /// The configuration (token redacted in `Debug`).
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Time left on the client-wide pause set by the last 429, if any.
    pub fn rate_limit_pause(&self) -> Option<Duration> {
        self.inner
            .limiter
            .paused_until()
            .map(|until| until.saturating_duration_since(tokio::time::Instant::now()))
    }

    /// Shares the configured budget ([`ClientConfig::requests_per_minute`] and
    /// [`ClientConfig::burst`]) among `processes` clients of the same bot token (each at least
    /// 1 request a minute and a bucket of 1): Webex's rate limit is per token, so several
    /// processes running as one bot must split it. `1` restores the whole budget. The adaptive
    /// budget keeps its proportion (a cut after a 429 stays a cut); the new quota starts with
    /// an empty bucket. Returns this client's part in requests per minute.
    pub fn set_budget_share(&self, processes: u32) -> u32 {
        self.inner.limiter.set_share(processes)
    }

    /// Pauses every call of this client for `wait`, as if Webex had answered one of them 429
    /// with that `Retry-After`: for a pause another process running as the same bot was told
    /// of (its [`RequestObserver::on_rate_limited`](crate::RequestObserver::on_rate_limited)).
    /// Never shortens a running pause; cuts the adaptive budget once per episode, like a 429
    /// of this client's own. The observer is not called.
    pub fn pause_for(&self, wait: Duration) {
        self.inner.limiter.pause_for(wait);
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &'static str,
        url: Url,
    ) -> Result<T> {
        let response = self
            .inner
            .execute(&Call::new(Method::GET, endpoint, url))
            .await?;
        decode(response).await
    }

    async fn send_json<T: serde::de::DeserializeOwned, B: serde::Serialize>(
        &self,
        method: Method,
        endpoint: &'static str,
        url: Url,
        body: &B,
        priority: Priority,
    ) -> Result<T> {
        let call = Call::new(method, endpoint, url)
            .json(body)?
            .priority(priority);
        let response = self.inner.execute(&call).await?;
        decode(response).await
    }

    async fn delete(&self, endpoint: &'static str, url: Url, priority: Priority) -> Result<()> {
        let call = Call::new(Method::DELETE, endpoint, url).priority(priority);
        self.inner.execute(&call).await?;
        Ok(())
    }

    fn pages<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        endpoint: &'static str,
        url: Result<Url>,
        sticky: Vec<(String, String)>,
    ) -> Pages<T> {
        match url {
            Ok(url) => Pages::new(self.clone(), endpoint, url, sticky),
            Err(err) => Pages::failed(err),
        }
    }

    // ---- people ----------------------------------------------------------------------------

    /// `GET /people/me`: the caller (the bot itself).
    pub async fn people_me(&self) -> Result<Person> {
        self.get("/people/me", self.inner.url(&["people", "me"], &[])?)
            .await
    }

    /// `GET /people/{id}`.
    pub async fn person(&self, id: &str) -> Result<Person> {
        self.get("/people/{id}", self.inner.url(&["people", id], &[])?)
            .await
    }

    /// `GET /people?email=..`: the person with this email, if Webex knows one.
    pub async fn people_by_email(&self, email: &str) -> Result<Option<Person>> {
        let url = self
            .inner
            .url(&["people"], &[("email", email.trim().to_string())])?;
        let items: Items<Person> = self.get("/people", url).await?;
        Ok(items.items.into_iter().next())
    }

    // ---- messages --------------------------------------------------------------------------

    /// `POST /messages`. Served before queued reads. Not retried on 5xx or after a broken
    /// connection (it may have landed); retried on 429 and on connect errors.
    pub async fn create_message(&self, message: &CreateMessage) -> Result<Message> {
        let url = self.inner.url(&["messages"], &[])?;
        self.send_json(Method::POST, "/messages", url, message, Priority::Send)
            .await
    }

    /// `GET /messages/{id}`.
    pub async fn get_message(&self, id: &str) -> Result<Message> {
        self.get("/messages/{id}", self.inner.url(&["messages", id], &[])?)
            .await
    }

    /// `GET /messages` as pages, newest first. A `mentionedPeople` filter is kept on every page.
    pub fn list_messages(&self, filter: &ListMessages) -> Pages<Message> {
        let sticky = if filter.mentioned_people.is_empty() {
            Vec::new()
        } else {
            vec![(
                "mentionedPeople".to_string(),
                filter.mentioned_people.join(","),
            )]
        };
        let url = self.inner.url(&["messages"], &filter.query());
        self.pages("/messages", url, sticky)
    }

    /// `GET /messages/direct` with one person, as pages.
    pub fn list_direct_messages(&self, peer: &DirectPeer) -> Pages<Message> {
        let url = self.inner.url(&["messages", "direct"], &[peer.query()]);
        self.pages("/messages/direct", url, Vec::new())
    }

    /// `PUT /messages/{id}`: edit text or markdown.
    pub async fn edit_message(&self, id: &str, edit: &EditMessage) -> Result<Message> {
        let url = self.inner.url(&["messages", id], &[])?;
        self.send_json(Method::PUT, "/messages/{id}", url, edit, Priority::Send)
            .await
    }

    /// `DELETE /messages/{id}`.
    pub async fn delete_message(&self, id: &str) -> Result<()> {
        let url = self.inner.url(&["messages", id], &[])?;
        self.delete("/messages/{id}", url, Priority::Send).await
    }

    // ---- rooms and memberships -------------------------------------------------------------

    /// `GET /rooms` as pages.
    pub fn list_rooms(&self, filter: &ListRooms) -> Pages<Room> {
        let url = self.inner.url(&["rooms"], &filter.query());
        self.pages("/rooms", url, Vec::new())
    }

    /// `GET /rooms/{id}`.
    pub async fn get_room(&self, id: &str) -> Result<Room> {
        self.get("/rooms/{id}", self.inner.url(&["rooms", id], &[])?)
            .await
    }

    /// `GET /memberships?roomId=..` as pages.
    pub fn list_memberships(&self, room_id: &str) -> Pages<Membership> {
        let url = self
            .inner
            .url(&["memberships"], &[("roomId", room_id.to_string())]);
        self.pages("/memberships", url, Vec::new())
    }

    // ---- webhooks --------------------------------------------------------------------------

    /// `GET /webhooks` as pages.
    pub fn list_webhooks(&self) -> Pages<Webhook> {
        let url = self.inner.url(&["webhooks"], &[]);
        self.pages("/webhooks", url, Vec::new())
    }

    /// `GET /webhooks/{id}`.
    pub async fn get_webhook(&self, id: &str) -> Result<Webhook> {
        self.get("/webhooks/{id}", self.inner.url(&["webhooks", id], &[])?)
            .await
    }

    /// `POST /webhooks`.
    pub async fn create_webhook(&self, webhook: &CreateWebhook) -> Result<Webhook> {
        let url = self.inner.url(&["webhooks"], &[])?;
        self.send_json(Method::POST, "/webhooks", url, webhook, Priority::Read)
            .await
    }

    /// `PUT /webhooks/{id}` (also re-activates with `status: Some(WebhookStatus::Active)`).
    pub async fn update_webhook(&self, id: &str, update: &UpdateWebhook) -> Result<Webhook> {
        let url = self.inner.url(&["webhooks", id], &[])?;
        self.send_json(Method::PUT, "/webhooks/{id}", url, update, Priority::Read)
            .await
    }

    /// `DELETE /webhooks/{id}`.
    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        let url = self.inner.url(&["webhooks", id], &[])?;
        self.delete("/webhooks/{id}", url, Priority::Read).await
    }

    // ---- cards -----------------------------------------------------------------------------

    /// `GET /attachment/actions/{id}`: a card submission.
    pub async fn attachment_action(&self, id: &str) -> Result<AttachmentAction> {
        let url = self.inner.url(&["attachment", "actions", id], &[])?;
        self.get("/attachment/actions/{id}", url).await
    }
}
