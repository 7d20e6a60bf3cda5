//! The HTTP(S) proxy the cloud link goes through, as an admin sets it on
//! the System page, the API or the console: a proxy URL, optional
//! credentials and a no-proxy list, kept in the state file.
//!
//! HTTPS to the cloud is tunnelled with CONNECT, so TLS still runs end to
//! end and the cloud key pinned in the token still holds through the
//! proxy. Without a setting the link goes direct: the service's
//! environment (`https_proxy`) is not consulted, so what the page shows is
//! what the link does.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::db::DbError;
use crate::fields::FieldErrors;

const KEY: &str = "cloud_proxy";

/// The stored setting. `url` empty: no proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxySettings {
    pub url: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    password: String,
    /// Hosts, domains (`.example.com`), IP addresses or networks reached
    /// directly, comma separated.
    #[serde(default)]
    pub no_proxy: String,
}

/// What the page and the API show: never the password.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyView {
    pub url: String,
    pub username: String,
    pub password_set: bool,
    pub no_proxy: String,
}

/// An admin's change. An empty `password` keeps the stored one (forms
/// never show it back); an empty `username` removes both.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProxyInput {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub no_proxy: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{}", .0.summary())]
    Invalid(FieldErrors),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ProxySettings {
    pub fn is_set(&self) -> bool {
        !self.url.is_empty()
    }

    pub fn view(&self) -> ProxyView {
        ProxyView {
            url: self.url.clone(),
            username: self.username.clone(),
            password_set: !self.password.is_empty(),
            no_proxy: self.no_proxy.clone(),
        }
    }

    /// The link's HTTP client goes through this proxy (or, unset, direct).
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        if !self.is_set() {
            return builder.no_proxy();
        }
        let Ok(mut proxy) = reqwest::Proxy::all(&self.url) else {
            // Validated before it was stored; a damaged row goes direct
            // rather than nowhere, and the dashboard names the proxy.
            return builder.no_proxy();
        };
        if !self.username.is_empty() {
            proxy = proxy.basic_auth(&self.username, &self.password);
        }
        builder.proxy(proxy.no_proxy(reqwest::NoProxy::from_string(&self.no_proxy)))
    }
}

impl ProxyInput {
    /// Checks every field; on success, the setting to store (keeping the
    /// stored password when none was typed).
    pub fn validate(&self, stored: &ProxySettings) -> Result<ProxySettings, FieldErrors> {
        let mut errors = FieldErrors::default();
        let url = self.url.trim().to_string();
        if !url.is_empty()
            && let Err(e) = check_url(&url)
        {
            errors.add("url", e);
        }
        let username = self.username.trim().to_string();
        if username.len() > 128 || username.contains(':') || username.chars().any(char::is_control)
        {
            errors.add(
                "username",
                "at most 128 characters, without ':' or control characters",
            );
        }
        if self.password.len() > 256 || self.password.chars().any(char::is_control) {
            errors.add(
                "password",
                "at most 256 characters, without control characters",
            );
        }
        if username.is_empty() && !self.password.is_empty() {
            errors.add("username", "a password needs a user name");
        }
        if url.is_empty() && !username.is_empty() {
            errors.add("url", "credentials need a proxy URL");
        }
        let no_proxy = self
            .no_proxy
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect::<Vec<_>>();
        if no_proxy.len() > 64 {
            errors.add("no_proxy", "at most 64 entries");
        } else if let Some(bad) = no_proxy.iter().find(|e| !no_proxy_entry(e)) {
            errors.add(
                "no_proxy",
                format!(
                    "{bad:?} is not a host name, domain (.example.com), IP address or network (10.0.0.0/8)"
                ),
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let password = match (username.is_empty(), self.password.is_empty()) {
            (true, _) => String::new(),
            (false, true) if username == stored.username => stored.password.clone(),
            _ => self.password.clone(),
        };
        Ok(ProxySettings {
            url,
            username,
            password,
            no_proxy: no_proxy.join(","),
        })
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| "a URL such as http://proxy.example.com:3128".to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the proxy URL starts with http:// (or https://)".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the proxy URL needs a host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("put the user name and password in their own fields".into());
    }
    if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("only scheme, host and port: no path".into());
    }
    if url.len() > 512 {
        return Err("at most 512 characters".into());
    }
    Ok(())
}

fn no_proxy_entry(e: &str) -> bool {
    e.len() <= 253
        && (e == "*"
            || e.parse::<std::net::IpAddr>().is_ok()
            || e.split_once('/').is_some_and(|(ip, bits)| {
                ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 128)
            })
            || crate::fields::is_dns_name(e.trim_start_matches("*.").trim_start_matches('.')))
}

