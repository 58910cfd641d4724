//! SNMPv3's User-based Security Model (RFC 3414), as net-snmp speaks it: who a v3 user is,
//! how their passphrases become keys, and the digests and ciphers those keys drive.
//!
//! A passphrase becomes a key (`Ku`) by hashing a megabyte of it: that costs milliseconds,
//! so it is done once, when a [`UsmUser`] is made. Each engine then gets its own localised
//! key (`Kul`, one more hash), which the transport caches per engine. Nothing here touches
//! the network; the transport seals and opens messages with these pieces (see `v3.rs`).

use std::sync::Arc;

use hmac::{Mac, SimpleHmac};

/// An authentication protocol: HMAC over the whole message with one of these hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AuthProtocol {
    /// HMAC-MD5-96 (RFC 3414).
    Md5,
    /// HMAC-SHA-96 (RFC 3414).
    Sha1,
    /// HMAC-SHA-224 truncated to 128 bits (RFC 7860).
    Sha224,
    /// HMAC-SHA-256 truncated to 192 bits (RFC 7860).
    Sha256,
    /// HMAC-SHA-384 truncated to 256 bits (RFC 7860).
    Sha384,
    /// HMAC-SHA-512 truncated to 384 bits (RFC 7860).
    Sha512,
}

/// A privacy protocol: how the scoped PDU is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PrivProtocol {
    /// CBC-DES (RFC 3414): weak, but what old printers have.
    Des,
    /// CFB128-AES-128 (RFC 3826).
    Aes128,
    /// CFB128-AES-192 with the key extended as net-snmp does (draft-blumenthal-aes-usm).
    Aes192,
    /// CFB128-AES-256 with the key extended as net-snmp does (draft-blumenthal-aes-usm).
    Aes256,
}

/// Why a user cannot be made from what was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsmError {
    /// RFC 3414 and net-snmp ask for at least 8 characters.
    #[error("the {0} passphrase is shorter than 8 characters, which SNMPv3 agents refuse")]
    ShortPassphrase(&'static str),
    /// Privacy without authentication is not a USM security level.
    #[error("a privacy protocol needs an authentication protocol too (authPriv)")]
    PrivWithoutAuth,
    /// The user name is empty or longer than RFC 3414's 32 octets.
    #[error("a v3 user name has 1 to 32 characters")]
    BadUserName,
}

/// Runs `$body` with `$d` the digest type of the protocol `$p`: the one place that maps a
/// protocol to its hash, for hashing, key stretching and HMAC alike.
macro_rules! with_digest {
    ($p:expr, $d:ident => $body:expr) => {
        match $p {
            AuthProtocol::Md5 => {
                type $d = md5::Md5;
                $body
            }
            AuthProtocol::Sha1 => {
                type $d = sha1::Sha1;
                $body
            }
            AuthProtocol::Sha224 => {
                type $d = sha2::Sha224;
                $body
            }
            AuthProtocol::Sha256 => {
                type $d = sha2::Sha256;
                $body
            }
            AuthProtocol::Sha384 => {
                type $d = sha2::Sha384;
                $body
            }
            AuthProtocol::Sha512 => {
                type $d = sha2::Sha512;
                $body
            }
        }
    };
}

impl AuthProtocol {
    /// Every protocol, for `--help` and error messages.
    pub const ALL: [AuthProtocol; 6] = [
        AuthProtocol::Md5,
        AuthProtocol::Sha1,
        AuthProtocol::Sha224,
        AuthProtocol::Sha256,
        AuthProtocol::Sha384,
        AuthProtocol::Sha512,
    ];

    /// Octets of msgAuthenticationParameters: the truncated HMAC.
    pub fn mac_len(self) -> usize {
        match self {
            AuthProtocol::Md5 | AuthProtocol::Sha1 => 12,
            AuthProtocol::Sha224 => 16,
            AuthProtocol::Sha256 => 24,
            AuthProtocol::Sha384 => 32,
            AuthProtocol::Sha512 => 48,
        }
    }

