//! Spaces Connector: one library behind three programs.
//!
//! The tree shows the architecture:
//!
//! | module | what it is | may import |
//! |---|---|---|
//! | [`connector`] | the appliance (`spaces-connector`) | shared modules |
//! | [`cloud`] | the reference cloud (`spaces-cloud`) | shared modules |
//! | [`sim`] | the controller and AP simulator (`wlc-sim`) | shared modules |
//! | [`nmsp`] | shared: the NMSP codec and its link loop | `contract`, `clock` |
//! | [`contract`] | shared: token, cloud API, event identity, controller config | `fields`, `clock` |
//! | [`tls`] | shared: TLS identities, key pinning, client authorisation | `db`, `clock` |
//! | [`portal`] | shared: the web pieces both UIs use (setup, login, sessions, CSRF, layout, errors, server) | `db`, `fields`, `clock`, `host`, `conn_limit` |
//! | [`db`] | shared: the SQLite state-file helper | `clock` |
//! | [`service_log`] | shared: a program's recent log, in memory, for its pages | `clock` |
//! | [`clock`], [`fields`], [`host`], [`conn_limit`] | shared leaves: time, per-field validation messages, this machine's addresses, connection caps | nothing |
//!
//! The three programs never import each other; `src/bin/` holds only their
//! `main`s.

pub mod clock;
pub mod cloud;
pub mod conn_limit;
pub mod connector;
pub mod contract;
pub mod db;
pub mod fields;
pub mod host;
pub mod nmsp;
pub mod portal;
pub mod service_log;
pub mod sim;
pub mod tls;

/// The software version every component reports: the package's, unless
/// the build names another (`SPACES_CONNECTOR_VERSION`, as the packaging
/// test does to make a newer package from the same source).
pub const VERSION: &str = match option_env!("SPACES_CONNECTOR_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};
