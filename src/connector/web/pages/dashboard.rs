//! The dashboard: who this appliance is and how it is linked.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;

use crate::connector::clock_sync::ClockSync;
use crate::connector::cloud_link::LinkView;
use crate::connector::stats::ChannelTotals;
use crate::connector::status::ApplianceStatus;
use crate::connector::web::AppState;
use crate::portal::error::WebError;
use crate::portal::guard::CurrentSession;
use crate::portal::layout::{Layout, NoticeQuery, render};

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(dashboard))
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    status: ApplianceStatus,
    controller_channel: ChannelTotals,
    ap_channel: ChannelTotals,
    link: LinkView,
    clock: ClockSync,
    /// How the last upgrade ended, if one did.
    upgrade: Option<crate::connector::upgrade::UpgradeOutcome>,
}

async fn dashboard(
    State(state): State<AppState>,
    session: CurrentSession,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, WebError> {
    let status = state.appliance.status().await?;
    let controller_channel = state.controller_channel().await.totals;
    let link = state.cloud.view().await?;
    let clock = state.clock.now().await;
    render(&DashboardPage {
        upgrade: crate::connector::upgrade::outcome(&state.appliance.data_dir),
        clock,
        ap_channel: state.ap_channel.snapshot().totals,
        link,
        controller_channel,
        layout: Layout::new(&state, "Dashboard", "dashboard", session.0.csrf_token).with_notice(&q),
        status,
    })
}
