//! A reading as history keeps it: a marker byte, then the wire's own protobuf encoding.
//!
//! Ingest needs a reading twice over: as the model, which the alert rules and the level
//! history read, and as bytes, which history stores. A [`WireReading`] carries both, so
//! the bytes are encoded once, from the message as it came off the wire, instead of the
//! store cloning the model back into a message to encode it (a tenth of the store's time
//! when it was done that way).

use agent_core::model::Reading;
use printwatch_proto::convert::ConvertError;
use printwatch_proto::v1 as p;
use prost::Message;

/// The first byte of a reading stored as protobuf. Readings are the bulk of what ingest
/// writes, and protobuf is a third the size of their JSON; JSON never starts with 0, so
/// readings stored as JSON by earlier versions still read.
const PROTOBUF: u8 = 0;

/// A reading and its stored encoding, made together.
#[derive(Debug, Clone)]
pub struct WireReading {
    reading: Reading,
    stored: sled::IVec,
}

impl WireReading {
    /// A reading as a collector sent it: encoded as it is, then converted. An error when
    /// the message breaks the model's rules (see [`ConvertError`]).
    pub fn from_wire(wire: p::Reading) -> Result<WireReading, ConvertError> {
        let stored = stored_bytes(&wire);
        Ok(WireReading {
            reading: Reading::try_from(wire)?,
            stored,
        })
    }

    /// A reading made here (tests, benches, tools): it goes through the message once to
    /// be encoded.
    pub fn new(reading: Reading) -> WireReading {
        WireReading {
            stored: stored_bytes(&p::Reading::from(reading.clone())),
            reading,
        }
    }

    /// The reading.
    pub fn reading(&self) -> &Reading {
        &self.reading
    }

    /// What history stores for it; cheap to clone (shared bytes).
    pub fn stored(&self) -> sled::IVec {
        self.stored.clone()
    }
}

impl std::ops::Deref for WireReading {
    type Target = Reading;
    fn deref(&self) -> &Reading {
        &self.reading
    }
}

fn stored_bytes(wire: &p::Reading) -> sled::IVec {
    let mut b = Vec::with_capacity(1 + wire.encoded_len());
    b.push(PROTOBUF);
    // Encoding into a Vec only fails for want of capacity, which a Vec grows.
    let _ = wire.encode(&mut b);
    sled::IVec::from(b)
}

/// Why stored bytes are not a reading.
#[derive(Debug, thiserror::Error)]
pub enum UnreadableReading {
    /// Neither protobuf nor JSON.
    #[error("not a reading's encoding: {0}")]
    Encoding(String),
    /// A message that breaks the model's rules.
    #[error("{0}")]
    Model(#[from] ConvertError),
}

/// The reading in stored bytes: protobuf after [`PROTOBUF`], else JSON (earlier versions).
pub fn read_stored(b: &[u8]) -> Result<Reading, UnreadableReading> {
    match b.split_first() {
        Some((&PROTOBUF, wire)) => Ok(Reading::try_from(
            p::Reading::decode(wire).map_err(|e| UnreadableReading::Encoding(e.to_string()))?,
        )?),
        _ => serde_json::from_slice(b).map_err(|e| UnreadableReading::Encoding(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> Reading {
        let device = agent_core::sim::synthetic::printer(3, 17);
        agent_core::decode::reading(&device.view, "127.0.0.9:161")
    }

    #[test]
    fn the_wire_and_the_model_store_the_same_bytes() {
        let r = reading();
        let made_here = WireReading::new(r.clone());
        let from_wire = WireReading::from_wire(p::Reading::from(r.clone())).expect("valid");
        assert_eq!(made_here.stored(), from_wire.stored());
        assert_eq!(from_wire.reading(), &r);
        assert_eq!(read_stored(&from_wire.stored()).expect("reads back"), r);
    }

    #[test]
    fn json_from_earlier_versions_reads_and_garbage_is_an_error() {
        let r = reading();
        let json = serde_json::to_vec(&r).expect("json");
        assert_eq!(read_stored(&json).expect("reads"), r);
        assert!(read_stored(&[PROTOBUF, 0xff, 0xff]).is_err());
        assert!(read_stored(b"").is_err());
        assert!(read_stored(b"{\"no\":1}").is_err());
    }

    #[test]
    fn a_message_that_breaks_the_model_is_refused() {
        let mut wire = p::Reading::from(reading());
        wire.status = None;
        assert!(WireReading::from_wire(wire).is_err());
    }
}
