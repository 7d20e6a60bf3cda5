//! The change-password page.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use http::StatusCode;
use serde::Deserialize;

use super::layout::{Layout, render};
use crate::portal::Portal;
use crate::portal::auth::{admin, password};
use crate::portal::error::WebError;
use crate::portal::guard::CurrentSession;

pub fn routes<S: Portal>() -> Router<S> {
    Router::new().route("/password", get(form::<S>).post(change::<S>))
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    layout: Layout,
    error: Option<String>,
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn form<S: Portal>(
    State(state): State<S>,
    session: CurrentSession,
) -> Result<Response, WebError> {
    let page = PasswordPage {
        layout: Layout::new(&state, "Password", "password", session.0.csrf_token),
        error: None,
    };
    Ok(render(&page)?.into_response())
}

async fn change<S: Portal>(
    State(state): State<S>,
    session: CurrentSession,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let stored = state
        .db()
        .call(|c| admin::password_hash(c, admin::USERNAME))
        .await?;
    let verified = password::verify(form.current, stored)
        .await
        .map_err(|_| WebError::Throttled(std::time::Duration::from_secs(1)))?;
    let problem = if !verified {
        Some("The current password is wrong.")
    } else {
        password::check_new(&form.password, &form.confirm).err()
    };
    if let Some(msg) = problem {
        let page = PasswordPage {
            layout: Layout::new(&state, "Password", "password", session.0.csrf_token),
            error: Some(msg.to_string()),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let hash = password::hash(form.password)
        .await
        .map_err(WebError::internal)?;
    let keep = session.0.id_hash.clone();
    state
        .db()
        .call(move |c| admin::change_password(c, &hash, &keep))
        .await?;
    tracing::info!("admin password changed");
    let done = Redirect::to("/?notice=password-changed").into_response();
    Ok(crate::portal::audit::Audited::new(
        "password.change",
        "admin password changed; other sessions ended",
    )
    .on(done))
}
