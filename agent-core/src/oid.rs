//! Object identifiers as owned, ordered arc lists.
//!
//! Every table walk, every MIB lookup and the simulator's ordered view of a device are keyed
//! by OIDs, so they need one cheap, totally ordered type with lexicographic order (which is
//! exactly SNMP's GETNEXT order) and a parser that never panics on user or network input.

use std::fmt;
use std::str::FromStr;

/// An SNMP object identifier, compared arc by arc as GETNEXT orders them.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(Vec<u32>);

/// Why a dotted string is not an OID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an OID: {0:?} (expected dotted numbers such as 1.3.6.1.2.1.1.1.0)")]
pub struct OidParseError(pub String);

impl Oid {
    /// Builds an OID from its arcs.
    pub fn new(arcs: impl Into<Vec<u32>>) -> Self {
        Oid(arcs.into())
    }

    /// Parses a dotted OID written in a test. Production code writes its OIDs as
    /// [`ConstOid`]s, which the compiler checks; this panics on a typo, which in a test is
    /// the failure wanted.
    pub fn lit(s: &str) -> Self {
        match s.parse() {
            Ok(oid) => oid,
            Err(e) => panic!("bad OID literal in a test: {e}"),
        }
    }

    /// The arcs.
    pub fn arcs(&self) -> &[u32] {
        &self.0
    }

    /// Number of arcs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty OID (never sent on the wire).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `self` lies inside the subtree rooted at `prefix` (or equals it).
    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The arcs after `prefix`, when `self` is inside it: the row index of a table cell.
    pub fn suffix(&self, prefix: &Oid) -> Option<&[u32]> {
        self.0.strip_prefix(prefix.0.as_slice())
    }

    /// A new OID with `arcs` appended: a column plus a row index gives a cell.
    pub fn child(&self, arcs: &[u32]) -> Oid {
        let mut v = Vec::with_capacity(self.0.len() + arcs.len());
        v.extend_from_slice(&self.0);
        v.extend_from_slice(arcs);
        Oid(v)
    }

    /// Decodes the content octets of a BER OBJECT IDENTIFIER. Total: any bytes give an OID
    /// or `None`, never a panic.
    pub fn from_ber(bytes: &[u8]) -> Option<Oid> {
        if bytes.is_empty() {
            return None;
        }
        let mut arcs = Vec::with_capacity(bytes.len() + 1);
        let mut acc: u64 = 0;
        let mut first = true;
        for (i, &b) in bytes.iter().enumerate() {
            acc = (acc << 7) | u64::from(b & 0x7f);
            if acc > u64::from(u32::MAX) + 80 {
                return None;
            }
            if b & 0x80 == 0 {
                if first {
                    let (x, y) = match acc {
                        0..=39 => (0, acc),
                        40..=79 => (1, acc - 40),
                        _ => (2, acc - 80),
                    };
                    arcs.push(x);
                    arcs.push(u32::try_from(y).ok()?);
                    first = false;
                } else {
                    arcs.push(u32::try_from(acc).ok()?);
                }
                acc = 0;
            } else if i + 1 == bytes.len() {
                return None;
            }
        }
        Some(Oid(arcs))
    }

    /// Appends the BER content octets of this OID to `out`.
    pub fn write_ber(&self, out: &mut Vec<u8>) {
        let arcs = &self.0;
        let (first, rest) = match arcs.len() {
            0 => (0u64, &arcs[..]),
            1 => (u64::from(arcs[0]) * 40, &arcs[1..]),
            _ => (u64::from(arcs[0]) * 40 + u64::from(arcs[1]), &arcs[2..]),
        };
        write_base128(first, out);
        for &a in rest {
            write_base128(u64::from(a), out);
        }
    }
}

/// The most arcs a [`ConstOid`] holds: the longest OID printwatch writes in its source has
/// 17, and SNMP's own limit (128) is far beyond any MIB object it reads.
pub const MAX_CONST_ARCS: usize = 24;

/// An OID written in the source (a MIB table, a vendor profile, the simulator's printers),
/// parsed by the compiler: `ConstOid::parse` is a `const fn` that panics on anything but
/// dotted decimal arcs, and a panic while a `const` is evaluated stops the build. So a
/// typo in a vendor's OID is a compile error, never a panic at poll time.
///
/// ```
/// use agent_core::oid::ConstOid;
/// const SUPPLY_LEVEL: ConstOid = ConstOid::parse("1.3.6.1.2.1.43.11.1.1.9");
/// assert_eq!(SUPPLY_LEVEL.arcs().len(), 11);
/// ```
///
/// The same with a typo does not build:
///
/// ```compile_fail
/// use agent_core::oid::ConstOid;
/// const SUPPLY_LEVEL: ConstOid = ConstOid::parse("1.3.6.1.2.1.43.11.1,1.9");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ConstOid {
    arcs: [u32; MAX_CONST_ARCS],
    len: usize,
}

