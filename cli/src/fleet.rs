//! The fleet commands: `devices`, `device`, `supplies`, `alerts`, `history`, `export`,
//! `watch`, `add`, `remove` and `discover`, each one request to the coordinator's fleet
//! service with an operator's certificate, printed as a table or JSON Lines.

use agent_core::output::emit;
use anyhow::Result;
use printwatch_proto::listing::Joined;

use crate::client::{self as c, ConnectArgs};
use crate::Command;

fn json_line<T: serde::Serialize>(v: &T) -> Result<()> {
    emit(&serde_json::to_string(v)?);
    Ok(())
}

/// Runs one fleet command against the coordinator.
pub async fn run(cmd: Command, connect: &ConnectArgs) -> Result<()> {
    use printwatch_proto::v1 as p;
    let mut client = c::connect(connect).await?;
    match cmd {
        Command::Devices { site, json } => {
            let devices = client
                .list_devices(p::ListDevicesRequest {
                    site: site.unwrap_or_default(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner()
                .joined()
                .await
                .map_err(c::ClientError::from)?;
            if json {
                for d in &devices {
                    json_line(&device_json(d)?)?;
                }
            } else {
                emit(c::devices_table(&devices).trim_end());
            }
        }
        Command::Device { id, json } => {
            let d = client
                .get_device(p::GetDeviceRequest { id })
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            if json {
                json_line(&device_json(&d)?)?;
            } else {
                emit(&format!(
                    "{}  site {}  addresses {}",
                    d.id,
                    d.site,
                    d.addresses.join(", ")
                ));
                for o in &d.conflicts {
                    let model = o.identity.as_ref().and_then(|i| i.model.clone());
                    emit(&format!(
                        "  conflict: site {} also reads this serial at {} ({}), last {}; \
                         its readings are kept apart (printwatch move {} {} if it moved)",
                        o.site,
                        o.address,
                        model.as_deref().unwrap_or("unknown model"),
                        o.last_seen,
                        d.id,
                        o.site
                    ));
                }
                match d.latest {
                    Some(r) => emit(
                        agent_core::report::render(&agent_core::model::Reading::try_from(r)?)
                            .trim_end(),
                    ),
                    None => emit("  no reading yet"),
                }
            }
        }
        Command::Supplies { low, site, json } => {
            let rows = client
                .list_supplies(p::ListSuppliesRequest {
                    low_only: low,
                    site: site.unwrap_or_default(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner()
                .joined()
                .await
                .map_err(c::ClientError::from)?;
            if json {
                for r in &rows {
                    let supply = r
                        .supply
                        .clone()
                        .map(agent_core::model::Supply::try_from)
                        .transpose()?;
                    json_line(
                        &serde_json::json!({"device_id": r.device_id, "site": r.site, "model": r.identity.as_ref().and_then(|i| i.model.clone()), "supply": supply, "reorder_percent": r.reorder_percent, "days_left": r.days_left, "pages_left": r.pages_left, "forecast": r.forecast}),
                    )?;
                }
            } else {
                emit(c::supplies_table(&rows).trim_end());
            }
        }
        Command::History { id, since, json } => {
            let readings = client
                .history(p::HistoryRequest {
                    device_id: id,
                    since: since.unwrap_or_default(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner()
                .joined()
                .await
                .map_err(c::ClientError::from)?;
            if json {
                for r in readings {
                    json_line(&agent_core::model::Reading::try_from(r)?)?;
                }
            } else {
                emit(c::history_table(&readings).trim_end());
            }
        }
        Command::Add {
            site,
            host,
            community,
        } => {
            let a = client
                .add_printer(p::AddPrinterRequest {
                    site,
                    host: host.clone(),
                    community,
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            emit(&format!(
                "command {} sent to site {}: poll {host}",
                a.command_id, a.site
            ));
        }
        Command::Remove { id } => {
            let a = client
                .remove_printer(p::RemovePrinterRequest {
                    device_id: id.clone(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            emit(&format!(
                "command {} sent to site {}: stop polling {id}",
                a.command_id, a.site
            ));
        }
        Command::Move { id, site } => {
            let d = client
                .move_device(p::MoveDeviceRequest {
                    id,
                    site: site.clone(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            emit(&format!("{} belongs to site {} now", d.id, d.site));
        }
        Command::Discover {
            site,
            ranges,
            exclude,
            community,
            rate,
            port,
            large,
            cancel,
            ipp,
            ipp_budget,
        } => {
            let ipp_budget_seconds = ipp_budget
                .map(|d| u32::try_from(d.as_secs().max(1)).unwrap_or(u32::MAX))
                .unwrap_or(0);
            let a = client
                .discover(p::DiscoverRequest {
                    site,
                    ranges: ranges.clone(),
                    exclude,
                    communities: community,
                    rate,
                    port: u32::from(port),
                    large,
                    cancel,
                    ipp,
                    ipp_budget_seconds,
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            if cancel {
                emit(&format!(
                    "command {} sent to site {}: stop its sweeps",
                    a.command_id, a.site
                ));
                return Ok(());
            }
            emit(&format!(
                "command {} sent to site {}: sweep {}; printers found appear in `printwatch devices` as they are read",
                a.command_id,
                a.site,
                ranges.join(" ")
            ));
        }
        Command::Alerts { all, json } => {
            let alerts = client
                .list_alerts(p::ListAlertsRequest {
                    include_closed: all,
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner()
                .joined()
                .await
                .map_err(c::ClientError::from)?;
            if !json {
                emit(&format!(
                    "{:<6} {:<20} {:<10} {:<30} {:<18} {:<22} DETAIL",
                    "ID", "OPENED", "SITE", "PRINTER", "KIND", "CLOSED"
                ));
            }
            for a in alerts {
                if json {
                    json_line(
                        &serde_json::json!({"id": a.id, "device_id": a.device_id, "site": a.site, "printer": a.printer, "kind": a.kind, "detail": a.detail, "supply": a.supply, "percent": a.percent, "part_number": a.part_number, "days_left": a.days_left, "opened_at": a.opened_at, "closed_at": a.closed_at}),
                    )?;
                } else {
                    emit(&format!(
                        "{:<6} {:<20} {:<10} {:<30} {:<18} {:<22} {}",
                        a.id,
                        a.opened_at,
                        a.site,
                        a.printer.chars().take(30).collect::<String>(),
                        a.kind,
                        a.closed_at.as_deref().unwrap_or("open"),
                        a.detail
                    ));
                }
            }
        }
        Command::Export {
            csv: _,
            since,
            json,
        } => {
            let rows = client
                .export(p::ExportRequest {
                    since: since.unwrap_or_default(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner()
                .joined()
                .await
                .map_err(c::ClientError::from)?;
            if json {
                for r in &rows {
                    json_line(&serde_json::json!({
                        "device_id": r.device_id, "site": r.site, "model": r.model, "serial": r.serial,
                        "record": r.record, "name": r.name, "from": r.from, "to": r.to,
                        "start_value": r.start_value, "end_value": r.end_value, "used": r.used, "detail": r.detail,
                    }))?;
                }
            } else {
                emit(crate::export::CSV_HEADER);
                for r in &rows {
                    emit(&crate::export::csv_line(r));
                }
            }
        }
        Command::Watch { json } => {
            let mut stream = client
                .watch(p::WatchRequest::default())
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            loop {
                let event = tokio::select! {
                    e = stream.message() => e.map_err(c::ClientError::from)?,
                    _ = tokio::signal::ctrl_c() => break,
                };
                let Some(e) = event else { break };
                let (kind, line, value) = match e.body {
                    Some(p::fleet_event::Body::DeviceUpdated(d)) => {
                        let low = d
                            .latest
                            .as_ref()
                            .and_then(|r| r.supplies.iter().filter_map(|s| s.percent).min());
                        let text = format!(
                            "{} {} lowest supply {}",
                            d.id,
                            d.site,
                            low.map_or("-".into(), |p| format!("{p}%"))
                        );
                        ("device_updated", text, device_json(&d)?)
                    }
                    Some(p::fleet_event::Body::CollectorConnected(site)) => (
                        "collector_connected",
                        format!("collector of {site} connected"),
                        site.into(),
                    ),
                    Some(p::fleet_event::Body::CollectorDisconnected(site)) => (
                        "collector_disconnected",
                        format!("collector of {site} left"),
                        site.into(),
                    ),
                    Some(p::fleet_event::Body::Alert(a)) => (
                        "alert",
                        format!(
                            "alert {} {}: {} {} {}",
                            a.id,
                            if a.closed_at.is_some() {
                                "closed"
                            } else {
                                "opened"
                            },
                            a.printer,
                            a.kind,
                            a.detail
                        ),
                        serde_json::json!({"id": a.id, "kind": a.kind, "device_id": a.device_id, "site": a.site, "detail": a.detail, "opened_at": a.opened_at, "closed_at": a.closed_at}),
                    ),
                    Some(p::fleet_event::Body::Replaced(r)) => (
                        "replaced",
                        format!(
                            "{} {}: {} replaced ({}% to {}%)",
                            r.device_id, r.site, r.description, r.from_percent, r.to_percent
                        ),
                        serde_json::json!({"device_id": r.device_id, "site": r.site, "supply": r.supply, "description": r.description, "from": r.from_percent, "to": r.to_percent}),
                    ),
                    Some(p::fleet_event::Body::SweepEnded(w)) => {
                        let d = w.done.unwrap_or_default();
                        (
                            "sweep_ended",
                            format!(
                                "sweep {} at {} ended ({}): {} addresses probed, {} printers, {} other devices",
                                d.command_id, w.site, d.reason, d.probed, d.printers, d.others
                            ),
                            serde_json::json!({"site": w.site, "command_id": d.command_id, "reason": d.reason, "probed": d.probed, "printers": d.printers, "others": d.others, "seconds": d.seconds}),
                        )
                    }
                    None => continue,
                };
                if json {
                    json_line(&serde_json::json!({"at": e.at, kind: value}))?;
                } else {
                    emit(&format!("{}  {line}", e.at));
                }
            }
        }
        Command::Demo(_) | Command::Certs(_) | Command::Users(_) => {
            unreachable!("handled before connecting")
        }
    }
    Ok(())
}

/// A device as JSON, with its latest reading in the reading contract's form.
fn device_json(d: &printwatch_proto::v1::Device) -> Result<serde_json::Value> {
    let latest = d
        .latest
        .clone()
        .map(agent_core::model::Reading::try_from)
        .transpose()?;
    let identity = d.identity.clone().map(agent_core::model::Identity::from);
    Ok(serde_json::json!({
        "id": d.id, "site": d.site, "addresses": d.addresses, "identity": identity,
        "first_seen": d.first_seen, "last_seen": d.last_seen, "latest": latest,
        "conflicts": d.conflicts.iter().map(|o| serde_json::json!({
            "site": o.site, "address": o.address,
            "identity": o.identity.clone().map(agent_core::model::Identity::from),
            "first_seen": o.first_seen, "last_seen": o.last_seen, "readings": o.readings,
        })).collect::<Vec<_>>(),
    }))
}
