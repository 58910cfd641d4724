//! The fleet benchmark's coordinator: the coordinator service, run from a configuration file.

#[global_allocator]
static ALLOCATOR: printwatch_coordinator::Allocator = printwatch_coordinator::Allocator;

fn main() -> anyhow::Result<()> {
    printwatch_benches::fleet::coordinator_node()
}
