//! Text into HTML: everything a printer says (descriptions, names, locations) is
//! untrusted, so every text goes through [`escape`]; pages are built from these pieces.

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

/// A whole page: `title` (escaped here) and `body` (already HTML).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · printwatch</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>\n",
        escape(title)
    )
}

/// The one style sheet, inline (the Content-Security-Policy allows it by hash-free
/// `style-src 'unsafe-inline'` only for styles; no script is inline).
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}\
main{max-width:1100px;margin:0 auto;padding:1.5rem}table{border-collapse:collapse;width:100%}\
td,th{padding:.4rem .6rem;border-bottom:1px solid #ddd;text-align:left}\
.bar{display:inline-block;height:.7rem;background:#ccc;width:6rem;vertical-align:middle}\
.bar span{display:block;height:100%}.low{color:#b00020;font-weight:600}\
form.signin{max-width:22rem;margin:4rem auto;background:#fff;padding:1.5rem;border-radius:8px}\
input{display:block;width:100%;margin:.3rem 0 1rem;padding:.5rem}";

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
        assert!(page("<b>", "").contains("&lt;b&gt; · printwatch"));
    }
}
