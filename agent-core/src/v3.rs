//! The SNMPv3 message (RFC 3412) with the User-based Security Model's parameters (RFC
//! 3414): encoded here, decoded totally, sealed (signed, encrypted) and opened with a
//! user's localised keys.
//!
//! The PDU inside is the same [`Pdu`] v1 and v2c carry, so everything above the transport
//! reads v3 as it reads v2c. Decoding the PDU goes through [`Message::decode`] (the scoped
//! PDU is framed as a v2c message for it), so a v3 reply's variables are read exactly as a
//! v2c reply's.

use std::ops::Range;

use crate::message::{encode_pdu, integer, tlv, DecodeError, Message, Pdu, PduKind};
use crate::usm::{self, LocalKeys, UsmUser};

/// msgFlags bits.
pub mod flags {
    /// The message is signed.
    pub const AUTH: u8 = 0x01;
    /// The scoped PDU is encrypted.
    pub const PRIV: u8 = 0x02;
    /// The sender wants a Report if the message fails.
    pub const REPORTABLE: u8 = 0x04;
}

/// The USM security parameters of a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsmParams {
    /// The authoritative engine's id (the agent's).
    pub engine_id: Vec<u8>,
    /// How many times that engine has restarted.
    pub boots: u32,
    /// Seconds since its last restart.
    pub time: u32,
    /// The user name.
    pub user: Vec<u8>,
    /// The truncated HMAC (or empty).
    pub auth: Vec<u8>,
    /// The privacy salt (or empty).
    pub privacy: Vec<u8>,
}

/// A scoped PDU: which engine and context a PDU is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedPdu {
    /// The context engine (the agent's engine id).
    pub context_engine_id: Vec<u8>,
    /// The context name (empty for the default context).
    pub context_name: Vec<u8>,
    /// The PDU.
    pub pdu: Pdu,
}

/// The message's data, as it travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// noAuthNoPriv and authNoPriv.
    Plain(ScopedPdu),
    /// authPriv: the encrypted scoped PDU.
    Encrypted(Vec<u8>),
}

/// An SNMPv3 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Message {
    /// Matches a reply (or a Report) to its request.
    pub msg_id: i32,
    /// The largest message the sender accepts.
    pub max_size: u32,
    /// [`flags`].
    pub flags: u8,
    /// USM parameters.
    pub usm: UsmParams,
    /// The data.
    pub payload: Payload,
}

/// Why a v3 message could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Its digest is not the one our key gives (or it is not signed though it must be).
    #[error("the message's digest is wrong")]
    WrongDigest,
    /// It is encrypted and did not decrypt to a scoped PDU.
    #[error("the message did not decrypt")]
    Decryption,
}

/// The SNMP version field of a datagram, read without decoding the rest.
pub fn peek_version(bytes: &[u8]) -> Option<i64> {
    let seq = snmp2::AsnReader::from_bytes(bytes).read_raw(0x30).ok()?;
    snmp2::AsnReader::from_bytes(seq).read_asn_integer().ok()
}

