//! A whole coordinator, started from its configuration: what `printwatch-coordinator`
//! runs, what the demo and the tests start in their own process, and what the fleet
//! benchmark runs in a process of its own. Every actor is spawned here and nowhere else,
//! so this is the one place that shows who holds what:
//!
//! - the [`Ingestor`] owns the store's one writer; everything else gets a reader;
//! - the mailer and the dealer uplink send what the outboxes hold and ask ingest to delete
//!   what was accepted; ingest wakes them (so ingest is prepared first, to hand its
//!   reference to them before it starts);
//! - the [`Queries`] actor answers the fleet service from a reader;
//! - the [`Registry`] owns each connected collector's outbound stream;
//! - the [`Watchdog`] reads, decides on the clock, and asks ingest to write;
//! - the pruner asks ingest to prune history in small steps, every hour.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use kameo::actor::{ActorRef, Spawn};

use crate::config::CoordinatorConfig;

/// The message of the line a coordinator logs once it serves collectors and operators.
/// Scripts and tests wait for it.
pub const SERVING: &str = "printwatch-coordinator serving";
use crate::dealer::{self, DealerArgs, DealerUplink};
use crate::ingest::{Ingestor, IngestorArgs, Notifiers, Prune};
use crate::mail::{self, Mailer, MailerArgs};
use crate::metrics::CoordinatorMetrics;
use crate::queries::Queries;
use crate::registry::Registry;
use crate::schedule;
use crate::server::collector_stream::CollectorService;
use crate::server::fleet_service::FleetService;
use crate::server::{self, ServerConfig};
use crate::store::{Store, StoreReader};
use crate::timestamp::Timestamp;
use crate::watchdog::{self, Watchdog, WatchdogArgs, WatchdogConfig};

/// A coordinator serving. Dropping it stops the server, as [`Running::stop`] does, but
/// without waiting and leaving its actors to end as the runtime does.
pub struct Running {
    /// Reads what it holds (the demo shows it, tests check it).
    pub store: StoreReader,
    /// Where it listens (the port the system chose when the configuration gave 0).
    pub listen: SocketAddr,
    /// Where its Prometheus scrape endpoint listens, when it has one.
    pub metrics: Option<SocketAddr>,
    /// Where its dashboard listens, when it has one.
    pub web: Option<WebAt>,
    stop: tokio::sync::oneshot::Sender<()>,
    /// Says why, when the process must start again (the database failed a write and the
    /// disk has room again, see [`crate::disk`]).
    restart_asked: tokio::sync::oneshot::Receiver<String>,
    served: tokio::task::JoinHandle<Result<(), server::ServeError>>,
    actors: Actors,
    instruments: Instruments,
}

/// Where the dashboard is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebAt {
    /// Its address (the port the system chose when the configuration gave 0).
    pub addr: SocketAddr,
    /// HTTPS, or plain HTTP on loopback.
    pub https: bool,
}

