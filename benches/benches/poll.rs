//! The cost of reading a printer: decoding a reply, assembling a reading from a recording,
//! and a whole steady-state poll over loopback against the simulator.
//!
//! Run: `cargo bench -p printwatch-benches`. Set PRINTWATCH_CORPUS if ../shared/corpus is
//! not beside the checkout.

use std::path::PathBuf;

use agent_core::decode::{self, Varbinds};
use agent_core::message::{Message, Pdu, PduKind, Version};
use agent_core::poll::{first_poll, steady_poll, Due};
use agent_core::session::Session;
use agent_core::sim::{serve, SimDevice};
use agent_core::transport::{Target, Transport};
use criterion::{criterion_group, criterion_main, Criterion};

fn corpus_file(name: &str) -> String {
    let dir = std::env::var_os("PRINTWATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    let path = dir.join("printers").join(format!("{name}.snmprec"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set PRINTWATCH_CORPUS)", path.display()))
}

fn benches(c: &mut Criterion) {
    let device = SimDevice::from_snmprec("jetdirect_m880", &corpus_file("jetdirect_m880")).0;
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
    c.bench_function("assemble a reading (HP M880, 15 supplies)", |b| {
        b.iter(|| decode::reading(&vars, "x"))
    });

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
    c.bench_function("steady-state poll over loopback (HP M880)", |b| {
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
