//! Security headers on every response, and the Origin / Sec-Fetch-Site
//! check on every state-changing request (the first CSRF defence; the form
//! token bound to the session is the second, in `auth`).

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue, Method, header};

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

pub async fn set_headers(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    for (name, value) in HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    resp
}

/// Refuses a state-changing request that a browser says came from another
/// site. Requests carrying a bearer token are not sent by browsers on their
/// own, so they pass.
pub async fn check_origin(req: Request, next: Next) -> Result<Response, WebError> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || req.headers().contains_key(header::AUTHORIZATION) {
        return Ok(next.run(req).await);
    }
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err(WebError::CrossSite);
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        let expected = host.map(|h| format!("https://{h}"));
        if origin.to_str().ok() != expected.as_deref() {
            return Err(WebError::CrossSite);
        }
    }
    Ok(next.run(req).await)
}
