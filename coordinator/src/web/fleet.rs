//! The fleet page: every printer the user sees, most urgent first, each with a level bar
//! per supply in its colour, its lowest supply and the days that leaves, its status and
//! open alerts. Filtered by site, searched by name, model, serial or address, and shown
//! [`PER_PAGE`] at a time. Built from the query side's board (the devices and supplies
//! `ListDevices` and `ListSupplies` give, kept between requests) and the open alerts.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use printwatch_proto::v1 as p;
use serde::Deserialize;

use super::html::{days_left, escape, level_bar, page_with, query_value, supply_colour};
use super::{path_segment, respond, Signed, Web};
use crate::queries::BoardEntry;

/// Printers on one page of the listing.
pub const PER_PAGE: usize = 200;

/// The page's filters, from its query string.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    /// Only this site's printers (empty: every site the user sees).
    #[serde(default)]
    pub site: String,
    /// Words that must all appear in the printer's model, serial, name, address or id.
    #[serde(default)]
    pub q: String,
    /// Which page of the listing, from 1.
    #[serde(default)]
    pub page: usize,
}

/// How urgent a printer is, most urgent least: a supply at or under its reorder point (or
/// empty) first, then open alerts, then the rest, each by the days its lowest supply has
/// left and then by that supply's level; printers never read last.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Urgency {
    tier: u8,
    days: f64,
    percent: u32,
}

/// One printer as the page shows it.
pub struct Row<'a> {
    /// The device.
    pub device: &'a p::Device,
    /// Its supplies, in the printer's order.
    pub supplies: Vec<&'a p::SupplyRow>,
    /// Its open alerts.
    pub alerts: Vec<&'a p::FleetAlert>,
    /// Where it sorts.
    pub urgency: Urgency,
}

/// At or under its reorder point, low or empty by the printer's word when it gives no
/// level, or a full waste receptacle: as the query side decides for `list_supplies --low`.
pub fn is_low(r: &p::SupplyRow) -> bool {
    let Some(s) = r.supply.as_ref() else {
        return false;
    };
    let (low, empty) = (p::SupplyState::Low as i32, p::SupplyState::Empty as i32);
    let under = match s.percent {
        Some(pc) => pc <= r.reorder_percent,
        None => s.state == low || s.state == empty,
    };
    under || (s.class == p::SupplyClass::Receptacle as i32 && s.state == empty)
}

/// The printers of the board that `keep` lets through, with their supplies and alerts,
/// most urgent first.
pub fn rows<'a>(
    board: &'a [Arc<BoardEntry>],
    alerts: &'a [p::FleetAlert],
    keep: impl Fn(&p::Device) -> bool,
) -> Vec<Row<'a>> {
    let mut alerts_of: HashMap<&str, Vec<&p::FleetAlert>> = HashMap::new();
    for a in alerts.iter().filter(|a| a.closed_at.is_none()) {
        alerts_of.entry(a.device_id.as_str()).or_default().push(a);
    }
    let mut out: Vec<Row> = board
        .iter()
        .filter(|e| keep(&e.device))
        .map(|e| {
            let d = &e.device;
            let mut supplies: Vec<&p::SupplyRow> = e.supplies.iter().collect();
            supplies.sort_by_key(|s| s.supply.as_ref().map(|s| (s.device_index, s.index)));
            let alerts = alerts_of.remove(d.id.as_str()).unwrap_or_default();
            let urgency = urgency(d, &supplies, &alerts);
            Row {
                device: d,
                supplies,
                alerts,
                urgency,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.urgency
            .partial_cmp(&b.urgency)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.device.id.cmp(&b.device.id))
    });
    out
}

fn urgency(d: &p::Device, supplies: &[&p::SupplyRow], alerts: &[&p::FleetAlert]) -> Urgency {
    let lowest = lowest(supplies);
    let tier = if d.latest.is_none() {
        3
    } else if supplies.iter().any(|s| is_low(s)) {
        0
    } else if !alerts.is_empty() {
        1
    } else {
        2
    };
    Urgency {
        tier,
        days: lowest.and_then(|s| s.days_left).unwrap_or(f64::MAX),
        percent: lowest
            .and_then(|s| s.supply.as_ref()?.percent)
            .unwrap_or(101),
    }
}

