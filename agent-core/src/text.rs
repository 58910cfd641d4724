//! Text as printers really send it.
//!
//! OCTET STRINGs arrive as UTF-8, as Latin-1, with trailing NULs and control characters,
//! and sometimes as hex: HP firmware and some recordings carry the tail of a description as
//! net-snmp's hex dump (`Black Cartridge \n38 32 37 41 ...`), and a Ricoh sends Chinese
//! supply names as hex-encoded UTF-8. Every function here is total.

/// Decodes a descriptive string (supply and alert descriptions, models): undoes hex forms,
/// picks UTF-8 or Latin-1, cuts at the first NUL, drops control characters, trims.
pub fn decode_description(bytes: &[u8]) -> String {
    if let Some(inner) = undo_hex_dump(bytes) {
        return plain_text(&inner);
    }
    plain_text(bytes)
}

/// Decodes an identifier (serial, firmware): UTF-8 or Latin-1, cut at the first NUL, control
/// characters removed, trimmed. No hex guessing: a serial may well look like hex.
pub fn plain_text(bytes: &[u8]) -> String {
    let cut = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let bytes = &bytes[..cut];
    let s: String = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    };
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Recognises the hex forms and returns the bytes they stand for:
/// - `AB CD EF ...` (pairs separated by spaces or line breaks, net-snmp's Hex-STRING),
/// - `prefix\nAB CD ...` (a first line of text, then the rest as a hex dump),
/// - `E9BB91E889B2...` (a bare hex string that decodes to UTF-8 text with a letter in it).
///
/// Returns `None` when the bytes are ordinary text, so ordinary text is never mangled.
fn undo_hex_dump(bytes: &[u8]) -> Option<Vec<u8>> {
    let s = std::str::from_utf8(bytes).ok()?;
    let s = s.trim_end_matches(['\0', ' ', '\n', '\r']);
    if let Some(b) = hex_pairs(s) {
        return looks_like_text(&b).then_some(b);
    }
    if let Some((prefix, rest)) = s.split_once('\n') {
        if let Some(tail) = hex_pairs(rest) {
            let mut all = prefix.as_bytes().to_vec();
            all.extend(tail);
            return looks_like_text(&all).then_some(all);
        }
    }
    if s.len() >= 8 && s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let b = crate::snmprec::decode_hex(s)?;
        let text = std::str::from_utf8(trim_nul(&b)).ok()?;
        if looks_like_text(&b) && text.chars().any(char::is_alphabetic) {
            return Some(b);
        }
    }
    None
}

/// Parses `AB CD\nEF` style hex pairs; at least two pairs.
fn hex_pairs(s: &str) -> Option<Vec<u8>> {
    let tokens: Vec<&str> = s
        .split([' ', '\n', '\r'])
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.len() < 2 || tokens.iter().any(|t| t.len() != 2) {
        return None;
    }
    tokens
        .iter()
        .map(|t| u8::from_str_radix(t, 16).ok())
        .collect()
}

fn trim_nul(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&x| x != 0).map_or(0, |p| p + 1);
    &b[..end]
}

/// Valid UTF-8 without control characters other than whitespace, once trailing NULs go.
fn looks_like_text(b: &[u8]) -> bool {
    match std::str::from_utf8(trim_nul(b)) {
        Ok(s) => !s.is_empty() && s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'),
        Err(_) => false,
    }
}

/// Formats a 6-byte physical address; other lengths are not a MAC.
pub fn mac(bytes: &[u8]) -> Option<String> {
    if bytes.len() != 6 || bytes.iter().all(|&b| b == 0) {
        return None;
    }
    Some(
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hp_hex_dump_tail() {
        let raw = b"Fuser Kit HP 110\n56 2D 43 31 4E 35 34 41 2C 20 32 32 30 56 2D 43 \n31 4E 35 38 41 00 ";
        assert_eq!(
            decode_description(raw),
            "Fuser Kit HP 110V-C1N54A, 220V-C1N58A"
        );
        assert_eq!(
            decode_description(b"Stapler 3 HP CC3\n38 33 41 00"),
            "Stapler 3 HP CC383A"
        );
    }

    #[test]
    fn chinese_as_hex() {
        let hexed = "黑色碳粉"
            .bytes()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>();
        assert_eq!(decode_description(hexed.join(" ").as_bytes()), "黑色碳粉");
        assert_eq!(decode_description(hexed.concat().as_bytes()), "黑色碳粉");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        assert_eq!(
            decode_description(b"Black Toner Cartridge"),
            "Black Toner Cartridge"
        );
        assert_eq!(decode_description(b"CF400X"), "CF400X");
        assert_eq!(decode_description(b"12 34"), "12 34");
        assert_eq!(decode_description(b"DEADBEEF"), "DEADBEEF");
        assert_eq!(plain_text(b"ABCDEF0123456789"), "ABCDEF0123456789");
    }

    #[test]
    fn latin1_nuls_and_controls() {
        assert_eq!(
            decode_description(b"Toner Schwarz \xe9\x00\x00junk"),
            "Toner Schwarz é"
        );
        assert_eq!(plain_text(b"  SN\x01\x0212\r\n"), "SN 12");
    }

    #[test]
    fn macs() {
        assert_eq!(
            mac(&[0x10, 0xe7, 0xc6, 0x62, 0x70, 0x8e]).as_deref(),
            Some("10:e7:c6:62:70:8e")
        );
        assert_eq!(mac(&[]), None);
        assert_eq!(mac(&[0; 6]), None);
    }

    proptest! {
        #[test]
        fn decoding_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let s = decode_description(&bytes);
            prop_assert!(!s.chars().any(char::is_control));
            let _ = plain_text(&bytes);
        }
    }
}
