//! The registry of connected collectors: a kameo actor that owns, for each site, the
//! outbound half of its collector's stream, and numbers the commands sent down it.
//!
//! The fleet service asks it to deliver a command to a site; the collector service tells it
//! when a collector connects and disconnects. No lock is shared: the senders live here.

use std::collections::HashMap;

use kameo::prelude::*;
use printwatch_proto::v1 as p;
use tokio::sync::mpsc;

/// The outbound half of a collector's stream.
pub type Outbound = mpsc::Sender<Result<p::CoordinatorMessage, tonic::Status>>;

/// The registry's state.
#[derive(Default)]
pub struct Registry {
    collectors: HashMap<String, (u64, Outbound)>,
    next_command: u64,
    next_connection: u64,
}

impl Actor for Registry {
    type Args = ();
    type Error = kameo::error::Infallible;

    async fn on_start(_: (), _: ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(Registry::default())
    }
}

/// A collector connected: commands for `site` go to `outbound`. Replies with a connection
/// number, so a stale disconnect cannot remove a newer connection.
pub struct Connected {
    /// The site, from the collector's certificate.
    pub site: String,
    /// Its stream's outbound half.
    pub outbound: Outbound,
}

impl Message<Connected> for Registry {
    type Reply = u64;
    async fn handle(&mut self, m: Connected, _: &mut Context<Self, u64>) -> u64 {
        self.next_connection += 1;
        self.collectors
            .insert(m.site, (self.next_connection, m.outbound));
        self.next_connection
    }
}

/// A collector's stream ended.
pub struct Disconnected {
    /// The site.
    pub site: String,
    /// The number `Connected` gave.
    pub connection: u64,
}

impl Message<Disconnected> for Registry {
    type Reply = ();
    async fn handle(&mut self, m: Disconnected, _: &mut Context<Self, ()>) {
        if self
            .collectors
            .get(&m.site)
            .is_some_and(|(n, _)| *n == m.connection)
        {
            self.collectors.remove(&m.site);
        }
    }
}

/// Send a command to a site's collector. Replies with the command's number, or why it
/// could not be sent.
pub struct Deliver {
    /// The site.
    pub site: String,
    /// What to do.
    pub body: p::command::Body,
}

impl Message<Deliver> for Registry {
    type Reply = Result<u64, String>;
    async fn handle(&mut self, m: Deliver, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let Some((_, outbound)) = self.collectors.get(&m.site) else {
            let mut known: Vec<&String> = self.collectors.keys().collect();
            known.sort();
            return Err(format!(
                "no collector for site {:?} is connected (connected: {known:?})",
                m.site
            ));
        };
        self.next_command += 1;
        let id = self.next_command;
        let msg = p::CoordinatorMessage {
            body: Some(p::coordinator_message::Body::Command(p::Command {
                id,
                body: Some(m.body),
            })),
        };
        outbound.try_send(Ok(msg)).map_err(|e| {
            format!(
                "the collector for site {:?} is not taking commands: {e}",
                m.site
            )
        })?;
        Ok(id)
    }
}

/// The sites with a connected collector.
pub struct Sites;

impl Message<Sites> for Registry {
    type Reply = Vec<String>;
    async fn handle(&mut self, _: Sites, _: &mut Context<Self, Vec<String>>) -> Vec<String> {
        let mut v: Vec<String> = self.collectors.keys().cloned().collect();
        v.sort();
        v
    }
}