impl V3Message {
    /// Decodes one datagram. Total: never panics. Returns where the authentication
    /// parameters lie in `bytes`, which verifying the digest needs.
    pub fn decode(bytes: &[u8]) -> Result<(V3Message, Range<usize>), DecodeError> {
        use snmp2::AsnReader;
        let ber = |e: snmp2::Error| DecodeError::Ber(e.to_string());
        let seq = AsnReader::from_bytes(bytes).read_raw(0x30).map_err(ber)?;
        let mut r = AsnReader::from_bytes(seq);
        if r.read_asn_integer().map_err(ber)? != 3 {
            return Err(DecodeError::Unsupported("SNMP version"));
        }
        let mut g = AsnReader::from_bytes(r.read_raw(0x30).map_err(ber)?);
        let msg_id = i32::try_from(g.read_asn_integer().map_err(ber)?)
            .ok()
            .filter(|i| *i >= 0)
            .ok_or(DecodeError::Unsupported("msgID"))?;
        let max_size = u32::try_from(g.read_asn_integer().map_err(ber)?)
            .map_err(|_| DecodeError::Unsupported("msgMaxSize"))?;
        let flags = *g
            .read_asn_octetstring()
            .map_err(ber)?
            .first()
            .ok_or(DecodeError::Unsupported("msgFlags"))?;
        if g.read_asn_integer().map_err(ber)? != 3 {
            return Err(DecodeError::Unsupported("security model other than USM"));
        }
        let sp = r.read_asn_octetstring().map_err(ber)?;
        let mut s = AsnReader::from_bytes(AsnReader::from_bytes(sp).read_raw(0x30).map_err(ber)?);
        let engine_id = s.read_asn_octetstring().map_err(ber)?.to_vec();
        let boots = u32::try_from(s.read_asn_integer().map_err(ber)?)
            .map_err(|_| DecodeError::Unsupported("msgAuthoritativeEngineBoots"))?;
        let time = u32::try_from(s.read_asn_integer().map_err(ber)?)
            .map_err(|_| DecodeError::Unsupported("msgAuthoritativeEngineTime"))?;
        let user = s.read_asn_octetstring().map_err(ber)?.to_vec();
        let auth = s.read_asn_octetstring().map_err(ber)?;
        let auth_at = (auth.as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
        let auth_at = auth_at..auth_at + auth.len();
        let auth = auth.to_vec();
        let privacy = s.read_asn_octetstring().map_err(ber)?.to_vec();
        let payload = if flags & flags::PRIV != 0 {
            Payload::Encrypted(r.read_asn_octetstring().map_err(ber)?.to_vec())
        } else {
            Payload::Plain(ScopedPdu::decode(rest(seq, &r))?)
        };
        Ok((
            V3Message {
                msg_id,
                max_size,
                flags,
                usm: UsmParams {
                    engine_id,
                    boots,
                    time,
                    user,
                    auth,
                    privacy,
                },
                payload,
            },
            auth_at,
        ))
    }

    /// Encodes the message; returns the bytes and where the authentication parameters
    /// are in them, for signing.
    pub fn encode(&self) -> (Vec<u8>, Range<usize>) {
        let mut sp = Vec::with_capacity(64 + self.usm.auth.len());
        tlv(0x04, &self.usm.engine_id, &mut sp);
        integer(i64::from(self.usm.boots), &mut sp);
        integer(i64::from(self.usm.time), &mut sp);
        tlv(0x04, &self.usm.user, &mut sp);
        let auth_in_sp = sp.len() + header_len(self.usm.auth.len());
        tlv(0x04, &self.usm.auth, &mut sp);
        tlv(0x04, &self.usm.privacy, &mut sp);
        let mut sp_seq = Vec::with_capacity(sp.len() + 4);
        tlv(0x30, &sp, &mut sp_seq);
        let auth_in_sp = auth_in_sp + header_len(sp.len());

        let mut global = Vec::with_capacity(16);
        integer(i64::from(self.msg_id), &mut global);
        integer(i64::from(self.max_size), &mut global);
        tlv(0x04, &[self.flags], &mut global);
        integer(3, &mut global);

        let mut body = Vec::with_capacity(sp_seq.len() + 128);
        integer(3, &mut body);
        tlv(0x30, &global, &mut body);
        let auth_in_body = body.len() + header_len(sp_seq.len()) + auth_in_sp;
        tlv(0x04, &sp_seq, &mut body);
        match &self.payload {
            Payload::Plain(s) => body.extend_from_slice(&s.encode()),
            Payload::Encrypted(b) => tlv(0x04, b, &mut body),
        }
        let mut out = Vec::with_capacity(body.len() + 4);
        tlv(0x30, &body, &mut out);
        let at = header_len(body.len()) + auth_in_body;
        (out, at..at + self.usm.auth.len())
    }
}

impl ScopedPdu {
    /// Encodes the scoped PDU as a SEQUENCE.
    pub fn encode(&self) -> Vec<u8> {
        let pdu = encode_pdu(&self.pdu);
        let mut content = Vec::with_capacity(pdu.len() + 40);
        tlv(0x04, &self.context_engine_id, &mut content);
        tlv(0x04, &self.context_name, &mut content);
        content.extend_from_slice(&pdu);
        let mut out = Vec::with_capacity(content.len() + 4);
        tlv(0x30, &content, &mut out);
        out
    }

    /// Decodes a scoped PDU; bytes after its SEQUENCE (a cipher's padding) are ignored.
    pub fn decode(bytes: &[u8]) -> Result<ScopedPdu, DecodeError> {
        use snmp2::AsnReader;
        let ber = |e: snmp2::Error| DecodeError::Ber(e.to_string());
        let content = AsnReader::from_bytes(bytes).read_raw(0x30).map_err(ber)?;
        let mut s = AsnReader::from_bytes(content);
        let context_engine_id = s.read_asn_octetstring().map_err(ber)?.to_vec();
        let context_name = s.read_asn_octetstring().map_err(ber)?.to_vec();
        let pdu = rest(content, &s);
        let mut framed = Vec::with_capacity(pdu.len() + 8);
        let mut inner = Vec::with_capacity(pdu.len() + 5);
        integer(1, &mut inner);
        tlv(0x04, &[], &mut inner);
        inner.extend_from_slice(pdu);
        tlv(0x30, &inner, &mut framed);
        let msg = Message::decode(&framed)?;
        Ok(ScopedPdu {
            context_engine_id,
            context_name,
            pdu: msg.pdu,
        })
    }
}

/// What a sealed request is for: the engine as last heard from, and the message's own
/// numbers.
#[derive(Debug, Clone, Copy)]
pub struct Seal<'a> {
    /// The agent's engine id.
    pub engine_id: &'a [u8],
    /// Its boots.
    pub boots: u32,
    /// Its time, as estimated now.
    pub time: u32,
    /// The message id.
    pub msg_id: i32,
    /// A salt never used before under this key.
    pub salt: u64,
}

