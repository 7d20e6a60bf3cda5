//! TLVs inside a frame body (`tag u16 BE | len u16 BE | value`): a
//! borrowing reader, an appending writer, and fixed-width value accessors.

use bytes::{BufMut, BytesMut};

/// Tag plus length bytes in front of every value.
pub const TLV_HEADER_LEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// Fewer than four bytes left where a TLV header should start.
    #[error("TLV header truncated at offset {offset}: {remaining} byte(s) left")]
    TruncatedHeader { offset: usize, remaining: usize },
    /// The declared value length runs past the end of the body.
    #[error("TLV {tag:#06x} at offset {offset} declares {declared} byte(s), only {available} left")]
    Truncated {
        tag: u16,
        offset: usize,
        declared: u16,
        available: usize,
    },
    /// Only the writer produces this: the wire length field is a u16.
    #[error("TLV {tag:#06x} value of {len} bytes does not fit a u16 length")]
    ValueTooLong { tag: u16, len: usize },
}

/// One TLV, borrowing its value from the body it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u16,
    pub value: &'a [u8],
}

impl Tlv<'_> {
    /// `None` unless the value is exactly `N` bytes: a fixed-width field of
    /// the wrong size is a malformed value, not something to pad or cut.
    pub fn fixed<const N: usize>(&self) -> Option<[u8; N]> {
        self.value.try_into().ok()
    }

    pub fn u8(&self) -> Option<u8> {
        self.fixed::<1>().map(|b| b[0])
    }

    pub fn i8(&self) -> Option<i8> {
        self.fixed().map(i8::from_be_bytes)
    }

    pub fn u16(&self) -> Option<u16> {
        self.fixed().map(u16::from_be_bytes)
    }

    pub fn u32(&self) -> Option<u32> {
        self.fixed().map(u32::from_be_bytes)
    }

    pub fn u64(&self) -> Option<u64> {
        self.fixed().map(u64::from_be_bytes)
    }

    pub fn str(&self) -> Option<&str> {
        std::str::from_utf8(self.value).ok()
    }
}

/// Iterates the TLVs of a body. After the first error it yields nothing
/// more: once a length is wrong, every later offset is meaningless.
#[derive(Debug, Clone)]
pub struct TlvReader<'a> {
    body: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> TlvReader<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        TlvReader {
            body,
            offset: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for TlvReader<'a> {
    type Item = Result<Tlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.body.len() {
            return None;
        }
        let rest = &self.body[self.offset..];
        let Some((header, after)) = rest.split_first_chunk::<TLV_HEADER_LEN>() else {
            self.failed = true;
            return Some(Err(TlvError::TruncatedHeader {
                offset: self.offset,
                remaining: rest.len(),
            }));
        };
        let tag = u16::from_be_bytes([header[0], header[1]]);
        let declared = u16::from_be_bytes([header[2], header[3]]);
        let Some(value) = after.get(..usize::from(declared)) else {
            self.failed = true;
            return Some(Err(TlvError::Truncated {
                tag,
                offset: self.offset,
                declared,
                available: after.len(),
            }));
        };
        self.offset += TLV_HEADER_LEN + value.len();
        Some(Ok(Tlv { tag, value }))
    }
}

/// Appends TLVs to a caller's buffer, so a message can be built straight
/// into whatever buffer will carry it.
#[derive(Debug)]
pub struct TlvWriter<'a> {
    buf: &'a mut BytesMut,
}

impl<'a> TlvWriter<'a> {
    pub fn new(buf: &'a mut BytesMut) -> Self {
        TlvWriter { buf }
    }

    /// The only fallible put: everything else has a fixed width far below
    /// the u16 limit.
    pub fn put_bytes(&mut self, tag: u16, value: &[u8]) -> Result<&mut Self, TlvError> {
        let len = u16::try_from(value.len()).map_err(|_| TlvError::ValueTooLong {
            tag,
            len: value.len(),
        })?;
        self.buf.reserve(TLV_HEADER_LEN + value.len());
        self.buf.put_u16(tag);
        self.buf.put_u16(len);
        self.buf.extend_from_slice(value);
        Ok(self)
    }

    pub fn put_str(&mut self, tag: u16, value: &str) -> Result<&mut Self, TlvError> {
        self.put_bytes(tag, value.as_bytes())
    }

