//! [`SimServer`]: the running emulator and its test helper API.

use crate::answer_times::DeliveryTimes;
use crate::faults::Faults;
use crate::ids::{encode, resolve, Kind};
use crate::model::{Person, PersonType};
use crate::scenario::SimCallError;
use crate::seed::{Seed, SeedError};
use crate::state::{lock, RecordedRequest, SimState};
use crate::{chat, control, middleware, render, routes};
use axum::Router;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A person or bot known to the emulator, with its access token (left out of `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct SimPerson {
    /// Encoded person id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Bearer token.
    pub token: String,
}

impl std::fmt::Debug for SimPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimPerson")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl From<&Person> for SimPerson {
    fn from(p: &Person) -> Self {
        SimPerson {
            id: encode(Kind::People, &p.uuid),
            email: p.email.clone(),
            display_name: p.display_name.clone(),
            token: p.token.clone(),
        }
    }
}

/// Why a seeded server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The seed could not be applied.
    #[error(transparent)]
    Seed(#[from] SeedError),
}

/// A room created through the helper API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRoom {
    /// Encoded room id.
    pub id: String,
    /// Title.
    pub title: String,
}

/// Builds the full router for `state`.
pub fn app(state: Arc<SimState>) -> Router {
    Router::new()
        .nest(
            "/v1",
            routes::router().layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                middleware::api,
            )),
        )
        .merge(crate::mercury::routes::router(Arc::clone(&state)))
        .nest("/_sim", control::router())
        .merge(chat::router())
        .fallback(|| async { crate::error::ApiError::not_found() })
        .layer(axum::middleware::from_fn(middleware::tracking))
        .with_state(state)
}

/// A running emulator. Shuts down when dropped or via [`SimServer::shutdown`].
#[derive(Debug)]
pub struct SimServer {
    pub(crate) state: Arc<SimState>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    client: reqwest::Client,
}

impl SimServer {
    /// Starts on `127.0.0.1` with an ephemeral port.
    pub async fn start() -> std::io::Result<SimServer> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<SimServer> {
        Self::start_with(addr, None).await
    }

    /// Starts on `addr` with a seed applied (and re-applied on reset).
    pub async fn start_seeded(addr: SocketAddr, seed: Seed) -> Result<SimServer, StartError> {
        let server = Self::start_with(addr, Some(seed))
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        server.state.reset()?;
        Ok(server)
    }

    async fn start_with(addr: SocketAddr, seed: Option<Seed>) -> std::io::Result<SimServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState::new(format!("http://{addr}")));
        *lock(&state.seed) = seed;
        let router = app(Arc::clone(&state));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            let result = axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "webex-sim server stopped with an error");
            }
        });
        Ok(SimServer {
            state,
            addr,
            stop: Some(stop),
            task: Some(task),
            client: reqwest::Client::new(),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/`: the demo chat page (see [`crate::chat`]).
    pub fn chat_url(&self) -> String {
        format!("{}{}", self.url(), chat::PAGE_PATH)
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn api_base(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn add(&self, email: &str, display_name: &str, kind: PersonType) -> SimPerson {
        let mut world = self.state.world();
        SimPerson::from(&world.add_person(email, display_name, kind, None))
    }

    /// Adds a person (or returns the existing one with that email).
    pub fn add_person(&self, email: &str, display_name: &str) -> SimPerson {
        self.add(email, display_name, PersonType::Person)
    }

    /// Adds a bot (or returns the existing account with that email).
    pub fn add_bot(&self, email: &str, display_name: &str) -> SimPerson {
        self.add(email, display_name, PersonType::Bot)
    }

    /// Looks a person up by email.
    pub fn person(&self, email: &str) -> Option<SimPerson> {
        self.state
            .world()
            .person_by_email(email)
            .map(SimPerson::from)
    }

    /// Creates a group room; the first known member is its creator. Unknown emails are
    /// added as people named after their email.
    pub fn create_room(&self, title: &str, member_emails: &[&str]) -> SimRoom {
        let mut world = self.state.world();
        let mut uuids = Vec::new();
        for email in member_emails {
            let uuid = match world.person_by_email(email) {
                Some(p) => p.uuid,
                None => {
                    world
                        .add_person(email, email, PersonType::Person, None)
                        .uuid
                }
            };
            uuids.push(uuid);
        }
        let (creator, rest) = match uuids.split_first() {
            Some((c, r)) => (*c, r.to_vec()),
            None => (
                world
                    .add_person(
                        "room-creator@sim.local",
                        "Room Creator",
                        PersonType::Person,
                        None,
                    )
                    .uuid,
                Vec::new(),
            ),
        };
        let room = world.create_group_room(title, creator, &rest);
        SimRoom {
            id: encode(Kind::Room, &room.uuid),
            title: room.title,
        }
    }

    /// Every `/v1` call so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.log).clone()
    }

    /// Forgets recorded calls.
    pub fn clear_requests(&self) {
        lock(&self.state.log).clear();
    }

    /// Replaces the fault configuration.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.state.faults).set(faults);
    }

    /// Makes the next `count` calls matching `method` (`*` for any) and `path_prefix`
    /// (e.g. `/v1/messages` or `/messages`) fail with `status` and Webex's error body.
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16, count: u32) {
        lock(&self.state.faults).fail_next(method, path_prefix, status, count);
    }

    /// Webex will not edit messages any more: every `PUT /v1/messages/{id}` from now on answers
    /// 400 "Editing a message with files or attachments is currently unsupported." (the
    /// `refuseEdits` fault; `set_faults` or a reset turns it off).
    pub fn refuse_edits(&self) {
        self.edit_faults(|f| f.refuse_edits = true);
    }

    /// Turns the bot first-contact rule on (default) or off.
    pub fn set_first_contact_rule(&self, enabled: bool) {
        self.state
            .first_contact_rule
            .store(enabled, Ordering::Relaxed);
    }

    /// The id of the 1:1 room between two people, if it exists.
    pub fn direct_room(&self, a: &SimPerson, b: &SimPerson) -> Option<String> {
        let world = self.state.world();
        let a = resolve(Kind::People, &a.id)?;
        let b = resolve(Kind::People, &b.id)?;
        world
            .direct_room_between(&a, &b)
            .map(|r| encode(Kind::Room, &r.uuid))
    }

    /// Webex disables the webhooks: every webhook becomes `inactive` and gets no more
    /// deliveries until a `PUT` with `status: active` (what Webex does after 100 failed
    /// deliveries within five minutes). Returns how many were active.
    pub fn disable_webhooks(&self) -> usize {
        crate::delivery::disable_all(&mut self.state.world())
    }

    /// Every webhook as `GET /v1/webhooks` renders it for its owner, oldest first.
    pub fn webhooks(&self) -> Vec<Value> {
        let world = self.state.world();
        world
            .webhooks
            .iter()
            .map(|w| render::webhook(&world, w))
            .collect()
    }

    /// Webhook deliveries their target answered with a 2xx, since the server started.
    pub fn deliveries_answered(&self) -> u64 {
        self.state.deliveries_answered.load(Ordering::Acquire)
    }

    /// How long the target of webhook `webhook_id` (its API id) took to answer each of its
    /// deliveries since the start, the last [`Self::reset`] or the last
    /// [`Self::clear_delivery_answer_times`], split by whether they announced its owner's own
    /// message ([`crate::answer_times`]). Empty for an unknown id.
    pub fn delivery_answer_times(&self, webhook_id: &str) -> DeliveryTimes {
        match resolve(Kind::Webhook, webhook_id) {
            Some(uuid) => lock(&self.state.answer_times).of(&uuid),
            None => DeliveryTimes::default(),
        }
    }

    /// Forgets the recorded delivery answer times (before a measured run: wait for
    /// `deliveries_done` first, or deliveries still queued are recorded after the clear).
    pub fn clear_delivery_answer_times(&self) {
        lock(&self.state.answer_times).clear();
    }

    /// Clears all data, faults and the request log (re-applying the seed, if any).
    pub fn reset(&self) {
        if let Err(e) = self.state.reset() {
            tracing::warn!(error = %e, "re-applying the seed failed");
        }
    }

    /// `POST /v1/messages` as `from` over real HTTP (so webhooks fire).
    /// `Err((status, body))` on a non-2xx answer (status 0 for a transport failure).
    pub async fn send_as(&self, from: &SimPerson, body: Value) -> Result<Value, (u16, Value)> {
        self.call_as(from, reqwest::Method::POST, "/messages", Some(body))
            .await
    }

    /// Sends a 1:1 text message from `from` to `to_email`.
    pub async fn dm(
        &self,
        from: &SimPerson,
        to_email: &str,
        text: &str,
    ) -> Result<Value, (u16, Value)> {
        self.send_as(from, json!({ "toPersonEmail": to_email, "text": text }))
            .await
    }

    /// Posts markdown (mentions allowed) in a room as `from`.
    pub async fn post_in_room(
        &self,
        from: &SimPerson,
        room_id: &str,
        markdown: &str,
    ) -> Result<Value, (u16, Value)> {
        self.send_as(from, json!({ "roomId": room_id, "markdown": markdown }))
            .await
    }

    /// Submits a card action as `from` on `message_id` (fires `attachmentActions:created`).
    pub async fn submit_card(
        &self,
        from: &SimPerson,
        message_id: &str,
        inputs: Value,
    ) -> Result<Value, (u16, Value)> {
        let body = json!({ "type": "submit", "messageId": message_id, "inputs": inputs });
        self.call_as(
            from,
            reqwest::Method::POST,
            "/attachment/actions",
            Some(body),
        )
        .await
    }

    /// Any `/v1` call as `from`; `path` is relative to `/v1` (e.g. `/rooms?max=2`).
    /// `Err((status, body))` on a non-2xx answer (status 0 for a transport failure).
    pub async fn call_as(
        &self,
        from: &SimPerson,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, (u16, Value)> {
        self.call(from, method, path, body)
            .await
            .map_err(SimCallError::into_pair)
    }

    /// [`Self::call_as`] with a typed error.
    pub async fn call(
        &self,
        from: &SimPerson,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, SimCallError> {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{}", self.api_base(), path))
            .bearer_auth(&from.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.answer(req, &method, path).await
    }

    /// A `multipart/form-data` call to `path` (relative to `/v1`) as `from`, e.g. a file upload.
    pub(crate) async fn call_multipart(
        &self,
        from: &SimPerson,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> Result<Value, SimCallError> {
        let req = self
            .client
            .post(format!("{}{}", self.api_base(), path))
            .bearer_auth(&from.token)
            .multipart(form);
        self.answer(req, &reqwest::Method::POST, path).await
    }

    /// Sends `req` and reads its answer: the JSON body of a 2xx, else a [`SimCallError`].
    async fn answer(
        &self,
        req: reqwest::RequestBuilder,
        method: &reqwest::Method,
        path: &str,
    ) -> Result<Value, SimCallError> {
        let resp = req.send().await.map_err(|e| SimCallError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            message: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(SimCallError::Refused {
                method: method.to_string(),
                path: path.to_string(),
                status,
                body: value,
            })
        }
    }

    /// Stops the server and waits (briefly) for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            let grace = tokio::time::timeout(std::time::Duration::from_secs(2), &mut task).await;
            if grace.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
