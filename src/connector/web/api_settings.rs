//! The JSON API's appliance settings under `/api/v1/settings`: the cloud
//! proxy. Same checks as the System page and the console.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use super::api::{ApiJson, ApiResult};
use crate::connector::proxy::{self, ProxyInput, ProxyView};
use crate::portal::error::WebError;
use crate::portal::guard::ApiCaller;

pub fn routes() -> Router<AppState> {
    Router::new().route("/proxy", get(get_proxy).put(set_proxy))
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
) -> ApiResult<ProxyView> {
    Ok(Json(state.set_proxy(input).await?))
}
