//! A reading split in two, as history keeps it. What stays put from poll to poll (the
//! printer's identity, and what each supply is: its description, kind, color, unit,
//! capacity) is its [shape], kept once per device and named by a number; history keeps,
//! per reading, that number and the rest (levels, states, status, meters), and says the
//! rest as a diff of the reading before it (see [`crate::store::history_record`]).
//!
//! Ingest needs a reading twice over: as the model, which the alert rules and the level
//! history read, and as the wire's message, split, which history stores. A
//! [`WireReading`] carries both, split once, from the message as it came off the wire;
//! and it carries the reading's time, checked ([`crate::timestamp::reading_time`]), so no
//! reading with a bogus time is ever stored.
//!
//! [`WireReading::stored`] and [`read_stored`] are the layout sled kept history in before
//! the segments (a marker byte, the shape's number, the rest's protobuf): what an older
//! database is read from when it is opened the first time (see
//! [`crate::store::migrate`]).
//!
//! [shape]: WireReading::shape

use agent_core::model::Reading;
use printwatch_proto::convert::ConvertError;
use printwatch_proto::v1 as p;
use prost::Message;

use crate::timestamp::{reading_time, BadTime, Timestamp};

/// The first byte of a stored reading: its shape's number (four bytes, big-endian) and
/// the protobuf of the rest follow. A byte of its own leaves room for another layout.
const SHAPED: u8 = 1;

/// A reading, its time and its stored encoding, made together.
#[derive(Debug, Clone)]
pub struct WireReading {
    reading: Reading,
    at: Timestamp,
    shape: p::Reading,
    rest: p::Reading,
}

/// Why a collector's reading is refused.
#[derive(Debug, thiserror::Error)]
pub enum BadReading {
    /// A message that breaks the model's rules.
    #[error("{0}")]
    Model(#[from] ConvertError),
    /// Its `polled_at` cannot be a reading's time.
    #[error("polled_at: {0}")]
    Time(#[from] BadTime),
}

impl BadReading {
    /// A word for metrics: why it was refused.
    pub fn reason(&self) -> &'static str {
        match self {
            BadReading::Model(_) => "malformed",
            BadReading::Time(t) => t.reason(),
        }
    }
}

impl WireReading {
    /// A reading as a collector sent it, checked against the coordinator's clock `now`:
    /// split and encoded as it is, then converted. An error when the message breaks the
    /// model's rules (see [`ConvertError`]) or its time is not plausible (see
    /// [`reading_time`]).
    pub fn from_wire(wire: p::Reading, now: Timestamp) -> Result<WireReading, BadReading> {
        let at = reading_time(&wire.polled_at, now)?;
        let (shape, rest) = split(&wire);
        Ok(WireReading {
            reading: Reading::try_from(wire)?,
            at,
            shape,
            rest,
        })
    }

    /// A reading made here (tests, benches, tools), checked as a collector's is: it goes
    /// through the message once to be encoded.
    pub fn new(reading: Reading) -> Result<WireReading, BadReading> {
        let at = reading_time(&reading.polled_at, Timestamp::now())?;
        let (shape, rest) = split(&p::Reading::from(reading.clone()));
        Ok(WireReading {
            reading,
            at,
            shape,
            rest,
        })
    }

    /// The reading.
    pub fn reading(&self) -> &Reading {
        &self.reading
    }

    /// When it was taken (its `polled_at`, checked).
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// What stays put from poll to poll: the identity, and each supply without its level,
    /// percent and state. Two readings of one printer with equal shapes share one.
    pub fn shape(&self) -> &p::Reading {
        &self.shape
    }

    /// The reading without its shape: what history's records keep.
    pub fn rest(&self) -> &p::Reading {
        &self.rest
    }

    /// The shape as the store keeps it.
    pub fn shape_bytes(&self) -> Vec<u8> {
        self.shape.encode_to_vec()
    }

