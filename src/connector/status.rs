//! The appliance's status summary: what the dashboard, `GET /api/v1/status`
//! and the console's `status` all show, computed once here.

use rusqlite::Connection;
use serde::Serialize;

use crate::VERSION;
use crate::connector::appliance::Appliance;
use crate::connector::client_privacy;
use crate::connector::controllers::{self, DeviceWords};
use crate::connector::stored_token::{self, StoredToken};
use crate::db::DbError;
use crate::host::local_addresses;
use crate::portal::auth::admin;

#[derive(Debug, Clone, Serialize)]
pub struct ApplianceStatus {
    pub version: &'static str,
    pub instance_id: String,
    pub hostname: String,
    pub addresses: Vec<String>,
    pub admin_set: bool,
    pub token: Option<StoredToken>,
    /// Events waiting in the spool, and events the spool cap dropped.
    pub spool: crate::connector::cloud_link::spool::SpoolTotals,
    pub controller_count: i64,
    /// "wireless" or "wired": the token's network, else that of the
    /// devices configured; none for a new connector.
    pub network: Option<&'static str>,
    /// What it dials: "controllers" or "switches".
    pub devices: &'static str,
    /// How pages name them.
    #[serde(skip)]
    pub words: DeviceWords,
    /// The tenant's client privacy: "hashed" or "off".
    pub privacy: &'static str,
    pub nmsp_key_hash: String,
    /// Times the state file could not be read or written, and the last.
    pub state_file_faults: crate::db::faults::StoreFaults,
}

/// Reads the summary; `conn` must be the appliance's own state file.
pub fn read(appliance: &Appliance, conn: &Connection) -> Result<ApplianceStatus, DbError> {
    let token = stored_token::get(conn)?;
    let controller_count = conn.query_row("SELECT COUNT(*) FROM controllers", [], |r| r.get(0))?;
    let network = controllers::network(conn)?;
    let words = DeviceWords::of(network);
    Ok(ApplianceStatus {
        version: VERSION,
        instance_id: appliance.instance_id.clone(),
        hostname: appliance.hostname.clone(),
        addresses: local_addresses(),
        admin_set: admin::exists(conn)?,
        spool: crate::connector::cloud_link::spool::totals(conn)?,
        token,
        controller_count,
        network: network.map(|n| n.as_str()),
        devices: words.many,
        words,
        privacy: client_privacy::label(&client_privacy::load(conn)?),
        nmsp_key_hash: appliance.nmsp.current().key_hash.clone(),
        state_file_faults: crate::db::faults::snapshot(),
    })
}

impl Appliance {
    /// The status summary, read on the blocking pool.
    pub async fn status(self: &std::sync::Arc<Self>) -> Result<ApplianceStatus, DbError> {
        let me = self.clone();
        self.db.call(move |c| read(&me, c)).await
    }
}
