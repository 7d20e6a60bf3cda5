//! A controller's configuration as an operator types it (form, API or
//! console) and as the cloud distributes it to every member of a group:
//! the one validation both ends apply, so a value the connector refuses is
//! refused by the cloud too.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::contract::token::NetworkKind;
use crate::fields::FieldErrors;

/// The NMSP port controllers listen on.
pub const DEFAULT_PORT: u16 = 16113;
const MAX_NAME: usize = 64;
const MAX_HOST: usize = 253;

/// What the connector dials: a wireless controller, or (for a wired
/// group) a switch's NMSP location service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControllerKind {
    /// AireOS wireless LAN controller.
    Aireos,
    /// Catalyst 9800.
    #[serde(rename = "catalyst9800")]
    Catalyst9800,
    /// A Catalyst switch (wired location service).
    CatalystSwitch,
}

impl ControllerKind {
    pub const ALL: [ControllerKind; 3] = [
        ControllerKind::Aireos,
        ControllerKind::Catalyst9800,
        ControllerKind::CatalystSwitch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ControllerKind::Aireos => "aireos",
            ControllerKind::Catalyst9800 => "catalyst9800",
            ControllerKind::CatalystSwitch => "catalyst-switch",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ControllerKind::Aireos => "AireOS WLC",
            ControllerKind::Catalyst9800 => "Catalyst 9800",
            ControllerKind::CatalystSwitch => "Catalyst switch",
        }
    }

    pub fn parse(s: &str) -> Option<ControllerKind> {
        ControllerKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The network a device of this kind serves.
    pub fn network(self) -> NetworkKind {
        match self {
            ControllerKind::Aireos | ControllerKind::Catalyst9800 => NetworkKind::Wireless,
            ControllerKind::CatalystSwitch => NetworkKind::Wired,
        }
    }

    /// The kinds a connector of `network` takes.
    pub fn of(network: NetworkKind) -> Vec<ControllerKind> {
        ControllerKind::ALL
            .into_iter()
            .filter(|k| k.network() == network)
            .collect()
    }
}

/// How pages, the API and the console name what a connector dials: a
/// wireless connector has controllers, a wired one switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeviceWords {
    pub one: &'static str,
    pub many: &'static str,
    #[serde(skip)]
    pub title: &'static str,
    #[serde(skip)]
    pub title_one: &'static str,
    /// The channel their events arrive on.
    #[serde(skip)]
    pub channel: &'static str,
}

impl DeviceWords {
    pub const CONTROLLERS: DeviceWords = DeviceWords {
        one: "controller",
        many: "controllers",
        title: "Controllers",
        title_one: "Controller",
        channel: "Controller Channel",
    };
    pub const SWITCHES: DeviceWords = DeviceWords {
        one: "switch",
        many: "switches",
        title: "Switches",
        title_one: "Switch",
        channel: "Switch Channel",
    };

    pub fn of(network: Option<NetworkKind>) -> DeviceWords {
        match network {
            Some(NetworkKind::Wired) => DeviceWords::SWITCHES,
            _ => DeviceWords::CONTROLLERS,
        }
    }
}
/// What an operator typed, unvalidated: every field is text so that a form
/// can be shown again exactly as it was entered.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ControllerInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub host: String,
    #[serde(default, deserialize_with = "text_or_number")]
    pub port: String,
    #[serde(default)]
    pub kind: String,
}

/// Lets JSON clients send the port as a number or as text.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(i64),
    }
    Ok(match TextOrNumber::deserialize(d)? {
        TextOrNumber::Text(s) => s,
        TextOrNumber::Number(n) => n.to_string(),
    })
}

/// A controller that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewController {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub kind: ControllerKind,
}
impl ControllerInput {
    pub fn validate(&self) -> Result<NewController, FieldErrors> {
        self.validate_for(None)
    }

