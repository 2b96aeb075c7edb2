//! The Webex channel as the gateway runs it: connect, receive (webhook / polling / both), send.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use moltbot_core::access::AccessPolicy;
use moltbot_core::error::chain;
use moltbot_core::gateway::replicas;
use moltbot_core::gateway::{
    BoxFuture, Channel, ChannelContext, ChannelError, ChannelErrorKind, ChannelMetrics, Fetched,
    Metrics, OutgoingMessage, ReplyContext, ReplyFilter, SendTarget, SenderInfo,
};
use moltbot_core::store::Store;
use webex_api::{ClientConfig, EditMessage, RequestEvent, RequestObserver, WebexClient};

use crate::config::WebexConfig;
use crate::people::PeopleCache;
use crate::polling::Poller;
use crate::shared::{BotIdentity, WebexShared, CHANNEL};

/// Name given to the webhooks moltbot registers (and reconciles on every start, and every
/// check while it runs: see [`crate::webhook::watch`]).
pub const WEBHOOK_NAME: &str = "moltbot";

/// Store namespace and key of the generated webhook secret.
const SECRET_NS: &str = "webex";
const SECRET_KEY: &str = "webhook_secret";

/// The Webex channel.
pub struct WebexChannel {
    shared: Arc<WebexShared>,
    webhook_secret: String,
    /// The webhook target registered by `connect` (webhook modes), kept for the running check.
    webhook_target: OnceLock<String>,
    metrics: ChannelMetrics,
    people: PeopleCache,
}

impl std::fmt::Debug for WebexChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebexChannel")
            .field("mode", &self.shared.config.mode.as_str())
            .finish_non_exhaustive()
    }
}

/// Reports every Webex API call to the gateway metrics, and every 429 pause to the other
/// replicas sharing the store.
struct MetricsObserver(ChannelMetrics, Store);

impl RequestObserver for MetricsObserver {
    fn on_request(&self, event: &RequestEvent<'_>) {
        self.0
            .api_call(event.method, event.endpoint, event.status.unwrap_or(0));
    }

    fn on_rate_limited(&self, endpoint: &str, wait: Duration) {
        tracing::warn!(
            channel = CHANNEL,
            endpoint,
            ?wait,
            "Webex rate limit: pausing all calls"
        );
        // Webex's limit is per bot: the other replicas pause too (they read it within
        // `replicas::SYNC_EVERY`). The observer must not block: the write runs on its own.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.1.clone();
        let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        let until = store.now_ms().saturating_add(wait_ms);
        runtime.spawn(async move {
            if let Err(err) = replicas::publish_pause(&store, CHANNEL, until).await {
                tracing::warn!(channel = CHANNEL, error = %err, "cannot tell the other replicas about the rate limit pause");
            }
        });
    }
}

