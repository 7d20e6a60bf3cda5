//! Facts about the machine this program runs on.

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
