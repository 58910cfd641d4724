//! The IPP message (RFC 8010): the Get-Printer-Attributes request we send, and the
//! response decoded into the printer's attributes.
//!
//! Decoding is total and bounded: any bytes give a [`Response`] or a [`BadMessage`], never
//! a panic, and nothing in the answer can make the decoder allocate more than a small
//! multiple of the bytes it was given or recurse without limit (collections nest at most
//! [`MAX_DEPTH`] deep). The `ipp` crate's decoder was not used for this: in version 8.0.0
//! it slices a textWithLanguage value by a length read from the message without checking
//! it (a panic on a hostile answer), and builds collections of any depth.

use thiserror::Error;

/// Operation: Get-Printer-Attributes.
const GET_PRINTER_ATTRIBUTES: u16 = 0x000b;

/// Collections may nest this deep (real printers use two levels; `media-col` three).
pub const MAX_DEPTH: usize = 8;

/// Value tags (RFC 8010 section 3.5.2) the decoder gives a meaning to.
mod tag {
    pub const OPERATION: u8 = 0x01;
    pub const END: u8 = 0x03;
    pub const INTEGER: u8 = 0x21;
    pub const BOOLEAN: u8 = 0x22;
    pub const ENUM: u8 = 0x23;
    pub const OCTET_STRING: u8 = 0x30;
    pub const TEXT_WITH_LANGUAGE: u8 = 0x35;
    pub const NAME_WITH_LANGUAGE: u8 = 0x36;
    pub const BEG_COLLECTION: u8 = 0x34;
    pub const END_COLLECTION: u8 = 0x37;
    pub const KEYWORD: u8 = 0x44;
    pub const URI: u8 = 0x45;
    pub const CHARSET: u8 = 0x47;
    pub const LANGUAGE: u8 = 0x48;
    pub const MEMBER_NAME: u8 = 0x4a;
    /// Delimiters (the group tags) are 0x00 to 0x0f.
    pub const LAST_DELIMITER: u8 = 0x0f;
    /// Printer attributes.
    pub const PRINTER: u8 = 0x04;
}

/// One value of an attribute, as far as reading a printer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// integer and enum.
    Integer(i32),
    /// boolean.
    Boolean(bool),
    /// Every string type (text, name, keyword, uri, charset, language, mimeMediaType,
    /// with or without a language), and octetString (printer-supply is one), decoded
    /// as UTF-8 with bad sequences replaced.
    Text(String),
    /// collection: its members in order.
    Collection(Vec<(String, Vec<Value>)>),
    /// A type the reader has no use for (dateTime, resolution, rangeOfInteger, out of
    /// band values such as unknown or no-value): its tag.
    Other(u8),
}

impl Value {
    /// The value as an integer, when it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(i64::from(*n)),
            _ => None,
        }
    }

    /// The value as a string, when it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// An attribute group's attributes, in the order the printer sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes(pub Vec<(String, Vec<Value>)>);

impl Attributes {
    /// The values of the attribute `name` (empty when the printer did not send it).
    pub fn get(&self, name: &str) -> &[Value] {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// The first value of `name` as a string.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).first().and_then(Value::as_str)
    }

    /// The first value of `name` as an integer.
    pub fn integer(&self, name: &str) -> Option<i64> {
        self.get(name).first().and_then(Value::as_i64)
    }
}

/// A decoded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The version the printer answered with (major, minor).
    pub version: (u8, u8),
    /// status-code: 0x0000 to 0x00ff are successes.
    pub status: u16,
    /// The request id it answers.
    pub request_id: u32,
    /// status-message, where the printer gave one.
    pub status_message: Option<String>,
    /// The printer-attributes group.
    pub printer: Attributes,
}

impl Response {
    /// True for the successful status codes (successful-ok and its variants).
    pub fn is_success(&self) -> bool {
        self.status <= 0x00ff
    }
}

