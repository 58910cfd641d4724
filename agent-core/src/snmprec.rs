//! Reader for snmpsim's `.snmprec` recordings: `OID|TAG|VALUE`, one variable per line.
//!
//! The corpus of real printers comes in this format, and the simulator serves it. The reader
//! is total: any text gives the records or an error naming the line, never a panic.

use crate::message::Value;
use crate::oid::Oid;

/// Why a recording cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snmprec line {line}: {reason}")]
pub struct SnmprecError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a whole recording; the first bad line is an error. Blank lines and `#` comments
/// are skipped.
pub fn parse(text: &str) -> Result<Vec<(Oid, Value)>, SnmprecError> {
    let (records, mut errors) = parse_lenient(text);
    match errors.is_empty() {
        true => Ok(records),
        false => Err(errors.swap_remove(0)),
    }
}

/// Parses what can be parsed and lists the lines that could not. Real recordings carry
/// anonymised values such as `4x|346288XXYYZZ`; a simulator serves the rest.
pub fn parse_lenient(text: &str) -> (Vec<(Oid, Value)>, Vec<SnmprecError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        match parse_line(i + 1, raw) {
            Ok(Some(rec)) => out.push(rec),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    (out, errors)
}

fn parse_line(line_no: usize, raw: &str) -> Result<Option<(Oid, Value)>, SnmprecError> {
    {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            return Ok(None);
        }
        let err = |reason: String| SnmprecError {
            line: line_no,
            reason,
        };
        let mut parts = line.splitn(3, '|');
        let (oid, tag, value) = match (parts.next(), parts.next(), parts.next()) {
            (Some(o), Some(t), Some(v)) => (o, t, v),
            _ => return Err(err("expected OID|TAG|VALUE".into())),
        };
        let oid: Oid = oid
            .parse()
            .map_err(|e: crate::oid::OidParseError| err(e.to_string()))?;
        let (tag, hex) = match tag.strip_suffix('x') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let tag: u8 = tag
            .parse()
            .map_err(|_| err(format!("tag {tag:?} is not a number")))?;
        let bytes = || -> Result<Vec<u8>, SnmprecError> {
            if hex {
                decode_hex(value).ok_or_else(|| err(format!("bad hex value {value:?}")))
            } else {
                Ok(value.as_bytes().to_vec())
            }
        };
        let text = || -> Result<String, SnmprecError> {
            String::from_utf8(bytes()?).map_err(|_| err("value is not text".into()))
        };
        let num = |s: String| -> Result<i128, SnmprecError> {
            s.trim()
                .parse::<i128>()
                .map_err(|_| err(format!("{s:?} is not a number")))
        };
        let ranged = |v: i128, max: i128| -> Result<u64, SnmprecError> {
            if (0..=max).contains(&v) {
                Ok(v as u64)
            } else {
                Err(err(format!("{v} is out of range")))
            }
        };
        let v = match tag {
            2 => {
                let n = num(text()?)?;
                Value::Integer(i64::try_from(n).map_err(|_| err(format!("{n} is out of range")))?)
            }
            4 => Value::OctetString(bytes()?),
            5 => Value::Null,
            6 => Value::ObjectId(
                text()?
                    .parse()
                    .map_err(|e: crate::oid::OidParseError| err(e.to_string()))?,
            ),
            64 => {
                let b = bytes()?;
                let ip = if hex {
                    <[u8; 4]>::try_from(b.as_slice()).ok()
                } else {
                    text()?
                        .parse::<std::net::Ipv4Addr>()
                        .ok()
                        .map(|a| a.octets())
                };
                Value::IpAddress(ip.ok_or_else(|| err(format!("bad IpAddress {value:?}")))?)
            }
            65 => Value::Counter32(ranged(num(text()?)?, u32::MAX.into())? as u32),
            66 => Value::Gauge32(ranged(num(text()?)?, u32::MAX.into())? as u32),
            67 => Value::TimeTicks(ranged(num(text()?)?, u32::MAX.into())? as u32),
            68 => Value::Opaque(bytes()?),
            70 => Value::Counter64(ranged(num(text()?)?, u64::MAX.into())?),
            other => return Err(err(format!("unknown tag {other}"))),
        };
        Ok(Some((oid, v)))
    }
}

/// Decodes a plain hex string (no separators); `None` when it is not one.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_every_tag() {
        let text = "1.3.6.1.2.1.1.1.0|4|HP LaserJet\n\
                    1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.11.2.3.9.1\n\
                    1.3.6.1.2.1.1.3.0|67|52860963\n\
                    1.3.6.1.2.1.2.2.1.6.2|4x|10E7C662708E\n\
                    1.3.6.1.2.1.4.20.1.3.1|64|255.255.255.0\n\
                    1.3.6.1.2.1.43.11.1.1.9.1.1|2|-3\n\
                    1.3.6.1.2.1.31.1.1.1.6.1|70|18446744073709551615\n";
        let recs = parse(text).unwrap();
        assert_eq!(recs.len(), 7);
        assert_eq!(
            recs[3].1,
            Value::OctetString(vec![0x10, 0xe7, 0xc6, 0x62, 0x70, 0x8e])
        );
        assert_eq!(recs[5].1, Value::Integer(-3));
        assert_eq!(recs[6].1, Value::Counter64(u64::MAX));
    }

    #[test]
    fn names_the_bad_line() {
        let e = parse("1.3.6|2|5\n1.3.6.1|2|five\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse("1.3.6|99|x").is_err());
        assert!(parse("1.3.6|4x|abc").is_err());
        assert!(parse("nonsense").is_err());
    }

    proptest! {
        #[test]
        fn parsing_is_total(text in "(?s).{0,400}") {
            let _ = parse(&text);
        }

        #[test]
        fn parsing_line_shaped_junk_is_total(lines in proptest::collection::vec(
            ("[0-9.]{0,20}", "[0-9x]{0,4}", "[ -~]{0,20}"), 0..20)) {
            let text: String = lines.iter().map(|(a, b, c)| format!("{a}|{b}|{c}\n")).collect();
            let _ = parse(&text);
        }
    }
}
