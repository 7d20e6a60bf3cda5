//! The cloud's admin dashboard: tenants, "create a new token" for a
//! connector name, and per group its connectors, health, controllers and
//! event totals.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use http::StatusCode;
use serde::Deserialize;

use super::ingest::{self, Totals};
use super::privacy::{self, PrivacyMode, PrivacyView};
use super::registry::{self, CloudAddress, Group, Tenant};
use super::{CloudError, CloudState, group_config};
use crate::contract::cloud_api::{ControllerConfig, PeerState};
use crate::portal::audit::Audited;
use crate::portal::error::WebError;
use crate::portal::guard::CurrentSession;
use crate::portal::layout::{Layout, render};

pub fn routes() -> Router<CloudState> {
    Router::new()
        .route("/", get(tenants))
        .route("/tenants", post(create_tenant))
        .route("/tenants/{id}", get(tenant))
        .route("/tenants/{id}/groups", post(create_group))
        .route("/tenants/{id}/privacy", post(set_privacy))
        .route("/tenants/{id}/privacy/rotate", post(rotate_salt))
        .route("/groups/{id}", get(group))
        .route("/groups/{id}/rotate", post(rotate))
        .route("/groups/{id}/revoke", post(revoke))
        .route("/groups/{id}/limit", post(limit))
}

#[derive(Template)]
#[template(path = "cloud/tenants.html")]
struct TenantsPage {
    layout: Layout,
    tenants: Vec<Tenant>,
    error: Option<String>,
    /// A new tenant and its firehose key, shown once.
    created: Option<(Tenant, String)>,
}

#[derive(Template)]
#[template(path = "cloud/tenant.html")]
struct TenantPage {
    layout: Layout,
    tenant: Tenant,
    groups: Vec<GroupSummary>,
    error: Option<String>,
    /// Newest first; never a salt.
    privacy: Vec<PrivacyView>,
    /// Recent changes recorded about this tenant, newest first.
    audit: Vec<crate::portal::audit::AuditEntry>,
    privacy_error: Option<String>,
}

pub struct GroupSummary {
    pub group: Group,
    pub members: usize,
    pub up: usize,
}

#[derive(Template)]
#[template(path = "cloud/group.html")]
struct GroupPage {
    layout: Layout,
    tenant: Tenant,
    group: Group,
    members: Vec<PeerState>,
    controllers: Vec<(ControllerConfig, usize)>,
    totals: Vec<Totals>,
    sum: Totals,
    up: usize,
    covered: usize,
    incompatible: bool,
    /// A token just issued: shown this once, never stored.
    new_token: Option<String>,
    /// Events no member delivered, per source.
    gaps: Vec<super::gaps::SourceGaps>,
    /// Events refused, by reason.
    refused: ingest::Refusals,
    error: Option<String>,
}

#[derive(Deserialize)]
struct LimitForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    max_members: String,
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

async fn tenant_list(state: &CloudState) -> Result<Vec<Tenant>, WebError> {
    Ok(state.db.call(|c| registry::tenants(c)).await?)
}

async fn tenants(
    State(state): State<CloudState>,
    s: CurrentSession,
) -> Result<Html<String>, WebError> {
    render(&TenantsPage {
        layout: Layout::new(&state, "Tenants", "tenants", s.0.csrf_token),
        tenants: tenant_list(&state).await?,
        error: None,
        created: None,
    })
}

async fn create_tenant(
    State(state): State<CloudState>,
    s: CurrentSession,
    Form(f): Form<NameForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let name = f.name.clone();
    let result = state
        .db
        .call(move |c| registry::create_tenant(c, &name))
        .await;
    let (status, error, created) = match result {
        Ok(made) => (StatusCode::OK, None, Some(made)),
        Err(CloudError::Invalid(m)) => (StatusCode::UNPROCESSABLE_ENTITY, Some(m), None),
        Err(e) => return Err(e.into()),
    };
    let page = TenantsPage {
        layout: Layout::new(&state, "Tenants", "tenants", s.0.csrf_token),
        tenants: tenant_list(&state).await?,
        error,
        created,
    };
    Ok((status, render(&page)?).into_response())
}

