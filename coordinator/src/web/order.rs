//! The shopping list: every supply at or under its reorder point, or forecast to run out
//! within N days, grouped by part number with how many are needed; as a page and as CSV.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use printwatch_proto::v1 as p;
use serde::Deserialize;

use super::html::{escape, page as layout};
use super::{respond, unavailable, Signed, Web};
use crate::queries;

/// One line of the shopping list: a part and the printers that need it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToOrder {
    /// The part number, or the supply's description when the printer gives none.
    pub part: String,
    /// What it is (the first supply's description).
    pub description: String,
    /// How many.
    pub count: usize,
    /// The printers (model and serial) and their levels.
    pub printers: Vec<String>,
}

/// The supplies that need ordering among `rows`: at or under their reorder point, or
/// forecast to be empty within `days`; grouped by part, most needed first.
pub fn shopping_list<'a>(
    rows: impl IntoIterator<Item = &'a p::SupplyRow>,
    days: f64,
) -> Vec<ToOrder> {
    let mut by_part: BTreeMap<String, ToOrder> = BTreeMap::new();
    for r in rows {
        let Some(s) = &r.supply else { continue };
        let low = super::fleet::is_low(r);
        let soon = r.days_left.is_some_and(|d| d <= days);
        if !(low || soon) {
            continue;
        }
        let part = s
            .part_number
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| s.description.clone());
        let id = r.identity.clone().unwrap_or_default();
        let printer = format!(
            "{} {} ({})",
            id.model.unwrap_or_default(),
            id.serial.unwrap_or_default(),
            s.percent
                .map_or_else(|| "?".to_string(), |p| format!("{p} %"))
        );
        let e = by_part.entry(part.clone()).or_insert(ToOrder {
            part,
            description: s.description.clone(),
            count: 0,
            printers: Vec::new(),
        });
        e.count += 1;
        e.printers.push(printer);
    }
    let mut list: Vec<ToOrder> = by_part.into_values().collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then(a.part.cmp(&b.part)));
    list
}

/// The list as an HTML table (every text escaped).
pub fn table(list: &[ToOrder]) -> String {
    let mut rows = String::new();
    for o in list {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&o.part),
            escape(&o.description),
            o.count,
            escape(&o.printers.join(", "))
        ));
    }
    format!(
        "<table><thead><tr><th>Part</th><th>What</th><th>How many</th><th>For</th></tr>\
         </thead><tbody>{rows}</tbody></table>"
    )
}

/// The list as CSV: a header, then one line per part. A field starting with `= + - @` is
/// prefixed with `'`, so a spreadsheet does not run what a printer put there.
pub fn csv(list: &[ToOrder]) -> String {
    fn field(t: &str) -> String {
        let t = match t.chars().next() {
            Some('=' | '+' | '-' | '@') => format!("'{t}"),
            _ => t.to_string(),
        };
        if t.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", t.replace('"', "\"\""))
        } else {
            t
        }
    }
    let mut out = String::from("part,description,count,printers\r\n");
    for o in list {
        out.push_str(&format!(
            "{},{},{},{}\r\n",
            field(&o.part),
            field(&o.description),
            o.count,
            field(&o.printers.join("; "))
        ));
    }
    out
}

/// `?days=N` on the shopping list: supplies forecast to run out within N days.
#[derive(Deserialize)]
pub struct Within {
    #[serde(default = "two_weeks")]
    days: f64,
}

fn two_weeks() -> f64 {
    14.0
}

/// The shopping list of the sites the signed-in user sees.
async fn shopping(web: &Web, s: &Signed, days: f64) -> Result<Vec<ToOrder>, String> {
    let board = web
        .queries
        .ask(queries::Board)
        .await
        .map_err(|e| e.to_string())?;
    // Lowest first, as `ListSupplies` gives them: each part's printers in that order.
    let mut mine: Vec<&p::SupplyRow> = board
        .iter()
        .filter(|e| s.sees(&e.device.site))
        .flat_map(|e| &e.supplies)
        .collect();
    mine.sort_by_key(|r| {
        (
            r.supply.as_ref().and_then(|x| x.percent).unwrap_or(101),
            r.device_id.as_str(),
        )
    });
    Ok(shopping_list(mine, days))
}

/// Days as the form takes them: 0 to a year, whole.
fn clamp_days(days: f64) -> f64 {
    if days.is_finite() {
        days.clamp(0.0, 365.0).round()
    } else {
        14.0
    }
}

/// `GET /order`.
pub async fn page_handler(web: &Web, s: &Signed, days: f64) -> Response {
    let days = clamp_days(days);
    match shopping(web, s, days).await {
        Ok(list) => respond(
            StatusCode::OK,
            layout(
                "To order",
                Some(s),
                &format!(
                    "<h1>To order</h1><form class=\"filters\" method=\"get\" action=\"/order\">\
                     <label>Supplies at their reorder point, or forecast to run out within\
                     <br><input name=\"days\" type=\"number\" min=\"0\" max=\"365\" value=\"{days}\">\
                     </label><button>Show</button></form><p><a href=\"/order.csv?days={days}\">\
                     Download as CSV</a> · {} parts, {} supplies</p>{}",
                    list.len(),
                    list.iter().map(|o| o.count).sum::<usize>(),
                    table(&list)
                ),
            ),
        ),
        Err(e) => unavailable("To order", s, e),
    }
}

/// `GET /order`.
pub async fn page(State(web): State<Web>, s: Signed, Query(w): Query<Within>) -> Response {
    page_handler(&web, &s, w.days).await
}

/// `GET /order.csv`: the same list, for a spreadsheet or the supplier.
pub async fn csv_file(State(web): State<Web>, s: Signed, Query(w): Query<Within>) -> Response {
    match shopping(&web, &s, clamp_days(w.days)).await {
        Ok(list) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"printwatch-to-order.csv\"",
                ),
            ],
            csv(&list),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(serial: &str, part: &str, percent: u32, days: Option<f64>) -> p::SupplyRow {
        p::SupplyRow {
            identity: Some(p::Identity {
                serial: Some(serial.into()),
                model: Some("M404".into()),
                ..Default::default()
            }),
            supply: Some(p::Supply {
                description: "Black Toner".into(),
                part_number: Some(part.into()),
                percent: Some(percent),
                ..Default::default()
            }),
            days_left: days,
            reorder_percent: 15,
            ..Default::default()
        }
    }

    #[test]
    fn low_or_soon_grouped_by_part_and_safe_as_csv() {
        let rows = [
            row("A", "CF259A", 10, None),
            row("B", "CF259A", 50, Some(5.0)),
            row("C", "CF259A", 60, Some(40.0)),
            row("D", "=HYPERLINK(\"x\")", 3, None),
        ];
        let list = shopping_list(&rows, 14.0);
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].part.as_str(), list[0].count), ("CF259A", 2));
        let csv = csv(&list);
        assert!(csv.starts_with("part,description,count,printers\r\n"));
        assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{csv}");
        assert!(table(&list).contains("=HYPERLINK(&quot;x&quot;)"));
    }
}