impl WebexChannel {
    /// Builds the channel from its validated config. Blocking (reads the store).
    pub fn new(
        config: WebexConfig,
        store: &Store,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ChannelError> {
        let client_config = ClientConfig::new(config.bot_token.expose())
            .with_base_url_str(&config.api_base_url)
            .map_err(|err| {
                ChannelError::new(ChannelErrorKind::Config, err).with_context(format!(
                    "channels.webex.apiBaseUrl {:?} is not usable",
                    config.api_base_url
                ))
            })?
            .with_requests_per_minute(config.rate_limit.requests_per_minute)
            .with_burst(config.rate_limit.burst)
            .with_observer(Arc::new(MetricsObserver(
                metrics.channel(CHANNEL),
                store.clone(),
            )));
        let metrics = metrics.channel(CHANNEL);
        let client = WebexClient::new(client_config)
            .map_err(|err| channel_error(err).with_context("cannot build the Webex client"))?;
        let webhook_secret = match &config.webhook.secret {
            Some(secret) => secret.expose().to_string(),
            // Building a channel is synchronous; the store's writes run on its own writer thread,
            // so waiting here needs no runtime.
            None => futures::executor::block_on(store.kv().get_or_insert(
                SECRET_NS,
                SECRET_KEY,
                &random_secret(),
            ))
            .map_err(|err| {
                ChannelError::new(ChannelErrorKind::Permanent, err)
                    .with_context("cannot keep the webhook secret in the state store")
            })?,
        };
        moltbot_core::logging::register_secret(&webhook_secret);
        Ok(Self {
            shared: Arc::new(WebexShared {
                client,
                config,
                bot: OnceLock::new(),
                sink: OnceLock::new(),
                connected_at_ms: OnceLock::new(),
                caught_up: Default::default(),
            }),
            webhook_secret,
            webhook_target: OnceLock::new(),
            metrics,
            people: PeopleCache::new(),
        })
    }

    /// The shared state (for tests and the CLI).
    pub fn shared(&self) -> &Arc<WebexShared> {
        &self.shared
    }

    /// The id of a message just posted, or, when the post failed with an unknown outcome, of
    /// the message found to have landed anyway (see [`crate::landed`]); `file` is the name of
    /// the file an upload carried.
    async fn sent_or_landed(
        &self,
        message: &OutgoingMessage,
        file: Option<&str>,
        started: time::OffsetDateTime,
        result: Result<webex_api::Message, webex_api::Error>,
    ) -> Result<String, ChannelError> {
        match result {
            Ok(sent) => Ok(sent.id),
            Err(err) => {
                let failure = send_error(err);
                if failure.maybe_delivered() {
                    if let Some(id) =
                        crate::landed::find_landed(&self.shared, message, file, started).await
                    {
                        tracing::info!(channel = CHANNEL, message_id = %id, "the send whose outcome was unknown did land");
                        return Ok(id);
                    }
                }
                Err(failure)
            }
        }
    }

    async fn connect_inner(&self, http_addr: Option<SocketAddr>) -> Result<(), ChannelError> {
        let me = self
            .shared
            .client
            .people_me()
            .await
            .map_err(|err| failed_call(err, "GET /people/me"))?;
        let bot = BotIdentity {
            id: me.id.clone(),
            email: me.emails.first().cloned(),
            display_name: me.display_name.clone(),
        };
        tracing::info!(
            channel = CHANNEL,
            bot = %bot.display_name,
            email = bot.email.as_deref().unwrap_or("-"),
            mode = self.shared.config.mode.as_str(),
            "connected to Webex"
        );
        let _ = self.shared.bot.set(bot);
        let _ = self
            .shared
            .connected_at_ms
            .set(crate::polling::cursor::to_ms(
                time::OffsetDateTime::now_utc(),
            ));
        note_unused_settings(&self.shared.config);
        if self.shared.config.mode.uses_webhook() {
            self.webhook_url(http_addr)?;
        }
        Ok(())
    }

    /// The webhook target (webhook modes): `webhook.url`, with a port of 0 replaced by the
    /// bound one.
    fn webhook_url(&self, http_addr: Option<SocketAddr>) -> Result<String, ChannelError> {
        let Some(url) = self.shared.config.webhook.url.as_deref() else {
            return Err(ChannelError::message(
                ChannelErrorKind::Config,
                "channels.webex.webhook.url is required in webhook mode",
            ));
        };
        Ok(target_url(url, http_addr))
    }

    /// Registers (reconciles) the webhooks, in webhook modes: only in the process that runs
    /// the receivers (the leader, among replicas).
    async fn register_inner(&self, http_addr: Option<SocketAddr>) -> Result<(), ChannelError> {
        if self.shared.config.mode.uses_webhook() {
            let target = self.webhook_url(http_addr)?;
            let report = crate::webhook::register::reconcile(
                &self.shared.client,
                &target,
                &self.webhook_secret,
                WEBHOOK_NAME,
            )
            .await
            .map_err(|err| {
                channel_error(err).with_context(format!(
                    "Webhook registration failed for {target} (check channels.webex.webhook.url: a public https URL)"
                ))
            })?;
            tracing::info!(
                channel = CHANNEL,
                target = %target,
                created = report.created.len(),
                updated = report.updated.len(),
                reactivated = report.reactivated.len(),
                deleted = report.deleted.len(),
                unchanged = report.unchanged.len(),
                "webhooks registered"
            );
            crate::webhook::watch::note_repairs(
                &report,
                &self.metrics,
                &target,
                crate::webhook::watch::Moment::Start,
                false,
            );
            let _ = self.webhook_target.set(target);
        }
        Ok(())
    }

    async fn run_inner(self: Arc<Self>, ctx: ChannelContext) -> Result<(), ChannelError> {
        let _ = self.shared.sink.set(ctx.sink.clone());
        let mut poller = Poller::new(Arc::clone(&self.shared), ctx.sink.clone());
        if self.shared.config.mode.uses_websocket() {
            return self.listen_on_websocket(poller, ctx).await;
        }
        // First pass: what arrived while we were down (webhook mode's catch-up; in polling
        // modes simply the first poll). Webhook deliveries wait for it (see CatchUpGate).
        catch_up(&mut poller).await;
        self.shared.caught_up.open();
        ctx.ready.mark_ready();
        // Webhook modes: the webhooks are checked (and put back) while the gateway runs.
        let Some(watch) = self.webhook_watch() else {
            return self.receive(poller, ctx.shutdown).await;
        };
        let period = crate::webhook::watch::check_period(&self.shared.config);
        tokio::select! {
            outcome = Arc::clone(&self).receive(poller, ctx.shutdown.clone()) => outcome,
            // Returns only on shutdown, when the receivers return too.
            () = watch.run(period, ctx.shutdown.clone()) => Ok(()),
        }
    }

    /// Websocket mode: the socket opens while the start-up catch-up runs (what it brings is
    /// claimed at once and queued once the catch-up is done); then the safety poll runs beside
    /// it, with a catch-up pass after every reconnect. The channel is ready once the socket is
    /// authorized and the catch-up done.
    async fn listen_on_websocket(
        self: Arc<Self>,
        mut poller: Poller,
        ctx: ChannelContext,
    ) -> Result<(), ChannelError> {
        let nudge = Arc::new(tokio::sync::Notify::new());
        let listener = Arc::new(
            crate::websocket::WebsocketListener::new(
                Arc::clone(&self.shared),
                ctx.sink.store().clone(),
                self.metrics.clone(),
                Arc::clone(&nudge),
            )
            .await?,
        );
        let shared = Arc::clone(&self.shared);
        let shutdown = ctx.shutdown.clone();
        let polling = async move {
            catch_up(&mut poller).await;
            shared.caught_up.open();
            let every = shared.config.websocket.safety_poll;
            poller.run_with(every, Some(nudge), shutdown).await
        };
        tokio::select! {
            outcome = listener.run(ctx.ready.clone(), ctx.shutdown.clone()) => outcome,
            outcome = polling => outcome,
        }
    }

    /// The running webhook check, in webhook modes once `connect` registered the webhooks.
    fn webhook_watch(&self) -> Option<crate::webhook::watch::WebhookWatch> {
        let target = self.webhook_target.get()?;
        Some(crate::webhook::watch::WebhookWatch::new(
            self.shared.client.clone(),
            target.clone(),
            self.webhook_secret.clone(),
            WEBHOOK_NAME.to_string(),
            self.metrics.clone(),
        ))
    }

    /// Receives until `shutdown`: polling (polling modes), else the safety poll (webhook mode,
    /// unless turned off), else nothing but waiting (the webhook route does the work).
    async fn receive(
        self: Arc<Self>,
        poller: Poller,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<(), ChannelError> {
        if self.shared.config.mode.uses_polling() {
            return poller
                .run(self.shared.config.polling.interval, shutdown)
                .await;
        }
        // Webhook only: a slow safety poll finds messages whose delivery never came (Webex does
        // not promise redelivery); claims make anything the webhook already took a no-op. Its
        // first pass comes one interval after the catch-up, not right after it.
        if let Some(every) = self.shared.config.webhook.safety_poll {
            return poller.run(every, shutdown).await;
        }
        shutdown.cancelled().await;
        Ok(())
    }
}

/// Logs settings of another receive mode that this one does not use (they are valid, so
/// `config validate` accepts them, but a user who set them probably expects an effect).
fn note_unused_settings(config: &WebexConfig) {
    let mode = config.mode;
    let mut unused = Vec::new();
    if !mode.uses_webhook() && config.webhook.url.is_some() {
        unused.push("channels.webex.webhook.url");
    }
    if !mode.uses_websocket() && config.websocket != crate::config::WebsocketConfig::default() {
        unused.push("channels.webex.websocket");
    }
    if !unused.is_empty() {
        tracing::info!(channel = CHANNEL, mode = mode.as_str(), unused = ?unused, "settings of another receive mode are not used in this mode");
    }
}

/// One polling pass for what arrived while the gateway was down (a failure is logged; the
/// receivers go on).
async fn catch_up(poller: &mut Poller) {
    match poller.poll_once().await {
        Ok(report) => tracing::info!(
            channel = CHANNEL,
            new = report.new_messages,
            rooms = report.rooms_read,
            "catch-up finished"
        ),
        Err(err) => {
            tracing::warn!(channel = CHANNEL, error = %chain(&err), "catch-up failed; continuing")
        }
    }
}

/// The webhook target: `url`, with a port of 0 replaced by the port the gateway is bound to
/// (lets tests and `--sim` bind port 0).
fn target_url(url: &str, http_addr: Option<SocketAddr>) -> String {
    match (webex_api::Url::parse(url), http_addr) {
        (Ok(mut parsed), Some(addr)) if parsed.port() == Some(0) => {
            let _ = parsed.set_port(Some(addr.port()));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Wraps a failed Webex call for the gateway: classified by [`error_kind`], with the Webex error
/// kept whole as the source, so its status, message and trackingId reach the log line.
pub fn channel_error(err: webex_api::Error) -> ChannelError {
    ChannelError::new(error_kind(&err), err)
}

/// Whether the same Webex call may succeed later, or what must change first.
pub fn error_kind(err: &webex_api::Error) -> ChannelErrorKind {
    match err {
        webex_api::Error::Api { status: 401, .. } => ChannelErrorKind::Auth,
        webex_api::Error::Api { status, .. } if *status >= 500 => ChannelErrorKind::Transient,
        webex_api::Error::RateLimited { .. }
        | webex_api::Error::Network(_)
        | webex_api::Error::Timeout => ChannelErrorKind::Transient,
        webex_api::Error::InvalidUrl(_) | webex_api::Error::Config(_) => ChannelErrorKind::Config,
        _ => ChannelErrorKind::Permanent,
    }
}

/// Wraps a failed Webex call `what` (e.g. `GET /people/me`) for the gateway: the context says
/// which call failed and, for a 401, that the bot token is invalid and where to get a new one.
pub fn failed_call(err: webex_api::Error, what: &str) -> ChannelError {
    let context = match err.status() {
        Some(401) => format!(
            "{what} failed (the bot token is invalid: copy it again from https://developer.webex.com/my-apps)"
        ),
        _ => format!("{what} failed"),
    };
    channel_error(err).with_context(context)
}

/// Maps a failed send to the gateway's view: may it be retried, may it have landed?
fn send_error(err: webex_api::Error) -> ChannelError {
    let maybe_delivered = match &err {
        // The request reached Webex; a 5xx does not prove nothing was posted.
        webex_api::Error::Api { status, .. } => *status >= 500,
        // A connect error proves the request never left; anything else may have landed.
        webex_api::Error::Network(source) => !source.is_connect(),
        webex_api::Error::Timeout => true,
        _ => false,
    };
    channel_error(err)
        .with_context("POST /messages failed")
        .with_maybe_delivered(maybe_delivered)
}

impl Channel for WebexChannel {
    fn id(&self) -> &str {
        CHANNEL
    }

    fn connect(&self, http_addr: Option<SocketAddr>) -> BoxFuture<'_, Result<(), ChannelError>> {
        Box::pin(self.connect_inner(http_addr))
    }

    fn register(&self, http_addr: Option<SocketAddr>) -> BoxFuture<'_, Result<(), ChannelError>> {
        Box::pin(self.register_inner(http_addr))
    }

    fn follow(&self, sink: &moltbot_core::gateway::InboundSink) {
        // Webhook deliveries reaching this replica are claimed and processed here; the leader
        // runs the catch-up, and the shared ledger keeps each room's order.
        let _ = self.shared.sink.set(sink.clone());
        self.shared.caught_up.open();
    }

    fn config_fingerprint(&self) -> Option<String> {
        Some(crate::config::fingerprint(&self.shared.config))
    }

    fn share_budget(&self, processes: u32) {
        self.shared.client.set_budget_share(processes);
    }

    fn pause_requests(&self, wait: Duration) {
        self.shared.client.pause_for(wait);
    }

    fn run(self: Arc<Self>, ctx: ChannelContext) -> BoxFuture<'static, Result<(), ChannelError>> {
        Box::pin(self.run_inner(ctx))
    }

    fn fetch_attachments<'a>(
        &'a self,
        message: &'a moltbot_core::gateway::InboundMessage,
    ) -> BoxFuture<'a, Vec<moltbot_core::agent::Attachment>> {
        Box::pin(crate::media::fetch_all(
            &self.shared,
            &message.id,
            &message.files,
        ))
    }

