//! The reference cloud for tests: in-process (`TestCloud`) and the page
//! steps an operator takes in it (tenant, token, firehose).

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::*;

/// A reference cloud served in-process, set up with an admin and a tenant.
pub struct TestCloud {
    pub url: String,
    pub pin: String,
    pub http: reqwest::Client,
    pub tenant_id: String,
    pub firehose_key: String,
    pub args: spaces_connector::cloud::CloudArgs,
    shutdown: CancellationToken,
    service: spaces_connector::cloud::CloudService,
}

impl TestCloud {
    pub async fn start(dir: &Path, ip: &str) -> TestCloud {
        let args = spaces_connector::cloud::CloudArgs {
            data_dir: dir.to_path_buf(),
            listen: format!("{ip}:0").parse().unwrap(),
            public_url: None,
            stale_after_secs: 3,
            down_after_secs: 5,
            dedup_window_hours: 24,
            dedup_window_secs: None,
            static_dir: None,
            privacy_lead_ms: 0,
            sink: false,
        };
        let mut cloud = TestCloud::run(args).await;
        let code = cloud.service.setup_code.clone().expect("a new cloud");
        set_up_at(&cloud.http, &cloud.url, &code).await;
        (cloud.tenant_id, cloud.firehose_key) = create_tenant(&cloud.http, &cloud.url).await;
        cloud
    }

    /// Starts (or restarts) the cloud with `args` on its state file.
    pub async fn run(args: spaces_connector::cloud::CloudArgs) -> TestCloud {
        let shutdown = CancellationToken::new();
        let service = spaces_connector::cloud::CloudService::start(&args, shutdown.clone())
            .await
            .unwrap();
        let url = service.state.url.to_string();
        let pin = service.state.pin.to_string();
        let mut args = args;
        // A restart keeps the port, so tokens stay valid.
        args.listen = service.web.https_addr;
        TestCloud {
            http: client_for(&pin, Arc::new(reqwest::cookie::Jar::default())),
            url,
            pin,
            tenant_id: String::new(),
            firehose_key: String::new(),
            args,
            shutdown,
            service,
        }
    }

    /// "Create a new token" for `name`; returns (group id, token).
    pub async fn create_token(&self, name: &str) -> (String, String) {
        create_token(&self.http, &self.url, &self.tenant_id, name).await
    }

    /// The same for a `kind` ("wireless" or "wired") network.
    pub async fn create_token_kind(&self, name: &str, kind: &str) -> (String, String) {
        create_token_kind(&self.http, &self.url, &self.tenant_id, name, kind).await
    }

    pub async fn group_page(&self, group_id: &str) -> String {
        self.http
            .get(format!("{}/groups/{group_id}", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Every event on the tenant's firehose, from the start, without waiting.
    pub async fn firehose(&self) -> Vec<serde_json::Value> {
        firehose(&self.http, &self.url, &self.firehose_key).await
    }

    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.service.wait().await.unwrap();
    }

    /// Stops the cloud; `StoppedCloud::start` brings it back on the same
    /// port and state file.
    pub async fn stop(self) -> StoppedCloud {
        let kept = StoppedCloud {
            args: self.args.clone(),
            http: self.http.clone(),
            tenant_id: self.tenant_id.clone(),
            firehose_key: self.firehose_key.clone(),
        };
        self.shutdown().await;
        kept
    }
}

pub struct StoppedCloud {
    args: spaces_connector::cloud::CloudArgs,
    http: reqwest::Client,
    tenant_id: String,
    firehose_key: String,
}

impl StoppedCloud {
    pub async fn start(self) -> TestCloud {
        let mut c = TestCloud::run(self.args).await;
        c.http = self.http;
        c.tenant_id = self.tenant_id;
        c.firehose_key = self.firehose_key;
        c
    }
}

/// Creates the tenant "Example Corp" on a cloud whose admin is logged in
/// on `http`; returns (tenant id, firehose key).
pub async fn create_tenant(http: &reqwest::Client, url: &str) -> (String, String) {
    create_tenant_named(http, url, "Example Corp").await
}

/// Creates tenant `name`; returns (tenant id, firehose key).
pub async fn create_tenant_named(
    http: &reqwest::Client,
    url: &str,
    name: &str,
) -> (String, String) {
    let r = submit(
        http,
        &format!("{url}/"),
        &format!("{url}/tenants"),
        &[("name", name)],
    )
    .await;
    let html = r.text().await.unwrap();
    (
        between(&html, "href=\"/tenants/", "\""),
        between(&html, "id=\"firehose-key\">", "<"),
    )
}

/// "Create a new token" for connector `name`; returns (group id, token).
pub async fn create_token(
    http: &reqwest::Client,
    url: &str,
    tenant_id: &str,
    name: &str,
) -> (String, String) {
    create_token_kind(http, url, tenant_id, name, "wireless").await
}

/// "Create a new token" for connector `name` of a `kind` network.
pub async fn create_token_kind(
    http: &reqwest::Client,
    url: &str,
    tenant_id: &str,
    name: &str,
    kind: &str,
) -> (String, String) {
    let tenant = format!("{url}/tenants/{tenant_id}");
    let fields = [("name", name), ("kind", kind)];
    let r = submit(http, &tenant, &format!("{tenant}/groups"), &fields).await;
    assert_eq!(r.status(), 201);
    // The token is on the page that answers its creation, and only there.
    let html = r.text().await.unwrap();
    (
        between(&html, "action=\"/groups/", "/rotate\""),
        between(&html, "aria-label=\"Connector token\">", "<"),
    )
}

/// Every event on a tenant's firehose, from the start, without waiting.
pub async fn firehose(http: &reqwest::Client, url: &str, key: &str) -> Vec<serde_json::Value> {
    let body = http
        .get(format!("{url}/api/v1/firehose?follow=false"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
