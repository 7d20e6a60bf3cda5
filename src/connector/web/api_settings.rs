//! The JSON API's appliance settings under `/api/v1/settings`: the cloud
//! proxy and the admin UI's certificate. Same checks as the System page
//! and the console.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;

use super::AppState;
use super::api::{ApiJson, ApiResult, Changed};
use crate::connector::changes;
use crate::connector::network::{NetworkInput, NetworkView};
use crate::connector::proxy::{self, ProxyInput, ProxyView};
use crate::connector::web_cert::{CertInfo, CertUpload, CsrInput};
use crate::portal::error::WebError;
use crate::portal::guard::ApiCaller;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/proxy", get(get_proxy).put(set_proxy))
        .route("/web-certificate", get(get_cert).put(install_cert))
        .route("/web-certificate/request", post(request_cert))
        .route("/web-certificate/self-signed", post(self_signed))
        .route("/network", get(get_network).put(set_network))
        .route("/network/confirm", post(confirm_network))
}

async fn get_network(State(state): State<AppState>, _: ApiCaller) -> ApiResult<NetworkView> {
    Ok(Json(state.network_view().await.map_err(WebError::from)?))
}

/// The Network page's fields; in force at once, to be confirmed from the
/// new address (`POST /network/confirm` there) within the window.
async fn set_network(
    State(state): State<AppState>,
    _: ApiCaller,
    ApiJson(input): ApiJson<NetworkInput>,
) -> Changed<NetworkView> {
    let change = changes::network_changed(&input);
    state.change_network(input).await?;
    let view = state.network_view().await.map_err(WebError::from)?;
    Ok((Extension(change), Json(view)))
}

async fn confirm_network(
    State(state): State<AppState>,
    _: ApiCaller,
    headers: http::HeaderMap,
    uri: http::Uri,
) -> Changed<NetworkView> {
    state.confirm_network(&headers, &uri).await?;
    let view = state.network_view().await.map_err(WebError::from)?;
    Ok((Extension(changes::network_confirmed()), Json(view)))
}

#[derive(Serialize)]
struct CertView {
    certificate: CertInfo,
    /// The signing request waiting for its certificate, if any.
    pending_request: Option<String>,
}

async fn cert_view(state: &AppState) -> ApiResult<CertView> {
    let cell = state.appliance.web_cert.clone();
    let pending = tokio::task::spawn_blocking(move || cell.pending_request())
        .await
        .map_err(WebError::internal)?
        .map_err(WebError::from)?;
    Ok(Json(CertView {
        certificate: state.appliance.web_cert.info(),
        pending_request: pending,
    }))
}

async fn get_cert(State(state): State<AppState>, _: ApiCaller) -> ApiResult<CertView> {
    cert_view(&state).await
}

/// `{"common_name", "names"}`: a new key (kept here) and its signing
/// request, answered as `{"csr_pem"}`.
async fn request_cert(
    State(state): State<AppState>,
    _: ApiCaller,
    ApiJson(input): ApiJson<CsrInput>,
) -> Changed<serde_json::Value> {
    let change = changes::certificate_requested(&input.common_name);
    let csr = state.web_cert(move |c| c.request(&input)).await?;
    Ok((
        Extension(change),
        Json(serde_json::json!({ "csr_pem": csr })),
    ))
}

/// `{"chain_pem", "key_pem"?}`: checked, then presented from the next
/// connection on.
async fn install_cert(
    State(state): State<AppState>,
    _: ApiCaller,
    ApiJson(upload): ApiJson<CertUpload>,
) -> Changed<CertView> {
    state.web_cert(move |c| c.install(&upload)).await?;
    let view = cert_view(&state).await?;
    let change = changes::certificate_installed(&view.certificate.subject);
    Ok((Extension(change), view))
}

async fn self_signed(State(state): State<AppState>, _: ApiCaller) -> Changed<CertView> {
    let host = state.appliance.hostname.clone();
    state.web_cert(move |c| c.reset_self_signed(&host)).await?;
    Ok((
        Extension(changes::certificate_self_signed()),
        cert_view(&state).await?,
    ))
}

async fn get_proxy(State(state): State<AppState>, _: ApiCaller) -> ApiResult<ProxyView> {
    let stored = state
        .appliance
        .db
        .call(|c| proxy::get(c))
        .await
        .map_err(WebError::from)?;
    Ok(Json(stored.view()))
}

/// `{"url", "username", "password", "no_proxy"}`; an empty password keeps
/// the stored one, an empty URL goes direct.
async fn set_proxy(
    State(state): State<AppState>,
    _: ApiCaller,
    ApiJson(input): ApiJson<ProxyInput>,
) -> Changed<ProxyView> {
    let view = state.set_proxy(input).await?;
    Ok((Extension(changes::proxy_set(&view.url)), Json(view)))
}
