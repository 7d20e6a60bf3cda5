//! Fuzz target: an event batch as the cloud receives it from a member:
//! gzip (inflated with the same bound as the server's body limit), JSON,
//! then every event through the cloud's own trust check.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use spaces_connector::cloud::ingest::decode_event;
use spaces_connector::contract::cloud_api::EventBatch;

/// The server refuses a batch that inflates past this.
const LIMIT: u64 = 32 << 20;

fuzz_target!(|data: &[u8]| {
    // The first byte says whether the rest is gzip or plain JSON.
    let Some((&gz, data)) = data.split_first() else {
        return;
    };
    let mut json = Vec::new();
    if gz & 1 == 1 {
        let mut inflate = flate2::read::GzDecoder::new(data).take(LIMIT);
        if inflate.read_to_end(&mut json).is_err() {
            return;
        }
    } else {
        json.extend_from_slice(data);
    }
    if let Ok(batch) = serde_json::from_slice::<EventBatch>(&json) {
        for e in &batch.events {
            let _ = decode_event(e);
        }
    }
});
