//! A whole collector: the scheduler, the sweeper, the command dispatcher and the uplink
//! around one outbox, started from a configuration. The `run` command and `printwatch demo`
//! both run collectors this way.

use std::time::Duration;

use agent_core::message::Version;
use agent_core::transport::{Transport, TransportConfig};
use anyhow::{Context, Result};
use kameo::prelude::*;

use crate::outbox::Outbox;
use crate::{config, scheduler, uplink};

/// The message of the line a collector logs once it runs: its stop handlers are in place
/// and its printers are being polled. Scripts and tests wait for it.
pub const RUNNING: &str = "printwatch-collector running";

pub(crate) fn read_file(path: &std::path::Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading the {what} {}", path.display()))
}

/// Runs a collector with `c` until `shutdown` completes. Returns whether every static
/// target resolved. The caller decides what stops it (signals, a demo's end).
pub async fn run(
    c: config::CollectorConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<bool> {
    let version: Version = c
        .snmp
        .version
        .parse()
        .map_err(|e: String| anyhow::anyhow!("configuration: snmp.version: {e}"))?;
    let credentials = std::sync::Arc::new(
        crate::credentials::list(&c.snmp.credentials, &c.snmp.community, &c.snmp.version)
            .context("configuration")?,
    );
    let link = uplink::UplinkConfig {
        endpoint: c.coordinator.endpoint.clone(),
        server_name: c.coordinator.server_name.clone(),
        ca_pem: read_file(&c.tls.ca, "fleet CA certificate")?,
        cert_pem: read_file(&c.tls.cert, "collector certificate")?,
        key_pem: read_file(&c.tls.key, "collector key")?,
        site: c.site.clone(),
        max_backoff: Duration::from_secs(30),
    };
    let outbox = Outbox::open(&c.data_dir).with_context(|| {
        format!(
            "opening the outbox in {} (is another collector using it?)",
            c.data_dir.display()
        )
    })?;
    let mut targets = Vec::new();
    let mut all_resolved = true;
    for t in &c.targets {
        match crate::target::resolve_target(t).await {
            Ok((addr, ipp)) => targets.push((addr, t.clone(), ipp)),
            Err(e) => {
                all_resolved = false;
                tracing::error!(target = %t, "the target is skipped: {e:#}");
            }
        }
    }
    let roots = match c.ipp.ca_file.trim() {
        "" => None,
        file => Some(
            agent_core::ipp::Trust::ca_file(std::path::Path::new(file))
                .map_err(|e| anyhow::anyhow!("configuration: ipp.ca_file: {e}"))?,
        ),
    };
    let ipp = scheduler::IppSettings::open(
        &c.data_dir,
        roots,
        Duration::from_millis(c.ipp.timeout_ms),
        c.ipp.fallback.then_some(c.ipp.port),
    )
    .context("the pinned IPP certificates and the printers that answer IPP")?;
    let telemetry = printwatch_telemetry::Telemetry::start("printwatch-collector", &c.metrics)
        .context("configuration: metrics")?;
    let metrics = crate::metrics::CollectorMetrics::new(&telemetry.meter(), outbox.clone());
    let telemetry = std::sync::Arc::new(telemetry);
    let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    telemetry
        .expose(&c.metrics, async {
            let _ = metrics_stopped.await;
        })
        .await
        .context("configuration: metrics.prometheus_listen")?;
    let transport = Transport::bind(TransportConfig {
        max_pps: Some(c.snmp.rate.max(1)),
        ..TransportConfig::default()
    })
    .await
    .context("opening UDP sockets")?;
    tracing::info!(
        site = %c.site,
        targets = targets.len(),
        waiting = outbox.depth(),
        coordinator = %c.coordinator.endpoint,
        "{RUNNING}"
    );
    let scheduler = scheduler::Scheduler::spawn(scheduler::SchedulerArgs {
        transport,
        snmp: scheduler::SnmpSettings {
            credentials: credentials.clone(),
            community_version: version,
            timeout: Duration::from_millis(c.snmp.timeout_ms),
            retries: c.snmp.retries,
        },
        ipp,
        intervals: scheduler::Intervals {
            status: Duration::from_secs(c.intervals.status_seconds.max(1)),
            meters: Duration::from_secs(c.intervals.meters_seconds.max(1)),
            identity: Duration::from_secs(c.intervals.identity_seconds.max(1)),
        },
        pollers: c.pollers,
        outbox: outbox.clone(),
        targets,
        metrics,
    });
    let sweeper = crate::sweeper::Sweeper::spawn(crate::sweeper::SweeperArgs {
        outbox: outbox.clone(),
        scheduler: scheduler.clone(),
        community_version: version,
        timeout: Duration::from_millis(c.snmp.timeout_ms),
        default_credentials: credentials,
        ipp_port: c.ipp.port,
    });
    if !c.discovery.ranges.is_empty() {
        // Scheduled sweeps go through the sweeper like the coordinator's, numbered 0.
        let (sweeper, d) = (sweeper.clone(), c.discovery.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(d.every_seconds.max(60)));
            loop {
                every.tick().await;
                let sweep = printwatch_proto::v1::Sweep {
                    ranges: d.ranges.clone(),
                    exclude: d.exclude.clone(),
                    communities: Vec::new(),
                    rate: d.rate,
                    port: u32::from(d.port),
                    // Written in the configuration by its administrator: knowingly.
                    large: true,
                    ipp: d.ipp,
                    ipp_budget_seconds: u32::try_from(d.ipp_budget_seconds).unwrap_or(u32::MAX),
                };
                if sweeper
                    .tell(crate::sweeper::StartSweep {
                        command_id: 0,
                        sweep,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
    let (commands, command_rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(crate::commands::dispatch(
        command_rx,
        scheduler.clone(),
        sweeper.clone(),
    ));
    let uplink = uplink::Uplink::spawn(uplink::UplinkArgs {
        config: link,
        outbox: outbox.clone(),
        commands,
    });
    shutdown.await;
    uplink.kill();
    uplink.wait_for_shutdown().await;
    // Each part that holds the outbox is stopped and waited for: the outbox is closed
    // when this returns, and another collector may open it.
    let _ = sweeper.stop_gracefully().await;
    sweeper.wait_for_shutdown().await;
    let _ = scheduler.stop_gracefully().await;
    scheduler.wait_for_shutdown().await;
    let _ = metrics_stop.send(());
    tokio::task::spawn_blocking(move || drop(telemetry))
        .await
        .ok();
    // An actor's state is dropped just after it says it stopped.
    if !outbox.until_last_handle(Duration::from_secs(5)).await {
        tracing::warn!("a part of the collector still holds the outbox");
    }
    tracing::info!(waiting = outbox.depth(), "printwatch-collector stopped");
    Ok(all_resolved)
}
