//! Typed NMSP messages: the message type ids, the `Message` enum, and its
//! mapping to and from `Frame`s.

use std::fmt;

use bytes::{Bytes, BytesMut};

use super::frame::Frame;
use super::service::Service;
use super::tag;
use super::tlv::{Tlv, TlvError, TlvReader, TlvWriter};

/// The protocol version this codec speaks in Capability Notifications.
pub const PROTOCOL_VERSION: u16 = 1;

/// Message ids as controllers count them in `show nmsp statistics
/// connection` (the public part of the protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    EchoRequest = 1,
    EchoResponse = 2,
    CapabilityNotification = 7,
    MeasurementRequest = 13,
    MeasurementResponse = 14,
    MeasurementNotification = 15,
    InformationRequest = 16,
    InformationResponse = 17,
    InformationNotification = 18,
    StatisticsRequest = 20,
    StatisticsResponse = 21,
    StatisticsNotification = 22,
    ServiceSubscribeRequest = 30,
    ServiceSubscribeResponse = 31,
    /// A switch's wired link up or down ([ours]: the id is not public).
    AttachmentNotification = 40,
}

impl MessageType {
    pub const ALL: [MessageType; 15] = [
        MessageType::EchoRequest,
        MessageType::EchoResponse,
        MessageType::CapabilityNotification,
        MessageType::MeasurementRequest,
        MessageType::MeasurementResponse,
        MessageType::MeasurementNotification,
        MessageType::InformationRequest,
        MessageType::InformationResponse,
        MessageType::InformationNotification,
        MessageType::StatisticsRequest,
        MessageType::StatisticsResponse,
        MessageType::StatisticsNotification,
        MessageType::ServiceSubscribeRequest,
        MessageType::ServiceSubscribeResponse,
        MessageType::AttachmentNotification,
    ];

    pub fn from_u8(id: u8) -> Option<MessageType> {
        Self::ALL.into_iter().find(|t| *t as u8 == id)
    }

    /// The name as NMSP.md (and a controller's statistics) spell it.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::EchoRequest => "Echo Request",
            MessageType::EchoResponse => "Echo Response",
            MessageType::CapabilityNotification => "Capability Notification",
            MessageType::MeasurementRequest => "Measurement Request",
            MessageType::MeasurementResponse => "Measurement Response",
            MessageType::MeasurementNotification => "Measurement Notification",
            MessageType::InformationRequest => "Information Request",
            MessageType::InformationResponse => "Information Response",
            MessageType::InformationNotification => "Information Notification",
            MessageType::StatisticsRequest => "Statistics Request",
            MessageType::StatisticsResponse => "Statistics Response",
            MessageType::StatisticsNotification => "Statistics Notification",
            MessageType::ServiceSubscribeRequest => "Service Subscribe Request",
            MessageType::ServiceSubscribeResponse => "Service Subscribe Response",
            MessageType::AttachmentNotification => "Attachment Notification",
        }
    }

    /// The streamed controller and switch events (15, 18, 22, 40) that
    /// the connector forwards; they carry sequence and timestamp instead
    /// of a transaction.
    pub fn is_data_notification(self) -> bool {
        matches!(
            self,
            MessageType::MeasurementNotification
                | MessageType::InformationNotification
                | MessageType::StatisticsNotification
                | MessageType::AttachmentNotification
        )
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), *self as u8)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A message id this codec does not know: count it and skip the frame.
    #[error("unsupported message type {0}")]
    UnsupportedType(u8),
    #[error("required TLV {tag:#06x} is missing")]
    MissingTlv { tag: u16 },
    #[error(transparent)]
    Tlv(#[from] TlvError),
    /// Wrong width, invalid UTF-8, or a known tag given twice.
    #[error("TLV {tag:#06x} has a bad value")]
    BadValue { tag: u16 },
}

