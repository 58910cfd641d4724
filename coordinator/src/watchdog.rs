//! The watchdog: the alerts and sends that come from the clock rather than from a reading.
//! A collector that went silent, a printer with no meter read for too long, the dealer's
//! scheduled batches, the billing meter read when it is due, and the daily digest.
//!
//! It is a kameo actor checked on a timer; each check takes the time as an argument, so the
//! rules are tested with any clock. What it last did is kept in the store, so a restart
//! neither repeats a scheduled send nor skips one that fell due while it was down.

use std::collections::HashMap;

use kameo::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::alerts::{self, AlertKind};
use crate::ingest::Notifiers;
use crate::mail::SendDigest;
use crate::registry::{Registry, Sites};
use crate::schedule::{self, rfc3339, MeterReadSchedule};
use crate::store::{DeviceRecord, NewAlert, Policy, Store, StoreError};

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
    store: Store,
    config: WatchdogConfig,
    registry: ActorRef<Registry>,
    notify: Notifiers,
    /// When each site's collector was last seen connected (or when the watchdog started).
    last_connected: HashMap<String, OffsetDateTime>,
    started: OffsetDateTime,
}

/// What the watchdog starts with.
pub struct WatchdogArgs {
    /// The store.
    pub store: Store,
    /// Its settings.
    pub config: WatchdogConfig,
    /// Who is connected.
    pub registry: ActorRef<Registry>,
    /// The senders.
    pub notify: Notifiers,
}

impl Actor for Watchdog {
    type Args = WatchdogArgs;
    type Error = kameo::error::Infallible;

