//! Which device a reading is: one printer is one device whatever address, collector or
//! protocol reports it. A reading is matched by its serial, then its UUID (IPP's, for a
//! printer read over IPP that gives no serial), then its MAC, then its site, vendor, model
//! and address; a weaker key never joins a reading to a device whose serial, UUID or MAC
//! contradicts it (another printer put where a known one stood is a device of its own).
//! A printer read over SNMP and over IPP is one device by its serial.

use agent_core::model::Identity;

/// The index keys under which a reading's device may be found, strongest first. The first
/// is the id a new device gets.
pub fn identity_keys(site: &str, id: &Identity) -> Vec<String> {
    let mut keys = Vec::with_capacity(3);
    if let Some(s) = id.serial.as_deref().filter(|s| !s.is_empty()) {
        keys.push(format!("sn:{s}"));
    }
    if let Some(u) = id.uuid.as_deref().filter(|u| !u.is_empty()) {
        keys.push(format!("uuid:{u}"));
    }
    if let Some(m) = id.mac.as_deref().filter(|m| !m.is_empty()) {
        keys.push(format!("mac:{m}"));
    }
    keys.push(format!(
        "at:{site}/{}/{}/{}",
        id.vendor.as_deref().unwrap_or(""),
        id.model.as_deref().unwrap_or(""),
        id.address
    ));
    keys
}

/// True when two identities cannot be the same printer: both give a serial, a UUID or a
/// MAC and they differ.
pub fn contradicts(a: &Identity, b: &Identity) -> bool {
    let differ = |x: &Option<String>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if !x.is_empty() && !y.is_empty() && x != y);
    differ(&a.serial, &b.serial) || differ(&a.uuid, &b.uuid) || differ(&a.mac, &b.mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(serial: Option<&str>, mac: Option<&str>) -> Identity {
        Identity {
            address: "10.0.0.5".into(),
            vendor: Some("HP".into()),
            model: Some("M404".into()),
            serial: serial.map(Into::into),
            mac: mac.map(Into::into),
            ..Identity::default()
        }
    }

    #[test]
    fn keys_strongest_first_and_what_contradicts() {
        assert_eq!(
            identity_keys("hq", &id(Some("S1"), Some("aa"))),
            ["sn:S1", "mac:aa", "at:hq/HP/M404/10.0.0.5"]
        );
        assert_eq!(
            identity_keys("hq", &id(Some(""), None)),
            ["at:hq/HP/M404/10.0.0.5"]
        );
        assert!(contradicts(&id(Some("S1"), None), &id(Some("S2"), None)));
        assert!(contradicts(
            &id(None, Some("aa")),
            &id(Some("S2"), Some("bb"))
        ));
        assert!(!contradicts(&id(Some("S1"), None), &id(None, Some("aa"))));
        assert!(!contradicts(&id(Some("S1"), None), &id(Some(""), None)));

        // Read over IPP without a serial: named by its UUID, after a serial.
        let ipp = |serial: Option<&str>, uuid: &str| Identity {
            uuid: Some(uuid.into()),
            ..id(serial, None)
        };
        assert_eq!(
            identity_keys("hq", &ipp(None, "4581595c"))[0],
            "uuid:4581595c"
        );
        assert_eq!(
            identity_keys("hq", &ipp(Some("S1"), "4581595c"))[..2],
            ["sn:S1", "uuid:4581595c"]
        );
        assert!(contradicts(&ipp(None, "a1"), &ipp(None, "b2")));
        assert!(!contradicts(&ipp(None, "a1"), &id(Some("S1"), None)));
    }
}
