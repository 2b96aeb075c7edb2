//! The gateway's HTTP server: channel routes (webhooks) plus `/healthz`, `/readyz`, and
//! `/metrics` unless that has an address of its own (`gateway.metrics.listen`, served by
//! [`metrics_router`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::metrics::{Metrics, CONTENT_TYPE};
use super::status::GatewayStatus;

/// Builds the router: `channel_routes` plus the health endpoints, and `/metrics` when
/// `metrics` is given (`None`: it is served on an address of its own).
pub fn router(
    channel_routes: Router,
    status: Arc<GatewayStatus>,
    metrics: Option<Arc<Metrics>>,
) -> Router {
    let ready_status = Arc::clone(&status);
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
