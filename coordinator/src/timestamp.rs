//! Times inside the coordinator. They arrive as RFC 3339 text (a reading's `polled_at`, a
//! failed poll's time) and leave as text (the fleet service, mail, the dealer), but in
//! between they are a [`Timestamp`]: compared as numbers, not byte by byte, and written
//! into keys as eight bytes that sort as time does.
//!
//! A time from a collector becomes part of a history key and of what a device shows as
//! its latest reading, so it is checked where it enters ([`reading_time`]): unparseable
//! text, a time before 2000, or one more than [`MAX_AHEAD`] ahead of the coordinator's
//! clock is refused, never stored.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An instant, UTC, in nanoseconds since the Unix epoch: what a reading's `polled_at`
/// says, exactly (collectors send nanoseconds), in a type that orders as time does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// How far ahead of the coordinator's clock a collector's time may be: clocks drift, but
/// a reading from the future would stay a device's latest for as long as it is ahead.
pub const MAX_AHEAD: time::Duration = time::Duration::minutes(5);

/// No printer was read by printwatch before this: 2000-01-01T00:00:00Z. A clock reset to
/// 1970 (a collector without its RTC battery) gives times before it.
pub const EARLIEST: Timestamp = Timestamp(946_684_800 * 1_000_000_000);

impl Timestamp {
    /// Now, by the coordinator's clock.
    pub fn now() -> Timestamp {
        Timestamp::from_datetime(OffsetDateTime::now_utc())
    }

    /// An instant as the `time` crate holds it; saturates outside 1677..2262, which no
    /// checked time reaches.
    pub fn from_datetime(t: OffsetDateTime) -> Timestamp {
        let n = t.unix_timestamp_nanos();
        Timestamp(n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// The instant as the `time` crate holds it, for calendar arithmetic.
    pub fn datetime(self) -> OffsetDateTime {
        // Every i64 of nanoseconds is within the range `time` accepts.
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Whole seconds since the epoch, as level history and forecasts count.
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// The start of a second since the epoch.
    pub fn from_unix_seconds(s: i64) -> Timestamp {
        Timestamp(s.saturating_mul(1_000_000_000))
    }

    /// Parses RFC 3339 text. `None` for anything else (use [`reading_time`] for a
    /// collector's time, which also checks that it is plausible).
    pub fn parse(text: &str) -> Option<Timestamp> {
        OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(Timestamp::from_datetime)
    }

    /// RFC 3339 text, in UTC, with as many fractional digits as the instant needs.
    pub fn rfc3339(self) -> String {
        self.datetime().format(&Rfc3339).unwrap_or_default()
    }

    /// Eight bytes that sort as the instants do (for any time after 1970, which every
    /// stored time is): how a time goes into a key.
    pub fn key(self) -> [u8; 8] {
        (self.0 as u64).to_be_bytes()
    }

    /// The instant a key's eight bytes name.
    pub fn from_key(bytes: [u8; 8]) -> Timestamp {
        Timestamp(u64::from_be_bytes(bytes) as i64)
    }

    /// This instant moved by `d`.
    pub fn plus(self, d: time::Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.whole_nanoseconds() as i64))
    }

    /// How long from `earlier` to this instant (negative when `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> time::Duration {
        time::Duration::nanoseconds(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

/// Stored records keep times as RFC 3339 text, so a record read with sled's tools says
/// when things happened.
impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time")))
    }
}

/// Why a collector's time was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadTime {
    /// Not RFC 3339 text.
    #[error("the time {0:?} is not an RFC 3339 time (like 2026-11-21T10:00:00Z)")]
    Unparseable(String),
    /// Before 2000: a collector's clock that was reset.
    #[error("the time {0} is before 2000: is the collector's clock set?")]
    TooEarly(String),
    /// Ahead of the coordinator's clock by more than [`MAX_AHEAD`].
    #[error("the time {at} is {ahead} ahead of the coordinator's clock (at most {MAX_AHEAD} is accepted): is the collector's clock set?")]
    Ahead {
        /// The time as sent.
        at: String,
        /// By how much it is ahead.
        ahead: time::Duration,
    },
}

impl BadTime {
    /// A word for metrics: which check refused it.
    pub fn reason(&self) -> &'static str {
        match self {
            BadTime::Unparseable(_) => "unparseable_time",
            BadTime::TooEarly(_) => "time_too_early",
            BadTime::Ahead { .. } => "time_ahead",
        }
    }
}

/// A collector's time, checked against the coordinator's clock `now`: RFC 3339, not
/// before 2000 and not more than [`MAX_AHEAD`] ahead of `now`.
pub fn reading_time(text: &str, now: Timestamp) -> Result<Timestamp, BadTime> {
    let t = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| BadTime::Unparseable(text.chars().take(64).collect()))?;
    if t < EARLIEST.datetime() {
        return Err(BadTime::TooEarly(text.to_string()));
    }
    let ahead = t - now.datetime();
    if ahead > MAX_AHEAD {
        return Err(BadTime::Ahead {
            at: text.to_string(),
            ahead,
        });
    }
    Ok(Timestamp::from_datetime(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_times_are_checked_where_they_enter() {
        let now = Timestamp::parse("2026-11-29T12:00:00Z").unwrap();
        let ok = reading_time("2026-11-29T11:59:59.123456789Z", now).unwrap();
        assert_eq!(ok.rfc3339(), "2026-11-29T11:59:59.123456789Z", "exact");
        assert!(
            reading_time("2026-11-29T12:04:59Z", now).is_ok(),
            "a little ahead"
        );
        for (text, reason) in [
            ("", "unparseable_time"),
            ("zzzz", "unparseable_time"),
            ("2026-11-29 12:00:00", "unparseable_time"),
            ("1970-01-01T00:00:00Z", "time_too_early"),
            ("1999-12-31T23:59:59Z", "time_too_early"),
            ("2026-11-29T12:05:01Z", "time_ahead"),
            ("2099-01-01T00:00:00Z", "time_ahead"),
            ("9999-12-31T23:59:59Z", "time_ahead"),
        ] {
            let e = reading_time(text, now).expect_err(text);
            assert_eq!(e.reason(), reason, "{text:?}: {e}");
        }
    }

    #[test]
    fn keys_sort_as_time_and_text_round_trips() {
        let a = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let b = Timestamp::parse("2026-01-01T00:00:00.000000001Z").unwrap();
        let c = Timestamp::parse("2026-01-01T01:00:00+01:00").unwrap();
        assert!(a < b && a.key() < b.key());
        assert_eq!(a, c, "offsets are the same instant");
        assert_eq!(Timestamp::from_key(b.key()), b);
        assert_eq!(a.rfc3339(), "2026-01-01T00:00:00Z");
        assert_eq!(Timestamp::parse(&b.rfc3339()), Some(b));
        assert_eq!(a.unix_seconds(), 1_767_225_600);
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), b);
        assert!(serde_json::from_str::<Timestamp>("\"zzzz\"").is_err());
    }

    proptest::proptest! {
        /// Any text is a time or a refusal, never a panic.
        #[test]
        fn any_text_gives_a_time_or_a_refusal(text in ".{0,40}") {
            let _ = reading_time(&text, Timestamp::now());
        }
    }
}
