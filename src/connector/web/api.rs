//! The JSON API under `/api/v1`: everything the pages do, for scripts.
//! Authenticated by a bearer API token or the browser session (with
//! `X-CSRF-Token` on state-changing calls); errors have one JSON shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::connector::access_points::{self, AccessPoint};
use crate::connector::appliance::IdentityView;
use crate::connector::changes;
use crate::connector::cloud_link::config_sync;
use crate::connector::controllers::{self, Controller, ControllerInput};
use crate::connector::nmsp_identity::RekeyInput;
use crate::connector::stored_token;
use crate::contract::access_point::AccessPointInput;
use crate::portal::audit::Audited;
use crate::portal::error::{ApiError, WebError};
use crate::portal::guard::ApiCaller;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/status", get(status))
        .route("/identity", get(identity))
        .route("/identity/rekey", post(rekey))
        .route("/controllers", get(list_controllers).post(add_controller))
        .route("/controllers/{id}", delete(remove_controller))
        // A wired connector's devices are switches: the same list, named
        // for them.
        .route("/switches", get(list_controllers).post(add_controller))
        .route("/switches/{id}", delete(remove_controller))
        .route("/controllers/{id}/accept-cert", post(accept_cert))
        .route("/controllers/{id}/check", post(check_controller))
        .route(
            "/access-points",
            get(list_access_points).post(add_access_point),
        )
        .route("/access-points/{hash}", delete(remove_access_point))
        .route("/stats", get(stats))
        .route("/token", get(get_token).put(set_token).delete(clear_token))
        .nest("/settings", super::api_settings::routes())
        .merge(super::api_operate::routes())
        .fallback(|| async { ApiError(WebError::NotFound) })
}

pub(super) type ApiResult<T> = Result<Json<T>, ApiError>;
/// A change's answer: what it did, and how the audit trail names it.
pub(super) type Changed<T> = Result<(Extension<Audited>, Json<T>), ApiError>;

/// `Json` whose rejections use the API's error shape.
pub(super) struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(ApiError(json_rejection(rejection))),
        }
    }
}

fn json_rejection(r: JsonRejection) -> WebError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        WebError::TooLarge
    } else {
        WebError::BadRequest(r.body_text())
    }
}

async fn status(State(state): State<AppState>, _: ApiCaller) -> ApiResult<Value> {
    let status = state.appliance.status().await.map_err(WebError::from)?;
    let link = state.cloud.view().await.map_err(WebError::from)?;
    let mut v = serde_json::to_value(status).unwrap_or_default();
    v["cloud_link"] = serde_json::to_value(link).unwrap_or_default();
    v["clock"] = serde_json::to_value(state.clock.now().await).unwrap_or_default();
    Ok(Json(v))
}

async fn identity(State(state): State<AppState>, _: ApiCaller) -> ApiResult<IdentityView> {
    Ok(Json(state.appliance.identity_view()))
}

/// `{"key_type": "rsa-2048" | "ecdsa-p256", "confirm": true}`: a new NMSP
/// key; every controller must then authorise it.
async fn rekey(
    State(state): State<AppState>,
    _: ApiCaller,
    ApiJson(input): ApiJson<RekeyInput>,
) -> Changed<IdentityView> {
    state.rekey(input).await?;
    let view = state.appliance.identity_view();
    let change = changes::rekeyed(view.key_type.as_str(), &view.key_hash);
    Ok((Extension(change), Json(view)))
}

async fn list_controllers(
    State(state): State<AppState>,
    _: ApiCaller,
) -> ApiResult<Vec<Controller>> {
    Ok(Json(
        state
            .appliance
            .db
            .call(|c| controllers::list(c))
            .await
            .map_err(WebError::from)?,
    ))
}

async fn add_controller(
    State(state): State<AppState>,
    _: ApiCaller,
    ApiJson(input): ApiJson<ControllerInput>,
) -> Result<(StatusCode, Extension<Audited>, Json<Controller>), ApiError> {
    let added = state
        .appliance
        .db
        .call(move |c| config_sync::add_controller(c, &input))
        .await
        .map_err(WebError::from)?;
    state.controllers_changed();
    let change = changes::controller_added(&added);
    Ok((StatusCode::CREATED, Extension(change), Json(added)))
}

async fn remove_controller(
    State(state): State<AppState>,
    _: ApiCaller,
    Path(id): Path<i64>,
) -> Changed<Controller> {
    let removed = state
        .appliance
        .db
        .call(move |c| config_sync::remove_controller(c, id))
        .await
        .map_err(WebError::from)?;
    state.controllers_changed();
    Ok((
        Extension(changes::controller_removed(&removed)),
        Json(removed),
    ))
}

/// The allow-list, and what the AP port refused.
async fn list_access_points(State(state): State<AppState>, _: ApiCaller) -> ApiResult<Value> {
    let allowed = state
        .appliance
        .db
        .call(|c| access_points::list(c))
        .await
        .map_err(WebError::from)?;
    let a = &state.ap_channel.admission;
    use std::sync::atomic::Ordering::Relaxed;
    Ok(Json(json!({
        "allowed": allowed,
        "refused": a.refused_sources(),
        "refused_total": a.refused_total.load(Relaxed),
        "dropped_total": a.dropped_total.load(Relaxed),
    })))
}