impl ConstOid {
    /// Parses dotted decimal arcs ("1.3.6.1.2.1.1.1.0"): at least two, at most
    /// [`MAX_CONST_ARCS`], each a `u32`, no empty arc, no leading dot. Meant for `const`
    /// items, where a bad literal fails the build.
    pub const fn parse(dotted: &str) -> ConstOid {
        let b = dotted.as_bytes();
        let mut arcs = [0u32; MAX_CONST_ARCS];
        let mut len = 0;
        let mut i = 0;
        let mut arc: u64 = 0;
        let mut digits = 0;
        while i <= b.len() {
            if i == b.len() || b[i] == b'.' {
                if digits == 0 {
                    panic!("an OID literal has an empty arc (or is empty)");
                }
                if len == MAX_CONST_ARCS {
                    panic!("an OID literal has more arcs than ConstOid holds");
                }
                arcs[len] = arc as u32;
                len += 1;
                arc = 0;
                digits = 0;
            } else if b[i].is_ascii_digit() {
                arc = arc * 10 + (b[i] - b'0') as u64;
                if arc > u32::MAX as u64 {
                    panic!("an OID literal has an arc past 4294967295");
                }
                digits += 1;
            } else {
                panic!("an OID literal may hold only digits and dots");
            }
            i += 1;
        }
        if len < 2 {
            panic!("an OID literal needs at least two arcs");
        }
        ConstOid { arcs, len }
    }

    /// The arcs.
    pub fn arcs(&self) -> &[u32] {
        &self.arcs[..self.len]
    }

    /// The OID, owned, as requests and decoders use it.
    pub fn to_oid(&self) -> Oid {
        Oid(self.arcs().to_vec())
    }
}

impl From<ConstOid> for Oid {
    fn from(c: ConstOid) -> Oid {
        c.to_oid()
    }
}

impl fmt::Debug for ConstOid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConstOid({})", self.to_oid())
    }
}

/// Names OIDs as constants checked by the compiler: `NAME = "1.3.6..."` with its doc comment
/// becomes `pub const NAME: ConstOid`. MIB knowledge stays data, each OID with a name.
#[macro_export]
macro_rules! const_oids {
    ($($(#[$doc:meta])* $name:ident = $dotted:literal;)*) => {
        $( $(#[$doc])* pub const $name: $crate::oid::ConstOid = $crate::oid::ConstOid::parse($dotted); )*
    };
}

fn write_base128(v: u64, out: &mut Vec<u8>) {
    let mut groups = [0u8; 10];
    let mut n = 0;
    let mut x = v;
    loop {
        groups[n] = (x & 0x7f) as u8;
        n += 1;
        x >>= 7;
        if x == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
    }
}

impl FromStr for Oid {
    type Err = OidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('.');
        if t.is_empty() {
            return Err(OidParseError(s.to_string()));
        }
        t.split('.')
            .map(|a| a.parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map(Oid)
            .map_err(|_| OidParseError(s.to_string()))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

impl serde::Serialize for Oid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Oid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn orders_like_getnext() {
        let a = Oid::lit("1.3.6.1.2.1.43.11.1.1.9.1.2");
        let b = Oid::lit("1.3.6.1.2.1.43.11.1.1.9.1.10");
        let c = Oid::lit("1.3.6.1.2.1.43.12");
        assert!(a < b && b < c);
        assert!(a.starts_with(&Oid::lit("1.3.6.1.2.1.43.11")));
        assert_eq!(
            a.suffix(&Oid::lit("1.3.6.1.2.1.43.11.1.1.9")),
            Some(&[1, 2][..])
        );
    }

    #[test]
    fn const_oids_parse_as_text_does() {
        const SUPPLY_LEVEL: ConstOid = ConstOid::parse("1.3.6.1.2.1.43.11.1.1.9");
        assert_eq!(
            SUPPLY_LEVEL.to_oid(),
            "1.3.6.1.2.1.43.11.1.1.9".parse().unwrap()
        );
        const BIG: ConstOid = ConstOid::parse("1.4294967295");
        assert_eq!(BIG.arcs(), &[1, u32::MAX]);
        // A bad literal in a `const` is a compile error; called at run time it panics.
        for bad in ["", "1", "1..3", ".1.3", "1.3.", "1.3.x", "1.4294967296"] {
            assert!(
                std::panic::catch_unwind(|| ConstOid::parse(bad)).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn rejects_garbage_text() {
        assert!("".parse::<Oid>().is_err());
        assert!("1.3.x".parse::<Oid>().is_err());
        assert!("1..3".parse::<Oid>().is_err());
        assert_eq!(".1.3.6".parse::<Oid>().unwrap(), Oid::new(vec![1, 3, 6]));
    }

    proptest! {
        #[test]
        fn ber_round_trips(first in 0u32..3, second in 0u32..40, rest in proptest::collection::vec(any::<u32>(), 0..20)) {
            let mut arcs = vec![first, second];
            arcs.extend(rest);
            let oid = Oid::new(arcs);
            let mut buf = Vec::new();
            oid.write_ber(&mut buf);
            prop_assert_eq!(Oid::from_ber(&buf), Some(oid));
        }

        #[test]
        fn ber_decoding_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Oid::from_ber(&bytes);
        }
    }
}
