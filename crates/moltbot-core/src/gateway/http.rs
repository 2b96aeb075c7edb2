//! The gateway's HTTP server: channel routes (webhooks) plus `/healthz`, `/readyz`, and
//! `/metrics` unless that has an address of its own (`gateway.metrics.listen`, served by
//! [`metrics_router`]).
//!
//! The servers run until the shutdown drain is over, not only until the shutdown signal: while
//! in-flight messages finish, `/healthz` still answers 200, `/readyz` 503 and `/metrics` its
//! figures, so a supervisor or a load balancer sees a live process that is leaving rather than
//! a dead port. The channels' routes take nothing new then: they answer 503 with
//! `Connection: close` ([`refuse_while_stopping`]), which a load balancer retries on another
//! replica as it would a refused connection.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::metrics::{Metrics, CONTENT_TYPE};
use super::status::GatewayStatus;

/// Builds the router: `channel_routes` (refused with 503 once the gateway is stopping) plus the
/// health endpoints, and `/metrics` when `metrics` is given (`None`: it is served on an address
/// of its own).
pub fn router(
    channel_routes: Router,
    status: Arc<GatewayStatus>,
    metrics: Option<Arc<Metrics>>,
) -> Router {
    let ready_status = Arc::clone(&status);
    // `route_layer` wraps the routes added so far only, not the fallback: the health routes
    // below stay open, and a path that is no route (`/metrics` when it has an address of its
    // own) stays a 404 during the drain. (axum refuses a `route_layer` on a router without
    // routes: polling and websocket modes have none.)
    let channel_routes = if channel_routes.has_routes() {
        channel_routes.route_layer(axum::middleware::from_fn_with_state(
            status,
            refuse_while_stopping,
        ))
    } else {
        channel_routes
    };
    let router = channel_routes
        .route("/healthz", get(|| async { (StatusCode::OK, "ok\n") }))
        .route(
            "/readyz",
            get(move || {
                let status = Arc::clone(&ready_status);
                async move {
                    if status.is_ready() {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
                    }
                }
            }),
        );
    match metrics {
        Some(metrics) => router.merge(metrics_router(metrics)),
        None => router,
    }
}

/// Answers a channel route's request with 503 and `Connection: close` once the gateway is
/// stopping (the drain: nothing new is taken in), and passes it on before that.
async fn refuse_while_stopping(
    State(status): State<Arc<GatewayStatus>>,
    request: Request,
    next: Next,
) -> Response {
    if !status.is_stopping() {
        return next.run(request).await;
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONNECTION, HeaderValue::from_static("close"))],
        "shutting down\n",
    )
        .into_response()
}

/// The router of `/metrics` alone (Prometheus text format 0.0.4).
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = Arc::clone(&metrics);
            async move {
                match metrics.render() {
                    Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
                    Err(err) => {
                        tracing::error!(error = %err, "cannot render the metrics");
                        StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    }
                }
            }
        }),
    )
}

/// Binds `addr` (port 0 picks a free port) and returns the listener and its real address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves `router` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;

    /// Serves [`router`] around `channel_routes` (no `/metrics`) on a free loopback port;
    /// returns its base URL, the status it reports and the token that stops it.
    async fn serve_with(channel_routes: Router) -> (String, Arc<GatewayStatus>, CancellationToken) {
        let status = Arc::new(GatewayStatus::default());
        let app = router(channel_routes, Arc::clone(&status), None);
        let (listener, addr) = bind(([127, 0, 0, 1], 0).into()).await.unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, app, stop.clone()));
        (format!("http://{addr}"), status, stop)
    }

    #[tokio::test]
    async fn while_stopping_health_answers_and_channel_routes_refuse_new_work() {
        let channel_routes = Router::new().route("/hook", post(|| async { "taken\n" }));
        let (base, status, stop) = serve_with(channel_routes).await;
        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("{base}{path}")).send();
        let hook = || client.post(format!("{base}/hook")).send();
        status.set_ready(true);
        assert_eq!(get("/readyz").await.unwrap().status(), 200);
        assert_eq!(hook().await.unwrap().status(), 200);

        status.set_stopping();
        status.set_ready(true); // too late: a stopping gateway is never ready again
        assert_eq!(get("/healthz").await.unwrap().status(), 200);
        assert_eq!(get("/readyz").await.unwrap().status(), 503);
        let refused = hook().await.unwrap();
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.headers()[header::CONNECTION], "close");
        // Paths that are no route here are still not found (this router has no `/metrics`:
        // it was given an address of its own).
        assert_eq!(get("/metrics").await.unwrap().status(), 404);
        assert_eq!(get("/no-such-path").await.unwrap().status(), 404);
        stop.cancel();
    }

    #[tokio::test]
    async fn without_channel_routes_health_answers_and_other_paths_are_not_found() {
        // Polling and websocket modes have no channel route.
        let (base, status, stop) = serve_with(Router::new()).await;
        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("{base}{path}")).send();
        assert_eq!(get("/healthz").await.unwrap().status(), 200);
        status.set_stopping();
        assert_eq!(get("/healthz").await.unwrap().status(), 200);
        assert_eq!(get("/readyz").await.unwrap().status(), 503);
        assert_eq!(get("/webex/webhook").await.unwrap().status(), 404);
        stop.cancel();
    }
}