/// Why bytes are not an IPP response.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BadMessage {
    /// The bytes end inside a header, a name or a value.
    #[error("the IPP answer is cut short at byte {0}")]
    Truncated(usize),
    /// The first bytes are not an IPP version this reader knows.
    #[error("not an IPP answer (version bytes {0:#04x} {1:#04x})")]
    NotIpp(u8, u8),
    /// A value before any attribute group, a member outside a collection, an end of
    /// collection with none open.
    #[error("a malformed IPP answer at byte {0}: {1}")]
    Malformed(usize, &'static str),
    /// Collections nest deeper than [`MAX_DEPTH`].
    #[error("collections in the IPP answer nest deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// A Get-Printer-Attributes request for `printer_uri`, asking for `attributes` (IPP/1.1,
/// which every IPP printer accepts: IPP Everywhere printers answer 2.0 attributes to it).
pub fn get_printer_attributes(request_id: u32, printer_uri: &str, attributes: &[&str]) -> Vec<u8> {
    let mut b = Vec::with_capacity(128 + attributes.len() * 24);
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(&GET_PRINTER_ATTRIBUTES.to_be_bytes());
    b.extend_from_slice(&request_id.to_be_bytes());
    b.push(tag::OPERATION);
    put(&mut b, tag::CHARSET, "attributes-charset", b"utf-8");
    put(&mut b, tag::LANGUAGE, "attributes-natural-language", b"en");
    put(&mut b, tag::URI, "printer-uri", printer_uri.as_bytes());
    for (i, a) in attributes.iter().enumerate() {
        let name = if i == 0 { "requested-attributes" } else { "" };
        put(&mut b, tag::KEYWORD, name, a.as_bytes());
    }
    b.push(tag::END);
    b
}

/// One attribute value: tag, name length and name, value length and value. Names and
/// values are ours and short; one longer than a length field holds is cut.
fn put(b: &mut Vec<u8>, tag: u8, name: &str, value: &[u8]) {
    let name = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
    let value = &value[..value.len().min(u16::MAX as usize)];
    b.push(tag);
    b.extend_from_slice(&(name.len() as u16).to_be_bytes());
    b.extend_from_slice(name);
    b.extend_from_slice(&(value.len() as u16).to_be_bytes());
    b.extend_from_slice(value);
}

/// A cursor over the answer that fails, never panics, at its end.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BadMessage> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or(BadMessage::Truncated(self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, BadMessage> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, BadMessage> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    fn sized(&mut self) -> Result<&'a [u8], BadMessage> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Where values go while a collection is open: the collection's members so far, the
/// name of the member being read, and where the collection itself goes when it ends.
struct Open {
    members: Vec<(String, Vec<Value>)>,
    member: Option<String>,
}

/// Decodes a response. Only the operation group's status-message and the printer group
/// are kept; other groups (unsupported attributes) are read past.
pub fn decode(bytes: &[u8]) -> Result<Response, BadMessage> {
    let mut c = Cursor { b: bytes, at: 0 };
    let (major, minor) = (c.u8()?, c.u8()?);
    if !(1..=2).contains(&major) {
        return Err(BadMessage::NotIpp(major, minor));
    }
    let status = c.u16()?;
    let id = c.take(4)?;
    let request_id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
    let mut groups: Vec<(u8, Attributes)> = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    loop {
        let at = c.at;
        let t = c.u8()?;
        if t <= tag::LAST_DELIMITER {
            if !open.is_empty() {
                return Err(BadMessage::Malformed(
                    at,
                    "a group starts inside a collection",
                ));
            }
            if t == tag::END {
                break;
            }
            groups.push((t, Attributes::default()));
            continue;
        }
        let name = text(c.sized()?);
        let raw = c.sized()?;
        let Some((_, group)) = groups.last_mut() else {
            return Err(BadMessage::Malformed(at, "a value before any group"));
        };
        if let Some(top) = open.last_mut() {
            if !name.is_empty() {
                return Err(BadMessage::Malformed(
                    at,
                    "a named value inside a collection",
                ));
            }
            match t {
                tag::MEMBER_NAME => {
                    top.member = Some(text(raw));
                    top.members.push((text(raw), Vec::new()));
                    continue;
                }
                tag::END_COLLECTION => {
                    let Some(done) = open.pop() else {
                        continue;
                    };
                    let value = Value::Collection(done.members);
                    add(&mut open, group, value, at)?;
                    continue;
                }
                _ => {}
            }
        } else if t == tag::END_COLLECTION || t == tag::MEMBER_NAME {
            return Err(BadMessage::Malformed(at, "a collection's part outside one"));
        }
        if t == tag::BEG_COLLECTION {
            if open.len() >= MAX_DEPTH {
                return Err(BadMessage::TooDeep);
            }
            if open.is_empty() {
                start_attribute(group, name, at)?;
            }
            open.push(Open {
                members: Vec::new(),
                member: None,
            });
            continue;
        }
        let value = value(t, raw);
        if open.is_empty() {
            start_attribute(group, name, at)?;
        }
        add(&mut open, group, value, at)?;
    }
    let status_message = groups
        .iter()
        .find(|(t, _)| *t == tag::OPERATION)
        .and_then(|(_, a)| a.text("status-message").map(str::to_string));
    let mut printer = Attributes::default();
    for (t, a) in groups {
        if t == tag::PRINTER {
            printer.0.extend(a.0);
        }
    }
    Ok(Response {
        version: (major, minor),
        status,
        request_id,
        status_message,
        printer,
    })
}

/// A value with a name begins an attribute; one without adds to the attribute before.
fn start_attribute(group: &mut Attributes, name: String, at: usize) -> Result<(), BadMessage> {
    if name.is_empty() {
        if group.0.is_empty() {
            return Err(BadMessage::Malformed(
                at,
                "an additional value with no attribute",
            ));
        }
    } else {
        group.0.push((name, Vec::new()));
    }
    Ok(())
}

/// Adds a value to the open collection's current member, or to the group's last
/// attribute.
fn add(
    open: &mut [Open],
    group: &mut Attributes,
    value: Value,
    at: usize,
) -> Result<(), BadMessage> {
    let target = match open.last_mut() {
        Some(top) => {
            if top.member.is_none() {
                return Err(BadMessage::Malformed(
                    at,
                    "a collection value with no member name",
                ));
            }
            top.members.last_mut().map(|(_, v)| v)
        }
        None => group.0.last_mut().map(|(_, v)| v),
    };
    match target {
        Some(values) => {
            values.push(value);
            Ok(())
        }
        None => Err(BadMessage::Malformed(at, "a value with no attribute")),
    }
}

fn value(t: u8, raw: &[u8]) -> Value {
    match t {
        tag::INTEGER | tag::ENUM => match <[u8; 4]>::try_from(raw) {
            Ok(b) => Value::Integer(i32::from_be_bytes(b)),
            Err(_) => Value::Other(t),
        },
        tag::BOOLEAN => match raw {
            [b] => Value::Boolean(*b != 0),
            _ => Value::Other(t),
        },
        tag::TEXT_WITH_LANGUAGE | tag::NAME_WITH_LANGUAGE => {
            // A language, then the text, each with its two-byte length.
            let mut c = Cursor { b: raw, at: 0 };
            match c.sized().and_then(|_| c.sized()) {
                Ok(s) => Value::Text(text(s)),
                Err(_) => Value::Other(t),
            }
        }
        tag::OCTET_STRING | 0x40..=0x49 => Value::Text(text(raw)),
        _ => Value::Other(t),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A response built the way a printer writes one.
    pub(crate) struct Writer(pub Vec<u8>);

    impl Writer {
        pub fn new(status: u16) -> Writer {
            let mut b = vec![2, 0];
            b.extend_from_slice(&status.to_be_bytes());
            b.extend_from_slice(&7u32.to_be_bytes());
            b.push(tag::OPERATION);
            put(&mut b, tag::CHARSET, "attributes-charset", b"utf-8");
            b.push(tag::PRINTER);
            Writer(b)
        }
        pub fn value(mut self, t: u8, name: &str, v: &[u8]) -> Writer {
            put(&mut self.0, t, name, v);
            self
        }
        pub fn end(mut self) -> Vec<u8> {
            self.0.push(tag::END);
            self.0
        }
    }

    #[test]
    fn the_request_names_the_printer_and_what_it_asks_for() {
        let b = get_printer_attributes(9, "ipp://127.0.0.1:631/ipp/print", &["a", "b"]);
        assert_eq!(&b[..8], &[1, 1, 0, 0x0b, 0, 0, 0, 9]);
        // It decodes as a message itself: the operation group holds what was asked.
        let mut c = Cursor { b: &b, at: 8 };
        assert_eq!(c.u8(), Ok(tag::OPERATION));
        let mut names = Vec::new();
        while let Ok(t) = c.u8() {
            if t == tag::END {
                break;
            }
            names.push((text(c.sized().unwrap()), text(c.sized().unwrap())));
        }
        assert_eq!(
            names,
            [
                ("attributes-charset".into(), "utf-8".into()),
                ("attributes-natural-language".into(), "en".into()),
                ("printer-uri".into(), "ipp://127.0.0.1:631/ipp/print".into()),
                ("requested-attributes".into(), "a".into()),
                (String::new(), "b".into()),
            ]
        );
        assert_eq!(c.at, b.len());
    }

    #[test]
    fn values_sets_and_collections_come_back() {
        let mut w = Writer::new(0)
            .value(0x41, "printer-make-and-model", b"Example Laser")
            .value(tag::ENUM, "printer-state", &3i32.to_be_bytes())
            .value(tag::KEYWORD, "printer-state-reasons", b"toner-low")
            .value(tag::KEYWORD, "", b"media-jam")
            .value(tag::OCTET_STRING, "printer-supply", b"type=toner;level=40;")
            .value(
                tag::BEG_COLLECTION,
                "printer-impressions-completed-col",
                b"",
            )
            .value(tag::MEMBER_NAME, "", b"monochrome")
            .value(tag::INTEGER, "", &1200i32.to_be_bytes())
            .value(tag::MEMBER_NAME, "", b"full-color")
            .value(tag::INTEGER, "", &34i32.to_be_bytes())
            .value(tag::END_COLLECTION, "", b"");
        let mut lang = Vec::new();
        lang.extend_from_slice(&2u16.to_be_bytes());
        lang.extend_from_slice(b"en");
        lang.extend_from_slice(&5u16.to_be_bytes());
        lang.extend_from_slice(b"Hallo");
        w = w.value(tag::TEXT_WITH_LANGUAGE, "printer-info", &lang);
        let r = decode(&w.end()).unwrap();
        assert!(r.is_success());
        assert_eq!(r.request_id, 7);
        let a = &r.printer;
        assert_eq!(a.text("printer-make-and-model"), Some("Example Laser"));
        assert_eq!(a.integer("printer-state"), Some(3));
        assert_eq!(
            a.get("printer-state-reasons"),
            [
                Value::Text("toner-low".into()),
                Value::Text("media-jam".into())
            ]
        );
        assert_eq!(a.text("printer-supply"), Some("type=toner;level=40;"));
        assert_eq!(
            a.get("printer-impressions-completed-col"),
            [Value::Collection(vec![
                ("monochrome".into(), vec![Value::Integer(1200)]),
                ("full-color".into(), vec![Value::Integer(34)]),
            ])]
        );
        assert_eq!(a.text("printer-info"), Some("Hallo"));
        assert!(a.get("absent").is_empty());
    }

    #[test]
    fn what_is_not_an_answer_is_an_error() {
        assert_eq!(
            decode(b"HTTP/1.1 200 OK\r\n"),
            Err(BadMessage::NotIpp(b'H', b'T'))
        );
        assert_eq!(decode(&[2, 0, 0]), Err(BadMessage::Truncated(2)));
        let cut = Writer::new(0).value(0x41, "x", b"abc").0;
        assert!(matches!(
            decode(&cut[..cut.len() - 1]),
            Err(BadMessage::Truncated(_))
        ));
        assert!(
            matches!(decode(&cut), Err(BadMessage::Truncated(_))),
            "no end tag"
        );
        let mut deep = Writer::new(0);
        for level in 0..=MAX_DEPTH {
            // Only the outermost collection has a name; a member's value has none.
            let name = if level == 0 { "c" } else { "" };
            deep = deep
                .value(tag::BEG_COLLECTION, name, b"")
                .value(tag::MEMBER_NAME, "", b"m");
        }
        let deep = deep.end();
        assert_eq!(decode(&deep), Err(BadMessage::TooDeep));
        let stray = Writer::new(0).value(tag::END_COLLECTION, "", b"").end();
        assert!(matches!(decode(&stray), Err(BadMessage::Malformed(..))));
    }

    proptest! {
        #[test]
        fn any_bytes_are_an_answer_or_an_error(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&b);
        }

        #[test]
        fn any_tail_after_a_good_header_is_an_answer_or_an_error(
            tail in proptest::collection::vec(
                prop_oneof![Just(0x04u8), Just(0x34), Just(0x37), Just(0x4a), Just(0x35), Just(0), any::<u8>()],
                0..256,
            )
        ) {
            let mut b = vec![2, 0, 0, 0, 0, 0, 0, 1, 4];
            b.extend_from_slice(&tail);
            let _ = decode(&b);
        }
    }
}