    /// The reading in the layout sled kept history in (see the module's doc), when its
    /// device's shape numbered `shape` is [`WireReading::shape`].
    pub fn stored(&self, shape: u32) -> Vec<u8> {
        let mut b = Vec::with_capacity(5 + self.rest.encoded_len());
        b.push(SHAPED);
        b.extend_from_slice(&shape.to_be_bytes());
        self.rest.encode(&mut b).unwrap_or_default();
        b
    }
}

/// A message's shape, and the rest: the message without its shape's fields.
fn split(wire: &p::Reading) -> (p::Reading, p::Reading) {
    let shape = p::Reading {
        identity: wire.identity.clone(),
        supplies: wire
            .supplies
            .iter()
            .map(|s| with_levels(s.clone(), &p::Supply::default()))
            .collect(),
        ..p::Reading::default()
    };
    let rest = p::Reading {
        identity: None,
        supplies: wire
            .supplies
            .iter()
            .map(|s| with_levels(p::Supply::default(), s))
            .collect(),
        meters: wire.meters.clone(),
        status: wire.status.clone(),
        polled_at: wire.polled_at.clone(),
        bytes_sent: wire.bytes_sent,
        bytes_received: wire.bytes_received,
        round_trips: wire.round_trips,
    };
    (shape, rest)
}

/// The supply `what` is (its shape's part) with the levels of `levels`: the one place
/// that says which of a supply's fields change from poll to poll.
fn with_levels(what: p::Supply, levels: &p::Supply) -> p::Supply {
    p::Supply {
        level: levels.level,
        percent: levels.percent,
        state: levels.state,
        ..what
    }
}

impl std::ops::Deref for WireReading {
    type Target = Reading;
    fn deref(&self) -> &Reading {
        &self.reading
    }
}

/// Why stored bytes are not a reading.
#[derive(Debug, thiserror::Error)]
pub enum UnreadableReading {
    /// Not a stored reading's encoding.
    #[error("not a reading's encoding: {0}")]
    Encoding(String),
    /// A shaped reading whose shape is not the one it was stored with.
    #[error("the reading has {rest} supplies, its shape {shape}")]
    Misshaped {
        /// Supplies in the reading.
        rest: usize,
        /// Supplies in the shape.
        shape: usize,
    },
    /// A message that breaks the model's rules.
    #[error("{0}")]
    Model(#[from] ConvertError),
}

/// The reading, from the rest of it and `shape` (the bytes of the shape it names).
pub fn reshaped(rest: &[u8], shape: &[u8]) -> Result<Reading, UnreadableReading> {
    reshaped_message(p::Reading::decode(rest).map_err(encoding)?, shape)
}

/// The reading, from the rest of it, decoded, and `shape` (the bytes of the shape it
/// names).
pub fn reshaped_message(mut r: p::Reading, shape: &[u8]) -> Result<Reading, UnreadableReading> {
    let shape = p::Reading::decode(shape).map_err(encoding)?;
    if shape.supplies.len() != r.supplies.len() {
        return Err(UnreadableReading::Misshaped {
            rest: r.supplies.len(),
            shape: shape.supplies.len(),
        });
    }
    r.identity = shape.identity;
    for (s, what) in r.supplies.iter_mut().zip(shape.supplies) {
        *s = with_levels(what, s);
    }
    Ok(Reading::try_from(r)?)
}

fn encoding(e: prost::DecodeError) -> UnreadableReading {
    UnreadableReading::Encoding(e.to_string())
}

/// What stored bytes hold: the number of the shape they name, and the rest of the
/// reading, which [`reshaped`] makes whole again with that shape.
pub fn read_stored(b: &[u8]) -> Result<(u32, &[u8]), UnreadableReading> {
    match b.split_first() {
        Some((&SHAPED, rest)) => match rest.split_first_chunk::<4>() {
            Some((n, rest)) => Ok((u32::from_be_bytes(*n), rest)),
            None => Err(UnreadableReading::Encoding(
                "a shaped reading cut short".into(),
            )),
        },
        Some((first, _)) => Err(UnreadableReading::Encoding(format!(
            "unknown layout {first}"
        ))),
        None => Err(UnreadableReading::Encoding("empty".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> Reading {
        let device = agent_core::sim::synthetic::printer(3, 17);
        let mut r = agent_core::decode::reading(&device.view, "127.0.0.9:161");
        r.polled_at = "2026-11-21T10:00:00.25Z".into();
        r
    }

    fn new(r: Reading) -> WireReading {
        WireReading::new(r).expect("a valid reading")
    }

    #[test]
    fn the_wire_and_the_model_store_the_same_bytes_and_they_read_back() {
        // A steady reading: page meters are read once a day, supply levels every poll.
        let mut r = reading();
        r.meters.clear();
        let made_here = new(r.clone());
        let from_wire =
            WireReading::from_wire(p::Reading::from(r.clone()), Timestamp::now()).expect("valid");
        assert_eq!(made_here.stored(3), from_wire.stored(3));
        assert_eq!(made_here.shape(), from_wire.shape());
        assert_eq!(from_wire.reading(), &r);
        assert_eq!(Some(from_wire.at()), Timestamp::parse(&r.polled_at));
        let stored = from_wire.stored(3);
        let (3, rest) = read_stored(&stored).expect("reads") else {
            panic!("not shape number 3");
        };
        assert_eq!(
            reshaped(rest, &from_wire.shape_bytes()).expect("whole again"),
            r
        );
        // The point of the split: what history keeps per reading is a fraction of it.
        let whole = p::Reading::from(r.clone()).encode_to_vec().len();
        assert!(
            stored.len() * 3 < whole,
            "{} of {whole} bytes",
            stored.len()
        );
    }

    #[test]
    fn levels_keep_the_shape_and_a_new_firmware_makes_another() {
        let r = reading();
        let mut drained = r.clone();
        for s in &mut drained.supplies {
            s.level /= 2;
            s.percent = s.percent.map(|p| p / 2);
        }
        drained.polled_at = "2026-11-22T10:00:00Z".into();
        let a = new(r.clone());
        let b = new(drained.clone());
        assert_eq!(a.shape(), b.shape());
        assert_ne!(a.stored(0), b.stored(0));
        let stored = b.stored(0);
        let (_, rest) = read_stored(&stored).expect("reads");
        assert_eq!(reshaped(rest, &a.shape_bytes()).expect("reads"), drained);
        let mut updated = r;
        updated.identity.firmware = Some("2.0".into());
        assert_ne!(new(updated).shape(), a.shape());
    }

    #[test]
    fn garbage_is_an_error() {
        let r = reading();
        assert!(read_stored(&[SHAPED, 0, 0]).is_err());
        assert!(read_stored(b"").is_err());
        assert!(read_stored(b"{\"no\":1}").is_err(), "another layout");
        let shape = new(r.clone()).shape_bytes();
        assert!(reshaped(&[0xff, 0xff], &shape).is_err());
        assert!(reshaped(&[], &[0xff]).is_err());
    }

    #[test]
    fn a_rest_read_with_another_shape_is_an_error_not_a_mixed_reading() {
        let r = reading();
        let mut fewer = r.clone();
        fewer.supplies.pop();
        let stored = new(r).stored(0);
        let (_, rest) = read_stored(&stored).expect("reads");
        let e = reshaped(rest, &new(fewer).shape_bytes()).expect_err("misshaped");
        assert!(matches!(e, UnreadableReading::Misshaped { .. }), "{e}");
    }

    #[test]
    fn a_message_that_breaks_the_model_or_has_a_bogus_time_is_refused() {
        let mut wire = p::Reading::from(reading());
        wire.status = None;
        let e = WireReading::from_wire(wire, Timestamp::now()).expect_err("no status");
        assert_eq!(e.reason(), "malformed");
        for (at, reason) in [
            ("", "unparseable_time"),
            ("zzzz", "unparseable_time"),
            ("1999-01-01T00:00:00Z", "time_too_early"),
            ("2099-01-01T00:00:00Z", "time_ahead"),
        ] {
            let mut wire = p::Reading::from(reading());
            wire.polled_at = at.into();
            let e = WireReading::from_wire(wire, Timestamp::now()).expect_err(at);
            assert_eq!(e.reason(), reason, "{at:?}");
        }
    }
}