/// Builds, encrypts and signs a message from `user` as its security level asks: a
/// request to an agent, or (in the simulator) an agent's response.
pub fn seal(user: &UsmUser, keys: Option<&LocalKeys>, at: Seal<'_>, pdu: Pdu) -> Vec<u8> {
    let scoped = ScopedPdu {
        context_engine_id: at.engine_id.to_vec(),
        context_name: user.context().to_vec(),
        pdu,
    };
    let auth = keys.and_then(|k| k.auth.as_ref());
    let privacy = keys.and_then(|k| k.privacy.as_ref());
    // Requests want a Report when they fail; responses and Reports never do.
    let mut flags = if matches!(
        scoped.pdu.kind,
        PduKind::Get | PduKind::GetNext | PduKind::GetBulk
    ) {
        flags::REPORTABLE
    } else {
        0
    };
    let mut usm = UsmParams {
        engine_id: at.engine_id.to_vec(),
        boots: at.boots,
        time: at.time,
        user: user.name().to_vec(),
        auth: Vec::new(),
        privacy: Vec::new(),
    };
    if let Some((a, _)) = auth {
        flags |= flags::AUTH;
        usm.auth = vec![0; a.mac_len()];
    }
    let payload = match (auth, privacy) {
        (Some(_), Some((p, key))) => {
            flags |= flags::PRIV;
            let (ct, params) = usm::encrypt(*p, key, at.boots, at.time, at.salt, &scoped.encode());
            usm.privacy = params;
            Payload::Encrypted(ct)
        }
        _ => Payload::Plain(scoped),
    };
    let msg = V3Message {
        msg_id: at.msg_id,
        max_size: 65_507,
        flags,
        usm,
        payload,
    };
    let (mut bytes, at_auth) = msg.encode();
    if let Some((a, key)) = auth {
        let mac = a.mac(key, &bytes);
        if let Some(slot) = bytes.get_mut(at_auth) {
            slot.copy_from_slice(&mac);
        }
    }
    bytes
}

/// Verifies and decrypts a received message with the keys its request was sealed with.
/// An unsigned message passes only when `keys` asks for no authentication (Reports about
/// unknown users and engines come unsigned; the caller decides what to believe).
pub fn open(
    bytes: &[u8],
    msg: &V3Message,
    auth_at: Range<usize>,
    keys: Option<&LocalKeys>,
) -> Result<ScopedPdu, OpenError> {
    verify(bytes, msg, auth_at, keys)?;
    match &msg.payload {
        Payload::Plain(s) => Ok(s.clone()),
        Payload::Encrypted(ct) => {
            if msg.flags & flags::AUTH == 0 {
                return Err(OpenError::Decryption);
            }
            let Some((p, key)) = keys.and_then(|k| k.privacy.as_ref()) else {
                return Err(OpenError::Decryption);
            };
            let plain = usm::decrypt(*p, key, msg.usm.boots, msg.usm.time, &msg.usm.privacy, ct)
                .ok_or(OpenError::Decryption)?;
            ScopedPdu::decode(&plain).map_err(|_| OpenError::Decryption)
        }
    }
}

/// Checks a signed message's digest (an unsigned one passes: see [`open`]).
pub fn verify(
    bytes: &[u8],
    msg: &V3Message,
    auth_at: Range<usize>,
    keys: Option<&LocalKeys>,
) -> Result<(), OpenError> {
    if msg.flags & flags::AUTH != 0 {
        let Some((a, key)) = keys.and_then(|k| k.auth.as_ref()) else {
            return Err(OpenError::WrongDigest);
        };
        if msg.usm.auth.len() != a.mac_len() || auth_at.end > bytes.len() {
            return Err(OpenError::WrongDigest);
        }
        let mut zeroed = bytes.to_vec();
        zeroed[auth_at].fill(0);
        let mac = a.mac(key, &zeroed);
        // Constant time, so a forger learns nothing from how long a refusal takes.
        let diff = mac
            .iter()
            .zip(&msg.usm.auth)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y));
        if diff != 0 {
            return Err(OpenError::WrongDigest);
        }
    }
    Ok(())
}

