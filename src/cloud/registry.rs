//! Tenants, connector groups (one per token) and their members: token
//! issue, registration, credentials, heartbeats and the peers view that
//! lets each member of a pair see the other.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::CloudError;
use crate::contract::cloud_api::{
    Heartbeat, PROTOCOL_VERSION, PeerState, RegisterRequest, RegisterResponse,
};
use crate::contract::token::{Claims, NetworkKind, TokenSigner};
use crate::db::DbError;
use crate::portal::auth::{random_secret, secret_hash};

/// When a silent member counts as stale, then down. Silence is measured on
/// the monotonic clock from the last heartbeat this process received, so a
/// step of the wall clock neither keeps a dead member "up" nor downs a live
/// one; the stored (wall-clock) time serves only for members not heard
/// since the cloud started, and a time in the future is no proof of life.
#[derive(Debug, Clone)]
pub struct Liveness {
    pub stale_after_secs: i64,
    pub down_after_secs: i64,
    pub heard:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

impl Liveness {
    pub fn new(stale_after_secs: i64, down_after_secs: i64) -> Liveness {
        Liveness {
            stale_after_secs,
            down_after_secs,
            heard: Default::default(),
        }
    }

    /// A heartbeat (or registration) from `instance_id`, now.
    pub fn heard_from(&self, instance_id: &str) {
        self.heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(instance_id.to_string(), std::time::Instant::now());
    }

    pub fn state(&self, instance_id: &str, last_heartbeat: i64, now: i64) -> &'static str {
        let heard = self
            .heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(instance_id)
            .copied();
        let silent = match heard {
            Some(at) => at.elapsed().as_secs() as i64,
            None if now >= last_heartbeat => now - last_heartbeat,
            None => self.down_after_secs,
        };
        if silent >= self.down_after_secs {
            "down"
        } else if silent >= self.stale_after_secs {
            "stale"
        } else {
            "up"
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub kind: String,
    pub config_version: i64,
    /// When the current token was issued (rotation makes a new one).
    pub token_issued_at: i64,
    /// Set once the token is revoked: it registers nothing new.
    pub revoked_at: Option<i64>,
    /// Members the group takes at most; `None` for no limit.
    pub max_members: Option<i64>,
}

impl Group {
    /// What its members dial, named for pages: controllers or switches.
    pub fn words(&self) -> crate::contract::controller::DeviceWords {
        crate::contract::controller::DeviceWords::of(crate::contract::token::NetworkKind::parse(
            &self.kind,
        ))
    }

    /// "Wireless" or "Wired".
    pub fn kind_label(&self) -> &'static str {
        match self.kind.as_str() {
            "wired" => "Wired",
            _ => "Wireless",
        }
    }

    pub fn token_state(&self) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        }
    }
}

/// A member's identity as authenticated by its credential.
#[derive(Debug, Clone)]
pub struct Member {
    pub instance_id: String,
    pub group_id: String,
    /// The contract version it last registered or heartbeated with.
    pub protocol_version: u32,
}

fn check_name(name: &str, what: &str) -> Result<String, CloudError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 64 || n.chars().any(char::is_control) {
        return Err(CloudError::Invalid(format!(
            "Enter a {what} of 1 to 64 characters."
        )));
    }
    Ok(n.to_string())
}

/// Creates a tenant; returns it with its firehose key (shown once).
pub fn create_tenant(conn: &Connection, name: &str) -> Result<(Tenant, String), CloudError> {
    let name = check_name(name, "tenant name")?;
    let exists: bool = conn
        .query_row("SELECT 1 FROM tenants WHERE name = ?1", [&name], |_| Ok(()))
        .optional()
        .map_err(DbError::from)?
        .is_some();
    if exists {
        return Err(CloudError::Invalid(format!(
            "A tenant named \"{name}\" already exists."
        )));
    }
    let key = format!("scfh_{}", random_secret());
    let t = Tenant {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        created_at: crate::clock::now_unix(),
    };
    conn.execute(
        "INSERT INTO tenants (id, name, firehose_key_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![t.id, t.name, secret_hash(&key), t.created_at],
    )
    .map_err(DbError::from)?;
    Ok((t, key))
}

pub fn tenants(conn: &Connection) -> Result<Vec<Tenant>, DbError> {
    let mut stmt = conn.prepare("SELECT id, name, created_at FROM tenants ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok(Tenant {
            id: r.get(0)?,
            name: r.get(1)?,
            created_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn tenant(conn: &Connection, id: &str) -> Result<Option<Tenant>, DbError> {
    Ok(tenants(conn)?.into_iter().find(|t| t.id == id))
}

/// The tenant whose firehose key this is.
pub fn tenant_by_firehose_key(conn: &Connection, key: &str) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT id FROM tenants WHERE firehose_key_hash = ?1",
            [secret_hash(key)],
            |r| r.get(0),
        )
        .optional()?)
}

