//! [`ForwardProxy`]: a small HTTP forward proxy on loopback, as a corporate network puts in front
//! of the internet. It serves `CONNECT host:port` tunnels (what clients use for `https` and
//! websockets) and absolute-form requests (`GET http://host/path`, what clients send for plain
//! `http` through a proxy), and records every host it was asked for, so a test can prove that
//! traffic went through it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How a client used the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyUse {
    /// A `CONNECT` tunnel to `host:port`.
    Tunnel(String),
    /// A plain request forwarded to `host:port`, with its request line.
    Forward(String, String),
}

/// A running forward proxy; stops when dropped.
#[derive(Debug)]
pub struct ForwardProxy {
    addr: SocketAddr,
    uses: Arc<Mutex<Vec<ProxyUse>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ForwardProxy {
    /// Starts the proxy on `127.0.0.1`, any free port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let uses = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&uses);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let _ = serve(client, recorded).await;
                });
            }
        });
        Ok(Self { addr, uses, task })
    }

    /// `http://127.0.0.1:PORT`: the value for `HTTPS_PROXY` / `HTTP_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every use so far, in order.
    pub fn uses(&self) -> Vec<ProxyUse> {
        self.uses.lock().map(|u| u.clone()).unwrap_or_default()
    }

    /// `CONNECT` tunnels opened so far.
    pub fn tunnels(&self) -> usize {
        self.uses()
            .iter()
            .filter(|u| matches!(u, ProxyUse::Tunnel(_)))
            .count()
    }

    /// Plain requests forwarded so far (first request of each forwarded connection).
    pub fn forwarded(&self) -> usize {
        self.uses()
            .iter()
            .filter(|u| matches!(u, ProxyUse::Forward(..)))
            .count()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client connection: read the request head, then tunnel (CONNECT) or forward verbatim
/// (absolute-form: the upstream server accepts absolute-form request targets, RFC 9112
/// section 3.2.2, so the bytes need no rewriting).
async fn serve(client: TcpStream, uses: Arc<Mutex<Vec<ProxyUse>>>) -> std::io::Result<()> {
    let mut client = BufReader::new(client);
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if client.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let end = line == b"\r\n" || line == b"\n";
        head.extend_from_slice(&line);
        if end || head.len() > 64 * 1024 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let request_line = text.lines().next().unwrap_or_default().to_string();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default().to_string();
    let record = |u: ProxyUse| {
        if let Ok(mut all) = uses.lock() {
            all.push(u);
        }
    };
    if method.eq_ignore_ascii_case("CONNECT") {
        record(ProxyUse::Tunnel(target.clone()));
        let mut upstream = match TcpStream::connect(&target).await {
            Ok(upstream) => upstream,
            Err(_) => {
                client
                    .get_mut()
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                    .await?;
                return Ok(());
            }
        };
        client
            .get_mut()
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        let buffered = client.buffer().to_vec();
        upstream.write_all(&buffered).await?;
        let mut client = client.into_inner();
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    let Some(host) = target
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .filter(|host| !host.is_empty())
    else {
        client
            .get_mut()
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let host = host.to_string();
    record(ProxyUse::Forward(host.clone(), request_line.clone()));
    let mut upstream = TcpStream::connect(&host).await?;
    upstream.write_all(&head).await?;
    let buffered = client.buffer().to_vec();
    upstream.write_all(&buffered).await?;
    let mut client = client.into_inner();
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
