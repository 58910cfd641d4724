//! One reading as a history segment holds it (see [`super::segments`]): a *full* record,
//! which names the device's shape and carries the rest of the reading (see
//! [`crate::wire_reading`]) whole, or a *diff*, which says only what changed since the
//! device's record before it in the same segment. Most readings repeat the one before but
//! for the time (and, on a busy printer, a page counter), so a diff is a few bytes: the
//! time, and a bit for each part that changed (supply levels, meters, status, the poll's
//! cost), followed by what changed.
//!
//! Every record also says how far back in its segment the device's previous record is
//! (`back`, 0 for none): a device's records in a segment form a chain that a reader walks
//! from the newest, without an index per reading.
//!
//! Layout: `len` (varint, the bytes after it), then a flags byte, `back` (varint), then
//! - full: the device's id (so that a segment read from end to end says whose each record
//!   is), shape number, seconds, nanoseconds (varints), then the rest's protobuf;
//! - diff: seconds since the previous record (zigzag varint), nanoseconds, then in flag
//!   order: the time as text (when it is not the canonical form of the time), the supplies
//!   that changed (a bitmap, then each one's level change, percent and state), the meters
//!   that changed (a bitmap, then each one's change), the status (its protobuf), the cost
//!   (bytes sent, received, round trips).
//!
//! Decoding is total: any bytes give a record or an error.

use prost::encoding::{decode_varint, encode_varint};
use prost::Message;

use printwatch_proto::v1 as p;

use crate::timestamp::Timestamp;

const FULL: u8 = 1;
const DIFF: u8 = 2;
const KIND: u8 = 0b11;
const TEXT_TIME: u8 = 1 << 2;
const SUPPLIES: u8 = 1 << 3;
const METERS: u8 = 1 << 4;
const STATUS: u8 = 1 << 5;
const COST: u8 = 1 << 6;

/// Why bytes are not a history record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a history record is unreadable: {0}")]
pub struct BadRecord(pub String);

fn bad(what: impl Into<String>) -> BadRecord {
    BadRecord(what.into())
}

/// A reading, as the records rebuild it: its shape's number, its time and its rest (the
/// reading without what the shape holds).
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    /// The number of the device's shape it names.
    pub shape: u32,
    /// When it was taken.
    pub at: Timestamp,
    /// The rest of it.
    pub rest: p::Reading,
}

/// A reading borrowed, to be written: its shape's number, time and rest.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The number of the device's shape it names.
    pub shape: u32,
    /// When it was taken.
    pub at: Timestamp,
    /// The rest of it.
    pub rest: &'a p::Reading,
}

impl Rebuilt {
    /// The reading, borrowed.
    pub fn view(&self) -> View<'_> {
        View {
            shape: self.shape,
            at: self.at,
            rest: &self.rest,
        }
    }
}

/// A full record of `device`'s reading `r`, `back` bytes after the device's previous one
/// (0: none).
pub fn full(back: u64, device: &str, r: View<'_>, out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(32 + device.len() + r.rest.encoded_len());
    body.push(FULL);
    encode_varint(back, &mut body);
    bytes(device.as_bytes(), &mut body);
    encode_varint(u64::from(r.shape), &mut body);
    let (secs, nanos) = split_time(r.at);
    encode_varint(secs, &mut body);
    encode_varint(nanos, &mut body);
    r.rest.encode(&mut body).unwrap_or_default();
    frame(body, out);
}

