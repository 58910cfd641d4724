//! Conversions between agent-core's reading model and the wire messages, both ways and
//! lossless, so a reading that crosses the network is the reading that was taken.

use agent_core::model as m;

use crate::v1 as p;

/// Why a message from the wire is not a valid reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A required part is missing.
    #[error("the message has no {0}")]
    Missing(&'static str),
    /// An enumeration value this version does not know.
    #[error("unknown {what} value {value}")]
    Unknown {
        /// Which enumeration.
        what: &'static str,
        /// The number received.
        value: i32,
    },
    /// A percent over 100.
    #[error("percent {0} is over 100")]
    Percent(u32),
}

impl From<m::Identity> for p::Identity {
    fn from(i: m::Identity) -> Self {
        p::Identity {
            address: i.address,
            sys_object_id: i.sys_object_id,
            sys_descr: i.sys_descr,
            vendor: i.vendor,
            model: i.model,
            serial: i.serial,
            firmware: i.firmware,
            mac: i.mac,
            uuid: i.uuid,
        }
    }
}

impl From<p::Identity> for m::Identity {
    fn from(i: p::Identity) -> Self {
        m::Identity {
            address: i.address,
            sys_object_id: i.sys_object_id,
            sys_descr: i.sys_descr,
            vendor: i.vendor,
            model: i.model,
            serial: i.serial,
            firmware: i.firmware,
            mac: i.mac,
            uuid: i.uuid,
        }
    }
}

fn class_to(c: m::SupplyClass) -> p::SupplyClass {
    match c {
        m::SupplyClass::Consumed => p::SupplyClass::Consumed,
        m::SupplyClass::Receptacle => p::SupplyClass::Receptacle,
    }
}

fn state_to(s: m::SupplyState) -> p::SupplyState {
    match s {
        m::SupplyState::Ok => p::SupplyState::Ok,
        m::SupplyState::Low => p::SupplyState::Low,
        m::SupplyState::Empty => p::SupplyState::Empty,
        m::SupplyState::SomeRemaining => p::SupplyState::SomeRemaining,
        m::SupplyState::Unknown => p::SupplyState::Unknown,
        m::SupplyState::Unrestricted => p::SupplyState::Unrestricted,
    }
}

fn source_to(s: Option<m::PercentSource>) -> p::PercentSource {
    match s {
        None => p::PercentSource::Unspecified,
        Some(m::PercentSource::LevelOfMax) => p::PercentSource::LevelOfMax,
        Some(m::PercentSource::VendorPercentUnit) => p::PercentSource::VendorPercentUnit,
        Some(m::PercentSource::VendorLevelCode) => p::PercentSource::VendorLevelCode,
        Some(m::PercentSource::VendorPrivateLevel) => p::PercentSource::VendorPrivateLevel,
        Some(m::PercentSource::IppSupply) => p::PercentSource::IppSupply,
        Some(m::PercentSource::IppMarker) => p::PercentSource::IppMarker,
    }
}

impl From<m::Supply> for p::Supply {
    fn from(s: m::Supply) -> Self {
        p::Supply {
            device_index: s.device_index,
            index: s.index,
            description: s.description,
            part_number: s.part_number,
            kind: s.kind,
            class: class_to(s.class) as i32,
            color: s.color,
            unit: s.unit,
            level: s.level,
            max_capacity: s.max_capacity,
            percent: s.percent.map(u32::from),
            percent_source: source_to(s.percent_source) as i32,
            state: state_to(s.state) as i32,
        }
    }
}

