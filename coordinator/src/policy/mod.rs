//! The policy: what the coordinator does about what it learns. Which alerts a reading
//! opens and closes ([`alert_rules`]), how long a supply lasts ([`forecast`]), who is
//! mailed, and what the dealer gets and when ([`dealer_payload`]).
//!
//! It sits beside ingest, not inside the store: ingest asks it what a reading changes and
//! writes the answer. Everything here is a function of its inputs (and of the store as
//! read), so the rules are tested without a database.

pub mod alert_rules;
pub mod dealer_payload;
pub mod forecast;

use std::collections::{BTreeMap, BTreeSet};

use agent_core::model::Reading;

use crate::store::alerts::{AlertKind, AlertRecord};
use alert_rules::{AlertRules, SiteReorder, Transitions};

/// The rules and switches the configuration sets.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Thresholds.
    pub rules: AlertRules,
    /// Reorder points by site.
    pub sites: BTreeMap<String, SiteReorder>,
    /// Sites with e-mail contacts: their alerts are mailed.
    pub mail_sites: BTreeSet<String>,
    /// Whether anything is uploaded to the dealer.
    pub uploads: bool,
    /// The most devices one site may have (`None`: no limit): a site's collector, or its
    /// stolen certificate, cannot grow the store without end.
    pub device_quota: Option<usize>,
}

impl Policy {
    /// The reorder point of a supply kind at a site.
    pub fn reorder_point(&self, site: &str, kind: &str) -> u8 {
        self.rules.reorder_point(self.sites.get(site), kind)
    }

    /// Which alerts a reading of `device` (at `site`) opens and closes, given the
    /// device's open alerts (key to kind).
    pub fn on_reading(
        &self,
        device: &str,
        site: &str,
        reading: &Reading,
        open: &BTreeMap<String, AlertKind>,
    ) -> Transitions {
        let keys: BTreeSet<String> = open.keys().cloned().collect();
        let holding =
            alert_rules::conditions(device, reading, &keys, &self.rules, self.sites.get(site));
        alert_rules::transitions(holding, open, reading)
    }

    /// True when `consecutive` failed polls in a row make a printer unreachable.
    pub fn unreachable(&self, consecutive: u32) -> bool {
        consecutive >= self.rules.unreachable_after_polls
    }

    /// True when an alert's opening and closing at this site are mailed.
    pub fn mails(&self, site: &str) -> bool {
        self.mail_sites.contains(site)
    }

    /// True when these alerts, opened by one reading, send the dealer a batch at once: a
    /// supply crossed its reorder point.
    pub fn reorders(&self, opened: &[AlertRecord]) -> bool {
        self.uploads && opened.iter().any(|a| a.kind == AlertKind::SupplyLow)
    }
}
