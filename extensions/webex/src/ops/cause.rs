//! Turns a failed Webex call into a precise, fixable cause: bad token, DNS, connection refused,
//! TLS, timeout, or another network or API error.
//!
//! reqwest reports transport failures as one opaque error whose `source()` chain holds the
//! evidence: an [`std::io::Error`] with kind `ConnectionRefused`, hyper's "dns error", a
//! [`rustls::Error`] wrapped in an `io::Error` (itself wrapped in another). [`classify`] walks
//! that chain. Note that `io::Error::source()` skips the error it wraps, so each `io::Error` is
//! also opened with `get_ref()`.

use std::error::Error as StdError;
use std::io;

use moltbot_core::plugin::{ProbeCause, ProbeFailure};

/// Where to get a new bot token.
pub const TOKEN_FIX: &str =
    "copy the Bot Access Token again from https://developer.webex.com/my-apps \
(regenerating it invalidates the old one) into channels.webex.botToken or WEBEX_BOT_TOKEN";

/// Classifies `err` from a call to `api` (the configured `apiBaseUrl`), made with `timeout_ms`,
/// through the proxy the environment gives for `api` if any (the client's rule,
/// [`webex_api::mercury::proxy_for`]): a failure to reach that proxy names the proxy, not Webex.
pub fn classify(err: &webex_api::Error, api: &str, timeout_ms: u128) -> ProbeFailure {
    let env = webex_api::mercury::ProxyEnv::from_process();
    let proxy = webex_api::Url::parse(api)
        .ok()
        .and_then(|url| webex_api::mercury::proxy_for(&url, |name| env.get(name)));
    classify_via(err, api, timeout_ms, proxy.as_ref())
}

/// [`classify`] with the proxy the call went through (`None`: direct).
pub fn classify_via(
    err: &webex_api::Error,
    api: &str,
    timeout_ms: u128,
    proxy: Option<&webex_api::Url>,
) -> ProbeFailure {
    let host = host_of(api);
    if let Some(proxy) = proxy {
        if let Some(failure) = through_proxy(err, api, proxy) {
            return failure;
        }
    }
    match err {
        webex_api::Error::Api { status: 401, .. } => failure(
            ProbeCause::BadToken,
            format!("Webex refused the bot token: {err}"),
            Some(TOKEN_FIX.to_string()),
        ),
        webex_api::Error::Api { status, .. } => failure(
            ProbeCause::Api,
            format!("Webex answered HTTP {status}: {err}"),
            (*status == 403).then(|| {
                "the token works but may not belong to a bot, or the account is restricted"
                    .to_string()
            }),
        ),
        webex_api::Error::RateLimited { .. } => failure(
            ProbeCause::Api,
            err.to_string(),
            Some("wait a minute and try again".to_string()),
        ),
        webex_api::Error::Timeout => timeout_failure(api, timeout_ms),
        webex_api::Error::Network(source) => classify_transport(source, api, &host, timeout_ms),
        webex_api::Error::InvalidJson { .. } => failure(
            ProbeCause::Api,
            format!("{api} did not answer like the Webex API ({err})"),
            Some("check channels.webex.apiBaseUrl (default https://webexapis.com/v1)".into()),
        ),
        webex_api::Error::InvalidUrl(_) | webex_api::Error::Config(_) => {
            failure(ProbeCause::Config, err.to_string(), None)
        }
        other => failure(ProbeCause::Network, other.to_string(), None),
    }
}

/// What to fix when the proxy, not Webex, is what failed.
const PROXY_FIX: &str = "check the proxy variables (HTTPS_PROXY for https, HTTP_PROXY for http, \
ALL_PROXY), or name the host in NO_PROXY to go direct";

