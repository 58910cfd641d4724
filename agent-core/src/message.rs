//! SNMP v1/v2c messages as owned data: the one encoder this project writes and the decoder
//! it borrows from snmp2.
//!
//! The transport and the simulator both speak in these types. Decoding goes through
//! `snmp2::Pdu::from_bytes` and is total (any bytes give a message or a [`DecodeError`]);
//! encoding is ours because snmp2 keeps its request encoder private and allocates a 64 KiB
//! buffer per message, which a simulator answering thousands of requests a second cannot
//! afford.

use crate::oid::Oid;

/// The community-based SNMP versions; v3 is a later addition behind the same interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Version {
    /// SNMPv1 (RFC 1157): no GETBULK, errors instead of exception values.
    V1,
    /// SNMPv2c (RFC 3416).
    V2c,
}

impl Version {
    fn wire(self) -> i64 {
        match self {
            Version::V1 => 0,
            Version::V2c => 1,
        }
    }
}

impl std::str::FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1" | "v1" => Ok(Version::V1),
            "2c" | "v2c" | "2" => Ok(Version::V2c),
            other => Err(format!("unknown SNMP version {other:?}: use 1 or 2c")),
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Version::V1 => "1",
            Version::V2c => "2c",
        })
    }
}

/// A variable's value, including RFC 3416's exception values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// INTEGER / Integer32.
    Integer(i64),
    /// OCTET STRING: text or binary, decoded later by whoever knows what it means.
    OctetString(Vec<u8>),
    /// NULL, as requests carry it.
    Null,
    /// OBJECT IDENTIFIER.
    ObjectId(Oid),
    /// IpAddress.
    IpAddress([u8; 4]),
    /// Counter32.
    Counter32(u32),
    /// Gauge32 / Unsigned32.
    Gauge32(u32),
    /// TimeTicks (hundredths of a second).
    TimeTicks(u32),
    /// Opaque.
    Opaque(Vec<u8>),
    /// Counter64 (v2c only).
    Counter64(u64),
    /// v2c exception: the object does not exist.
    NoSuchObject,
    /// v2c exception: the object exists but not this instance.
    NoSuchInstance,
    /// v2c exception: GETNEXT/GETBULK ran past the last object.
    EndOfMibView,
    /// A value that did not decode (an INTEGER of nine bytes, a bad length): kept under
    /// its name so a walk moves past it, read as missing, and counted by the transport.
    /// The variables around it stand.
    Malformed,
}

impl Value {
    /// The value as a signed number, whatever its numeric type.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Integer(v) => Some(v),
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => Some(i64::from(v)),
            Value::Counter64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as an unsigned count; counters that a device sends as INTEGER are accepted.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Counter64(v) => Some(v),
            _ => self.as_i64().and_then(|v| u64::try_from(v).ok()),
        }
    }

    /// The raw bytes of an OCTET STRING or Opaque.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::OctetString(b) | Value::Opaque(b) => Some(b),
            _ => None,
        }
    }

    /// True for the three exception values, which mean "no value here".
    pub fn is_exception(&self) -> bool {
        matches!(
            self,
            Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView
        )
    }
}

/// The PDU types this project sends or answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduKind {
    /// GetRequest.
    Get,
    /// GetNextRequest.
    GetNext,
    /// GetBulkRequest (v2c).
    GetBulk,
    /// Response (v2c) or GetResponse (v1).
    Response,
    /// Report (v3): why an agent refused a request (unknown engine or user, wrong digest).
    Report,
    /// Anything else a peer may send (SET, traps, reports): decoded, never acted upon.
    Other,
}

/// RFC 3416 error-status values that matter to a reader.
pub mod error_status {
    /// No error.
    pub const NO_ERROR: u32 = 0;
    /// The response would not fit in one message.
    pub const TOO_BIG: u32 = 1;
    /// v1: a variable does not exist (or GETNEXT ran off the end).
    pub const NO_SUCH_NAME: u32 = 2;
    /// A general error.
    pub const GEN_ERR: u32 = 5;
    /// v3: the access rules do not allow this user to do this (RFC 3416).
    pub const AUTHORIZATION_ERROR: u32 = 16;
}

