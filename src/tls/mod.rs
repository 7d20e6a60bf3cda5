//! TLS shared by every program: identities (key pair + self-signed
//! certificate made at first boot and kept in the state file), pinning a
//! peer's key by the SHA-256 of its SubjectPublicKeyInfo, and the server
//! side's check of a client key against an authorisation list.
//!
//! May import `db` and `clock`.

pub mod client_auth;
pub mod identity;
pub mod pin;

/// The protocol version and cipher suite of a finished handshake, named as
/// rustls (and the IANA registry) names them.
pub fn negotiated(c: &rustls::CommonState) -> String {
    let version = c
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let suite = c
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    format!("{version} {suite}")
}
