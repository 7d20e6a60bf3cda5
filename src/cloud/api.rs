//! The cloud's API for connectors (register, config, events, heartbeat)
//! and for consumers (firehose). Connectors authenticate with the
//! credential they got at registration; firehose consumers with their
//! tenant's firehose key.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::request::Parts;
use serde::Deserialize;
use tower_http::decompression::RequestDecompressionLayer;

use super::registry::{self, Member};
use super::{CloudError, CloudState, group_config, ingest, privacy};
use crate::contract::cloud_api::{
    AccessPointConfig, BatchAck, ControllerConfig, GroupConfig, Heartbeat, HeartbeatAck,
    PROTOCOL_VERSION, RegisterRequest, RegisterResponse, path,
};
use crate::contract::event_batch;
use crate::portal::error::{ApiError, WebError};

/// Largest event batch accepted, after decompression.
const MAX_BATCH: usize = 32 * 1024 * 1024;
/// Longest a config long-poll waits.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub fn routes() -> Router<CloudState> {
    Router::new()
        .route(path::REGISTER, post(register))
        .route(path::CONFIG, get(config))
        .route(path::CONFIG_CONTROLLERS, post(add_controller))
        .route(path::CONFIG_ACCESS_POINTS, post(add_access_point))
        .route(
            &format!("{}/{{hash}}", path::CONFIG_ACCESS_POINTS),
            delete(remove_access_point),
        )
        .route(
            &format!("{}/{{host}}/{{port}}", path::CONFIG_CONTROLLERS),
            delete(remove_controller),
        )
        .route(path::HEARTBEAT, post(heartbeat))
        .route(path::FIREHOSE, get(firehose))
        .route(path::GAPS, get(gaps))
        .route("/api/v1/sink", get(sink_report))
        .merge(
            // An older member's batches arrive gzipped and are inflated
            // here; compact batches (zstd) go through to the handler, which
            // inflates them with a bounded window. The limit applies after
            // decompression either way.
            Router::new()
                .route(path::EVENTS, post(events))
                .layer(DefaultBodyLimit::max(MAX_BATCH))
                .layer(RequestDecompressionLayer::new().pass_through_unaccepted(true)),
        )
}

fn bearer(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|s| s.trim().to_string())
}

/// A registered connector, by its credential.
struct MemberAuth(Member);

impl FromRequestParts<CloudState> for MemberAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &CloudState) -> Result<Self, ApiError> {
        let cred = bearer(parts).ok_or(WebError::LoginRequired)?;
        state
            .db
            .call(move |c| registry::authenticate(c, &cred))
            .await
            .map_err(WebError::from)?
            .map(MemberAuth)
            .ok_or_else(|| {
                WebError::Refused(
                    "unknown connector credential: register again with the token".into(),
                )
                .into()
            })
    }
}

fn seen_ip(info: &ConnectInfo<SocketAddr>) -> String {
    info.0.ip().to_string()
}

async fn register(
    State(state): State<CloudState>,
    info: ConnectInfo<SocketAddr>,
    Json(req): Json<RegisterRequest>,
) -> Result<Json<RegisterResponse>, ApiError> {
    let ip = seen_ip(&info);
    let (signer, liveness) = (state.signer.clone(), state.liveness.clone());
    let instance = req.instance_id.clone();
    let resp = state
        .db
        .call(move |c| registry::register(c, &signer, &req, &ip, &liveness))
        .await
        .map_err(WebError::from)?;
    state.liveness.heard_from(&instance);
    tracing::info!(group = %resp.group_id, "connector registered");
    Ok(Json(resp))
}

#[derive(Deserialize)]
struct ConfigQuery {
    /// The version the connector has; the answer waits for a newer one.
    #[serde(default)]
    version: Option<u64>,
    /// Seconds to wait for a change.
    #[serde(default)]
    wait: Option<u64>,
}

async fn config(
    State(state): State<CloudState>,
    MemberAuth(m): MemberAuth,
    Query(q): Query<ConfigQuery>,
) -> Result<Json<GroupConfig>, ApiError> {
    let mut changes = state.config_changed.subscribe();
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(q.wait.unwrap_or(0)).min(MAX_WAIT);
    loop {
        let group = m.group_id.clone();
        let cfg = state
            .db
            .call(move |c| group_config::config(c, &group))
            .await
            .map_err(WebError::from)?;
        if q.version != Some(cfg.version) {
            return Ok(Json(cfg));
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => continue,
            _ => return Ok(Json(cfg)),
        }
    }
}

