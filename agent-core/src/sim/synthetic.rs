//! Synthetic printers from a seed: varied vendors, supplies that drain as pages are printed
//! over time, and the error bits and alert rows that follow.
//!
//! The same seed and index always give the same printer, so a test can name what it expects.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::agent::{alert_row, SimDevice};
use crate::message::Value;
use crate::mib;
use crate::oid::{ConstOid, Oid};

/// A vendor shape for synthetic printers: sysObjectID, how sysDescr reads, models.
struct Shape {
    brand: &'static str,
    sys_object_id: ConstOid,
    descr: &'static str,
    models: &'static [&'static str],
    color: bool,
}

const SHAPES: &[Shape] = &[
    Shape {
        brand: "HP",
        sys_object_id: ConstOid::parse("1.3.6.1.4.1.11.2.3.9.1"),
        descr: "HP ETHERNET MULTI-ENVIRONMENT,PID:HP {model}",
        models: &["LaserJet Pro M404dn", "Color LaserJet Pro M454dw"],
        color: true,
    },
    Shape {
        brand: "Xerox",
        sys_object_id: ConstOid::parse("1.3.6.1.4.1.253.8.62.1.20.2.1.1"),
        descr: "Xerox {model}; SS 73.40.21",
        models: &["VersaLink C405", "AltaLink B8045"],
        color: true,
    },
    Shape {
        brand: "Brother",
        sys_object_id: ConstOid::parse("1.3.6.1.4.1.2435.2.3.9.1"),
        descr: "Brother NC-8300h, Firmware Ver.1.14",
        models: &["HL-L6400DW", "MFC-L8900CDW"],
        color: false,
    },
    Shape {
        brand: "RICOH",
        sys_object_id: ConstOid::parse("1.3.6.1.4.1.367.1.1"),
        descr: "RICOH {model} 1.02 / RICOH Network Printer C model",
        models: &["IM C3000", "SP 5300DN"],
        color: true,
    },
    Shape {
        brand: "KONICA MINOLTA",
        sys_object_id: ConstOid::parse("1.3.6.1.4.1.18334.1.1.1.2.1.181.2.4"),
        descr: "KONICA MINOLTA {model}",
        models: &["bizhub C300i", "bizhub 4050i"],
        color: true,
    },
    Shape {
        brand: "SHARP",
        sys_object_id: ConstOid::parse("1.3.6.1.4.1.2385.3.1.112.1.2"),
        descr: "SHARP {model}",
        models: &["MX-3071", "MX-M3550"],
        color: true,
    },
    Shape {
        brand: "Canon",
        sys_object_id: ConstOid::parse("1.3.6.1.4.1.1602.4.3"),
        descr: "Canon {model} /P",
        models: &["iR-ADV C5535", "LBP325x"],
        color: false,
    },
    Shape {
        brand: "KYOCERA",
        sys_object_id: ConstOid::parse("1.3.6.1.4.1.1347.41"),
        descr: "KYOCERA Document Solutions Printing System",
        models: &["ECOSYS P3155dn", "TASKalfa 3253ci"],
        color: false,
    },
    Shape {
        brand: "Lexmark",
        sys_object_id: ConstOid::parse("1.3.6.1.4.1.641.2.1.2.1"),
        descr: "Lexmark {model} version CXTZJ.230.025",
        models: &["MS621", "CX725"],
        color: true,
    },
    Shape {
        brand: "EPSON",
        sys_object_id: ConstOid::parse("1.3.6.1.4.1.1248.1.1.2.1.3.5"),
        descr: "EPSON Built-in",
        models: &["WF-C5790", "WF-C879R"],
        color: true,
    },
];

/// What changes on a synthetic printer: pages printed at a rate, supplies drained per page.
#[derive(Debug, Clone)]
pub struct Drain {
    started: Instant,
    /// Pages per second of simulated time.
    pub pages_per_second: f64,
    start_count: u64,
    /// (level OID, level at start, level units per page, max capacity, is toner).
    supplies: Vec<(Oid, f64, f64, i64, bool)>,
    device_index: u32,
}

impl Drain {
    /// Updates the device's changing values to `now`.
    pub fn apply(&self, view: &mut std::collections::BTreeMap<Oid, Value>, now: Instant) {
        let pages = now.duration_since(self.started).as_secs_f64() * self.pages_per_second;
        view.insert(
            mib::prt_marker_life_count().child(&[self.device_index, 1]),
            Value::Counter32((self.start_count + pages as u64) as u32),
        );
        let mut errors = Vec::new();
        let mut empty = false;
        for (oid, start, per_page, max, toner) in &self.supplies {
            let level = (start - pages * per_page).max(0.0).round() as i64;
            view.insert(oid.clone(), Value::Integer(level));
            if *toner {
                if level == 0 {
                    errors.push("noToner");
                    empty = true;
                } else if level * 100 <= max * 15 {
                    errors.push("lowToner");
                }
            }
        }
        errors.dedup();
        view.insert(
            mib::hr_printer_error_state().child(&[self.device_index]),
            Value::OctetString(mib::error_state_bytes(&errors)),
        );
        let row = [1u32, 90];
        if empty {
            view.extend(alert_row(row, 3, 11, 1005, "Toner empty"));
        } else {
            for col in [
                mib::alert_severity(),
                mib::alert_group(),
                mib::alert_code(),
                mib::alert_description(),
            ] {
                view.remove(&col.child(&row));
            }
        }
        view.insert(
            mib::hr_device_status().child(&[self.device_index]),
            Value::Integer(if empty { 3 } else { 2 }),
        );
    }
}

