//! Tests across the layers: every message through `FrameCodec` and back,
//! golden bytes, decode errors, and a deterministic random-input run that
//! must never panic (a cheap stand-in for the cargo-fuzz target).

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::notification::{self, ApCounters, BAND_2_4_GHZ};
use super::*;

/// "01 00 0a" → bytes; whitespace is ignored so goldens can be grouped.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn wire(msg: &Message) -> BytesMut {
    let mut buf = BytesMut::new();
    FrameCodec::new().encode(msg.encode(), &mut buf).unwrap();
    buf
}

fn decode_one(bytes: &[u8]) -> Result<Message, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    let frame = FrameCodec::new()
        .decode(&mut buf)
        .unwrap()
        .expect("a whole frame");
    assert!(buf.is_empty());
    Message::decode(&frame)
}

fn all_variants() -> Vec<Message> {
    let client = [2, 0, 0, 0, 0, 9];
    let ap = [0, 0x3a, 0x7d, 1, 2, 3];
    let counters = ApCounters {
        client_count: 3,
        rx_frames: 100,
        tx_frames: 200,
        tx_retries: 4,
    };
    let bodies = [
        (
            MessageType::MeasurementNotification,
            notification::measurement(1, 1000, client, ap, -55, 6),
        ),
        (
            MessageType::InformationNotification,
            notification::information(2, 2000, client, ap, "guest", BAND_2_4_GHZ).unwrap(),
        ),
        (
            MessageType::StatisticsNotification,
            notification::statistics(3, 3000, ap, &counters),
        ),
        (
            MessageType::AttachmentNotification,
            notification::attachment(&notification::Attachment {
                sequence: 4,
                timestamp_ms: 4000,
                state: notification::AttachState::New,
                client_mac: client,
                client_ip: Some("10.0.0.9".parse().unwrap()),
                user_name: Some("carol".into()),
                port: "GigabitEthernet1/0/3".into(),
                vlan: 10,
                serial: "FOC9".into(),
                udi: "PID:C9300-24T,VID:V01,SN:FOC9".into(),
            })
            .unwrap(),
        ),
    ];
    let mut v = vec![
        Message::EchoRequest { transaction_id: 1 },
        Message::EchoResponse {
            transaction_id: u32::MAX,
        },
        Message::Capability {
            protocol_version: PROTOCOL_VERSION,
            services: Service::ALL,
        },
        Message::SubscribeRequest {
            transaction_id: 2,
            services: Service::RSSI | Service::IOT_BLE,
        },
        Message::SubscribeResponse {
            transaction_id: 2,
            accepted: Service::RSSI,
        },
        Message::MeasurementRequest { transaction_id: 3 },
        Message::MeasurementResponse { transaction_id: 4 },
        Message::InformationRequest { transaction_id: 5 },
        Message::InformationResponse { transaction_id: 6 },
        Message::StatisticsRequest { transaction_id: 7 },
        Message::StatisticsResponse { transaction_id: 8 },
    ];
    for (t, body) in bodies {
        v.push(Message::notification(t, body).unwrap());
    }
    v
}

#[test]
fn every_variant_round_trips_through_the_codec() {
    let msgs = all_variants();
    let kinds: std::collections::HashSet<_> = msgs.iter().map(Message::msg_type).collect();
    assert_eq!(
        kinds.len(),
        MessageType::ALL.len(),
        "a message type is untested"
    );

    let mut stream = BytesMut::new();
    for m in &msgs {
        FrameCodec::new().encode(m.encode(), &mut stream).unwrap();
    }
    let mut decoded = Vec::new();
    while let Some(frame) = FrameCodec::new().decode(&mut stream).unwrap() {
        decoded.push(Message::decode(&frame).unwrap());
    }
    assert_eq!(decoded, msgs);
}

#[test]
fn notification_body_is_forwarded_byte_identical() {
    let body = notification::measurement(42, 7, [1; 6], [2; 6], -80, 11);
    let msg = Message::notification(MessageType::MeasurementNotification, body.clone()).unwrap();
    let Message::Notification {
        sequence,
        timestamp_ms,
        body: kept,
        ..
    } = decode_one(&wire(&msg)).unwrap()
    else {
        panic!("not a notification");
    };
    assert_eq!((sequence, timestamp_ms), (42, 7));
    assert_eq!(kept, body);
}

