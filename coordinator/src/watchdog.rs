//! The watchdog: the alerts and sends that come from the clock rather than from a reading.
//! A collector that went silent, a printer with no meter read for too long, the dealer's
//! scheduled batches, the billing meter read when it is due, and the daily digest.
//!
//! It is a kameo actor checked on a timer; each check takes the time as an argument, so the
//! rules are tested with any clock. It reads the store and decides; what it decided is
//! written by ingest, the store's one writer ([`Apply`]), in one durable write. What it
//! last did is kept in the store's marks, so a restart neither repeats a scheduled send
//! nor skips one that fell due while it was down.

use std::collections::HashMap;

use kameo::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::ingest::{
    refused_mark, Apply, ClockChanges, Ingestor, NewAlert, Notifiers, SetMark, Subject,
};
use crate::mail::SendDigest;
use crate::policy::{dealer_payload, Policy};
use crate::registry::{Registry, Sites};
use crate::schedule::{self, MeterReadSchedule};
use crate::store::alerts::{device_key, site_alert_key, site_key, AlertKind};
use crate::store::{StoreError, StoreReader};
use crate::timestamp::Timestamp;

/// What the watchdog is told to look after.
#[derive(Debug, Clone)]
pub struct WatchdogConfig {
    /// Alert rules and what to queue.
    pub policy: Policy,
    /// Scheduled dealer batches a day (0 or uploads off: none).
    pub batches_per_day: u32,
    /// The billing meter read.
    pub meter_reads: MeterReadSchedule,
    /// When the digest goes out (None: no digest).
    pub digest_at: Option<time::Time>,
}

/// The watchdog's state.
pub struct Watchdog {
    store: StoreReader,
    ingest: ActorRef<Ingestor>,
    config: WatchdogConfig,
    registry: ActorRef<Registry>,
    notify: Notifiers,
    /// When each site's collector was last seen connected (or when the watchdog started).
    last_connected: HashMap<String, OffsetDateTime>,
    started: OffsetDateTime,
}

/// What the watchdog starts with.
pub struct WatchdogArgs {
    /// What it reads.
    pub store: StoreReader,
    /// Who writes what it decides.
    pub ingest: ActorRef<Ingestor>,
    /// Its settings.
    pub config: WatchdogConfig,
    /// Who is connected.
    pub registry: ActorRef<Registry>,
    /// The senders (the mailer sends the digest).
    pub notify: Notifiers,
}

impl Actor for Watchdog {
    type Args = WatchdogArgs;
    type Error = kameo::error::Infallible;

    async fn on_start(a: WatchdogArgs, _: ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(Watchdog {
            store: a.store,
            ingest: a.ingest,
            config: a.config,
            registry: a.registry,
            notify: a.notify,
            last_connected: HashMap::new(),
            started: OffsetDateTime::now_utc(),
        })
    }
}

/// Look at everything as of `now`.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// The time to check against.
    pub now: OffsetDateTime,
}

/// What one check did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Alerts opened.
    pub opened: Vec<String>,
    /// Alerts closed.
    pub closed: Vec<String>,
    /// Dealer batches queued (their keys).
    pub batches: Vec<String>,
    /// True when the digest went out.
    pub digest: bool,
}

/// Why a check did not finish.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Ingest could not write what the check decided.
    #[error("writing the check's changes: {0}")]
    Write(String),
}

