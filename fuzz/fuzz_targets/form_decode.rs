//! Fuzz target: form bodies as the web pages receive them (URL-encoded,
//! through the same serde decoder axum's `Form` uses) into the inputs every
//! form validates: a controller, an access point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spaces_connector::contract::access_point::AccessPointInput;
use spaces_connector::contract::controller::ControllerInput;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = serde_urlencoded::from_bytes::<ControllerInput>(data) {
        let _ = c.validate();
    }
    if let Ok(a) = serde_urlencoded::from_bytes::<AccessPointInput>(data) {
        let _ = a.validate();
    }
});