pub fn get(conn: &Connection) -> Result<ProxySettings, DbError> {
    Ok(crate::db::settings::get(conn, KEY)?.unwrap_or_default())
}

/// Checks `input` and stores it; bad input changes nothing.
pub fn set(conn: &Connection, input: &ProxyInput) -> Result<ProxySettings, ProxyError> {
    let made = input.validate(&get(conn)?).map_err(ProxyError::Invalid)?;
    crate::db::settings::put(conn, KEY, &made)?;
    Ok(made)
}

/// Names a failure of the link through the proxy the way an admin looks
/// for it: the proxy refused (and its status), or could not be reached;
/// None when the failure is not the proxy's.
pub fn name_failure(proxy: &ProxySettings, error_chain: &str) -> Option<String> {
    if !proxy.is_set() {
        return None;
    }
    let url = &proxy.url;
    if error_chain.contains("proxy authorization required") {
        Some(format!(
            "proxy refused: 407 (Proxy Authentication Required) at {url}: check the user name and password"
        ))
    } else if error_chain.contains("tunnel error: unsuccessful") {
        Some(format!(
            "proxy refused: {url} would not open a tunnel (CONNECT) to the cloud: check the user name and password, and that it allows CONNECT to the cloud's port"
        ))
    } else if error_chain.contains("tunnel error: failed to create underlying connection") {
        Some(format!("proxy unreachable: {url}: {error_chain}"))
    } else if error_chain.contains("tunnel error") {
        Some(format!("proxy failed at {url}: {error_chain}"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(url: &str, user: &str, password: &str, no_proxy: &str) -> ProxyInput {
        ProxyInput {
            url: url.into(),
            username: user.into(),
            password: password.into(),
            no_proxy: no_proxy.into(),
        }
    }

    #[test]
    fn bad_input_is_named_field_by_field_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connector::schema::open(dir.path()).unwrap();
        db.call_blocking(|c| {
            let good = input(
                "http://10.0.0.1:3128",
                "svc",
                "pw",
                "10.0.0.0/8, .corp.example",
            );
            set(c, &good).unwrap();
            for (bad, field) in [
                (input("ftp://x:21", "", "", ""), "url"),
                (input("http://u:p@proxy:3128", "", "", ""), "url"),
                (input("http://proxy:3128/path", "", "", ""), "url"),
                (input("not a url", "", "", ""), "url"),
                (input("", "svc", "", ""), "url"),
                (input("http://proxy:3128", "a:b", "", ""), "username"),
                (input("http://proxy:3128", "", "pw", ""), "username"),
                (input("http://proxy:3128", "", "", "bad host!"), "no_proxy"),
            ] {
                match set(c, &bad) {
                    Err(ProxyError::Invalid(f)) => {
                        assert!(f.get(field).is_some(), "{bad:?}: {f:?}")
                    }
                    other => panic!("{bad:?} accepted: {other:?}"),
                }
            }
            let kept = get(c)?;
            assert_eq!(kept.url, "http://10.0.0.1:3128");
            assert_eq!(kept.no_proxy, "10.0.0.0/8,.corp.example");
            // An empty password keeps the stored one; no user, no password.
            let again = set(c, &input("http://10.0.0.1:3128", "svc", "", "")).unwrap();
            assert_eq!(again.password, "pw");
            assert!(again.view().password_set);
            let direct = set(c, &input("", "", "", "")).unwrap();
            assert!(!direct.is_set() && direct.password.is_empty());
            Ok::<_, DbError>(())
        })
        .unwrap();
    }

    #[test]
    fn failures_through_the_proxy_are_named_as_the_proxys() {
        let p = ProxySettings {
            url: "http://10.0.0.1:3128".into(),
            ..Default::default()
        };
        let refused = name_failure(
            &p,
            "error sending request: tunnel error: proxy authorization required",
        );
        assert!(refused.unwrap().starts_with("proxy refused: 407"));
        let away = name_failure(
            &p,
            "client error (Connect): tunnel error: failed to create underlying connection: Connection refused",
        );
        assert!(away.unwrap().starts_with("proxy unreachable"));
        assert_eq!(
            name_failure(&p, "tcp connect error: Connection refused"),
            None
        );
        assert_eq!(
            name_failure(&ProxySettings::default(), "tunnel error: unsuccessful"),
            None
        );
    }
}
