//! Commands from the coordinator, handed to the actor that owns the job: targets and
//! cadences to the scheduler, sweeps to the sweeper. A host that does not resolve is
//! reported and the command dropped; nothing here can stop the collector.

use std::time::Duration;

use kameo::prelude::*;
use printwatch_proto::v1 as p;

use crate::scheduler::{AddTarget, PollNow, RemoveTarget, Scheduler, SetIntervals};
use crate::sweeper::{CancelSweeps, StartSweep, Sweeper};

/// Handles commands until the channel closes.
pub async fn dispatch(
    mut rx: tokio::sync::mpsc::Receiver<p::Command>,
    scheduler: ActorRef<Scheduler>,
    sweeper: ActorRef<Sweeper>,
) {
    use crate::target::resolve;
    while let Some(cmd) = rx.recv().await {
        let id = cmd.id;
        let result: anyhow::Result<()> = async {
            match cmd.body {
                Some(p::command::Body::AddTarget(t)) => {
                    let (addr, ipp) = crate::target::resolve_target(&t.host).await?;
                    let community = Some(t.community).filter(|c| !c.is_empty());
                    scheduler
                        .tell(AddTarget {
                            addr,
                            name: t.host,
                            community,
                            credential: None,
                            ipp,
                        })
                        .await?;
                }
                Some(p::command::Body::RemoveTarget(t)) => {
                    let addr = resolve(&t.host).await?;
                    scheduler.ask(RemoveTarget(addr)).await?;
                }
                Some(p::command::Body::PollNow(p)) => {
                    let mut addrs = Vec::new();
                    for h in &p.hosts {
                        addrs.push(resolve(h).await?);
                    }
                    scheduler.tell(PollNow(addrs)).await?;
                }
                Some(p::command::Body::Sweep(sweep)) => {
                    sweeper
                        .tell(StartSweep {
                            command_id: id,
                            sweep,
                        })
                        .await?;
                }
                Some(p::command::Body::CancelSweeps(_)) => {
                    sweeper.tell(CancelSweeps).await?;
                }
                Some(p::command::Body::Intervals(i)) => {
                    let secs = |s: u32| (s > 0).then(|| Duration::from_secs(u64::from(s)));
                    scheduler
                        .tell(SetIntervals {
                            status: secs(i.status_seconds),
                            meters: secs(i.meters_seconds),
                        })
                        .await?;
                }
                None => {}
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(command = id, "a command from the coordinator failed: {e:#}");
        }
    }
}