/// The bytes of `whole` that reader `r` (made from `whole`) has not consumed yet.
fn rest<'a>(whole: &'a [u8], r: &snmp2::AsnReader<'a>) -> &'a [u8] {
    let at = whole.len().saturating_sub(r.bytes_left());
    whole.get(at..).unwrap_or_default()
}

fn header_len(len: usize) -> usize {
    if len < 0x80 {
        2
    } else {
        let bytes = (usize::BITS - len.leading_zeros()).div_ceil(8) as usize;
        2 + bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Value;
    use crate::oid::Oid;
    use crate::usm::{AuthProtocol, PrivProtocol};
    use proptest::prelude::*;

    /// Made once: turning passphrases into keys hashes two megabytes, too slow to do for
    /// every property case in a debug build.
    fn user() -> UsmUser {
        static USER: std::sync::OnceLock<UsmUser> = std::sync::OnceLock::new();
        USER.get_or_init(|| {
            UsmUser::new(
                "monitor",
                Some((AuthProtocol::Sha256, b"auth-pass-1234")),
                Some((PrivProtocol::Aes128, b"priv-pass-5678")),
                "ctx",
            )
            .unwrap()
        })
        .clone()
    }

    fn sealed(salt: u64) -> (Vec<u8>, LocalKeys) {
        let u = user();
        let keys = u.localize(b"\x80\x00\x1f\x88\x04engine");
        let pdu = Pdu {
            kind: PduKind::Response,
            request_id: 77,
            error_status: 0,
            error_index: 0,
            varbinds: vec![(Oid::lit("1.3.6.1.2.1.43.11.1.1.9.1.1"), Value::Integer(42))],
        };
        let at = Seal {
            engine_id: b"\x80\x00\x1f\x88\x04engine",
            boots: 3,
            time: 1000,
            msg_id: 77,
            salt,
        };
        (seal(&u, Some(&keys), at, pdu), keys)
    }

    #[test]
    fn a_sealed_message_opens_with_its_keys_only() {
        let (bytes, keys) = sealed(5);
        let (msg, at) = V3Message::decode(&bytes).unwrap();
        assert_eq!(msg.flags, flags::AUTH | flags::PRIV);
        assert_eq!(msg.usm.user, b"monitor");
        let scoped = open(&bytes, &msg, at.clone(), Some(&keys)).unwrap();
        assert_eq!(scoped.context_name, b"ctx");
        assert_eq!(scoped.pdu.varbinds[0].1, Value::Integer(42));

        let other = UsmUser::new(
            "monitor",
            Some((AuthProtocol::Sha256, b"another-pass")),
            Some((PrivProtocol::Aes128, b"priv-pass-5678")),
            "",
        )
        .unwrap()
        .localize(b"\x80\x00\x1f\x88\x04engine");
        assert_eq!(
            open(&bytes, &msg, at.clone(), Some(&other)),
            Err(OpenError::WrongDigest)
        );
        assert_eq!(open(&bytes, &msg, at, None), Err(OpenError::WrongDigest));

        // One flipped bit anywhere makes it a forgery or garbage, never a value.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            if let Ok((m, at)) = V3Message::decode(&b) {
                assert!(open(&b, &m, at, Some(&keys)).is_err(), "bit {i}");
            }
        }
    }

    #[test]
    fn salts_differ_so_ciphertexts_differ() {
        assert_ne!(sealed(1).0, sealed(2).0);
    }

    proptest! {
        /// Any bytes: a message or an error, never a panic; opening whatever decodes is
        /// total too.
        #[test]
        fn decoding_random_bytes_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let keys = user().localize(b"e");
            if let Ok((m, at)) = V3Message::decode(&bytes) {
                let _ = open(&bytes, &m, at, Some(&keys));
            }
        }

        /// A real message damaged: still never a panic.
        #[test]
        fn decoding_damaged_messages_is_total(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            cut in any::<usize>(),
        ) {
            let (mut bytes, keys) = sealed(9);
            for (at, b) in flips {
                let n = bytes.len();
                bytes[at % n] ^= b;
            }
            let n = bytes.len();
            bytes.truncate(cut % (n + 1));
            if let Ok((m, at)) = V3Message::decode(&bytes) {
                let _ = open(&bytes, &m, at, Some(&keys));
            }
        }
    }
}
