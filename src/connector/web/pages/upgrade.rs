//! Upgrading from the System page: a signed bundle uploaded, checked and
//! handed to the image's installer, or refused with the reason.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use http::StatusCode;

use crate::connector::upgrade::bundle::MAX_BUNDLE;
use crate::connector::web::AppState;
use crate::portal::audit::Audited;
use crate::portal::error::WebError;
use crate::portal::guard::CurrentSession;
use crate::portal::layout::render;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/system/upgrade",
        post(upload).layer(DefaultBodyLimit::max(MAX_BUNDLE + 64 * 1024)),
    )
}

async fn upload(
    State(state): State<AppState>,
    session: CurrentSession,
    mut m: Multipart,
) -> Result<Response, WebError> {
    let (mut csrf, mut bundle, mut peer_down_ok) = (String::new(), Vec::new(), false);
    let bad = |e: axum::extract::multipart::MultipartError| WebError::BadRequest(e.body_text());
    while let Some(field) = m.next_field().await.map_err(bad)? {
        match field.name().unwrap_or("") {
            "csrf" => csrf = field.text().await.map_err(bad)?,
            "bundle" => bundle = field.bytes().await.map_err(bad)?.to_vec(),
            "peer_down_ok" => peer_down_ok = true,
            _ => {}
        }
    }
    session.check_csrf(&csrf)?;
    match state.submit_upgrade(bundle, peer_down_ok).await {
        Ok(r) => {
            let done = Redirect::to("/system?notice=upgrade-started#upgrade").into_response();
            Ok(Audited::new("upgrade.start", format!("{} to {}", r.from, r.to)).on(done))
        }
        Err(WebError::Invalid { fields, .. }) => {
            let mut p = super::system::page(&state, session.0.csrf_token).await?;
            p.upgrade_errors = fields;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
        }
        Err(e) => Err(e),
    }
}
