//! The privileged helper's work, run as root by the image's
//! `spaces-connector-network.service` (and never by the service itself):
//! read the hand-off file, check it again (it crosses a privilege
//! boundary), render the daemons' files and reload them. It never opens
//! the state file.

use std::path::Path;
use std::process::Command;

use super::{NetworkInput, render};

/// Renders `from` under `root` (`/` in the image); with `reload`, makes
/// the daemons take the new files. A missing hand-off file is not an
/// error: the service has not written one yet.
pub fn apply(from: &Path, root: &Path, reload: bool) -> anyhow::Result<String> {
    let raw = match std::fs::read(from) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(format!(
                "{} not written yet: nothing to apply",
                from.display()
            ));
        }
        Err(e) => anyhow::bail!("cannot read {}: {e}", from.display()),
    };
    anyhow::ensure!(raw.len() <= 16 * 1024, "{} is too large", from.display());
    let input: NetworkInput = serde_json::from_slice(&raw)?;
    let settings = input
        .validate()
        .map_err(|e| anyhow::anyhow!("refusing {}: {}", from.display(), e.summary()))?;
    let changed = render::write(root, &settings)?;
    // The kernel's host name follows the file at once (at boot too, when
    // systemd read the old file before this ran).
    if root == Path::new("/") {
        let _ = Command::new("hostname").arg(&settings.hostname).status();
    }
    if changed.is_empty() {
        return Ok("network files already current".into());
    }
    if reload {
        // Each daemon takes its own file; a failure is reported, not
        // fatal for the others.
        let mut failed = Vec::new();
        for (what, cmd, args) in [
            ("networkd", "networkctl", vec!["reload"]),
            (
                "timesyncd",
                "systemctl",
                vec!["try-restart", "systemd-timesyncd.service"],
            ),
        ] {
            match Command::new(cmd).args(&args).status() {
                Ok(s) if s.success() => {}
                Ok(s) => failed.push(format!("{what}: {cmd} exited with {s}")),
                Err(e) => failed.push(format!("{what}: {cmd}: {e}")),
            }
        }
        anyhow::ensure!(
            failed.is_empty(),
            "files written, but {}",
            failed.join("; ")
        );
    }
    Ok(format!(
        "wrote {}",
        changed
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