impl WebAt {
    /// The dashboard's address as a browser takes it, without the trailing slash.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

/// The actors and tasks of a running coordinator, to stop them in order.
struct Actors {
    ingest: ActorRef<Ingestor>,
    ingest_done: tokio::task::JoinHandle<
        Result<(Ingestor, kameo::error::ActorStopReason), kameo::error::PanicError>,
    >,
    watchdog: ActorRef<Watchdog>,
    queries: ActorRef<Queries>,
    registry: ActorRef<Registry>,
    mailer: Option<ActorRef<Mailer>>,
    dealer: Option<ActorRef<DealerUplink>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A process's instruments: its meter provider (one per process), what the coordinator
/// records into it, and where they are scraped.
struct Instruments {
    /// Held, not read: dropping the last handle shuts the provider down.
    _telemetry: Arc<printwatch_telemetry::Telemetry>,
    metrics: CoordinatorMetrics,
    scrape: Option<SocketAddr>,
}

/// What a stopped coordinator hands back: its store's writer and its instruments, so the
/// same process can start a coordinator on them again ([`restart`]), as a test does to stop
/// a coordinator mid-run and bring it back.
pub struct Stopped {
    store: Store,
    instruments: Instruments,
}

impl Running {
    /// Stops the coordinator and waits until it has: the server (collector streams end,
    /// operators' calls finish), the clock-driven tasks, every actor, ingest last (its
    /// writes already flushed or failed). Returns what a [`restart`] takes.
    pub async fn stop(self) -> Result<Stopped> {
        let _ = self.stop.send(());
        let served = self.served.await;
        let a = self.actors;
        for t in &a.tasks {
            t.abort();
        }
        halt(&a.watchdog).await;
        if let Some(m) = &a.mailer {
            halt(m).await;
        }
        if let Some(d) = &a.dealer {
            halt(d).await;
        }
        halt(&a.queries).await;
        halt(&a.registry).await;
        halt(&a.ingest).await;
        let (ingestor, _) = a
            .ingest_done
            .await
            .context("the ingest task")?
            .map_err(|e| anyhow::anyhow!("the ingest actor panicked: {e}"))?;
        served
            .context("the server task")?
            .with_context(|| format!("serving on {}", self.listen))?;
        Ok(Stopped {
            store: ingestor.into_store(),
            instruments: self.instruments,
        })
    }

