//! Request-side authentication: the session cookie, bearer API tokens, the
//! CSRF checks, the first-boot gate, and the one place cookies are made.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use http::request::Parts;
use http::{Method, header};

use super::Portal;
use super::error::WebError;
use crate::portal::auth::{admin, api_tokens, secrets_equal, sessions};

/// `__Host-` makes the browser refuse the cookie unless it is Secure,
/// host-only and for path `/`.
pub const SESSION_COOKIE: &str = "__Host-sc_session";
/// Double-submit CSRF token for the forms shown before login.
pub const PRELOGIN_COOKIE: &str = "__Host-sc_prelogin";

/// Builds every cookie this appliance sets.
pub fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .path("/")
        .build()
}

pub fn removal(name: &'static str) -> Cookie<'static> {
    let mut c = cookie(name, String::new());
    c.make_removal();
    c
}

/// The client's address as the TCP connection shows it.
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientIp(ip))
    }
}

/// A logged-in browser session.
pub struct CurrentSession(pub sessions::Session);

impl CurrentSession {
    /// Checks a form's CSRF field against the token bound to this session.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), WebError> {
        if secrets_equal(submitted, &self.0.csrf_token) {
            Ok(())
        } else {
            Err(WebError::BadCsrf)
        }
    }
}

/// The live session for the request's cookie: `LoginRequired` without a
/// cookie, `SessionExpired` when the cookie names an ended session.
async fn session_from<S: Portal>(parts: &Parts, state: &S) -> Result<sessions::Session, WebError> {
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(value) = jar.get(SESSION_COOKIE).map(|c| c.value().to_string()) else {
        return Err(WebError::LoginRequired);
    };
    let policy = state.session_policy();
    state
        .db()
        .call(move |c| sessions::touch(c, &value, policy))
        .await?
        .ok_or(WebError::SessionExpired)
}

impl<S: Portal> FromRequestParts<S> for CurrentSession {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        let session = session_from(parts, state).await?;
        name_actor(parts, session_actor(&session));
        Ok(CurrentSession(session))
    }
}

/// How the audit trail names a browser session: the admin, and which of
/// their sessions (the start of its stored hash, which is no secret).
fn session_actor(session: &sessions::Session) -> String {
    format!(
        "{} (session {})",
        admin::USERNAME,
        &session.id_hash[..8.min(session.id_hash.len())]
    )
}

/// Tells the audit layer who this request is.
fn name_actor(parts: &Parts, who: String) {
    if let Some(slot) = parts.extensions.get::<super::audit::ActorSlot>() {
        slot.set(who);
    }
}

/// An authenticated API caller: a bearer token, or a browser session that
/// also sends its CSRF token in `X-CSRF-Token` for state-changing requests.
pub struct ApiCaller;

impl<S: Portal> FromRequestParts<S> for ApiCaller {
    type Rejection = super::error::ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let secret = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|s| s.trim().to_string())
                .ok_or(WebError::LoginRequired)?;
            let (scope, name) = state
                .db()
                .call(move |c| api_tokens::authenticate(c, &secret))
                .await
                .map_err(WebError::from)?
                .ok_or(WebError::LoginRequired)?;
            name_actor(parts, format!("API token \"{name}\""));
            let reads = matches!(parts.method, Method::GET | Method::HEAD);
            return match scope {
                api_tokens::Scope::Admin => Ok(ApiCaller),
                api_tokens::Scope::Read if reads => Ok(ApiCaller),
                api_tokens::Scope::Read => Err(WebError::Forbidden(
                    "this API token is read-only: create an admin token for changes".into(),
                )
                .into()),
            };
        }
        let session = session_from(parts, state).await?;
        name_actor(parts, session_actor(&session));
        let safe = matches!(parts.method, Method::GET | Method::HEAD);
        if !safe {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !secrets_equal(sent, &session.csrf_token) {
                return Err(WebError::BadCsrf.into());
            }
        }
        Ok(ApiCaller)
    }
}

/// Until an admin password is set, every page leads to `/setup` and the
/// API answers `setup_required`: there is no default password.
pub async fn setup_gate<S: Portal>(State(state): State<S>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // The setup page, and an application's pages beside it (restoring a
    // backup instead of setting up).
    if path == "/setup" || path.starts_with("/setup/") {
        return next.run(req).await;
    }
    let is_api = path.starts_with("/api/");
    match state.db().call(|c| admin::exists(c)).await {
        Ok(true) => next.run(req).await,
        Ok(false) if is_api => WebError::SetupRequired.into_json(),
        Ok(false) => WebError::SetupRequired.into_response(),
        Err(e) => WebError::from(e).into_response(),
    }
}
