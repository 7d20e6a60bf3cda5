//! Fuzz target: an event batch as the cloud receives it from a member, in
//! either form: the compact layout (`contract::event_batch::decode`), or an
//! older member's JSON, gzip-inflated with the same bound as the server's
//! body limit, then every event through the cloud's own checks.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use spaces_connector::contract::cloud_api::EventBatch;
use spaces_connector::contract::event_batch::{check_json, decode};

/// The server refuses a batch that inflates past this.
const LIMIT: u64 = 32 << 20;

fuzz_target!(|data: &[u8]| {
    // The first byte says which form the rest is in.
    let Some((&form, data)) = data.split_first() else {
        return;
    };
    if form % 3 == 2 {
        let _ = decode(bytes::Bytes::copy_from_slice(data));
        return;
    }
    let mut json = Vec::new();
    if form % 3 == 1 {
        let mut inflate = flate2::read::GzDecoder::new(data).take(LIMIT);
        if inflate.read_to_end(&mut json).is_err() {
            return;
        }
    } else {
        json.extend_from_slice(data);
    }
    if let Ok(batch) = serde_json::from_slice::<EventBatch>(&json) {
        let _ = check_json(batch);
    }
});
