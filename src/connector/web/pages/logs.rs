//! The Logs page: the service's recent log, filtered by level and
//! component, extended in place by `static/app.js` from `/api/v1/logs`,
//! and downloadable as text.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::connector::service_journal;
use crate::connector::web::AppState;
use crate::portal::error::WebError;
use crate::portal::guard::CurrentSession;
use crate::portal::layout::{Layout, render};
use crate::service_log::{LogLine, LogQuery, LogSummary};

/// Lines the page opens with; the download has all.
const SHOWN: usize = 500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/logs", get(show))
        .route("/logs/download", get(download))
}

#[derive(Template)]
#[template(path = "logs.html")]
struct LogsPage {
    layout: Layout,
    query: LogQuery,
    lines: Vec<LogLine>,
    summary: LogSummary,
    /// The newest line shown: the page asks for what follows.
    last_seq: u64,
    /// `journal` or `memory`, and why not the journal where it should be.
    source: &'static str,
    note: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    session: CurrentSession,
    Query(mut query): Query<LogQuery>,
) -> Result<Response, WebError> {
    query.after = 0;
    query.limit = SHOWN;
    let read = service_journal::read(&query).await;
    let last_seq = read.lines.last().map(|l| l.seq).unwrap_or(0);
    Ok(render(&LogsPage {
        layout: Layout::new(&state, "Logs", "logs", session.0.csrf_token),
        query,
        lines: read.lines,
        summary: read.summary,
        last_seq,
        source: read.source,
        note: read.note,
    })?
    .into_response())
}

/// Everything kept that matches the filter, as a text file.
async fn download(_: CurrentSession, Query(query): Query<LogQuery>) -> Response {
    service_journal::download(&query).await
}
