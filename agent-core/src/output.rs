//! Writing results to stdout the way Unix tools do: a closed pipe (`| head`) ends the
//! program quietly instead of panicking, which `println!` would do.

use std::io::Write;

/// Writes `text` and a newline to stdout and flushes. On a closed pipe the process exits
/// with status 0; on any other write error it exits with status 1 after saying why.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// The end of a command-line program: success, or `error: ...` with the chain of causes
/// on stderr and exit status 1 (never anyhow's Debug form, which prints a backtrace
/// whenever RUST_BACKTRACE is set).
pub fn finish(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
