//! When things are due: meter reads for billing (a day of the month and a time) and the
//! daily digest (a time). Pure functions of the clock, in UTC, so a restart recomputes the
//! last due time and runs anything it missed exactly once (the store remembers the last
//! one done).

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, Time};

/// The billing meter read's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeterReadSchedule {
    /// False: no scheduled meter reads.
    pub enabled: bool,
    /// The day of the month (1 to 28, so that every month has it).
    pub day: u8,
    /// The time of day, `HH:MM` UTC.
    pub at: String,
}

impl Default for MeterReadSchedule {
    fn default() -> Self {
        MeterReadSchedule {
            enabled: true,
            day: 1,
            at: "06:00".into(),
        }
    }
}

/// A schedule that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {why}")]
pub struct ScheduleError {
    /// The setting, as the configuration file names it.
    pub key: String,
    /// What is wrong.
    pub why: String,
}

/// Parses `HH:MM`.
pub fn time_of_day(key: &str, s: &str) -> Result<Time, ScheduleError> {
    let bad = || ScheduleError {
        key: key.into(),
        why: format!("{s:?} is not a time of day like 06:30"),
    };
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u8, u8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    Time::from_hms(h, m, 0).map_err(|_| bad())
}

impl MeterReadSchedule {
    /// Checks the day and the time.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        if !(1..=28).contains(&self.day) {
            return Err(ScheduleError {
                key: "meter_reads.day".into(),
                why: format!("{} is not a day from 1 to 28", self.day),
            });
        }
        time_of_day("meter_reads.at", &self.at).map(|_| ())
    }

    /// The latest due time at or before `now`.
    pub fn last_due(&self, now: OffsetDateTime) -> Result<OffsetDateTime, ScheduleError> {
        self.validate()?;
        let at = time_of_day("meter_reads.at", &self.at)?;
        let this_month = Date::from_calendar_date(now.year(), now.month(), self.day)
            .map_err(|e| ScheduleError {
                key: "meter_reads.day".into(),
                why: e.to_string(),
            })?
            .with_time(at)
            .assume_utc();
        if this_month <= now {
            return Ok(this_month);
        }
        let (y, m) = if now.month() == time::Month::January {
            (now.year() - 1, time::Month::December)
        } else {
            (now.year(), now.month().previous())
        };
        Ok(Date::from_calendar_date(y, m, self.day)
            .map_err(|e| ScheduleError {
                key: "meter_reads.day".into(),
                why: e.to_string(),
            })?
            .with_time(at)
            .assume_utc())
    }
}

/// The latest time of day `at` at or before `now`.
pub fn last_daily(now: OffsetDateTime, at: Time) -> OffsetDateTime {
    let today = now.date().with_time(at).assume_utc();
    if today <= now {
        today
    } else {
        today - time::Duration::days(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_last_due_meter_read_is_this_month_or_the_one_before() {
        let s = MeterReadSchedule {
            enabled: true,
            day: 5,
            at: "06:30".into(),
        };
        assert_eq!(
            s.last_due(datetime!(2026-11-21 10:00 UTC)).unwrap(),
            datetime!(2026-11-05 06:30 UTC)
        );
        assert_eq!(
            s.last_due(datetime!(2026-11-05 06:29 UTC)).unwrap(),
            datetime!(2026-10-05 06:30 UTC)
        );
        assert_eq!(
            s.last_due(datetime!(2026-01-02 00:00 UTC)).unwrap(),
            datetime!(2025-12-05 06:30 UTC)
        );
        assert_eq!(
            last_daily(
                datetime!(2026-11-21 06:59 UTC),
                Time::from_hms(7, 0, 0).unwrap()
            ),
            datetime!(2026-11-20 07:00 UTC)
        );
    }

    #[test]
    fn bad_schedules_name_their_key() {
        let s = MeterReadSchedule {
            day: 31,
            ..MeterReadSchedule::default()
        };
        assert_eq!(s.validate().unwrap_err().key, "meter_reads.day");
        let s = MeterReadSchedule {
            at: "25:00".into(),
            ..MeterReadSchedule::default()
        };
        assert_eq!(s.validate().unwrap_err().key, "meter_reads.at");
        assert!(time_of_day("mail.digest_at", "7").is_err());
    }
}
