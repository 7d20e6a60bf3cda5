//! NMSP frames (`type u8 | flags u8 | length u16 BE | body`) and the
//! `tokio_util` codec that cuts a byte stream into them.
//!
//! This layer knows nothing about message types: an id it has never heard of
//! still makes a valid frame, so that the message layer can count it as
//! "unsupported" and the session goes on.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Bytes before the body: type, flags and the two length bytes.
pub const HEADER_LEN: usize = 4;

/// The length field is a u16, so this is also the largest body the wire can
/// express; the constant exists so callers can check before building a frame.
pub const MAX_BODY_LEN: usize = u16::MAX as usize;

/// Flag bits this codec understands. None are defined yet; keeping the mask
/// explicit means a peer using a future bit is refused loudly instead of
/// being misread.
pub const KNOWN_FLAGS: u8 = 0x00;

/// One frame as it travels; `body` is kept as the exact received bytes
/// because notification bodies are forwarded (and deduplicated) verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub msg_type: u8,
    pub flags: u8,
    pub body: Bytes,
}

impl Frame {
    /// A frame with no flags set, which is every frame we send today.
    pub fn new(msg_type: u8, body: Bytes) -> Self {
        Frame {
            msg_type,
            flags: 0,
            body,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame has unknown flag bits set (flags = {flags:#04x})")]
    UnknownFlags { flags: u8 },
    #[error("frame body of {len} bytes exceeds the maximum of {max}")]
    BodyTooLarge { len: usize, max: usize },
    /// Required by `Encoder`/`Decoder` so transport errors share one type.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// All state lives in the caller's buffer, so the codec can be recreated
/// or shared freely. Its one setting is the largest body a channel accepts
/// (a smaller one for the AP channel bounds what an AP can make us buffer).
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_body: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec {
            max_body: MAX_BODY_LEN,
        }
    }
}

impl FrameCodec {
    pub fn new() -> Self {
        FrameCodec::default()
    }

    /// A codec that refuses (as `BodyTooLarge`) a frame announcing a body
    /// over `max_body` bytes, before buffering any of it.
    pub fn with_max_body(max_body: usize) -> Self {
        FrameCodec {
            max_body: max_body.min(MAX_BODY_LEN),
        }
    }
}

fn check_flags(flags: u8) -> Result<(), FrameError> {
    if flags & !KNOWN_FLAGS != 0 {
        return Err(FrameError::UnknownFlags { flags });
    }
    Ok(())
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        // Flags are judged as soon as they arrive so a bad peer is dropped
        // without waiting for (and buffering) a body we would refuse anyway.
        if src.len() >= 2 {
            check_flags(src[1])?;
        }
        if src.len() < HEADER_LEN {
            return Ok(None);
        }
        let body_len = usize::from(u16::from_be_bytes([src[2], src[3]]));
        if body_len > self.max_body {
            return Err(FrameError::BodyTooLarge {
                len: body_len,
                max: self.max_body,
            });
        }
        let frame_len = HEADER_LEN + body_len;
        if src.len() < frame_len {
            // Bounded by the u16 length: at most HEADER_LEN + 65535 bytes.
            src.reserve(frame_len - src.len());
            return Ok(None);
        }
        let mut raw = src.split_to(frame_len);
        let msg_type = raw.get_u8();
        let flags = raw.get_u8();
        raw.advance(2);
        Ok(Some(Frame {
            msg_type,
            flags,
            body: raw.freeze(),
        }))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        // Never send what our own decoder would refuse.
        check_flags(frame.flags)?;
        let len = frame.body.len();
        if len > self.max_body {
            return Err(FrameError::BodyTooLarge {
                len,
                max: self.max_body,
            });
        }
        let wire_len = len as u16;
        dst.reserve(HEADER_LEN + len);
        dst.put_u8(frame.msg_type);
        dst.put_u8(frame.flags);
        dst.put_u16(wire_len);
        dst.extend_from_slice(&frame.body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Vec<Frame> {
        let mut codec = FrameCodec::new();
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(f) = codec.decode(&mut buf).expect("decode") {
            out.push(f);
        }
        out
    }

    #[test]
    fn encode_decode_round_trip() {
        let frame = Frame::new(42, Bytes::from_static(b"\x00\x01\x00\x01\xff"));
        let mut buf = BytesMut::new();
        FrameCodec::new().encode(frame.clone(), &mut buf).unwrap();
        assert_eq!(&buf[..], b"\x2a\x00\x00\x05\x00\x01\x00\x01\xff");
        assert_eq!(decode_all(&buf), vec![frame]);
    }

    #[test]
    fn empty_body_and_back_to_back_frames() {
        let frames = decode_all(b"\x01\x00\x00\x00\x02\x00\x00\x01\x09");
        assert_eq!(
            frames,
            vec![
                Frame::new(1, Bytes::new()),
                Frame::new(2, Bytes::from_static(b"\x09")),
            ]
        );
    }

    #[test]
    fn a_channel_limit_refuses_larger_frames_from_the_header_alone() {
        let mut buf = BytesMut::from(&b"\x0f\x00\x10\x01"[..]);
        let err = FrameCodec::with_max_body(4096)
            .decode(&mut buf)
            .unwrap_err();
        assert!(matches!(
            err,
            FrameError::BodyTooLarge {
                len: 4097,
                max: 4096
            }
        ));
        assert!(
            buf.capacity() < 4096,
            "nothing reserved for the refused body"
        );
    }

    #[test]
    fn unknown_flags_rejected_as_soon_as_seen() {
        let mut buf = BytesMut::from(&b"\x01\x80"[..]);
        let err = FrameCodec::new().decode(&mut buf).unwrap_err();
        assert!(matches!(err, FrameError::UnknownFlags { flags: 0x80 }));
    }

    #[test]
    fn encoder_rejects_unknown_flags_and_oversize_body() {
        let mut buf = BytesMut::new();
        let flagged = Frame {
            msg_type: 1,
            flags: 0x01,
            body: Bytes::new(),
        };
        assert!(matches!(
            FrameCodec::new().encode(flagged, &mut buf),
            Err(FrameError::UnknownFlags { flags: 1 })
        ));
        let big = Frame::new(1, Bytes::from(vec![0u8; MAX_BODY_LEN + 1]));
        assert!(matches!(
            FrameCodec::new().encode(big, &mut buf),
            Err(FrameError::BodyTooLarge { len, .. }) if len == MAX_BODY_LEN + 1
        ));
        assert!(buf.is_empty(), "a failed encode must not write anything");
        let max = Frame::new(1, Bytes::from(vec![7u8; MAX_BODY_LEN]));
        FrameCodec::new().encode(max.clone(), &mut buf).unwrap();
        assert_eq!(decode_all(&buf), vec![max]);
    }

    #[test]
    fn byte_by_byte_yields_frame_only_at_the_end() {
        let wire = b"\x0f\x00\x00\x06\x00\x02\x00\x02\xab\xcd";
        let mut codec = FrameCodec::new();
        let mut buf = BytesMut::new();
        for (i, b) in wire.iter().enumerate() {
            buf.put_u8(*b);
            let got = codec.decode(&mut buf).unwrap();
            if i + 1 < wire.len() {
                assert!(got.is_none(), "frame yielded early at byte {i}");
            } else {
                let f = got.expect("frame at last byte");
                assert_eq!(f.msg_type, 15);
                assert_eq!(&f.body[..], &wire[4..]);
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn max_claimed_length_with_few_bytes_waits_and_reserves_bounded() {
        let mut wire = vec![0x01, 0x00, 0xff, 0xff];
        wire.extend_from_slice(&[0u8; 6]);
        let mut buf = BytesMut::from(&wire[..]);
        assert!(FrameCodec::new().decode(&mut buf).unwrap().is_none());
        assert_eq!(buf.len(), 10, "nothing consumed while waiting");
        assert!(buf.capacity() >= HEADER_LEN + MAX_BODY_LEN);
        assert!(
            buf.capacity() <= HEADER_LEN + MAX_BODY_LEN,
            "reserved {} bytes",
            buf.capacity()
        );
    }
}