    async fn on_start(a: WatchdogArgs, _: ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(Watchdog {
            store: a.store,
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

fn site_record(site: &str) -> DeviceRecord {
    DeviceRecord {
        id: String::new(),
        site: site.into(),
        addresses: Vec::new(),
        identity: agent_core::model::Identity {
            model: Some(format!("the collector of {site}")),
            ..Default::default()
        },
        first_seen: String::new(),
        last_seen: String::new(),
        last_meter_read: None,
    }
}

impl Watchdog {
    async fn check(&mut self, now: OffsetDateTime) -> Result<Checked, StoreError> {
        let mut done = Checked::default();
        let at = rfc3339(now);
        let policy = self.config.policy.clone();
        let rules = &policy.rules;

        // Silent collectors: a known site with no connected collector for too long.
        let connected = self.registry.ask(Sites).await.unwrap_or_default();
        let mut known = self.store.collectors()?;
        known.extend(connected.iter().cloned());
        known.sort();
        known.dedup();
        for site in known {
            let key = alerts::site_key(&site);
            if connected.contains(&site) {
                self.last_connected.insert(site.clone(), now);
                if let Some(a) = self.store.close_alert(&key, &at, &policy)? {
                    done.closed.push(a.id);
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
                let a = self.store.open_alert(
                    NewAlert::about_printer(
                        key,
                        AlertKind::CollectorSilent,
                        format!(
                            "no collector connected for site {site} for {} minutes",
                            silent.whole_minutes()
                        ),
                    ),
                    &site_record(&site),
                    &at,
                    &policy,
                )?;
                done.opened.push(a.id);
            }
        }

        // Missed meter reads: no reading with meters for longer than the setting.
        let max_age = Duration::days(rules.meter_read_max_days as i64);
        let devices = self.store.devices()?;
        for d in &devices {
            let last = d.last_meter_read.as_deref().unwrap_or(&d.first_seen);
            let Some(last) = crate::store::seconds(last) else {
                continue;
            };
            let key = alerts::device_key(&d.id, AlertKind::MeterReadMissing);
            if now.unix_timestamp() - last > max_age.whole_seconds() && !self.store.is_open(&key)? {
                let a = self.store.open_alert(
                    NewAlert::about_printer(
                        key,
                        AlertKind::MeterReadMissing,
                        format!(
                            "no meter read since {}",
                            d.last_meter_read.as_deref().unwrap_or("it was first seen")
                        ),
                    ),
                    d,
                    &at,
                    &policy,
                )?;
                done.opened.push(a.id);
            }
        }

        // The billing meter read, when due: every printer's latest read in one batch, and
        // an alert for each printer whose read is missing.
        if self.config.meter_reads.enabled {
            if let Ok(due) = self.config.meter_reads.last_due(now) {
                let due_s = rfc3339(due);
                if self.store.mark("meter_read")?.is_none_or(|m| m < due_s) {
                    let oldest_ok = due - max_age;
                    let mut entries = Vec::new();
                    for d in &devices {
                        let fresh = d
                            .last_meter_read
                            .as_deref()
                            .and_then(crate::store::seconds)
                            .is_some_and(|t| t >= oldest_ok.unix_timestamp());
                        if fresh {
                            entries.push(self.store.dealer_entry(d)?);
                            continue;
                        }
                        let key = alerts::device_key(&d.id, AlertKind::MeterReadMissing);
                        if !self.store.is_open(&key)? {
                            let a = self.store.open_alert(
                                NewAlert::about_printer(
                                    key,
                                    AlertKind::MeterReadMissing,
                                    format!("no meter read for the billing read due {due_s}"),
                                ),
                                d,
                                &at,
                                &policy,
                            )?;
                            done.opened.push(a.id);
                        }
                    }
                    if policy.uploads {
                        done.batches
                            .push(self.store.queue_batch("meter_read", entries)?);
                    }
                    self.store.set_mark("meter_read", &due_s).await?;
                }
            }
        }

        // The dealer's scheduled batches.
        if policy.uploads && self.config.batches_per_day > 0 {
            let every = 86_400 / i64::from(self.config.batches_per_day.min(86_400));
            let last = self
                .store
                .mark("dealer_batch")?
                .as_deref()
                .and_then(crate::store::seconds);
            if last.is_none_or(|l| now.unix_timestamp() - l >= every) {
                let entries = devices
                    .iter()
                    .map(|d| self.store.dealer_entry(d))
                    .collect::<Result<Vec<_>, _>>()?;
                done.batches
                    .push(self.store.queue_batch("scheduled", entries)?);
                self.store.set_mark("dealer_batch", &at).await?;
            }
        }
        self.store.sync().await?;

        // The daily digest.
        if let (Some(digest_at), Some(mailer)) = (self.config.digest_at, &self.notify.mailer) {
            let due = rfc3339(schedule::last_daily(now, digest_at));
            match self.store.mark("digest")? {
                // A first start sends none: the next one is tomorrow's.
                None => self.store.set_mark("digest", &due).await?,
                Some(m) if m < due => {
                    if mailer.ask(SendDigest).await.is_ok() {
                        self.store.set_mark("digest", &due).await?;
                        done.digest = true;
                    }
                }
                Some(_) => {}
            }
        }
        if !done.opened.is_empty() || !done.closed.is_empty() || !done.batches.is_empty() {
            self.notify.wake().await;
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

/// Checks every `every` until the actor stops.
pub fn tick(watchdog: ActorRef<Watchdog>, every: std::time::Duration) {
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
                    eprintln!("printwatch-coordinator: watchdog: {e}");
                }
                Err(_) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::model::{Identity, Meter, Reading};

    fn reading(serial: &str, at: &str, meters: bool) -> Reading {
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
            polled_at: at.into(),
            ..Reading::default()
        }
    }

    fn failure(consecutive: u32, now: OffsetDateTime) -> crate::store::PollFailure {
        crate::store::PollFailure {
            address: "10.0.0.5".into(),
            consecutive,
            error: "timeout".into(),
            at: rfc3339(now),
        }
    }

    #[tokio::test]
    async fn silent_collectors_missed_reads_unreachable_printers_and_the_billing_read() {
        let dir = std::env::temp_dir().join(format!("printwatch-watchdog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir, 8 << 20).unwrap();
        let policy = Policy {
            uploads: true,
            ..Policy::default()
        };
        // Two printers at site hq: one read with meters long ago, one just now.
        let now = OffsetDateTime::now_utc();
        let long_ago = rfc3339(now - Duration::days(10));
        store
            .ingest_with("hq", "hq", 1, &reading("OLD", &long_ago, true), &policy)
            .await
            .unwrap();
        store
            .ingest_with("hq", "hq", 2, &reading("NEW", &rfc3339(now), true), &policy)
            .await
            .unwrap();
        let registry = Registry::spawn(());
        let w = Watchdog::spawn(WatchdogArgs {
            store: store.clone(),
            config: WatchdogConfig {
                policy: policy.clone(),
                batches_per_day: 6,
                meter_reads: MeterReadSchedule::default(),
                digest_at: None,
            },
            registry,
            notify: Notifiers::default(),
        });
        // At once: the read of OLD is missing (rolling check and billing read), one
        // scheduled batch and one billing batch; hq's collector is not silent yet.
        let first = w.ask(Check { now }).await.unwrap();
        assert_eq!(first.opened.len(), 1, "{first:?}");
        assert_eq!(first.batches.len(), 2, "{first:?}");
        let open = store.alerts(false).unwrap();
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
        assert!(store.is_open(&alerts::site_key("hq")).unwrap());
        // A reading with meters closes the missing read.
        store
            .ingest_with("hq", "hq", 3, &reading("OLD", &rfc3339(now), true), &policy)
            .await
            .unwrap();
        assert!(!store
            .is_open(&alerts::device_key("sn:OLD", AlertKind::MeterReadMissing))
            .unwrap());
        // Polls of NEW fail: the third in a row makes it unreachable; an answer closes it.
        for (seq, n) in [(4, 1), (5, 2)] {
            let a = store
                .poll_failed("hq", "hq", seq, &failure(n, now), &policy)
                .await
                .unwrap();
            assert!(a.is_none());
        }
        let a = store
            .poll_failed("hq", "hq", 6, &failure(3, now), &policy)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.kind, AlertKind::Unreachable);
        // A replay of that failure opens nothing more.
        assert!(store
            .poll_failed("hq", "hq", 6, &failure(3, now), &policy)
            .await
            .unwrap()
            .is_none());
        store
            .ingest_with(
                "hq",
                "hq",
                7,
                &reading("OLD", &rfc3339(now), false),
                &policy,
            )
            .await
            .unwrap();
        assert!(!store.is_open(&a.key).unwrap());
        assert_eq!(store.batches_queued().unwrap(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
