//! Processes a test starts: a guard that kills and reaps one when dropped (a failing test
//! leaves nothing running), and printwatch's services run from their real binaries, their
//! output in a log file that the test waits on and shows when something goes wrong.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One of printwatch's programs running: its output (stdout and stderr) appended to a log
/// file, killed when dropped.
pub struct Process {
    child: Kill,
    log: PathBuf,
    name: String,
}

/// How often a line occurs in a log file (0 when there is none yet).
fn occurrences(log: &Path, line: &str) -> usize {
    std::fs::read_to_string(log).map_or(0, |text| text.matches(line).count())
}

/// Writes `dir/coordinator.toml` for a coordinator of the fleet whose certificates are in
/// `dir` (`printwatch certs init`), its database in `dir/db`, listening on `listen`, with
/// `extra` TOML after the top-level keys; returns the file.
pub fn coordinator_config(
    dir: &std::path::Path,
    listen: std::net::SocketAddr,
    extra: &str,
) -> std::path::PathBuf {
    let config = dir.join("coordinator.toml");
    let text = format!(
        "listen = \"{listen}\"\ndata_dir = \"{}\"\ncache_mb = 8\n{extra}\n[tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        dir.join("db").display(),
        dir.join("ca.pem").display(),
        dir.join("coordinator.pem").display(),
        dir.join("coordinator.key").display()
    );
    std::fs::write(&config, text).unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
    config
}

impl Process {
    /// Starts `cmd` with its output appended to `log`, and waits (up to 30 s) until the
    /// log holds one more `ready` line than before: the program says it is ready.
    pub fn start(name: &str, mut cmd: Command, log: &Path, ready: &str) -> Process {
        let before = occurrences(log, ready);
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()))
        };
        let child = cmd
            .stdout(Stdio::from(open()))
            .stderr(Stdio::from(open()))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let p = Process {
            child: Kill(child),
            log: log.to_path_buf(),
            name: name.to_string(),
        };
        p.wait_for(ready, before + 1);
        p
    }

    /// `printwatch-collector run --config CONFIG`, with `env` set, its log beside the
    /// configuration; started when it says it runs (its stop handlers are in place).
    pub fn collector(config: &Path, env: &[(&str, &str)]) -> Process {
        let mut cmd = Command::new(crate::binary("printwatch-collector"));
        cmd.args(["run", "--config"]).arg(config);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Process::start(
            "printwatch-collector",
            cmd,
            &config.with_extension("log"),
            // `printwatch_collector::agent::RUNNING`: this library depends on no service.
            "printwatch-collector running",
        )
    }

    /// `printwatch-coordinator --config CONFIG`, its log beside the configuration;
    /// started when it says it listens.
    pub fn coordinator(config: &Path) -> Process {
        let mut cmd = Command::new(crate::binary("printwatch-coordinator"));
        cmd.arg("--config").arg(config);
        Process::start(
            "printwatch-coordinator",
            cmd,
            &config.with_extension("log"),
            // `printwatch_coordinator::service::SERVING`.
            "printwatch-coordinator serving",
        )
    }

    /// Waits (up to 30 s) until the log holds `line` at least `times` times.
    pub fn wait_for(&self, line: &str, times: usize) {
        let said = crate::wait::poll_blocking(30, || occurrences(&self.log, line) >= times);
        assert!(
            said,
            "timed out waiting for {} to say {line:?}; its log:\n{}",
            self.name,
            self.log_text()
        );
    }

    /// What it has written so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Kills it at once (SIGKILL), as a crash would, and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }

    /// Waits (up to `secs`) until it exits by itself; returns how.
    pub fn exited(mut self, secs: u64) -> std::process::ExitStatus {
        self.wait_exit(secs, "exit by itself")
    }

    /// Waits (up to `secs`) for the process to end; `what` says what was waited for.
    fn wait_exit(&mut self, secs: u64, what: &str) -> std::process::ExitStatus {
        let mut status = None;
        let child = &mut self.child.0;
        let waited = crate::wait::poll_blocking(secs, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        match status {
            Some(s) if waited => s,
            _ => panic!(
                "{} did not {what} within {secs} s; its log:\n{}",
                self.name,
                self.log_text()
            ),
        }
    }

    /// Asks it to stop (SIGINT) and waits (up to 20 s) until it has exited; returns how
    /// it exited.
    pub fn interrupt(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status();
        self.wait_exit(20, "stop on SIGINT")
    }
}
