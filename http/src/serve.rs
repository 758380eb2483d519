//! Serving a router over HTTP/1.1 with the limits a server facing untrusted clients needs,
//! which `axum::serve` does not set:
//!
//! - **header-read timeout** ([`ServerLimits::header_read_timeout`], default 30 s): a request's
//!   headers must arrive within it, and a kept-alive connection that sends nothing for as
//!   long is closed (hyper starts the same timer while it waits for the next request);
//! - **body-read timeout** ([`ServerLimits::body_read_timeout`], default 60 s) and size
//!   ([`ServerLimits::max_body_bytes`], default 2 MiB, the limit axum's body extractors apply
//!   to every handler anyway, so a larger default would only buffer bodies to refuse them): a body
//!   that trickles in, or is larger, is refused with 408 or 413;
//! - **connection cap** ([`ServerLimits::max_connections`], default 1,024): past it the
//!   server stops accepting until a connection closes, so idle or slow clients cannot take
//!   every file descriptor.
//!
//! App settings `Sluice.Http.HeaderReadTimeoutSeconds`, `Sluice.Http.BodyReadTimeoutSeconds`,
//! `Sluice.Http.MaxRequestBodyBytes` and `Sluice.Http.MaxConnections` change them.

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The limits of one HTTP server; see the module's doc for the defaults.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
            max_body_bytes: 2 << 20,
            max_connections: 1024,
        }
    }
}

impl ServerLimits {
    /// The defaults, changed by whichever of the app settings (see the module's doc) are set.
    pub fn from_settings(setting: impl Fn(&str) -> Option<String>) -> ServerLimits {
        let number = |name: &str| {
            setting(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|n| n.is_finite() && *n > 0.0)
        };
        let seconds = |name: &str, default: Duration| {
            number(name)
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .unwrap_or(default)
        };
        let d = ServerLimits::default();
        ServerLimits {
            header_read_timeout: seconds(
                "Sluice.Http.HeaderReadTimeoutSeconds",
                d.header_read_timeout,
            ),
            body_read_timeout: seconds("Sluice.Http.BodyReadTimeoutSeconds", d.body_read_timeout),
            max_body_bytes: number("Sluice.Http.MaxRequestBodyBytes")
                .map_or(d.max_body_bytes, |n| n.min(usize::MAX as f64) as usize),
            max_connections: number("Sluice.Http.MaxConnections")
                .map_or(d.max_connections, |n| n.min(1e6) as usize),
        }
    }
}

/// Serves `router` on `listener` under `limits` until the task is aborted. Handlers see the
/// peer's address as `ConnectInfo<SocketAddr>`, as with axum's own server.
pub async fn serve(listener: TcpListener, router: Router, limits: ServerLimits) {
    let router = router.layer(axum::middleware::from_fn_with_state(limits, read_body));
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let Ok(permit) = connections.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: wait rather than spin.
                metrics::counter!(crate::metric_definitions::HTTP_ACCEPT_ERRORS).increment(1);
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = connection_service(router.clone(), peer);
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = builder.serve_connection(io, service).with_upgrades().await;
            drop(permit);
        });
    }
}

fn connection_service(
    router: Router,
    peer: SocketAddr,
) -> hyper_util::service::TowerToHyperService<
    impl tower::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = Response,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone,
> {
    use tower::ServiceExt;
    let service = router.map_request(move |request: hyper::Request<hyper::body::Incoming>| {
        let mut request = request.map(Body::new);
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        request
    });
    hyper_util::service::TowerToHyperService::new(service)
}

/// Reads the request body within the time and size limits before any handler sees it.
async fn read_body(
    axum::extract::State(limits): axum::extract::State<ServerLimits>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    let bytes = match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestBodyTooLarge",
                format!(
                    "the request body is larger than {} bytes, or was cut off",
                    limits.max_body_bytes
                ),
            )
        }
        Err(_) => {
            return error_response(
                StatusCode::REQUEST_TIMEOUT,
                "RequestBodyTimeout",
                format!(
                    "the request body did not arrive within {} s",
                    limits.body_read_timeout.as_secs_f64()
                ),
            )
            .into_response()
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// An error answer in the shape Logic Apps uses: `{"error": {"code", "message"}}`.
pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message.into()}});
    (status, axum::Json(body)).into_response()
}