impl DecodeError {
    /// Only an unknown message type leaves the session usable; anything
    /// else means the peer sent a message we understand but malformed.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, DecodeError::UnsupportedType(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    EchoRequest {
        transaction_id: u32,
    },
    EchoResponse {
        transaction_id: u32,
    },
    /// Sent by both sides: what the sender offers (controller) or wants
    /// (connector).
    Capability {
        protocol_version: u16,
        services: Service,
    },
    SubscribeRequest {
        transaction_id: u32,
        services: Service,
    },
    SubscribeResponse {
        transaction_id: u32,
        accepted: Service,
    },
    MeasurementRequest {
        transaction_id: u32,
    },
    MeasurementResponse {
        transaction_id: u32,
    },
    InformationRequest {
        transaction_id: u32,
    },
    InformationResponse {
        transaction_id: u32,
    },
    StatisticsRequest {
        transaction_id: u32,
    },
    StatisticsResponse {
        transaction_id: u32,
    },
    /// A data notification (15, 18 or 22). `body` is the authority: it is
    /// re-sent byte for byte because the cloud deduplicates on it, and
    /// `sequence`/`timestamp_ms` are copies read out of it for convenience.
    /// `encode` ignores them; build values with [`Message::notification`]
    /// so they cannot disagree with the body.
    Notification {
        msg_type: MessageType,
        sequence: u64,
        timestamp_ms: u64,
        body: Bytes,
    },
}

impl Message {
    pub fn msg_type(&self) -> MessageType {
        match self {
            Message::EchoRequest { .. } => MessageType::EchoRequest,
            Message::EchoResponse { .. } => MessageType::EchoResponse,
            Message::Capability { .. } => MessageType::CapabilityNotification,
            Message::SubscribeRequest { .. } => MessageType::ServiceSubscribeRequest,
            Message::SubscribeResponse { .. } => MessageType::ServiceSubscribeResponse,
            Message::MeasurementRequest { .. } => MessageType::MeasurementRequest,
            Message::MeasurementResponse { .. } => MessageType::MeasurementResponse,
            Message::InformationRequest { .. } => MessageType::InformationRequest,
            Message::InformationResponse { .. } => MessageType::InformationResponse,
            Message::StatisticsRequest { .. } => MessageType::StatisticsRequest,
            Message::StatisticsResponse { .. } => MessageType::StatisticsResponse,
            Message::Notification { msg_type, .. } => *msg_type,
        }
    }

    /// The transaction id of a request or response, for matching the two.
    pub fn transaction_id(&self) -> Option<u32> {
        match self {
            Message::EchoRequest { transaction_id }
            | Message::EchoResponse { transaction_id }
            | Message::SubscribeRequest { transaction_id, .. }
            | Message::SubscribeResponse { transaction_id, .. }
            | Message::MeasurementRequest { transaction_id }
            | Message::MeasurementResponse { transaction_id }
            | Message::InformationRequest { transaction_id }
            | Message::InformationResponse { transaction_id }
            | Message::StatisticsRequest { transaction_id }
            | Message::StatisticsResponse { transaction_id } => Some(*transaction_id),
            Message::Capability { .. } | Message::Notification { .. } => None,
        }
    }

    /// Wraps a notification body (see `notification::*` builders), reading
    /// sequence and timestamp from it. Fails with `UnsupportedType` if
    /// `msg_type` is not a data notification.
    pub fn notification(msg_type: MessageType, body: Bytes) -> Result<Message, DecodeError> {
        if !msg_type.is_data_notification() {
            return Err(DecodeError::UnsupportedType(msg_type as u8));
        }
        let [seq, ts] = find_tags(&body, [tag::SEQUENCE, tag::TIMESTAMP_MS])?;
        Ok(Message::Notification {
            msg_type,
            sequence: required(seq, tag::SEQUENCE, Tlv::u64)?,
            timestamp_ms: required(ts, tag::TIMESTAMP_MS, Tlv::u64)?,
            body,
        })
    }

    /// Infallible: every field has a fixed width. A notification body over
    /// 65,535 bytes is caught by `FrameCodec` when it is sent.
    pub fn encode(&self) -> Frame {
        if let Message::Notification { msg_type, body, .. } = self {
            return Frame::new(*msg_type as u8, body.clone());
        }
        let mut buf = BytesMut::new();
        let mut w = TlvWriter::new(&mut buf);
        match self {
            Message::Capability {
                protocol_version,
                services,
            } => {
                w.put_u16(tag::PROTOCOL_VERSION, *protocol_version);
                w.put_u32(tag::SERVICES, services.bits());
            }
            Message::SubscribeRequest {
                transaction_id,
                services: set,
            }
            | Message::SubscribeResponse {
                transaction_id,
                accepted: set,
            } => {
                w.put_u32(tag::TRANSACTION_ID, *transaction_id);
                w.put_u32(tag::SERVICES, set.bits());
            }
            other => {
                // Every remaining variant carries exactly a transaction id.
                if let Some(id) = other.transaction_id() {
                    w.put_u32(tag::TRANSACTION_ID, id);
                }
            }
        }
        Frame::new(self.msg_type() as u8, buf.freeze())
    }