/// The synthetic printer number `index` of fleet `seed`. Its serial is `SIM{seed}-{index}`.
pub fn printer(seed: u64, index: u32) -> SimDevice {
    let mut rng = StdRng::seed_from_u64(
        seed.wrapping_mul(0x9e37_79b9)
            .wrapping_add(u64::from(index)),
    );
    let shape = &SHAPES[rng.random_range(0..SHAPES.len())];
    let model = shape.models[rng.random_range(0..shape.models.len())];
    let color = shape.color && rng.random_bool(0.6);
    let serial = format!("SIM{seed}-{index:05}");
    let s = |t: &str| Value::OctetString(t.as_bytes().to_vec());
    let mut v: Vec<(Oid, Value)> = vec![
        (mib::sys_descr(), s(&shape.descr.replace("{model}", model))),
        (
            mib::sys_object_id(),
            Value::ObjectId(shape.sys_object_id.to_oid()),
        ),
        (
            mib::sys_uptime(),
            Value::TimeTicks(rng.random_range(1_000..100_000_000)),
        ),
        (mib::sys_name(), s(&format!("prn-{index}"))),
        (mib::if_type().child(&[1]), Value::Integer(6)),
        (
            mib::if_phys_address().child(&[1]),
            Value::OctetString(vec![
                0x02,
                0x50,
                (seed & 0xff) as u8,
                (index >> 16) as u8,
                (index >> 8) as u8,
                index as u8,
            ]),
        ),
        (
            mib::hr_device_type().child(&[1]),
            Value::ObjectId(mib::hr_device_printer()),
        ),
        (
            mib::hr_device_descr().child(&[1]),
            s(&format!("{} {model}", shape.brand)),
        ),
        (mib::hr_printer_status().child(&[1]), Value::Integer(3)),
        (mib::prt_general_serial().child(&[1]), s(&serial)),
        (
            mib::prt_marker_power_on_count().child(&[1, 1]),
            Value::Counter32(rng.random_range(0..500)),
        ),
    ];
    let colors: &[&str] = if color {
        &["black", "cyan", "magenta", "yellow"]
    } else {
        &["black"]
    };
    let mut supplies = Vec::new();
    let mut idx = 0u32;
    let mut add = |v: &mut Vec<(Oid, Value)>,
                   rng: &mut StdRng,
                   descr: String,
                   kind: i64,
                   class: i64,
                   colorant: u32,
                   max: i64,
                   toner: bool| {
        idx += 1;
        let row = [1, idx];
        let level = (max as f64 * rng.random_range(0.05..1.0)).round();
        v.push((
            mib::supply_colorant_index().child(&row),
            Value::Integer(i64::from(colorant)),
        ));
        v.push((mib::supply_class().child(&row), Value::Integer(class)));
        v.push((mib::supply_type().child(&row), Value::Integer(kind)));
        v.push((mib::supply_description().child(&row), s(&descr)));
        v.push((
            mib::supply_unit().child(&row),
            Value::Integer(if max == 100 { 19 } else { 7 }),
        ));
        v.push((mib::supply_max_capacity().child(&row), Value::Integer(max)));
        let per_page = max as f64 / rng.random_range(2_000.0..20_000.0);
        supplies.push((mib::supply_level().child(&row), level, per_page, max, toner));
    };
    for (i, c) in colors.iter().enumerate() {
        let name = format!("{}{} Toner", c[..1].to_uppercase(), &c[1..]);
        add(&mut v, &mut rng, name, 3, 3, i as u32 + 1, 100, true);
        v.push((mib::colorant_value().child(&[1, i as u32 + 1]), s(c)));
    }
    add(&mut v, &mut rng, "Drum Unit".into(), 9, 3, 0, 30_000, false);
    if color {
        add(
            &mut v,
            &mut rng,
            "Waste Toner Box".into(),
            4,
            4,
            0,
            100,
            false,
        );
    }
    let drain = Drain {
        started: Instant::now(),
        pages_per_second: rng.random_range(0.05..2.0),
        start_count: rng.random_range(1_000..500_000),
        supplies,
        device_index: 1,
    };
    let mut dev = SimDevice::new(format!("{model} (synthetic)"), v);
    if rng.random_bool(0.1) {
        // Some printers have a paper jam standing.
        dev.view
            .extend(alert_row([1, 7], 3, 13, 8, "Paper jam in tray 2"));
    }
    drain.apply(&mut dev.view, Instant::now());
    dev.synthetic = Some(drain);
    dev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_printer_and_levels_drain() {
        let a = printer(7, 3);
        let b = printer(7, 3);
        assert_eq!(a.view.get(&mib::sys_descr()), b.view.get(&mib::sys_descr()));
        let mut d = printer(7, 3);
        let drain = d.synthetic.clone().unwrap();
        let level = |d: &SimDevice| {
            d.view
                .get(&mib::supply_level().child(&[1, 1]))
                .and_then(Value::as_i64)
                .unwrap()
        };
        let before = level(&d);
        drain.apply(
            &mut d.view,
            Instant::now() + std::time::Duration::from_secs(3_600 * 24 * 365),
        );
        assert!(level(&d) < before || before == 0);
        assert_eq!(level(&d), 0, "a year of printing empties the toner");
        let errors = crate::decode::status(&d.view, 1).errors;
        assert!(errors.contains(&"noToner".to_string()));
        assert!(crate::decode::status(&d.view, 1)
            .alerts
            .iter()
            .any(|a| a.code == "markerTonerEmpty"));
    }
}
