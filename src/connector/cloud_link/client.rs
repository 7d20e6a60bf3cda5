//! HTTPS client of the cloud API. It trusts exactly the cloud key pinned
//! in the token (no CA), and names failures so the link can tell "the
//! cloud is away" (retry) from "the cloud said no" (stop and show why).

use std::net::IpAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connector::proxy::{self, ProxySettings};
use crate::contract::cloud_api::{
    AccessPointConfig, ApiErrorBody, BatchAck, ControllerConfig, GroupConfig, Heartbeat,
    HeartbeatAck, RegisterRequest, RegisterResponse, path,
};
use crate::contract::event_batch;
use crate::contract::token::Token;
use crate::tls::pin::PinnedKey;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the cloud: {0}")]
    Unreachable(String),
    #[error(
        "the server at the token's cloud URL presented a different key than the token names: {0}"
    )]
    WrongKey(String),
    /// The cloud answered with a refusal; the message is its reason.
    #[error("{message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from the cloud: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The credential or token is no longer accepted.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ClientError::Refused { status: 401, .. })
    }
}

#[derive(Clone)]
pub struct CloudClient {
    http: reqwest::Client,
    /// Failures through it are named as the proxy's.
    proxy: ProxySettings,
    base: String,
    credential: Option<String>,
}

impl CloudClient {
    /// A client of the cloud named in `token`, through `proxy` if set.
    pub fn new(
        token: &Token,
        source: Option<IpAddr>,
        proxy: &ProxySettings,
    ) -> Result<CloudClient, ClientError> {
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(PinnedKey::client_config(&token.claims.cloud_pin))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(crate::portal::server::CLIENT_POOL_IDLE)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ip) = source {
            builder = builder.local_address(ip);
        }
        let http = proxy
            .apply(builder)
            .build()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(CloudClient {
            http,
            proxy: proxy.clone(),
            base: token.claims.cloud_url.trim_end_matches('/').to_string(),
            credential: None,
        })
    }

    pub fn with_credential(mut self, credential: &str) -> CloudClient {
        self.credential = Some(credential.to_string());
        self
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.credential {
            Some(c) => rb.bearer_auth(c),
            None => rb,
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = rb.send().await.map_err(|e| classify(e, &self.proxy))?;
        let status = resp.status();
        if status.is_success() {
            return resp
                .json()
                .await
                .map_err(|e| ClientError::Protocol(e.to_string()));
        }
        let text = resp.text().await.unwrap_or_default();
        let (code, message) = match serde_json::from_str::<ApiErrorBody>(&text) {
            Ok(b) => (b.error.code, b.error.message),
            Err(_) => ("http".into(), format!("HTTP {status}")),
        };
        if status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE {
            return Err(ClientError::Unreachable(format!("{status}: {message}")));
        }
        // A cloud older than this connector cannot read what it sends (the
        // compact event batches): not a refusal of this request's content,
        // so nothing is dropped for it; the link shows why.
        if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            return Err(ClientError::Protocol(format!(
                "the cloud cannot read this connector's requests ({message}): it is older than this connector; upgrade the cloud. Events stay in the spool until then"
            )));
        }
        Err(ClientError::Refused {
            status: status.as_u16(),
            code,
            message,
        })
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(self.request(reqwest::Method::POST, path).json(body))
            .await
    }

    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterResponse, ClientError> {
        self.post(path::REGISTER, req).await
    }

    /// Long-polls the group's configuration: answers at once if the cloud's
    /// version differs from `version`, else when it changes or after `wait`.
    pub async fn config(
        &self,
        version: Option<u64>,
        wait: Duration,
    ) -> Result<GroupConfig, ClientError> {
        let mut rb = self
            .request(reqwest::Method::GET, path::CONFIG)
            .query(&[("wait", wait.as_secs())])
            .timeout(wait + Duration::from_secs(15));
        if let Some(v) = version {
            rb = rb.query(&[("version", v)]);
        }
        self.send(rb).await
    }

    pub async fn add_controller(&self, c: &ControllerConfig) -> Result<GroupConfig, ClientError> {
        self.post(path::CONFIG_CONTROLLERS, c).await
    }

    pub async fn remove_controller(
        &self,
        host: &str,
        port: u16,
    ) -> Result<GroupConfig, ClientError> {
        let p = format!("{}/{host}/{port}", path::CONFIG_CONTROLLERS);
        self.send(self.request(reqwest::Method::DELETE, &p)).await
    }

    pub async fn add_access_point(
        &self,
        a: &AccessPointConfig,
    ) -> Result<GroupConfig, ClientError> {
        self.post(path::CONFIG_ACCESS_POINTS, a).await
    }

    pub async fn remove_access_point(&self, key_hash: &str) -> Result<GroupConfig, ClientError> {
        let p = format!("{}/{key_hash}", path::CONFIG_ACCESS_POINTS);
        self.send(self.request(reqwest::Method::DELETE, &p)).await
    }

    /// Sends one spooled batch as it was spooled: the compact layout
    /// (zstd), or gzipped JSON when an older version spooled it.
    pub async fn events(&self, payload: Vec<u8>) -> Result<BatchAck, ClientError> {
        let (content_type, encoding) = if event_batch::is_compressed_batch(&payload) {
            (event_batch::CONTENT_TYPE, "zstd")
        } else {
            ("application/json", "gzip")
        };
        let rb = self
            .request(reqwest::Method::POST, path::EVENTS)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::CONTENT_ENCODING, encoding)
            .body(payload);
        self.send(rb).await
    }

    pub async fn heartbeat(&self, hb: &Heartbeat) -> Result<HeartbeatAck, ClientError> {
        self.post(path::HEARTBEAT, hb).await
    }
}

/// Transport failures: a pin mismatch (our verifier's refusal, wherever
/// in the chain of causes it surfaces) is named as such, as is a proxy
/// that refused or could not be reached; the rest mean the cloud is away.
fn classify(e: reqwest::Error, via: &ProxySettings) -> ClientError {
    let mut text = e.to_string();
    let mut s = std::error::Error::source(&e);
    while let Some(inner) = s {
        text = format!("{text}: {inner}");
        s = inner.source();
    }
    if text.contains(crate::tls::pin::PIN_MISMATCH) {
        ClientError::WrongKey(text)
    } else if let Some(named) = proxy::name_failure(via, &text) {
        ClientError::Unreachable(named)
    } else {
        ClientError::Unreachable(text)
    }
}