/// The failures that belong to the proxy `proxy` on the way to `api`: it could not be resolved,
/// refused the connection, or asked for credentials (407). `None`: anything else (classified
/// as without a proxy). The proxy's credentials are never shown.
fn through_proxy(
    err: &webex_api::Error,
    api: &str,
    proxy: &webex_api::Url,
) -> Option<ProbeFailure> {
    let at = format!(
        "{}:{}",
        proxy.host_str().unwrap_or("?"),
        proxy.port_or_known_default().unwrap_or(80)
    );
    match err {
        webex_api::Error::Api { status: 407, .. } => Some(failure(
            ProbeCause::Network,
            format!("the proxy {at} asks for credentials (HTTP 407) on the way to {api}"),
            Some(
                "put the proxy's user and password in its URL \
                 (http://user:password@host:port)"
                    .to_string(),
            ),
        )),
        webex_api::Error::Network(source) => {
            let cause = transport_cause(source)?;
            let message = match cause {
                ProbeCause::Dns => format!(
                    "cannot resolve the host name of the proxy {at} ({})",
                    innermost(source)
                ),
                ProbeCause::ConnectionRefused => {
                    format!("connection refused by the proxy {at} on the way to {api}")
                }
                _ => return None,
            };
            Some(failure(cause, message, Some(PROXY_FIX.to_string())))
        }
        _ => None,
    }
}

fn failure(cause: ProbeCause, message: String, fix: Option<String>) -> ProbeFailure {
    ProbeFailure::new(cause, message, fix)
}

/// The failure for a call that got no answer from `api` within `timeout_ms`.
pub fn timeout_failure(api: &str, timeout_ms: u128) -> ProbeFailure {
    failure(
        ProbeCause::Timeout,
        format!("no answer from {api} within {timeout_ms} ms"),
        Some(
            "check the network path to Webex (firewall, proxy) and https://status.webex.com"
                .to_string(),
        ),
    )
}