/// A diff of `now` against `before`, the device's previous record `back` bytes earlier
/// in the segment; `false` (and nothing written) when `now` cannot be said as a diff of
/// it: another shape, or meters other than `before`'s by name or number.
pub fn diff(back: u64, before: View<'_>, now: View<'_>, out: &mut Vec<u8>) -> bool {
    let (b, n) = (before.rest, now.rest);
    if back == 0
        || before.shape != now.shape
        || b.supplies.len() != n.supplies.len()
        || b.meters.len() != n.meters.len()
        || b.meters
            .iter()
            .zip(&n.meters)
            .any(|(x, y)| x.name != y.name || x.source != y.source)
    {
        return false;
    }
    let mut flags = DIFF;
    let mut tail = Vec::new();
    if now.at.rfc3339() != n.polled_at {
        flags |= TEXT_TIME;
        bytes(n.polled_at.as_bytes(), &mut tail);
    }
    let supplies = changed(&b.supplies, &n.supplies, |x, y| {
        (x.level, x.percent, x.state) == (y.level, y.percent, y.state)
    });
    if let Some(map) = supplies {
        flags |= SUPPLIES;
        tail.extend_from_slice(&map);
        for (x, y) in set(&map, b.supplies.iter().zip(&n.supplies)) {
            encode_varint(zigzag(y.level.wrapping_sub(x.level)), &mut tail);
            encode_varint(y.percent.map_or(0, |p| u64::from(p) + 1), &mut tail);
            encode_varint(zigzag(i64::from(y.state)), &mut tail);
        }
    }
    let meters = changed(&b.meters, &n.meters, |x, y| x.value == y.value);
    if let Some(map) = meters {
        flags |= METERS;
        tail.extend_from_slice(&map);
        for (x, y) in set(&map, b.meters.iter().zip(&n.meters)) {
            encode_varint(zigzag(y.value.wrapping_sub(x.value) as i64), &mut tail);
        }
    }
    if b.status != n.status {
        flags |= STATUS;
        let status = n.status.clone().unwrap_or_default().encode_to_vec();
        bytes(&status, &mut tail);
    }
    if (b.bytes_sent, b.bytes_received, b.round_trips)
        != (n.bytes_sent, n.bytes_received, n.round_trips)
    {
        flags |= COST;
        encode_varint(n.bytes_sent, &mut tail);
        encode_varint(n.bytes_received, &mut tail);
        encode_varint(u64::from(n.round_trips), &mut tail);
    }
    let mut body = Vec::with_capacity(16 + tail.len());
    body.push(flags);
    encode_varint(back, &mut body);
    let (secs, nanos) = split_time(now.at);
    let (before_secs, _) = split_time(before.at);
    encode_varint(zigzag(secs.wrapping_sub(before_secs) as i64), &mut body);
    encode_varint(nanos, &mut body);
    body.extend_from_slice(&tail);
    frame(body, out);
    true
}

/// What a reader needs of a record before it decodes it: how long it is, where the
/// device's previous record is, and whether it stands alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The record's bytes, its length prefix included.
    pub len: usize,
    /// How far back the device's previous record starts (0: none).
    pub back: u64,
    /// A full record, which needs no record before it.
    pub full: bool,
}

/// The header of the record at the start of `b`, which may hold only part of the record
/// (the length says how much more to read).
pub fn header(b: &[u8]) -> Result<Header, BadRecord> {
    let mut c = b;
    let body = decode_varint(&mut c).map_err(|_| bad("its length"))?;
    let len = usize::try_from(body)
        .ok()
        .and_then(|n| n.checked_add(b.len() - c.len()))
        .ok_or_else(|| bad("its length"))?;
    let flags = *c.first().ok_or_else(|| bad("cut short"))?;
    c = &c[1..];
    let back = decode_varint(&mut c).map_err(|_| bad("cut short"))?;
    let full = match flags & KIND {
        FULL => true,
        DIFF => false,
        k => return Err(bad(format!("unknown kind {k}"))),
    };
    Ok(Header { len, back, full })
}

/// The reading the record `b` (exactly one, its length prefix included) holds, given the
/// one its device's previous record holds (a diff needs it; a full record does not).
pub fn rebuild(b: &[u8], before: Option<&Rebuilt>) -> Result<Rebuilt, BadRecord> {
    let mut c = b;
    let len = decode_varint(&mut c).map_err(|_| bad("its length"))?;
    if usize::try_from(len).ok() != Some(c.len()) {
        return Err(bad("its length is not its size"));
    }
    let flags = take_byte(&mut c)?;
    let _back = decode_varint(&mut c).map_err(|_| bad("cut short"))?;
    match flags & KIND {
        FULL => {
            let _device = take_bytes(&mut c)?;
            let shape = u32::try_from(varint(&mut c)?).map_err(|_| bad("a shape number"))?;
            let secs = varint(&mut c)?;
            let nanos = varint(&mut c)?;
            let rest = p::Reading::decode(c).map_err(|e| bad(e.to_string()))?;
            Ok(Rebuilt {
                shape,
                at: join_time(secs, nanos)?,
                rest,
            })
        }
        DIFF => {
            let before = before.ok_or_else(|| bad("a diff with nothing before it"))?;
            apply_diff(flags, c, before)
        }
        k => Err(bad(format!("unknown kind {k}"))),
    }
}