#[test]
fn golden_echo_request() {
    let bytes = wire(&Message::EchoRequest { transaction_id: 7 });
    let expected = hex("01 00 0008  0001 0004 00000007");
    assert_eq!(&bytes[..], &expected[..]);
    assert_eq!(
        decode_one(&expected),
        Ok(Message::EchoRequest { transaction_id: 7 })
    );
}

#[test]
fn golden_capability_notification() {
    let msg = Message::Capability {
        protocol_version: 1,
        services: Service::RSSI | Service::CLIENT_INFO | Service::STATISTICS,
    };
    let expected = hex("07 00 000e  0004 0002 0001  0005 0004 0000000b");
    assert_eq!(&wire(&msg)[..], &expected[..]);
    assert_eq!(decode_one(&expected), Ok(msg));
}

#[test]
fn unknown_message_type_is_unsupported_not_a_frame_error() {
    let err = decode_one(&hex("63 00 0002 abcd")).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedType(0x63));
    assert!(!err.is_fatal());
}

#[test]
fn unknown_tag_is_skipped() {
    let bytes = hex("02 00 0015  7777 0005 0102030405  0001 0004 00000009  fffe 0000");
    assert_eq!(
        decode_one(&bytes),
        Ok(Message::EchoResponse { transaction_id: 9 })
    );
}

#[test]
fn truncated_tlv_is_an_error() {
    // The body is 6 bytes but the TLV inside claims 4 bytes of value.
    let err = decode_one(&hex("01 00 0006  0001 0004 0000")).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Tlv(TlvError::Truncated {
            tag: tag::TRANSACTION_ID,
            offset: 0,
            declared: 4,
            available: 2
        })
    );
    assert!(err.is_fatal());
}

#[test]
fn missing_bad_and_duplicate_values() {
    assert_eq!(
        decode_one(&hex("01 00 0000")),
        Err(DecodeError::MissingTlv {
            tag: tag::TRANSACTION_ID
        })
    );
    assert_eq!(
        decode_one(&hex("1e 00 0008  0001 0004 00000001")),
        Err(DecodeError::MissingTlv { tag: tag::SERVICES })
    );
    assert_eq!(
        decode_one(&hex("01 00 0006  0001 0002 0007")),
        Err(DecodeError::BadValue {
            tag: tag::TRANSACTION_ID
        })
    );
    assert_eq!(
        decode_one(&hex("01 00 0010  0001 0004 00000001  0001 0004 00000002")),
        Err(DecodeError::BadValue {
            tag: tag::TRANSACTION_ID
        })
    );
}

#[test]
fn notification_needs_sequence_and_timestamp() {
    assert_eq!(
        decode_one(&hex("0f 00 000c  0003 0008 0000000000000001")),
        Err(DecodeError::MissingTlv { tag: tag::SEQUENCE })
    );
    assert_eq!(
        decode_one(&hex("16 00 000c  0002 0008 0000000000000001")),
        Err(DecodeError::MissingTlv {
            tag: tag::TIMESTAMP_MS
        })
    );
    assert_eq!(
        Message::notification(MessageType::EchoRequest, Bytes::new()),
        Err(DecodeError::UnsupportedType(1))
    );
}