/// Applies one change of `m`'s group configuration, then answers with the
/// whole configuration and wakes every member's long poll.
async fn change_config(
    state: &CloudState,
    m: Member,
    change: impl FnOnce(&mut rusqlite::Connection, &Member) -> Result<bool, super::CloudError>
    + Send
    + 'static,
) -> Result<Json<GroupConfig>, ApiError> {
    let cfg = state
        .db
        .call(move |conn| {
            change(conn, &m)?;
            Ok::<_, super::CloudError>(group_config::config(conn, &m.group_id)?)
        })
        .await
        .map_err(WebError::from)?;
    state.config_changed.send_modify(|v| *v += 1);
    Ok(Json(cfg))
}

async fn add_controller(
    State(state): State<CloudState>,
    MemberAuth(m): MemberAuth,
    Json(c): Json<ControllerConfig>,
) -> Result<Json<GroupConfig>, ApiError> {
    change_config(&state, m, move |conn, m| group_config::add(conn, m, &c)).await
}

async fn remove_controller(
    State(state): State<CloudState>,
    MemberAuth(m): MemberAuth,
    Path((host, port)): Path<(String, u16)>,
) -> Result<Json<GroupConfig>, ApiError> {
    change_config(&state, m, move |conn, m| {
        group_config::remove(conn, &m.group_id, &host, port)
    })
    .await
}

async fn add_access_point(
    State(state): State<CloudState>,
    MemberAuth(m): MemberAuth,
    Json(ap): Json<AccessPointConfig>,
) -> Result<Json<GroupConfig>, ApiError> {
    change_config(&state, m, move |conn, m| {
        group_config::add_access_point(conn, m, &ap)
    })
    .await
}

async fn remove_access_point(
    State(state): State<CloudState>,
    MemberAuth(m): MemberAuth,
    Path(hash): Path<String>,
) -> Result<Json<GroupConfig>, ApiError> {
    change_config(&state, m, move |conn, m| {
        group_config::remove_access_point(conn, &m.group_id, &hash)
    })
    .await
}

async fn events(
    State(state): State<CloudState>,
    MemberAuth(m): MemberAuth,
    headers: http::HeaderMap,
    body: Bytes,
) -> Result<Json<BatchAck>, ApiError> {
    // The compact layout, or an older member's JSON: both are decoded and
    // every key computed here, off the request threads (a SHA-256 an event).
    let compact = headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes() == event_batch::CONTENT_TYPE.as_bytes());
    let zstd = headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|e| e.as_bytes() == b"zstd");
    let batch = tokio::task::spawn_blocking(move || {
        event_batch::read_request(compact, zstd, body, MAX_BATCH)
    })
    .await
    .map_err(|e| WebError::Internal(e.to_string()))?
    .map_err(|e| WebError::BadRequest(format!("not an event batch: {e}")))?;
    if let Some(sink) = &state.sink {
        return Ok(Json(sink.take(&batch)));
    }
    let window_ms = state.dedup_window_secs.saturating_mul(1000);
    let ack = state
        .db
        .call(move |c| {
            // A member too old to hash client identities for a tenant
            // that asked for it: nothing of its stream is stored. It
            // keeps its spool, and delivers once upgraded. (The version
            // came with its authentication: no query per batch.)
            let protocol = m.protocol_version;
            if privacy::refuses(c, &m.group_id, protocol)? {
                return Err(CloudError::Conflict(format!(
                    "this tenant hashes client MAC, IP and user names before they leave the site, and this connector (protocol {protocol}) cannot: upgrade it; its events are refused so that none reaches the cloud in the clear"
                )));
            }
            Ok(ingest::ingest(c, &m, &batch, window_ms)?)
        })
        .await
        .map_err(WebError::from)?;
    if ack.new > 0 {
        state.ingested.send_modify(|v| *v += 1);
    }
    Ok(Json(ack))
}

/// The `--sink` mode's counts, for a benchmark holding a firehose key.
async fn sink_report(
    State(state): State<CloudState>,
    parts: Parts,
) -> Result<Json<super::sink::SinkReport>, ApiError> {
    firehose_tenant(&state, &parts).await?;
    let sink = state.sink.as_ref().ok_or(WebError::NotFound)?;
    Ok(Json(sink.report()))
}

