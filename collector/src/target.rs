//! Turning what a user typed (`printer1`, `10.0.0.7`, `127.0.0.1:16161`, `[::1]:161`) into
//! socket addresses, with errors that say which name failed and why.

use std::net::{IpAddr, SocketAddr};

/// Resolves `host[:port]` (port 161 by default). IPv6 addresses with a port go in brackets.
pub async fn resolve(spec: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(sa) = spec.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = spec.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 161));
    }
    let (host, port) = match spec.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') => {
            let port = p
                .parse::<u16>()
                .map_err(|_| anyhow::anyhow!("{spec}: {p:?} is not a port number"))?;
            (h, port)
        }
        _ => (spec, 161),
    };
    if host.is_empty() {
        anyhow::bail!("empty target: give a host name or address, e.g. 10.0.0.7 or printer1:161");
    }
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot resolve {host}: {e}"))?;
    addrs
        .next()
        .ok_or_else(|| anyhow::anyhow!("cannot resolve {host}: no addresses"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn forms() {
        assert_eq!(
            resolve("127.0.0.1").await.unwrap(),
            "127.0.0.1:161".parse().unwrap()
        );
        assert_eq!(
            resolve("127.0.0.1:16161").await.unwrap(),
            "127.0.0.1:16161".parse().unwrap()
        );
        assert_eq!(
            resolve("[::1]:162").await.unwrap(),
            "[::1]:162".parse().unwrap()
        );
        assert_eq!(resolve("::1").await.unwrap(), "[::1]:161".parse().unwrap());
        assert_eq!(resolve("localhost:1600").await.unwrap().port(), 1600);
        assert!(resolve("127.0.0.1:x").await.is_err());
        assert!(resolve("no-such-host.invalid")
            .await
            .unwrap_err()
            .to_string()
            .contains("cannot resolve"));
    }
}
