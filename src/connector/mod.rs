//! `spaces-connector`: the appliance. It keeps NMSP sessions to every
//! controller (`supervisor`, `controller_session`), accepts the AP Channel
//! (`ap_channel`), streams events to the cloud through a durable spool
//! (`cloud_link`), and serves its admin UI and JSON API (`web`); the same
//! binary answers console commands (`console`) on the same state file.
//!
//! May import the shared modules (`nmsp`, `contract`, `tls`, `portal`,
//! `db`, `clock`, `fields`, `host`, `conn_limit`, `service_log`); never
//! `cloud` or `sim`.

pub mod access_points;
pub mod ap_admission;
pub mod ap_channel;
pub mod appliance;
pub mod atomic_file;
pub mod backup;
pub mod changes;
pub mod cli;
pub mod client_privacy;
pub mod clock_sync;
pub mod cloud_link;
pub mod console;
pub mod controller_session;
pub mod controllers;
pub mod first_boot;
pub mod metrics;
pub mod network;
pub mod nmsp_identity;
pub mod preflight;
pub mod proxy;
pub mod reconnect;
pub mod schema;
pub mod service;
pub mod service_journal;
pub mod stats;
pub mod status;
pub mod stored_token;
pub mod supervisor;
pub mod support_bundle;
pub mod upgrade;
pub mod web;
pub mod web_cert;
