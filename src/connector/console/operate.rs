//! Console commands for operating the appliance: its audit trail (and
//! recording the console's own changes in it) and the support bundle.

use std::io::Write;

use super::ConsoleError;
use crate::connector::appliance::Appliance;
use crate::portal::audit::{self, Audited};

/// Records a change made here in the audit trail, as the console's.
pub(super) fn record(a: &Appliance, change: Audited) -> Result<(), ConsoleError> {
    a.db.call_blocking(move |c| {
        audit::record(c, &audit::Actor::console(), change.action, &change.detail)
    })?;
    Ok(())
}

/// `audit`: the newest changes, newest first.
pub fn audit_trail(a: &Appliance, limit: i64, out: &mut impl Write) -> Result<(), ConsoleError> {
    let entries = a.db.call_blocking(move |c| audit::recent(c, limit))?;
    if entries.is_empty() {
        writeln!(out, "no changes recorded")?;
    }
    for e in entries {
        writeln!(
            out,
            "{}  {}  from {}  {}  {}",
            e.when(),
            e.actor,
            e.source,
            e.action,
            e.detail
        )?;
    }
    Ok(())
}

/// `support-bundle`: the state file's part, and the service's journal
/// (readable by root and the journal's group; the bundle says when not).
pub fn support_bundle(
    a: &Appliance,
    path: Option<std::path::PathBuf>,
    out: &mut impl Write,
) -> Result<(), ConsoleError> {
    let mut b = a.db.call_blocking(|c| {
        crate::connector::support_bundle::SupportBundle::from_state_file(a, c)
    })?;
    let journal = std::process::Command::new("journalctl")
        .args([
            "--unit",
            "spaces-connector",
            "--lines",
            "5000",
            "--no-pager",
            "--output",
            "short-iso",
        ])
        .output();
    b.add_text(
        "journal.txt",
        match journal {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            Ok(o) => format!("journalctl failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => format!("no journal here ({e}); the web UI's bundle has the service's log"),
        },
    );
    let path = path.unwrap_or_else(|| format!("{}.tar.gz", b.name()).into());
    let bytes = b.finish()?;
    write_new(&path, &bytes)?;
    writeln!(
        out,
        "support bundle written to {} ({} bytes)",
        path.display(),
        bytes.len()
    )?;
    Ok(())
}

/// `backup --out FILE [--with-identity]`, the passphrase on standard input.
pub fn backup(
    a: &Appliance,
    path: &std::path::Path,
    with_identity: bool,
    out: &mut impl Write,
) -> Result<(), ConsoleError> {
    let mut passphrase = String::new();
    std::io::stdin().read_line(&mut passphrase)?;
    let passphrase = passphrase.trim_end_matches(['\r', '\n']).to_string();
    let file =
        a.db.call_blocking(|c| crate::connector::backup::take(c, &passphrase, with_identity))
            .map_err(|e| match e {
                crate::connector::backup::RestoreError::Db(d) => d.into(),
                other => ConsoleError::Refused(format!("no backup made: {other}")),
            })?;
    write_new(path, &file)?;
    let what = if with_identity {
        "with the appliance's identity"
    } else {
        "without the identity"
    };
    record(a, Audited::new("backup.download", what))?;
    writeln!(
        out,
        "backup written to {} ({} bytes, {what})",
        path.display(),
        file.len()
    )?;
    Ok(())
}

/// Writes a new file readable by its owner only; never over another.
pub(super) fn write_new(path: &std::path::Path, bytes: &[u8]) -> Result<(), ConsoleError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| ConsoleError::Refused(format!("cannot write {}: {e}", path.display())))
}

/// `upgrade FILE`: checked, then staged for the image's helper. The
/// console cannot see which controllers are Active (the service can),
/// so the helper's health check then asks for the UI and the version.
pub fn upgrade(
    file: &std::path::Path,
    options: &crate::connector::cli::UpgradeOptions,
    a: &Appliance,
    out: &mut impl Write,
) -> Result<(), ConsoleError> {
    use crate::connector::upgrade;
    let bytes = std::fs::read(file)
        .map_err(|e| ConsoleError::Refused(format!("cannot read {}: {e}", file.display())))?;
    let trusted = upgrade::trusted_keys(&options.trust_release_key);
    let managed = options.manage_upgrades;
    let request = upgrade::submit(&a.data_dir, &bytes, &trusted, managed, Vec::new())
        .map_err(|e| ConsoleError::Refused(format!("nothing was changed: {e}")))?;
    record(
        a,
        Audited::new(
            "upgrade.start",
            format!("{} to {}", request.from, request.to),
        ),
    )?;
    writeln!(
        out,
        "upgrade from {} to {} handed to the installer: the service restarts, and rolls back by itself if it is not healthy within 60 s",
        request.from, request.to
    )?;
    Ok(())
}