async fn add_access_point(
    State(state): State<AppState>,
    _: ApiCaller,
    ApiJson(input): ApiJson<AccessPointInput>,
) -> Result<(StatusCode, Extension<Audited>, Json<AccessPoint>), ApiError> {
    let added = state
        .appliance
        .db
        .call(move |c| config_sync::add_access_point(c, &input))
        .await
        .map_err(WebError::from)?;
    state.access_points_changed();
    let change = changes::access_point_added(&added);
    Ok((StatusCode::CREATED, Extension(change), Json(added)))
}

async fn remove_access_point(
    State(state): State<AppState>,
    _: ApiCaller,
    Path(hash): Path<String>,
) -> Changed<AccessPoint> {
    let removed = state
        .appliance
        .db
        .call(move |c| config_sync::remove_access_point(c, &hash))
        .await
        .map_err(WebError::from)?;
    state.access_points_changed();
    Ok((
        Extension(changes::access_point_removed(&removed)),
        Json(removed),
    ))
}

async fn accept_cert(
    State(state): State<AppState>,
    _: ApiCaller,
    Path(id): Path<i64>,
) -> Changed<Controller> {
    let c = state
        .appliance
        .db
        .call(move |c| controllers::accept_pending_pin(c, id))
        .await
        .map_err(WebError::from)?;
    state.supervisor.restart(id);
    Ok((Extension(changes::controller_key_accepted(&c)), Json(c)))
}

/// The pre-flight check: each step with its result and, for a failure,
/// the fix.
async fn check_controller(
    State(state): State<AppState>,
    _: ApiCaller,
    Path(id): Path<i64>,
) -> ApiResult<crate::connector::preflight::Check> {
    match state.check_controller(id).await.map_err(WebError::from)? {
        Some((_, check)) => Ok(Json(check)),
        None => Err(WebError::NotFound.into()),
    }
}

/// `?offset=&limit=` over each channel's links: a site with thousands of
/// APs answers in pages; the totals always cover the whole channel.
#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_page")]
    limit: usize,
}

fn default_page() -> usize {
    MAX_PAGE
}

const MAX_PAGE: usize = 1000;

async fn stats(
    State(state): State<AppState>,
    _: ApiCaller,
    axum::extract::Query(page): axum::extract::Query<Page>,
) -> ApiResult<Value> {
    let mut controllers = state.controller_channel().await;
    let mut aps = state.ap_channel.snapshot();
    let limit = page.limit.clamp(1, MAX_PAGE);
    for ch in [&mut controllers, &mut aps] {
        ch.links = std::mem::take(&mut ch.links)
            .into_iter()
            .skip(page.offset)
            .take(limit)
            .collect();
    }
    Ok(Json(json!({
        "controller_channel": controllers,
        "ap_channel": aps,
        "page": { "offset": page.offset, "limit": limit },
    })))
}

/// Prometheus text; authenticated like the API (a bearer token for
/// scrapers).
pub async fn metrics(State(state): State<AppState>, _: ApiCaller) -> Result<Response, ApiError> {
    let channel = state.controller_channel().await;
    let link = state.cloud.view().await.map_err(WebError::from)?;
    let admission = &state.ap_channel.admission;
    use std::sync::atomic::Ordering::Relaxed;
    let faults = crate::connector::metrics::Faults {
        events_lost: vec![
            ("spool_cap", link.spool.dropped_events.max(0) as u64),
            ("disk_full", link.lost_disk_full),
            ("storage_error", link.lost_storage_error),
            ("too_old", link.refused_too_old),
            ("failed_cloud_checks", link.refused_failed_checks),
        ],
        spooled: link.spool.events.max(0) as u64,
        ap_refused: admission.refused_total.load(Relaxed),
        ap_dropped: admission.dropped_total.load(Relaxed)
            + state.ap_channel.connections.refused.load(Relaxed),
        ui_refused: state.ui_connections.refused.load(Relaxed),
        state_file_faults: crate::db::faults::snapshot().count,
    };
    Ok((
        [(
            http::header::CONTENT_TYPE,
            crate::connector::metrics::CONTENT_TYPE,
        )],
        crate::connector::metrics::render(
            &[
                ("controller", &channel),
                ("ap", &state.ap_channel.snapshot()),
            ],
            &faults,
        ),
    )
        .into_response())
}

async fn get_token(State(state): State<AppState>, _: ApiCaller) -> ApiResult<Value> {
    let t = state
        .appliance
        .db
        .call(|c| stored_token::get(c))
        .await
        .map_err(WebError::from)?;
    Ok(Json(json!({ "token": t })))
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

async fn set_token(
    State(state): State<AppState>,
    _: ApiCaller,
    ApiJson(body): ApiJson<TokenBody>,
) -> Changed<Value> {
    use crate::connector::cloud_link::enroll::Enrolled;
    let (stored, pending) = match state
        .cloud
        .enroll(&body.token)
        .await
        .map_err(WebError::from)?
    {
        Enrolled::Registered(t) => (t, None),
        Enrolled::Pending(t, why) => (t, Some(why)),
    };
    Ok((
        Extension(changes::token_set(&stored)),
        Json(json!({ "token": stored, "registered": pending.is_none(), "cloud_error": pending })),
    ))
}

async fn clear_token(State(state): State<AppState>, _: ApiCaller) -> Changed<Value> {
    let removed = state.cloud.remove_token().await.map_err(WebError::from)?;
    Ok((
        Extension(changes::token_cleared()),
        Json(json!({ "removed": removed })),
    ))
}
