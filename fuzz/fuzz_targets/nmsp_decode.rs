//! Fuzz target: arbitrary bytes through `FrameCodec::decode` (fed in two
//! chunks, to reach the partial-frame paths) and every frame through
//! `Message::decode`; whatever decodes must survive a re-encode. The second
//! byte picks the channel: a controller's codec (64 KiB frames) or the AP
//! Channel's (8 KiB), so both network-facing decoders are covered.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use spaces_connector::nmsp::{FrameCodec, Message, NotificationFields};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the split point so one input covers both a
    // stream arriving whole and one arriving in pieces.
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let Some((&channel, data)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(data.len());
    let mut codec = if channel & 1 == 0 {
        FrameCodec::new()
    } else {
        FrameCodec::with_max_body(spaces_connector::connector::ap_channel::AP_MAX_BODY)
    };
    let mut buf = BytesMut::new();
    for chunk in [&data[..cut], &data[cut..]] {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if let Ok(msg) = Message::decode(&frame) {
                        assert_eq!(Message::decode(&msg.encode()), Ok(msg.clone()));
                        if let Message::Notification { body, .. } = &msg {
                            let _ = NotificationFields::parse(body);
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