    /// Validates for a connector (or group) of `network`, if known: the
    /// type defaults to that network's first, and a device of the other
    /// network is refused (a group never mixes).
    pub fn validate_for(&self, network: Option<NetworkKind>) -> Result<NewController, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = self.name.trim();
        if name.is_empty() {
            errors.add("name", "Enter a name for the controller.");
        } else if name.chars().count() > MAX_NAME {
            errors.add("name", format!("Use at most {MAX_NAME} characters."));
        } else if name.chars().any(char::is_control) {
            errors.add("name", "The name cannot contain control characters.");
        }
        let host = self.host.trim();
        let host_ok = validate_host(host);
        if let Err(msg) = &host_ok {
            errors.add("host", msg.clone());
        }
        let port_text = self.port.trim();
        let port = if port_text.is_empty() {
            Some(DEFAULT_PORT)
        } else {
            match port_text.parse::<u32>() {
                Ok(p) if (1..=65535).contains(&p) => Some(p as u16),
                _ => {
                    errors.add("port", "Enter a port between 1 and 65535.");
                    None
                }
            }
        };
        let kind = if self.kind.trim().is_empty() {
            Some(match network {
                Some(NetworkKind::Wired) => ControllerKind::CatalystSwitch,
                _ => ControllerKind::Aireos,
            })
        } else {
            let k = ControllerKind::parse(&self.kind);
            match (k, network) {
                (None, _) => errors.add(
                    "kind",
                    "Choose AireOS WLC, Catalyst 9800 or Catalyst switch.",
                ),
                (Some(k), Some(n)) if k.network() != n => errors.add("kind", mixing(n, k)),
                _ => {}
            }
            k
        };
        match (errors.is_empty(), host_ok, port, kind) {
            (true, Ok(host), Some(port), Some(kind)) => Ok(NewController {
                name: name.to_string(),
                host,
                port,
                kind,
            }),
            _ => Err(errors),
        }
    }
}

/// Why a device of `kind` cannot join a connector or group of `network`.
pub fn mixing(network: NetworkKind, kind: ControllerKind) -> String {
    match network {
        NetworkKind::Wired => format!(
            "This connector's token is for a wired network: it connects to switches, not to a {}.",
            kind.label()
        ),
        NetworkKind::Wireless => format!(
            "This connector's token is for a wireless network: it connects to wireless controllers, not to a {}.",
            kind.label()
        ),
    }
}

/// Accepts an IPv4/IPv6 address or an RFC 1123 host name; returns it in
/// canonical form (addresses normalised, names lower-cased) so that
/// duplicates are found whatever the spelling.
fn validate_host(host: &str) -> Result<String, String> {
    if host.is_empty() {
        return Err("Enter the controller's IP address or host name.".into());
    }
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(format!("{ip} cannot be a controller address."));
        }
        return Ok(ip.to_string());
    }
    let looks_numeric = host
        .split('.')
        .all(|l| l.chars().all(|c| c.is_ascii_digit()));
    if looks_numeric {
        return Err(format!("\"{host}\" is not a valid IPv4 address."));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > MAX_HOST || !crate::fields::is_dns_name(name) {
        return Err(format!(
            "\"{host}\" is not a valid IP address or host name."
        ));
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, host: &str, port: &str) -> ControllerInput {
        ControllerInput {
            name: name.into(),
            host: host.into(),
            port: port.into(),
            kind: "aireos".into(),
        }
    }

    #[test]
    fn accepts_addresses_and_names() {
        let ok = input("WLC 1", "10.0.0.1", "").validate().unwrap();
        assert_eq!(ok.port, DEFAULT_PORT);
        assert_eq!(input("a", "[::1]", "1").validate().unwrap().host, "::1");
        assert_eq!(
            input("a", "WLC-1.Example.com", "16113")
                .validate()
                .unwrap()
                .host,
            "wlc-1.example.com"
        );
    }

    #[test]
    fn rejects_bad_fields_with_messages_per_field() {
        let errs = input("", "10.0.0.300", "70000").validate().unwrap_err();
        assert!(errs.get("name").is_some());
        assert!(errs.get("host").unwrap().contains("10.0.0.300"));
        assert!(errs.get("port").is_some());
        assert!(input("a", "10.0.0.1", "0").validate().is_err());
        assert!(input("a", "bad host!", "1").validate().is_err());
        assert!(input("a", "0.0.0.0", "1").validate().is_err());
        let mut k = input("a", "10.0.0.1", "1");
        k.kind = "juniper".into();
        assert!(k.validate().unwrap_err().get("kind").is_some());
    }

    #[test]
    fn a_network_takes_only_its_own_devices() {
        let mut i = input("a", "10.0.0.1", "");
        i.kind = String::new();
        let wired = Some(NetworkKind::Wired);
        assert_eq!(
            i.validate_for(wired).unwrap().kind,
            ControllerKind::CatalystSwitch,
            "a wired connector's default"
        );
        i.kind = "aireos".into();
        let e = i.validate_for(wired).unwrap_err();
        assert!(e.get("kind").unwrap().contains("wired network"));
        i.kind = "catalyst-switch".into();
        let e = i.validate_for(Some(NetworkKind::Wireless)).unwrap_err();
        assert!(e.get("kind").unwrap().contains("wireless network"));
        assert_eq!(
            ControllerKind::of(NetworkKind::Wired),
            [ControllerKind::CatalystSwitch]
        );
        let json = serde_json::to_string(&ControllerKind::Catalyst9800).unwrap();
        assert_eq!(json, "\"catalyst9800\"", "stored names unchanged");
    }
}
