//! Address ranges as users write them: `10.1.0.0/16`, `10.1.2.10-10.1.2.50`, `10.1.2.7`,
//! or a host name. Parsing is total and errors say what was expected.

use std::net::Ipv4Addr;
use std::str::FromStr;

/// An inclusive span of IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First address.
    pub first: Ipv4Addr,
    /// Last address (inclusive).
    pub last: Ipv4Addr,
}

impl Span {
    /// How many addresses.
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.last)) - u64::from(u32::from(self.first)) + 1
    }

    /// Never empty: a span has at least its first address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// True when `a` is inside.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&a)
    }

    /// The addresses, in order.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.first)..=u32::from(self.last)).map(Ipv4Addr::from)
    }

    /// A CIDR block's hosts: without the network and broadcast addresses for blocks of
    /// four addresses or more (/30 and wider), all of them for /31 and /32.
    pub fn cidr(network: Ipv4Addr, prefix: u8) -> Option<Span> {
        if prefix > 32 {
            return None;
        }
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        let base = u32::from(network) & mask;
        let top = base | !mask;
        let (first, last) = if prefix <= 30 {
            (base + 1, top - 1)
        } else {
            (base, top)
        };
        Some(Span {
            first: first.into(),
            last: last.into(),
        })
    }
}

/// One RANGE argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// Addresses given by number.
    Span(Span),
    /// A host name, resolved when the sweep starts.
    Name(String),
}

/// Why a RANGE argument cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a range: {reason} (write 10.0.0.0/24, 10.0.0.5-10.0.0.90, 10.0.0.7 or a host name)")]
pub struct RangeError {
    /// What the user wrote.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| RangeError {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err("it is empty"));
        }
        if let Some((net, prefix)) = t.split_once('/') {
            let net: Ipv4Addr = net
                .parse()
                .map_err(|_| err("the part before / is not an IPv4 address"))?;
            let prefix: u8 = prefix
                .parse()
                .map_err(|_| err("the prefix length is not a number"))?;
            return Span::cidr(net, prefix)
                .map(Range::Span)
                .ok_or_else(|| err("the prefix length is over 32"));
        }
        if let Some((a, b)) = t.split_once('-') {
            if let (Ok(first), Ok(last)) =
                (a.trim().parse::<Ipv4Addr>(), b.trim().parse::<Ipv4Addr>())
            {
                if first > last {
                    return Err(err("the first address is after the last"));
                }
                return Ok(Range::Span(Span { first, last }));
            }
        }
        if let Ok(a) = t.parse::<Ipv4Addr>() {
            return Ok(Range::Span(Span { first: a, last: a }));
        }
        let valid_name = t.len() <= 253
            && t.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
            });
        if valid_name && !t.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Ok(Range::Name(t.to_string()));
        }
        Err(err(
            "it is neither an address, a block, a span nor a host name",
        ))
    }
}

