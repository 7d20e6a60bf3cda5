//! The contracts between the programs (DESIGN.md §3), each used by both of
//! its ends: the token a cloud issues and a connector checks, the cloud API's
//! JSON shapes, an event's identity (its dedup key) and the event batch's
//! binary layout, and a controller's
//! configuration as operators type it and the cloud distributes it.
//!
//! May import `fields` and `clock` only: a contract knows no program.

pub mod access_point;
pub mod cloud_api;
pub mod controller;
pub mod event;
pub mod event_batch;
pub mod token;
