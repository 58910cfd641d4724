//! The cost of reading a printer: decoding a reply, assembling a reading from a recording,
//! and a whole steady-state poll over loopback against the simulator.
//!
//! Run: `cargo bench -p printwatch-benches`. The printer is the shared corpus's 15-supply
//! HP M880 when the corpus is there (`../shared/corpus` or `PRINTWATCH_CORPUS`), else the
//! project's own HP fixture; the bench says which.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot run stops
#![allow(missing_docs)] // criterion_group! makes a public function

use agent_core::decode::{self, Varbinds};
use agent_core::message::{Message, Pdu, PduKind, Version};
use agent_core::poll::{first_poll, steady_poll, Due};
use agent_core::session::Session;
use agent_core::sim::{serve, SimDevice};
use agent_core::transport::{Target, Transport};
use criterion::{criterion_group, criterion_main, Criterion};

/// The recording to measure: its name and text.
fn printer() -> (String, String) {
    let (name, path) = match printwatch_tests::corpus_dir() {
        Some(dir) => (
            "jetdirect_m880".to_string(),
            dir.join("printers/jetdirect_m880.snmprec"),
        ),
        None => printwatch_tests::fixture("hp_hex"),
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!("poll benches: the printer is {name} ({})", path.display());
    (name, text)
}

fn benches(c: &mut Criterion) {
    let (name, text) = printer();
    let device = SimDevice::from_snmprec(&name, &text).0;
    let vars: Varbinds = device.view.clone();
    let reply = Message {
        version: Version::V2c,
        community: b"public".to_vec(),
        pdu: Pdu {
            kind: PduKind::Response,
            request_id: 1,
            error_status: 0,
            error_index: 0,
            varbinds: vars
                .iter()
                .take(40)
                .map(|(o, v)| (o.clone(), v.clone()))
                .collect(),
        },
    }
    .encode();
    c.bench_function("decode a 40-variable reply", |b| {
        b.iter(|| Message::decode(&reply))
    });
    let supplies = decode::reading(&vars, "x").supplies.len();
    c.bench_function(
        &format!("assemble a reading ({name}, {supplies} supplies)"),
        |b| b.iter(|| decode::reading(&vars, "x")),
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (sim, transport, plan) = rt.block_on(async {
        let sim = serve(vec![(
            "127.63.0.1:0".parse().expect("addr"),
            device.clone(),
        )])
        .await
        .expect("bind");
        let t = Transport::bind_default().await.expect("sockets");
        let (_, plan) = first_poll(&mut Session::new(t.clone(), Target::new(sim.addrs()[0])))
            .await
            .expect("poll");
        (sim, t, plan)
    });
    let target = Target::new(sim.addrs()[0]);
    c.bench_function(&format!("steady-state poll over loopback ({name})"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut p = plan.clone();
                steady_poll(
                    &mut Session::new(transport.clone(), target.clone()),
                    &mut p,
                    Due { meters: false },
                )
                .await
                .expect("poll")
            })
        })
    });
}

criterion_group!(poll, benches);
criterion_main!(poll);
