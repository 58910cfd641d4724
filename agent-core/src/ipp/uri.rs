//! `ipp://host[:port]/path` and `ipps://...`: an IPP printer's address, parsed totally.

use std::fmt;
use std::str::FromStr;

/// IPP's port, for `ipp://` and `ipps://` alike (RFC 8010, RFC 7472).
pub const PORT: u16 = 631;

/// The path a URI without one gets: IPP Everywhere's (PWG 5100.14).
pub const DEFAULT_PATH: &str = "/ipp/print";

/// An IPP printer's URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IppUri {
    /// `ipps://`: TLS.
    pub secure: bool,
    /// The host: a name, an IPv4 address or an IPv6 address without its brackets.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// The path, starting with `/`.
    pub path: String,
}

/// Why text is not an IPP URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an IPP printer's address ({why}); write ipp://HOST[:PORT]/PATH or ipps://..., e.g. ipp://10.0.0.7/ipp/print")]
pub struct BadUri {
    text: String,
    why: &'static str,
}

impl IppUri {
    /// The IPP Everywhere queue of the printer at `addr` (`ipps://` when `secure`): what
    /// a sweep or a fallback from SNMP asks, knowing only an address.
    pub fn everywhere(addr: std::net::SocketAddr, secure: bool) -> IppUri {
        IppUri {
            secure,
            host: addr.ip().to_string(),
            port: addr.port(),
            path: DEFAULT_PATH.to_string(),
        }
    }

    /// True when `s` names an IPP printer rather than an SNMP one (`ipp://`, `ipps://`).
    pub fn is_ipp(s: &str) -> bool {
        let lower = s.trim().to_ascii_lowercase();
        lower.starts_with("ipp://") || lower.starts_with("ipps://")
    }

    /// The URI the request names the printer by (`printer-uri`): with `ipp` or `ipps`
    /// and the port always written.
    pub fn printer_uri(&self) -> String {
        format!(
            "{}://{}:{}{}",
            if self.secure { "ipps" } else { "ipp" },
            self.bracketed_host(),
            self.port,
            self.path
        )
    }

    /// The HTTP `Host` header.
    pub fn host_header(&self) -> String {
        format!("{}:{}", self.bracketed_host(), self.port)
    }

    /// The host as a URI writes it (IPv6 in brackets).
    pub fn bracketed_host(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]", self.host),
            false => self.host.clone(),
        }
    }
}

impl fmt::Display for IppUri {
    /// The canonical form: the scheme in lower case, the port only when it is not 631.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "ipps" } else { "ipp" };
        write!(f, "{scheme}://{}", self.bracketed_host())?;
        if self.port != PORT {
            write!(f, ":{}", self.port)?;
        }
        f.write_str(&self.path)
    }
}

impl FromStr for IppUri {
    type Err = BadUri;

    fn from_str(text: &str) -> Result<IppUri, BadUri> {
        let bad = |why| BadUri {
            text: text.to_string(),
            why,
        };
        let s = text.trim();
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "ipp" => false,
            "ipps" => true,
            _ => return Err(bad("the scheme is neither ipp nor ipps")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("user names in the address are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("an unclosed ["))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("text after ]"))?),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                Some(_) => return Err(bad("an IPv6 address must be in brackets")),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/?#[]".contains(c))
        {
            return Err(bad("the host has characters no host name has"));
        }
        let port = match port {
            None => PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
        };
        let path = match path {
            "" | "/" => DEFAULT_PATH.to_string(),
            p if p.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                return Err(bad("the path has spaces or control characters"))
            }
            p => p.to_string(),
        };
        Ok(IppUri {
            secure,
            host: host.to_string(),
            port,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_parse_with_their_defaults() {
        let u: IppUri = "ipp://127.0.0.1:18631/ipp/print".parse().unwrap();
        assert_eq!(
            (u.secure, u.host.as_str(), u.port),
            (false, "127.0.0.1", 18631)
        );
        assert_eq!(u.to_string(), "ipp://127.0.0.1:18631/ipp/print");
        let u: IppUri = "IPPS://printer7.example.lan".parse().unwrap();
        assert_eq!(u.to_string(), "ipps://printer7.example.lan/ipp/print");
        assert_eq!(u.printer_uri(), "ipps://printer7.example.lan:631/ipp/print");
        let u: IppUri = "ipp://[fe80::1]:8631/printers/lab".parse().unwrap();
        assert_eq!((u.host.as_str(), u.port), ("fe80::1", 8631));
        assert_eq!(u.host_header(), "[fe80::1]:8631");
        assert!(IppUri::is_ipp(" ipps://x") && !IppUri::is_ipp("10.0.0.7:161"));
    }

    #[test]
    fn what_is_not_an_address_says_why() {
        for bad in [
            "10.0.0.7",
            "http://10.0.0.7/",
            "ipp://",
            "ipp://:631/x",
            "ipp://host:0/",
            "ipp://host:99999/",
            "ipp://fe80::1/",
            "ipp://[fe80::1/",
            "ipp://user@host/",
            "ipp://host/a b",
        ] {
            let e = bad.parse::<IppUri>().unwrap_err();
            assert!(e.to_string().contains("ipp://HOST"), "{bad}: {e}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_an_address_or_an_error(s in ".{0,64}") {
            if let Ok(u) = s.parse::<IppUri>() {
                // What it writes, it reads back.
                prop_assert_eq!(u.to_string().parse::<IppUri>(), Ok(u));
            }
        }
    }
}