    /// Serves until `shutdown` completes, then stops.
    /// Runs until `shutdown` completes, or until the coordinator must start again (then
    /// it stops and returns why, as an error: the service manager starts it again).
    pub async fn until(mut self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let restart = tokio::select! {
            () = shutdown => None,
            why = &mut self.restart_asked => why.ok(),
        };
        self.stop().await?;
        match restart {
            Some(why) => Err(anyhow::anyhow!("{why}")),
            None => Ok(()),
        }
    }
}

/// Stops an actor once it has handled what it was sent, and waits for it.
async fn halt<A: kameo::Actor>(a: &ActorRef<A>) {
    let _ = a.stop_gracefully().await;
    a.wait_for_shutdown().await;
}

fn read(path: &std::path::Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading the {what} {}", path.display()))
}

/// Runs a coordinator with `c` until `shutdown` completes.
pub async fn run(
    c: CoordinatorConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let data = c.data_dir.clone();
    let running = start(c).await?;
    tracing::info!(listen = %running.listen, data = %data.display(), "{SERVING}");
    running.until(shutdown).await
}

/// Starts a coordinator with `c`: the store, metrics, every actor, history pruning and
/// the gRPC server. Every setting is checked before anything is served; it returns once
/// the server listens.
pub async fn start(c: CoordinatorConfig) -> Result<Running> {
    let store = Store::open(&c.data_dir, c.cache_mb << 20).with_context(|| {
        format!(
            "opening the database in {} (is another coordinator using it?)",
            c.data_dir.display()
        )
    })?;
    // Metrics: the instruments ingest records into, seeded with every supply's last level,
    // on a scrape endpoint and pushed by OTLP as configured.
    let telemetry = Arc::new(
        printwatch_telemetry::Telemetry::start("printwatch-coordinator", &c.metrics)
            .context("configuration: metrics")?,
    );
    let metrics = CoordinatorMetrics::new(&telemetry.meter(), store.reader());
    metrics
        .seed(&store.reader())
        .context("reading the last supply levels")?;
    let scrape = telemetry
        .expose(&c.metrics, std::future::pending())
        .await
        .context("configuration: metrics.prometheus_listen")?;
    if let Some(addr) = scrape {
        tracing::info!(url = %format!("http://{addr}/metrics"), "serving metrics");
    }
    let instruments = Instruments {
        _telemetry: telemetry,
        metrics,
        scrape,
    };
    serve_on(c, store, instruments).await
}

/// Starts a coordinator with `c` on what a stopped one left: its store and instruments.
pub async fn restart(c: CoordinatorConfig, from: Stopped) -> Result<Running> {
    serve_on(c, from.store, from.instruments).await
}

/// Every actor, pruning and the server, on an open store.
async fn serve_on(c: CoordinatorConfig, store: Store, instruments: Instruments) -> Result<Running> {
    let reader = store.reader();
    let tls = ServerConfig {
        ca_pem: read(&c.tls.ca, "fleet CA certificate")?,
        cert_pem: read(&c.tls.cert, "coordinator certificate")?,
        key_pem: read(&c.tls.key, "coordinator key")?,
        max_message_bytes: c.max_message_kb * 1024,
        max_connections: c.max_connections as usize,
    };
    // Certificates that do not make a TLS configuration stop the start, not the server later.
    server::front_door::tls_config(&tls.ca_pem, &tls.cert_pem, &tls.key_pem)
        .map_err(anyhow::Error::msg)?;
    c.meter_reads.validate()?;
    let digest_at = schedule::time_of_day("mail.digest_at", &c.mail.digest_at)?;
    let policy = c.policy();
    let metrics = instruments.metrics.clone();

    // Ingest first, prepared: the senders need its reference, and it needs theirs.
    let ingest_actor = Ingestor::prepare();
    let ingest = ingest_actor.actor_ref().clone();
    let mut notify = Notifiers::default();
    if c.mail.enabled {
        mail::transport(&c.mail)?;
        notify.mailer = Some(Mailer::spawn(MailerArgs {
            store: reader.clone(),
            ingest: ingest.clone(),
            config: c.mail.clone(),
            contacts: c.contacts(),
            policy: policy.clone(),
        }));
    }
    if c.dealer.enabled {
        let client = dealer::client(&c.dealer)?;
        notify.dealer = Some(DealerUplink::spawn(DealerArgs {
            store: reader.clone(),
            ingest: ingest.clone(),
            config: c.dealer.clone(),
            client,
        }));
        tracing::info!(
            url = %c.dealer.url,
            batches_per_day = c.dealer.batches_per_day,
            proxy = %c.dealer.proxy,
            "uploading to the dealer"
        );
    }
    let (must_restart, restart_asked) = tokio::sync::oneshot::channel();
    let ingest_done = ingest_actor.spawn(IngestorArgs {
        store,
        policy: policy.clone(),
        notify: notify.clone(),
        metrics: metrics.clone(),
        data_dir: c.data_dir.clone(),
        restart: Some(must_restart),
    });
    let registry = Registry::spawn(());
    let queries = Queries::spawn((reader.clone(), policy.clone()));
    let watchdog = Watchdog::spawn(WatchdogArgs {
        store: reader.clone(),
        ingest: ingest.clone(),
        config: WatchdogConfig {
            policy,
            batches_per_day: c.dealer.batches_per_day,
            meter_reads: c.meter_reads.clone(),
            digest_at: c.mail.enabled.then_some(digest_at),
        },
        registry: registry.clone(),
        notify: notify.clone(),
    });
    let mut tasks = vec![
        watchdog::tick(
            watchdog.clone(),
            std::time::Duration::from_secs(c.alerts.check_seconds.max(1)),
        ),
        prune_every_hour(ingest.clone(), c.history_days),
    ];
    if c.web.listen.is_some() {
        tasks.push(refresh_the_board(queries.clone()));
    }

    let listener = tokio::net::TcpListener::bind(c.listen)
        .await
        .with_context(|| format!("listening on {}", c.listen))?;
    let listen = listener.local_addr()?;
    let (events, _) = tokio::sync::broadcast::channel(1024);
    let (stop_streams, stopping) = tokio::sync::watch::channel(false);
    let stopping_web = stopping.clone();
    let collectors = CollectorService::new(
        stopping,
        ingest.clone(),
        queries.clone(),
        registry.clone(),
        events.clone(),
        metrics,
    );
    let fleet = FleetService::new(
        queries.clone(),
        ingest.clone(),
        registry.clone(),
        events.clone(),
    );
    let tls_limits = tls.max_connections;
    let web = match c.web.listen {
        Some(addr) => {
            // The dashboard's certificate: its own, else the coordinator's; checked here,
            // so a bad one stops the start rather than every browser later.
            let tls = if c.web.https {
                let cert = c.web.cert.as_ref().unwrap_or(&c.tls.cert);
                let key = c.web.key.as_ref().unwrap_or(&c.tls.key);
                Some(
                    crate::web::tls_config(
                        &read(cert, "web.cert (the dashboard's certificate)")?,
                        &read(key, "web.key (the dashboard's key)")?,
                    )
                    .map_err(anyhow::Error::msg)?,
                )
            } else {
                None
            };
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("web.listen: listening on {addr}"))?;
            let at = listener.local_addr()?;
            let mut stop_web = stopping_web.clone();
            let scheme = if tls.is_some() { "https" } else { "http" };
            let site = crate::web::Web::new(
                queries.clone(),
                registry.clone(),
                FleetService::new(
                    queries.clone(),
                    ingest.clone(),
                    registry.clone(),
                    events.clone(),
                ),
                reader.clone(),
                tls.is_some(),
            );
            let limits = server::front_door::Limits::within_file_limit(tls_limits);
            tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stop_web.wait_for(|s| *s).await;
                };
                if let Err(e) = crate::web::serve(listener, site, tls, limits, shutdown).await {
                    tracing::error!("the dashboard stopped: {e}");
                }
            });
            tracing::info!(url = %format!("{scheme}://{at}/"), "serving the dashboard");
            Some(WebAt {
                addr: at,
                https: scheme == "https",
            })
        }
        None => None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        server::serve(listener, &tls, collectors, fleet, stop_streams, async {
            let _ = stopped.await;
        })
        .await
    });
    Ok(Running {
        store: reader,
        listen,
        metrics: instruments.scrape,
        web,
        stop,
        restart_asked,
        served,
        actors: Actors {
            ingest,
            ingest_done,
            watchdog,
            queries,
            registry,
            mailer: notify.mailer,
            dealer: notify.dealer,
            tasks,
        },
        instruments,
    })
}

