//! Facts about the machine this program runs on.

/// How a URL names a server listening on `addr`: its own address, or for
/// a wildcard listener the machine's first IPv4 address (never a name a
/// client chose).
pub fn url_host(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        local_addresses()
            .into_iter()
            .find(|a| !a.contains(':'))
            .unwrap_or_else(|| "127.0.0.1".into())
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    }
}

/// The machine's non-loopback IP addresses, for dashboards and for a web
/// certificate's names.
pub fn local_addresses() -> Vec<String> {
    let mut out: Vec<String> = if_addrs::get_if_addrs()
        .map(|list| {
            list.into_iter()
                .filter(|i| !i.is_loopback())
                .map(|i| i.ip().to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// The MAC address of the interface this machine would use to reach
/// `dest` (with none, the default route): what a controller on that
/// network sees. None when there is no route or the interface has no MAC
/// (loopback, a tunnel).
pub fn route_mac(dest: Option<std::net::IpAddr>) -> Option<String> {
    // A UDP "connect" only asks the routing table; nothing is sent.
    let dest = dest.unwrap_or(std::net::IpAddr::from([192, 0, 2, 1]));
    let bind: std::net::SocketAddr = if dest.is_ipv6() {
        "[::]:0".parse().ok()?
    } else {
        "0.0.0.0:0".parse().ok()?
    };
    let socket = std::net::UdpSocket::bind(bind).ok()?;
    socket.connect((dest, 16113)).ok()?;
    let local = socket.local_addr().ok()?.ip();
    let name = if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .find(|i| i.ip() == local)?
        .name;
    let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).ok()?;
    let mac = mac.trim().to_ascii_lowercase();
    (mac.len() == 17 && mac != "00:00:00:00:00:00").then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_to_loopback_has_no_mac_and_a_found_mac_is_well_formed() {
        assert_eq!(
            route_mac(Some(std::net::IpAddr::from([127, 0, 0, 1]))),
            None
        );
        if let Some(mac) = route_mac(None) {
            assert_eq!(mac.len(), 17, "{mac}");
            assert_eq!(mac.split(':').count(), 6, "{mac}");
            assert_ne!(mac, "00:00:00:00:00:00");
        }
    }
}
