//! Spaces Connector: the appliance library shared by the `spaces-connector`
//! binary and its tests.
//!
//! The binary is thin: it parses the command line (`cli`) and either runs
//! the service (`appliance` + `web`) or answers a console command
//! (`console`). Everything else lives here so it can be tested without HTTP.

pub mod ap_channel;
pub mod appliance;
pub mod auth;
pub mod cli;
pub mod client_auth;
pub mod clock;
pub mod cloud;
pub mod cloud_api;
pub mod cloud_link;
pub mod console;
pub mod controller_session;
pub mod controllers;
pub mod db;
pub mod event;
pub mod identity;
pub mod nmsp;
pub mod nmsp_link;
pub mod prometheus;
pub mod service;
pub mod sim;
pub mod stats;
pub mod status;
pub mod stored_token;
pub mod supervisor;
pub mod tls_pin;
pub mod token;
pub mod web;

/// The software version every component reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