/// Whose record `b` is (a full record says; a diff is its previous record's device) and
/// when its reading was taken, given the previous record's time: what pruning counts,
/// without rebuilding readings.
pub fn peek(b: &[u8], before: Option<Timestamp>) -> Result<(Option<String>, Timestamp), BadRecord> {
    let mut c = b;
    let _len = varint(&mut c)?;
    let flags = take_byte(&mut c)?;
    let _back = varint(&mut c)?;
    match flags & KIND {
        FULL => {
            let device =
                String::from_utf8(take_bytes(&mut c)?.to_vec()).map_err(|_| bad("a device id"))?;
            let _shape = varint(&mut c)?;
            let secs = varint(&mut c)?;
            Ok((Some(device), join_time(secs, varint(&mut c)?)?))
        }
        DIFF => {
            let before = before.ok_or_else(|| bad("a diff with nothing before it"))?;
            let (before_secs, _) = split_time(before);
            let secs = before_secs.wrapping_add(unzigzag(varint(&mut c)?) as u64);
            Ok((None, join_time(secs, varint(&mut c)?)?))
        }
        k => Err(bad(format!("unknown kind {k}"))),
    }
}

fn apply_diff(flags: u8, mut c: &[u8], before: &Rebuilt) -> Result<Rebuilt, BadRecord> {
    let c = &mut c;
    let (before_secs, _) = split_time(before.at);
    let secs = before_secs.wrapping_add(unzigzag(varint(c)?) as u64);
    let at = join_time(secs, varint(c)?)?;
    let mut rest = before.rest.clone();
    rest.polled_at = match flags & TEXT_TIME {
        0 => at.rfc3339(),
        _ => String::from_utf8(take_bytes(c)?.to_vec()).map_err(|_| bad("a time's text"))?,
    };
    if flags & SUPPLIES != 0 {
        let map = take(c, bitmap_len(rest.supplies.len()))?.to_vec();
        check_map(&map, rest.supplies.len())?;
        for s in set(&map, rest.supplies.iter_mut()) {
            s.level = s.level.wrapping_add(unzigzag(varint(c)?));
            s.percent = match varint(c)? {
                0 => None,
                n => Some(u32::try_from(n - 1).map_err(|_| bad("a percent"))?),
            };
            s.state = i32::try_from(unzigzag(varint(c)?)).map_err(|_| bad("a state"))?;
        }
    }
    if flags & METERS != 0 {
        let map = take(c, bitmap_len(rest.meters.len()))?.to_vec();
        check_map(&map, rest.meters.len())?;
        for m in set(&map, rest.meters.iter_mut()) {
            m.value = m.value.wrapping_add(unzigzag(varint(c)?) as u64);
        }
    }
    if flags & STATUS != 0 {
        rest.status = Some(p::Status::decode(take_bytes(c)?).map_err(|e| bad(e.to_string()))?);
    }
    if flags & COST != 0 {
        rest.bytes_sent = varint(c)?;
        rest.bytes_received = varint(c)?;
        rest.round_trips = u32::try_from(varint(c)?).map_err(|_| bad("round trips"))?;
    }
    if !c.is_empty() {
        return Err(bad("bytes after its end"));
    }
    Ok(Rebuilt {
        shape: before.shape,
        at,
        rest,
    })
}

/// The bitmap of the items of `now` that differ from `before` (same length), or `None`
/// when none does.
fn changed<T>(before: &[T], now: &[T], same: impl Fn(&T, &T) -> bool) -> Option<Vec<u8>> {
    let mut map = vec![0u8; bitmap_len(now.len())];
    let mut any = false;
    for (i, (x, y)) in before.iter().zip(now).enumerate() {
        if !same(x, y) {
            map[i / 8] |= 1 << (i % 8);
            any = true;
        }
    }
    any.then_some(map)
}

