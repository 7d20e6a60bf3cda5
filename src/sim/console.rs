//! The simulator's console on standard input, shaped like a controller's:
//! `controller N` picks the controller to talk to (its name becomes the
//! prompt), and `show nmsp ...` (see `show`) then answers for that
//! controller only, as a real controller would; before any pick every
//! controller answers, each under its name.
//!
//! The auth list takes the controller's own commands, so a demo authorises
//! a connector by pasting what the connector shows (shared/NMSP.md):
//! - AireOS: `config auth-list add sha256-lbs-ssc <MAC> <key hash>`,
//!   `config auth-list delete <MAC>`;
//! - IOS-XE (Catalyst 9800), in configuration mode: `aaa attribute list
//!   cmx_<mac>` then ` attribute type password <key hash>`, then
//!   `username <mac> mac aaa attribute list cmx_<mac>` (the MAC without
//!   separators); `no username <mac>` removes it. The other lines the
//!   connector shows (`aaa new-model`, `aaa authorization credential-download
//!   ...`, `configure terminal`, `end`) are accepted as they are.
//!
//! The simulator keeps one auth list for all its controllers, and the
//! `show auth-list` layout is ours (neither controller's is published).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use super::{AuthList, Show, SimController, show_all};

/// Which controller software the console plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Os {
    /// AireOS (the older WLCs): `config auth-list ...`.
    Aireos,
    /// IOS-XE (Catalyst 9800): `username <mac> mac aaa attribute list ...`.
    Iosxe,
}

pub struct Console {
    os: Os,
    selected: Option<usize>,
    auth: Arc<AuthList>,
    /// Admitted MACs (12 lower-case hex digits) and their key hashes.
    entries: BTreeMap<String, String>,
    /// IOS-XE: attribute lists by name and the password they carry, and
    /// the list being configured.
    attribute_lists: BTreeMap<String, Option<String>>,
    open_list: Option<String>,
}

const SHOW_HELP: &str = "controller N | show nmsp status | show nmsp statistics summary | \
show nmsp statistics connection | show nmsp subscription detail | show auth-list";
const AIREOS_HELP: &str =
    "config auth-list add sha256-lbs-ssc <MAC> <key hash> | config auth-list delete <MAC>";
const IOSXE_HELP: &str = "aaa attribute list cmx_<mac> | attribute type password <key hash> | \
username <mac> mac aaa attribute list cmx_<mac> | no username <mac>";

impl Console {
    pub fn new(auth: Arc<AuthList>, os: Os) -> Console {
        Console {
            os,
            selected: None,
            auth,
            entries: BTreeMap::new(),
            attribute_lists: BTreeMap::new(),
            open_list: None,
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
                (None, _) => self.unknown(line),
            },
            ["show", "auth-list"] => self.show_auth_list(),
            _ => match self.os {
                Os::Aireos => self.aireos(&words, line),
                Os::Iosxe => self.iosxe(&words, line),
            },
        }
    }

    fn aireos(&mut self, words: &[&str], line: &str) -> String {
        match words {
            ["config", "auth-list", "add", "sha256-lbs-ssc", mac, hash] => {
                match mac_key(mac, ':') {
                    Some(mac) => self.admit(mac, hash),
                    None => format!("invalid MAC address {mac} (expected xx:xx:xx:xx:xx:xx)\n"),
                }
            }
            ["config", "auth-list", "add", kind, ..] => {
                format!("unsupported entry type {kind}: this simulator takes sha256-lbs-ssc\n")
            }
            ["config", "auth-list", "delete", mac] => match mac_key(mac, ':') {
                Some(mac) => self.remove(&mac),
                None => format!("invalid MAC address {mac}\n"),
            },
            _ => self.unknown(line),
        }
    }

    fn iosxe(&mut self, words: &[&str], line: &str) -> String {
        match words {
            ["configure", "terminal"]
            | ["conf", "t"]
            | ["end"]
            | ["exit"]
            | ["aaa", "new-model"] => {
                if matches!(words, ["end"] | ["exit"]) {
                    self.open_list = None;
                }
                String::new()
            }
            ["aaa", "authorization", "credential-download", _, "local"] => String::new(),
            ["aaa", "attribute", "list", name] => {
                self.attribute_lists.entry(name.to_string()).or_default();
                self.open_list = Some(name.to_string());
                String::new()
            }
            ["attribute", "type", "password", hash] => match (&self.open_list, is_hash(hash)) {
                (None, _) => "% attribute type is only valid under aaa attribute list\n".into(),
                (Some(_), false) => {
                    "% invalid key hash (expected 64 hexadecimal digits, SHA-256)\n".into()
                }
                (Some(list), true) => {
                    self.attribute_lists
                        .insert(list.clone(), Some(hash.to_ascii_lowercase()));
                    String::new()
                }
            },
            ["username", mac, "mac", "aaa", "attribute", "list", name] => {
                self.open_list = None;
                let Some(mac) = mac_key(mac, '\0') else {
                    return format!("% invalid MAC user name {mac} (12 hexadecimal digits)\n");
                };
                match self.attribute_lists.get(*name) {
                    Some(Some(hash)) => {
                        let hash = hash.clone();
                        self.admit(mac, &hash)
                    }
                    _ => format!("% attribute list {name} has no password: configure it first\n"),
                }
            }
            ["no", "username", mac] => match mac_key(mac, '\0') {
                Some(mac) => self.remove(&mac),
                None => format!("% invalid MAC user name {mac}\n"),
            },
            _ => self.unknown(line),
        }
    }

    fn admit(&mut self, mac: String, hash: &str) -> String {
        if !is_hash(hash) {
            return "invalid key hash (expected 64 hexadecimal digits, SHA-256)\n".into();
        }
        let hash = hash.to_ascii_lowercase();
        if let Some(old) = self.entries.insert(mac, hash.clone()) {
            self.auth.disallow(&old);
        }
        self.auth.allow(&hash);
        String::new()
    }

    fn remove(&mut self, mac: &str) -> String {
        match self.entries.remove(mac) {
            Some(hash) => {
                self.auth.disallow(&hash);
                String::new()
            }
            None => format!("no auth-list entry for {}\n", colons(mac)),
        }
    }

    fn show_auth_list(&self) -> String {
        let mut out = format!("{:<20}{:<16}{}\n", "Mac Address", "Cert Type", "Key Hash");
        out.push_str(&"-".repeat(100));
        out.push('\n');
        for (mac, hash) in &self.entries {
            let _ = writeln!(out, "{:<20}{:<16}{hash}", colons(mac), "LBS-SSC-SHA256");
        }
        out
    }

    fn unknown(&self, line: &str) -> String {
        let own = match self.os {
            Os::Aireos => AIREOS_HELP,
            Os::Iosxe => IOSXE_HELP,
        };
        format!("unknown command: {line}\ncommands: {SHOW_HELP} | {own}\n")
    }
}

