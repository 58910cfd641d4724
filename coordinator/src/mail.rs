//! E-mail: a mail to a site's contacts when an alert opens and when it closes, and a daily
//! digest of what is open and what runs low.
//!
//! Mails wait in the store's durable outbox, queued in the same write as the alert, so a
//! crash between an alert and its mail loses neither. The mailer (a kameo actor owning the
//! SMTP transport) sends them oldest first and, once the server accepted one, asks ingest
//! (the store's one writer) to delete it; while the server is down it backs off and tries
//! again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use kameo::prelude::*;
use lettre::message::{Mailbox, Message as Mail};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::ingest::{Ingestor, MailSent};
use crate::policy::Policy;
use crate::store::alerts::AlertRecord;
use crate::store::outboxes::MailJob;
use crate::store::StoreReader;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain SMTP (a relay on the same host or network only).
    None,
    /// STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// The SMTP server and the sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// False: no mail at all.
    pub enabled: bool,
    /// The SMTP server's host name.
    pub server: String,
    /// Its port.
    pub port: u16,
    /// none, starttls or tls.
    pub security: Security,
    /// Login name; empty: no login.
    pub username: String,
    /// Password for the login.
    pub password: String,
    /// Allows a login over a connection without TLS (`security = "none"`), which sends the
    /// password in clear: only for a relay on the same host.
    pub allow_plaintext_login: bool,
    /// The From address.
    pub from: String,
    /// A CA certificate (PEM) to trust for the server instead of the public roots.
    pub ca_file: Option<PathBuf>,
    /// When the daily digest goes out, `HH:MM` in UTC.
    pub digest_at: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            enabled: false,
            server: "localhost".into(),
            port: 587,
            security: Security::Starttls,
            username: String::new(),
            password: String::new(),
            allow_plaintext_login: false,
            from: "printwatch@localhost".into(),
            ca_file: None,
            digest_at: "07:00".into(),
        }
    }
}

/// Why mail cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A setting that cannot work.
    #[error("mail.{0}")]
    Config(String),
    /// The SMTP conversation failed.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// A message could not be built (a bad address).
    #[error("composing: {0}")]
    Compose(String),
}

/// The SMTP transport for a configuration.
pub fn transport(c: &MailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    c.from
        .parse::<Mailbox>()
        .map_err(|e| MailError::Config(format!("from: {:?}: {e}", c.from)))?;
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.server.clone())
        .port(c.port)
        .timeout(Some(Duration::from_secs(30)));
    if c.security != Security::None {
        let mut tls = TlsParameters::builder(c.server.clone());
        if let Some(path) = &c.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| MailError::Config(format!("ca_file: {}: {e}", path.display())))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| MailError::Config(format!("ca_file: {}: {e}", path.display())))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls.build_rustls()?;
        b = b.tls(match c.security {
            Security::Tls => Tls::Wrapper(tls),
            _ => Tls::Required(tls),
        });
    }
    if !c.username.is_empty() && c.security == Security::None && !c.allow_plaintext_login {
        return Err(MailError::Config(
            "username: a login over a connection without TLS sends the password in clear; \
             set security = \"starttls\" or \"tls\", or allow_plaintext_login = true for a \
             relay on this host"
                .into(),
        ));
    }
    if !c.username.is_empty() {
        b = b.credentials(Credentials::new(c.username.clone(), c.password.clone()));
    }
    Ok(b.build())
}

/// The subject and body of an alert's mail: the printer, site, supply, level, part number
/// and days left.
pub fn alert_mail(job: &MailJob) -> (String, String) {
    let a = &job.alert;
    let state = if job.opened { "OPEN" } else { "CLOSED" };
    let what = a.kind.name().replace('_', " ");
    let subject = format!("[printwatch] {state}: {what}: {} at {}", a.printer, a.site);
    let mut body = format!(
        "{}\n\nPrinter:   {}\nSite:      {}\nAlert:     {} ({})\n",
        a.detail, a.printer, a.site, what, a.id
    );
    if let Some(s) = &a.supply {
        body.push_str(&format!("Supply:    {}\n", s.description));
        let level = s
            .percent
            .map_or_else(|| "unknown".to_string(), |p| format!("{p} %"));
        body.push_str(&format!("Level:     {level}\n"));
        body.push_str(&format!(
            "Part:      {}\n",
            s.part_number
                .as_deref()
                .unwrap_or("not given by the printer")
        ));
        body.push_str(&format!(
            "Days left: {}\n",
            crate::policy::forecast::days_text(a.days_left)
        ));
    }
    body.push_str(&format!("Opened:    {}\n", a.opened_at));
    if let Some(c) = a.closed_at {
        body.push_str(&format!("Closed:    {c}\n"));
    }
    (subject, body)
}

