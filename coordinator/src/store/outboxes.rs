//! The coordinator's outboxes: mails and dealer batches waiting to be accepted by their
//! servers. Ingest queues them in the same write as what calls for them; the senders
//! ([`crate::mail`], [`crate::dealer`]) read them and ask ingest to delete what was
//! accepted.

use serde::{Deserialize, Serialize};

use super::alerts::AlertRecord;
use super::{decode, encode, Store, StoreError, StoreReader};

/// A mail to send: an alert opened or closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailJob {
    /// True for an alert opening, false for it closing.
    pub opened: bool,
    /// The alert as it stood then.
    pub alert: AlertRecord,
}

impl MailJob {
    /// Its key in the outbox: one mail per alert opening and one per closing.
    pub fn key(&self) -> String {
        let what = if self.opened { "opened" } else { "closed" };
        format!("{}/{what}", self.alert.id)
    }
}

/// A batch for the dealer; its key is its idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealerBatch {
    /// `pw-` and a number: the idempotency key, unique and never reused.
    pub key: String,
    /// The JSON body, fixed when queued so that every retry sends the same bytes.
    pub body: serde_json::Value,
}

impl Store {
    /// Queues a mail.
    pub fn queue_mail(&mut self, job: &MailJob) -> Result<(), StoreError> {
        self.t.mail_out.insert(job.key().as_bytes(), encode(job))?;
        Ok(())
    }

    /// A mail the server accepted (or one that can never be sent): gone.
    pub fn mail_sent(&mut self, key: &str) -> Result<(), StoreError> {
        self.t.mail_out.remove(key.as_bytes())?;
        Ok(())
    }

    /// The next batch's idempotency key, never handed out before (see
    /// [`Store::next_number`]).
    pub fn next_batch_key(&mut self) -> Result<String, StoreError> {
        Ok(format!("pw-{:012}", self.next_number(b"batch_seq")?))
    }

    /// Queues a batch for the dealer.
    pub fn queue_batch(&mut self, b: &DealerBatch) -> Result<(), StoreError> {
        self.t.dealer_out.insert(b.key.as_bytes(), encode(b))?;
        Ok(())
    }

    /// A batch the dealer accepted: gone.
    pub fn batch_delivered(&mut self, key: &str) -> Result<(), StoreError> {
        self.t.dealer_out.remove(key.as_bytes())?;
        Ok(())
    }
}

impl StoreReader {
    /// Mails not yet sent, oldest alert first.
    pub fn pending_mail(&self) -> Result<Vec<MailJob>, StoreError> {
        self.t
            .mail_out
            .iter()
            .values()
            .map(|v| decode(&v?))
            .collect()
    }

    /// Dealer batches not yet delivered, oldest first.
    pub fn pending_batches(&self) -> Result<Vec<DealerBatch>, StoreError> {
        self.t
            .dealer_out
            .iter()
            .values()
            .map(|v| decode(&v?))
            .collect()
    }

    /// How many dealer batches were ever queued (the last idempotency number).
    pub fn batches_queued(&self) -> Result<u64, StoreError> {
        self.counter(b"batch_seq")
    }

    /// Mails and dealer batches waiting to be accepted.
    pub fn queued(&self) -> (usize, usize) {
        (self.t.mail_out.len(), self.t.dealer_out.len())
    }
}
