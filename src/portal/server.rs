//! Runs a portal over HTTPS (axum-server + rustls), plus an
//! optional plain-HTTP listener that only redirects to HTTPS, until the
//! shutdown token is cancelled.
//!
//! Everything from the network is bounded before it costs much: connections
//! per client address and in total (checked before TLS), the TLS handshake,
//! reading a request's headers, and the first request on a connection each
//! have a deadline, so slow or idle clients cannot hold the UI.

use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::response::Redirect;
use axum_server::Handle;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::conn_limit::{Caps, ConnectionLimits, Slot};

/// How long in-flight requests get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(10);
/// Deadlines for a client: the TLS handshake, a request's headers, and the
/// first request after the handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Also the idle keep-alive limit: hyper starts this clock whenever a
/// connection waits for its next request.
const HEADERS: Duration = Duration::from_secs(10);
/// How long our own HTTP clients keep an idle connection for reuse: well
/// under `HEADERS`, so a client never sends a request on a connection the
/// server is closing that instant (the request would fail with an EOF).
pub const CLIENT_POOL_IDLE: Duration = Duration::from_secs(5);
const FIRST_REQUEST: Duration = Duration::from_secs(15);
/// Connections to the UI: a browser opens a handful; thousands from one
/// address is an attack.
pub const UI_CAPS: Caps = Caps {
    per_address: 64,
    total: 8192,
};

/// A running web server.
pub struct WebServer {
    pub https_addr: SocketAddr,
    pub redirect_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
    /// Open HTTPS connections and those refused by the caps.
    pub connections: Arc<ConnectionLimits>,
}

/// The caps of a portal's HTTPS listener, made before the application so
/// its pages can show the refusals.
pub fn ui_limits() -> Arc<ConnectionLimits> {
    ConnectionLimits::new(UI_CAPS)
}

impl WebServer {
    /// Binds the listeners (so errors such as "address in use" surface
    /// here) and starts serving, within `limits` (whose refusals the
    /// application shows).
    pub fn start(
        app: Router,
        tls: std::sync::Arc<rustls::ServerConfig>,
        https: SocketAddr,
        redirect: Option<SocketAddr>,
        limits: Arc<ConnectionLimits>,
        shutdown: CancellationToken,
    ) -> std::io::Result<WebServer> {
        let https_listener = bind(https)?;
        let https_addr = https_listener.local_addr()?;
        let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(tls))
            .handshake_timeout(HANDSHAKE)
            .acceptor(Limited(limits.clone()));
        let mut https_server = axum_server::from_tcp(https_listener)?
            .acceptor(acceptor)
            .first_request_timeout(FIRST_REQUEST)
            .handle(handle_for(shutdown.clone()));
        https_server
            .http_builder()
            .http1()
            .header_read_timeout(HEADERS);
        let mut tasks = vec![tokio::spawn(
            https_server.serve(app.into_make_service_with_connect_info::<SocketAddr>()),
        )];
        let mut redirect_addr = None;
        if let Some(addr) = redirect {
            let listener = bind(addr)?;
            redirect_addr = Some(listener.local_addr()?);
            let to_https = redirect_app(https_addr);
            let server = axum_server::from_tcp(listener)?.handle(handle_for(shutdown));
            tasks.push(tokio::spawn(server.serve(to_https.into_make_service())));
        }
        Ok(WebServer {
            https_addr,
            redirect_addr,
            tasks,
            connections: limits,
        })
    }

    /// Waits until every listener has drained after shutdown.
    pub async fn wait(self) -> std::io::Result<()> {
        for t in self.tasks {
            t.await.map_err(std::io::Error::other)??;
        }
        Ok(())
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let l = TcpListener::bind(addr)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// A server handle that starts a graceful shutdown when `shutdown` fires.
fn handle_for(shutdown: CancellationToken) -> Handle<SocketAddr> {
    let handle = Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stopper.graceful_shutdown(Some(DRAIN));
    });
    handle
}

/// Redirects plain HTTP to HTTPS on this server's own address: never to
/// the request's `Host`, which the client chooses.
fn redirect_app(https: SocketAddr) -> Router {
    let host = crate::host::url_host(https);
    let port = if https.port() == 443 {
        String::new()
    } else {
        format!(":{}", https.port())
    };
    let base = format!("https://{host}{port}");
    Router::new().fallback(move |uri: http::Uri| {
        let base = base.clone();
        async move {
            let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            Redirect::permanent(&format!("{base}{path}"))
        }
    })
}

/// Admits a TCP connection only within the caps, before TLS; the stream
/// carries its slot until it closes.
#[derive(Clone)]
struct Limited(Arc<ConnectionLimits>);

impl<S: Send + 'static> Accept<TcpStream, S> for Limited {
    type Stream = LimitedStream;
    type Service = S;
    type Future = std::future::Ready<std::io::Result<(LimitedStream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .ok()
            .and_then(|peer| self.0.admit(peer.ip()));
        std::future::ready(match admitted {
            Some(slot) => Ok((
                LimitedStream {
                    inner: stream,
                    _slot: slot,
                },
                service,
            )),
            None => Err(std::io::Error::other("connection cap reached")),
        })
    }
}

/// A TCP stream holding its place under the caps.
struct LimitedStream {
    inner: TcpStream,
    _slot: Slot,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
