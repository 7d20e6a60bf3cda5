//! Runs a portal over HTTPS (axum-server + rustls), plus an
//! optional plain-HTTP listener that only redirects to HTTPS, until the
//! shutdown token is cancelled.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use axum::Router;
use axum::response::Redirect;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long in-flight requests get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// A running web server.
pub struct WebServer {
    pub https_addr: SocketAddr,
    pub redirect_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl WebServer {
    /// Binds the listeners (so errors such as "address in use" surface
    /// here) and starts serving.
    pub fn start(
        app: Router,
        tls: std::sync::Arc<rustls::ServerConfig>,
        https: SocketAddr,
        redirect: Option<SocketAddr>,
        shutdown: CancellationToken,
    ) -> std::io::Result<WebServer> {
        let https_listener = bind(https)?;
        let https_addr = https_listener.local_addr()?;
        let https_server =
            axum_server::from_tcp_rustls(https_listener, RustlsConfig::from_config(tls))?
                .handle(handle_for(shutdown.clone()));
        let mut tasks = vec![tokio::spawn(
            https_server.serve(app.into_make_service_with_connect_info::<SocketAddr>()),
        )];
        let mut redirect_addr = None;
        if let Some(addr) = redirect {
            let listener = bind(addr)?;
            redirect_addr = Some(listener.local_addr()?);
            let to_https = redirect_app(https_addr.port());
            let server = axum_server::from_tcp(listener)?.handle(handle_for(shutdown));
            tasks.push(tokio::spawn(server.serve(to_https.into_make_service())));
        }
        Ok(WebServer {
            https_addr,
            redirect_addr,
            tasks,
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

fn redirect_app(https_port: u16) -> Router {
    Router::new().fallback(move |headers: http::HeaderMap, uri: http::Uri| async move {
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.parse::<http::uri::Authority>().ok());
        let name = host.as_ref().map(|a| a.host()).unwrap_or("localhost");
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let port = if https_port == 443 {
            String::new()
        } else {
            format!(":{https_port}")
        };
        Redirect::permanent(&format!("https://{name}{port}{path}"))
    })
}