    fn hash(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        with_digest!(self, D => run::<D>(parts))
    }

    /// RFC 3414 A.2: a passphrase stretched over a megabyte and hashed: the user's key `Ku`.
    pub fn password_to_key(self, pass: &[u8]) -> Vec<u8> {
        fn run<D: sha2::Digest>(pass: &[u8]) -> Vec<u8> {
            let mut d = D::new();
            // A buffer of whole repetitions of the passphrase, long enough that each step
            // feeds 64 bytes starting at the right place in the cycle.
            let mut cycle = Vec::with_capacity(pass.len() * 2 + 64);
            while cycle.len() < pass.len() + 64 {
                cycle.extend_from_slice(pass);
            }
            let mut at = 0usize;
            for _ in 0..(1_048_576 / 64) {
                d.update(&cycle[at..at + 64]);
                at = (at + 64) % pass.len();
            }
            d.finalize().to_vec()
        }
        if pass.is_empty() {
            return Vec::new();
        }
        with_digest!(self, D => run::<D>(pass))
    }

    /// RFC 3414 A.2.2: the key for one engine, `H(Ku || engineID || Ku)`.
    pub fn localize(self, ku: &[u8], engine_id: &[u8]) -> Vec<u8> {
        self.hash(&[ku, engine_id, ku])
    }

    /// The truncated HMAC of `msg` under a localised key.
    pub fn mac(self, key: &[u8], msg: &[u8]) -> Vec<u8> {
        fn run<D>(key: &[u8], msg: &[u8], n: usize) -> Vec<u8>
        where
            D: sha2::Digest + sha2::digest::core_api::BlockSizeUser,
        {
            match <SimpleHmac<D> as sha2::digest::KeyInit>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(msg);
                    let mut out = m.finalize().into_bytes().to_vec();
                    out.truncate(n);
                    out
                }
                // HMAC takes keys of any length; this arm is never taken.
                Err(_) => vec![0; n],
            }
        }
        let n = self.mac_len();
        with_digest!(self, D => run::<D>(key, msg, n))
    }
}

/// A protocol's name as net-snmp and people spell it (`SHA-256`, `sha256`, `AES_256`),
/// reduced to one spelling to match on.
fn normalised(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '-' && *c != '_')
        .collect::<String>()
        .to_ascii_uppercase()
}

impl std::str::FromStr for AuthProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match normalised(s).as_str() {
            "MD5" => AuthProtocol::Md5,
            "SHA" | "SHA1" => AuthProtocol::Sha1,
            "SHA224" => AuthProtocol::Sha224,
            "SHA256" => AuthProtocol::Sha256,
            "SHA384" => AuthProtocol::Sha384,
            "SHA512" => AuthProtocol::Sha512,
            _ => {
                return Err(format!(
                    "unknown authentication protocol (of {} characters): use MD5, SHA, SHA224, SHA256, SHA384 or SHA512",
                    s.chars().count()
                ))
            }
        })
    }
}

impl std::fmt::Display for AuthProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthProtocol::Md5 => "MD5",
            AuthProtocol::Sha1 => "SHA",
            AuthProtocol::Sha224 => "SHA224",
            AuthProtocol::Sha256 => "SHA256",
            AuthProtocol::Sha384 => "SHA384",
            AuthProtocol::Sha512 => "SHA512",
        })
    }
}

impl PrivProtocol {
    /// Every protocol, for `--help` and error messages.
    pub const ALL: [PrivProtocol; 4] = [
        PrivProtocol::Des,
        PrivProtocol::Aes128,
        PrivProtocol::Aes192,
        PrivProtocol::Aes256,
    ];

    /// Octets of localised key the cipher needs (DES: 8 of key and 8 of pre-IV).
    fn key_len(self) -> usize {
        match self {
            PrivProtocol::Des | PrivProtocol::Aes128 => 16,
            PrivProtocol::Aes192 => 24,
            PrivProtocol::Aes256 => 32,
        }
    }
}

