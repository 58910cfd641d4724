//! Command-line values with bounds: a number a user can type is not always one the
//! program can use (`--timeout 18446744073709551615s` waited for ever, `--retries
//! 4294967295` overflowed into "after 0 attempts"). Out of range is a usage error that
//! says the range.

use std::time::Duration;

/// The longest wait for one SNMP answer.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// The most resends of one request.
pub const MAX_RETRIES: u32 = 10;

/// An SNMP timeout: a duration (`800ms`, `2s`) from 10 ms to a minute.
pub fn timeout(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if d < Duration::from_millis(10) || d > MAX_TIMEOUT {
        return Err(format!("{text:?}: give 10ms to 60s"));
    }
    Ok(d)
}

/// A number of retries, 0 to 10.
pub fn retries(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if n <= MAX_RETRIES => Ok(n),
        _ => Err(format!("{text:?}: give a number from 0 to {MAX_RETRIES}")),
    }
}

/// A packet rate, 1 to 1,000,000 per second.
pub fn rate(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?}: give a number of packets per second from 1 to 1000000"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(timeout("800ms"), Ok(Duration::from_millis(800)));
        assert!(timeout("18446744073709551615s").is_err());
        assert!(timeout("0s").is_err());
        assert_eq!(retries("2"), Ok(2));
        assert!(retries("4294967295").is_err());
        assert!(retries("-1").is_err());
        assert!(rate("0").is_err());
        assert_eq!(rate("4000"), Ok(4000));
    }
}