async fn heartbeat(
    State(state): State<CloudState>,
    MemberAuth(m): MemberAuth,
    info: ConnectInfo<SocketAddr>,
    Json(hb): Json<Heartbeat>,
) -> Result<Json<HeartbeatAck>, ApiError> {
    let ip = seen_ip(&info);
    let liveness = state.liveness.clone();
    liveness.heard_from(&m.instance_id);
    let ack = state
        .db
        .call(move |c| {
            registry::heartbeat(c, &m, &hb, &ip)?;
            let peers = registry::peers(c, &m.group_id, Some(&m.instance_id), &liveness)?;
            let version = group_config::config(c, &m.group_id)?.version;
            let group_compatible = peers
                .iter()
                .filter(|p| p.state != "down")
                .all(|p| p.protocol_version == PROTOCOL_VERSION);
            Ok::<_, crate::db::DbError>(HeartbeatAck {
                peers,
                config_version: version,
                group_compatible,
            })
        })
        .await
        .map_err(WebError::from)?;
    Ok(Json(ack))
}

#[derive(Deserialize)]
struct FirehoseQuery {
    /// Resume after this offset (0 = from the start of the window).
    #[serde(default)]
    after: i64,
    /// Keep the stream open for new events (default true).
    #[serde(default = "yes")]
    follow: bool,
}

fn yes() -> bool {
    true
}

/// NDJSON stream of a tenant's unique events, each exactly once, in offset
/// order; resumable with `?after=`.
/// The tenant whose firehose key the request carries.
async fn firehose_tenant(state: &CloudState, parts: &Parts) -> Result<String, ApiError> {
    let key = bearer(parts).ok_or(WebError::LoginRequired)?;
    Ok(state
        .db
        .call(move |c| registry::tenant_by_firehose_key(c, &key))
        .await
        .map_err(WebError::from)?
        .ok_or_else(|| WebError::Refused("unknown firehose key".into()))?)
}

/// Events no member delivered, per group and source, for the tenant of
/// the firehose key: what a consumer of the firehose will never see.
async fn gaps(State(state): State<CloudState>, parts: Parts) -> Result<Response, ApiError> {
    let tenant = firehose_tenant(&state, &parts).await?;
    let now = crate::clock::steady_now_ms() as i64;
    let out = state
        .db
        .call(move |c| {
            let mut out = Vec::new();
            for g in registry::groups_of(c, &tenant)? {
                let sources = super::gaps::report(c, &g.id, now)?;
                out.push(
                    serde_json::json!({ "group_id": g.id, "group": g.name, "sources": sources }),
                );
            }
            Ok::<_, crate::db::DbError>(out)
        })
        .await
        .map_err(WebError::from)?;
    Ok(Json(serde_json::json!({ "groups": out })).into_response())
}

async fn firehose(
    State(state): State<CloudState>,
    parts: Parts,
    Query(q): Query<FirehoseQuery>,
) -> Result<Response, ApiError> {
    let tenant = firehose_tenant(&state, &parts).await?;
    let rx = state.ingested.subscribe();
    let init = (state.db.clone(), tenant, q.after, q.follow, rx, false);
    let stream = futures_util::stream::unfold(
        init,
        |(db, tenant, after, follow, mut rx, done)| async move {
            if done {
                return None;
            }
            loop {
                let t = tenant.clone();
                let page = match db
                    .call(move |c| ingest::firehose_page(c, &t, after, 1000))
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        return Some((
                            Err(std::io::Error::other(e.to_string())),
                            (db, tenant, after, follow, rx, true),
                        ));
                    }
                };
                if let Some(last) = page.last() {
                    let next = last.offset();
                    let mut chunk = Vec::with_capacity(page.len() * 256);
                    for e in &page {
                        if serde_json::to_writer(&mut chunk, e).is_ok() {
                            chunk.push(b'\n');
                        }
                    }
                    return Some((
                        Ok(Bytes::from(chunk)),
                        (db, tenant, next, follow, rx, false),
                    ));
                }
                if !follow {
                    return None;
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
            }
        },
    );
    Ok((
        [(http::header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
