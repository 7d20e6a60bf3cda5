//! Per-field validation messages, shared by every form, API and console
//! command: bad input is answered field by field and changes nothing.

use serde::Serialize;

/// An RFC 1123 host-name label: 1 to 63 letters, digits and hyphens, not
/// starting or ending with a hyphen.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A DNS name: labels joined by dots (a final dot allowed), at most 253
/// characters. Every form that takes a host or domain name checks it here.
pub fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.strip_suffix('.')
            .unwrap_or(s)
            .split('.')
            .all(is_dns_label)
}

/// Per-field messages, in form order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every message on one line, `field: message; …`, for the console and
    /// for answers that carry no per-field shape.
    pub fn summary(&self) -> String {
        self.0
            .iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}