impl std::str::FromStr for PrivProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match normalised(s).as_str() {
            "DES" => PrivProtocol::Des,
            "AES" | "AES128" => PrivProtocol::Aes128,
            "AES192" => PrivProtocol::Aes192,
            "AES256" => PrivProtocol::Aes256,
            _ => {
                return Err(format!(
                    "unknown privacy protocol (of {} characters): use DES, AES, AES192 or AES256",
                    s.chars().count()
                ))
            }
        })
    }
}

impl std::fmt::Display for PrivProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PrivProtocol::Des => "DES",
            PrivProtocol::Aes128 => "AES",
            PrivProtocol::Aes192 => "AES192",
            PrivProtocol::Aes256 => "AES256",
        })
    }
}

/// A key derived from a passphrase: never printed.
#[derive(Clone, PartialEq, Eq)]
struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// The USM security levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum SecurityLevel {
    /// A user name only.
    NoAuthNoPriv,
    /// Messages are signed.
    AuthNoPriv,
    /// Messages are signed and their PDUs encrypted.
    AuthPriv,
}

impl std::fmt::Display for SecurityLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecurityLevel::NoAuthNoPriv => "noAuthNoPriv",
            SecurityLevel::AuthNoPriv => "authNoPriv",
            SecurityLevel::AuthPriv => "authPriv",
        })
    }
}

/// A v3 user as the collector knows it: a name, its protocols, the keys its passphrases
/// give (computed once, here) and the context to read. Cheap to clone; `Debug` and
/// `Display` show no secret.
#[derive(Clone)]
pub struct UsmUser {
    inner: Arc<UserInner>,
}

#[derive(PartialEq, Eq)]
struct UserInner {
    name: Vec<u8>,
    auth: Option<(AuthProtocol, Key)>,
    privacy: Option<(PrivProtocol, Key)>,
    context: Vec<u8>,
    fingerprint: u64,
}

impl PartialEq for UsmUser {
    fn eq(&self, o: &Self) -> bool {
        self.inner == o.inner
    }
}

impl Eq for UsmUser {}

impl std::fmt::Debug for UsmUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UsmUser({self})")
    }
}

impl std::fmt::Display for UsmUser {
    /// `v3 user NAME (SHA256/AES)`, with the context when there is one: what an operator
    /// needs to tell credentials apart, and no secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v3 user {}", String::from_utf8_lossy(&self.inner.name))?;
        match (&self.inner.auth, &self.inner.privacy) {
            (None, _) => write!(f, " (noAuthNoPriv)")?,
            (Some((a, _)), None) => write!(f, " ({a})")?,
            (Some((a, _)), Some((p, _))) => write!(f, " ({a}/{p})")?,
        }
        if !self.inner.context.is_empty() {
            write!(
                f,
                " context {}",
                String::from_utf8_lossy(&self.inner.context)
            )?;
        }
        Ok(())
    }
}

/// The keys of one user for one engine.
pub struct LocalKeys {
    /// Authentication protocol and localised key.
    pub auth: Option<(AuthProtocol, Vec<u8>)>,
    /// Privacy protocol and localised (and, for AES-192/256, extended) key.
    pub privacy: Option<(PrivProtocol, Vec<u8>)>,
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKeys(<secret>)")
    }
}

