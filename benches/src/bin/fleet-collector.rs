//! The fleet benchmark's collector: the collector service, run from a configuration file.

fn main() -> anyhow::Result<()> {
    printwatch_benches::fleet::collector_node()
}
