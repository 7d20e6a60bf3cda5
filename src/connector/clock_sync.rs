//! Whether the appliance's clock is synchronised, for the dashboard: the
//! connector checks token expiry and the cloud's TLS certificate against
//! it, and the cloud orders events by it.
//!
//! The image keeps time with systemd-timesyncd; `timedatectl` answers for
//! it (synchronised or not, the server, the last offset). Where nothing
//! answers (a developer's container), the state is "unknown" and says why,
//! which the dashboard shows as a warning too: an unchecked clock is not a
//! good clock.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What the dashboard and the API show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockSync {
    /// Some(true): synchronised; Some(false): not; None: nobody could say.
    pub synchronised: Option<bool>,
    /// The time server in use, e.g. `10.0.0.1 (ntp.example.com)`.
    pub server: Option<String>,
    /// The last measured offset from it, as timesyncd prints it (`-166us`).
    pub offset: Option<String>,
    /// Why the state is unknown, or how it was learnt.
    pub detail: String,
}

impl ClockSync {
    /// The dashboard warns unless the clock is known to be synchronised.
    pub fn warn(&self) -> bool {
        self.synchronised != Some(true)
    }

    /// One line for the dashboard.
    pub fn summary(&self) -> String {
        match self.synchronised {
            Some(true) => {
                let mut s = "synchronised".to_string();
                if let Some(server) = &self.server {
                    s.push_str(&format!(" with {server}"));
                }
                if let Some(offset) = &self.offset {
                    s.push_str(&format!(", offset {offset}"));
                }
                s
            }
            Some(false) => format!("not synchronised ({})", self.detail),
            None => format!("unknown ({})", self.detail),
        }
    }
}

/// Reads the state from `timedatectl show` (`NTPSynchronized=yes`) and
/// `timedatectl timesync-status` (server, offset) output.
pub fn assess(show: Option<&str>, timesync: Option<&str>) -> ClockSync {
    let synchronised = show.and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("NTPSynchronized="))
            .map(|v| v.trim() == "yes")
    });
    let field = |name: &str| {
        timesync.and_then(|t| {
            t.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_string())
            })
        })
    };
    let detail = match (show, synchronised) {
        (None, _) => "timedatectl did not answer: no systemd time service here".to_string(),
        (Some(_), None) => "timedatectl did not say".to_string(),
        (Some(_), Some(true)) => "systemd-timesyncd".to_string(),
        (Some(_), Some(false)) => {
            "no time server answered yet: check the NTP servers and that UDP 123 is open"
                .to_string()
        }
    };
    ClockSync {
        synchronised,
        server: field("Server"),
        offset: field("Offset"),
        detail,
    }
}

/// Asks `timedatectl`, at most every `FRESH`, within a short time limit:
/// the dashboard must never wait on it.
pub struct ClockWatch {
    last: Mutex<Option<(Instant, ClockSync)>>,
}

const FRESH: Duration = Duration::from_secs(10);
const ASK_LIMIT: Duration = Duration::from_secs(2);

impl Default for ClockWatch {
    fn default() -> Self {
        ClockWatch {
            last: Mutex::new(None),
        }
    }
}

impl ClockWatch {
    pub async fn now(&self) -> ClockSync {
        if let Some((at, known)) = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
            && at.elapsed() < FRESH
        {
            return known;
        }
        let show = ask(&["show"]).await;
        let timesync = match &show {
            Some(_) => ask(&["timesync-status"]).await,
            None => None,
        };
        let made = assess(show.as_deref(), timesync.as_deref());
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), made.clone()));
        made
    }
}

async fn ask(args: &[&str]) -> Option<String> {
    let run = tokio::process::Command::new("timedatectl")
        .args(args)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(ASK_LIMIT, run).await {
        Ok(Ok(out)) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMESYNC: &str = "       Server: 10.0.2.2 (ntp.example.com)
Poll interval: 34min 8s (min: 32s; max 34min 8s)
         Leap: normal
       Offset: -166us
        Delay: 3.059ms
";

    #[test]
    fn synchronised_names_the_server_and_offset() {
        let s = assess(
            Some("Timezone=UTC\nNTP=yes\nNTPSynchronized=yes\n"),
            Some(TIMESYNC),
        );
        assert!(!s.warn());
        assert_eq!(s.server.as_deref(), Some("10.0.2.2 (ntp.example.com)"));
        assert_eq!(
            s.summary(),
            "synchronised with 10.0.2.2 (ntp.example.com), offset -166us"
        );
    }

    #[test]
    fn not_synchronised_or_unknown_warns_and_says_why() {
        let s = assess(Some("NTP=yes\nNTPSynchronized=no\n"), None);
        assert!(s.warn());
        assert!(
            s.summary()
                .starts_with("not synchronised (no time server answered")
        );
        let u = assess(None, None);
        assert!(u.warn());
        assert_eq!(u.synchronised, None);
        assert!(
            u.summary().contains("timedatectl did not answer"),
            "{}",
            u.summary()
        );
    }
}
