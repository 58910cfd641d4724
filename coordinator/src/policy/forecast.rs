//! How many days until a supply runs out, from the history of its level.
//!
//! Printers report levels in steps: some in single percents, many in 10, 20 or 25 % steps,
//! Brother in a handful of codes. Fitting a line through every sample of a coarse printer
//! would read a week at "40 %" as a week of no use. What a step printer does tell us
//! exactly is *when* the level crossed a step: the first sample at each new level. So the
//! rate is fitted through those crossings only (least squares, level against time), and the
//! level now is the line's value, kept within the step the printer last reported. A level
//! that goes up by more than [`REFILL_JUMP`] is a new cartridge: the history starts again.
//! With fewer than [`MIN_CROSSINGS`] crossings, or a span shorter than [`MIN_SPAN_HOURS`],
//! or a level that is not falling, the answer is "not enough data", never a guess.

use serde::{Deserialize, Serialize};

pub use crate::store::levels::LevelPoint;
use crate::store::{StoreError, StoreReader};
use crate::timestamp::Timestamp;

/// A rise of more than this many percentage points is a cartridge replaced or refilled.
pub const REFILL_JUMP: i32 = 10;
/// Crossings (changes of reported level) needed before a rate is trusted.
pub const MIN_CROSSINGS: usize = 3;
/// The crossings must span at least this long.
pub const MIN_SPAN_HOURS: f64 = 1.0;

/// What the history says about a supply's future.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Forecast {
    /// A rate was found.
    Estimate {
        /// Days until empty, from `now`.
        days_left: f64,
        /// Percentage points used per day.
        percent_per_day: f64,
        /// Pages until empty, where the printer counts pages.
        pages_left: Option<u64>,
    },
    /// Too little history (or a level that is not falling) to say.
    NotEnoughData,
}

impl Forecast {
    /// Days left, if known.
    pub fn days_left(&self) -> Option<f64> {
        match self {
            Forecast::Estimate { days_left, .. } => Some(*days_left),
            Forecast::NotEnoughData => None,
        }
    }

    /// "12 days", "under a day", "not enough data": what a person reads.
    pub fn describe(&self) -> String {
        match self.days_left() {
            Some(d) if d >= 1.0 => format!("{} days", days_text(Some(d))),
            other => days_text(other),
        }
    }
}

/// Days left as a bare figure ("12"), or "under a day", or "not enough data".
pub fn days_text(days: Option<f64>) -> String {
    match days {
        Some(d) if d < 1.0 => "under a day".into(),
        Some(d) => format!("{d:.0}"),
        None => "not enough data".into(),
    }
}

/// The points since the last replacement: everything after the last rise of more than
/// [`REFILL_JUMP`] points.
pub fn since_replacement(points: &[LevelPoint]) -> &[LevelPoint] {
    let start = points
        .windows(2)
        .rposition(|w| i32::from(w[1].percent) - i32::from(w[0].percent) > REFILL_JUMP)
        .map_or(0, |i| i + 1);
    &points[start..]
}

