//! The ingest side: a kameo actor that is the store's one writer. Collector streams ask it
//! to store each reading and acknowledge only when it answers, by which time the reading is
//! on disk.

use agent_core::model::Reading;
use kameo::prelude::*;

use crate::store::{Ingested, Store};

/// The ingest actor's state: the store it writes.
pub struct Ingestor {
    store: Store,
}

impl Actor for Ingestor {
    type Args = Store;
    type Error = kameo::error::Infallible;

    async fn on_start(store: Store, _: ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(Ingestor { store })
    }
}

/// Store a reading a collector sent under a sequence number.
pub struct Ingest {
    /// The collector (its certificate's name).
    pub collector: String,
    /// Its site.
    pub site: String,
    /// The envelope's sequence number.
    pub seq: u64,
    /// What it read.
    pub reading: Reading,
}

impl Message<Ingest> for Ingestor {
    type Reply = Result<Ingested, String>;
    async fn handle(&mut self, m: Ingest, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        self.store
            .ingest(&m.collector, &m.site, m.seq, &m.reading)
            .await
            .map_err(|e| e.to_string())
    }
}
