//! The access points page: the AP Channel's allow-list (add, remove, who
//! added each), and the sources refused on the AP port with the key hash
//! they presented, so an admin can allow a real AP in one step.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use http::StatusCode;

use crate::connector::access_points::{self, AccessPoint, AccessPointError};
use crate::connector::ap_admission::RefusedSource;
use crate::connector::cloud_link::config_sync;
use crate::connector::web::AppState;
use crate::contract::access_point::AccessPointInput;
use crate::fields::FieldErrors;
use crate::portal::error::WebError;
use crate::portal::guard::CurrentSession;
use crate::portal::layout::{CsrfForm, CsrfFormWith, Layout, NoticeQuery, render};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/access-points", get(list).post(add))
        .route("/access-points/{hash}/remove", post(remove))
}

#[derive(Template)]
#[template(path = "access_points.html")]
struct AccessPointsPage {
    layout: Layout,
    allowed: Vec<AccessPoint>,
    refused: Vec<RefusedSource>,
    refused_total: u64,
    dropped_total: u64,
    input: AccessPointInput,
    errors: FieldErrors,
}

async fn page(state: &AppState, csrf: String) -> Result<AccessPointsPage, WebError> {
    let allowed = state.appliance.db.call(|c| access_points::list(c)).await?;
    let admission = &state.ap_channel.admission;
    Ok(AccessPointsPage {
        layout: Layout::new(state, "Access points", "access-points", csrf),
        allowed,
        refused: admission.refused_sources(),
        refused_total: admission
            .refused_total
            .load(std::sync::atomic::Ordering::Relaxed),
        dropped_total: admission
            .dropped_total
            .load(std::sync::atomic::Ordering::Relaxed),
        input: AccessPointInput::default(),
        errors: FieldErrors::default(),
    })
}

async fn list(
    State(state): State<AppState>,
    session: CurrentSession,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let mut p = page(&state, session.0.csrf_token).await?;
    p.layout = p.layout.with_notice(&q);
    Ok(render(&p)?.into_response())
}

async fn add(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<CsrfFormWith<AccessPointInput>>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let input = form.input.clone();
    let result = state
        .appliance
        .db
        .call(move |c| config_sync::add_access_point(c, &input))
        .await;
    match result {
        Ok(ap) => {
            tracing::info!(ap = %ap.name, key_hash = %ap.key_hash, "access point allowed");
            state.access_points_changed();
            let done = Redirect::to("/access-points?notice=ap-added").into_response();
            Ok(crate::connector::changes::access_point_added(&ap).on(done))
        }
        Err(AccessPointError::Invalid(errors)) => {
            let mut p = page(&state, session.0.csrf_token).await?;
            p.input = form.input;
            p.errors = errors;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn remove(
    State(state): State<AppState>,
    session: CurrentSession,
    Path(hash): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let removed = state
        .appliance
        .db
        .call(move |c| config_sync::remove_access_point(c, &hash))
        .await?;
    tracing::info!(ap = %removed.name, "access point removed from the allow-list");
    state.access_points_changed();
    let done = Redirect::to("/access-points?notice=ap-removed").into_response();
    Ok(crate::connector::changes::access_point_removed(&removed).on(done))
}