/// Keeps the dashboard's board current (see [`crate::queries::Refresh`]): built at start, then
/// what changed worked out each second. Only when the dashboard is served.
fn refresh_the_board(queries: ActorRef<Queries>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if queries.ask(crate::queries::Refresh).await.is_err() {
                return;
            }
        }
    })
}

/// How many readings one step of pruning looks at: a few milliseconds of ingest's time.
const PRUNE_STEP: usize = 5_000;

/// Keeps history `days` long: at start and every hour, ingest prunes it in small steps,
/// taking collectors' batches between them.
fn prune_every_hour(ingest: ActorRef<Ingestor>, days: u32) -> tokio::task::JoinHandle<()> {
    let keep = time::Duration::days(i64::from(days));
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3_600));
        loop {
            every.tick().await;
            let before = Timestamp::now().plus(-keep);
            let (mut removed, mut from) = (0, None);
            loop {
                let step = Prune {
                    before,
                    from: from.take(),
                    limit: PRUNE_STEP,
                };
                match ingest.ask(step).await {
                    Ok(p) => {
                        removed += p.removed;
                        match p.next {
                            Some(next) => from = Some(next),
                            None => break,
                        }
                    }
                    Err(kameo::error::SendError::HandlerError(e)) => {
                        tracing::error!("pruning history: {e}");
                        break;
                    }
                    // Ingest is gone: the coordinator is stopping.
                    Err(_) => return,
                }
            }
            if removed > 0 {
                tracing::info!(
                    removed,
                    days = keep.whole_days(),
                    "pruned the readings older than the history kept"
                );
            }
        }
    })
}
