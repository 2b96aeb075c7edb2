//! The U2C service catalog and the set of hosts trusted with the bearer token.
//!
//! `GET <u2c>/catalog?format=hostmap` (bearer) answers `{"serviceLinks": {"wdm": "...", ...}}`
//! (fbradyirl/webex_bot `webex_bot/websockets/webex_websocket_client.py`, `_get_device_info`).
//! The token goes only to the configured API base, the configured U2C base and the hosts the
//! catalog's `serviceLinks` name: a conversation URL in an activity on any other host is refused
//! before anything is sent.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use url::Url;

use crate::link::origin;

/// Webex's public U2C base, the default [`super::MercuryConfig::u2c_url`].
pub const DEFAULT_U2C_URL: &str = "https://u2c.wbx2.com/u2c/api/v1";

/// The part of the U2C catalog this crate uses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    /// Service name → base URL, e.g. `wdm` → `https://wdm-a.wbx2.com/wdm/api/v1`.
    #[serde(default)]
    pub service_links: BTreeMap<String, String>,
}

impl Catalog {
    /// The device service base (`serviceLinks.wdm`), if the catalog names a valid http(s) one.
    pub fn wdm(&self) -> Option<Url> {
        self.service_url("wdm")
    }

    /// A service's base URL if it is a valid http(s) URL.
    pub fn service_url(&self, name: &str) -> Option<Url> {
        let url = Url::parse(self.service_links.get(name)?).ok()?;
        matches!(url.scheme(), "http" | "https").then_some(url)
    }
}

/// Origins (`scheme://host:port`) that may receive the bearer token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedOrigins(BTreeSet<String>);

impl TrustedOrigins {
    /// Starts from configured URLs (the API base, the U2C base).
    pub fn new<'a>(configured: impl IntoIterator<Item = &'a Url>) -> Self {
        Self(configured.into_iter().map(origin).collect())
    }

    /// Adds every http(s) service the catalog names.
    ///
    /// Only `https` hosts are trusted, and plain `http` on a loopback host (an emulator): a
    /// catalog naming a cleartext host elsewhere never gets the token sent there.
    pub fn add_catalog(&mut self, catalog: &Catalog) {
        for name in catalog.service_links.keys() {
            if let Some(url) = catalog.service_url(name) {
                if is_safe_for_token(&url) {
                    self.0.insert(origin(&url));
                } else {
                    tracing::warn!(service = %name, origin = %origin(&url), "the service catalog names a cleartext host that is not loopback; it will not get the token");
                }
            }
        }
    }

    /// Whether `url` is on a trusted origin.
    pub fn contains(&self, url: &Url) -> bool {
        self.0.contains(&origin(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn catalog_gives_wdm_and_trusts_only_named_hosts() {
        let catalog: Catalog = serde_json::from_str(
            r#"{"serviceLinks":{"wdm":"https://wdm-a.wbx2.com/wdm/api/v1",
                "conversation":"https://conv-a.wbx2.com/conversation/api/v1",
                "bogus":"ftp://x.example"},"hostCatalog":{}}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            catalog.wdm().map(|u| u.to_string()),
            Some("https://wdm-a.wbx2.com/wdm/api/v1".into())
        );
        let mut trusted = TrustedOrigins::new([&url("https://webexapis.com/v1")]);
        assert!(!trusted.contains(&url("https://conv-a.wbx2.com/x")));
        trusted.add_catalog(&catalog);
        assert!(trusted.contains(&url(
            "https://conv-a.wbx2.com/conversation/api/v1/messages/1"
        )));
        assert!(trusted.contains(&url("https://wdm-a.wbx2.com/wdm/api/v1/devices")));
        assert!(trusted.contains(&url("https://webexapis.com/v1/messages")));
        assert!(!trusted.contains(&url("https://evil.example/conversation")));
        // Same host, another port or scheme: another origin.
        assert!(!trusted.contains(&url("http://conv-a.wbx2.com/x")));
        assert!(!trusted.contains(&url("ftp://x.example/")));
    }

    #[test]
    fn a_catalog_without_wdm_has_none() {
        let catalog: Catalog =
            serde_json::from_str(r#"{"serviceLinks":{"wdm":"not a url"}}"#).unwrap_or_default();
        assert!(catalog.wdm().is_none());
        assert!(Catalog::default().wdm().is_none());
    }
}

/// `https`, or `http` / `ws` on a loopback host.
fn is_safe_for_token(url: &Url) -> bool {
    match url.scheme() {
        "https" | "wss" => true,
        "http" | "ws" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod token_host_tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_hosts_may_get_the_token() {
        for (url, safe) in [
            ("https://wdm-a.wbx2.com/wdm/api/v1", true),
            ("http://127.0.0.1:8025/wdm/api/v1", true),
            ("http://[::1]:8025/wdm", true),
            ("http://localhost:8025/wdm", true),
            ("http://192.0.2.2:47310/wdm/api/v1", false),
            ("http://wdm.example.com/wdm", false),
            ("ftp://127.0.0.1/x", false),
        ] {
            assert_eq!(is_safe_for_token(&Url::parse(url).unwrap()), safe, "{url}");
        }
    }
}
