//! The support bundle: one `.tar.gz` an admin hands to support, holding
//! what a diagnosis needs and no secret. The state file's part (version,
//! configuration, audit trail, spool) is made here for the console and
//! the service alike; the running service adds its live part (sessions,
//! statistics, cloud link and peers, clock, recent log) in `web`.
//!
//! Nothing is redacted after the fact: every file is made from the views
//! pages already show, which never hold a password, token, credential or
//! private key (a test unpacks a bundle and looks for each).

use std::io::Write;

use rusqlite::Connection;
use serde::Serialize;
use serde_json::json;

use crate::clock::now_unix;
use crate::connector::appliance::Appliance;
use crate::connector::{access_points, controllers, first_boot, network, proxy, status};
use crate::db::DbError;
use crate::portal::audit;
use crate::portal::auth::api_tokens;

/// What a bundle says of itself, first in the archive.
const README: &str = "\
Spaces Connector support bundle.

version.txt            version, host, addresses, when this was made, system uptime
status.json            the dashboard's summary (token's tenant, spool, state-file faults)
controllers.json       controllers as configured, with their accepted key hashes
access-points.json     the AP Channel's allow-list
network.json           network settings (and a change awaiting confirmation)
proxy.json             the cloud proxy (whether a password is set, never the password)
identity.json          the NMSP identity controllers authorise (public key hashes, MAC)
web-certificate.json   the admin UI's certificate
api-tokens.json        API token names, scopes and last use (never the tokens)
first-boot.json        what a headless first boot applied
audit.json             the audit trail: who changed what, from where

From the running service (a bundle made at the console has journal.txt instead):
cloud-link.json        the cloud link: state, last error, spool, losses, peers of the pair
clock.json             whether the clock is synchronised, server and offset
controller-sessions.txt  each controller session: status, echoes, data, reconnects, last error
ap-sessions.txt        the same for AP Channel links
statistics.json        every figure of the Statistics page
logs.txt               the service's recent log
";

/// A bundle being put together: named files.
pub struct SupportBundle {
    made_at: i64,
    hostname: String,
    files: Vec<(String, Vec<u8>)>,
}

impl SupportBundle {
    /// The state file's part: everything but live sessions and the log.
    pub fn from_state_file(a: &Appliance, c: &Connection) -> Result<SupportBundle, DbError> {
        let made_at = now_unix();
        let mut b = SupportBundle {
            made_at,
            hostname: a.hostname.clone(),
            files: Vec::new(),
        };
        b.add_text("README.txt", README.to_string());
        let st = status::read(a, c)?;
        b.add_text(
            "version.txt",
            format!(
                "Spaces Connector {}\ninstance {}\nhost {}\naddresses {}\nmade {}\nsystem uptime {}\n",
                st.version,
                st.instance_id,
                st.hostname,
                st.addresses.join(", "),
                crate::clock::format_unix(made_at),
                system_uptime()
            ),
        );
        b.add_json("status.json", &st);
        b.add_json("controllers.json", &controllers::list(c)?);
        b.add_json("access-points.json", &access_points::list(c)?);
        b.add_json(
            "network.json",
            &json!({
                "settings": network::settings::get(c)?.input(),
                "awaiting_confirmation": network::confirm::pending(c)?.is_some(),
            }),
        );
        b.add_json("proxy.json", &proxy::get(c)?.view());
        let mut identity = serde_json::to_value(a.identity_view()).unwrap_or_default();
        // The certificate is public, but long and of no use to a reader.
        identity["certificate_pem"] = json!("(left out)");
        b.add_json("identity.json", &identity);
        b.add_json("web-certificate.json", &a.web_cert.info());
        let tokens: Vec<_> = api_tokens::list(c)?
            .into_iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "scope": t.scope.as_str(),
                    "created_at": t.created_at,
                    "last_used": t.last_used,
                })
            })
            .collect();
        b.add_json("api-tokens.json", &tokens);
        b.add_json("first-boot.json", &first_boot::get(c)?);
        b.add_json("audit.json", &audit::recent(c, audit::KEEP)?);
        Ok(b)
    }

    pub fn add_json(&mut self, name: &str, value: &impl Serialize) {
        let body = serde_json::to_vec_pretty(value)
            .unwrap_or_else(|e| format!("could not write {name}: {e}").into_bytes());
        self.files.push((name.to_string(), body));
    }

    pub fn add_text(&mut self, name: &str, text: String) {
        self.files.push((name.to_string(), text.into_bytes()));
    }

    /// `spaces-connector-support-<host>-<unix time>`: the archive's top
    /// folder, and with `.tar.gz` its file name.
    pub fn name(&self) -> String {
        let host: String = self
            .hostname
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("spaces-connector-support-{host}-{}", self.made_at)
    }

    /// The archive.
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        let top = self.name();
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (name, body) in &self.files {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o600);
            h.set_mtime(self.made_at.max(0) as u64);
            h.set_cksum();
            tar.append_data(&mut h, format!("{top}/{name}"), &body[..])?;
        }
        let mut gz = tar.into_inner()?;
        gz.flush()?;
        gz.finish()
    }
}

/// The machine's uptime, from `/proc/uptime` (Linux).
fn system_uptime() -> String {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map(|secs| {
            let s = secs as u64;
            format!("{}d {:02}h {:02}m", s / 86_400, s / 3600 % 24, s / 60 % 60)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The controller sessions as a table, with the figures a controller's
/// `show nmsp status` shows from its side (echoes, data in and out).
pub fn sessions_table(links: &[crate::nmsp::link_stats::LinkSnapshot]) -> String {
    let mut out = format!(
        "{:<24} {:<40} {:<10} {:>10} {:>10} {:>12} {:>12} {:>10}  {}\n",
        "Name",
        "Address",
        "Status",
        "Tx Echo",
        "Rx Echo",
        "Rx Data",
        "Tx Data",
        "Reconnects",
        "Last error"
    );
    for l in links {
        out.push_str(&format!(
            "{:<24} {:<40} {:<10} {:>10} {:>10} {:>12} {:>12} {:>10}  {}\n",
            l.name,
            l.address,
            l.status_label,
            l.echo_requests_sent,
            l.echo_responses_received,
            l.msgs_in,
            l.msgs_out,
            l.reconnects,
            l.last_error.as_deref().unwrap_or("")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_of_named_files_under_one_folder() {
        let mut b = SupportBundle {
            made_at: 1_800_000_000,
            hostname: "conn 1".into(),
            files: Vec::new(),
        };
        b.add_text("a.txt", "hello".into());
        b.add_json("b.json", &json!({"x": 1}));
        assert_eq!(b.name(), "spaces-connector-support-conn_1-1800000000");
        let bytes = b.finish().unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "spaces-connector-support-conn_1-1800000000/a.txt",
                "spaces-connector-support-conn_1-1800000000/b.json"
            ]
        );
    }
}