impl TryFrom<p::Supply> for m::Supply {
    type Error = ConvertError;
    fn try_from(s: p::Supply) -> Result<Self, ConvertError> {
        let class = match p::SupplyClass::try_from(s.class) {
            Ok(p::SupplyClass::Consumed) => m::SupplyClass::Consumed,
            Ok(p::SupplyClass::Receptacle) => m::SupplyClass::Receptacle,
            _ => {
                return Err(ConvertError::Unknown {
                    what: "supply class",
                    value: s.class,
                })
            }
        };
        let state = match p::SupplyState::try_from(s.state) {
            Ok(p::SupplyState::Ok) => m::SupplyState::Ok,
            Ok(p::SupplyState::Low) => m::SupplyState::Low,
            Ok(p::SupplyState::Empty) => m::SupplyState::Empty,
            Ok(p::SupplyState::SomeRemaining) => m::SupplyState::SomeRemaining,
            Ok(p::SupplyState::Unknown) => m::SupplyState::Unknown,
            Ok(p::SupplyState::Unrestricted) => m::SupplyState::Unrestricted,
            _ => {
                return Err(ConvertError::Unknown {
                    what: "supply state",
                    value: s.state,
                })
            }
        };
        let percent_source = match p::PercentSource::try_from(s.percent_source) {
            Ok(p::PercentSource::Unspecified) => None,
            Ok(p::PercentSource::LevelOfMax) => Some(m::PercentSource::LevelOfMax),
            Ok(p::PercentSource::VendorPercentUnit) => Some(m::PercentSource::VendorPercentUnit),
            Ok(p::PercentSource::VendorLevelCode) => Some(m::PercentSource::VendorLevelCode),
            Ok(p::PercentSource::VendorPrivateLevel) => Some(m::PercentSource::VendorPrivateLevel),
            Ok(p::PercentSource::IppSupply) => Some(m::PercentSource::IppSupply),
            Ok(p::PercentSource::IppMarker) => Some(m::PercentSource::IppMarker),
            Err(_) => {
                return Err(ConvertError::Unknown {
                    what: "percent source",
                    value: s.percent_source,
                })
            }
        };
        let percent = match s.percent {
            None => None,
            Some(v) if v <= 100 => Some(v as u8),
            Some(v) => return Err(ConvertError::Percent(v)),
        };
        Ok(m::Supply {
            device_index: s.device_index,
            index: s.index,
            description: s.description,
            part_number: s.part_number,
            kind: s.kind,
            class,
            color: s.color,
            unit: s.unit,
            level: s.level,
            max_capacity: s.max_capacity,
            percent,
            percent_source,
            state,
        })
    }
}

impl From<m::Reading> for p::Reading {
    fn from(r: m::Reading) -> Self {
        p::Reading {
            identity: Some(r.identity.into()),
            supplies: r.supplies.into_iter().map(Into::into).collect(),
            meters: r
                .meters
                .into_iter()
                .map(|x| p::Meter {
                    name: x.name,
                    value: x.value,
                    source: x.source,
                })
                .collect(),
            status: Some(p::Status {
                device_status: r.status.device_status,
                printer_status: r.status.printer_status,
                errors: r.status.errors,
                alerts: r
                    .status
                    .alerts
                    .into_iter()
                    .map(|a| p::Alert {
                        index: a.index,
                        severity: a.severity,
                        group: a.group,
                        code: a.code,
                        description: a.description,
                    })
                    .collect(),
            }),
            polled_at: r.polled_at,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            round_trips: r.round_trips,
        }
    }
}

