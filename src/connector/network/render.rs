//! Network settings as the appliance image's daemons read them:
//! systemd-networkd (addresses, routes, DNS servers and search domains,
//! which systemd-resolved takes from it), systemd-timesyncd (NTP servers)
//! and the host name. Only the privileged helper writes them, then reloads
//! the daemons; the files carry nothing else, so rendering twice is the
//! same as once.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::NetworkSettings;

/// The files `settings` make, relative to the root file system. The
/// `.network` file sorts before the image's DHCP fallback (`80-dhcp`), so
/// networkd uses it for the NIC.
pub fn files(s: &NetworkSettings) -> Vec<(PathBuf, String)> {
    const HEAD: &str =
        "# Written by spaces-connector from its network settings; changes here are replaced.\n";
    let mut network = format!("{HEAD}[Match]\nName=eth* en*\n\n[Network]\n");
    match s.ipv4 {
        None => network.push_str("DHCP=ipv4\n"),
        Some(v4) => {
            let _ = writeln!(network, "Address={}/{}", v4.address, v4.prefix);
            if let Some(g) = v4.gateway {
                let _ = writeln!(network, "Gateway={g}");
            }
        }
    }
    if let Some(v6) = s.ipv6 {
        let _ = writeln!(network, "Address={}/{}", v6.address, v6.prefix);
        if let Some(g) = v6.gateway {
            let _ = writeln!(network, "Gateway={g}");
        }
    }
    network.push_str("IPv6AcceptRA=yes\n");
    for d in &s.dns {
        let _ = writeln!(network, "DNS={d}");
    }
    if !s.search.is_empty() {
        let _ = writeln!(network, "Domains={}", s.search.join(" "));
    }
    let mut time = format!("{HEAD}[Time]\n");
    if !s.ntp.is_empty() {
        let _ = writeln!(time, "NTP={}", s.ntp.join(" "));
    }
    let hosts = format!(
        "127.0.0.1 localhost\n127.0.1.1 {}\n::1 localhost ip6-localhost ip6-loopback\n",
        s.hostname
    );
    vec![
        (
            "etc/systemd/network/10-spaces-connector.network".into(),
            network,
        ),
        (
            "etc/systemd/timesyncd.conf.d/spaces-connector.conf".into(),
            time,
        ),
        ("etc/hostname".into(), format!("{}\n", s.hostname)),
        ("etc/hosts".into(), hosts),
    ]
}

/// Writes the files under `root`, each replaced whole (written aside, then
/// renamed), so a daemon never reads half a file. Returns the paths that
/// changed.
pub fn write(root: &Path, s: &NetworkSettings) -> std::io::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    for (rel, text) in files(s) {
        let path = root.join(&rel);
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::connector::atomic_file::replace(&path, text.as_bytes())?;
        changed.push(rel);
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::network::NetworkInput;

    #[test]
    fn a_static_address_renders_for_networkd_timesyncd_and_the_host_name() {
        let s = NetworkInput {
            hostname: "conn-1".into(),
            mode: "static".into(),
            address: "10.0.2.50/24".into(),
            gateway: "10.0.2.2".into(),
            ipv6_address: "2001:db8::50/64".into(),
            dns: "10.0.2.3".into(),
            search: "corp.example".into(),
            ntp: "10.0.2.2".into(),
            ..Default::default()
        }
        .validate()
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let changed = write(dir.path(), &s).unwrap();
        assert_eq!(changed.len(), 4);
        let network = std::fs::read_to_string(
            dir.path()
                .join("etc/systemd/network/10-spaces-connector.network"),
        )
        .unwrap();
        for line in [
            "Address=10.0.2.50/24",
            "Gateway=10.0.2.2",
            "Address=2001:db8::50/64",
            "DNS=10.0.2.3",
            "Domains=corp.example",
        ] {
            assert!(network.lines().any(|l| l == line), "{line} in {network}");
        }
        assert!(!network.contains("DHCP="));
        let time = std::fs::read_to_string(
            dir.path()
                .join("etc/systemd/timesyncd.conf.d/spaces-connector.conf"),
        )
        .unwrap();
        assert!(time.contains("\nNTP=10.0.2.2\n"), "{time}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("etc/hostname")).unwrap(),
            "conn-1\n"
        );
        assert!(
            write(dir.path(), &s).unwrap().is_empty(),
            "nothing changes twice"
        );
        let dhcp = NetworkSettings::default();
        write(dir.path(), &dhcp).unwrap();
        let network = std::fs::read_to_string(
            dir.path()
                .join("etc/systemd/network/10-spaces-connector.network"),
        )
        .unwrap();
        assert!(network.contains("DHCP=ipv4") && !network.contains("Address="));
    }
}
