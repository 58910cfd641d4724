//! What a sweep covers: RANGE arguments (CIDR blocks, spans, addresses, host names) minus
//! exclusions, expanded to the addresses to probe, each once; with no RANGE, the subnets of
//! this host's own interfaces.

use std::net::{IpAddr, Ipv4Addr};

use agent_core::range::{Range, Span, SpanSet};
use anyhow::{bail, Context, Result};

/// The subnets of this host's non-loopback IPv4 interfaces.
pub fn own_subnets() -> Result<Vec<Span>> {
    let mut spans = Vec::new();
    for iface in if_addrs::get_if_addrs().context("listing network interfaces")? {
        if let if_addrs::IfAddr::V4(v4) = &iface.addr {
            if v4.ip.is_loopback() {
                continue;
            }
            let prefix = u32::from(v4.netmask).leading_ones() as u8;
            // A host route or a point-to-point link is no subnet to sweep; a subnet wider
            // than a /16 is narrowed to the /16 around this host.
            if let Some(span) = Span::cidr(v4.ip, prefix.max(16)).filter(|_| prefix < 31) {
                spans.push(span);
            }
        }
    }
    if spans.is_empty() {
        bail!("this host has no non-loopback IPv4 subnet to sweep: give RANGEs");
    }
    Ok(spans)
}

async fn resolve_name(name: &str) -> Result<Ipv4Addr> {
    let addrs = tokio::net::lookup_host((name, 0))
        .await
        .map_err(|e| anyhow::anyhow!("cannot resolve {name}: {e}"))?;
    addrs
        .filter_map(|a| match a.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| anyhow::anyhow!("cannot resolve {name}: it has no IPv4 address"))
}

/// RANGEs minus exclusions: the addresses to probe, in order, each once.
/// A name that does not resolve is skipped, not fatal: the rest of a site's sweep is still
/// worth doing. Returns the addresses and why each skipped name was skipped, for the
/// caller to tell its user (a terminal, a log).
pub async fn addresses(ranges: &[String], exclude: &[String]) -> Result<(SpanSet, Vec<String>)> {
    let mut unresolved = Vec::new();
    let mut spans = Vec::new();
    if ranges.is_empty() {
        spans = own_subnets()?;
    }
    for r in ranges {
        match r.parse::<Range>()? {
            Range::Span(s) => spans.push(s),
            Range::Name(n) => match resolve_name(&n).await {
                Ok(a) => spans.push(Span { first: a, last: a }),
                Err(e) => unresolved.push(e.to_string()),
            },
        }
    }
    let mut excluded = Vec::new();
    for r in exclude {
        match r.parse::<Range>()? {
            Range::Span(s) => excluded.push(s),
            Range::Name(n) => {
                let a = resolve_name(&n).await?;
                excluded.push(Span { first: a, last: a });
            }
        }
    }
    let set = SpanSet::new(&spans, &excluded);
    if set.len() > 1 << 24 {
        bail!(
            "{} addresses is more than a /8: sweep smaller ranges",
            set.len()
        );
    }
    Ok((set, unresolved))
}

use agent_core::range::LARGE_SWEEP;

/// Refuses a sweep of more than [`LARGE_SWEEP`] addresses unless `large`.
pub fn check_size(set: &SpanSet, large: bool) -> Result<()> {
    if set.len() > LARGE_SWEEP && !large {
        bail!(
            "{} addresses is more than a /16: ask for a large sweep to go ahead (--large)",
            set.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn ranges_expand_once_minus_exclusions() {
        let (a, ok) = addresses(
            &strings(&["127.9.0.0/29", "127.9.0.3-127.9.0.9", "localhost"]),
            &strings(&["127.9.0.5"]),
        )
        .await
        .unwrap();
        assert!(ok.is_empty(), "{ok:?}");
        let want: Vec<Ipv4Addr> = std::iter::once(Ipv4Addr::LOCALHOST)
            .chain(
                [1, 2, 3, 4, 6, 7, 8, 9]
                    .iter()
                    .map(|&d| Ipv4Addr::new(127, 9, 0, d)),
            )
            .collect();
        assert_eq!(a.iter().collect::<Vec<_>>(), want);
        let (a, unresolved) = addresses(&strings(&["no-such-host.invalid", "127.9.0.1"]), &[])
            .await
            .unwrap();
        assert_eq!(unresolved.len(), 1);
        assert!(
            unresolved[0].contains("no-such-host.invalid"),
            "{unresolved:?}"
        );
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec![Ipv4Addr::new(127, 9, 0, 1)]
        );
        assert!(addresses(&strings(&["10.0.0.0/7"]), &[])
            .await
            .unwrap_err()
            .to_string()
            .contains("more than a /8"));
    }

    #[test]
    fn own_subnets_never_include_loopback() {
        // Only lists: nothing is sent. A host without a LAN interface says so.
        match own_subnets() {
            Ok(spans) => assert!(spans
                .iter()
                .all(|s| !s.first.is_loopback() && s.len() <= 65_534)),
            Err(e) => assert!(e.to_string().contains("give RANGEs")),
        }
    }
}