/// A site's daily digest: its open alerts, and its supplies at or under their reorder
/// point with their forecasts.
pub fn digest_mail(site: &str, open: &[AlertRecord], low: &[(String, String)]) -> (String, String) {
    let subject = format!(
        "[printwatch] daily digest for {site}: {} open alerts, {} supplies low",
        open.len(),
        low.len()
    );
    let mut body = format!("Open alerts at {site}:\n");
    if open.is_empty() {
        body.push_str("  none\n");
    }
    for a in open {
        body.push_str(&format!(
            "  {} {} since {}: {} ({})\n",
            a.id,
            a.printer,
            a.opened_at,
            a.detail,
            a.kind.name()
        ));
    }
    body.push_str("\nSupplies at or under their reorder point:\n");
    if low.is_empty() {
        body.push_str("  none\n");
    }
    for (printer, line) in low {
        body.push_str(&format!("  {printer}: {line}\n"));
    }
    (subject, body)
}

/// The mailer: owns the transport and the contacts; sends what the outbox holds.
pub struct Mailer {
    store: StoreReader,
    ingest: ActorRef<Ingestor>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    contacts: BTreeMap<String, Vec<String>>,
    policy: Policy,
    backoff: Duration,
    retry_pending: bool,
}

/// What the mailer starts with.
pub struct MailerArgs {
    /// Where mails wait.
    pub store: StoreReader,
    /// Who deletes a mail once it is sent.
    pub ingest: ActorRef<Ingestor>,
    /// The server and sender.
    pub config: MailConfig,
    /// Each site's contacts.
    pub contacts: BTreeMap<String, Vec<String>>,
    /// The reorder points, for the digest's low supplies.
    pub policy: Policy,
}

impl Actor for Mailer {
    type Args = MailerArgs;
    type Error = MailError;

    async fn on_start(a: MailerArgs, me: ActorRef<Self>) -> Result<Self, MailError> {
        let transport = transport(&a.config)?;
        let from = a
            .config
            .from
            .parse()
            .map_err(|e| MailError::Config(format!("from: {e}")))?;
        let _ = me.tell(SendPending).try_send();
        Ok(Mailer {
            store: a.store,
            ingest: a.ingest,
            transport,
            from,
            contacts: a.contacts,
            policy: a.policy,
            backoff: Duration::from_secs(1),
            retry_pending: false,
        })
    }
}

impl Mailer {
    async fn send(&self, site: &str, subject: String, body: String) -> Result<(), MailError> {
        let Some(to) = self.contacts.get(site).filter(|c| !c.is_empty()) else {
            return Ok(());
        };
        let mut m = Mail::builder().from(self.from.clone()).subject(subject);
        for addr in to {
            m = m.to(addr
                .parse()
                .map_err(|e| MailError::Compose(format!("{addr:?}: {e}")))?);
        }
        let mail = m
            .body(body)
            .map_err(|e| MailError::Compose(e.to_string()))?;
        self.transport.send(mail).await?;
        Ok(())
    }

    fn retry(&mut self, me: ActorRef<Self>) {
        if !self.retry_pending {
            self.retry_pending = true;
            let wait = self.backoff;
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                let _ = me.tell(SendPending).await;
            });
        }
        self.backoff = (self.backoff * 2).min(Duration::from_secs(600));
    }
}

/// Send the mails waiting in the outbox.
#[derive(Debug, Clone, Copy)]
pub struct SendPending;