impl UsmUser {
    /// Makes a user, hashing its passphrases into keys now (a few milliseconds each).
    pub fn new(
        name: &str,
        auth: Option<(AuthProtocol, &[u8])>,
        privacy: Option<(PrivProtocol, &[u8])>,
        context: &str,
    ) -> Result<UsmUser, UsmError> {
        if name.is_empty() || name.len() > 32 {
            return Err(UsmError::BadUserName);
        }
        let auth_key = match auth {
            Some((_, p)) if p.len() < 8 => return Err(UsmError::ShortPassphrase("authentication")),
            Some((a, p)) => Some((a, Key(a.password_to_key(p)))),
            None => None,
        };
        let priv_key = match (privacy, auth) {
            (Some(_), None) => return Err(UsmError::PrivWithoutAuth),
            (Some((_, p)), _) if p.len() < 8 => return Err(UsmError::ShortPassphrase("privacy")),
            // The privacy key is made with the authentication protocol's hash (RFC 3414).
            (Some((pr, p)), Some((a, _))) => Some((pr, Key(a.password_to_key(p)))),
            (None, _) => None,
        };
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            name.hash(&mut h);
            auth_key.as_ref().map(|(a, k)| (a, &k.0)).hash(&mut h);
            priv_key.as_ref().map(|(p, k)| (p, &k.0)).hash(&mut h);
            h.finish()
        };
        Ok(UsmUser {
            inner: Arc::new(UserInner {
                name: name.as_bytes().to_vec(),
                auth: auth_key,
                privacy: priv_key,
                context: context.as_bytes().to_vec(),
                fingerprint,
            }),
        })
    }

    /// The same user at authNoPriv: what the transport asks with to tell a wrong privacy
    /// passphrase (which many agents answer with silence) from an agent that is gone.
    pub fn without_privacy(&self) -> UsmUser {
        let mut inner = UserInner {
            name: self.inner.name.clone(),
            auth: self.inner.auth.clone(),
            privacy: None,
            context: self.inner.context.clone(),
            fingerprint: 0,
        };
        inner.fingerprint = self.inner.fingerprint ^ 0x5bd1_e995;
        UsmUser {
            inner: Arc::new(inner),
        }
    }

    /// The user name as sent.
    pub fn name(&self) -> &[u8] {
        &self.inner.name
    }

    /// The context name as sent.
    pub fn context(&self) -> &[u8] {
        &self.inner.context
    }

    /// What this user's messages are.
    pub fn level(&self) -> SecurityLevel {
        match (&self.inner.auth, &self.inner.privacy) {
            (None, _) => SecurityLevel::NoAuthNoPriv,
            (Some(_), None) => SecurityLevel::AuthNoPriv,
            (Some(_), Some(_)) => SecurityLevel::AuthPriv,
        }
    }

    /// Tells users apart in key caches without holding their keys twice.
    pub fn fingerprint(&self) -> u64 {
        self.inner.fingerprint
    }

    /// The keys for one engine: one hash per key (plus, for AES-192/256 with a short hash,
    /// net-snmp's key extension). The transport calls this once per engine and user.
    pub fn localize(&self, engine_id: &[u8]) -> LocalKeys {
        let auth = self
            .inner
            .auth
            .as_ref()
            .map(|(a, ku)| (*a, a.localize(&ku.0, engine_id)));
        let privacy = match (&self.inner.privacy, &self.inner.auth) {
            (Some((p, ku)), Some((a, _))) => {
                let mut kul = a.localize(&ku.0, engine_id);
                // draft-blumenthal-aes-usm-04 3.1.2.1, as net-snmp extends a key that is
                // shorter than the cipher needs: append H(all so far) until long enough.
                while kul.len() < p.key_len() {
                    let more = a.hash(&[&kul]);
                    kul.extend_from_slice(&more);
                }
                kul.truncate(p.key_len());
                Some((*p, kul))
            }
            _ => None,
        };
        LocalKeys { auth, privacy }
    }
}

