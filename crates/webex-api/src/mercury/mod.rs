//! Listening without a public URL: Webex's Mercury websocket (U2C catalog → WDM device →
//! websocket).
//!
//! Not an official Webex API: only the JavaScript SDK's `messages.listen()` is supported by
//! Webex; this follows what webex-js-sdk (`internal-plugin-mercury`, `internal-plugin-device`),
//! fbradyirl/webex_bot and wr-org/webex-rust do.
//!
//! - [`Mercury::catalog`]: `GET <u2c>/catalog?format=hostmap` → `serviceLinks.wdm`. The bearer
//!   token goes only to the API base, the U2C base, the hosts the catalog names
//!   ([`TrustedOrigins`]) and, in the authorization frame, to the websocket URL the (trusted)
//!   device service returned.
//! - [`Mercury::register`]: reuse the newest device with a name, or create one.
//! - [`Mercury::connect`] → [`MercuryConnection`]: `next_event()` (pings inside), `ack()`.
//! - [`MessageRef`] + [`Mercury::resolve`]: activity → REST message / attachment action id.
//! - [`reconnect_backoff`]: the delays a caller sleeps between reconnects; the policy is the
//!   caller's ([`MercuryError::recovery`] says what to do).

mod catalog;
mod connection;
mod device;
mod dial;
mod error;
mod frames;
mod message_ref;

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use url::Url;

pub use catalog::{Catalog, TrustedOrigins, DEFAULT_U2C_URL};
pub use connection::{Keepalive, MercuryConnection};
pub use device::{pick_reusable, CreateDevice, Device};
pub use dial::{prepare_url, proxy_for, MercuryStream, ProxyEnv};
pub use error::{MercuryError, Recovery, AUTH_CLOSE_CODES};
pub use frames::{Activity, Actor, MercuryEvent, Target, READY_EVENT_TYPES};
pub use message_ref::MessageRef;

use crate::client::WebexClient;
use crate::error::Error;
use crate::limiter::Priority;
use crate::transport::{decode, Call};

/// Settings of the Mercury listener.
#[derive(Debug, Clone)]
pub struct MercuryConfig {
    /// The U2C base (default [`DEFAULT_U2C_URL`]); an emulator's `<sim>/u2c/api/v1` in tests.
    pub u2c_url: Url,
    /// Ping, pong and readiness timing.
    pub keepalive: Keepalive,
    /// Longest wait for TCP + TLS + upgrade.
    pub connect_timeout: Duration,
    /// How many fresh devices [`Mercury::connect_named`] registers after 404s before giving up
    /// (fbradyirl/webex_bot re-registers up to 3 times).
    pub max_registrations: u32,
}

impl Default for MercuryConfig {
    fn default() -> Self {
        Self {
            u2c_url: default_u2c_url(),
            keepalive: Keepalive::default(),
            connect_timeout: Duration::from_secs(30),
            max_registrations: 3,
        }
    }
}

impl MercuryConfig {
    /// Sets the U2C base from text (must be http or https).
    pub fn with_u2c_url_str(mut self, text: &str) -> Result<Self, MercuryError> {
        let url = Url::parse(text.trim())
            .map_err(|e| MercuryError::InvalidUrl(format!("{text}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(MercuryError::InvalidUrl(format!(
                "{text}: the U2C base must be http or https"
            )));
        }
        self.u2c_url = url;
        Ok(self)
    }
}

fn default_u2c_url() -> Url {
    // A literal checked by `default_u2c_is_webex_public_host`, not outside input.
    #[allow(clippy::expect_used)]
    Url::parse(DEFAULT_U2C_URL).expect("DEFAULT_U2C_URL is a valid URL")
}

/// The delays between reconnects: 1 s doubling to 30 s, with equal jitter (the crate's
/// [`crate::retry::backoff`]; webex-js-sdk uses 1 s → 32 s).
pub fn reconnect_backoff() -> impl Iterator<Item = Duration> + Send {
    crate::retry::backoff(Duration::from_secs(1))
}

/// Catalog, devices, connection and id lookups for one bot token.
#[derive(Debug)]
pub struct Mercury {
    client: WebexClient,
    config: MercuryConfig,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    trusted: TrustedOrigins,
    wdm: Option<Url>,
}

