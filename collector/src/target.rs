//! Turning what a user typed (`printer1`, `10.0.0.7`, `127.0.0.1:16161`, `[::1]:161`) into
//! socket addresses, with errors that say which name failed and why.

use std::net::{IpAddr, SocketAddr};

/// A target's host and port, without resolving: an address, or a valid host name. What
/// looks like an address but is not one (`300.1.1.1`) is refused here rather than sent to
/// DNS, as `discover` refuses it.
fn host_and_port(spec: &str) -> Result<(&str, u16), String> {
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
    if host.parse::<IpAddr>().is_ok() {
        return Ok((host, port));
    }
    match host.parse::<agent_core::range::Range>() {
        Ok(agent_core::range::Range::Name(_)) => Ok((host, port)),
        Ok(_) => Err(format!(
            "{spec}: give one address or host name, not a range"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks a target as a user wrote it, without resolving it.
pub fn check(spec: &str) -> Result<(), String> {
    if spec.parse::<SocketAddr>().is_ok() || spec.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
    {
        return Ok(());
    }
    host_and_port(spec).map(|_| ())
}

/// Resolves `host[:port]` (port 161 by default). IPv6 addresses with a port go in brackets.
pub async fn resolve(spec: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(sa) = spec.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = spec.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 161));
    }
    let (host, port) = host_and_port(spec).map_err(anyhow::Error::msg)?;
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
        // Looks like an address, is not one: refused without asking DNS.
        for bad in ["300.1.1.1", "300.1.1.1:161", "10.0.0.0/24", "bad_name!"] {
            let e = resolve(bad).await.unwrap_err().to_string();
            assert!(!e.contains("cannot resolve"), "{bad}: {e}");
            assert!(check(bad).is_err(), "{bad}");
        }
        assert!(check("printer1.example.lan:161").is_ok());
        assert!(resolve("no-such-host.invalid")
            .await
            .unwrap_err()
            .to_string()
            .contains("cannot resolve"));
    }
}