/// Where connectors reach this cloud, for the tokens it issues.
pub struct CloudAddress<'a> {
    pub url: &'a str,
    pub pin: &'a str,
}

/// "Create a new token": a group for a connector name and network kind.
/// Returns the group and its token, which is shown once: only the hash of
/// its secret is kept.
pub fn create_group(
    conn: &Connection,
    signer: &TokenSigner,
    cloud: &CloudAddress<'_>,
    tenant_id: &str,
    name: &str,
    kind: &str,
) -> Result<(Group, String), CloudError> {
    let name = check_name(name, "connector name")?;
    let kind = match kind {
        "wireless" => NetworkKind::Wireless,
        "wired" => NetworkKind::Wired,
        _ => return Err(CloudError::Invalid("Choose wireless or wired.".into())),
    };
    let tenant = tenant(conn, tenant_id)?.ok_or(CloudError::NotFound)?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = crate::clock::now_unix();
    conn.execute(
        "INSERT INTO groups (id, tenant_id, name, kind, secret_hash, token, created_at)
         VALUES (?1, ?2, ?3, ?4, '', '', ?5)",
        params![id, tenant.id, name, kind.as_str(), now],
    )
    .map_err(DbError::from)?;
    let token = issue_token(conn, signer, cloud, &tenant, &id, &name, kind)?;
    Ok((group(conn, &id)?.ok_or(CloudError::NotFound)?, token))
}

/// Issues a new token for a group with a new secret: the previous token
/// stops registering (its members keep their own credentials) and a
/// revoked group is active again.
pub fn rotate_token(
    conn: &Connection,
    signer: &TokenSigner,
    cloud: &CloudAddress<'_>,
    group_id: &str,
) -> Result<(Group, String), CloudError> {
    let g = group(conn, group_id)?.ok_or(CloudError::NotFound)?;
    let tenant = tenant(conn, &g.tenant_id)?.ok_or(CloudError::NotFound)?;
    let kind = match g.kind.as_str() {
        "wired" => NetworkKind::Wired,
        _ => NetworkKind::Wireless,
    };
    let token = issue_token(conn, signer, cloud, &tenant, &g.id, &g.name, kind)?;
    Ok((group(conn, group_id)?.ok_or(CloudError::NotFound)?, token))
}

fn issue_token(
    conn: &Connection,
    signer: &TokenSigner,
    cloud: &CloudAddress<'_>,
    tenant: &Tenant,
    group_id: &str,
    name: &str,
    kind: NetworkKind,
) -> Result<String, CloudError> {
    let secret = random_secret();
    let now = crate::clock::now_unix();
    let token = signer.issue(Claims {
        tenant_id: tenant.id.clone(),
        tenant_name: tenant.name.clone(),
        group_id: group_id.to_string(),
        group_name: name.to_string(),
        kind,
        cloud_url: cloud.url.to_string(),
        cloud_pin: cloud.pin.to_string(),
        signing_key: String::new(),
        secret: secret.clone(),
        issued_at: now,
        expires_at: None,
    });
    conn.execute(
        "UPDATE groups SET secret_hash = ?2, token_issued_at = ?3, revoked_at = NULL WHERE id = ?1",
        params![group_id, secret_hash(&secret), now],
    )
    .map_err(DbError::from)?;
    Ok(token)
}

/// Revokes a group's token: it registers nothing new; members already
/// registered keep working with their own credentials.
pub fn revoke_token(conn: &Connection, group_id: &str) -> Result<(), CloudError> {
    let n = conn
        .execute(
            "UPDATE groups SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![group_id, crate::clock::now_unix()],
        )
        .map_err(DbError::from)?;
    if n == 0 && group(conn, group_id)?.is_none() {
        return Err(CloudError::NotFound);
    }
    Ok(())
}

/// Sets the most members the group takes (`None`: no limit).
pub fn set_member_limit(
    conn: &Connection,
    group_id: &str,
    max: Option<i64>,
) -> Result<(), CloudError> {
    if max.is_some_and(|m| !(1..=64).contains(&m)) {
        return Err(CloudError::Invalid(
            "Enter a member limit from 1 to 64, or leave it empty for none.".into(),
        ));
    }
    let n = conn
        .execute(
            "UPDATE groups SET max_members = ?2 WHERE id = ?1",
            params![group_id, max],
        )
        .map_err(DbError::from)?;
    if n == 0 {
        return Err(CloudError::NotFound);
    }
    Ok(())
}

