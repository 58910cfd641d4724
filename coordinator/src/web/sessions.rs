//! Signed-in sessions and the brake on guessing. A session is a random token in an
//! HttpOnly, SameSite=Strict cookie (Secure over HTTPS), with a CSRF token of its own that
//! every form carries; it ends after [`SESSION_HOURS`] or at sign-out. Failed sign-ins are
//! counted per account and per address: after [`FREE_TRIES`] in a row, each further try
//! waits twice as long as the one before (up to a minute) before it is even checked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::store::users::UserRecord;

/// How long a session lasts.
pub const SESSION_HOURS: u64 = 12;
/// Failed sign-ins allowed before the brake.
pub const FREE_TRIES: u32 = 5;

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub user: UserRecord,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When it ends.
    pub expires: Instant,
}

/// Sessions by token, and failed sign-ins by account and by address.
#[derive(Default)]
pub struct Sessions {
    by_token: HashMap<String, Session>,
    failures: HashMap<String, (u32, Instant)>,
}

/// A random token, hex.
fn token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl Sessions {
    /// Starts a session for `user`; returns its token.
    pub fn start(&mut self, user: UserRecord) -> String {
        let now = Instant::now();
        self.by_token.retain(|_, s| s.expires > now);
        let t = token();
        self.by_token.insert(
            t.clone(),
            Session {
                user,
                csrf: token(),
                expires: now + Duration::from_secs(SESSION_HOURS * 3600),
            },
        );
        t
    }

    /// The live session of `token`.
    pub fn get(&self, token: &str) -> Option<&Session> {
        self.by_token
            .get(token)
            .filter(|s| s.expires > Instant::now())
    }

    /// Ends a session.
    pub fn end(&mut self, token: &str) {
        self.by_token.remove(token);
    }

    /// How long a sign-in as `name` from `ip` must wait before it is checked.
    pub fn brake(&self, name: &str, ip: IpAddr) -> Duration {
        let n = [format!("user:{name}"), format!("ip:{ip}")]
            .iter()
            .filter_map(|k| self.failures.get(k))
            .map(|(n, _)| *n)
            .max()
            .unwrap_or(0);
        match n.checked_sub(FREE_TRIES) {
            None => Duration::ZERO,
            Some(over) => Duration::from_millis(500u64 << over.min(7)).min(Duration::from_secs(60)),
        }
    }

    /// A sign-in as `name` from `ip` failed.
    pub fn failed(&mut self, name: &str, ip: IpAddr) {
        let now = Instant::now();
        // Failures older than an hour are forgotten.
        self.failures
            .retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(3600));
        for k in [format!("user:{name}"), format!("ip:{ip}")] {
            let e = self.failures.entry(k).or_insert((0, now));
            e.0 += 1;
            e.1 = now;
        }
    }

    /// A sign-in as `name` from `ip` succeeded: the count starts again.
    pub fn succeeded(&mut self, name: &str, ip: IpAddr) {
        self.failures.remove(&format!("user:{name}"));
        self.failures.remove(&format!("ip:{ip}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brake_grows_per_account_and_per_address() {
        let mut s = Sessions::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..FREE_TRIES {
            assert_eq!(s.brake("anna", ip), Duration::ZERO);
            s.failed("anna", ip);
        }
        assert_eq!(s.brake("anna", ip), Duration::from_millis(500));
        s.failed("anna", ip);
        assert_eq!(s.brake("anna", ip), Duration::from_secs(1));
        assert_eq!(
            s.brake("someone-else", ip),
            Duration::from_secs(1),
            "the same address trying other names"
        );
        s.succeeded("anna", ip);
        assert_eq!(s.brake("anna", ip), Duration::ZERO);
    }
}