/// The items whose bit is set in `map`.
fn set<'m, I: Iterator + 'm>(map: &'m [u8], items: I) -> impl Iterator<Item = I::Item> + 'm {
    items
        .enumerate()
        .filter(move |(i, _)| map.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0))
        .map(|(_, x)| x)
}

/// A bitmap of `n` items that names no item beyond them.
fn check_map(map: &[u8], n: usize) -> Result<(), BadRecord> {
    let extra = (n..map.len() * 8).any(|i| map[i / 8] & (1 << (i % 8)) != 0);
    match extra {
        true => Err(bad("a bitmap names more items than there are")),
        false => Ok(()),
    }
}

fn bitmap_len(n: usize) -> usize {
    n.div_ceil(8)
}

fn frame(body: Vec<u8>, out: &mut Vec<u8>) {
    encode_varint(body.len() as u64, out);
    out.extend_from_slice(&body);
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    encode_varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn varint(c: &mut &[u8]) -> Result<u64, BadRecord> {
    decode_varint(c).map_err(|_| bad("cut short"))
}

fn take_byte(c: &mut &[u8]) -> Result<u8, BadRecord> {
    Ok(take(c, 1)?[0])
}

fn take<'a>(c: &mut &'a [u8], n: usize) -> Result<&'a [u8], BadRecord> {
    if c.len() < n {
        return Err(bad("cut short"));
    }
    let (head, tail) = c.split_at(n);
    *c = tail;
    Ok(head)
}

fn take_bytes<'a>(c: &mut &'a [u8]) -> Result<&'a [u8], BadRecord> {
    let n = usize::try_from(varint(c)?).map_err(|_| bad("a length"))?;
    take(c, n)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Whole seconds and nanoseconds since the epoch (every stored time is after 2000).
fn split_time(at: Timestamp) -> (u64, u64) {
    let secs = at.unix_seconds();
    let nanos = at
        .since(Timestamp::from_unix_seconds(secs))
        .whole_nanoseconds();
    (secs as u64, nanos as u64)
}

