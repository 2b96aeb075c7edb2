//! Opening the websocket: the JS SDK's query parameters, `HTTPS_PROXY`/`NO_PROXY` (HTTP
//! CONNECT), TLS with rustls and the webpki roots (no OpenSSL).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use url::Url;

use super::error::MercuryError;

/// The socket type [`super::Mercury::connect`] opens.
pub type MercuryStream = MaybeTlsStream<TcpStream>;

/// Adds the webex-js-sdk's query parameters (`internal-plugin-mercury/src/mercury.js`,
/// `_prepareUrl`): events as text frames, buffer-state events, HTTP statuses aliased, and the
/// client clock.
pub fn prepare_url(web_socket_url: &str, now: SystemTime) -> Result<Url, MercuryError> {
    let mut url = Url::parse(web_socket_url)
        .map_err(|e| MercuryError::InvalidUrl(format!("{web_socket_url}: {e}")))?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(MercuryError::InvalidUrl(format!(
            "{web_socket_url}: a websocket URL must be ws:// or wss://"
        )));
    }
    let millis = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let keep: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| {
            !matches!(
                k.as_ref(),
                "outboundWireFormat" | "bufferStates" | "aliasHttpStatus" | "clientTimestamp"
            )
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(keep)
        .append_pair("outboundWireFormat", "text")
        .append_pair("bufferStates", "true")
        .append_pair("aliasHttpStatus", "true")
        .append_pair("clientTimestamp", &millis.to_string());
    Ok(url)
}

/// The proxy to use for `url`, from `HTTPS_PROXY` (for `wss`/`https`) or `HTTP_PROXY` (for
/// `ws`/`http`), else `ALL_PROXY`, either case, unless `NO_PROXY` names the host (`*`, the host, or a parent domain with or without a
/// leading dot). `env` reads a variable (`std::env::var` in production).
pub fn proxy_for(url: &Url, env: impl Fn(&str) -> Option<String>) -> Option<Url> {
    let var = |name: &str| {
        env(name)
            .or_else(|| env(&name.to_ascii_lowercase()))
            .filter(|v| !v.trim().is_empty())
    };
    let proxy = match url.scheme() {
        "wss" | "https" => var("HTTPS_PROXY"),
        _ => var("HTTP_PROXY"),
    }
    .or_else(|| var("ALL_PROXY"))?;
    let host = url
        .host_str()?
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    if let Some(no_proxy) = var("NO_PROXY") {
        let bypass = no_proxy.split(',').map(str::trim).any(|entry| {
            let entry = entry.trim_start_matches('.').to_ascii_lowercase();
            let entry = entry
                .rsplit_once(':')
                .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                .map_or(entry.as_str(), |(h, _)| h)
                .trim_matches(['[', ']']);
            entry == "*"
                || (!entry.is_empty() && (host == entry || host.ends_with(&format!(".{entry}"))))
        });
        if bypass {
            return None;
        }
    }
    http_proxy_url(&proxy).ok()
}

/// The HTTP proxy a proxy variable's value names (`host:port` means `http://host:port`); `Err`
/// with the scheme found (`"-"` when the value is no URL) for anything else, which the rule
/// ignores.
fn http_proxy_url(value: &str) -> Result<Url, String> {
    let value = value.trim();
    let text = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    match Url::parse(&text) {
        Ok(url) if url.scheme() == "http" => Ok(url),
        Ok(url) => Err(url.scheme().to_string()),
        Err(_) => Err("-".to_string()),
    }
}

/// The proxy variables of the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
/// `NO_PROXY`, either case), read once. A process's environment does not change under it, so
/// the REST client reads it when it is built: a request then costs no `getenv`, and with no
/// proxy named the client skips the proxy decision altogether ([`ProxyEnv::names_a_proxy`]).
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    vars: Vec<(String, String)>,
}

impl ProxyEnv {
    /// The variables this rule reads, in both cases.
    const NAMES: [&'static str; 8] = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ];

    /// The process environment's values now.
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The values `lookup` gives for the variables of the rule.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let vars = Self::NAMES
            .iter()
            .filter_map(|name| lookup(name).map(|value| ((*name).to_string(), value)))
            .collect();
        Self { vars }
    }

    /// The value of `name`, as [`proxy_for`]'s `env` wants it.
    pub fn get(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }

    /// The proxy variables (not `NO_PROXY`) whose value is not an `http://` proxy (a
    /// `socks5://` or `https://` URL, or no URL at all), with the scheme found (`"-"` when the
    /// value does not parse): [`proxy_for`] ignores such a value, so what would use it goes
    /// direct. The value itself is not returned (it may hold a password).
    pub fn unusable(&self) -> Vec<(&str, String)> {
        self.proxies()
            .filter_map(|(key, value)| http_proxy_url(value).err().map(|scheme| (key, scheme)))
            .collect()
    }