impl Mercury {
    /// A listener for `client`'s token. Nothing is sent until a call.
    pub fn new(client: WebexClient, config: MercuryConfig) -> Self {
        let trusted = TrustedOrigins::new([client.base_url(), &config.u2c_url]);
        Self {
            client,
            config,
            state: Mutex::new(State { trusted, wdm: None }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MercuryConfig {
        &self.config
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the data (a set of origins) is intact.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `url` may receive the token.
    pub fn is_trusted(&self, url: &Url) -> bool {
        self.state().trusted.contains(url)
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        endpoint: &'static str,
        url: Url,
        body: Option<&impl serde::Serialize>,
    ) -> Result<Option<T>, MercuryError> {
        if !self.is_trusted(&url) {
            return Err(Error::ForeignHost {
                origin: crate::link::origin(&url),
            }
            .into());
        }
        let mut call = Call::new(method, endpoint, url).trusted();
        if let Some(body) = body {
            call = call.json(body)?.priority(Priority::Send);
        }
        let response = self.client.transport().execute(&call).await?;
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Ok(Some(decode(response).await?))
    }

    /// `GET <u2c>/catalog?format=hostmap`; trusts the hosts it names and remembers `wdm`.
    pub async fn catalog(&self) -> Result<Catalog, MercuryError> {
        let mut url = self.config.u2c_url.clone();
        url.path_segments_mut()
            .map_err(|()| MercuryError::InvalidUrl("the U2C base cannot have a path".into()))?
            .pop_if_empty()
            .push("catalog");
        url.query_pairs_mut().append_pair("format", "hostmap");
        let catalog: Catalog = self
            .call(Method::GET, "/u2c/catalog", url, None::<&()>)
            .await?
            .unwrap_or_default();
        let mut state = self.state();
        state.trusted.add_catalog(&catalog);
        state.wdm = catalog.wdm();
        Ok(catalog)
    }

    async fn wdm(&self) -> Result<Url, MercuryError> {
        if let Some(wdm) = self.state().wdm.clone() {
            return Ok(wdm);
        }
        self.catalog().await?.wdm().ok_or(MercuryError::NoWdm)
    }

    async fn devices_url(&self) -> Result<Url, MercuryError> {
        let mut url = self.wdm().await?;
        url.path_segments_mut()
            .map_err(|()| MercuryError::InvalidUrl("the wdm URL cannot have a path".into()))?
            .pop_if_empty()
            .push("devices");
        Ok(url)
    }

    /// `GET <wdm>/devices`: this token's registrations (a 404 means none).
    pub async fn list_devices(&self) -> Result<Vec<Device>, MercuryError> {
        let url = self.devices_url().await?;
        match self
            .call::<device::DeviceList>(Method::GET, "/wdm/devices", url, None::<&()>)
            .await
        {
            Ok(list) => Ok(device::parse_devices(list.unwrap_or_default())),
            Err(MercuryError::Api(err)) if err.is_not_found() => Ok(Vec::new()),
            Err(err) => Err(err),
        }
    }

    /// `POST <wdm>/devices` with [`CreateDevice::named`].
    pub async fn create_device(&self, name: &str) -> Result<Device, MercuryError> {
        let url = self.devices_url().await?;
        self.call(
            Method::POST,
            "/wdm/devices",
            url,
            Some(&CreateDevice::named(name)),
        )
        .await?
        .ok_or_else(|| MercuryError::InvalidUrl("wdm answered 204 to a device creation".into()))
    }

    /// `DELETE <device url>`; a device already gone (404) is not an error.
    pub async fn delete_device(&self, device: &Device) -> Result<(), MercuryError> {
        let url = Url::parse(&device.url)
            .map_err(|e| MercuryError::InvalidUrl(format!("{}: {e}", device.url)))?;
        match self
            .call::<serde_json::Value>(Method::DELETE, "/wdm/devices/{id}", url, None::<&()>)
            .await
        {
            Ok(_) => Ok(()),
            Err(MercuryError::Api(err)) if err.is_not_found() => Ok(()),
            // Some servers answer DELETE with an empty 200.
            Err(MercuryError::Api(Error::InvalidJson { raw, .. })) if raw.trim().is_empty() => {
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// The newest device called `name`, or a new one.
    pub async fn register(&self, name: &str) -> Result<Device, MercuryError> {
        let devices = self.list_devices().await?;
        if let Some(device) = pick_reusable(&devices, name) {
            return Ok(device.clone());
        }
        self.create_device(name).await
    }

    /// Opens and authorizes the websocket of `device`.
    ///
    /// Errors: [`MercuryError::DeviceGone`] on a 404 upgrade, [`MercuryError::Auth`] on an auth
    /// close or a 401/403 upgrade, [`MercuryError::ReadyTimeout`], connect and socket errors.
    pub async fn connect(
        &self,
        device: &Device,
    ) -> Result<MercuryConnection<MercuryStream>, MercuryError> {
        let url = prepare_url(&device.web_socket_url, SystemTime::now())?;
        let ws = dial::dial(&url, self.config.connect_timeout).await?;
        MercuryConnection::authorize(
            ws,
            self.client.config().token.expose().trim(),
            self.config.keepalive,
        )
        .await
    }

    /// [`register`](Self::register) then [`connect`](Self::connect); when the device is gone
    /// (404 on the upgrade) it is deleted and a fresh one registered, at most
    /// [`MercuryConfig::max_registrations`] times ([`MercuryError::DeviceChurn`] after that).
    pub async fn connect_named(
        &self,
        name: &str,
    ) -> Result<(Device, MercuryConnection<MercuryStream>), MercuryError> {
        let mut device = self.register(name).await?;
        let mut registrations = 0;
        loop {
            match self.connect(&device).await {
                Ok(conn) => return Ok((device, conn)),
                Err(MercuryError::DeviceGone) if registrations < self.config.max_registrations => {
                    registrations += 1;
                    tracing::info!(device = %device.url, "Mercury device gone; registering a new one");
                    self.delete_device(&device).await?;
                    device = self.create_device(name).await?;
                }
                Err(MercuryError::DeviceGone) => {
                    return Err(MercuryError::DeviceChurn {
                        attempts: registrations,
                    })
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The REST ids behind `reference`: `GET` its lookup URL (only on a trusted host) and read
    /// `id`, and `roomId` when the answer carries it. A 404 (not yet readable) comes back as
    /// [`MercuryError::Api`] with [`Error::is_not_found`].
    pub async fn resolve(&self, reference: &MessageRef) -> Result<Resolved, MercuryError> {
        let endpoint = match reference {
            MessageRef::Message { .. } => "/conversation/messages/{id}",
            MessageRef::AttachmentAction { .. } => "/conversation/attachment/actions/{id}",
        };
        let found: Option<Resolved> = self
            .call(
                Method::GET,
                endpoint,
                reference.lookup().clone(),
                None::<&()>,
            )
            .await?;
        found
            .filter(|f| !f.id.is_empty())
            .ok_or_else(|| MercuryError::InvalidUrl(format!("{} gave no id", reference.lookup())))
    }
}

/// What [`Mercury::resolve`] learnt about an activity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Resolved {
    /// The REST id (a message id, or an attachment action id for a `cardAction`).
    pub id: String,
    /// The REST id of the room, when the conversation service gave it.
    #[serde(default)]
    pub room_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_u2c_is_webex_public_host() {
        let config = MercuryConfig::default();
        assert_eq!(config.u2c_url.as_str(), "https://u2c.wbx2.com/u2c/api/v1");
        assert_eq!(config.keepalive.ping_interval, Duration::from_secs(15));
        assert_eq!(config.keepalive.pong_timeout, Duration::from_secs(14));
        assert!(MercuryConfig::default()
            .with_u2c_url_str("ftp://x")
            .is_err());
        assert!(MercuryConfig::default()
            .with_u2c_url_str("http://127.0.0.1:9/u2c/api/v1")
            .is_ok());
    }

    #[test]
    fn reconnect_backoff_starts_near_a_second_and_is_capped() {
        let delays: Vec<Duration> = reconnect_backoff().take(10).collect();
        assert!(
            delays[0] >= Duration::from_millis(499) && delays[0] <= Duration::from_millis(1001)
        );
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(31)));
        assert!(delays[9] >= Duration::from_secs(14));
    }
}
