//! Network settings, their field-by-field checks and their storage.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::db::DbError;
use crate::fields::FieldErrors;

/// Checked settings, as stored and rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSettings {
    pub hostname: String,
    /// None: DHCP.
    pub ipv4: Option<StaticV4>,
    /// None: router advertisements only (SLAAC), as networkd does anyway.
    pub ipv6: Option<StaticV6>,
    pub dns: Vec<IpAddr>,
    pub search: Vec<String>,
    pub ntp: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticV4 {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticV6 {
    pub address: Ipv6Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv6Addr>,
}

impl Default for NetworkSettings {
    /// A fresh image: DHCP, the image's host name, no fixed servers.
    fn default() -> Self {
        NetworkSettings {
            hostname: "spaces-connector".into(),
            ipv4: None,
            ipv6: None,
            dns: Vec::new(),
            search: Vec::new(),
            ntp: Vec::new(),
        }
    }
}

/// What an admin types (form, API, console, config drive): text fields,
/// lists comma or space separated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkInput {
    pub hostname: String,
    /// `dhcp` or `static`.
    pub mode: String,
    /// `10.0.0.5/24`
    pub address: String,
    pub gateway: String,
    /// `2001:db8::5/64`, optional.
    pub ipv6_address: String,
    pub ipv6_gateway: String,
    pub dns: String,
    pub search: String,
    pub ntp: String,
}

impl NetworkSettings {
    /// The form filled with these settings.
    pub fn input(&self) -> NetworkInput {
        let list = |v: Vec<String>| v.join(", ");
        NetworkInput {
            hostname: self.hostname.clone(),
            mode: if self.ipv4.is_some() {
                "static"
            } else {
                "dhcp"
            }
            .into(),
            address: self
                .ipv4
                .map(|s| format!("{}/{}", s.address, s.prefix))
                .unwrap_or_default(),
            gateway: self
                .ipv4
                .and_then(|s| s.gateway)
                .map(|g| g.to_string())
                .unwrap_or_default(),
            ipv6_address: self
                .ipv6
                .map(|s| format!("{}/{}", s.address, s.prefix))
                .unwrap_or_default(),
            ipv6_gateway: self
                .ipv6
                .and_then(|s| s.gateway)
                .map(|g| g.to_string())
                .unwrap_or_default(),
            dns: list(self.dns.iter().map(IpAddr::to_string).collect()),
            search: list(self.search.clone()),
            ntp: list(self.ntp.clone()),
        }
    }

    /// The address to open the admin UI at after these settings apply
    /// (None with DHCP: the address is the DHCP server's choice).
    pub fn admin_address(&self) -> Option<IpAddr> {
        self.ipv4.map(|s| IpAddr::V4(s.address))
    }
}

impl NetworkInput {
    /// Checks every field; bad input is named field by field.
    pub fn validate(&self) -> Result<NetworkSettings, FieldErrors> {
        let mut e = FieldErrors::default();
        let hostname = self.hostname.trim().to_ascii_lowercase();
        if !crate::fields::is_dns_label(&hostname) {
            e.add(
                "hostname",
                "letters, digits and hyphens, at most 63, not starting or ending with a hyphen",
            );
        }
        let ipv4 = match self.mode.trim() {
            "dhcp" | "" => None,
            "static" => static_v4(&self.address, &self.gateway, &mut e),
            _ => {
                e.add("mode", "dhcp or static");
                None
            }
        };
        let ipv6 = if self.ipv6_address.trim().is_empty() {
            if !self.ipv6_gateway.trim().is_empty() {
                e.add("ipv6_gateway", "a gateway needs a static IPv6 address");
            }
            None
        } else {
            static_v6(&self.ipv6_address, &self.ipv6_gateway, &mut e)
        };
        let dns: Vec<IpAddr> = items(&self.dns)
            .filter_map(|d| match d.parse() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    e.add("dns", format!("{d:?} is not an IP address"));
                    None
                }
            })
            .collect();
        if dns.len() > 3 {
            e.add("dns", "at most 3 DNS servers");
        }
        if self.mode.trim() == "static" && dns.is_empty() && e.get("dns").is_none() {
            e.add("dns", "a static address needs at least one DNS server");
        }
        let search: Vec<String> = items(&self.search).map(str::to_ascii_lowercase).collect();
        if let Some(bad) = search.iter().find(|d| !crate::fields::is_dns_name(d)) {
            e.add("search", format!("{bad:?} is not a domain name"));
        } else if search.len() > 6 {
            e.add("search", "at most 6 search domains");
        }
        let ntp: Vec<String> = items(&self.ntp).map(str::to_ascii_lowercase).collect();
        if let Some(bad) = ntp
            .iter()
            .find(|n| n.parse::<IpAddr>().is_err() && !crate::fields::is_dns_name(n))
        {
            e.add("ntp", format!("{bad:?} is not a host name or IP address"));
        } else if ntp.len() > 5 {
            e.add("ntp", "at most 5 NTP servers");
        }
        if !e.is_empty() {
            return Err(e);
        }
        Ok(NetworkSettings {
            hostname,
            ipv4,
            ipv6,
            dns,
            search,
            ntp,
        })
    }
}