/// Encrypts a scoped PDU. `salt` must never repeat under one key; `boots`/`time` are the
/// engine's as sent in the message. Returns the ciphertext and msgPrivacyParameters.
pub fn encrypt(
    proto: PrivProtocol,
    key: &[u8],
    boots: u32,
    time: u32,
    salt: u64,
    plain: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    use cbc::cipher::{BlockEncryptMut, KeyIvInit};
    match proto {
        PrivProtocol::Des => {
            let mut params = [0u8; 8];
            params[..4].copy_from_slice(&boots.to_be_bytes());
            params[4..].copy_from_slice(&(salt as u32).to_be_bytes());
            let mut iv = [0u8; 8];
            for i in 0..8 {
                iv[i] = key[8 + i] ^ params[i];
            }
            let mut buf = plain.to_vec();
            let padded = buf.len().div_ceil(8) * 8;
            buf.resize(padded, 0);
            let enc = cbc::Encryptor::<des::Des>::new_from_slices(&key[..8], &iv);
            if let Ok(enc) = enc {
                let n = buf.len();
                let _ =
                    enc.encrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(&mut buf, n);
            }
            (buf, params.to_vec())
        }
        PrivProtocol::Aes128 | PrivProtocol::Aes192 | PrivProtocol::Aes256 => {
            let params = salt.to_be_bytes();
            let iv = aes_iv(boots, time, &params);
            let mut buf = plain.to_vec();
            aes_cfb(proto, key, &iv, &mut buf, true);
            (buf, params.to_vec())
        }
    }
}

/// Decrypts a scoped PDU; `None` when the parameters cannot be right (a wrong length).
pub fn decrypt(
    proto: PrivProtocol,
    key: &[u8],
    boots: u32,
    time: u32,
    params: &[u8],
    cipher_text: &[u8],
) -> Option<Vec<u8>> {
    use cbc::cipher::{BlockDecryptMut, KeyIvInit};
    if params.len() != 8 {
        return None;
    }
    match proto {
        PrivProtocol::Des => {
            if !cipher_text.len().is_multiple_of(8) || key.len() < 16 {
                return None;
            }
            let mut iv = [0u8; 8];
            for i in 0..8 {
                iv[i] = key[8 + i] ^ params[i];
            }
            let mut buf = cipher_text.to_vec();
            let dec = cbc::Decryptor::<des::Des>::new_from_slices(&key[..8], &iv).ok()?;
            dec.decrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(&mut buf)
                .ok()?;
            Some(buf)
        }
        _ => {
            let iv = aes_iv(boots, time, params);
            let mut buf = cipher_text.to_vec();
            if !aes_cfb(proto, key, &iv, &mut buf, false) {
                return None;
            }
            Some(buf)
        }
    }
}

