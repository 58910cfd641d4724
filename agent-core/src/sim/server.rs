//! Serving simulated devices over UDP, each on its own address, with faults injected.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::Rng;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::agent::SimDevice;
use crate::message::{Message, Value};
use crate::oid::Oid;

/// What one simulated device has seen on the wire.
#[derive(Debug, Default)]
struct Wire {
    requests: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    gone: std::sync::atomic::AtomicBool,
}

/// Traffic at the simulated devices, summed: what any client (ours, net-snmp's) cost them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams received.
    pub requests: u64,
    /// Their UDP payload bytes.
    pub bytes_in: u64,
    /// UDP payload bytes sent back (duplicates and garbage included).
    pub bytes_out: u64,
}

/// A change to a running device.
enum Control {
    Set(Oid, Value),
    Community(Vec<u8>),
}

/// Running simulated devices. Dropping it stops them.
pub struct SimHandle {
    addrs: Vec<SocketAddr>,
    wire: Vec<Arc<Wire>>,
    controls: Vec<tokio::sync::mpsc::UnboundedSender<Control>>,
    tasks: Vec<JoinHandle<()>>,
}

impl SimHandle {
    /// The addresses served, in the order the devices were given.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Datagrams each device has received so far, in the same order: what a test checks
    /// to prove that an address was, or was not, asked.
    pub fn requests(&self) -> Vec<u64> {
        self.wire
            .iter()
            .map(|w| w.requests.load(Ordering::Relaxed))
            .collect()
    }

    /// Takes a device off the network (`true`: it answers nothing, as when switched off or
    /// unplugged) or puts it back, from its next request on.
    pub fn vanish(&self, device: usize, gone: bool) {
        if let Some(w) = self.wire.get(device) {
            w.gone.store(gone, Ordering::Relaxed);
        }
    }

    /// Everything the devices received and sent so far: benchmarks take the difference
    /// across a phase to cost a client by what reached the printers.
    pub fn traffic(&self) -> Traffic {
        self.wire.iter().fold(Traffic::default(), |t, w| Traffic {
            requests: t.requests + w.requests.load(Ordering::Relaxed),
            bytes_in: t.bytes_in + w.bytes_in.load(Ordering::Relaxed),
            bytes_out: t.bytes_out + w.bytes_out.load(Ordering::Relaxed),
        })
    }

    /// Changes a value a device serves, from its next reply on: how a test drains a toner
    /// to its reorder point, refills it or opens a door. `device` is the index in the order
    /// given to [`serve`]; an unknown index does nothing.
    pub fn set(&self, device: usize, oid: Oid, value: Value) {
        if let Some(c) = self.controls.get(device) {
            let _ = c.send(Control::Set(oid, value));
        }
    }

    /// Changes the community a device answers to, from its next request on: an
    /// administrator rotating it, which a collector must notice and get past.
    pub fn set_community(&self, device: usize, community: &[u8]) {
        if let Some(c) = self.controls.get(device) {
            let _ = c.send(Control::Community(community.to_vec()));
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds each device to its address and answers until the handle is dropped. Binding
/// `127.x.y.z:0` picks a free port; the handle says which.
pub async fn serve(devices: Vec<(SocketAddr, SimDevice)>) -> std::io::Result<SimHandle> {
    let mut addrs = Vec::with_capacity(devices.len());
    let mut tasks = Vec::with_capacity(devices.len());
    let mut wire = Vec::with_capacity(devices.len());
    let mut controls = Vec::with_capacity(devices.len());
    for (addr, device) in devices {
        let socket = Arc::new(UdpSocket::bind(addr).await?);
        addrs.push(socket.local_addr()?);
        let counter = Arc::new(Wire::default());
        wire.push(counter.clone());
        let (control, changes) = tokio::sync::mpsc::unbounded_channel();
        controls.push(control);
        tasks.push(tokio::spawn(run(socket, device, counter, changes)));
    }
    Ok(SimHandle {
        addrs,
        wire,
        controls,
        tasks,
    })
}

async fn run(
    socket: Arc<UdpSocket>,
    mut device: SimDevice,
    wire: Arc<Wire>,
    mut changes: tokio::sync::mpsc::UnboundedReceiver<Control>,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        wire.requests.fetch_add(1, Ordering::Relaxed);
        wire.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
        if let Some(drain) = &device.synthetic {
            drain.apply(&mut device.view, Instant::now());
        }
        while let Ok(change) = changes.try_recv() {
            match change {
                Control::Set(oid, value) => {
                    device.view.insert(oid, value);
                }
                Control::Community(c) => device.community = c,
            }
        }
        let reply = if crate::v3::peek_version(&buf[..len]) == Some(3) {
            let Some(usm) = &device.v3 else { continue };
            usm.respond(&buf[..len], |pdu| device.respond_v3(pdu))
        } else {
            Message::decode(&buf[..len])
                .ok()
                .and_then(|req| device.respond(&req))
                .map(|r| r.encode())
        };
        let Some(reply) = reply else {
            continue;
        };
        let faults = device.faults.clone();
        if faults.silent || wire.gone.load(Ordering::Relaxed) {
            continue;
        }
        let (lost, garbage, junk) = {
            let mut rng = rand::rng();
            let lost = faults.loss > 0.0 && rng.random_bool(faults.loss.clamp(0.0, 1.0));
            let garbage = faults.garbage > 0.0 && rng.random_bool(faults.garbage.clamp(0.0, 1.0));
            let junk: Vec<u8> = (0..rng.random_range(1..200))
                .map(|_| rng.random())
                .collect();
            (lost, garbage, junk)
        };
        if lost {
            continue;
        }
        let bytes = if garbage { junk } else { reply };
        device.replies += 1;
        let delayed =
            !faults.delay.is_zero() && faults.delay_count.is_none_or(|n| device.replies <= n);
        let copies = 1 + faults.duplicates;
        wire.bytes_out
            .fetch_add(bytes.len() as u64 * u64::from(copies), Ordering::Relaxed);
        if delayed {
            let socket = socket.clone();
            let delay = faults.delay;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                for _ in 0..copies {
                    let _ = socket.send_to(&bytes, from).await;
                }
            });
        } else {
            for _ in 0..copies {
                let _ = socket.send_to(&bytes, from).await;
            }
        }
    }
}