async fn tenant_page(
    state: &CloudState,
    id: String,
    csrf: String,
    error: Option<String>,
) -> Result<TenantPage, WebError> {
    let liveness = state.liveness.clone();
    let (tenant, groups, privacy) = state
        .db
        .call(move |c| {
            let t = registry::tenant(c, &id)?.ok_or(CloudError::NotFound)?;
            let privacy = privacy::history(c, &id)?;
            let audit: Vec<_> = crate::portal::audit::recent(c, 500)?
                .into_iter()
                .filter(|e| e.detail.contains(&id))
                .take(20)
                .collect();
            let mut out = Vec::new();
            for g in registry::groups_of(c, &id)? {
                let peers = registry::peers(c, &g.id, None, &liveness)?;
                out.push(GroupSummary {
                    members: peers.len(),
                    up: peers.iter().filter(|p| p.state == "up").count(),
                    group: g,
                });
            }
            Ok::<_, CloudError>((t, out, (privacy, audit)))
        })
        .await?;
    let (privacy, audit) = privacy;
    Ok(TenantPage {
        layout: Layout::new(state, "Tenant", "tenants", csrf),
        tenant,
        groups,
        error,
        privacy,
        audit,
        privacy_error: None,
    })
}

async fn tenant(
    State(state): State<CloudState>,
    s: CurrentSession,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    render(&tenant_page(&state, id, s.0.csrf_token, None).await?)
}

