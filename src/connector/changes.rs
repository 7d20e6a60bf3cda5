//! How the audit trail names each change to a connector: one function per
//! kind of change, shared by the pages, the API and the console, so the
//! same change reads the same whoever made it. Never a secret: names,
//! addresses and key hashes (public by design), never a password, token
//! or private key.

use crate::connector::access_points::AccessPoint;
use crate::connector::controllers::Controller;
use crate::connector::network::NetworkInput;
use crate::connector::stored_token::StoredToken;
use crate::portal::audit::Audited;

fn controller_text(c: &Controller) -> String {
    format!("{} at {}:{} ({})", c.name, c.host, c.port, c.kind.label())
}

pub fn controller_added(c: &Controller) -> Audited {
    Audited::new("controller.add", controller_text(c))
}

pub fn controller_removed(c: &Controller) -> Audited {
    Audited::new("controller.remove", controller_text(c))
}

pub fn controller_key_accepted(c: &Controller) -> Audited {
    Audited::new(
        "controller.accept_key",
        format!(
            "{}: now trusts key {}",
            controller_text(c),
            c.cert_pin.as_deref().unwrap_or("?")
        ),
    )
}

fn access_point_text(ap: &AccessPoint) -> String {
    format!("{} (key {})", ap.name, ap.key_hash)
}

pub fn access_point_added(ap: &AccessPoint) -> Audited {
    Audited::new("access_point.add", access_point_text(ap))
}

pub fn access_point_removed(ap: &AccessPoint) -> Audited {
    Audited::new("access_point.remove", access_point_text(ap))
}

pub fn token_set(t: &StoredToken) -> Audited {
    Audited::new(
        "token.set",
        format!(
            "tenant {} ({}), connector {}",
            t.tenant_name, t.tenant_id, t.connector_name
        ),
    )
}

pub fn token_cleared() -> Audited {
    Audited::new("token.clear", "connector token removed")
}

pub fn rekeyed(key_type: &str, key_hash: &str) -> Audited {
    Audited::new(
        "identity.rekey",
        format!("new {key_type} NMSP key {key_hash}"),
    )
}

pub fn network_changed(n: &NetworkInput) -> Audited {
    let addressing = match n.mode.as_str() {
        "static" => format!("static {} via {}", n.address, n.gateway),
        _ => "DHCP".into(),
    };
    Audited::new(
        "network.change",
        format!(
            "host name {}, {addressing}, DNS {}, NTP {}",
            n.hostname, n.dns, n.ntp
        ),
    )
}

pub fn network_confirmed() -> Audited {
    Audited::new("network.confirm", "network change confirmed")
}

pub fn proxy_set(url: &str) -> Audited {
    match url.is_empty() {
        true => Audited::new("proxy.clear", "cloud link goes direct"),
        false => Audited::new("proxy.set", format!("cloud link through {url}")),
    }
}

pub fn certificate_requested(common_name: &str) -> Audited {
    Audited::new(
        "certificate.request",
        format!("key and signing request made for {common_name}"),
    )
}

pub fn certificate_installed(subject: &str) -> Audited {
    Audited::new(
        "certificate.install",
        format!("admin UI now serves {subject}"),
    )
}

pub fn certificate_self_signed() -> Audited {
    Audited::new(
        "certificate.self_signed",
        "admin UI back on a self-signed certificate",
    )
}

pub fn api_token_created(name: &str, scope: &str) -> Audited {
    Audited::new("api_token.create", format!("{name} ({scope})"))
}

pub fn api_token_revoked(name: &str) -> Audited {
    Audited::new("api_token.revoke", name.to_string())
}