/// The supply that runs out first: fewest days left, else lowest level.
pub fn lowest<'a>(supplies: &[&'a p::SupplyRow]) -> Option<&'a p::SupplyRow> {
    supplies
        .iter()
        .filter(|s| {
            s.supply
                .as_ref()
                .is_some_and(|x| x.class == p::SupplyClass::Consumed as i32)
        })
        .min_by(|a, b| {
            let key = |s: &p::SupplyRow| {
                (
                    s.days_left.unwrap_or(f64::MAX),
                    s.supply.as_ref().and_then(|x| x.percent).unwrap_or(101),
                )
            };
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .copied()
}

/// Whether every word of `q` appears in the device's model, serial, name, address or id.
pub fn matches(d: &p::Device, q: &str) -> bool {
    let idn = d.identity.clone().unwrap_or_default();
    let hay = [
        idn.vendor.unwrap_or_default(),
        idn.model.unwrap_or_default(),
        idn.serial.unwrap_or_default(),
        idn.sys_descr.unwrap_or_default(),
        idn.mac.unwrap_or_default(),
        d.addresses.join(" "),
        d.id.clone(),
    ]
    .join(" ")
    .to_lowercase();
    q.split_whitespace()
        .all(|w| hay.contains(&w.to_lowercase()))
}

fn status_text(d: &p::Device) -> String {
    let Some(r) = &d.latest else {
        return "<span class=\"muted\">not read yet</span>".into();
    };
    let st = r.status.clone().unwrap_or_default();
    let mut words = Vec::new();
    if let Some(s) = st.printer_status.filter(|s| !s.is_empty()) {
        words.push(s);
    }
    if let Some(s) = st.device_status.filter(|s| !s.is_empty() && s != "running") {
        words.push(s);
    }
    let mut html = escape(&words.join(", "));
    for e in &st.errors {
        html.push_str(&format!(" <span class=\"tag\">{}</span>", escape(e)));
    }
    html
}

/// The table of printers, the part of the page the live script replaces.
pub fn table(rows: &[Row], from: usize, to: usize) -> String {
    let mut out = String::with_capacity((to - from) * 900 + 512);
    out.push_str(
        "<table id=\"fleet\"><thead><tr><th>Printer</th><th>Site</th><th>Supplies</th>\
         <th>Runs out first</th><th>Status</th><th>Alerts</th></tr></thead><tbody>",
    );
    for r in &rows[from..to] {
        let d = r.device;
        let idn = d.identity.clone().unwrap_or_default();
        let name = match (&idn.vendor, &idn.model) {
            (_, Some(m)) if !m.is_empty() => m.clone(),
            (Some(v), _) => v.clone(),
            _ => "printer".into(),
        };
        let mut supplies = String::new();
        for s in &r.supplies {
            let Some(x) = &s.supply else { continue };
            let low = is_low(s);
            supplies.push_str(&format!(
                "<div class=\"supply{}\">{}{} {}</div>",
                if low { " low" } else { "" },
                level_bar(
                    x.percent,
                    supply_colour(x.color.as_deref(), &x.description),
                    low
                ),
                x.percent
                    .map_or_else(|| "?".to_string(), |p| format!("{p} %")),
                escape(&x.description),
            ));
        }
        let first = match lowest(&r.supplies) {
            Some(s) => {
                let x = s.supply.clone().unwrap_or_default();
                format!(
                    "<span{}>{}: {}</span>",
                    if is_low(s) { " class=\"low\"" } else { "" },
                    escape(&x.description),
                    days_left(s.days_left)
                )
            }
            None => String::new(),
        };
        let alerts: String = r
            .alerts
            .iter()
            .map(|a| {
                format!(
                    "<span class=\"tag\">{}</span>",
                    escape(&a.kind.replace('_', " "))
                )
            })
            .collect();
        out.push_str(&format!(
            "<tr data-device=\"{}\"><td><a href=\"/printer/{}\">{}</a><br><span class=\"muted\">\
             {} {}</span></td><td>{}</td><td>{supplies}</td><td>{first}</td><td>{}</td>\
             <td>{alerts}</td></tr>",
            escape(&d.id),
            escape(&path_segment(&d.id)),
            escape(&name),
            escape(
                idn.serial
                    .as_deref()
                    .map(|s| format!("SN {s}"))
                    .as_deref()
                    .unwrap_or("")
            ),
            escape(d.addresses.last().map(String::as_str).unwrap_or("")),
            escape(&d.site),
            status_text(d),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// `GET /`: the fleet.
pub async fn page(State(web): State<Web>, s: Signed, Query(f): Query<Filters>) -> Response {
    let (board, alerts) = match super::board_and_open_alerts(&web, &s, "Fleet").await {
        Ok(x) => x,
        Err(page) => return page,
    };
    respond(StatusCode::OK, render(&s, &f, &board, &alerts))
}

/// The whole fleet page for `s` from the board and the open alerts.
pub fn render(
    s: &Signed,
    f: &Filters,
    board: &[Arc<BoardEntry>],
    alerts: &[p::FleetAlert],
) -> String {
    let mut sites: Vec<&str> = board
        .iter()
        .map(|e| e.device.site.as_str())
        .filter(|site| s.sees(site))
        .collect();
    sites.sort_unstable();
    sites.dedup();
    let rows = rows(board, alerts, |d| {
        s.sees(&d.site) && (f.site.is_empty() || d.site == f.site) && matches(d, &f.q)
    });
    let low = rows.iter().filter(|r| r.urgency.tier == 0).count();
    let pages = rows.len().div_ceil(PER_PAGE).max(1);
    let current = f.page.clamp(1, pages);
    let from = (current - 1) * PER_PAGE;
    let to = (from + PER_PAGE).min(rows.len());
    let options: String = sites
        .iter()
        .map(|site| {
            format!(
                "<option value=\"{0}\"{1}>{0}</option>",
                escape(site),
                if *site == f.site { " selected" } else { "" }
            )
        })
        .collect();
    let mut paging = String::new();
    if pages > 1 {
        paging.push_str("<p class=\"pages\">Page ");
        for n in 1..=pages {
            if n == current {
                paging.push_str(&format!("<b>{n}</b> "));
            } else {
                paging.push_str(&format!(
                    "<a href=\"/?site={}&amp;q={}&amp;page={n}\">{n}</a>",
                    query_value(&f.site),
                    query_value(&f.q)
                ));
            }
        }
        paging.push_str("</p>");
    }
    let body = format!(
        "<h1>Fleet</h1><form class=\"filters\" method=\"get\" action=\"/\"><label>Site<br>\
         <select name=\"site\"><option value=\"\">every site</option>{options}</select></label>\
         <label>Search<br><input name=\"q\" value=\"{}\" placeholder=\"model, serial, name or \
         address\"></label><button>Show</button></form><div id=\"board\"><p id=\"summary\">{} \
         printers · <span class=\"{}\">{low} with a supply to order</span> <span class=\"live\" \
         id=\"live\"></span></p>{}{paging}</div>",
        escape(&f.q),
        rows.len(),
        if low > 0 { "low" } else { "ok" },
        table(&rows, from, to),
    );
    page_with(
        "Fleet",
        Some(s),
        &body,
        "<script src=\"/live.js\" defer></script>",
    )
}