/// A PDU. For GETBULK, `error_status` holds non-repeaters and `error_index` max-repetitions,
/// exactly as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// What kind of PDU.
    pub kind: PduKind,
    /// Matches a response to its request.
    pub request_id: i32,
    /// Error status, or non-repeaters for GETBULK.
    pub error_status: u32,
    /// Error index (1-based), or max-repetitions for GETBULK.
    pub error_index: u32,
    /// The variable bindings.
    pub varbinds: Vec<(Oid, Value)>,
}

/// A community-based SNMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// v1 or v2c.
    pub version: Version,
    /// The community string.
    pub community: Vec<u8>,
    /// The PDU.
    pub pdu: Pdu,
}

/// Why a datagram is not an SNMP message we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// snmp2 could not parse the BER.
    #[error("malformed SNMP message: {0}")]
    Ber(String),
    /// Parsed, but not a version or value this project handles.
    #[error("unsupported SNMP message: {0}")]
    Unsupported(&'static str),
}

impl Message {
    /// Decodes one datagram. Total: never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let pdu = snmp2::Pdu::from_bytes(bytes).map_err(|e| DecodeError::Ber(e.to_string()))?;
        let version = match pdu.version() {
            Ok(snmp2::Version::V1) => Version::V1,
            Ok(snmp2::Version::V2C) => Version::V2c,
            _ => return Err(DecodeError::Unsupported("SNMP version")),
        };
        let kind = match pdu.message_type {
            snmp2::MessageType::GetRequest => PduKind::Get,
            snmp2::MessageType::GetNextRequest => PduKind::GetNext,
            snmp2::MessageType::GetBulkRequest => PduKind::GetBulk,
            snmp2::MessageType::Response => PduKind::Response,
            snmp2::MessageType::Report => PduKind::Report,
            _ => PduKind::Other,
        };
        let varbinds = match each_varbind(bytes) {
            Some(v) => v,
            None => {
                let mut varbinds = Vec::new();
                for (name, value) in pdu.varbinds.clone() {
                    let oid = Oid::from_ber(name.as_bytes())
                        .ok_or(DecodeError::Unsupported("object identifier"))?;
                    varbinds.push((oid, convert(value)?));
                }
                varbinds
            }
        };
        Ok(Message {
            version,
            community: pdu.community.to_vec(),
            pdu: Pdu {
                kind,
                request_id: pdu.req_id,
                error_status: pdu.error_status,
                error_index: pdu.error_index,
                varbinds,
            },
        })
    }

    /// Encodes the message as BER, ready for one datagram.
    pub fn encode(&self) -> Vec<u8> {
        let pdu = encode_pdu(&self.pdu);
        let mut msg = Vec::with_capacity(pdu.len() + self.community.len() + 16);
        integer(self.version.wire(), &mut msg);
        tlv(0x04, &self.community, &mut msg);
        msg.extend_from_slice(&pdu);
        let mut out = Vec::with_capacity(msg.len() + 4);
        tlv(0x30, &msg, &mut out);
        out
    }
}

/// A PDU as one BER element (tag, length, content): what v1/v2c messages and v3 scoped
/// PDUs both carry.
pub(crate) fn encode_pdu(p: &Pdu) -> Vec<u8> {
    let mut vbl = Vec::with_capacity(p.varbinds.len() * 24);
    for (oid, value) in &p.varbinds {
        let mut vb = Vec::with_capacity(32);
        let mut o = Vec::with_capacity(oid.len() + 2);
        oid.write_ber(&mut o);
        tlv(0x06, &o, &mut vb);
        encode_value(value, &mut vb);
        tlv(0x30, &vb, &mut vbl);
    }
    let mut pdu = Vec::with_capacity(vbl.len() + 16);
    integer(i64::from(p.request_id), &mut pdu);
    integer(i64::from(p.error_status), &mut pdu);
    integer(i64::from(p.error_index), &mut pdu);
    tlv(0x30, &vbl, &mut pdu);
    let tag = match p.kind {
        PduKind::Get => 0xa0,
        PduKind::GetNext => 0xa1,
        PduKind::Response => 0xa2,
        PduKind::GetBulk => 0xa5,
        PduKind::Report => 0xa8,
        PduKind::Other => 0xa3,
    };
    let mut out = Vec::with_capacity(pdu.len() + 4);
    tlv(tag, &pdu, &mut out);
    out
}

