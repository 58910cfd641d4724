//! Stop requests: SIGINT (Ctrl-C) and SIGTERM (systemd, `kill`).
//!
//! The handlers are installed when [`StopSignals::install`] is called, not when the future
//! is first polled: a signal that arrives during start-up is then caught rather than lost.
//! That matters where the process inherits SIGINT as ignored (a background job of a
//! non-interactive shell, as in CI): an early Ctrl-C would otherwise be dropped silently.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Installed stop-signal handlers.
pub struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Installs the handlers now.
    pub fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Completes at the first SIGINT or SIGTERM since `install`.
    pub async fn recv(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
