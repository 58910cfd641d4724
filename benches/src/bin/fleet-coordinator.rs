//! The fleet benchmark's coordinator: the coordinator service, run from a configuration file.

fn main() -> anyhow::Result<()> {
    printwatch_benches::fleet::coordinator_node()
}