/// A target's host and port, without resolving: an address, or a valid host name. What
/// looks like an address but is not one (`300.1.1.1`) is refused here rather than sent to
/// DNS, as `discover` refuses it.
pub fn host_and_port(spec: &str) -> Result<(&str, u16), String> {
    let (host, port) = match spec.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') => {
            let port = p
                .parse::<u16>()
                .map_err(|_| format!("{spec}: {p:?} is not a port number"))?;
            (h, port)
        }
        _ => (spec, 161),
    };
    if host.is_empty() {
        return Err(
            "empty target: give a host name or address, e.g. 10.0.0.7 or printer1:161".into(),
        );
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok((host, port));
    }
    match host.parse::<Range>() {
        Ok(Range::Name(_)) => Ok((host, port)),
        Ok(_) => Err(format!(
            "{spec}: give one address or host name, not a range"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks a target as a user wrote it (`host[:port]`, `[v6]:port`), without resolving
/// it: the collector's configuration, its `poll`, and the coordinator's `add` all ask this.
pub fn check_target(spec: &str) -> Result<(), String> {
    if crate::ipp::IppUri::is_ipp(spec) {
        return spec
            .trim()
            .parse::<crate::ipp::IppUri>()
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    if spec.parse::<std::net::SocketAddr>().is_ok()
        || spec
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok()
    {
        return Ok(());
    }
    host_and_port(spec).map(|_| ())
}

/// Sweeps larger than this (a /16) must be asked for as large: a slip in a prefix length
/// should not start hours of probing.
pub const LARGE_SWEEP: u64 = 65_536;

/// Addresses to sweep as disjoint spans in order, exclusions taken out: the set of a /8
/// is a few dozen bytes, not sixteen million addresses. Iterated lazily, each address
/// once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanSet {
    spans: Vec<Span>,
}

impl SpanSet {
    /// `spans` merged (overlaps and neighbours joined), minus `exclude`.
    pub fn new(spans: &[Span], exclude: &[Span]) -> SpanSet {
        let mut sorted: Vec<Span> = spans.to_vec();
        sorted.sort_by_key(|s| s.first);
        let mut merged: Vec<Span> = Vec::with_capacity(sorted.len());
        for s in sorted {
            match merged.last_mut() {
                Some(m) if u64::from(u32::from(s.first)) <= u64::from(u32::from(m.last)) + 1 => {
                    m.last = m.last.max(s.last);
                }
                _ => merged.push(s),
            }
        }
        let mut out = merged;
        for x in exclude {
            out = out
                .into_iter()
                .flat_map(|s| {
                    let (f, l) = (u32::from(s.first), u32::from(s.last));
                    let (xf, xl) = (u32::from(x.first), u32::from(x.last));
                    let mut keep = Vec::with_capacity(2);
                    if xl < f || xf > l {
                        keep.push(s);
                    } else {
                        if xf > f {
                            keep.push(Span {
                                first: s.first,
                                last: Ipv4Addr::from(xf - 1),
                            });
                        }
                        if xl < l {
                            keep.push(Span {
                                first: Ipv4Addr::from(xl + 1),
                                last: s.last,
                            });
                        }
                    }
                    keep
                })
                .collect();
        }
        SpanSet { spans: out }
    }

    /// How many addresses.
    pub fn len(&self) -> u64 {
        self.spans.iter().map(Span::len).sum()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Every address, in order, once.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.spans.iter().flat_map(Span::iter)
    }

    /// The spans.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }
}

impl FromIterator<Ipv4Addr> for SpanSet {
    fn from_iter<I: IntoIterator<Item = Ipv4Addr>>(addrs: I) -> Self {
        let spans: Vec<Span> = addrs
            .into_iter()
            .map(|a| Span { first: a, last: a })
            .collect();
        SpanSet::new(&spans, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_set_is_small_whatever_it_covers() {
        let eight = Span::cidr(Ipv4Addr::new(127, 0, 0, 0), 8).unwrap();
        let hole = Span::cidr(Ipv4Addr::new(127, 1, 0, 0), 16).unwrap();
        let set = SpanSet::new(&[eight, eight], &[hole]);
        assert_eq!(set.spans().len(), 2, "{set:?}");
        assert_eq!(set.len(), eight.len() - hole.len());
        assert_eq!(set.iter().next(), Some(Ipv4Addr::new(127, 0, 0, 1)));
        let a = |d| Ipv4Addr::new(10, 0, 0, d);
        let set = SpanSet::new(
            &[
                Span {
                    first: a(5),
                    last: a(9),
                },
                Span {
                    first: a(1),
                    last: a(4),
                },
                Span {
                    first: a(20),
                    last: a(20),
                },
            ],
            &[Span {
                first: a(3),
                last: a(3),
            }],
        );
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [1, 2, 4, 5, 6, 7, 8, 9, 20].map(a)
        );
    }
    use proptest::prelude::*;

    fn span(s: &str) -> Span {
        match s.parse::<Range>().unwrap() {
            Range::Span(s) => s,
            Range::Name(n) => panic!("{n} is a name"),
        }
    }

    #[test]
    fn forms() {
        let s = span("127.90.0.0/16");
        assert_eq!(
            (s.first, s.last, s.len()),
            (
                Ipv4Addr::new(127, 90, 0, 1),
                Ipv4Addr::new(127, 90, 255, 254),
                65_534
            )
        );
        assert_eq!(span("10.0.0.9/32").len(), 1);
        assert_eq!(span("10.0.0.8/31").len(), 2);
        assert_eq!(span("10.0.0.7/24").first, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(span("10.0.0.5 - 10.0.1.4").len(), 256);
        assert_eq!(span("10.0.0.7").len(), 1);
        assert_eq!(
            "printer1.example.lan".parse::<Range>().unwrap(),
            Range::Name("printer1.example.lan".into())
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/x",
            "10.0.0.9-10.0.0.1",
            "300.1.1.1",
            "a b",
            "-x.lan",
            "1.2.3",
        ] {
            let e = bad.parse::<Range>().unwrap_err();
            assert!(e.to_string().contains("not a range"), "{bad}: {e}");
        }
    }

    proptest! {
        #[test]
        fn parsing_is_total(s in "\\PC{0,40}") {
            let _ = s.parse::<Range>();
        }

        #[test]
        fn cidr_spans_hold_their_network(a in any::<u32>(), p in 0u8..=32) {
            let s = Span::cidr(Ipv4Addr::from(a), p).unwrap();
            prop_assert!(s.first <= s.last);
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            prop_assert_eq!(u32::from(s.first) & mask, a & mask);
            prop_assert_eq!(u32::from(s.last) & mask, a & mask);
        }
    }
}
