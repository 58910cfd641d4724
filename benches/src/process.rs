//! What a process costs, read from /proc: CPU seconds and peak resident memory. The fleet
//! benchmark runs the collector and the coordinator as processes of their own so that each
//! is costed alone.

/// A process's CPU time and its resident memory's high-water mark.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User plus system CPU seconds.
    pub cpu_seconds: f64,
    /// Peak resident set (VmHWM), in MiB.
    pub peak_mib: f64,
}

/// Clock ticks per second of /proc's times (USER_HZ: 100 on Linux everywhere we run).
const TICKS: f64 = 100.0;

/// The fields of /proc/PID/stat after the command name, which may itself hold spaces.
fn stat_fields(pid: &str) -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(
        rest.split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// The usage of a running process, or `None` once it is gone.
pub fn usage(pid: u32) -> Option<Usage> {
    let f = stat_fields(&pid.to_string())?;
    // After the state: ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime.
    let cpu = (*f.get(10)? + *f.get(11)?) as f64 / TICKS;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(Usage {
        cpu_seconds: cpu,
        peak_mib: kib / 1024.0,
    })
}

/// CPU seconds of this process's children that have ended and been waited for: what a
/// batch of short-lived tools (net-snmp's) cost.
pub fn children_cpu_seconds() -> f64 {
    stat_fields("self")
        .and_then(|f| Some((*f.get(12)? + *f.get(13)?) as f64 / TICKS))
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_and_memory() {
        let spin: u64 = (0..20_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert!(spin > 0);
        let u = usage(std::process::id()).unwrap();
        assert!(u.cpu_seconds > 0.0, "{u:?}");
        assert!(u.peak_mib > 1.0, "{u:?}");
        assert_eq!(usage(u32::MAX), None);
    }
}