    fn put_fixed<const N: usize>(&mut self, tag: u16, value: [u8; N]) -> &mut Self {
        const { assert!(N <= u16::MAX as usize) };
        self.buf.reserve(TLV_HEADER_LEN + N);
        self.buf.put_u16(tag);
        self.buf.put_u16(N as u16);
        self.buf.extend_from_slice(&value);
        self
    }

    pub fn put_u8(&mut self, tag: u16, v: u8) -> &mut Self {
        self.put_fixed(tag, [v])
    }

    pub fn put_i8(&mut self, tag: u16, v: i8) -> &mut Self {
        self.put_fixed(tag, v.to_be_bytes())
    }

    pub fn put_u16(&mut self, tag: u16, v: u16) -> &mut Self {
        self.put_fixed(tag, v.to_be_bytes())
    }

    pub fn put_u32(&mut self, tag: u16, v: u32) -> &mut Self {
        self.put_fixed(tag, v.to_be_bytes())
    }

    pub fn put_u64(&mut self, tag: u16, v: u64) -> &mut Self {
        self.put_fixed(tag, v.to_be_bytes())
    }

    pub fn put_mac(&mut self, tag: u16, mac: [u8; 6]) -> &mut Self {
        self.put_fixed(tag, mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_then_reader_round_trip() {
        let mut buf = BytesMut::new();
        let mut w = TlvWriter::new(&mut buf);
        w.put_u8(1, 0xab).put_i8(2, -70).put_u16(3, 0x0102);
        w.put_u32(4, 0xdead_beef).put_u64(5, u64::MAX);
        w.put_str(6, "ssid").unwrap().put_bytes(7, &[]).unwrap();
        w.put_mac(8, [1, 2, 3, 4, 5, 6]);

        let tlvs: Vec<_> = TlvReader::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(tlvs.len(), 8);
        assert_eq!(tlvs[0].u8(), Some(0xab));
        assert_eq!(tlvs[1].i8(), Some(-70));
        assert_eq!(tlvs[2].u16(), Some(0x0102));
        assert_eq!(tlvs[3].u32(), Some(0xdead_beef));
        assert_eq!(tlvs[4].u64(), Some(u64::MAX));
        assert_eq!(tlvs[5].str(), Some("ssid"));
        assert_eq!(tlvs[6].value, b"");
        assert_eq!(tlvs[7].fixed::<6>(), Some([1, 2, 3, 4, 5, 6]));
        // Wrong widths are refused, not coerced.
        assert_eq!(tlvs[3].u16(), None);
        assert_eq!(tlvs[0].u32(), None);
    }

    #[test]
    fn exact_bytes() {
        let mut buf = BytesMut::new();
        TlvWriter::new(&mut buf).put_u32(0x0001, 7);
        assert_eq!(&buf[..], b"\x00\x01\x00\x04\x00\x00\x00\x07");
    }

    #[test]
    fn value_running_past_body_is_truncated_error() {
        // Tag 0x0010 claims 6 bytes, only 3 follow.
        let body = b"\x00\x01\x00\x01\x05\x00\x10\x00\x06\xaa\xbb\xcc";
        let mut r = TlvReader::new(body);
        assert_eq!(r.next().unwrap().unwrap().tag, 1);
        assert_eq!(
            r.next().unwrap(),
            Err(TlvError::Truncated {
                tag: 0x10,
                offset: 5,
                declared: 6,
                available: 3
            })
        );
        assert!(r.next().is_none(), "reader stops after an error");
    }

    #[test]
    fn partial_header_is_error() {
        let mut r = TlvReader::new(b"\x00\x01\x00");
        assert_eq!(
            r.next().unwrap(),
            Err(TlvError::TruncatedHeader {
                offset: 0,
                remaining: 3
            })
        );
        assert!(r.next().is_none());
    }

    #[test]
    fn empty_body_has_no_tlvs() {
        assert!(TlvReader::new(&[]).next().is_none());
    }

    #[test]
    fn oversize_value_rejected() {
        let mut buf = BytesMut::new();
        let big = vec![0u8; 65_536];
        let err = TlvWriter::new(&mut buf).put_bytes(9, &big).unwrap_err();
        assert_eq!(
            err,
            TlvError::ValueTooLong {
                tag: 9,
                len: 65_536
            }
        );
        assert!(buf.is_empty());
    }
}
