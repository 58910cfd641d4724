//! The dealer uplink: the actor that delivers what leaves the site (built by
//! [`crate::policy::dealer_payload`], from an allow-list).
//!
//! Batches wait in the store's durable outbox under an idempotency key; the sender posts
//! them oldest first over HTTPS (TLS 1.2 or newer, through a proxy where one is set), has
//! ingest (the store's one writer) delete each only when the endpoint accepts it, and backs
//! off while the endpoint is down. A restart resumes from the outbox.

use std::path::PathBuf;
use std::time::Duration;

use kameo::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ingest::{BatchDelivered, Ingestor};
use crate::store::StoreReader;

/// The dealer endpoint's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DealerConfig {
    /// The one switch: false sends nothing at all, and queues nothing.
    pub enabled: bool,
    /// Where batches are POSTed (https only).
    pub url: String,
    /// An HTTP proxy (`http://proxy:3128`); empty: the `HTTPS_PROXY` environment variable,
    /// if any.
    pub proxy: String,
    /// A CA certificate (PEM) to trust instead of the system's, for a private endpoint.
    pub ca_file: Option<PathBuf>,
    /// Scheduled batches a day (each holds every printer); a supply crossing its reorder
    /// point sends one at once as well.
    pub batches_per_day: u32,
    /// The longest wait between retries while the endpoint is down, in seconds.
    pub max_backoff_seconds: u64,
}

impl Default for DealerConfig {
    fn default() -> Self {
        DealerConfig {
            enabled: false,
            url: String::new(),
            proxy: String::new(),
            ca_file: None,
            batches_per_day: 6,
            max_backoff_seconds: 600,
        }
    }
}

/// Why the uplink cannot start or a batch was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DealerError {
    /// A setting that cannot work.
    #[error("dealer.{0}")]
    Config(String),
    /// The HTTP client failed.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// The endpoint answered with an error status.
    #[error("the dealer endpoint answered {0}")]
    Status(reqwest::StatusCode),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Ingest could not delete a delivered batch.
    #[error("deleting a delivered batch: {0}")]
    Delete(String),
}

/// Builds the HTTP client: TLS 1.2 or newer, https only, the proxy and CA configured.
pub fn client(c: &DealerConfig) -> Result<reqwest::Client, DealerError> {
    if !c.url.starts_with("https://") {
        return Err(DealerError::Config(format!(
            "url: {:?} is not an https:// URL",
            c.url
        )));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .https_only(true)
        .tls_version_min(reqwest::tls::Version::TLS_1_2)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("printwatch/", env!("CARGO_PKG_VERSION")));
    if !c.proxy.is_empty() {
        b = b.proxy(
            reqwest::Proxy::all(&c.proxy)
                .map_err(|e| DealerError::Config(format!("proxy: {:?}: {e}", c.proxy)))?,
        );
    }
    if let Some(path) = &c.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| DealerError::Config(format!("ca_file: {}: {e}", path.display())))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| DealerError::Config(format!("ca_file: {}: {e}", path.display())))?;
        b = b.tls_certs_only([cert]);
    }
    Ok(b.build()?)
}

/// The sender: a kameo actor that owns the HTTP client and the retry state.
pub struct DealerUplink {
    store: StoreReader,
    ingest: ActorRef<Ingestor>,
    client: reqwest::Client,
    url: String,
    backoff: Duration,
    max_backoff: Duration,
    retry_pending: bool,
}

/// What the sender starts with.
pub struct DealerArgs {
    /// Where batches wait.
    pub store: StoreReader,
    /// Who deletes a batch once it is delivered.
    pub ingest: ActorRef<Ingestor>,
    /// The endpoint's settings.
    pub config: DealerConfig,
    /// The client from [`client`].
    pub client: reqwest::Client,
}

impl Actor for DealerUplink {
    type Args = DealerArgs;
    type Error = kameo::error::Infallible;

    async fn on_start(a: DealerArgs, me: ActorRef<Self>) -> Result<Self, Self::Error> {
        // Whatever a previous run left in the outbox goes first.
        let _ = me.tell(Deliver).try_send();
        Ok(DealerUplink {
            store: a.store,
            ingest: a.ingest,
            client: a.client,
            url: a.config.url,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(a.config.max_backoff_seconds.max(1)),
            retry_pending: false,
        })
    }
}

/// Send what waits in the outbox.
#[derive(Debug, Clone, Copy)]
pub struct Deliver;

impl DealerUplink {
    async fn post(&self, key: &str, body: &Value) -> Result<(), DealerError> {
        let resp = self
            .client
            .post(&self.url)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await?;
        let status = resp.status();
        // 409: the endpoint has this key already, which is delivery too.
        if status.is_success() || status == reqwest::StatusCode::CONFLICT {
            Ok(())
        } else {
            Err(DealerError::Status(status))
        }
    }
}

impl Message<Deliver> for DealerUplink {
    type Reply = ();
    async fn handle(&mut self, _: Deliver, ctx: &mut Context<Self, ()>) {
        self.retry_pending = false;
        // Nothing is sent that is not yet on disk: a crash cannot take back a sent batch.
        let batches = match self
            .store
            .sync()
            .await
            .and_then(|()| self.store.pending_batches())
        {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("reading the dealer batches to send: {e}");
                return;
            }
        };
        for b in batches {
            match self.post(&b.key, &b.body).await {
                Ok(()) => {
                    if let Err(e) = self.ingest.ask(BatchDelivered(b.key.clone())).await {
                        let e = DealerError::Delete(e.to_string());
                        tracing::error!(batch = %b.key, "{e}");
                        return;
                    }
                    self.backoff = Duration::from_secs(1);
                }
                Err(e) => {
                    tracing::warn!(
                        batch = %b.key,
                        retry_in = ?self.backoff,
                        "the dealer did not take a batch: {e}"
                    );
                    if !self.retry_pending {
                        self.retry_pending = true;
                        let (me, wait) = (ctx.actor_ref().clone(), self.backoff);
                        tokio::spawn(async move {
                            tokio::time::sleep(wait).await;
                            let _ = me.tell(Deliver).await;
                        });
                    }
                    self.backoff = (self.backoff * 2).min(self.max_backoff);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_http_url_is_refused() {
        let c = DealerConfig {
            enabled: true,
            url: "http://dealer.example/api".into(),
            ..DealerConfig::default()
        };
        let e = client(&c).unwrap_err().to_string();
        assert!(e.contains("dealer.url"), "{e}");
    }
}
