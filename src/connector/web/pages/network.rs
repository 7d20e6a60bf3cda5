//! The Network page: the appliance's address, DNS, host name and NTP
//! servers, changed with commit-confirm (see `network::confirm`). Outside
//! the appliance image it shows the host's network read-only, and why.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use http::{HeaderMap, StatusCode};

use crate::connector::network::{self, HostNetwork, NetworkInput, NetworkView};
use crate::connector::web::AppState;
use crate::fields::FieldErrors;
use crate::portal::error::WebError;
use crate::portal::guard::CurrentSession;
use crate::portal::layout::{CsrfForm, CsrfFormWith, Layout, NoticeQuery, render};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/network", get(show).post(save))
        .route("/network/confirm", post(confirm))
}

#[derive(Template)]
#[template(path = "network.html")]
struct NetworkPage {
    layout: Layout,
    view: NetworkView,
    host: HostNetwork,
    input: NetworkInput,
    errors: FieldErrors,
    /// Why a confirmation was refused.
    refusal: Option<String>,
}

async fn page(state: &AppState, csrf: String) -> Result<NetworkPage, WebError> {
    let view = state.network_view().await?;
    Ok(NetworkPage {
        layout: Layout::new(state, "Network", "network", csrf),
        input: view.settings.clone(),
        view,
        host: network::host_network(),
        errors: FieldErrors::default(),
        refusal: None,
    })
}

async fn show(
    State(state): State<AppState>,
    session: CurrentSession,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let mut p = page(&state, session.0.csrf_token).await?;
    p.layout = p.layout.with_notice(&q);
    Ok(render(&p)?.into_response())
}

async fn save(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<CsrfFormWith<NetworkInput>>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    match state.change_network(form.input.clone()).await {
        Ok(_) => {
            let done = Redirect::to("/network?notice=network-applied").into_response();
            Ok(crate::connector::changes::network_changed(&form.input).on(done))
        }
        Err(WebError::Invalid { fields, .. }) => {
            let mut p = page(&state, session.0.csrf_token).await?;
            p.input = form.input;
            p.errors = fields;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn confirm(
    State(state): State<AppState>,
    session: CurrentSession,
    headers: HeaderMap,
    uri: http::Uri,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    match state.confirm_network(&headers, &uri).await {
        Ok(()) => {
            let done = Redirect::to("/network?notice=network-confirmed").into_response();
            Ok(crate::connector::changes::network_confirmed().on(done))
        }
        Err(WebError::Conflict(why)) => {
            let mut p = page(&state, session.0.csrf_token).await?;
            p.refusal = Some(why);
            Ok((StatusCode::CONFLICT, render(&p)?).into_response())
        }
        Err(e) => Err(e),
    }
}