/// Least squares slope and intercept of y against x.
fn fit(xs: &[f64], ys: &[f64]) -> Option<(f64, f64)> {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

/// The forecast at `now` (seconds since the epoch) from a supply's level history, oldest
/// first. Only points since the last replacement count.
pub fn forecast(points: &[LevelPoint], now: i64) -> Forecast {
    let points = since_replacement(points);
    // The crossings: the first sample at each new level. The very first point of the
    // history is when watching began, not a crossing, unless it follows a replacement (then
    // the level really was that high at that moment); it is kept either way as an anchor
    // only when it is a replacement.
    let mut crossings: Vec<LevelPoint> = Vec::new();
    for w in points.windows(2) {
        if w[1].percent != w[0].percent {
            crossings.push(w[1]);
        }
    }
    let Some(last) = crossings.last().copied() else {
        return Forecast::NotEnoughData;
    };
    let span_hours = (last.at - crossings[0].at) as f64 / 3_600.0;
    if crossings.len() < MIN_CROSSINGS || span_hours < MIN_SPAN_HOURS {
        return Forecast::NotEnoughData;
    }
    let days: Vec<f64> = crossings.iter().map(|p| p.at as f64 / 86_400.0).collect();
    let levels: Vec<f64> = crossings.iter().map(|p| f64::from(p.percent)).collect();
    let Some((slope, intercept)) = fit(&days, &levels) else {
        return Forecast::NotEnoughData;
    };
    if slope >= 0.0 {
        return Forecast::NotEnoughData;
    }
    let rate = -slope;
    // The level now. At a crossing a step printer's true level is somewhere in the step it
    // just reported (rounding down, to nearest or up: printers differ), so the line through
    // the crossings runs up to a step low or high; the middle of the step is the best
    // guess, and the level is kept within the step the printer reports now. The typical
    // step is the median drop between crossings.
    let mut steps: Vec<f64> = crossings
        .windows(2)
        .map(|w| f64::from(w[0].percent) - f64::from(w[1].percent))
        .filter(|d| *d > 0.0)
        .collect();
    steps.sort_by(f64::total_cmp);
    let step = steps.get(steps.len() / 2).copied().unwrap_or(1.0);
    let reported = f64::from(points.last().map_or(last.percent, |p| p.percent));
    let line = slope * (now as f64 / 86_400.0) + intercept + step / 2.0;
    let level_now = line.clamp(reported, reported + step);
    let days_left = level_now / rate;
    // Pages per percentage point, from the page counter at the crossings.
    let paged: Vec<(f64, f64)> = crossings
        .iter()
        .filter_map(|p| p.pages.map(|n| (n as f64, f64::from(p.percent))))
        .collect();
    let pages_left = if paged.len() >= MIN_CROSSINGS {
        let (xs, ys): (Vec<f64>, Vec<f64>) = paged.into_iter().unzip();
        fit(&xs, &ys)
            .filter(|(s, _)| *s < 0.0)
            .map(|(s, _)| (level_now / -s).round() as u64)
    } else {
        None
    };
    Forecast::Estimate {
        days_left,
        percent_per_day: rate,
        pages_left,
    }
}

/// A supply's forecast at `now`, from its level history in the store.
pub fn of(
    store: &StoreReader,
    device: &str,
    supply: &str,
    now: Timestamp,
) -> Result<Forecast, StoreError> {
    Ok(forecast(&store.levels(device, supply)?, now.unix_seconds()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400;

    /// A supply used at `rate` points a day from `start` %, sampled every `every` seconds
    /// for `days`, reported in steps of `step` (rounded down, as step printers do), with
    /// the page counter at 50 pages a point.
    fn history(start: f64, rate: f64, step: u8, every: i64, days: f64) -> Vec<LevelPoint> {
        let mut v = Vec::new();
        let mut t = 0;
        while (t as f64) < days * DAY as f64 {
            let true_level = (start - rate * t as f64 / DAY as f64).max(0.0);
            let reported = ((true_level / f64::from(step)).floor() as u8) * step;
            let used = start - true_level;
            v.push(LevelPoint {
                at: 1_700_000_000 + t,
                percent: reported,
                pages: Some(10_000 + (used * 50.0) as u64),
            });
            t += every;
        }
        v
    }

    #[test]
    fn a_known_rate_in_single_percents_gives_the_days_left_within_half_a_day() {
        // 2 points a day from 90 %, sampled hourly for 20 days: at day 20 the level is 50 %,
        // so 25 days are left (the stated error: half a day).
        let h = history(90.0, 2.0, 1, 3_600, 20.0);
        let now = 1_700_000_000 + 20 * DAY;
        let f = forecast(&h, now);
        let Forecast::Estimate {
            days_left,
            percent_per_day,
            pages_left,
        } = f
        else {
            panic!("expected an estimate, got {f:?}");
        };
        assert!((percent_per_day - 2.0).abs() < 0.05, "{percent_per_day}");
        assert!((days_left - 25.0).abs() <= 0.5, "{days_left}");
        // 50 % left at 50 pages a point.
        let pages = pages_left.unwrap() as f64;
        assert!((pages - 2_500.0).abs() <= 100.0, "{pages}");
    }

    #[test]
    fn coarse_steps_of_10_20_and_25_give_the_days_left_within_half_a_step() {
        for step in [10u8, 20, 25] {
            // 3 points a day from 100 %, sampled every 15 minutes for 25 days: the true
            // level at day 25 is 25 %, 8.3 days left. A step printer hides where in its
            // step the level is, so the stated error is the time to use half a step.
            let h = history(100.0, 3.0, step, 900, 25.0);
            let now = 1_700_000_000 + 25 * DAY;
            let f = forecast(&h, now);
            let days = f
                .days_left()
                .unwrap_or_else(|| panic!("step {step}: {f:?}"));
            let allowed = f64::from(step) / 3.0 / 2.0 + 0.5;
            assert!(
                (days - 25.0 / 3.0).abs() <= allowed,
                "step {step}: {days} days left, expected 8.3 ± {allowed}"
            );
        }
    }

    #[test]
    fn a_replacement_starts_the_history_again() {
        let mut h = history(40.0, 4.0, 1, 3_600, 9.0);
        // A new cartridge at day 9: 100 %, then 1 point a day for 10 days.
        let base = h.last().unwrap().at + 3_600;
        for p in history(100.0, 1.0, 1, 3_600, 10.0) {
            h.push(LevelPoint {
                at: base + (p.at - 1_700_000_000),
                ..p
            });
        }
        assert_eq!(since_replacement(&h)[0].percent, 100);
        let now = base + 10 * DAY;
        let f = forecast(&h, now);
        let Forecast::Estimate {
            percent_per_day, ..
        } = f
        else {
            panic!("{f:?}");
        };
        assert!((percent_per_day - 1.0).abs() < 0.05, "{percent_per_day}");
        assert!((f.days_left().unwrap() - 90.0).abs() <= 1.0);
    }

    #[test]
    fn too_short_a_history_is_not_enough_data() {
        // Two hours of a slow printer: one or two crossings.
        let h = history(80.0, 2.0, 1, 600, 2.0 / 24.0);
        assert_eq!(forecast(&h, h.last().unwrap().at), Forecast::NotEnoughData);
        // A coarse printer that has crossed only two steps in a week.
        let h = history(75.0, 5.0, 25, 3_600, 6.0);
        assert_eq!(forecast(&h, h.last().unwrap().at), Forecast::NotEnoughData);
        // Nothing at all; one point; a level that does not move.
        assert_eq!(forecast(&[], 0), Forecast::NotEnoughData);
        let flat = vec![
            LevelPoint {
                at: 0,
                percent: 50,
                pages: None
            };
            100
        ];
        assert_eq!(forecast(&flat, DAY), Forecast::NotEnoughData);
    }

    #[test]
    fn a_rising_level_is_not_a_rate() {
        let h: Vec<LevelPoint> = (0..50)
            .map(|i| LevelPoint {
                at: i * 3_600,
                percent: (10 + i / 10) as u8,
                pages: None,
            })
            .collect();
        assert_eq!(forecast(&h, 50 * 3_600), Forecast::NotEnoughData);
    }

    proptest! {
        /// Any history gives an answer, never a panic, and never a negative or NaN figure.
        #[test]
        fn any_history_gives_a_sane_answer(
            raw in proptest::collection::vec((0i64..10_000_000, 0u8..=100, proptest::option::of(0u64..1_000_000)), 0..200),
            now in 0i64..20_000_000,
        ) {
            let mut pts: Vec<LevelPoint> = raw.into_iter().map(|(at, percent, pages)| LevelPoint { at, percent, pages }).collect();
            pts.sort_by_key(|p| p.at);
            if let Forecast::Estimate { days_left, percent_per_day, .. } = forecast(&pts, now) {
                prop_assert!(days_left.is_finite() && days_left >= 0.0);
                prop_assert!(percent_per_day.is_finite() && percent_per_day > 0.0);
            }
        }
    }
}