#[test]
fn message_type_ids_and_names() {
    for t in MessageType::ALL {
        assert_eq!(MessageType::from_u8(t as u8), Some(t));
        assert!(!t.name().is_empty());
    }
    let known = (0..=u8::MAX)
        .filter(|&id| MessageType::from_u8(id).is_some())
        .count();
    assert_eq!(known, MessageType::ALL.len());
    assert_eq!(MessageType::from_u8(0), None);
    assert_eq!(MessageType::StatisticsNotification as u8, 22);
    assert_eq!(MessageType::EchoRequest.to_string(), "Echo Request (1)");
    let data: Vec<u8> = MessageType::ALL
        .into_iter()
        .filter(|t| t.is_data_notification())
        .map(|t| t as u8)
        .collect();
    assert_eq!(data, vec![15, 18, 22, 40]);
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

/// The body of a well-formed message of type `id` (empty if unknown).
fn valid_body(rng: &mut XorShift, id: u8) -> Bytes {
    let Some(t) = MessageType::from_u8(id) else {
        return Bytes::new();
    };
    let services = Service::from_bits(rng.next() as u32);
    let m = match t {
        MessageType::CapabilityNotification => Message::Capability {
            protocol_version: rng.next() as u16,
            services,
        },
        MessageType::ServiceSubscribeRequest | MessageType::ServiceSubscribeResponse => {
            Message::SubscribeRequest {
                transaction_id: rng.next() as u32,
                services,
            }
        }
        _ if t.is_data_notification() => {
            let body =
                notification::statistics(rng.next(), rng.next(), [0; 6], &ApCounters::default());
            Message::notification(t, body).unwrap()
        }
        _ => Message::EchoRequest {
            transaction_id: rng.next() as u32,
        },
    };
    m.encode().body
}

/// Mostly-plausible input: frame-shaped chunks with known ids and TLV-shaped
/// bodies, with lengths, flags and tags corrupted some of the time, so the
/// run reaches the message layer instead of dying on the first header.
fn plausible_input(rng: &mut XorShift) -> Vec<u8> {
    const TAGS: [u16; 8] = [0x1, 0x2, 0x3, 0x4, 0x5, 0x10, 0x15, 0x20];
    let mut out = Vec::new();
    for _ in 0..=rng.below(4) {
        let id = if rng.below(6) == 0 {
            rng.next() as u8
        } else {
            MessageType::ALL[rng.below(14)] as u8
        };
        // Half the bodies start as a valid message of their type, so that
        // the typed decoder's success paths get random trailing TLVs too.
        let mut body = Vec::new();
        if rng.below(2) == 0 {
            body.extend_from_slice(&valid_body(rng, id));
        }
        for _ in 0..rng.below(4) {
            let tag = if rng.below(8) == 0 {
                rng.next() as u16
            } else {
                TAGS[rng.below(8)]
            };
            let len = [0, 1, 2, 4, 6, 8][rng.below(6)];
            let claimed = if rng.below(10) == 0 {
                rng.below(300)
            } else {
                len
            };
            body.put_u16(tag);
            body.put_u16(claimed as u16);
            body.extend((0..len).map(|_| rng.next() as u8));
        }
        let flags = if rng.below(16) == 0 {
            rng.next() as u8
        } else {
            0
        };
        let claimed = if rng.below(10) == 0 {
            rng.next() as u16
        } else {
            body.len() as u16
        };
        out.extend([id, flags]);
        out.extend(claimed.to_be_bytes());
        out.extend(body);
    }
    out
}

#[test]
fn random_input_never_panics() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut frames, mut messages) = (0usize, 0usize);
    for i in 0..20_000 {
        let input = if i % 2 == 0 {
            plausible_input(&mut rng)
        } else {
            (0..rng.below(128)).map(|_| rng.next() as u8).collect()
        };
        let mut codec = FrameCodec::new();
        let mut buf = BytesMut::new();
        let mut rest = &input[..];
        'feed: while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(1 + rng.below(rest.len() as u64));
            rest = tail;
            buf.extend_from_slice(chunk);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        frames += 1;
                        assert!(frame.body.len() <= MAX_BODY_LEN);
                        if let Ok(msg) = Message::decode(&frame) {
                            messages += 1;
                            // Whatever decodes must survive a re-encode.
                            assert_eq!(Message::decode(&msg.encode()), Ok(msg.clone()));
                            if let Message::Notification { body, .. } = &msg {
                                let _ = NotificationFields::parse(body);
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
    }
    // Guard against a generator that never gets past the frame layer.
    assert!(frames > 10_000, "only {frames} frames decoded");
    assert!(messages > 3_000, "only {messages} messages decoded");
}