const GROUP_COLUMNS: &str =
    "id, tenant_id, name, kind, config_version, token_issued_at, revoked_at, max_members";

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        kind: r.get(3)?,
        config_version: r.get(4)?,
        token_issued_at: r.get(5)?,
        revoked_at: r.get(6)?,
        max_members: r.get(7)?,
    })
}

pub fn group(conn: &Connection, id: &str) -> Result<Option<Group>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = ?1"),
            [id],
            group_row,
        )
        .optional()?)
}

pub fn groups_of(conn: &Connection, tenant_id: &str) -> Result<Vec<Group>, DbError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {GROUP_COLUMNS} FROM groups WHERE tenant_id = ?1 ORDER BY name"
    ))?;
    let rows = stmt.query_map([tenant_id], group_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Registers a connector with its token. A member is one instance id bound
/// to the member key it first registered with: the same instance
/// registering again (a restart, a new token) must present that key, and
/// may not do so while it is up and reporting from another address (a
/// cloned VM). Refusals never reveal where the member reports from.
pub fn register(
    conn: &mut Connection,
    signer: &TokenSigner,
    req: &RegisterRequest,
    seen_ip: &str,
    liveness: &Liveness,
) -> Result<RegisterResponse, CloudError> {
    let now = crate::clock::now_unix();
    let token = signer.verify(&req.token, now).map_err(CloudError::Token)?;
    let claims = &token.claims;
    if uuid::Uuid::parse_str(&req.instance_id).is_err() {
        return Err(CloudError::Invalid("the instance id is not a UUID".into()));
    }
    if req.member_key.len() < 32 {
        return Err(CloudError::Invalid(
            "register with a member key (this connector is older than the cloud: upgrade it)"
                .into(),
        ));
    }
    let key_hash = secret_hash(&req.member_key);
    let tx = conn.transaction().map_err(DbError::from)?;
    type GroupCheck = (String, i64, Option<i64>, Option<i64>);
    let (stored_hash, config_version, revoked_at, max_members): GroupCheck = tx
        .query_row(
            "SELECT secret_hash, config_version, revoked_at, max_members FROM groups WHERE id = ?1",
            [&claims.group_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(DbError::from)?
        .ok_or_else(|| {
            CloudError::Unauthorized("the token's connector group no longer exists".into())
        })?;
    if !crate::portal::auth::secrets_equal(&stored_hash, &secret_hash(&claims.secret)) {
        return Err(CloudError::Unauthorized(
            "this token was replaced by a newer one (rotated in the cloud): use the current token"
                .into(),
        ));
    }
    if revoked_at.is_some() {
        return Err(CloudError::Unauthorized(
            "this token was revoked in the cloud: it registers no new connector".into(),
        ));
    }
    let existing: Option<(String, i64, Option<String>)> = tx
        .query_row(
            "SELECT seen_ip, last_heartbeat, member_key_hash FROM members WHERE instance_id = ?1",
            [&req.instance_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(DbError::from)?;
    if let Some((_, _, Some(bound))) = &existing
        && !crate::portal::auth::secrets_equal(bound, &key_hash)
    {
        return Err(CloudError::Conflict(format!(
            "instance {} belongs to another connector (its member key differs); a connector cannot take over another's membership",
            req.instance_id
        )));
    }
    if let Some((ip, last, _)) = existing
        && ip != seen_ip
        && liveness.state(&req.instance_id, last, now) == "up"
    {
        return Err(CloudError::Conflict(format!(
            "instance {} is already registered and reporting from another address; each connector needs its own instance (a cloned VM, or a backup restored as this appliance while the original still runs, keeps its twin's identity: restore it as a new appliance)",
            req.instance_id
        )));
    }
    let is_member: bool = tx
        .query_row(
            "SELECT COUNT(*) > 0 FROM members WHERE instance_id = ?1 AND group_id = ?2",
            params![req.instance_id, claims.group_id],
            |r| r.get(0),
        )
        .map_err(DbError::from)?;
    if let Some(max) = max_members
        && !is_member
    {
        let members: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM members WHERE group_id = ?1",
                [&claims.group_id],
                |r| r.get(0),
            )
            .map_err(DbError::from)?;
        if members >= max {
            return Err(CloudError::Conflict(format!(
                "the group already has its {max} member(s): raise the limit in the cloud to add this connector"
            )));
        }
    }
    let credential = format!("sccr_{}", random_secret());
    tx.execute(
        "INSERT INTO members (instance_id, group_id, hostname, addresses, seen_ip, software_version,
             protocol_version, credential_hash, first_seen, last_heartbeat, member_key_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)
         ON CONFLICT (instance_id) DO UPDATE SET group_id = excluded.group_id,
             hostname = excluded.hostname, addresses = excluded.addresses, seen_ip = excluded.seen_ip,
             software_version = excluded.software_version, protocol_version = excluded.protocol_version,
             credential_hash = excluded.credential_hash, last_heartbeat = excluded.last_heartbeat,
             member_key_hash = excluded.member_key_hash",
        params![
            req.instance_id,
            claims.group_id,
            req.hostname,
            serde_json::to_string(&req.addresses).unwrap_or_default(),
            seen_ip,
            req.software_version,
            req.protocol_version,
            secret_hash(&credential),
            now,
            key_hash
        ],
    )
    .map_err(DbError::from)?;
    tx.commit().map_err(DbError::from)?;
    Ok(RegisterResponse {
        tenant_id: claims.tenant_id.clone(),
        tenant_name: claims.tenant_name.clone(),
        group_id: claims.group_id.clone(),
        group_name: claims.group_name.clone(),
        credential,
        config_version: config_version as u64,
    })
}

pub fn authenticate(conn: &Connection, credential: &str) -> Result<Option<Member>, DbError> {
    Ok(conn
        .query_row(
            "SELECT instance_id, group_id, protocol_version FROM members WHERE credential_hash = ?1",
            [secret_hash(credential)],
            |r| {
                Ok(Member {
                    instance_id: r.get(0)?,
                    group_id: r.get(1)?,
                    protocol_version: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// Records a heartbeat.
pub fn heartbeat(
    conn: &Connection,
    member: &Member,
    hb: &Heartbeat,
    seen_ip: &str,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE members SET hostname = ?2, addresses = ?3, seen_ip = ?4, software_version = ?5,
             protocol_version = ?6, last_heartbeat = ?7, heartbeat = ?8 WHERE instance_id = ?1",
        params![
            member.instance_id,
            hb.hostname,
            serde_json::to_string(&hb.addresses).unwrap_or_default(),
            seen_ip,
            hb.software_version,
            hb.protocol_version,
            crate::clock::now_unix(),
            serde_json::to_string(hb).unwrap_or_default()
        ],
    )?;
    Ok(())
}

/// Every member of a group, as peers see them; `self_id` marks the asker.
pub fn peers(
    conn: &Connection,
    group_id: &str,
    self_id: Option<&str>,
    liveness: &Liveness,
) -> Result<Vec<PeerState>, DbError> {
    let now = crate::clock::now_unix();
    let mut stmt = conn.prepare(
        "SELECT instance_id, hostname, addresses, seen_ip, software_version, protocol_version,
                last_heartbeat, heartbeat
         FROM members WHERE group_id = ?1 ORDER BY first_seen, instance_id",
    )?;
    let rows = stmt.query_map([group_id], |r| {
        let addresses: String = r.get(2)?;
        let hb: Option<String> = r.get(7)?;
        let hb: Option<Heartbeat> = hb.and_then(|h| serde_json::from_str(&h).ok());
        let protocol_version: u32 = r.get(5)?;
        let instance_id: String = r.get(0)?;
        let last: i64 = r.get(6)?;
        let state = liveness.state(&instance_id, last, now).to_string();
        Ok(PeerState {
            is_self: self_id == Some(instance_id.as_str()),
            instance_id,
            hostname: r.get(1)?,
            addresses: serde_json::from_str(&addresses).unwrap_or_default(),
            seen_ip: r.get(3)?,
            software_version: r.get(4)?,
            protocol_version,
            state,
            last_heartbeat: last,
            event_rate: hb.map(|h| h.event_rate).unwrap_or(0.0),
            compatible: protocol_version == PROTOCOL_VERSION,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A member's last heartbeat, for the group pages.
pub fn last_heartbeats(
    conn: &Connection,
    group_id: &str,
) -> Result<Vec<(String, Option<Heartbeat>)>, DbError> {
    let mut stmt =
        conn.prepare("SELECT instance_id, heartbeat FROM members WHERE group_id = ?1")?;
    let rows = stmt.query_map([group_id], |r| {
        let hb: Option<String> = r.get(1)?;
        Ok((r.get(0)?, hb.and_then(|h| serde_json::from_str(&h).ok())))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_measured_on_the_monotonic_clock() {
        let l = Liveness::new(3, 5);
        let now = crate::clock::now_unix();
        // Heard just now: up, even if the wall clock jumped a day ahead.
        l.heard_from("a");
        assert_eq!(l.state("a", now - 86_400, now), "up");
        // Not heard since the cloud started: the stored time decides...
        assert_eq!(l.state("b", now - 1, now), "up");
        assert_eq!(l.state("b", now - 10, now), "down");
        // ...and a heartbeat "from the future" (the clock went back) is no
        // proof of life.
        assert_eq!(l.state("b", now + 3600, now), "down");
    }
}