impl Watchdog {
    /// What the clock changes now: alerts to open and close, batches and marks.
    async fn decide(&mut self, now: OffsetDateTime) -> Result<ClockChanges, StoreError> {
        let at = Timestamp::from_datetime(now);
        let mut c = ClockChanges {
            at: Some(at),
            ..ClockChanges::default()
        };
        let policy = &self.config.policy;
        let rules = &policy.rules;

        // Silent collectors: a known site with no connected collector for too long.
        let connected = self.registry.ask(Sites).await.unwrap_or_default();
        let mut known = self.store.sites()?;
        known.extend(connected.iter().cloned());
        known.sort();
        known.dedup();
        for site in known {
            // Refused envelopes: the alert closes after a day with no more refusals.
            let refused = site_alert_key(&site, AlertKind::EnvelopesRefused);
            if self.store.is_open(&refused)?
                && self
                    .store
                    .mark(&refused_mark(&site))?
                    .is_none_or(|last| at.since(last) > Duration::days(1))
            {
                c.close.push(refused);
            }
            let key = site_key(&site);
            if connected.contains(&site) {
                self.last_connected.insert(site.clone(), now);
                if self.store.is_open(&key)? {
                    c.close.push(key);
                }
                continue;
            }
            let since = *self
                .last_connected
                .entry(site.clone())
                .or_insert(self.started);
            let silent = now - since;
            if silent > Duration::minutes(rules.collector_silent_minutes as i64)
                && !self.store.is_open(&key)?
            {
                let alert = NewAlert::about_printer(
                    key,
                    AlertKind::CollectorSilent,
                    format!(
                        "no collector connected for site {site} for {} minutes",
                        silent.whole_minutes()
                    ),
                );
                c.open.push((alert, Subject::site(&site)));
            }
        }

        // Missed meter reads: no reading with meters for longer than the setting.
        let max_age = Duration::days(rules.meter_read_max_days as i64);
        let devices = self.store.devices()?;
        let mut missing = std::collections::BTreeSet::new();
        for d in &devices {
            let last = d.last_meter_read.unwrap_or(d.first_seen);
            let key = device_key(&d.id, AlertKind::MeterReadMissing);
            if at.since(last) > max_age && !self.store.is_open(&key)? {
                missing.insert(key.clone());
                let detail = format!(
                    "no meter read since {}",
                    d.last_meter_read
                        .map_or_else(|| "it was first seen".to_string(), Timestamp::rfc3339)
                );
                let alert = NewAlert::about_printer(key, AlertKind::MeterReadMissing, detail);
                c.open.push((alert, Subject::of(d)));
            }
        }

        // The billing meter read, when due: every printer's latest read in one batch, and
        // an alert for each printer whose read is missing.
        if self.config.meter_reads.enabled {
            if let Ok(due) = self.config.meter_reads.last_due(now) {
                let due_at = Timestamp::from_datetime(due);
                if self.store.mark("meter_read")?.is_none_or(|m| m < due_at) {
                    let oldest_ok = Timestamp::from_datetime(due - max_age);
                    let mut entries = Vec::new();
                    for d in &devices {
                        if d.last_meter_read.is_some_and(|t| t >= oldest_ok) {
                            entries.push(dealer_payload::entry(&self.store, d, at)?);
                            continue;
                        }
                        let key = device_key(&d.id, AlertKind::MeterReadMissing);
                        if !missing.contains(&key) && !self.store.is_open(&key)? {
                            missing.insert(key.clone());
                            let alert = NewAlert::about_printer(
                                key,
                                AlertKind::MeterReadMissing,
                                format!("no meter read for the billing read due {due_at}"),
                            );
                            c.open.push((alert, Subject::of(d)));
                        }
                    }
                    if policy.uploads {
                        c.batches.push(("meter_read".into(), entries));
                    }
                    c.marks.push(("meter_read".into(), due_at));
                }
            }
        }

        // The dealer's scheduled batches.
        if policy.uploads && self.config.batches_per_day > 0 {
            let every =
                Duration::seconds(86_400 / i64::from(self.config.batches_per_day.min(86_400)));
            let last = self.store.mark("dealer_batch")?;
            if last.is_none_or(|l| at.since(l) >= every) {
                let entries = devices
                    .iter()
                    .map(|d| dealer_payload::entry(&self.store, d, at))
                    .collect::<Result<Vec<_>, _>>()?;
                c.batches.push(("scheduled".into(), entries));
                c.marks.push(("dealer_batch".into(), at));
            }
        }
        Ok(c)
    }

    async fn check(&mut self, now: OffsetDateTime) -> Result<Checked, CheckError> {
        let changes = self.decide(now).await?;
        let applied = self
            .ingest
            .ask(Apply(changes))
            .await
            .map_err(|e| CheckError::Write(e.to_string()))?;
        let mut done = Checked {
            opened: applied.opened.into_iter().map(|a| a.id).collect(),
            closed: applied.closed.into_iter().map(|a| a.id).collect(),
            batches: applied.batches,
            digest: false,
        };

        // The daily digest.
        if let (Some(digest_at), Some(mailer)) = (self.config.digest_at, &self.notify.mailer) {
            let due = Timestamp::from_datetime(schedule::last_daily(now, digest_at));
            let mark = |at| SetMark {
                name: "digest".into(),
                at,
            };
            match self.store.mark("digest")? {
                // A first start sends none: the next one is tomorrow's.
                None => self
                    .ingest
                    .ask(mark(due))
                    .await
                    .map_err(|e| CheckError::Write(e.to_string()))?,
                Some(m) if m < due => {
                    if mailer.ask(SendDigest).await.is_ok() {
                        self.ingest
                            .ask(mark(due))
                            .await
                            .map_err(|e| CheckError::Write(e.to_string()))?;
                        done.digest = true;
                    }
                }
                Some(_) => {}
            }
        }
        Ok(done)
    }
}

impl Message<Check> for Watchdog {
    type Reply = Result<Checked, String>;
    async fn handle(&mut self, m: Check, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        self.check(m.now).await.map_err(|e| e.to_string())
    }
}