/// The variable bindings of a message, each decoded on its own: a value that does not
/// decode becomes [`Value::Malformed`] under its name, and the ones after it are still
/// read (snmp2's iterator stops at the first bad one, which cost whole printers). `None`
/// when the message's frame is not what [`Message::decode`] already accepted.
fn each_varbind(bytes: &[u8]) -> Option<Vec<(Oid, Value)>> {
    use snmp2::AsnReader;
    const SEQUENCE: u8 = 0x30;
    let msg = AsnReader::from_bytes(bytes).read_raw(SEQUENCE).ok()?;
    let mut r = AsnReader::from_bytes(msg);
    r.read_raw(0x02).ok()?; // version
    r.read_raw(0x04).ok()?; // community
    let tag = r.peek_byte().ok()?;
    let mut pdu = AsnReader::from_bytes(r.read_raw(tag).ok()?);
    for _ in 0..3 {
        pdu.read_raw(0x02).ok()?; // request id, error status, error index
    }
    let mut list = AsnReader::from_bytes(pdu.read_raw(SEQUENCE).ok()?);
    let mut out = Vec::new();
    while list.peek_byte().is_ok() {
        // A pair whose own frame is broken leaves nothing to resynchronise on.
        let pair = list.read_raw(SEQUENCE).ok()?;
        let mut p = AsnReader::from_bytes(pair);
        let Some(oid) = p
            .read_asn_objectidentifier()
            .ok()
            .and_then(|n| Oid::from_ber(n.as_bytes()))
        else {
            continue;
        };
        let value = p
            .next()
            .and_then(|v| convert(v).ok())
            .unwrap_or(Value::Malformed);
        out.push((oid, value));
    }
    Some(out)
}

fn convert(v: snmp2::Value<'_>) -> Result<Value, DecodeError> {
    use snmp2::Value as S;
    Ok(match v {
        S::Integer(i) => Value::Integer(i),
        S::OctetString(b) => Value::OctetString(b.to_vec()),
        S::Null => Value::Null,
        S::ObjectIdentifier(o) => {
            Value::ObjectId(Oid::from_ber(o.as_bytes()).unwrap_or_else(|| Oid::new(vec![0, 0])))
        }
        S::IpAddress(a) => Value::IpAddress(a),
        S::Counter32(c) => Value::Counter32(c),
        S::Unsigned32(c) => Value::Gauge32(c),
        S::Timeticks(t) => Value::TimeTicks(t),
        S::Opaque(b) => Value::Opaque(b.to_vec()),
        S::Counter64(c) => Value::Counter64(c),
        S::NoSuchObject => Value::NoSuchObject,
        S::NoSuchInstance => Value::NoSuchInstance,
        S::EndOfMibView => Value::EndOfMibView,
        _ => return Err(DecodeError::Unsupported("value type in a variable binding")),
    })
}

fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Integer(i) => integer(*i, out),
        Value::OctetString(b) => tlv(0x04, b, out),
        Value::Null => tlv(0x05, &[], out),
        Value::ObjectId(o) => {
            let mut c = Vec::with_capacity(o.len() + 2);
            o.write_ber(&mut c);
            tlv(0x06, &c, out);
        }
        Value::IpAddress(a) => tlv(0x40, a, out),
        Value::Counter32(c) => unsigned(0x41, u64::from(*c), out),
        Value::Gauge32(c) => unsigned(0x42, u64::from(*c), out),
        Value::TimeTicks(c) => unsigned(0x43, u64::from(*c), out),
        Value::Opaque(b) => tlv(0x44, b, out),
        Value::Counter64(c) => unsigned(0x46, *c, out),
        Value::NoSuchObject => tlv(0x80, &[], out),
        Value::NoSuchInstance => tlv(0x81, &[], out),
        Value::EndOfMibView => tlv(0x82, &[], out),
        // Never sent; a simulator serving one sends what a broken agent might: an INTEGER
        // too long for 64 bits.
        Value::Malformed => tlv(0x02, &[0x7f; 9], out),
    }
}

