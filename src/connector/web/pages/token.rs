//! The token page: paste the token created in the cloud, see what it holds,
//! replace or remove it.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use http::StatusCode;
use serde::Deserialize;

use crate::connector::cloud_link::enroll::{EnrollError, Enrolled};
use crate::connector::stored_token::{self, StoredToken};
use crate::connector::web::AppState;
use crate::portal::error::WebError;
use crate::portal::guard::CurrentSession;
use crate::portal::layout::{CsrfForm, Layout, NoticeQuery, render};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/token", get(show).post(save))
        .route("/token/remove", post(remove))
}

#[derive(Template)]
#[template(path = "token.html")]
struct TokenPage {
    layout: Layout,
    stored: Option<StoredToken>,
    input: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

async fn stored(state: &AppState) -> Result<Option<StoredToken>, WebError> {
    Ok(state.appliance.db.call(|c| stored_token::get(c)).await?)
}

async fn show(
    State(state): State<AppState>,
    session: CurrentSession,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let page = TokenPage {
        layout: Layout::new(&state, "Token", "token", session.0.csrf_token).with_notice(&q),
        stored: stored(&state).await?,
        input: String::new(),
        error: None,
    };
    Ok(render(&page)?.into_response())
}

async fn save(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<TokenForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    match state.cloud.enroll(&form.token).await {
        Ok(Enrolled::Registered(t)) => {
            tracing::info!(tenant = %t.tenant_id, "connector token stored and registered");
            let done = Redirect::to("/token?notice=token-saved").into_response();
            Ok(crate::connector::changes::token_set(&t).on(done))
        }
        Ok(Enrolled::Pending(t, why)) => {
            tracing::warn!(tenant = %t.tenant_id, %why, "token stored; cloud not reachable yet");
            let done = Redirect::to("/token?notice=token-pending").into_response();
            Ok(crate::connector::changes::token_set(&t).on(done))
        }
        Err(EnrollError::Db(e)) => Err(e.into()),
        Err(e) => {
            let page = TokenPage {
                layout: Layout::new(&state, "Token", "token", session.0.csrf_token),
                stored: stored(&state).await?,
                input: form.token,
                error: Some(e.to_string()),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

async fn remove(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    state.cloud.remove_token().await?;
    let done = Redirect::to("/token?notice=token-removed").into_response();
    Ok(crate::connector::changes::token_cleared().on(done))
}
