//! The security layers every portal response passes through, built from
//! tower-http: security headers set unless a handler set its own, and the
//! cross-site request refusal (Origin / Sec-Fetch-Site, the first CSRF
//! defence; the form token bound to the session is the second, in `guard`).

use axum::Router;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, header};
use tower_http::csrf::{CsrfLayer, ProtectionError};
use tower_http::set_header::SetResponseHeaderLayer;

use super::error::WebError;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers every response carries, unless a handler set its own.
const HEADERS: [(HeaderName, &str); 6] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "same-origin"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    // Pages show live state and secrets (API tokens): never cache them.
    // Assets override this with their own long-lived policy.
    (header::CACHE_CONTROL, "no-store"),
];

/// Adds the security headers to every response of `app`.
pub fn with_headers<S: Clone + Send + Sync + 'static>(app: Router<S>) -> Router<S> {
    HEADERS.into_iter().fold(app, |app, (name, value)| {
        app.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    })
}

/// Refuses a state-changing request that the browser says came from another
/// site, with the portal's own 403 page. Scripts (curl, the connectors)
/// send neither `Origin` nor `Sec-Fetch-Site` and pass.
pub fn cross_site_refusal() -> CsrfLayer<fn(ProtectionError) -> Response> {
    CsrfLayer::new().with_rejection_response(refused as fn(ProtectionError) -> Response)
}

fn refused(_: ProtectionError) -> Response {
    WebError::CrossSite.into_response()
}