fn aes_iv(boots: u32, time: u32, salt: &[u8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(&salt[..8]);
    iv
}

fn aes_cfb(proto: PrivProtocol, key: &[u8], iv: &[u8; 16], buf: &mut [u8], encrypt: bool) -> bool {
    use cbc::cipher::{AsyncStreamCipher, KeyIvInit};
    fn run<C>(key: &[u8], iv: &[u8; 16], buf: &mut [u8], encrypt: bool) -> bool
    where
        C: cbc::cipher::BlockEncryptMut + cbc::cipher::BlockCipher + cbc::cipher::KeyInit,
        cfb_mode::Encryptor<C>: KeyIvInit + AsyncStreamCipher,
        cfb_mode::Decryptor<C>: KeyIvInit + AsyncStreamCipher,
    {
        if encrypt {
            match cfb_mode::Encryptor::<C>::new_from_slices(key, iv) {
                Ok(c) => c.encrypt(buf),
                Err(_) => return false,
            }
        } else {
            match cfb_mode::Decryptor::<C>::new_from_slices(key, iv) {
                Ok(c) => c.decrypt(buf),
                Err(_) => return false,
            }
        }
        true
    }
    match proto {
        PrivProtocol::Aes128 if key.len() >= 16 => run::<aes::Aes128>(&key[..16], iv, buf, encrypt),
        PrivProtocol::Aes192 if key.len() >= 24 => run::<aes::Aes192>(&key[..24], iv, buf, encrypt),
        PrivProtocol::Aes256 if key.len() >= 32 => run::<aes::Aes256>(&key[..32], iv, buf, encrypt),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// RFC 3414 A.3.1 and A.3.2: "maplesyrup" with engine 000000000000000000000002.
    #[test]
    fn keys_match_rfc_3414_appendix_a() {
        let engine = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let ku = AuthProtocol::Md5.password_to_key(b"maplesyrup");
        assert_eq!(hex(&ku), "9faf3283884e92834ebc9847d8edd963");
        let kul = AuthProtocol::Md5.localize(&ku, &engine);
        assert_eq!(hex(&kul), "526f5eed9fcce26f8964c2930787d82b");
        let ku = AuthProtocol::Sha1.password_to_key(b"maplesyrup");
        assert_eq!(hex(&ku), "9fb5cc0381497b3793528939ff788d5d79145211");
        let kul = AuthProtocol::Sha1.localize(&ku, &engine);
        assert_eq!(hex(&kul), "6695febc9288e36282235fc7151f128497b38f3f");
    }

    #[test]
    fn protocols_parse_as_net_snmp_spells_them() {
        for (s, a) in [
            ("MD5", AuthProtocol::Md5),
            ("sha", AuthProtocol::Sha1),
            ("SHA-256", AuthProtocol::Sha256),
            ("SHA512", AuthProtocol::Sha512),
        ] {
            assert_eq!(s.parse::<AuthProtocol>(), Ok(a));
            assert_eq!(a.to_string().parse::<AuthProtocol>(), Ok(a));
        }
        assert_eq!("AES-256".parse::<PrivProtocol>(), Ok(PrivProtocol::Aes256));
        assert_eq!("aes".parse::<PrivProtocol>(), Ok(PrivProtocol::Aes128));
        assert!("3DES".parse::<PrivProtocol>().is_err());
        // A passphrase typed where the protocol goes is not shown back.
        let e = "hunter2-secret".parse::<AuthProtocol>().unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert!("SHA3".parse::<AuthProtocol>().is_err());
    }

    #[test]
    fn a_user_shows_no_secret() {
        let u = UsmUser::new(
            "monitor",
            Some((AuthProtocol::Sha256, b"auth-secret-1")),
            Some((PrivProtocol::Aes128, b"priv-secret-2")),
            "printers",
        )
        .unwrap();
        let shown = format!("{u} {u:?} {:?}", u.localize(b"engine"));
        assert_eq!(
            u.to_string(),
            "v3 user monitor (SHA256/AES) context printers"
        );
        assert!(!shown.contains("secret-"));
        assert_eq!(
            UsmUser::new("m", Some((AuthProtocol::Md5, b"short")), None, "").err(),
            Some(UsmError::ShortPassphrase("authentication"))
        );
        assert_eq!(
            UsmUser::new("m", None, Some((PrivProtocol::Des, b"longenough")), "").err(),
            Some(UsmError::PrivWithoutAuth)
        );
    }

    #[test]
    fn ciphers_round_trip_and_extend_short_keys() {
        for p in PrivProtocol::ALL {
            for a in [AuthProtocol::Md5, AuthProtocol::Sha512] {
                let u = UsmUser::new("u", Some((a, b"authpass1")), Some((p, b"privpass1")), "")
                    .unwrap();
                let keys = u.localize(b"\x80\x00\x1f\x88\x04engine");
                let (_, k) = keys.privacy.as_ref().unwrap();
                assert_eq!(k.len(), p.key_len());
                let plain = b"a scoped PDU of some odd length".to_vec();
                let (ct, params) = encrypt(p, k, 3, 1234, 99, &plain);
                assert_ne!(ct[..plain.len()], plain[..]);
                let back = decrypt(p, k, 3, 1234, &params, &ct).unwrap();
                assert_eq!(&back[..plain.len()], &plain[..]);
                assert!(decrypt(p, k, 3, 1234, &params[..4], &ct).is_none());
            }
        }
    }
}
