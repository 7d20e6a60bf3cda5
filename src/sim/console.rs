//! The simulator's console on standard input, shaped like a controller's:
//! `controller N` picks the controller to talk to (its name becomes the
//! prompt), and `show nmsp ...` (see `show`) then answers for that
//! controller only, as a real controller would; before any pick every
//! controller answers, each under its name. The auth list takes AireOS's own
//! command, so a demo authorises a connector by pasting what the
//! connector shows: `config auth-list add sha256-lbs-ssc <MAC> <key hash>`
//! (shared/NMSP.md), `config auth-list delete <MAC>`, `show auth-list`.
//! The simulator keeps one auth list for all its controllers, and the
//! `show auth-list` layout is ours (AireOS's is not published).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use super::{AuthList, Show, SimController, show_all};

pub struct Console {
    selected: Option<usize>,
    auth: Arc<AuthList>,
    /// Entries added at this console, by MAC address (lower case).
    entries: BTreeMap<String, String>,
}

const HELP: &str = "commands: controller N | show nmsp status | show nmsp statistics summary | \
show nmsp statistics connection | show nmsp subscription detail | \
config auth-list add sha256-lbs-ssc <MAC> <key hash> | config auth-list delete <MAC> | show auth-list";

impl Console {
    pub fn new(auth: Arc<AuthList>) -> Console {
        Console {
            selected: None,
            auth,
            entries: BTreeMap::new(),
        }
    }

    /// Runs one typed line; returns what the console prints.
    pub fn run(&mut self, line: &str, controllers: &[Arc<SimController>]) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => String::new(),
            ["controller", n] => match pick(n, controllers.len()) {
                Some(i) => {
                    self.selected = Some(i);
                    format!("{}#\n", controllers[i].spec.name)
                }
                None => format!("no controller {n} (1 to {})\n", controllers.len()),
            },
            ["show", "nmsp", ..] => match (Show::parse(&words), self.selected) {
                (Some(show), Some(i)) => show.render(&controllers[i]),
                (Some(show), None) => show_all(controllers, show),
                (None, _) => format!("unknown command: {line}\n{HELP}\n"),
            },
            ["config", "auth-list", "add", "sha256-lbs-ssc", mac, hash] => self.add(mac, hash),
            ["config", "auth-list", "add", kind, ..] => {
                format!("unsupported entry type {kind}: this simulator takes sha256-lbs-ssc\n")
            }
            ["config", "auth-list", "delete", mac] => {
                match self.entries.remove(&mac.to_ascii_lowercase()) {
                    Some(hash) => {
                        self.auth.disallow(&hash);
                        String::new()
                    }
                    None => format!("no auth-list entry for {mac}\n"),
                }
            }
            ["show", "auth-list"] => {
                let mut out = format!("{:<20}{:<16}{}\n", "Mac Address", "Cert Type", "Key Hash");
                out.push_str(&"-".repeat(100));
                out.push('\n');
                for (mac, hash) in &self.entries {
                    let _ = writeln!(out, "{mac:<20}{:<16}{hash}", "LBS-SSC-SHA256");
                }
                out
            }
            _ => format!("unknown command: {line}\n{HELP}\n"),
        }
    }

    fn add(&mut self, mac: &str, hash: &str) -> String {
        if !is_mac(mac) {
            return format!("invalid MAC address {mac} (expected xx:xx:xx:xx:xx:xx)\n");
        }
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return "invalid key hash (expected 64 hexadecimal digits, SHA-256)\n".into();
        }
        let (mac, hash) = (mac.to_ascii_lowercase(), hash.to_ascii_lowercase());
        if let Some(old) = self.entries.insert(mac, hash.clone()) {
            self.auth.disallow(&old);
        }
        self.auth.allow(&hash);
        String::new()
    }
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Controller `n` (counted from 1) of `len`, as an index.
pub fn pick(n: &str, len: usize) -> Option<usize> {
    n.parse::<usize>()
        .ok()
        .filter(|n| (1..=len).contains(n))
        .map(|n| n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "AB12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12";

    #[test]
    fn the_aireos_auth_list_commands_change_who_is_admitted() {
        let auth = AuthList::new(Vec::<String>::new(), false);
        let mut c = Console::new(auth.clone());
        let hash = HASH.to_ascii_lowercase();
        assert!(!auth.admits(&hash));
        let cmd = format!("config auth-list add sha256-lbs-ssc 02:AB:00:00:00:01 {HASH}");
        assert_eq!(c.run(&cmd, &[]), "");
        assert!(auth.admits(&hash), "admitted after the add");
        let shown = c.run("show auth-list", &[]);
        assert!(
            shown.contains("02:ab:00:00:00:01") && shown.contains(&hash),
            "{shown}"
        );
        assert!(
            c.run("config auth-list add sha256-lbs-ssc 02:ab:00:00:01 x", &[])
                .contains("invalid MAC")
        );
        assert!(
            c.run(
                "config auth-list add sha256-lbs-ssc 02:ab:00:00:00:02 abc",
                &[]
            )
            .contains("invalid key hash")
        );
        assert!(
            c.run(
                "config auth-list add sha1-lbs-ssc 02:ab:00:00:00:02 abc",
                &[]
            )
            .contains("unsupported")
        );
        assert_eq!(c.run("config auth-list delete 02:ab:00:00:00:01", &[]), "");
        assert!(!auth.admits(&hash), "refused after the delete");
        assert!(
            c.run("config auth-list delete 02:ab:00:00:00:01", &[])
                .contains("no auth-list entry")
        );
    }
}
