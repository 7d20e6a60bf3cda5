//! The controllers page: add form, list, delete with confirmation, and the
//! NMSP identity a controller must authorise.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use http::StatusCode;
use serde::Deserialize;

use crate::connector::appliance::IdentityView;
use crate::connector::cloud_link::config_sync;
use crate::connector::controllers::{
    self, Controller, ControllerError, ControllerInput, ControllerKind, FieldErrors,
};
use crate::connector::nmsp_identity::RekeyInput;
use crate::connector::stats::LinkSnapshot;
use crate::connector::web::AppState;
use crate::contract::controller::DeviceWords;
use crate::contract::token::NetworkKind;
use crate::portal::error::WebError;
use crate::portal::guard::CurrentSession;
use crate::portal::layout::{CsrfForm, CsrfFormWith, Layout, NoticeQuery, render};
use crate::tls::identity::KeyKind;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/controllers", get(list).post(add))
        .route("/controllers/{id}/delete", get(confirm_delete).post(delete))
        .route(
            "/controllers/{id}/accept-cert",
            axum::routing::post(accept_cert),
        )
        .route("/controllers/{id}/check", axum::routing::post(check))
        .route("/identity/rekey", axum::routing::post(rekey))
}

#[derive(Template)]
#[template(path = "controllers.html")]
struct ControllersPage {
    layout: Layout,
    controllers: Vec<Controller>,
    /// Live status per controller id.
    status: std::collections::HashMap<i64, LinkSnapshot>,
    input: ControllerInput,
    errors: FieldErrors,
    /// The kinds this connector takes (a wired one: switches only).
    kinds: Vec<ControllerKind>,
    /// Controllers or switches.
    words: DeviceWords,
    identity: IdentityView,
    key_kinds: [KeyKind; 2],
    rekey: RekeyInput,
    rekey_errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "controller_delete.html")]
struct DeletePage {
    layout: Layout,
    controller: Controller,
}

fn page(state: &AppState, csrf: String, controllers: Vec<Controller>) -> ControllersPage {
    let a = &state.appliance;
    let names: Vec<(i64, String, String)> = controllers.iter().map(Controller::link_name).collect();
    let status = state
        .controller_stats
        .snapshot(&names)
        .links
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    let words = a.words();
    let network = if words == DeviceWords::SWITCHES {
        NetworkKind::Wired
    } else {
        NetworkKind::Wireless
    };
    ControllersPage {
        layout: Layout::new(state, words.title, "controllers", csrf),
        words,
        controllers,
        status,
        input: ControllerInput {
            port: controllers::DEFAULT_PORT.to_string(),
            ..Default::default()
        },
        errors: FieldErrors::default(),
        kinds: ControllerKind::of(network),
        identity: a.identity_view(),
        key_kinds: KeyKind::ALL,
        rekey: RekeyInput::default(),
        rekey_errors: FieldErrors::default(),
    }
}

async fn all(state: &AppState) -> Result<Vec<Controller>, WebError> {
    Ok(state.appliance.db.call(|c| controllers::list(c)).await?)
}

async fn list(
    State(state): State<AppState>,
    session: CurrentSession,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let mut p = page(&state, session.0.csrf_token, all(&state).await?);
    p.layout = p.layout.with_notice(&q);
    Ok(render(&p)?.into_response())
}

async fn add(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<CsrfFormWith<ControllerInput>>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let input = form.input.clone();
    let result = state
        .appliance
        .db
        .call(move |c| config_sync::add_controller(c, &input))
        .await;
    match result {
        Ok(c) => {
            tracing::info!(controller = %c.name, host = %c.host, port = c.port, "controller added");
            state.controllers_changed();
            let done = Redirect::to(&format!(
                "/controllers?notice={}-added",
                state.appliance.words().one
            ))
            .into_response();
            Ok(crate::connector::changes::controller_added(&c).on(done))
        }
        Err(ControllerError::Invalid(errors)) => {
            let mut p = page(&state, session.0.csrf_token, all(&state).await?);
            p.input = form.input;
            p.errors = errors;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn confirm_delete(
    State(state): State<AppState>,
    session: CurrentSession,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let controller = state
        .appliance
        .db
        .call(move |c| controllers::get(c, id))
        .await?
        .ok_or(WebError::NotFound)?;
    let p = DeletePage {
        layout: Layout::new(
            &state,
            "Delete controller",
            "controllers",
            session.0.csrf_token,
        ),
        controller,
    };
    Ok(render(&p)?.into_response())
}

async fn delete(
    State(state): State<AppState>,
    session: CurrentSession,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let removed = state
        .appliance
        .db
        .call(move |c| config_sync::remove_controller(c, id))
        .await?;
    tracing::info!(controller = %removed.name, "controller removed");
    state.controllers_changed();
    let done = Redirect::to(&format!(
        "/controllers?notice={}-removed",
        state.appliance.words().one
    ))
    .into_response();
    Ok(crate::connector::changes::controller_removed(&removed).on(done))
}

/// An admin trusts a controller's changed certificate.
async fn accept_cert(
    State(state): State<AppState>,
    session: CurrentSession,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let c = state
        .appliance
        .db
        .call(move |c| controllers::accept_pending_pin(c, id))
        .await?;
    tracing::info!(controller = %c.name, "new controller certificate accepted");
    state.supervisor.restart(id);
    let done = Redirect::to("/controllers?notice=cert-accepted").into_response();
    Ok(crate::connector::changes::controller_key_accepted(&c).on(done))
}

#[derive(Deserialize)]
struct RekeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key_type: String,
    /// A ticked checkbox sends `yes`; an unticked one sends nothing.
    #[serde(default)]
    confirm: Option<String>,
}

/// The admin asks for a new NMSP key.
async fn rekey(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<RekeyForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let input = RekeyInput {
        key_type: form.key_type,
        confirm: form.confirm.is_some(),
    };
    match state.rekey(input.clone()).await {
        Ok(()) => {
            let view = state.appliance.identity_view();
            let done = Redirect::to("/controllers?notice=rekeyed#identity").into_response();
            Ok(crate::connector::changes::rekeyed(view.key_type.as_str(), &view.key_hash).on(done))
        }
        Err(WebError::Invalid { fields, .. }) => {
            let mut p = page(&state, session.0.csrf_token, all(&state).await?);
            p.rekey = input;
            p.rekey_errors = fields;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "controller_check.html")]
struct CheckPage {
    layout: Layout,
    controller: Controller,
    check: crate::connector::preflight::Check,
}

/// The pre-flight check, run when the admin presses "Check".
async fn check(
    State(state): State<AppState>,
    session: CurrentSession,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let (controller, check) = state
        .check_controller(id)
        .await?
        .ok_or(WebError::NotFound)?;
    let p = CheckPage {
        layout: Layout::new(
            &state,
            "Check controller",
            "controllers",
            session.0.csrf_token,
        ),
        controller,
        check,
    };
    Ok(render(&p)?.into_response())
}