pub(crate) fn tlv(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

pub(crate) fn integer(v: i64, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    tlv(0x02, &bytes[start..], out);
}

fn unsigned(tag: u8, v: u64, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    let mut buf = [0u8; 9];
    buf[1..].copy_from_slice(&bytes);
    // Keep one leading zero when the top bit is set, so the value stays positive.
    let mut start = 0;
    while start < 8 && buf[start] == 0 && buf[start + 1] & 0x80 == 0 {
        start += 1;
    }
    tlv(tag, &buf[start..], out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i32>().prop_map(|i| Value::Integer(i64::from(i))),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::OctetString),
            Just(Value::Null),
            any::<u32>().prop_map(Value::Counter32),
            any::<u32>().prop_map(Value::Gauge32),
            any::<u32>().prop_map(Value::TimeTicks),
            any::<u64>().prop_map(Value::Counter64),
            any::<[u8; 4]>().prop_map(Value::IpAddress),
            Just(Value::NoSuchObject),
            Just(Value::NoSuchInstance),
            Just(Value::EndOfMibView),
            proptest::collection::vec(0u32..100_000, 0..12)
                .prop_map(|rest| Value::ObjectId(Oid::new([vec![1, 3, 6], rest].concat()))),
        ]
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(
            v1 in any::<bool>(),
            community in proptest::collection::vec(any::<u8>(), 0..20),
            request_id in any::<i32>(),
            status in 0u32..20,
            index in 0u32..200,
            varbinds in proptest::collection::vec(
                (proptest::collection::vec(any::<u32>(), 0..12), arb_value()), 0..30),
        ) {
            let msg = Message {
                version: if v1 { Version::V1 } else { Version::V2c },
                community,
                pdu: Pdu {
                    kind: PduKind::Response,
                    request_id,
                    error_status: status,
                    error_index: index,
                    varbinds: varbinds
                        .into_iter()
                        .map(|(rest, v)| (Oid::new([vec![1, 3, 6, 1], rest].concat()), v))
                        .collect(),
                },
            };
            let bytes = msg.encode();
            prop_assert_eq!(Message::decode(&bytes), Ok(msg));
        }

        /// Any bytes at all: a message or an error, never a panic.
        #[test]
        fn decoding_random_bytes_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Message::decode(&bytes);
        }

        /// A real message with bytes flipped, cut or appended: still never a panic.
        #[test]
        fn decoding_damaged_messages_is_total(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            cut in any::<usize>(),
        ) {
            let msg = Message {
                version: Version::V2c,
                community: b"public".to_vec(),
                pdu: Pdu {
                    kind: PduKind::Response,
                    request_id: 77,
                    error_status: 0,
                    error_index: 0,
                    varbinds: vec![
                        (Oid::lit("1.3.6.1.2.1.43.11.1.1.9.1.1"), Value::Integer(42)),
                        (Oid::lit("1.3.6.1.2.1.1.1.0"), Value::OctetString(b"HP LaserJet".to_vec())),
                        (Oid::lit("1.3.6.1.2.1.1.2.0"), Value::ObjectId(Oid::lit("1.3.6.1.4.1.11"))),
                    ],
                },
            };
            let mut bytes = msg.encode();
            for (at, b) in flips {
                let n = bytes.len();
                bytes[at % n] ^= b;
            }
            let n = bytes.len();
            bytes.truncate(cut % (n + 1));
            let _ = Message::decode(&bytes);
        }
    }
}
