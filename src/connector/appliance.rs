//! The appliance's state at run time: the state file plus what was made at
//! first boot (instance id, web certificate, NMSP identity). Opened the same
//! way by the service and by console commands.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use rusqlite::{Connection, OptionalExtension};

use crate::connector::client_privacy;
use crate::connector::nmsp_identity::NmspIdentityCell;
use crate::connector::schema;
use crate::connector::web_cert::WebCertCell;
use crate::contract::controller::ControllerKind;
use crate::contract::controller::DeviceWords;
use crate::contract::token::NetworkKind;
use crate::db::{Db, DbError};
use crate::host::local_addresses;
use crate::nmsp::pseudonym::Privacy;
use crate::tls::identity::{IdentityError, KeyKind};

/// Everything a request handler or console command needs.
pub struct Appliance {
    pub db: Db,
    pub data_dir: PathBuf,
    pub instance_id: String,
    /// The secret the cloud binds this instance's membership to.
    member_key: String,
    pub hostname: String,
    /// The admin UI's certificate, swapped without a restart.
    pub web_cert: Arc<WebCertCell>,
    /// The key controllers authorise; replaced only by an explicit re-key.
    pub nmsp: Arc<NmspIdentityCell>,
    /// The tenant's client privacy, as last received from the cloud.
    pub privacy: Privacy,
    /// Whether this connector serves a wired network (its devices are
    /// switches), as last read from the state file.
    wired: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplianceError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl Appliance {
    /// Opens `<data_dir>/connector.db`, running first-boot set-up if needed.
    pub fn open(data_dir: &Path) -> Result<Appliance, ApplianceError> {
        let db = schema::open(data_dir)?;
        let hostname = gethostname::gethostname().to_string_lossy().into_owned();
        let instance_id = db.call_blocking(|conn| {
            made_once(conn, INSTANCE_ID_KEY, || uuid::Uuid::new_v4().to_string())
        })?;
        let mut names = vec![hostname.clone(), "localhost".to_string()];
        names.extend(local_addresses());
        names.sort();
        names.dedup();
        let web_cert = Arc::new(WebCertCell::open(db.clone(), &hostname, names)?);
        let member_key = db.call_blocking(|conn| {
            made_once(conn, MEMBER_KEY, crate::portal::auth::random_secret)
        })?;
        let nmsp = Arc::new(NmspIdentityCell::open(db.clone(), &instance_id)?);
        let privacy = Privacy::default();
        privacy.set(client_privacy::schedule(
            &db.call_blocking(|c| client_privacy::load(c))?,
        ));
        let wired = db.call_blocking(|c| crate::connector::controllers::network(c))?
            == Some(NetworkKind::Wired);
        Ok(Appliance {
            wired: AtomicBool::new(wired),
            privacy,
            db,
            data_dir: data_dir.to_path_buf(),
            instance_id,
            member_key,
            hostname,
            web_cert,
            nmsp,
        })
    }

    /// How pages name this connector's devices (controllers or switches).
    pub fn words(&self) -> DeviceWords {
        if self.wired.load(Relaxed) {
            DeviceWords::SWITCHES
        } else {
            DeviceWords::CONTROLLERS
        }
    }

    /// Re-reads which network this connector serves (its token may have
    /// changed, from any page, the API or the console).
    pub async fn refresh_words(&self) -> Result<DeviceWords, DbError> {
        let network = self
            .db
            .call(|c| crate::connector::controllers::network(c))
            .await?;
        self.wired
            .store(network == Some(NetworkKind::Wired), Relaxed);
        Ok(self.words())
    }

    /// How this connector introduces itself to the cloud; `source` is the
    /// address it connects from, when pinned.
    pub fn introduction(
        &self,
        source: Option<std::net::IpAddr>,
    ) -> crate::connector::cloud_link::enroll::Introduction {
        let mut addresses = local_addresses();
        if let Some(ip) = source {
            addresses.retain(|a| *a != ip.to_string());
            addresses.insert(0, ip.to_string());
        }
        crate::connector::cloud_link::enroll::Introduction {
            instance_id: self.instance_id.clone(),
            member_key: self.member_key.clone(),
            hostname: self.hostname.clone(),
            addresses,
        }
    }

    /// The command an AireOS controller needs to authorise this connector.
    pub fn aireos_auth_command(&self) -> String {
        self.auth_command(ControllerKind::Aireos, &self.nmsp_mac_label())
    }

    /// The Catalyst 9800 equivalent, in configuration mode.
    pub fn catalyst_auth_command(&self) -> String {
        self.auth_command(ControllerKind::Catalyst9800, &self.nmsp_mac_label())
    }

    /// What to paste on a controller of type `kind` that knows this
    /// connector by `mac`. AireOS: an auth-list entry with the MAC and the
    /// key hash. Catalyst 9800: the MAC without separators is a user name
    /// whose AAA attribute list carries the key hash as its password
    /// (shared/NMSP.md), and the controller must look location servers up
    /// in its local credentials.
    pub fn auth_command(&self, kind: ControllerKind, mac: &str) -> String {
        auth_command(kind, mac, &self.nmsp.current().key_hash)
    }

    /// The NMSP identity as the Controllers page and the API show it.
    pub fn identity_view(&self) -> IdentityView {
        let nmsp = self.nmsp.current();
        // Looked up once: the commands name the very MAC shown.
        let mac = self.nmsp_mac_label();
        IdentityView {
            key_type: nmsp.kind,
            key_type_label: nmsp.kind.label(),
            key_hash: nmsp.key_hash.clone(),
            key_hash_sha1: nmsp.key_hash_sha1.clone(),
            aireos_command: auth_command(ControllerKind::Aireos, &mac, &nmsp.key_hash),
            catalyst_command: auth_command(ControllerKind::Catalyst9800, &mac, &nmsp.key_hash),
            mac,
            certificate_pem: nmsp.identity.cert_pem.clone(),
        }
    }

    /// The MAC a controller at `ip` sees: that of the interface routing
    /// to it, else the default route's, else the derived one.
    pub fn mac_towards(&self, ip: std::net::IpAddr) -> String {
        crate::host::route_mac(Some(ip)).unwrap_or_else(|| self.nmsp_mac_label())
    }

    /// The MAC address controllers know this connector by: the interface
    /// on the default route (the image's NIC), or where there is none, a
    /// stable, locally administered one derived from the instance id.
    pub fn nmsp_mac_label(&self) -> String {
        crate::host::route_mac(None).unwrap_or_else(|| self.derived_mac())
    }

    fn derived_mac(&self) -> String {
        let hex: Vec<u8> = self
            .instance_id
            .bytes()
            .filter(u8::is_ascii_hexdigit)
            .take(10)
            .collect();
        let hex = String::from_utf8_lossy(&hex).to_ascii_lowercase();
        let mut mac = String::from("02");
        for pair in hex.as_bytes().chunks(2) {
            mac.push(':');
            mac.push_str(&String::from_utf8_lossy(pair));
        }
        mac
    }
}

/// What an admin needs to authorise this connector on a controller.
#[derive(Debug, serde::Serialize)]
pub struct IdentityView {
    pub key_type: KeyKind,
    pub key_type_label: &'static str,
    pub mac: String,
    pub key_hash: String,
    pub key_hash_sha1: String,
    pub aireos_command: String,
    pub catalyst_command: String,
    pub certificate_pem: String,
}

/// What to paste on a controller of type `kind` to authorise the key
/// `hash` of a location server known by `mac`.
pub fn auth_command(kind: ControllerKind, mac: &str, hash: &str) -> String {
    match kind {
        ControllerKind::Aireos => format!("config auth-list add sha256-lbs-ssc {mac} {hash}"),
        // A Catalyst switch runs IOS XE like the 9800 and authorises a
        // location server the same way (our reading: Cisco documents the
        // 9800's form; the switch guides name no other).
        ControllerKind::Catalyst9800 | ControllerKind::CatalystSwitch => {
            let mac = mac.replace(':', "");
            format!(
                "aaa new-model\n\
                 aaa authorization credential-download wcm_loc_serv_cert local\n\
                 aaa attribute list cmx_{mac}\n \
                 attribute type password {hash}\n\
                 username {mac} mac aaa attribute list cmx_{mac}"
            )
        }
    }
}

const INSTANCE_ID_KEY: &str = "instance_id";
const MEMBER_KEY: &str = "member_key";

/// A setting made once, at first boot, and kept for good.
fn made_once(
    conn: &Connection,
    key: &str,
    make: impl FnOnce() -> String,
) -> Result<String, DbError> {
    conn.execute(
        "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
        [key, &make()],
    )?;
    let value: Option<String> = conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?;
    value.ok_or_else(|| DbError::Task(format!("{key} missing")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_boot_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = Appliance::open(dir.path()).unwrap();
        let b = Appliance::open(dir.path()).unwrap();
        assert_eq!(a.instance_id, b.instance_id);
        assert_eq!(
            a.web_cert.identity().cert_pem,
            b.web_cert.identity().cert_pem
        );
        let (na, nb) = (a.nmsp.current(), b.nmsp.current());
        assert_eq!(na.key_hash, nb.key_hash);
        assert_ne!(a.web_cert.identity().key_pem, na.identity.key_pem);
        assert!(a.aireos_auth_command().ends_with(&na.key_hash));
        assert_eq!(na.key_hash_sha1, nb.key_hash_sha1);
        assert_eq!(na.key_hash_sha1.len(), 40, "SHA-1, hex");
        // AireOS: the MAC with colons; the 9800: the MAC without, as a
        // user name whose attribute list carries the key hash.
        let mac = a.nmsp_mac_label();
        assert_eq!(mac.len(), 17);
        assert!(a.aireos_auth_command().contains(&format!(" {mac} ")));
        let plain = mac.replace(':', "");
        let c9800 = a.catalyst_auth_command();
        assert!(
            c9800.contains(&format!(
                "username {plain} mac aaa attribute list cmx_{plain}"
            )),
            "{c9800}"
        );
        assert!(
            c9800.contains(&format!("attribute type password {}", na.key_hash)),
            "{c9800}"
        );
        // Per controller: the MAC of the interface that routes to it; a
        // loopback controller sees none, so the default one stands in.
        let other = a.auth_command(ControllerKind::Aireos, "02:00:00:00:00:09");
        assert!(other.contains(" 02:00:00:00:00:09 "), "{other}");
        assert_eq!(a.mac_towards(std::net::IpAddr::from([127, 0, 0, 1])), mac);
        assert_eq!(a.nmsp_mac_label().len(), 17);
    }
}
