//! A supply's level over time as an SVG drawn on the server: a step line (a level holds
//! until the printer reports another), the reorder point as a dashed line, dates under
//! the axis. Only numbers go in: nothing a printer says can reach the drawing.

use crate::store::levels::LevelPoint;
use crate::timestamp::Timestamp;

const W: f64 = 640.0;
const H: f64 = 160.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 8.0;

/// The chart of `points` (oldest first) up to `now` (Unix seconds), with the reorder
/// point at `reorder` percent, drawn in `colour` (one of the page's palette).
pub fn level_chart(points: &[LevelPoint], now: i64, reorder: u32, colour: &str) -> String {
    let Some(first) = points.first() else {
        return "<p class=\"muted\">No level history yet.</p>".into();
    };
    let start = first.at;
    let end = now
        .max(points.last().map_or(start, |p| p.at))
        .max(start + 3600);
    let span = (end - start) as f64;
    let x = |t: i64| LEFT + (t - start) as f64 / span * (W - LEFT - 4.0);
    let y = |pc: u8| TOP + (100.0 - f64::from(pc.min(100))) / 100.0 * (H - TOP - BOTTOM);
    let mut path = format!("M{:.1},{:.1}", x(first.at), y(first.percent));
    for w in points.windows(2) {
        path.push_str(&format!(" H{:.1} V{:.1}", x(w[1].at), y(w[1].percent)));
    }
    path.push_str(&format!(" H{:.1}", x(end)));
    let reorder_y = y(u8::try_from(reorder.min(100)).unwrap_or(100));
    let mut grid = String::new();
    for pc in [0u8, 50, 100] {
        grid.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{1:.1}\" y2=\"{1:.1}\" stroke=\"#e5e7eb\"/>\
             <text x=\"{2:.1}\" y=\"{3:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#6b7280\">{pc} %</text>",
            W - 4.0,
            y(pc),
            LEFT - 4.0,
            y(pc) + 3.0
        ));
    }
    let date = |t: i64| {
        Timestamp::from_unix_seconds(t)
            .rfc3339()
            .chars()
            .take(10)
            .collect::<String>()
    };
    format!(
        "<svg class=\"chart\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"level over time\">{grid}\
         <line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{reorder_y:.1}\" y2=\"{reorder_y:.1}\" \
         stroke=\"#b00020\" stroke-dasharray=\"4 3\"/>\
         <path d=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>\
         <text x=\"{LEFT}\" y=\"{:.1}\" font-size=\"10\" fill=\"#6b7280\">{}</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#6b7280\">{}</text></svg>",
        W - 4.0,
        H - 5.0,
        date(start),
        W - 4.0,
        H - 5.0,
        date(end),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at: i64, percent: u8) -> LevelPoint {
        LevelPoint {
            at,
            percent,
            pages: None,
        }
    }

    #[test]
    fn the_line_steps_down_with_each_level_and_runs_to_now() {
        let day = 86_400;
        let t0 = 1_800_000_000;
        let svg = level_chart(
            &[point(t0, 100), point(t0 + day, 50), point(t0 + 2 * day, 0)],
            t0 + 4 * day,
            15,
            "#222222",
        );
        // x: 36 + fraction of 600; y: 8 + (100 - percent) / 100 * 132.
        assert!(
            svg.contains("d=\"M36.0,8.0 H186.0 V74.0 H336.0 V140.0 H636.0\""),
            "{svg}"
        );
        assert!(
            svg.contains("y1=\"120.2\""),
            "the reorder line at 15 %: {svg}"
        );
        assert!(svg.contains("2027-01-15"), "{svg}");
        assert!(level_chart(&[], t0, 15, "#222222").contains("No level history"));
    }
}