    /// Whether a proxy variable (not `NO_PROXY`) has a value: without one, [`proxy_for`] is
    /// `None` for every URL.
    pub fn names_a_proxy(&self) -> bool {
        self.proxies().next().is_some()
    }

    /// The proxy variables (not `NO_PROXY`) that have a value: `(name, value)`.
    fn proxies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .filter(|(key, value)| {
                !key.eq_ignore_ascii_case("NO_PROXY") && !value.trim().is_empty()
            })
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }
}

/// Connects to `url` (directly or through the environment's proxy) and upgrades to a websocket.
/// A 404 on the upgrade is [`MercuryError::DeviceGone`].
pub async fn dial(
    url: &Url,
    timeout: Duration,
) -> Result<WebSocketStream<MercuryStream>, MercuryError> {
    let host = url
        .host_str()
        .ok_or_else(|| MercuryError::InvalidUrl(format!("{url}: no host")))?
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| MercuryError::InvalidUrl(format!("{url}: no port")))?;
    let target = format!("{host}:{port}");
    let proxy = proxy_for(url, |name| std::env::var(name).ok());
    let work = async {
        let tcp = match &proxy {
            Some(proxy) => connect_via_proxy(proxy, &target).await?,
            None => TcpStream::connect(&target)
                .await
                .map_err(|e| MercuryError::Connect {
                    host: target.clone(),
                    reason: e.to_string(),
                })?,
        };
        let _ = tcp.set_nodelay(true);
        let request = url
            .as_str()
            .into_client_request()
            .map_err(MercuryError::from_socket)?;
        let (ws, _response) = tokio_tungstenite::client_async_tls_with_config(
            request,
            tcp,
            None,
            Some(Connector::Rustls(tls_config()?)),
        )
        .await
        .map_err(MercuryError::from_socket)?;
        Ok(ws)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| MercuryError::Connect {
            host: target.clone(),
            reason: format!("no websocket after {timeout:?}"),
        })?
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, MercuryError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| MercuryError::Connect {
        host: String::new(),
        reason: format!("TLS setup failed: {e}"),
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Longest proxy answer header we read.
const MAX_PROXY_HEADER: usize = 8 * 1024;

/// Opens a tunnel to `target` (`host:port`) through an HTTP proxy with `CONNECT`.
pub(crate) async fn connect_via_proxy(
    proxy: &Url,
    target: &str,
) -> Result<TcpStream, MercuryError> {
    let proxy_host = format!(
        "{}:{}",
        proxy.host_str().unwrap_or_default(),
        proxy.port_or_known_default().unwrap_or(80)
    );
    let fail = |reason: String| MercuryError::Connect {
        host: proxy_host.clone(),
        reason,
    };
    let mut tcp = TcpStream::connect(&proxy_host)
        .await
        .map_err(|e| fail(format!("proxy unreachable: {e}")))?;
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if !proxy.username().is_empty() {
        use base64::Engine as _;
        let user = percent_decode(proxy.username());
        let pass = percent_decode(proxy.password().unwrap_or_default());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        request.push_str(&format!("Proxy-Authorization: Basic {basic}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|e| fail(format!("proxy write failed: {e}")))?;
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    while !header.ends_with(b"\r\n\r\n") {
        if header.len() >= MAX_PROXY_HEADER {
            return Err(fail("proxy answer header too long".into()));
        }
        let n = tcp
            .read(&mut byte)
            .await
            .map_err(|e| fail(format!("proxy read failed: {e}")))?;
        if n == 0 {
            return Err(fail("proxy closed the connection during CONNECT".into()));
        }
        header.push(byte[0]);
    }
    let status_line = String::from_utf8_lossy(&header);
    let status_line = status_line.lines().next().unwrap_or_default();
    let ok = status_line
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code.starts_with('2'));
    if !ok {
        return Err(fail(format!(
            "proxy refused CONNECT {target}: {status_line}"
        )));
    }
    Ok(tcp)
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn prepare_url_adds_the_sdk_parameters_once() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let prepared = prepare_url(
            "wss://mercury-connection-partition1-a.wbx2.com/v1/apps/wx2/registrations/abc/messages?bufferStates=false&x=1",
            now,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            prepared.query(),
            Some("x=1&outboundWireFormat=text&bufferStates=true&aliasHttpStatus=true&clientTimestamp=1700000000123")
        );
        assert!(prepare_url("https://x/ws", now).is_err());
        assert!(prepare_url("not a url", now).is_err());
    }

    #[test]
    fn proxy_from_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let wss = url("wss://mercury.wbx2.com/v1/x");
        let ws = url("ws://127.0.0.1:9000/x");
        let set: &[(&str, &str)] = &[
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("NO_PROXY", "localhost,127.0.0.1,.internal"),
        ];
        assert_eq!(
            proxy_for(&wss, env(set)).map(|u| u.to_string()),
            Some("http://proxy.corp:3128/".into())
        );
        // ws:// uses HTTP_PROXY, which is not set.
        assert_eq!(proxy_for(&ws, env(set)), None);
        let lower: &[(&str, &str)] = &[("https_proxy", "proxy.corp:8080")];
        assert_eq!(
            proxy_for(&wss, env(lower)).map(|u| u.to_string()),
            Some("http://proxy.corp:8080/".into())
        );
        let bypass: &[(&str, &str)] = &[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "wbx2.com")];
        assert_eq!(proxy_for(&wss, env(bypass)), None);
        let star: &[(&str, &str)] = &[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "*")];
        assert_eq!(proxy_for(&wss, env(star)), None);
        let other: &[(&str, &str)] = &[
            ("HTTPS_PROXY", "http://p:1"),
            ("NO_PROXY", "x2.com,mercury.wbx2.com.evil"),
        ];
        assert!(proxy_for(&wss, env(other)).is_some());
        let none: &[(&str, &str)] = &[];
        assert_eq!(proxy_for(&wss, env(none)), None);
    }

    #[test]
    fn the_environment_read_once_gives_the_same_proxy() {
        let vars: &[(&str, &str)] = &[
            ("https_proxy", "proxy.corp:8080"),
            ("NO_PROXY", "127.0.0.1"),
            ("PATH", "/bin"),
        ];
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let env = ProxyEnv::from_lookup(lookup);
        assert!(env.names_a_proxy());
        assert_eq!(env.get("PATH"), None, "only the proxy variables are kept");
        let wss = url("wss://mercury.wbx2.com/v1/x");
        assert_eq!(
            proxy_for(&wss, |name| env.get(name)).map(|u| u.to_string()),
            Some("http://proxy.corp:8080/".into())
        );
        assert_eq!(
            proxy_for(&url("https://127.0.0.1:1/v1"), |name| env.get(name)),
            None
        );
        assert!(env.unusable().is_empty());
        let socks = ProxyEnv::from_lookup(|name| match name {
            "HTTPS_PROXY" => Some("socks5://user:secret@127.0.0.1:1080".into()),
            "http_proxy" => Some("http://[::1".into()),
            "ALL_PROXY" => Some("proxy.corp:3128".into()),
            _ => None,
        });
        assert_eq!(
            socks.unusable(),
            [
                ("HTTPS_PROXY", "socks5".to_string()),
                ("http_proxy", "-".to_string())
            ]
        );
        // NO_PROXY alone, or blank proxy variables, name no proxy.
        let only_no_proxy = ProxyEnv::from_lookup(|name| (name == "NO_PROXY").then(|| "*".into()));
        assert!(!only_no_proxy.names_a_proxy());
        let blank = ProxyEnv::from_lookup(|name| (name == "HTTP_PROXY").then(|| "  ".into()));
        assert!(!blank.names_a_proxy());
        assert!(!ProxyEnv::default().names_a_proxy());
    }

    /// A local CONNECT proxy (loopback only) that checks the request and tunnels to the target.
    async fn proxy(expect_auth: Option<&'static str>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if client.read(&mut byte).await.unwrap_or(0) == 0 {
                    return;
                }
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let target = head
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let authorized = expect_auth.is_none_or(|auth| head.contains(auth));
            if !head.starts_with("CONNECT ") || !authorized {
                let _ = client
                    .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                    .await;
                return;
            }
            let Ok(mut upstream) = TcpStream::connect(&target).await else {
                return;
            };
            let _ = client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await;
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
        addr
    }

    async fn echo_server() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn tunnels_through_a_connect_proxy_with_credentials() {
        let target = echo_server().await;
        // "user:p@ss" in base64.
        let proxy_addr = proxy(Some("Proxy-Authorization: Basic dXNlcjpwQHNz")).await;
        let proxy_url = url(&format!("http://user:p%40ss@{proxy_addr}"));
        let mut tunnel = connect_via_proxy(&proxy_url, &target.to_string())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tunnel
            .write_all(b"ping")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 4];
        tunnel
            .read_exact(&mut buf)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&buf, b"ping");
    }

    #[tokio::test]
    async fn a_refusing_proxy_is_a_clear_connect_error() {
        let target = echo_server().await;
        let proxy_addr = proxy(Some("Proxy-Authorization: Basic nope")).await;
        let err = connect_via_proxy(&url(&format!("http://{proxy_addr}")), &target.to_string())
            .await
            .err();
        match err {
            Some(MercuryError::Connect { reason, .. }) => {
                assert!(reason.contains("407"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