fn items(s: &str) -> impl Iterator<Item = &str> {
    s.split([',', ' ', '\n', '\t'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
}

/// `addr/prefix` into its parts; the message names the field's shape.
fn cidr<A: std::str::FromStr>(s: &str, max: u8) -> Option<(A, u8)> {
    let (a, p) = s.trim().split_once('/')?;
    let p: u8 = p.parse().ok().filter(|p| (1..=max).contains(p))?;
    Some((a.parse().ok()?, p))
}

fn static_v4(address: &str, gateway: &str, e: &mut FieldErrors) -> Option<StaticV4> {
    let Some((address, prefix)) = cidr::<Ipv4Addr>(address, 32) else {
        e.add(
            "address",
            "an IPv4 address with its prefix, such as 10.0.0.5/24",
        );
        return None;
    };
    if address.is_unspecified() || address.is_multicast() || address.is_loopback() {
        e.add("address", "not a host address");
        return None;
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let host = u32::from(address) & !mask;
    if prefix < 31 && (host == 0 || host == !mask) {
        e.add(
            "address",
            format!("{address} is the network or broadcast address of /{prefix}"),
        );
    }
    let gateway = match gateway.trim() {
        "" => None,
        g => match g.parse::<Ipv4Addr>() {
            Ok(g) if u32::from(g) & mask == u32::from(address) & mask && g != address => Some(g),
            Ok(g) => {
                e.add(
                    "gateway",
                    format!("{g} is not another address in {address}/{prefix}"),
                );
                None
            }
            Err(_) => {
                e.add("gateway", "an IPv4 address");
                None
            }
        },
    };
    Some(StaticV4 {
        address,
        prefix,
        gateway,
    })
}

fn static_v6(address: &str, gateway: &str, e: &mut FieldErrors) -> Option<StaticV6> {
    let Some((address, prefix)) = cidr::<Ipv6Addr>(address, 128) else {
        e.add(
            "ipv6_address",
            "an IPv6 address with its prefix, such as 2001:db8::5/64",
        );
        return None;
    };
    let gateway = match gateway.trim() {
        "" => None,
        g => match g.parse::<Ipv6Addr>() {
            Ok(g) => Some(g),
            Err(_) => {
                e.add("ipv6_gateway", "an IPv6 address");
                None
            }
        },
    };
    Some(StaticV6 {
        address,
        prefix,
        gateway,
    })
}

const KEY: &str = "network";

/// The stored settings (the image's defaults before any were made).
pub fn get(conn: &Connection) -> Result<NetworkSettings, DbError> {
    Ok(crate::db::settings::get(conn, KEY)?.unwrap_or_default())
}

pub fn put(conn: &Connection, settings: &NetworkSettings) -> Result<(), DbError> {
    crate::db::settings::put(conn, KEY, settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> NetworkInput {
        NetworkInput {
            hostname: "Conn-1".into(),
            mode: "static".into(),
            address: "10.0.2.50/24".into(),
            gateway: "10.0.2.2".into(),
            dns: "10.0.2.3, 10.0.2.4".into(),
            search: "corp.example".into(),
            ntp: "ntp.corp.example 10.0.2.2".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_static_address_is_checked_and_round_trips_through_the_form() {
        let s = input().validate().unwrap();
        assert_eq!(s.hostname, "conn-1");
        assert_eq!(s.admin_address(), Some("10.0.2.50".parse().unwrap()));
        assert_eq!(s.ntp, vec!["ntp.corp.example", "10.0.2.2"]);
        assert_eq!(
            s.input().validate().unwrap(),
            s,
            "what the form shows is what is stored"
        );
        let dhcp = NetworkInput {
            hostname: "c".into(),
            mode: "dhcp".into(),
            ..Default::default()
        };
        assert_eq!(dhcp.validate().unwrap().ipv4, None);
    }

    #[test]
    fn every_bad_field_is_named() {
        for (change, field) in [
            (("hostname", "bad_name"), "hostname"),
            (("mode", "bootp"), "mode"),
            (("address", "10.0.2.50"), "address"),
            (("address", "10.0.2.0/24"), "address"),
            (("address", "10.0.2.50/33"), "address"),
            (("gateway", "10.0.3.1"), "gateway"),
            (("gateway", "10.0.2.50"), "gateway"),
            (("ipv6_address", "2001:db8::5"), "ipv6_address"),
            (("ipv6_gateway", "fe80::1"), "ipv6_gateway"),
            (("dns", ""), "dns"),
            (("dns", "ns1.example"), "dns"),
            (("dns", "1.1.1.1 1.0.0.1 8.8.8.8 8.8.4.4"), "dns"),
            (("search", "bad domain!"), "search"),
            (("ntp", "not a/host"), "ntp"),
        ] {
            let mut i = input();
            let (name, value) = change;
            let slot = match name {
                "hostname" => &mut i.hostname,
                "mode" => &mut i.mode,
                "address" => &mut i.address,
                "gateway" => &mut i.gateway,
                "ipv6_address" => &mut i.ipv6_address,
                "ipv6_gateway" => &mut i.ipv6_gateway,
                "dns" => &mut i.dns,
                "search" => &mut i.search,
                _ => &mut i.ntp,
            };
            *slot = value.into();
            let errors = i.validate().expect_err(name);
            assert!(errors.get(field).is_some(), "{name}={value}: {errors:?}");
        }
    }
}
