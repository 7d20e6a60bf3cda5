//! The web layer's one error type, mapped to a response in one place: an
//! HTML page for browsers, or the stable JSON shape
//! `{"error": {"code", "message", "fields"?}}` under `/api`.

use std::collections::BTreeMap;
use std::time::Duration;

use askama::Template;
use axum::Json;
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::fields::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("log in first")]
    LoginRequired,
    #[error("your session has ended: log in again")]
    SessionExpired,
    #[error("not set up yet: open it in a browser and set the admin password")]
    SetupRequired,
    #[error("cross-site request refused")]
    CrossSite,
    #[error(
        "the form has expired or did not come from this appliance; reload the page and try again"
    )]
    BadCsrf,
    #[error("Too many failed attempts. Try again in {} seconds.", .0.as_secs().max(1))]
    Throttled(Duration),
    #[error("{message}")]
    Invalid {
        message: String,
        fields: FieldErrors,
    },
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A credential or token the server will not accept, with the reason.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Conflict(String),
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("the request body is too large")]
    TooLarge,
    /// Something below the page failed (the state file); the message says
    /// what and what to do.
    #[error("{0}")]
    StateFileFault(String),
    #[error("internal error")]
    Internal(String),
}

impl WebError {
    pub fn internal(e: impl std::fmt::Display) -> WebError {
        WebError::Internal(e.to_string())
    }

    fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::LoginRequired | WebError::SessionExpired => StatusCode::UNAUTHORIZED,
            WebError::SetupRequired => StatusCode::SERVICE_UNAVAILABLE,
            WebError::CrossSite | WebError::BadCsrf => StatusCode::FORBIDDEN,
            WebError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            WebError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Refused(_) => StatusCode::UNAUTHORIZED,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::StateFileFault(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            WebError::NotFound => "not_found",
            WebError::LoginRequired => "unauthorized",
            WebError::SessionExpired => "session_expired",
            WebError::SetupRequired => "setup_required",
            WebError::CrossSite => "cross_site_request",
            WebError::BadCsrf => "csrf_token_invalid",
            WebError::Throttled(_) => "too_many_attempts",
            WebError::Invalid { .. } => "validation_failed",
            WebError::BadRequest(_) => "bad_request",
            WebError::Refused(_) => "refused",
            WebError::Conflict(_) => "conflict",
            WebError::Forbidden(_) => "forbidden",
            WebError::TooLarge => "body_too_large",
            WebError::Internal(_) => "internal_error",
            WebError::StateFileFault(_) => "state_file_fault",
        }
    }

    fn log(&self) {
        if let WebError::Internal(detail) = self {
            tracing::error!(%detail, "request failed");
        }
    }

    /// The JSON rendering, for API routes.
    pub fn into_json(self) -> Response {
        self.log();
        let mut body = json!({ "code": self.code(), "message": self.to_string() });
        if let WebError::Invalid { fields, .. } = &self {
            let map: BTreeMap<&str, &str> =
                fields.0.iter().map(|(f, m)| (*f, m.as_str())).collect();
            body["fields"] = json!(map);
        }
        let mut resp = (self.status(), Json(json!({ "error": body }))).into_response();
        self.retry_after(&mut resp);
        resp
    }

    /// Adds `Retry-After` to a response answering this error (a page that
    /// shows the throttled form itself uses it too).
    pub fn retry_after(&self, resp: &mut Response) {
        if let WebError::Throttled(d) = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(d.as_secs().max(1)));
        }
    }
}

/// Pages: redirects where a browser should go elsewhere, else a plain page.
impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        self.log();
        match self {
            WebError::LoginRequired => return Redirect::to("/login").into_response(),
            WebError::SessionExpired => {
                return Redirect::to("/login?notice=expired").into_response();
            }
            WebError::SetupRequired => return Redirect::to("/setup").into_response(),
            _ => {}
        }
        let page = error_page(self.status(), &self.to_string());
        let mut resp = (self.status(), Html(page)).into_response();
        self.retry_after(&mut resp);
        resp
    }
}

/// An error on an API route.
pub struct ApiError(pub WebError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_json()
    }
}

impl From<crate::db::DbError> for WebError {
    fn from(e: crate::db::DbError) -> Self {
        if e.is_storage() {
            tracing::error!(error = %e, "state file fault");
            return WebError::StateFileFault(format!(
                "The state file cannot be read or written ({e}). Events keep flowing on what was \
                 last read; if this persists, stop the service and restore a backup."
            ));
        }
        WebError::internal(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

/// A standalone error page (it needs no session or state).
pub fn error_page(status: StatusCode, message: &str) -> String {
    ErrorPage {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
    }
    .render()
    .unwrap_or_else(|_| message.to_string())
}
