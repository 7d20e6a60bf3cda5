//! Replacing a file whole: written beside it, then renamed over it, so a
//! reader (the network helper, the upgrade installer, networkd) sees the
//! old content or the new, never half of it.

use std::path::Path;

pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".new");
    std::fs::write(&aside, bytes)?;
    std::fs::rename(aside, path)
}