impl Message<SendPending> for Mailer {
    type Reply = ();
    async fn handle(&mut self, _: SendPending, ctx: &mut Context<Self, ()>) {
        self.retry_pending = false;
        let jobs = match self
            .store
            .sync()
            .await
            .and_then(|()| self.store.pending_mail())
        {
            Ok(j) => j,
            Err(e) => {
                tracing::error!("reading the mail to send: {e}");
                return;
            }
        };
        for job in jobs {
            let key = job.key();
            let (subject, body) = alert_mail(&job);
            match self.send(&job.alert.site, subject, body).await {
                Ok(()) => {
                    if let Err(e) = self.ingest.ask(MailSent(key.clone())).await {
                        tracing::error!(mail = %key, "marking a mail sent: {e}");
                        return;
                    }
                    self.backoff = Duration::from_secs(1);
                }
                Err(MailError::Compose(e)) => {
                    // A bad contact address never gets better: drop the mail, say why.
                    tracing::error!(mail = %key, "a mail is dropped: {e}");
                    let _ = self.ingest.ask(MailSent(key)).await;
                }
                Err(e) => {
                    tracing::warn!(retry_in = ?self.backoff, "sending mail failed: {e}");
                    self.retry(ctx.actor_ref().clone());
                    return;
                }
            }
        }
    }
}

/// Send each site its daily digest now.
#[derive(Debug, Clone, Copy)]
pub struct SendDigest;

impl Message<SendDigest> for Mailer {
    type Reply = Result<usize, String>;
    async fn handle(&mut self, _: SendDigest, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let open = self.store.alerts(false).map_err(|e| e.to_string())?;
        let supplies = crate::queries::supply_rows(&self.store, &self.policy, true, "")
            .map_err(|e| e.to_string())?;
        let mut sent = 0;
        let sites: Vec<String> = self.contacts.keys().cloned().collect();
        for site in sites {
            let mine: Vec<AlertRecord> = open.iter().filter(|a| a.site == site).cloned().collect();
            let low: Vec<(String, String)> = supplies
                .iter()
                .filter(|r| r.site == site)
                .map(|r| (r.printer.clone(), r.line.clone()))
                .collect();
            let (subject, body) = digest_mail(&site, &mine, &low);
            self.send(&site, subject, body)
                .await
                .map_err(|e| e.to_string())?;
            sent += 1;
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::alerts::{AlertKind, SupplyRef};
    use crate::timestamp::Timestamp;

    #[test]
    fn an_alert_mail_names_printer_site_supply_level_part_and_days_left() {
        let job = MailJob {
            opened: true,
            alert: AlertRecord {
                id: "A7".into(),
                key: "k".into(),
                kind: AlertKind::SupplyLow,
                device_id: "sn:X1".into(),
                site: "hq".into(),
                printer: "M404 (SN X1)".into(),
                detail: "Black Toner at 14 % (reorder at 15 %)".into(),
                supply: Some(SupplyRef {
                    at: "1.1".into(),
                    description: "Black Toner".into(),
                    part_number: Some("CF259A".into()),
                    kind: "toner".into(),
                    color: Some("black".into()),
                    percent: Some(14),
                }),
                days_left: Some(6.4),
                opened_at: Timestamp::parse("2026-11-21T10:00:00Z").expect("a time"),
                closed_at: None,
            },
        };
        let (subject, body) = alert_mail(&job);
        assert!(
            subject.contains("OPEN") && subject.contains("M404 (SN X1)") && subject.contains("hq")
        );
        for want in ["Black Toner", "14 %", "CF259A", "Days left: 6", "A7"] {
            assert!(body.contains(want), "{want} missing from {body}");
        }
    }

    #[test]
    fn a_bad_sender_is_a_clear_error() {
        let c = MailConfig {
            from: "not an address".into(),
            ..MailConfig::default()
        };
        let e = transport(&c).unwrap_err().to_string();
        assert!(e.starts_with("mail.from"), "{e}");
    }

    #[tokio::test]
    async fn a_login_without_tls_is_refused_unless_allowed() {
        let c = MailConfig {
            security: Security::None,
            username: "printwatch".into(),
            password: "secret".into(),
            ..MailConfig::default()
        };
        let e = transport(&c).unwrap_err().to_string();
        assert!(
            e.starts_with("mail.username") && e.contains("in clear"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
        let allowed = MailConfig {
            allow_plaintext_login: true,
            ..c
        };
        assert!(transport(&allowed).is_ok());
    }
}