/// A transport error: walk the source chain for the real cause.
fn classify_transport(
    err: &(dyn StdError + 'static),
    api: &str,
    host: &str,
    timeout_ms: u128,
) -> ProbeFailure {
    let detail = innermost(err);
    match transport_cause(err) {
        Some(ProbeCause::Dns) => failure(
            ProbeCause::Dns,
            format!("cannot resolve the host name {host} ({detail})"),
            Some(
                "check DNS on this machine and channels.webex.apiBaseUrl \
                 (default https://webexapis.com/v1)"
                    .to_string(),
            ),
        ),
        Some(ProbeCause::ConnectionRefused) => failure(
            ProbeCause::ConnectionRefused,
            format!("connection refused by {host}: nothing listens at {api}"),
            Some("check channels.webex.apiBaseUrl, and any proxy or firewall".to_string()),
        ),
        Some(ProbeCause::Tls) => failure(
            ProbeCause::Tls,
            format!("TLS handshake with {host} failed ({detail})"),
            Some(
                "check that apiBaseUrl is an https URL of a TLS server, and that no proxy \
                 intercepts TLS with an untrusted certificate"
                    .to_string(),
            ),
        ),
        Some(ProbeCause::Timeout) => timeout_failure(api, timeout_ms),
        _ => failure(
            ProbeCause::Network,
            format!("network error talking to {host}: {detail}"),
            None,
        ),
    }
}

/// The most specific cause the source chain of `err` proves: the first link with a cause more
/// specific than [`ProbeCause::Network`] (TLS inside a connect error), else `Network` when a
/// link proves only that, else `None`.
fn transport_cause(err: &(dyn StdError + 'static)) -> Option<ProbeCause> {
    let mut found = None;
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(cause) = cause_of(e) {
            found = Some(cause);
            if cause != ProbeCause::Network {
                break;
            }
        }
        current = e.source();
    }
    found
}

/// The cause one link of the chain proves, if any.
fn cause_of(e: &(dyn StdError + 'static)) -> Option<ProbeCause> {
    if e.downcast_ref::<rustls::Error>().is_some() {
        return Some(ProbeCause::Tls);
    }
    if let Some(io) = e.downcast_ref::<io::Error>() {
        match io.kind() {
            io::ErrorKind::ConnectionRefused => return Some(ProbeCause::ConnectionRefused),
            io::ErrorKind::TimedOut => return Some(ProbeCause::Timeout),
            _ => {}
        }
        // io errors nest (hyper wraps tokio-rustls' io::Error in another one), and
        // `source()` skips what they wrap: open them explicitly.
        if let Some(inner) = io.get_ref() {
            let inner: &(dyn StdError + 'static) = inner;
            if let Some(cause) = cause_of(inner) {
                return Some(cause);
            }
        }
    }
    let text = e.to_string().to_ascii_lowercase();
    if text.starts_with("dns error")
        || text.contains("failed to lookup address")
        || text.contains("name or service not known")
        || text.contains("temporary failure in name resolution")
        || text.contains("no address associated with hostname")
    {
        return Some(ProbeCause::Dns);
    }
    if text.contains("invalid peer certificate")
        || text.contains("certificate")
        || text.contains("tls handshake")
    {
        return Some(ProbeCause::Tls);
    }
    None
}

/// The deepest message of the chain (the most specific one), including what an `io::Error`
/// wraps.
fn innermost(err: &(dyn StdError + 'static)) -> String {
    let mut last = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        last = e.to_string();
        current = e.source();
    }
    last
}

/// `host[:port]` of a URL, for messages.
fn host_of(api: &str) -> String {
    match webex_api::Url::parse(api) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            _ => api.to_string(),
        },
        Err(_) => api.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A Webex API error with `status`, message `nope` and trackingId `T1`.
    pub(crate) fn api(status: u16) -> webex_api::Error {
        webex_api::Error::Api {
            status,
            message: "nope".into(),
            tracking_id: Some("T1".into()),
            body: String::new(),
        }
    }

    #[test]
    fn a_proxy_asking_for_credentials_is_named_without_its_password() {
        let proxy = webex_api::Url::parse("http://user:hunter2@proxy.corp:3128").unwrap();
        let failed = classify_via(&api(407), "https://webexapis.com/v1", 1_000, Some(&proxy));
        assert_eq!(failed.cause, ProbeCause::Network);
        assert_eq!(
            failed.message,
            "the proxy proxy.corp:3128 asks for credentials (HTTP 407) on the way to https://webexapis.com/v1"
        );
        assert!(!failed.message.contains("hunter2"));
        // Webex's own answers are still Webex's, proxy or not.
        let refused = classify_via(&api(401), "https://webexapis.com/v1", 1_000, Some(&proxy));
        assert_eq!(refused.cause, ProbeCause::BadToken);
    }

    #[test]
    fn http_answers_are_classified_by_status() {
        let bad = classify(&api(401), "https://webexapis.com/v1", 10_000);
        assert_eq!(bad.cause, ProbeCause::BadToken);
        assert!(bad
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("developer.webex.com"));
        assert!(bad.message.contains("trackingId T1"), "{}", bad.message);
        assert_eq!(classify(&api(500), "x", 1).cause, ProbeCause::Api);
        let timeout = classify(&webex_api::Error::Timeout, "https://webexapis.com/v1", 250);
        assert_eq!(timeout.cause, ProbeCause::Timeout);
        assert!(
            timeout.message.contains("within 250 ms"),
            "{}",
            timeout.message
        );
    }

    #[test]
    fn io_errors_are_opened_even_when_nested() {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(cause_of(&refused), Some(ProbeCause::ConnectionRefused));
        let tls = io::Error::other(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::DecryptError,
        ));
        assert_eq!(cause_of(&tls), Some(ProbeCause::Tls));
        let dns = io::Error::other("dns error: failed to lookup address information");
        assert_eq!(cause_of(&dns), Some(ProbeCause::Dns));
        assert_eq!(cause_of(&io::Error::other("reset")), None);
    }

    #[test]
    fn hosts_for_messages() {
        assert_eq!(host_of("https://webexapis.com/v1"), "webexapis.com");
        assert_eq!(host_of("http://127.0.0.1:8080/v1"), "127.0.0.1:8080");
        assert_eq!(host_of("not a url"), "not a url");
    }
}
