//! The system page: version, identity, addresses, API tokens, the cloud
//! proxy and the admin UI's certificate.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use http::StatusCode;
use serde::Deserialize;

use crate::connector::first_boot::FirstBootRecord;
use crate::connector::proxy::{self, ProxyInput, ProxyView};
use crate::connector::status::ApplianceStatus;
use crate::connector::web::AppState;
use crate::connector::web_cert::{CertInfo, CertUpload, CsrInput};
use crate::db::DbError;
use crate::fields::FieldErrors;
use crate::portal::audit::{self, AuditEntry};
use crate::portal::auth::api_tokens::{self, ApiToken};
use crate::portal::error::WebError;
use crate::portal::guard::CurrentSession;
use crate::portal::layout::{CsrfForm, CsrfFormWith, Layout, NoticeQuery, render};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/system", axum::routing::get(show))
        .route(
            "/system/support-bundle",
            axum::routing::get(
                |State(state): State<AppState>, _: CurrentSession| async move {
                    state.support_bundle().await
                },
            ),
        )
        .route("/system/api-tokens", post(create_token))
        .route("/system/proxy", post(save_proxy))
        .route("/system/certificate/request", post(request_cert))
        .route("/system/certificate", post(install_cert))
        .route("/system/certificate/self-signed", post(self_signed))
        .route("/system/api-tokens/{id}/revoke", post(revoke_token))
}

#[derive(Template)]
#[template(path = "system.html")]
pub(super) struct SystemPage {
    layout: Layout,
    status: ApplianceStatus,
    data_dir: String,
    tokens: Vec<ApiToken>,
    /// A token just created: shown this once.
    new_token: Option<String>,
    name_error: Option<String>,
    proxy: ProxyView,
    proxy_errors: FieldErrors,
    cert: CertInfo,
    /// The signing request waiting for its certificate.
    csr: Option<String>,
    csr_input: CsrInput,
    cert_upload: CertUpload,
    cert_errors: FieldErrors,
    /// What a headless first boot applied, if one did.
    first_boot: Option<FirstBootRecord>,
    /// The newest changes, newest first.
    audit: Vec<AuditEntry>,
    /// Why a backup was not made.
    pub(super) backup_errors: FieldErrors,
    upgrade: crate::connector::upgrade::UpgradeView,
    /// Why a bundle was refused.
    pub(super) upgrade_errors: FieldErrors,
    audit_keep: i64,
}

/// Audit entries the page shows; the API gives all.
const AUDIT_SHOWN: i64 = 50;

#[derive(Deserialize)]
struct NewTokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
}

pub(super) async fn page(state: &AppState, csrf: String) -> Result<SystemPage, WebError> {
    let status = state.appliance.status().await?;
    let (tokens, stored_proxy, first_boot, audit) = state
        .appliance
        .db
        .call(|c| {
            Ok::<_, DbError>((
                api_tokens::list(c)?,
                proxy::get(c)?,
                crate::connector::first_boot::get(c)?,
                audit::recent(c, AUDIT_SHOWN)?,
            ))
        })
        .await?;
    Ok(SystemPage {
        layout: Layout::new(state, "System", "system", csrf),
        status,
        data_dir: state.appliance.data_dir.display().to_string(),
        tokens,
        new_token: None,
        name_error: None,
        proxy: stored_proxy.view(),
        proxy_errors: FieldErrors::default(),
        cert: state.appliance.web_cert.info(),
        csr: state.web_cert(|c| c.pending_request()).await?,
        csr_input: CsrInput {
            common_name: state.appliance.hostname.clone(),
            names: String::new(),
        },
        cert_upload: CertUpload::default(),
        cert_errors: FieldErrors::default(),
        first_boot,
        audit,
        audit_keep: audit::KEEP,
        backup_errors: FieldErrors::default(),
        upgrade: state.upgrade_view().await,
        upgrade_errors: FieldErrors::default(),
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

async fn create_token(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let name = form.name.trim().to_string();
    // A missing choice is the least power, not the most.
    let scope = api_tokens::Scope::parse(&form.scope).unwrap_or(api_tokens::Scope::Read);
    if name.is_empty() || name.chars().count() > 64 {
        let mut p = page(&state, session.0.csrf_token).await?;
        p.name_error = Some("Enter a name of 1 to 64 characters.".into());
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response());
    }
    let (secret, made) = state
        .appliance
        .db
        .call(move |c| api_tokens::create(c, &name, scope))
        .await?;
    let mut p = page(&state, session.0.csrf_token).await?;
    p.new_token = Some(secret);
    let change = crate::connector::changes::api_token_created(&made.name, scope.as_str());
    Ok(change.on(render(&p)?.into_response()))
}

async fn revoke_token(
    State(state): State<AppState>,
    session: CurrentSession,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let Some(name) = state
        .appliance
        .db
        .call(move |c| api_tokens::revoke(c, id))
        .await?
    else {
        return Err(WebError::NotFound);
    };
    let done = Redirect::to("/system?notice=api-token-revoked").into_response();
    Ok(crate::connector::changes::api_token_revoked(&name).on(done))
}

async fn save_proxy(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<CsrfFormWith<ProxyInput>>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let typed = form.input.clone();
    match state.set_proxy(form.input).await {
        Ok(view) => {
            let done = Redirect::to("/system?notice=proxy-saved#proxy").into_response();
            Ok(crate::connector::changes::proxy_set(&view.url).on(done))
        }
        Err(WebError::Invalid { fields, .. }) => {
            let mut p = page(&state, session.0.csrf_token).await?;
            // What was typed, never the password.
            p.proxy.url = typed.url;
            p.proxy.username = typed.username;
            p.proxy.no_proxy = typed.no_proxy;
            p.proxy_errors = fields;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
        }
        Err(e) => Err(e),
    }
}

/// The page again with what was typed and why it was refused.
async fn refused_cert(
    state: &AppState,
    session: CurrentSession,
    e: WebError,
    fill: impl FnOnce(&mut SystemPage),
) -> Result<Response, WebError> {
    let WebError::Invalid { fields, .. } = e else {
        return Err(e);
    };
    let mut p = page(state, session.0.csrf_token).await?;
    fill(&mut p);
    p.cert_errors = fields;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
}

async fn request_cert(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<CsrfFormWith<CsrInput>>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let input = form.input.clone();
    match state.web_cert(move |c| c.request(&input)).await {
        Ok(_) => {
            let done = Redirect::to("/system?notice=csr-made#certificate").into_response();
            Ok(crate::connector::changes::certificate_requested(&form.input.common_name).on(done))
        }
        Err(e) => refused_cert(&state, session, e, |p| p.csr_input = form.input).await,
    }
}

async fn install_cert(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<CsrfFormWith<CertUpload>>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let upload = form.input.clone();
    match state.web_cert(move |c| c.install(&upload)).await {
        Ok(_) => {
            let subject = state.appliance.web_cert.info().subject;
            let done = Redirect::to("/system?notice=cert-installed#certificate").into_response();
            Ok(crate::connector::changes::certificate_installed(&subject).on(done))
        }
        // The chain is shown again; the key never is.
        Err(e) => {
            refused_cert(&state, session, e, |p| {
                p.cert_upload.chain_pem = form.input.chain_pem
            })
            .await
        }
    }
}

async fn self_signed(
    State(state): State<AppState>,
    session: CurrentSession,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let host = state.appliance.hostname.clone();
    state.web_cert(move |c| c.reset_self_signed(&host)).await?;
    let done = Redirect::to("/system?notice=cert-self-signed#certificate").into_response();
    Ok(crate::connector::changes::certificate_self_signed().on(done))
}