    /// Flags are not looked at: the frame codec already refused unknown
    /// ones and none of the known ones change a message's meaning.
    pub fn decode(frame: &Frame) -> Result<Message, DecodeError> {
        let msg_type = MessageType::from_u8(frame.msg_type)
            .ok_or(DecodeError::UnsupportedType(frame.msg_type))?;
        let body = &frame.body[..];
        if msg_type.is_data_notification() {
            return Message::notification(msg_type, frame.body.clone());
        }
        if msg_type == MessageType::CapabilityNotification {
            let [ver, svc] = find_tags(body, [tag::PROTOCOL_VERSION, tag::SERVICES])?;
            return Ok(Message::Capability {
                protocol_version: required(ver, tag::PROTOCOL_VERSION, Tlv::u16)?,
                services: Service::from_bits(required(svc, tag::SERVICES, Tlv::u32)?),
            });
        }
        let [tid, svc] = find_tags(body, [tag::TRANSACTION_ID, tag::SERVICES])?;
        let transaction_id = required(tid, tag::TRANSACTION_ID, Tlv::u32)?;
        let services = || required(svc, tag::SERVICES, Tlv::u32).map(Service::from_bits);
        Ok(match msg_type {
            MessageType::EchoRequest => Message::EchoRequest { transaction_id },
            MessageType::EchoResponse => Message::EchoResponse { transaction_id },
            MessageType::ServiceSubscribeRequest => Message::SubscribeRequest {
                transaction_id,
                services: services()?,
            },
            MessageType::ServiceSubscribeResponse => Message::SubscribeResponse {
                transaction_id,
                accepted: services()?,
            },
            MessageType::MeasurementRequest => Message::MeasurementRequest { transaction_id },
            MessageType::MeasurementResponse => Message::MeasurementResponse { transaction_id },
            MessageType::InformationRequest => Message::InformationRequest { transaction_id },
            MessageType::InformationResponse => Message::InformationResponse { transaction_id },
            MessageType::StatisticsRequest => Message::StatisticsRequest { transaction_id },
            MessageType::StatisticsResponse => Message::StatisticsResponse { transaction_id },
            // Handled above; an error rather than `unreachable!` keeps
            // decode free of panics even if that dispatch ever changes.
            MessageType::CapabilityNotification
            | MessageType::MeasurementNotification
            | MessageType::InformationNotification
            | MessageType::StatisticsNotification
            | MessageType::AttachmentNotification => {
                return Err(DecodeError::UnsupportedType(frame.msg_type));
            }
        })
    }
}

/// Reads the whole body once, so a malformed TLV anywhere is an error even
/// after the wanted tags were found, and picks out `wanted`. Unknown tags
/// are skipped; a wanted tag given twice is `BadValue`, because which copy
/// counts would be a guess (and two readers could guess differently).
pub(super) fn find_tags<const N: usize>(
    body: &[u8],
    wanted: [u16; N],
) -> Result<[Option<Tlv<'_>>; N], DecodeError> {
    let mut found = [None; N];
    for tlv in TlvReader::new(body) {
        let tlv = tlv?;
        if let Some(i) = wanted.iter().position(|&t| t == tlv.tag) {
            if found[i].is_some() {
                return Err(DecodeError::BadValue { tag: tlv.tag });
            }
            found[i] = Some(tlv);
        }
    }
    Ok(found)
}

/// A present TLV whose value `read` cannot interpret is `BadValue`.
pub(super) fn required<'a, T>(
    tlv: Option<Tlv<'a>>,
    tag: u16,
    read: impl FnOnce(&Tlv<'a>) -> Option<T>,
) -> Result<T, DecodeError> {
    optional(tlv, tag, read)?.ok_or(DecodeError::MissingTlv { tag })
}

pub(super) fn optional<'a, T>(
    tlv: Option<Tlv<'a>>,
    tag: u16,
    read: impl FnOnce(&Tlv<'a>) -> Option<T>,
) -> Result<Option<T>, DecodeError> {
    tlv.map(|t| read(&t).ok_or(DecodeError::BadValue { tag }))
        .transpose()
}
