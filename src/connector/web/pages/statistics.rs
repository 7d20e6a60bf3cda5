//! The statistics pages: Controller Channel totals and per-controller
//! figures, refreshed in place by `static/app.js` from `/api/v1/stats`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;

use crate::connector::stats::{ChannelSnapshot, LinkSnapshot};
use crate::connector::web::AppState;
use crate::portal::error::WebError;
use crate::portal::guard::CurrentSession;
use crate::portal::layout::{Layout, render};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/statistics", get(overview))
        .route("/statistics/controllers/{id}", get(detail))
}

#[derive(Template)]
#[template(path = "statistics.html")]
struct StatisticsPage {
    layout: Layout,
    controllers: ChannelSnapshot,
    aps: ChannelSnapshot,
    /// Controllers or switches.
    words: crate::contract::controller::DeviceWords,
    empty_devices: String,
}

#[derive(Template)]
#[template(path = "controller_stats.html")]
struct DetailPage {
    layout: Layout,
    link: LinkSnapshot,
}

async fn overview(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<Html<String>, WebError> {
    let words = state.appliance.words();
    render(&StatisticsPage {
        layout: Layout::new(&state, "Statistics", "statistics", session.0.csrf_token),
        controllers: state.controller_channel().await,
        aps: state.ap_channel.snapshot(),
        words,
        empty_devices: format!(
            "No {} yet. Add a {} on the {} page to see its session here.",
            words.many, words.one, words.title
        ),
    })
}

async fn detail(
    State(state): State<AppState>,
    session: CurrentSession,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let snap = state.controller_channel().await;
    let link = snap
        .links
        .into_iter()
        .find(|l| l.id == id)
        .ok_or(WebError::NotFound)?;
    render(&DetailPage {
        layout: Layout::new(
            &state,
            "Controller statistics",
            "statistics",
            session.0.csrf_token,
        ),
        link,
    })
}