    fn refetch<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<Fetched, ChannelError>> {
        Box::pin(crate::fetch::refetch(&self.shared, message_id))
    }

    fn resolve_sender<'a>(&'a self, sender: &'a SenderInfo) -> BoxFuture<'a, SenderInfo> {
        Box::pin(self.people.resolve(&self.shared.client, sender))
    }

    fn access_policy(&self) -> AccessPolicy {
        let config = &self.shared.config;
        AccessPolicy::new(
            CHANNEL,
            config.dm_policy,
            &config.allow_from,
            config.group_policy,
            &config.group_allow_from,
        )
        .with_same_id(webex_api::same_entity)
    }

    fn catch_up_max_age(&self) -> Duration {
        self.shared.config.catch_up.max_age
    }

    fn commands_enabled(&self) -> bool {
        self.shared.config.commands_enabled
    }

    fn cards_unavailable(&self) -> Option<String> {
        (self.shared.config.mode == crate::config::Mode::Polling)
            .then(|| crate::cards::POLLING_EXPLANATION.to_string())
    }

    fn describe(&self) -> Vec<(String, String)> {
        vec![(
            "Receive mode".to_string(),
            self.shared.config.mode.as_str().to_string(),
        )]
    }

    fn http_listen(&self) -> Option<SocketAddr> {
        // Webhooks need it; in polling mode it still serves /healthz, /readyz and /metrics.
        let webhook = &self.shared.config.webhook;
        Some(SocketAddr::new(webhook.host, webhook.port))
    }

