//! Text into HTML: everything a printer says (descriptions, names, locations) is
//! untrusted, so every text goes through [`escape`]; pages are built from these pieces,
//! and no value from a printer ever lands in an attribute unescaped or in a style.

use axum::http::header;
use axum::response::IntoResponse;

use super::Signed;

/// `text` with `& < > " '` replaced by entities: safe in element content and in quoted
/// attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` percent-encoded: letters, digits, `-`, `_`, `.` and the bytes of `keep` stay.
fn percent_encode(text: &str, keep: &[u8]) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b if keep.contains(&b) => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// A query-string value, percent-encoded.
pub fn query_value(text: &str) -> String {
    percent_encode(text, b"~")
}

/// A device id as a path segment: percent-encoded where a URL would take it apart (a
/// device id's `:` stays).
pub fn path_segment(id: &str) -> String {
    percent_encode(id, b":")
}

/// A whole page: `title` (escaped here), the navigation for a signed-in user, and `body`
/// (already HTML).
pub fn page(title: &str, signed: Option<&Signed>, body: &str) -> String {
    page_with(title, signed, body, "")
}

/// [`page`] with extra elements in the head (the fleet page's live script).
pub fn page_with(title: &str, signed: Option<&Signed>, body: &str, head: &str) -> String {
    let nav = signed.map(nav).unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · printwatch</title><link rel=\"stylesheet\" href=\"/style.css\">{head}\
         </head><body>{nav}<main>{body}</main></body></html>\n",
        escape(title)
    )
}

/// The bar across the top: the pages, the admin's pages for an admin, and sign-out.
fn nav(s: &Signed) -> String {
    let admin = if s.is_admin() {
        "<a href=\"/admin/printers\">Printers</a><a href=\"/admin/users\">Users</a>"
    } else {
        ""
    };
    format!(
        "<nav><b>printwatch</b><a href=\"/\">Fleet</a><a href=\"/order\">To order</a>\
         <a href=\"/alerts\">Alerts</a><a href=\"/sites\">Sites</a>{admin}\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" \
         value=\"{}\"><button>Sign out {}</button></form></nav>",
        escape(&s.session.csrf),
        escape(&s.session.user.name)
    )
}

/// The CSRF field every state-changing form carries.
pub fn csrf_field(s: &Signed) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(&s.session.csrf)
    )
}

/// The colour a supply is drawn in: a colourant's name mapped to a fixed palette (never
/// the printer's text itself), grey for anything else.
pub fn supply_colour(colour: Option<&str>, description: &str) -> &'static str {
    let name = colour.unwrap_or(description).to_ascii_lowercase();
    for (word, css) in [
        ("cyan", "#00a0d6"),
        ("magenta", "#d6007e"),
        ("yellow", "#e8c400"),
        ("black", "#222222"),
        ("blue", "#2050c0"),
        ("red", "#c02020"),
        ("green", "#20a040"),
    ] {
        if name.contains(word) {
            return css;
        }
    }
    "#7a7f87"
}

/// A level bar: `percent` filled in `colour`, red-edged when `low`; unknown levels are a
/// hatched grey bar. SVG attributes, not styles, so the strict policy needs no inline CSS.
pub fn level_bar(percent: Option<u32>, colour: &str, low: bool) -> String {
    let frame = if low { "#b00020" } else { "#9aa0a6" };
    match percent {
        Some(p) => format!(
            "<svg class=\"bar\" width=\"96\" height=\"12\" viewBox=\"0 0 100 12\" \
             role=\"img\" aria-label=\"{p} %\"><rect x=\"0\" y=\"0\" width=\"100\" \
             height=\"12\" fill=\"#e6e8eb\" stroke=\"{frame}\"/><rect x=\"0\" y=\"0\" \
             width=\"{}\" height=\"12\" fill=\"{colour}\"/></svg>",
            p.min(100)
        ),
        None => format!(
            "<svg class=\"bar\" width=\"96\" height=\"12\" viewBox=\"0 0 100 12\" \
             role=\"img\" aria-label=\"level unknown\"><rect x=\"0\" y=\"0\" width=\"100\" \
             height=\"12\" fill=\"#f3f4f6\" stroke=\"{frame}\" stroke-dasharray=\"3 2\"/></svg>"
        ),
    }
}

/// Days left as a person says it.
pub fn days_left(days: Option<f64>) -> String {
    match days {
        None => "not enough data yet".into(),
        Some(d) if d < 1.0 => "under a day".into(),
        Some(d) if d < 1.5 => "1 day".into(),
        Some(d) => format!("{d:.0} days"),
    }
}

/// The style sheet, served from the binary.
pub async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}
nav{display:flex;gap:1.2rem;align-items:center;background:#1f2937;color:#fff;padding:.6rem 1.5rem}
nav a{color:#dbe4ff;text-decoration:none}nav form{margin-left:auto}
nav button{background:none;border:1px solid #6b7280;color:#fff;padding:.2rem .6rem;border-radius:4px}
main{max-width:1200px;margin:0 auto;padding:1.5rem}
table{border-collapse:collapse;width:100%;background:#fff}
td,th{padding:.4rem .6rem;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
.bar{vertical-align:middle;margin-right:.3rem}
.supply{white-space:nowrap;font-size:.9rem}
.low{color:#b00020;font-weight:600}.ok{color:#1a7f37}.muted{color:#6b7280}
.tag{display:inline-block;padding:0 .4rem;border-radius:3px;background:#fde8e8;color:#8a1020;font-size:.85rem;margin:0 .2rem .2rem 0}
.notice{background:#e8f3ff;border:1px solid #b6d4fe;padding:.6rem 1rem;border-radius:4px}
.error{background:#fde8e8;border:1px solid #f5b5b5;padding:.6rem 1rem;border-radius:4px}
form.filters{display:flex;gap:.6rem;align-items:end;margin:0 0 1rem}
form.filters input,form.filters select{padding:.35rem}
form.stack{background:#fff;padding:1rem;border-radius:6px;max-width:34rem;margin:0 0 1.5rem}
form.stack label{display:block;margin:.4rem 0}form.stack input,form.stack select{display:block;width:100%;padding:.4rem;box-sizing:border-box}
form.inline{display:inline}
form.signin{max-width:22rem;margin:4rem auto;background:#fff;padding:1.5rem;border-radius:8px}
form.signin input{display:block;width:100%;margin:.3rem 0 1rem;padding:.5rem;box-sizing:border-box}
.chart{background:#fff;border:1px solid #e5e7eb;margin:.3rem 0 1rem}
.live{font-size:.85rem;color:#6b7280}
.pages a{margin-right:.6rem}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_cannot_become_markup() {
        assert_eq!(
            escape("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(escape("a\"b'c&"), "a&quot;b&#39;c&amp;");
        assert!(page("<b>", None, "").contains("&lt;b&gt; · printwatch"));
    }

    #[test]
    fn a_printers_colour_text_picks_from_the_palette_and_never_passes_through() {
        assert_eq!(supply_colour(Some("cyan"), ""), "#00a0d6");
        assert_eq!(supply_colour(None, "Black Toner Cartridge"), "#222222");
        assert_eq!(supply_colour(Some("red;}</style>"), ""), "#c02020");
        assert_eq!(supply_colour(Some("\"><script>"), "x"), "#7a7f87");
        assert!(level_bar(Some(250), "#222222", false)
            .contains("width=\"100\" height=\"12\" fill=\"#222222\""));
        assert_eq!(query_value("a b&c"), "a%20b%26c");
    }
}
