//! TLS shared by every program: identities (key pair + self-signed
//! certificate made at first boot and kept in the state file), pinning a
//! peer's key by the SHA-256 of its SubjectPublicKeyInfo, and the server
//! side's check of a client key against an authorisation list.
//!
//! May import `db` and `clock`.

pub mod client_auth;
pub mod identity;
pub mod pin;
