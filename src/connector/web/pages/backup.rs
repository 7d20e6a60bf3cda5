//! Backup and restore on the web: a backup is downloaded from the System
//! page and restored there or, on a fresh appliance, beside the setup
//! page (with the setup code, which proves the same as setting up does).
//! A restore stops the service so it starts again on the restored
//! configuration; the page says so and moves to the login page.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use http::StatusCode;
use serde::Deserialize;

use crate::connector::backup::{self, RestoreInput, Restored, sealed};
use crate::connector::web::AppState;
use crate::fields::FieldErrors;
use crate::portal::audit::Audited;
use crate::portal::error::WebError;
use crate::portal::guard::{ClientIp, CurrentSession};
use crate::portal::layout::{Layout, render};
use crate::portal::session::{check_prelogin, check_setup_code, prelogin_token};

const MAX_BACKUP: usize = backup::MAX_FILE;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/system/backup", post(download))
        .route(
            "/system/restore",
            get(restore_form)
                .post(restore_here)
                .layer(DefaultBodyLimit::max(MAX_BACKUP)),
        )
        .route(
            "/setup/restore",
            get(setup_form)
                .post(restore_at_setup)
                .layer(DefaultBodyLimit::max(MAX_BACKUP)),
        )
}

#[derive(Template)]
#[template(path = "restore.html")]
struct RestorePage {
    layout: Layout,
    /// Before any admin exists: the setup code is asked.
    at_setup: bool,
    errors: FieldErrors,
    /// After a restore: what came back.
    restored: Option<Restored>,
}

#[derive(Deserialize)]
struct BackupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    passphrase: String,
    #[serde(default)]
    confirm: String,
    /// A ticked checkbox sends a value.
    #[serde(default)]
    with_identity: Option<String>,
}

/// The backup file, sealed with the passphrase typed twice.
async fn download(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<BackupForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let mut errors = FieldErrors::default();
    if form.passphrase.chars().count() < sealed::MIN_PASSPHRASE {
        errors.add("passphrase", sealed::SealError::ShortPassphrase.to_string());
    } else if form.passphrase != form.confirm {
        errors.add("confirm", "the two passphrases differ");
    }
    if !errors.is_empty() {
        let mut p = super::system::page(&state, session.0.csrf_token).await?;
        p.backup_errors = errors;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response());
    }
    let with_identity = form.with_identity.is_some();
    state.backup_download(form.passphrase, with_identity).await
}

/// A restore's typed fields and the file.
#[derive(Default)]
struct RestoreForm {
    csrf: String,
    code: String,
    input: RestoreInput,
}

async fn read_form(mut m: Multipart) -> Result<RestoreForm, WebError> {
    let mut f = RestoreForm::default();
    let bad = |e: axum::extract::multipart::MultipartError| WebError::BadRequest(e.body_text());
    while let Some(field) = m.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "backup" => f.input.file = field.bytes().await.map_err(bad)?.to_vec(),
            "csrf" => f.csrf = field.text().await.map_err(bad)?,
            "code" => f.code = field.text().await.map_err(bad)?,
            "passphrase" => f.input.passphrase = field.text().await.map_err(bad)?,
            "restore_as" => f.input.restore_as = field.text().await.map_err(bad)?,
            _ => {}
        }
    }
    Ok(f)
}

fn page(state: &AppState, csrf: String, at_setup: bool) -> RestorePage {
    let active = if at_setup { "public" } else { "system" };
    RestorePage {
        layout: Layout::new(state, "Restore", active, csrf),
        at_setup,
        errors: FieldErrors::default(),
        restored: None,
    }
}

/// The page after a restore, or again with why nothing was restored;
/// `who` names a restorer the audit layer cannot (before any login).
fn answer(
    mut p: RestorePage,
    result: Result<Restored, WebError>,
    who: Option<&str>,
) -> Result<Response, WebError> {
    match result {
        Ok(restored) => {
            let mut audited = Audited::new("restore", restored.summary());
            if let Some(who) = who {
                audited = audited.by(who);
            }
            p.restored = Some(restored);
            Ok(audited.on(render(&p)?.into_response()))
        }
        Err(WebError::Invalid { fields, .. }) => {
            p.errors = fields;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn restore_form(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<Response, WebError> {
    Ok(render(&page(&state, session.0.csrf_token, false))?.into_response())
}

async fn restore_here(
    State(state): State<AppState>,
    session: CurrentSession,
    m: Multipart,
) -> Result<Response, WebError> {
    let f = read_form(m).await?;
    session.check_csrf(&f.csrf)?;
    let p = page(&state, session.0.csrf_token.clone(), false);
    let result = state.restore(f.input).await;
    answer(p, result, None)
}

async fn setup_form(State(state): State<AppState>, jar: CookieJar) -> Result<Response, WebError> {
    if admin_exists(&state).await? {
        return Ok(axum::response::Redirect::to("/login").into_response());
    }
    let (jar, csrf) = prelogin_token(jar);
    Ok((jar, render(&page(&state, csrf, true))?).into_response())
}

async fn admin_exists(state: &AppState) -> Result<bool, WebError> {
    Ok(state
        .appliance
        .db
        .call(|c| crate::portal::auth::admin::exists(c))
        .await?)
}

/// On a fresh appliance: the setup code first (throttled as setup
/// throttles it), then the restore.
async fn restore_at_setup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    m: Multipart,
) -> Result<Response, WebError> {
    let f = read_form(m).await?;
    check_prelogin(&jar, &f.csrf)?;
    if admin_exists(&state).await? {
        return Ok(axum::response::Redirect::to("/login").into_response());
    }
    let p = page(&state, f.csrf.clone(), true);
    match check_setup_code(&state, &ip, &f.code).await {
        Ok(()) => {}
        Err(WebError::Refused(why)) => {
            let mut fields = FieldErrors::default();
            fields.add("code", why);
            let refused = WebError::Invalid {
                message: String::new(),
                fields,
            };
            return answer(p, Err(refused), None);
        }
        Err(e) => return Err(e),
    }
    let result = state.restore(f.input).await;
    answer(p, result, Some("the setup code's holder"))
}
