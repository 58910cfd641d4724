//! A whole coordinator, started from its configuration: what `printwatch-coordinator` runs,
//! and what the fleet benchmark runs in a process of its own.

use anyhow::{Context, Result};

use crate::config::CoordinatorConfig;
use crate::ingest::Notifiers;
use crate::server::{serve_with, Alerting, ServerConfig};
use crate::store::Store;
use crate::watchdog::WatchdogConfig;
use crate::{dealer, mail, schedule};

fn read(path: &std::path::Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading the {what} {}", path.display()))
}

/// Runs a coordinator with `c` until `shutdown` completes: the store, history pruning,
/// metrics, the alerting side (mail, dealer, watchdog) and the gRPC server. Every setting is
/// checked before anything is served.
pub async fn run(
    c: CoordinatorConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let store = Store::open(&c.data_dir, c.cache_mb << 20).with_context(|| {
        format!(
            "opening the database in {} (is another coordinator using it?)",
            c.data_dir.display()
        )
    })?;
    let server = ServerConfig {
        listen: c.listen,
        ca_pem: read(&c.tls.ca, "fleet CA certificate")?,
        cert_pem: read(&c.tls.cert, "coordinator certificate")?,
        key_pem: read(&c.tls.key, "coordinator key")?,
        max_message_bytes: c.max_message_kb * 1024,
    };
    // History is kept `history_days`: pruned at start and every hour.
    let (pruner, keep) = (
        store.clone(),
        time::Duration::days(i64::from(c.history_days)),
    );
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3_600));
        loop {
            every.tick().await;
            let cutoff = time::OffsetDateTime::now_utc() - keep;
            let Ok(before) = cutoff.format(&time::format_description::well_known::Rfc3339) else {
                continue;
            };
            let s = pruner.clone();
            match tokio::task::spawn_blocking(move || s.prune_history(&before)).await {
                Ok(Ok(n)) if n > 0 => eprintln!(
                    "printwatch-coordinator: pruned {n} readings older than {} days",
                    keep.whole_days()
                ),
                Ok(Err(e)) => eprintln!("printwatch-coordinator: pruning history: {e}"),
                _ => {}
            }
        }
    });
    eprintln!(
        "printwatch-coordinator: listening on {} (data in {})",
        c.listen,
        c.data_dir.display()
    );
    // Alerts, mail and the dealer uplink: every setting checked before anything starts.
    c.meter_reads.validate()?;
    let digest_at = schedule::time_of_day("mail.digest_at", &c.mail.digest_at)?;
    let policy = c.policy();
    let mut notify = Notifiers::default();
    if c.mail.enabled {
        use kameo::actor::Spawn;
        mail::transport(&c.mail)?;
        notify.mailer = Some(mail::Mailer::spawn(mail::MailerArgs {
            store: store.clone(),
            config: c.mail.clone(),
            contacts: c.contacts(),
            policy: policy.clone(),
        }));
    }
    if c.dealer.enabled {
        use kameo::actor::Spawn;
        let client = dealer::client(&c.dealer)?;
        notify.dealer = Some(dealer::DealerUplink::spawn(dealer::DealerArgs {
            store: store.clone(),
            config: c.dealer.clone(),
            client,
        }));
        eprintln!(
            "printwatch-coordinator: uploading to {} ({} batches a day{})",
            c.dealer.url,
            c.dealer.batches_per_day,
            if c.dealer.proxy.is_empty() {
                String::new()
            } else {
                format!(", through {}", c.dealer.proxy)
            }
        );
    }
    // Metrics: the instruments ingest records into, seeded with every supply's last level,
    // on a scrape endpoint and pushed by OTLP as configured.
    let telemetry = std::sync::Arc::new(
        printwatch_telemetry::Telemetry::start("printwatch-coordinator", &c.metrics)
            .context("configuration: metrics")?,
    );
    let metrics = crate::metrics::CoordinatorMetrics::new(&telemetry.meter(), store.clone());
    metrics
        .seed(&store)
        .context("reading the last supply levels")?;
    if let Some(addr) = telemetry
        .expose(&c.metrics, std::future::pending())
        .await
        .context("configuration: metrics.prometheus_listen")?
    {
        eprintln!("printwatch-coordinator: metrics on http://{addr}/metrics");
    }
    let alerting = Alerting {
        metrics,
        watchdog: Some((
            WatchdogConfig {
                policy: policy.clone(),
                batches_per_day: c.dealer.batches_per_day,
                meter_reads: c.meter_reads.clone(),
                digest_at: c.mail.enabled.then_some(digest_at),
            },
            std::time::Duration::from_secs(c.alerts.check_seconds.max(1)),
        )),
        policy,
        notify,
    };
    serve_with(server, store, alerting, shutdown)
        .await
        .with_context(|| format!("serving on {}", c.listen))?;
    Ok(())
}