    fn http_listen_key(&self) -> String {
        "channels.webex.webhook.port".to_string()
    }

    fn router(&self) -> Option<axum::Router> {
        self.shared.config.mode.uses_webhook().then(|| {
            crate::webhook::router(
                Arc::clone(&self.shared),
                &self.shared.config.webhook.path,
                self.webhook_secret.clone(),
            )
        })
    }

    fn reply_filter(&self, ctx: &ReplyContext) -> Box<dyn ReplyFilter> {
        Box::new(crate::output::WebexReplyFilter::new(
            self.shared.config.output(),
            ctx,
        ))
    }

    fn send<'a>(
        &'a self,
        message: &'a OutgoingMessage,
    ) -> BoxFuture<'a, Result<String, ChannelError>> {
        Box::pin(async move {
            if let Some(card) = &message.card {
                // Cards of agent replies were checked before they were recorded; this catches
                // a card from anywhere else before Webex refuses it.
                crate::outgoing::check_card(card).map_err(|reason| {
                    ChannelError::permanent(format!("the card cannot be sent: {reason}"))
                })?;
            }
            let create = crate::outgoing::create_message(message);
            let started = time::OffsetDateTime::now_utc();
            let result = self.shared.client.create_message(&create).await;
            self.sent_or_landed(message, None, started, result).await
        })
    }

    /// `POST /messages` as `multipart/form-data` with `file` in the `files` part
    /// (developer.webex.com/docs/basics, "Message Attachments"; one file per message).
    fn upload<'a>(
        &'a self,
        message: &'a OutgoingMessage,
        file: &'a moltbot_core::agent::LocalFile,
    ) -> BoxFuture<'a, Result<String, ChannelError>> {
        Box::pin(async move {
            let create = crate::outgoing::create_message(message);
            let upload = webex_api::UploadFile::new(
                file.name.clone(),
                file.content_type.clone(),
                file.bytes.clone(),
            );
            let started = time::OffsetDateTime::now_utc();
            let result = self
                .shared
                .client
                .create_message_with_file(&create, &upload)
                .await;
            self.sent_or_landed(message, Some(&file.name), started, result)
                .await
        })
    }

    /// `mediaMaxMb` (MiB): the operator's bound on files the bot handles, both ways (Webex's
    /// own limit is 100 MB); it also bounds what the store keeps for a reply not sent yet.
    fn max_upload_bytes(&self) -> u64 {
        self.shared.config.media_max_mb.saturating_mul(1024 * 1024)
    }

    fn check_card(&self, card: &serde_json::Value) -> Result<(), String> {
        crate::outgoing::check_card(card)
    }

    fn supports_edits(&self) -> bool {
        true
    }

    /// `PUT /messages/{id}` with the room and the new markdown
    /// (<https://developer.webex.com/docs/api/v1/messages/edit-a-message>).
    fn edit<'a>(
        &'a self,
        message_id: &'a str,
        message: &'a OutgoingMessage,
    ) -> BoxFuture<'a, Result<String, ChannelError>> {
        Box::pin(async move {
            let SendTarget::Room(room_id) = &message.target else {
                return Err(ChannelError::permanent(
                    "an edit needs the message's room (Webex requires roomId)",
                ));
            };
            let edit = EditMessage {
                room_id: room_id.clone(),
                text: None,
                markdown: Some(message.markdown.clone()),
            };
            match self.shared.client.edit_message(message_id, &edit).await {
                Ok(edited) => Ok(edited.id),
                Err(err) => Err(channel_error(err).with_context("PUT /messages/{id} failed")),
            }
        })
    }

    /// `DELETE /messages/{id}`
    /// (<https://developer.webex.com/docs/api/v1/messages/delete-a-message>); a 404 (already
    /// gone) counts as deleted.
    fn delete<'a>(
        &'a self,
        message_id: &'a str,
        room_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        let _ = room_id;
        Box::pin(async move {
            match self.shared.client.delete_message(message_id).await {
                Ok(()) => Ok(()),
                Err(webex_api::Error::Api { status: 404, .. }) => Ok(()),
                Err(err) => Err(channel_error(err).with_context("DELETE /messages/{id} failed")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::cause::tests::api;

    #[test]
    fn send_errors_keep_the_webex_evidence_in_their_chain() {
        let err = send_error(api(503));
        assert_eq!(err.kind(), ChannelErrorKind::Transient);
        assert!(err.maybe_delivered());
        assert_eq!(err.to_string(), "POST /messages failed");
        assert_eq!(
            chain(&err).to_string(),
            "POST /messages failed: Webex API error 503: nope (trackingId T1)"
        );

        let refused = send_error(api(400));
        assert_eq!(refused.kind(), ChannelErrorKind::Permanent);
        assert!(!refused.maybe_delivered());

        let limited = send_error(webex_api::Error::RateLimited {
            retry_after: Duration::from_secs(15),
            tracking_id: Some("T429".into()),
        });
        assert!(limited.is_retryable() && !limited.maybe_delivered());
        assert!(chain(&limited).to_string().ends_with("(trackingId T429)"));

        let timeout = send_error(webex_api::Error::Timeout);
        assert!(timeout.is_retryable() && timeout.maybe_delivered());
    }

    #[test]
    fn webex_errors_are_classified() {
        assert_eq!(error_kind(&api(401)), ChannelErrorKind::Auth);
        assert_eq!(error_kind(&api(404)), ChannelErrorKind::Permanent);
        assert_eq!(error_kind(&api(502)), ChannelErrorKind::Transient);
        assert_eq!(
            error_kind(&webex_api::Error::Config("empty token".into())),
            ChannelErrorKind::Config
        );
    }

    #[test]
    fn port_zero_in_the_url_takes_the_bound_port() {
        let addr: SocketAddr = "127.0.0.1:45678".parse().unwrap();
        assert_eq!(
            target_url("http://127.0.0.1:0/webex/webhook", Some(addr)),
            "http://127.0.0.1:45678/webex/webhook"
        );
        assert_eq!(
            target_url("https://bot.example.com/webex/webhook", Some(addr)),
            "https://bot.example.com/webex/webhook"
        );
    }
}
