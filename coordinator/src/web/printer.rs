//! A printer's page: who it is, each supply with its level bar, part number, reorder
//! point, days left and a chart of its level over time, the page meters and pages per
//! day, its alerts open and past, and the supplies replaced. An admin also gets the
//! button that stops watching it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kameo::error::SendError;

use super::chart::level_chart;
use super::fleet::is_low;
use super::html::{csrf_field, days_left, escape, level_bar, page as layout, supply_colour};
use super::{path_segment, respond, unavailable, Signed, Web};
use crate::queries::{self, PrinterDetail, QueryError};
use crate::timestamp::Timestamp;

/// `GET /printer/{id}`.
pub async fn page_of(web: &Web, s: &Signed, id: String) -> Response {
    let not_found = || {
        respond(
            StatusCode::NOT_FOUND,
            layout(
                "Not found",
                Some(s),
                "<h1>Not found</h1><p>No such printer.</p>",
            ),
        )
    };
    let d = match web.queries.ask(queries::GetPrinterDetail(id)).await {
        Ok(d) => d,
        Err(SendError::HandlerError(QueryError::NotFound(_))) => return not_found(),
        Err(e) => return unavailable("Printer", s, e),
    };
    // Another site's printer does not exist, as far as a viewer limited to sites knows.
    if !s.sees(&d.device.site) {
        return not_found();
    }
    let title = d
        .device
        .identity
        .as_ref()
        .and_then(|i| i.model.clone())
        .unwrap_or_else(|| "Printer".into());
    respond(StatusCode::OK, layout(&title, Some(s), &render(s, &d)))
}

/// `GET /printer/{id}`.
pub async fn page(State(web): State<Web>, s: Signed, Path(id): Path<String>) -> Response {
    page_of(&web, &s, id).await
}

/// The page's body.
pub fn render(s: &Signed, d: &PrinterDetail) -> String {
    let dev = &d.device;
    let idn = dev.identity.clone().unwrap_or_default();
    let mut body = format!(
        "<h1>{} {}</h1><table class=\"facts\"><tbody>\
         <tr><th>Serial</th><td>{}</td></tr><tr><th>Site</th><td>{}</td></tr>\
         <tr><th>Address</th><td>{}</td></tr><tr><th>Firmware</th><td>{}</td></tr>\
         <tr><th>Status</th><td>{}</td></tr><tr><th>Last read</th><td>{}</td></tr>\
         <tr><th>Description</th><td>{}</td></tr></tbody></table>",
        escape(idn.vendor.as_deref().unwrap_or("")),
        escape(idn.model.as_deref().unwrap_or("")),
        escape(idn.serial.as_deref().unwrap_or("unknown")),
        escape(&dev.site),
        escape(dev.addresses.last().map(String::as_str).unwrap_or("")),
        escape(idn.firmware.as_deref().unwrap_or("unknown")),
        escape(&status(dev)),
        escape(&dev.last_seen),
        escape(idn.sys_descr.as_deref().unwrap_or("")),
    );
    body.push_str(
        "<h2>Supplies</h2><table id=\"supplies\"><thead><tr><th>Supply</th><th>Level</th>\
         <th>Part number</th><th>Reorder at</th><th>Days left</th></tr></thead><tbody>",
    );
    let mut charts = String::new();
    let now = Timestamp::now().unix_seconds();
    let mut rows: Vec<_> = d.supplies.iter().collect();
    rows.sort_by_key(|r| r.supply.as_ref().map(|s| (s.device_index, s.index)));
    for r in rows {
        let Some(x) = &r.supply else { continue };
        let colour = supply_colour(x.color.as_deref(), &x.description);
        let low = is_low(r);
        body.push_str(&format!(
            "<tr><td>{}</td><td{}>{}{}</td><td>{}</td><td>{} %</td><td>{}{}</td></tr>",
            escape(&x.description),
            if low { " class=\"low\"" } else { "" },
            level_bar(x.percent, colour, low),
            x.percent
                .map_or_else(|| "?".to_string(), |p| format!("{p} %")),
            escape(x.part_number.as_deref().unwrap_or("")),
            r.reorder_percent,
            days_left(r.days_left),
            r.pages_left
                .map(|p| format!(" (about {p} pages)"))
                .unwrap_or_default(),
        ));
        let at = format!("{}.{}", x.device_index, x.index);
        if x.percent.is_some() {
            charts.push_str(&format!(
                "<h3>{}</h3>{}",
                escape(&x.description),
                level_chart(
                    d.levels.get(&at).map_or(&[][..], Vec::as_slice),
                    now,
                    r.reorder_percent,
                    colour
                )
            ));
        }
    }
    body.push_str("</tbody></table>");
    if !charts.is_empty() {
        body.push_str("<h2>Levels over time</h2>");
        body.push_str(&charts);
    }
    body.push_str("<h2>Page meters</h2><table><tbody>");
    for m in dev.latest.iter().flat_map(|r| &r.meters) {
        body.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(&m.name),
            m.value
        ));
    }
    body.push_str(&format!(
        "<tr><th>Pages per day</th><td>{}</td></tr></tbody></table>",
        d.pages_per_day.map_or_else(
            || format!(
                "not enough meter reads yet (a day of them, over the last {} days)",
                queries::PAGES_PER_DAY_SPAN
            ),
            |n| format!("{n:.0}")
        )
    ));
    body.push_str("<h2>Alerts</h2>");
    if d.alerts.is_empty() {
        body.push_str("<p class=\"muted\">None.</p>");
    } else {
        body.push_str(
            "<table><thead><tr><th>Opened</th><th>Closed</th><th>What</th><th>Detail</th></tr>\
             </thead><tbody>",
        );
        for a in &d.alerts {
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&a.opened_at),
                a.closed_at
                    .as_deref()
                    .map_or_else(|| "<span class=\"low\">open</span>".into(), escape),
                escape(&a.kind.replace('_', " ")),
                escape(&a.detail),
            ));
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("<h2>Replacements</h2>");
    if d.replacements.is_empty() {
        body.push_str("<p class=\"muted\">None seen yet.</p>");
    } else {
        body.push_str("<ul>");
        for r in d.replacements.iter().rev() {
            body.push_str(&format!(
                "<li>{}: {} from {} % to {} %</li>",
                escape(&r.at.rfc3339()),
                escape(&r.description),
                r.from,
                r.to
            ));
        }
        body.push_str("</ul>");
    }
    if s.is_admin() {
        body.push_str(&format!(
            "<h2>Stop watching</h2><form method=\"post\" action=\"/printer/{}/remove\">{}\
             <p>The site's collector stops polling {}; its history stays.</p>\
             <button>Remove this printer</button></form>",
            escape(&path_segment(&dev.id)),
            csrf_field(s),
            escape(dev.addresses.last().map(String::as_str).unwrap_or("it")),
        ));
    }
    body
}

fn status(d: &printwatch_proto::v1::Device) -> String {
    let Some(st) = d.latest.as_ref().and_then(|r| r.status.clone()) else {
        return "not read yet".into();
    };
    let mut words: Vec<String> = [st.printer_status, st.device_status]
        .into_iter()
        .flatten()
        .filter(|w| !w.is_empty())
        .collect();
    words.extend(st.errors);
    words.join(", ")
}