async fn create_group(
    State(state): State<CloudState>,
    s: CurrentSession,
    Path(id): Path<String>,
    Form(f): Form<NameForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let st = state.clone();
    let tenant_id = id.clone();
    let made = state
        .db
        .call(move |c| {
            let addr = CloudAddress {
                url: &st.url,
                pin: &st.pin,
            };
            registry::create_group(c, &st.signer, &addr, &tenant_id, &f.name, &f.kind)
        })
        .await;
    match made {
        Ok((g, token)) => {
            let page = group_page(&state, g.id, s.0.csrf_token, Some(token), None).await?;
            Ok((StatusCode::CREATED, render(&page)?).into_response())
        }
        Err(CloudError::Invalid(m)) => {
            let page = tenant_page(&state, id, s.0.csrf_token, Some(m)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct PrivacyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mode: String,
}

/// "Client identities: hash / send in the clear" for a whole tenant.
async fn set_privacy(
    State(state): State<CloudState>,
    s: CurrentSession,
    Path(id): Path<String>,
    Form(f): Form<PrivacyForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let Some(mode) = PrivacyMode::parse(&f.mode) else {
        return privacy_refused(
            &state,
            id,
            s,
            "Choose to hash client identities or to send them in the clear.".into(),
        )
        .await;
    };
    let (tenant, lead) = (id.clone(), state.privacy_lead_ms);
    let changed = state
        .db
        .call(move |c| privacy::set_mode(c, &tenant, mode, lead))
        .await;
    match changed {
        Ok(Some(view)) => Ok(privacy_changed(
            &state,
            &id,
            format!(
                "client privacy of tenant {id} set to {} (generation {})",
                view.label().to_lowercase(),
                view.generation
            ),
        )),
        Ok(None) => Ok(Redirect::to(&format!("/tenants/{id}")).into_response()),
        Err(CloudError::Invalid(m)) => privacy_refused(&state, id, s, m).await,
        Err(e) => Err(e.into()),
    }
}

/// "Change the salt": every client gets a new pseudonym from then on.
async fn rotate_salt(
    State(state): State<CloudState>,
    s: CurrentSession,
    Path(id): Path<String>,
    Form(f): Form<crate::portal::layout::CsrfForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let (tenant, lead) = (id.clone(), state.privacy_lead_ms);
    match state
        .db
        .call(move |c| privacy::rotate(c, &tenant, lead))
        .await
    {
        Ok(view) => Ok(privacy_changed(
            &state,
            &id,
            format!(
                "client privacy salt of tenant {id} changed (generation {})",
                view.generation
            ),
        )),
        Err(CloudError::Invalid(m)) => privacy_refused(&state, id, s, m).await,
        Err(e) => Err(e.into()),
    }
}

/// Wakes the members' long polls and records who changed it.
fn privacy_changed(state: &CloudState, tenant: &str, detail: String) -> Response {
    state.config_changed.send_modify(|v| *v += 1);
    Audited::new("privacy.change", detail)
        .on(Redirect::to(&format!("/tenants/{tenant}#privacy")).into_response())
}

async fn privacy_refused(
    state: &CloudState,
    id: String,
    s: CurrentSession,
    message: String,
) -> Result<Response, WebError> {
    let mut page = tenant_page(state, id, s.0.csrf_token, None).await?;
    page.privacy_error = Some(message);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

async fn group(
    State(state): State<CloudState>,
    s: CurrentSession,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    render(&group_page(&state, id, s.0.csrf_token, None, None).await?)
}

/// "Rotate token": a new token (shown once); the old one registers nothing.
async fn rotate(
    State(state): State<CloudState>,
    s: CurrentSession,
    Path(id): Path<String>,
    Form(f): Form<crate::portal::layout::CsrfForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let st = state.clone();
    let group_id = id.clone();
    let (_, token) = state
        .db
        .call(move |c| {
            let addr = CloudAddress {
                url: &st.url,
                pin: &st.pin,
            };
            registry::rotate_token(c, &st.signer, &addr, &group_id)
        })
        .await?;
    tracing::info!(group = %id, "group token rotated");
    let page = group_page(&state, id, s.0.csrf_token, Some(token), None).await?;
    Ok(render(&page)?.into_response())
}

async fn revoke(
    State(state): State<CloudState>,
    s: CurrentSession,
    Path(id): Path<String>,
    Form(f): Form<crate::portal::layout::CsrfForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let group_id = id.clone();
    state
        .db
        .call(move |c| registry::revoke_token(c, &group_id))
        .await?;
    tracing::info!(group = %id, "group token revoked");
    Ok(Redirect::to(&format!("/groups/{id}")).into_response())
}

async fn limit(
    State(state): State<CloudState>,
    s: CurrentSession,
    Path(id): Path<String>,
    Form(f): Form<LimitForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let text = f.max_members.trim().to_string();
    let max = if text.is_empty() {
        Ok(None)
    } else {
        text.parse::<i64>().map(Some)
    };
    let group_id = id.clone();
    let result = match max {
        Ok(max) => {
            state
                .db
                .call(move |c| registry::set_member_limit(c, &group_id, max))
                .await
        }
        Err(_) => Err(CloudError::Invalid(
            "Enter a member limit from 1 to 64, or leave it empty for none.".into(),
        )),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/groups/{id}")).into_response()),
        Err(CloudError::Invalid(m)) => {
            let page = group_page(&state, id, s.0.csrf_token, None, Some(m)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn group_page(
    state: &CloudState,
    id: String,
    csrf: String,
    new_token: Option<String>,
    error: Option<String>,
) -> Result<GroupPage, WebError> {
    let liveness = state.liveness.clone();
    let layout = Layout::new(state, "Connector group", "tenants", csrf);
    let page = state
        .db
        .call(move |c| {
            let group = registry::group(c, &id)?.ok_or(CloudError::NotFound)?;
            let tenant = registry::tenant(c, &group.tenant_id)?.ok_or(CloudError::NotFound)?;
            let members = registry::peers(c, &id, None, &liveness)?;
            let beats = registry::last_heartbeats(c, &id)?;
            let up_ids: Vec<&str> = members
                .iter()
                .filter(|m| m.state == "up")
                .map(|m| m.instance_id.as_str())
                .collect();
            let controllers: Vec<(ControllerConfig, usize)> = group_config::config(c, &id)?
                .controllers
                .into_iter()
                .map(|ctrl| {
                    let addr = format!("{}:{}", ctrl.host, ctrl.port);
                    let n = beats
                        .iter()
                        .filter(|(m, hb)| {
                            up_ids.contains(&m.as_str())
                                && hb
                                    .as_ref()
                                    .is_some_and(|h| h.active_controllers.contains(&addr))
                        })
                        .count();
                    (ctrl, n)
                })
                .collect();
            let totals = ingest::totals(c, &id)?;
            let gaps = super::gaps::report(c, &id, crate::clock::steady_now_ms() as i64)?;
            let refused = ingest::refusals(c, &id)?;
            let sum = Totals {
                source: "all".into(),
                received: totals.iter().map(|t| t.received).sum(),
                unique: totals.iter().map(|t| t.unique).sum(),
            };
            Ok::<_, CloudError>(GroupPage {
                layout,
                tenant,
                group,
                up: members.iter().filter(|m| m.state == "up").count(),
                covered: controllers.iter().filter(|(_, n)| *n >= 2).count(),
                incompatible: members.iter().any(|m| !m.compatible),
                members,
                controllers,
                totals,
                sum,
                new_token,
                gaps,
                refused,
                error,
            })
        })
        .await?;
    Ok(page)
}
