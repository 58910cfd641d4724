//! Any SNMPv3 datagram, on both sides of USM: the collector's decoder and opener (digest,
//! decryption) and the simulated agent's answer give a value or an error, never a panic.
//! Random bytes rarely frame a v3 message, so the input is also laid over a real sealed
//! message as a mask: the fuzzer then walks every field of a message that almost verifies.
#![no_main]

use std::sync::OnceLock;

use agent_core::message::{Pdu, PduKind, Value};
use agent_core::oid::Oid;
use agent_core::sim::{SimDevice, SimUsm};
use agent_core::usm::{AuthProtocol, LocalKeys, PrivProtocol, UsmUser};
use agent_core::v3::{self, V3Message};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    keys: LocalKeys,
    sealed: Vec<u8>,
    agent: SimUsm,
    device: SimDevice,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let engine = b"\x80\x00\x1f\x88\x04fuzz".to_vec();
        let user = UsmUser::new(
            "fuzz",
            Some((AuthProtocol::Sha1, b"auth-pass-1234")),
            Some((PrivProtocol::Aes128, b"priv-pass-5678")),
            "",
        )
        .expect("a valid user");
        let keys = user.localize(&engine);
        let pdu = Pdu {
            kind: PduKind::Get,
            request_id: 7,
            error_status: 0,
            error_index: 0,
            varbinds: vec![(Oid::lit("1.3.6.1.2.1.1.2.0"), Value::Null)],
        };
        let at = v3::Seal { engine_id: &engine, boots: 1, time: 0, msg_id: 7, salt: 1 };
        let sealed = v3::seal(&user, Some(&keys), at, pdu);
        let device = SimDevice::new(
            "fuzz",
            [(Oid::lit("1.3.6.1.2.1.1.2.0"), Value::ObjectId(Oid::lit("1.3.6.1.4.1.11")))],
        );
        Fixture { keys, sealed, agent: SimUsm::new(engine, user), device }
    })
}

fn exercise(bytes: &[u8]) {
    let f = fixture();
    if let Ok((m, at)) = V3Message::decode(bytes) {
        let _ = v3::open(bytes, &m, at, Some(&f.keys));
        let (again, _) = m.encode();
        V3Message::decode(&again).expect("what we encode, we decode");
    }
    let _ = f.agent.respond(bytes, |pdu| f.device.respond_v3(pdu));
}

fuzz_target!(|data: &[u8]| {
    exercise(data);
    let mut masked = fixture().sealed.clone();
    for (b, m) in masked.iter_mut().zip(data) {
        *b ^= m;
    }
    if data.len() < masked.len() {
        masked.truncate(masked.len() - data.len() % 8);
    }
    exercise(&masked);
});
