//! How one envelope lies in a segment file: a header of length, checksum and sequence
//! number, then the envelope's protobuf. Reading is total: a record cut short or damaged
//! (a crash mid-write, a bad disk) is [`Torn`], never a panic or a wrong envelope.

use std::io::Read;

/// Bytes before the payload: its length (u32), the CRC-32 of number and payload (u32),
/// and the sequence number (u64), all little-endian.
pub const HEADER: usize = 16;

/// No envelope comes near this; a larger length is damage, not a record.
pub const MAX_PAYLOAD: usize = 64 << 20;

/// Where a segment stops making sense, and why: everything from here on is not a record.
#[derive(Debug, PartialEq, Eq)]
pub struct Torn(pub &'static str);

/// Appends the record of `payload` under `seq` to `out`.
pub fn encode(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let seq = seq.to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq);
    crc.update(payload);
    // Envelopes are far below 4 GiB; `push` refuses anything above MAX_PAYLOAD first.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&seq);
    out.extend_from_slice(payload);
}

/// The next record of `from`: its number and payload, `None` at a clean end, or where the
/// bytes stop being records.
pub fn read(from: &mut impl Read, payload: &mut Vec<u8>) -> Result<Option<u64>, Torn> {
    let mut header = [0u8; HEADER];
    match fill(from, &mut header) {
        0 => return Ok(None),
        HEADER => {}
        _ => return Err(Torn("a header cut short")),
    }
    let [l0, l1, l2, l3, c0, c1, c2, c3, seq @ ..] = header;
    let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    if len > MAX_PAYLOAD {
        return Err(Torn("a length no envelope has"));
    }
    payload.clear();
    payload.resize(len, 0);
    if fill(from, payload) != len {
        return Err(Torn("a payload cut short"));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq);
    crc.update(payload);
    if crc.finalize() != u32::from_le_bytes([c0, c1, c2, c3]) {
        return Err(Torn("a checksum that does not match"));
    }
    Ok(Some(u64::from_le_bytes(seq)))
}

/// Reads until `buf` is full or the input ends (an error counts as the end: what
/// follows cannot be trusted); returns how much was read.
fn fill(from: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match from.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    got
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn records_read_back_and_any_cut_or_flip_is_torn_or_the_end(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..6),
            cut in any::<proptest::sample::Index>(),
            flip in any::<proptest::sample::Index>(),
        ) {
            let mut log = Vec::new();
            for (n, p) in payloads.iter().enumerate() {
                encode(n as u64 + 7, p, &mut log);
            }
            let mut at = &log[..];
            let mut payload = Vec::new();
            for (n, p) in payloads.iter().enumerate() {
                prop_assert_eq!(read(&mut at, &mut payload), Ok(Some(n as u64 + 7)));
                prop_assert_eq!(&payload, p);
            }
            prop_assert_eq!(read(&mut at, &mut payload), Ok(None));

            // Cut anywhere: every whole record before the cut reads, then torn or the end.
            let cut = cut.index(log.len());
            let mut at = &log[..cut];
            let mut whole = 0;
            while let Ok(Some(_)) = read(&mut at, &mut payload) {
                whole += 1;
            }
            prop_assert!(whole <= payloads.len());

            // One bit flipped: never the damaged record read as a different one.
            let mut bad = log.clone();
            let i = flip.index(bad.len());
            bad[i] ^= 0x10;
            let mut at = &bad[..];
            let mut n = 0u64;
            while let Ok(Some(seq)) = read(&mut at, &mut payload) {
                let original = &payloads[n as usize];
                prop_assert!(seq == n + 7 && &payload == original, "a damaged record read as valid");
                n += 1;
            }
        }

        #[test]
        fn any_bytes_give_records_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut at = &bytes[..];
            let mut payload = Vec::new();
            for _ in 0..64 {
                match read(&mut at, &mut payload) {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }
    }
}
