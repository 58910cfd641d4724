//! Reading a segment that may be damaged: every record whose checksum holds is kept, in
//! order, and what lies between them is reported with the numbers it cost. A crash's
//! torn last record (cut short: its push never returned, so nothing was promised) is
//! told apart from damage (a whole record whose checksum fails, or bytes that are no
//! record with good records after them), which loses envelopes that were durable.

use std::ops::Range;

use super::record;

/// What a segment holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Salvaged {
    /// Each good record: its number and where it lies in the segment.
    pub records: Vec<(u64, Range<usize>)>,
    /// Each damaged stretch: where it lies, and the numbers lost there (empty when the
    /// numbers on either side run on, as when the damage hit bytes past a record's end).
    pub damage: Vec<Damage>,
    /// Bytes at the end that are a record cut short: a crash's torn write.
    pub torn_tail: Option<Range<usize>>,
}

/// A damaged stretch of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Where, in the segment.
    pub bytes: Range<usize>,
    /// The first envelope number lost.
    pub lost_from: u64,
    /// The last number lost, when a good record follows (none may be lost then: bytes
    /// past a record's end); `None` when the damage runs to the segment's end and how
    /// many records it held is not known.
    pub lost_to: Option<u64>,
}

/// What starts at a position of a segment.
enum At {
    /// A whole record with a good checksum: its number and length.
    Record(u64, usize),
    /// A record cut short by the end of the bytes.
    CutShort,
    /// Bytes that are no record (a bad checksum, a length no envelope has).
    Garbage,
}

/// What starts at `at`. Lengths are checked against what is there before anything is
/// read, so trying every position of a damaged stretch stays cheap.
fn record_at(bytes: &[u8], at: usize) -> At {
    let rest = bytes.get(at..).unwrap_or_default();
    let Some(len) = rest
        .get(..4)
        .map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
    else {
        return At::CutShort;
    };
    if len > record::MAX_PAYLOAD {
        return At::Garbage;
    }
    if rest.len() < record::HEADER + len {
        return At::CutShort;
    }
    let mut payload = Vec::new();
    match record::read(&mut &rest[..record::HEADER + len], &mut payload) {
        Ok(Some(seq)) => At::Record(seq, record::HEADER + len),
        _ => At::Garbage,
    }
}

/// The number a record's header at `at` names, when the header fills exactly the rest of
/// the bytes with its payload (a whole last record whose checksum failed).
fn whole_last(bytes: &[u8], at: usize) -> Option<u64> {
    let h = bytes.get(at..at + record::HEADER)?;
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let seq = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
    (at + record::HEADER + len == bytes.len()).then_some(seq)
}

/// Reads `bytes`, a segment whose first number is `first`.
pub fn salvage(bytes: &[u8], first: u64) -> Salvaged {
    let mut out = Salvaged::default();
    let mut last = first.saturating_sub(1);
    let mut at = 0;
    while at < bytes.len() {
        let here = record_at(bytes, at);
        if let At::Record(seq, len) = here {
            if seq > last {
                out.records.push((seq, at..at + len));
                last = seq;
                at += len;
                continue;
            }
        }
        // Not a record that follows: look for the next one that does.
        let next = (at + 1..bytes.len()).find_map(|p| match record_at(bytes, p) {
            At::Record(seq, _) if seq > last => Some((p, seq)),
            _ => None,
        });
        match (next, here) {
            (Some((p, seq)), _) => {
                out.damage.push(Damage {
                    bytes: at..p,
                    lost_from: last + 1,
                    lost_to: Some(seq - 1),
                });
                at = p;
            }
            // A record cut short with nothing after it: a crash's torn write.
            (None, At::CutShort) => {
                out.torn_tail = Some(at..bytes.len());
                break;
            }
            (None, _) => {
                out.damage.push(Damage {
                    bytes: at..bytes.len(),
                    lost_from: last + 1,
                    lost_to: whole_last(bytes, at).filter(|seq| *seq == last + 1),
                });
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn segment(first: u64, n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in first..first + n {
            record::encode(
                seq,
                format!("envelope {seq} ").repeat(5).as_bytes(),
                &mut out,
            );
        }
        out
    }

    #[test]
    fn a_flipped_byte_costs_its_record_and_the_rest_is_kept() {
        let mut bytes = segment(10, 20);
        let third = salvage(&bytes, 10).records[2].1.clone();
        bytes[third.start + record::HEADER + 3] ^= 0x40;
        let s = salvage(&bytes, 10);
        let kept: Vec<u64> = s.records.iter().map(|(n, _)| *n).collect();
        assert_eq!(kept, (10..30).filter(|n| *n != 12).collect::<Vec<_>>());
        assert_eq!(s.damage.len(), 1);
        assert_eq!((s.damage[0].lost_from, s.damage[0].lost_to), (12, Some(12)));
        assert_eq!(s.torn_tail, None);
    }

    #[test]
    fn a_torn_tail_is_not_damage_and_a_bad_last_record_is() {
        let mut bytes = segment(1, 5);
        let whole = bytes.len();
        bytes.extend_from_slice(&segment(6, 1)[..20]);
        let s = salvage(&bytes, 1);
        assert_eq!(s.records.len(), 5);
        assert_eq!(s.torn_tail, Some(whole..bytes.len()));
        assert!(s.damage.is_empty());
        let mut bytes = segment(1, 5);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let s = salvage(&bytes, 1);
        assert_eq!(s.records.len(), 4);
        assert_eq!((s.damage[0].lost_from, s.damage[0].lost_to), (5, Some(5)));
    }

    proptest! {
        /// Any bytes give records in rising order, without a panic; a clean segment gives
        /// all of its records and no damage.
        #[test]
        fn any_bytes_give_rising_records(flips in proptest::collection::vec((0usize..4000, any::<u8>()), 0..8)) {
            let clean = segment(1, 40);
            let all = salvage(&clean, 1);
            prop_assert_eq!(all.records.len(), 40);
            prop_assert!(all.damage.is_empty());
            let mut bytes = clean.clone();
            for (at, x) in flips {
                let n = bytes.len();
                bytes[at % n] ^= x;
            }
            let s = salvage(&bytes, 1);
            prop_assert!(s.records.windows(2).all(|w| w[0].0 < w[1].0));
            for (seq, range) in &s.records {
                prop_assert_eq!(&bytes[range.clone()], &clean[all.records[(*seq - 1) as usize].1.clone()]);
            }
        }
    }
}
