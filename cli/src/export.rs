//! `printwatch export`: the rows the coordinator's export gives, as CSV (RFC 4180) for a
//! spreadsheet or a technician's tool.

use printwatch_proto::v1 as p;

/// One CSV field, quoted when it must be (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV header line.
pub const CSV_HEADER: &str =
    "device_id,site,model,serial,record,name,from,to,start_value,end_value,used,detail";

/// One row as a CSV line.
pub fn csv_line(r: &p::ExportRow) -> String {
    [
        &r.device_id,
        &r.site,
        &r.model,
        &r.serial,
        &r.record,
        &r.name,
        &r.from,
        &r.to,
        &r.start_value,
        &r.end_value,
        &r.used,
        &r.detail,
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_or_newlines_are_quoted() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        let r = p::ExportRow {
            device_id: "sn:1".into(),
            detail: "x, y".into(),
            ..p::ExportRow::default()
        };
        assert_eq!(csv_line(&r).split(',').count(), 13);
        assert_eq!(CSV_HEADER.split(',').count(), 12);
    }
}