fn join_time(secs: u64, nanos: u64) -> Result<Timestamp, BadRecord> {
    let secs = i64::try_from(secs).map_err(|_| bad("a time"))?;
    if nanos >= 1_000_000_000 || secs > i64::MAX / 1_000_000_000 - 1 {
        return Err(bad("a time"));
    }
    Ok(Timestamp::from_unix_seconds(secs).plus(time::Duration::nanoseconds(nanos as i64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rebuilt(at: &str, pages: u64, level: i64) -> Rebuilt {
        let at_t = Timestamp::parse(at).expect("a time");
        Rebuilt {
            shape: 2,
            at: at_t,
            rest: p::Reading {
                supplies: vec![
                    p::Supply {
                        level,
                        percent: Some(40),
                        state: 1,
                        ..Default::default()
                    },
                    p::Supply {
                        level: 70,
                        percent: None,
                        ..Default::default()
                    },
                ],
                meters: vec![p::Meter {
                    name: "total".into(),
                    value: pages,
                    source: "prtMarkerLifeCount".into(),
                }],
                status: Some(p::Status {
                    printer_status: Some("idle".into()),
                    ..Default::default()
                }),
                polled_at: at_t.rfc3339(),
                bytes_sent: 120,
                bytes_received: 480,
                round_trips: 2,
                identity: None,
            },
        }
    }

    fn one(b: &[u8], before: Option<&Rebuilt>) -> Rebuilt {
        let h = header(b).expect("a header");
        assert_eq!(h.len, b.len());
        rebuild(b, before).expect("a record")
    }

    #[test]
    fn a_reading_that_repeats_the_one_before_is_a_few_bytes() {
        let a = rebuilt("2026-11-30T10:00:00.123456789Z", 1000, 50);
        let mut f = Vec::new();
        full(0, "sn:A", a.view(), &mut f);
        assert_eq!(one(&f, None), a);
        assert_eq!(peek(&f, None).unwrap(), (Some("sn:A".into()), a.at));
        // Five minutes on, the same but for the time: the time alone.
        let b = rebuilt("2026-11-30T10:05:00.223456789Z", 1000, 50);
        let mut d = Vec::new();
        assert!(diff(f.len() as u64, a.view(), b.view(), &mut d));
        assert!(d.len() <= 9, "{} bytes: {d:?}", d.len());
        assert!(!header(&d).unwrap().full);
        assert_eq!(header(&d).unwrap().back, f.len() as u64);
        assert_eq!(one(&d, Some(&a)), b);
        assert_eq!(peek(&d, Some(a.at)).unwrap(), (None, b.at));
        // A busy printer's counter: two bytes more (its bitmap and its change).
        let c = rebuilt("2026-11-30T10:10:00.223456789Z", 1042, 50);
        let mut d2 = Vec::new();
        assert!(diff(d.len() as u64, b.view(), c.view(), &mut d2));
        assert!(d2.len() <= d.len() + 2, "{d:?} then {d2:?}");
        assert_eq!(one(&d2, Some(&b)), c);
    }

    #[test]
    fn every_part_that_changes_comes_back() {
        let a = rebuilt("2026-11-30T10:00:00Z", 1000, 50);
        let mut b = rebuilt("2026-11-30T09:55:00Z", 900, 48);
        b.rest.supplies[1].percent = Some(3);
        b.rest.supplies[1].state = 4;
        b.rest.polled_at = "2026-11-30T10:55:00+01:00".into();
        b.rest.status = Some(p::Status {
            printer_status: Some("printing".into()),
            errors: vec!["lowToner".into()],
            ..Default::default()
        });
        b.rest.round_trips = 3;
        let mut d = Vec::new();
        assert!(diff(7, a.view(), b.view(), &mut d));
        assert_eq!(one(&d, Some(&a)), b, "backwards in time and counters too");
    }

    #[test]
    fn another_shape_or_other_meters_need_a_full_record() {
        let a = rebuilt("2026-11-30T10:00:00Z", 1000, 50);
        let mut b = rebuilt("2026-11-30T10:05:00Z", 1000, 50);
        b.shape = 3;
        assert!(!diff(5, a.view(), b.view(), &mut Vec::new()));
        let mut c = rebuilt("2026-11-30T10:05:00Z", 1000, 50);
        c.rest.meters[0].name = "color".into();
        assert!(!diff(5, a.view(), c.view(), &mut Vec::new()));
        c.rest.meters.clear();
        assert!(!diff(5, a.view(), c.view(), &mut Vec::new()));
        assert!(
            !diff(0, a.view(), a.view(), &mut Vec::new()),
            "a diff needs a record before"
        );
    }

    #[test]
    fn a_diff_without_its_predecessor_is_an_error() {
        let a = rebuilt("2026-11-30T10:00:00Z", 1000, 50);
        let mut d = Vec::new();
        assert!(diff(3, a.view(), a.view(), &mut d));
        assert!(rebuild(&d, None).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_are_a_record_or_an_error(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let before = rebuilt("2026-11-30T10:00:00Z", 1000, 50);
            let _ = header(&bytes);
            let _ = peek(&bytes, Some(before.at));
            let _ = rebuild(&bytes, Some(&before));
            let _ = rebuild(&bytes, None);
        }

        #[test]
        fn a_damaged_diff_is_a_record_or_an_error(
            at in 0usize..32,
            mask in 1u8..,
            pages in any::<u64>(),
            level in any::<i64>(),
            secs in 0u32..100_000,
        ) {
            let a = rebuilt("2026-11-30T10:00:00Z", 1000, 50);
            let mut b = rebuilt("2026-11-30T10:00:00Z", pages, level);
            b.at = a.at.plus(time::Duration::seconds(i64::from(secs)));
            b.rest.polled_at = b.at.rfc3339();
            let mut d = Vec::new();
            prop_assert!(diff(9, a.view(), b.view(), &mut d));
            prop_assert_eq!(&rebuild(&d, Some(&a)).unwrap(), &b);
            let i = at % d.len();
            d[i] ^= mask;
            let _ = header(&d);
            let _ = peek(&d, Some(a.at));
            let _ = rebuild(&d, Some(&a));
        }
    }
}
