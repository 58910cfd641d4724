//! Turning what a user typed (`printer1`, `10.0.0.7`, `127.0.0.1:16161`, `[::1]:161`,
//! `ipp://printer1/ipp/print`) into socket addresses, with errors that say which name
//! failed and why.

use std::net::{IpAddr, SocketAddr};

use agent_core::ipp::IppUri;

/// Checks a target as a user wrote it, without resolving it (see
/// [`agent_core::range::check_target`]).
pub fn check(spec: &str) -> Result<(), String> {
    agent_core::range::check_target(spec)
}

/// Resolves a target: where to reach it, and its URI when it is read over IPP.
pub async fn resolve_target(spec: &str) -> anyhow::Result<(SocketAddr, Option<IppUri>)> {
    if IppUri::is_ipp(spec) {
        let uri: IppUri = spec.trim().parse()?;
        let addr = resolve_host(&format!("{}:{}", uri.bracketed_host(), uri.port)).await?;
        return Ok((addr, Some(uri)));
    }
    Ok((resolve_host(spec).await?, None))
}

/// Resolves `host[:port]` (port 161 by default), or an IPP URI's host and port. IPv6
/// addresses with a port go in brackets.
pub async fn resolve(spec: &str) -> anyhow::Result<SocketAddr> {
    Ok(resolve_target(spec).await?.0)
}

async fn resolve_host(spec: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(sa) = spec.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = spec.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 161));
    }
    let (host, port) = agent_core::range::host_and_port(spec).map_err(anyhow::Error::msg)?;
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
        let (addr, uri) = resolve_target("ipps://127.0.0.1:8631/ipp/print")
            .await
            .unwrap();
        assert_eq!(addr, "127.0.0.1:8631".parse().unwrap());
        assert_eq!(uri.unwrap().to_string(), "ipps://127.0.0.1:8631/ipp/print");
        assert_eq!(
            resolve("ipp://127.0.0.1").await.unwrap(),
            "127.0.0.1:631".parse().unwrap()
        );
        assert!(resolve_target("127.0.0.1").await.unwrap().1.is_none());
        assert!(check("ipp://printer1/ipp/print").is_ok());
        assert!(check("ipp://").is_err());
        assert!(resolve("no-such-host.invalid")
            .await
            .unwrap_err()
            .to_string()
            .contains("cannot resolve"));
    }
}
