//! Server-rendered pages, one module per area. Every page template embeds a
//! `Layout` that the base template reads.

mod controllers;
mod dashboard;
pub mod password;
pub mod session;
mod statistics;
mod system;
mod token;

use askama::Template;
use axum::Router;
use axum::response::Html;
use http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::error::WebError;
use super::portal::Portal;
use crate::VERSION;

/// The connector's own pages (login and password come from `session` and
/// `password`, shared with the cloud).
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(dashboard::routes())
        .merge(token::routes())
        .merge(controllers::routes())
        .merge(system::routes())
        .merge(statistics::routes())
}

/// What the base template needs from every page.
pub struct Layout {
    pub product: &'static str,
    pub title: &'static str,
    /// Which navigation entry is current.
    pub active: &'static str,
    pub csrf: String,
    pub assets: String,
    pub logged_in: bool,
    pub notice: Option<&'static str>,
    pub version: &'static str,
    nav: &'static [(&'static str, &'static str, &'static str)],
}

impl Layout {
    pub fn new<S: Portal>(
        state: &S,
        title: &'static str,
        active: &'static str,
        csrf: String,
    ) -> Layout {
        Layout {
            product: S::PRODUCT,
            nav: S::NAV,
            title,
            active,
            csrf,
            assets: state.asset_prefix(),
            logged_in: active != "public",
            notice: None,
            version: VERSION,
        }
    }

    /// The navigation entries, with the current page marked.
    pub fn nav(&self) -> Vec<NavItem> {
        self.nav
            .iter()
            .map(|&(href, key, label)| NavItem {
                href,
                label,
                current: key == self.active,
            })
            .collect()
    }

    pub fn with_notice(mut self, query: &NoticeQuery) -> Layout {
        self.notice = query.notice.as_deref().and_then(notice_text);
        self
    }
}

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// `?notice=<key>` after a redirect. Only fixed texts are shown, so the URL
/// cannot inject anything into the page.
#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "token-saved" => "Token saved and registered with the cloud.",
        "token-pending" => {
            "Token saved. The cloud is not reachable yet; the connector keeps trying (see the dashboard)."
        }
        "token-removed" => "Token removed. The connector no longer reports to the cloud.",
        "controller-added" => "Controller added.",
        "controller-removed" => "Controller removed.",
        "password-changed" => "Password changed. Other sessions were logged out.",
        "logged-out" => "You are logged out.",
        "expired" => "Your session has ended. Log in again.",
        "api-token-revoked" => "API token revoked.",
        "cert-accepted" => "New controller certificate accepted; reconnecting.",
        _ => return None,
    })
}

/// A form whose only field is its CSRF token (logout, delete, remove).
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub fn render(t: &impl Template) -> Result<Html<String>, WebError> {
    t.render().map(Html).map_err(WebError::internal)
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

pub async fn not_found() -> WebError {
    WebError::NotFound
}
