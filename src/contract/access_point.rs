//! An access point allowed on the AP Channel, as an operator types it (form,
//! API or console) and as the cloud distributes it to every member of a
//! group: a name and the SHA-256 key hash of the AP's certificate (hex, as
//! the connector shows it for refused APs). One validation for both ends.

use serde::{Deserialize, Serialize};

use crate::fields::FieldErrors;

const MAX_NAME: usize = 64;

/// What an operator typed, unvalidated.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AccessPointInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key_hash: String,
}

/// An access point that passed validation: the hash is lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccessPoint {
    pub name: String,
    pub key_hash: String,
}

impl AccessPointInput {
    pub fn validate(&self) -> Result<NewAccessPoint, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = self.name.trim();
        if name.is_empty() {
            errors.add("name", "Enter a name for the access point.");
        } else if name.chars().count() > MAX_NAME {
            errors.add("name", format!("Use at most {MAX_NAME} characters."));
        } else if name.chars().any(char::is_control) {
            errors.add("name", "The name cannot contain control characters.");
        }
        let hash: String = self
            .key_hash
            .trim()
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_lowercase();
        if !is_key_hash(&hash) {
            errors.add(
                "key_hash",
                "Enter the AP's SHA-256 key hash: 64 hexadecimal digits.",
            );
        }
        if errors.is_empty() {
            Ok(NewAccessPoint {
                name: name.to_string(),
                key_hash: hash,
            })
        } else {
            Err(errors)
        }
    }
}

/// True for a SHA-256 in lower-case hex, the form key hashes are kept in.
pub fn is_key_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_normalised_and_checked() {
        let ok = AccessPointInput {
            name: " AP lobby ".into(),
            key_hash: "AB:"
                .repeat(32)
                .trim_end_matches(':')
                .replace("AB", "ab")
                .to_uppercase(),
        }
        .validate()
        .unwrap();
        assert_eq!(ok.name, "AP lobby");
        assert_eq!(ok.key_hash, "ab".repeat(32));
        let bad = AccessPointInput {
            name: String::new(),
            key_hash: "xyz".into(),
        }
        .validate()
        .unwrap_err();
        assert!(bad.get("name").is_some() && bad.get("key_hash").is_some());
    }
}