/// A MAC as 12 lower-case hex digits: `sep` separates its pairs (AireOS
/// writes `xx:xx:...`), or `'\0'` for none (a 9800 user name).
fn mac_key(s: &str, sep: char) -> Option<String> {
    let digits: String = if sep == '\0' {
        s.to_string()
    } else {
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        parts.concat()
    };
    (digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| digits.to_ascii_lowercase())
}

fn colons(mac: &str) -> String {
    mac.as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
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
        let mut c = Console::new(auth.clone(), Os::Aireos);
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
        let bad_mac = c.run("config auth-list add sha256-lbs-ssc 02:ab:00:00:01 x", &[]);
        assert!(bad_mac.contains("invalid MAC"), "{bad_mac}");
        let short = c.run(
            "config auth-list add sha256-lbs-ssc 02:ab:00:00:00:02 abc",
            &[],
        );
        assert!(short.contains("invalid key hash"), "{short}");
        let sha1 = c.run(
            "config auth-list add sha1-lbs-ssc 02:ab:00:00:00:02 abc",
            &[],
        );
        assert!(sha1.contains("unsupported"), "{sha1}");
        let nine = c.run("username 02ab00000001 mac aaa attribute list cmx_x", &[]);
        assert!(
            nine.contains("unknown command"),
            "not an AireOS command: {nine}"
        );
        assert_eq!(c.run("config auth-list delete 02:ab:00:00:00:01", &[]), "");
        assert!(!auth.admits(&hash), "refused after the delete");
        let again = c.run("config auth-list delete 02:ab:00:00:00:01", &[]);
        assert!(again.contains("no auth-list entry"), "{again}");
    }

    #[test]
    fn the_catalyst_9800_configuration_admits_by_mac_user_name() {
        let auth = AuthList::new(Vec::<String>::new(), false);
        let mut c = Console::new(auth.clone(), Os::Iosxe);
        let hash = HASH.to_ascii_lowercase();
        // The block the connector shows, pasted line by line.
        let pasted = format!(
            "configure terminal\naaa new-model\n\
             aaa authorization credential-download wcm_loc_serv_cert local\n\
             aaa attribute list cmx_02ab00000001\n attribute type password {HASH}\n\
             username 02ab00000001 mac aaa attribute list cmx_02ab00000001\nend"
        );
        for line in pasted.lines() {
            assert_eq!(c.run(line, &[]), "", "{line}");
        }
        assert!(auth.admits(&hash), "admitted once the user name is bound");
        assert!(c.run("show auth-list", &[]).contains("02:ab:00:00:00:01"));
        let unbound = c.run("username 02ab00000002 mac aaa attribute list cmx_none", &[]);
        assert!(unbound.contains("no password"), "{unbound}");
        let stray = c.run(&format!("attribute type password {HASH}"), &[]);
        assert!(stray.contains("only valid under"), "{stray}");
        let aireos = c.run(
            &format!("config auth-list add sha256-lbs-ssc 02:ab:00:00:00:03 {HASH}"),
            &[],
        );
        assert!(aireos.contains("unknown command"), "{aireos}");
        assert_eq!(c.run("no username 02ab00000001", &[]), "");
        assert!(!auth.admits(&hash), "refused after no username");
    }
}
