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
