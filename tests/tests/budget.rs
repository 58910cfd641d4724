//! DESIGN.md's network budget, asserted from the transport's own counters: a steady-state
//! poll of a printer with 4 supplies takes at most 2 round trips and 1,500 bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use agent_core::message::Value;
use agent_core::mib;
use agent_core::poll::{first_poll, steady_poll, Due};
use agent_core::session::Session;
use agent_core::sim::SimDevice;
use agent_core::sim::{alert_row, serve};
use agent_core::transport::{Target, Transport};
use printwatch_tests::{fixture, loopback, sim_device};

/// A plain colour laser with four toners, from the project's own fixtures.
fn four_supplies() -> SimDevice {
    let (n, p) = fixture("lexmark_four");
    sim_device(&n, &p)
}

#[tokio::test]
async fn steady_state_poll_of_a_four_supply_printer_fits_the_budget() {
    fits_the_budget(four_supplies()).await;
}

#[tokio::test]
#[cfg_attr(
    not(corpus),
    ignore = "the printer corpus is not at ../shared/corpus (set PRINTWATCH_CORPUS)"
)]
async fn steady_state_poll_of_a_real_four_supply_printer_fits_the_budget() {
    let (n, p) = printwatch_tests::corpus("printers")
        .into_iter()
        .find(|(n, _)| n == "jetdirect_m252dw")
        .expect("the HP M252dw recording");
    fits_the_budget(sim_device(&n, &p)).await;
}

/// Three steady polls of `printer` each take at most 2 round trips and 1,500 bytes, and
/// read what the first read did.
async fn fits_the_budget(printer: SimDevice) {
    let sim = serve(vec![(loopback(), printer)]).await.unwrap();
    let t = Transport::bind_default().await.unwrap();
    let target = Target::new(sim.addrs()[0]);
    let (first, mut plan) = first_poll(&mut Session::new(t.clone(), target.clone()))
        .await
        .unwrap();
    assert_eq!(first.supplies.len(), 4);

    for _ in 0..3 {
        let mut s = Session::new(t.clone(), target.clone());
        let r = steady_poll(&mut s, &mut plan, Due { meters: false })
            .await
            .unwrap();
        let c = s.counters;
        assert!(c.requests <= 2, "{} round trips", c.requests);
        assert!(
            c.bytes_sent + c.bytes_received <= 1_500,
            "{} bytes on the wire",
            c.bytes_sent + c.bytes_received
        );
        assert_eq!(r.round_trips, c.requests);
        assert_eq!(
            r.supplies, first.supplies,
            "the steady poll keeps every supply and its level"
        );
        assert_eq!(r.status, first.status);
        assert_eq!(
            r.meters.iter().find(|m| m.name == "total"),
            first.meters.iter().find(|m| m.name == "total")
        );
        eprintln!(
            "steady-state poll: {} round trips, {} bytes sent, {} received",
            c.requests, c.bytes_sent, c.bytes_received
        );
    }
}

#[tokio::test]
async fn steady_state_poll_notices_new_alerts_and_changed_levels() {
    let before = four_supplies();
    let mut after = before.clone();
    // Cyan at 7 % of its capacity.
    let max = match before.view.get(&mib::supply_max_capacity().child(&[1, 2])) {
        Some(Value::Integer(m)) => *m,
        other => panic!("cyan's capacity: {other:?}"),
    };
    // a cover (group 6) open (code 3), critical (3)
    after
        .view
        .extend(alert_row([1, 4], 3, 6, 3, "Front door open"));
    after.view.insert(
        mib::supply_level().child(&[1, 2]),
        Value::Integer(max * 7 / 100),
    );
    let sim = serve(vec![(loopback(), before), (loopback(), after)])
        .await
        .unwrap();
    let t = Transport::bind_default().await.unwrap();
    let (_, mut plan) = first_poll(&mut Session::new(t.clone(), Target::new(sim.addrs()[0])))
        .await
        .unwrap();
    assert_eq!(plan.alert_rows, 0);
    // The same printer, a while later: a door opened and cyan ran low.
    let mut s = Session::new(t.clone(), Target::new(sim.addrs()[1]));
    let r = steady_poll(&mut s, &mut plan, Due { meters: false })
        .await
        .unwrap();
    assert_eq!(r.status.alerts.len(), 1);
    assert_eq!(r.status.alerts[0].code, "coverOpen");
    assert_eq!(r.status.alerts[0].description, "Front door open");
    let cyan = r.supplies.iter().find(|x| x.index == 2).unwrap();
    assert_eq!(
        (cyan.percent, cyan.state),
        (Some(7), agent_core::model::SupplyState::Low)
    );
    assert_eq!(plan.alert_rows, 1, "the plan now walks the alert table");
}

#[tokio::test]
async fn steady_state_poll_rereads_a_supply_table_that_changed_shape() {
    let before = four_supplies();
    let mut after = before.clone();
    let row = [1u32, 5];
    after
        .view
        .insert(mib::supply_type().child(&row), Value::Integer(4));
    after
        .view
        .insert(mib::supply_class().child(&row), Value::Integer(4));
    after.view.insert(
        mib::supply_description().child(&row),
        Value::OctetString(b"Waste Toner Box".to_vec()),
    );
    after
        .view
        .insert(mib::supply_max_capacity().child(&row), Value::Integer(100));
    after
        .view
        .insert(mib::supply_level().child(&row), Value::Integer(0));
    let sim = serve(vec![(loopback(), before), (loopback(), after)])
        .await
        .unwrap();
    let t = Transport::bind_default().await.unwrap();
    let (_, mut plan) = first_poll(&mut Session::new(t.clone(), Target::new(sim.addrs()[0])))
        .await
        .unwrap();
    let r = steady_poll(
        &mut Session::new(t.clone(), Target::new(sim.addrs()[1])),
        &mut plan,
        Due { meters: true },
    )
    .await
    .unwrap();
    let waste = r
        .supplies
        .iter()
        .find(|x| x.index == 5)
        .expect("the new supply is read");
    assert_eq!(waste.description, "Waste Toner Box");
    assert_eq!(waste.class, agent_core::model::SupplyClass::Receptacle);
    assert_eq!(
        waste.state,
        agent_core::model::SupplyState::Empty,
        "a full receptacle reads empty: replace it"
    );
    assert_eq!(plan.supply_rows.len(), 5);
}
