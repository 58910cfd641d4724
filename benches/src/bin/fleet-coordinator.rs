//! The fleet benchmark's coordinator: the coordinator service, run from a configuration file.

printwatch_coordinator::tuned_heap!();

fn main() -> anyhow::Result<()> {
    printwatch_benches::fleet::coordinator_node()
}