/// Checks every `every` until the actor stops (or the task is aborted).
pub fn tick(
    watchdog: ActorRef<Watchdog>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut t = tokio::time::interval(every);
        loop {
            t.tick().await;
            match watchdog
                .ask(Check {
                    now: OffsetDateTime::now_utc(),
                })
                .await
            {
                Ok(_) => {}
                Err(kameo::error::SendError::HandlerError(e)) => {
                    tracing::error!("the watchdog could not record its findings: {e}");
                }
                Err(_) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{
        Answer, Incoming, IngestBatch, Ingested, Ingestor, IngestorArgs, PollFailure,
    };
    use crate::store::alerts::AlertRecord;
    use crate::store::Store;
    use crate::wire_reading::WireReading;
    use agent_core::model::{Identity, Meter, Reading};

    fn reading(serial: &str, at: OffsetDateTime, meters: bool) -> Reading {
        Reading {
            identity: Identity {
                address: "10.0.0.5".into(),
                model: Some("M404".into()),
                serial: Some(serial.into()),
                ..Identity::default()
            },
            meters: if meters {
                vec![Meter {
                    name: "total".into(),
                    value: 1000,
                    source: String::new(),
                }]
            } else {
                Vec::new()
            },
            polled_at: Timestamp::from_datetime(at).rfc3339(),
            ..Reading::default()
        }
    }

    /// Sends one item to ingest as hq's collector would, and returns its answer.
    async fn send(ingest: &ActorRef<Ingestor>, seq: u64, item: Incoming) -> Answer {
        let answers = ingest
            .ask(IngestBatch {
                site: "hq".into(),
                items: vec![(seq, item)],
                follows: None,
            })
            .await
            .unwrap();
        answers.into_iter().next().unwrap().unwrap()
    }

    fn read(r: Reading) -> Incoming {
        Incoming::Reading(Box::new(WireReading::new(r).unwrap()))
    }

    /// A failed poll of the printer at 10.0.0.5; what unreachable alert it opened.
    async fn failed(
        ingest: &ActorRef<Ingestor>,
        seq: u64,
        consecutive: u32,
        now: OffsetDateTime,
    ) -> Option<Box<AlertRecord>> {
        let f = PollFailure {
            address: "10.0.0.5".into(),
            consecutive,
            error: "timeout".into(),
            at: Timestamp::from_datetime(now),
            certificate_changed: false,
        };
        match send(ingest, seq, Incoming::PollFailed(f)).await {
            Answer::PollFailed(opened) => opened,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn silent_collectors_missed_reads_unreachable_printers_and_the_billing_read() {
        let dir = crate::store::testing::dir("watchdog");
        let store = Store::open(&dir, 8 << 20).unwrap();
        let reader = store.reader();
        let policy = Policy {
            uploads: true,
            ..Policy::default()
        };
        let ingest = Ingestor::spawn(IngestorArgs {
            store,
            policy: policy.clone(),
            notify: Notifiers::default(),
            metrics: Default::default(),
            data_dir: dir.clone(),
            restart: None,
        });
        // Two printers at site hq: one read with meters long ago, one just now.
        let now = OffsetDateTime::now_utc();
        send(
            &ingest,
            1,
            read(reading("OLD", now - Duration::days(10), true)),
        )
        .await;
        send(&ingest, 2, read(reading("NEW", now, true))).await;
        let w = Watchdog::spawn(WatchdogArgs {
            store: reader.clone(),
            ingest: ingest.clone(),
            config: WatchdogConfig {
                policy: policy.clone(),
                batches_per_day: 6,
                meter_reads: MeterReadSchedule::default(),
                digest_at: None,
            },
            registry: Registry::spawn(()),
            notify: Notifiers::default(),
        });
        // At once: the read of OLD is missing (rolling check and billing read), one
        // scheduled batch and one billing batch; hq's collector is not silent yet.
        let first = w.ask(Check { now }).await.unwrap();
        assert_eq!(first.opened.len(), 1, "{first:?}");
        assert_eq!(first.batches.len(), 2, "{first:?}");
        let open = reader.alerts(false).unwrap();
        assert_eq!(open[0].kind, AlertKind::MeterReadMissing);
        assert_eq!(open[0].device_id, "sn:OLD");
        // Nothing repeats a minute later.
        let again = w
            .ask(Check {
                now: now + Duration::minutes(1),
            })
            .await
            .unwrap();
        assert_eq!(again, Checked::default());
        // 20 minutes with no collector connected: hq is silent, once.
        let later = w
            .ask(Check {
                now: now + Duration::minutes(20),
            })
            .await
            .unwrap();
        assert_eq!(later.opened.len(), 1, "{later:?}");
        assert!(reader.is_open(&site_key("hq")).unwrap());
        // A reading with meters closes the missing read.
        send(&ingest, 3, read(reading("OLD", now, true))).await;
        assert!(!reader
            .is_open(&device_key("sn:OLD", AlertKind::MeterReadMissing))
            .unwrap());
        // Polls of the printer at 10.0.0.5 fail: the third in a row makes it unreachable;
        // an answer closes it.
        assert!(failed(&ingest, 4, 1, now).await.is_none());
        assert!(failed(&ingest, 5, 2, now).await.is_none());
        let a = failed(&ingest, 6, 3, now).await.expect("unreachable");
        assert_eq!(a.kind, AlertKind::Unreachable);
        // A replay of that failure opens nothing more.
        assert!(failed(&ingest, 6, 3, now).await.is_none());
        let answer = send(&ingest, 7, read(reading("OLD", now, false))).await;
        assert!(matches!(answer, Answer::Reading(Ingested::Stored { .. })));
        assert!(!reader.is_open(&a.key).unwrap());
        assert_eq!(reader.batches_queued().unwrap(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
