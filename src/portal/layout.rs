//! The frame every page shares: the `Layout` each page template embeds
//! (product, navigation, CSRF token, notices), rendering, and the
//! standalone error page.

use askama::Template;
use axum::response::Html;
use serde::Deserialize;

use super::Portal;
use super::error::WebError;
use crate::VERSION;

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
    relabel: Option<(&'static str, &'static str)>,
    notices: &'static [(&'static str, &'static str)],
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
            relabel: state.nav_relabel(),
            notices: S::NOTICES,
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
                label: match self.relabel {
                    Some((k, other)) if k == key => other,
                    _ => label,
                },
                current: key == self.active,
            })
            .collect()
    }

    pub fn with_notice(mut self, query: &NoticeQuery) -> Layout {
        let key = query.notice.as_deref().unwrap_or_default();
        self.notice = SHARED_NOTICES
            .iter()
            .chain(self.notices)
            .find(|(k, _)| *k == key)
            .map(|(_, text)| *text);
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

/// Notices every portal shows (its own come from `Portal::NOTICES`).
const SHARED_NOTICES: &[(&str, &str)] = &[
    (
        "password-changed",
        "Password changed. Other sessions were logged out.",
    ),
    ("logged-out", "You are logged out."),
    ("expired", "Your session has ended. Log in again."),
];

/// A form whose only field is its CSRF token (logout, delete, remove).
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// A form of `T`'s fields plus its CSRF token: every form that changes
/// something takes this shape.
#[derive(Deserialize)]
pub struct CsrfFormWith<T> {
    #[serde(default)]
    pub csrf: String,
    #[serde(flatten)]
    pub input: T,
}

pub fn render(t: &impl Template) -> Result<Html<String>, WebError> {
    t.render().map(Html).map_err(WebError::internal)
}

pub async fn not_found() -> WebError {
    WebError::NotFound
}
