//! The JSON API's operations under `/api/v1`: the audit trail, the log,
//! the support bundle, backups and restores, and upgrades. Same answers
//! as the System and Logs pages.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use super::api::{ApiJson, ApiResult, Changed};
use crate::portal::audit::Audited;
use crate::portal::error::{ApiError, WebError};
use crate::portal::guard::ApiCaller;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit", get(audit_trail))
        .route("/logs", get(logs))
        .route("/support-bundle", get(support_bundle))
        .route("/backup", post(backup))
        .route(
            "/upgrade",
            get(upgrade_view)
                .post(upgrade)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::connector::upgrade::bundle::MAX_BUNDLE,
                )),
        )
        .route(
            "/restore",
            post(restore).layer(axum::extract::DefaultBodyLimit::max(
                crate::connector::backup::MAX_FILE * 4 / 3 + 4096,
            )),
        )
        .route("/logs/download", get(logs_download))
}

/// The service's recent log: `?level=warn&component=connector::cloud_link
/// &after=SEQ&limit=N`, oldest first, with where it came from (the
/// journal or memory) and what is kept; the Logs page polls it.
async fn logs(_: ApiCaller, Query(q): Query<crate::service_log::LogQuery>) -> ApiResult<Value> {
    let read = crate::connector::service_journal::read(&q).await;
    Ok(Json(serde_json::to_value(read).unwrap_or_default()))
}

async fn upgrade_view(
    State(state): State<AppState>,
    _: ApiCaller,
) -> ApiResult<crate::connector::upgrade::UpgradeView> {
    Ok(Json(state.upgrade_view().await))
}

#[derive(Deserialize)]
struct UpgradeQuery {
    /// Go on while the other member of the pair is down.
    #[serde(default)]
    peer_down_ok: bool,
}

/// The bundle as the request body (`application/octet-stream`).
async fn upgrade(
    State(state): State<AppState>,
    _: ApiCaller,
    Query(q): Query<UpgradeQuery>,
    body: axum::body::Bytes,
) -> Changed<crate::connector::upgrade::UpgradeRequest> {
    let r = state.submit_upgrade(body.to_vec(), q.peer_down_ok).await?;
    let change = Audited::new("upgrade.start", format!("{} to {}", r.from, r.to));
    Ok((Extension(change), Json(r)))
}

#[derive(Deserialize)]
struct BackupBody {
    passphrase: String,
    #[serde(default)]
    with_identity: bool,
}

/// The backup file (`application/octet-stream`), sealed with the
/// passphrase.
async fn backup(
    State(state): State<AppState>,
    _: ApiCaller,
    ApiJson(body): ApiJson<BackupBody>,
) -> Result<Response, ApiError> {
    Ok(state
        .backup_download(body.passphrase, body.with_identity)
        .await?)
}

#[derive(Deserialize)]
struct RestoreBody {
    /// The backup file, base64.
    backup: String,
    passphrase: String,
    /// `this_appliance` or `new_appliance`.
    restore_as: String,
}

/// Restores and restarts the service (it answers first).
async fn restore(
    State(state): State<AppState>,
    _: ApiCaller,
    ApiJson(body): ApiJson<RestoreBody>,
) -> Changed<crate::connector::backup::Restored> {
    use base64::Engine;
    let Ok(file) = base64::engine::general_purpose::STANDARD.decode(body.backup.trim()) else {
        let mut fields = crate::fields::FieldErrors::default();
        fields.add("backup", "not base64");
        return Err(WebError::Invalid {
            message: "nothing was restored: check the fields".into(),
            fields,
        }
        .into());
    };
    let input = crate::connector::backup::RestoreInput {
        file,
        passphrase: body.passphrase,
        restore_as: body.restore_as,
    };
    let restored = state.restore(input).await?;
    Ok((
        Extension(Audited::new("restore", restored.summary())),
        Json(restored),
    ))
}

async fn support_bundle(State(state): State<AppState>, _: ApiCaller) -> Result<Response, ApiError> {
    Ok(state.support_bundle().await?)
}

async fn logs_download(_: ApiCaller, Query(q): Query<crate::service_log::LogQuery>) -> Response {
    crate::connector::service_journal::download(&q).await
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default = "audit_all")]
    limit: i64,
}

fn audit_all() -> i64 {
    crate::portal::audit::KEEP
}

/// The audit trail, newest first.
async fn audit_trail(
    State(state): State<AppState>,
    _: ApiCaller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Vec<crate::portal::audit::AuditEntry>> {
    let limit = q.limit;
    Ok(Json(
        state
            .appliance
            .db
            .call(move |c| crate::portal::audit::recent(c, limit))
            .await
            .map_err(WebError::from)?,
    ))
}