impl TryFrom<p::Reading> for m::Reading {
    type Error = ConvertError;
    fn try_from(r: p::Reading) -> Result<Self, ConvertError> {
        let status = r.status.ok_or(ConvertError::Missing("status"))?;
        Ok(m::Reading {
            identity: r.identity.ok_or(ConvertError::Missing("identity"))?.into(),
            supplies: r
                .supplies
                .into_iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
            meters: r
                .meters
                .into_iter()
                .map(|x| m::Meter {
                    name: x.name,
                    value: x.value,
                    source: x.source,
                })
                .collect(),
            status: m::Status {
                device_status: status.device_status,
                printer_status: status.printer_status,
                errors: status.errors,
                alerts: status
                    .alerts
                    .into_iter()
                    .map(|a| m::Alert {
                        index: a.index,
                        severity: a.severity,
                        group: a.group,
                        code: a.code,
                        description: a.description,
                    })
                    .collect(),
            },
            polled_at: r.polled_at,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            round_trips: r.round_trips,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("\\PC{0,12}")
    }

    fn supply() -> impl Strategy<Value = m::Supply> {
        (
            (
                any::<u32>(),
                any::<u32>(),
                "\\PC{0,20}",
                opt_text(),
                "[a-zA-Z]{1,12}",
                any::<bool>(),
                opt_text(),
                opt_text(),
            ),
            (
                any::<i64>(),
                any::<i64>(),
                proptest::option::of(0u8..=100),
                0usize..7,
                0usize..6,
            ),
        )
            .prop_map(
                |(
                    (device_index, index, description, part_number, kind, receptacle, color, unit),
                    (level, max_capacity, percent, source, state),
                )| m::Supply {
                    device_index,
                    index,
                    description,
                    part_number,
                    kind,
                    class: if receptacle {
                        m::SupplyClass::Receptacle
                    } else {
                        m::SupplyClass::Consumed
                    },
                    color,
                    unit,
                    level,
                    max_capacity,
                    percent,
                    percent_source: [
                        None,
                        Some(m::PercentSource::LevelOfMax),
                        Some(m::PercentSource::VendorPercentUnit),
                        Some(m::PercentSource::VendorLevelCode),
                        Some(m::PercentSource::VendorPrivateLevel),
                        Some(m::PercentSource::IppSupply),
                        Some(m::PercentSource::IppMarker),
                    ][source],
                    state: [
                        m::SupplyState::Ok,
                        m::SupplyState::Low,
                        m::SupplyState::Empty,
                        m::SupplyState::SomeRemaining,
                        m::SupplyState::Unknown,
                        m::SupplyState::Unrestricted,
                    ][state],
                },
            )
    }

    fn reading() -> impl Strategy<Value = m::Reading> {
        (
            (
                "\\PC{0,20}",
                opt_text(),
                opt_text(),
                opt_text(),
                opt_text(),
                opt_text(),
                opt_text(),
                opt_text(),
                opt_text(),
            ),
            proptest::collection::vec(supply(), 0..6),
            proptest::collection::vec(("[a-z.]{1,10}", any::<u64>(), "[0-9.]{1,20}"), 0..4),
            (
                opt_text(),
                opt_text(),
                proptest::collection::vec("[a-zA-Z]{1,10}", 0..3),
            ),
            ("\\PC{0,25}", any::<u64>(), any::<u64>(), any::<u32>()),
        )
            .prop_map(
                |(
                    (address, sys_object_id, sys_descr, vendor, model, serial, firmware, mac, uuid),
                    supplies,
                    meters,
                    (device_status, printer_status, errors),
                    (polled_at, bytes_sent, bytes_received, round_trips),
                )| m::Reading {
                    identity: m::Identity {
                        address,
                        sys_object_id,
                        sys_descr,
                        vendor,
                        model,
                        serial,
                        firmware,
                        mac,
                        uuid,
                    },
                    supplies,
                    meters: meters
                        .into_iter()
                        .map(|(name, value, source)| m::Meter {
                            name,
                            value,
                            source,
                        })
                        .collect(),
                    status: m::Status {
                        device_status,
                        printer_status,
                        errors,
                        alerts: vec![m::Alert {
                            index: 3,
                            severity: "critical".into(),
                            group: "cover".into(),
                            code: "coverOpen".into(),
                            description: "Door".into(),
                        }],
                    },
                    polled_at,
                    bytes_sent,
                    bytes_received,
                    round_trips,
                },
            )
    }

    proptest! {
        #[test]
        fn a_reading_survives_the_wire(r in reading()) {
            let bytes = p::Reading::from(r.clone()).encode_to_vec();
            let back = m::Reading::try_from(p::Reading::decode(bytes.as_slice()).unwrap()).unwrap();
            prop_assert_eq!(back, r);
        }

        /// Whatever bytes arrive: a reading or an error, never a panic.
        #[test]
        fn decoding_any_bytes_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(msg) = p::Reading::decode(bytes.as_slice()) {
                let _ = m::Reading::try_from(msg);
            }
        }
    }

    #[test]
    fn bad_enumerations_and_percents_are_errors() {
        let mut s = p::Supply::from(m::Supply {
            device_index: 1,
            index: 1,
            description: "x".into(),
            part_number: None,
            kind: "toner".into(),
            class: m::SupplyClass::Consumed,
            color: None,
            unit: None,
            level: 1,
            max_capacity: 1,
            percent: Some(100),
            percent_source: None,
            state: m::SupplyState::Ok,
        });
        s.state = 99;
        assert!(matches!(
            m::Supply::try_from(s.clone()),
            Err(ConvertError::Unknown { .. })
        ));
        s.state = p::SupplyState::Ok as i32;
        s.percent = Some(101);
        assert_eq!(m::Supply::try_from(s), Err(ConvertError::Percent(101)));
        assert_eq!(
            m::Reading::try_from(p::Reading::default()),
            Err(ConvertError::Missing("status"))
        );
    }
}
