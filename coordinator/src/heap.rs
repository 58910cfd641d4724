//! The coordinator's heap. Ingest allocates and frees many short-lived buffers (sled's node
//! copies, each reading's strings); with glibc's allocator that was four tenths of the
//! store's time, with mimalloc far less. Measured in the fleet benchmark at 10,000
//! printers: glibc (one arena) peaked at 135 MiB but spent 63 µs of CPU per stored
//! reading, 7.3 times sled's own write; mimalloc as it comes spent 41 µs (5.9 times) and
//! peaked at 210 MiB, most of it memory it had freed and kept. [`tune`] tells mimalloc to
//! commit its arenas as they are used rather than all at once, and to give back freed
//! memory at once: 148 to 158 MiB, at 40 to 46 µs (5.0 to 5.3 times).

/// The allocator the coordinator's binaries run with (see the module). The
/// `system-allocator` feature puts glibc's back, for heap profilers (heaptrack, massif)
/// that see only malloc: `--features printwatch-coordinator/system-allocator`.
#[cfg(not(feature = "system-allocator"))]
pub use mimalloc::MiMalloc as Allocator;
/// The allocator the coordinator's binaries run with: glibc's, for a heap profiler.
#[cfg(feature = "system-allocator")]
pub use std::alloc::System as Allocator;

/// mimalloc's `arena_eager_commit` (mimalloc.h, v3): 0 commits an arena's memory as it is
/// used. The crate's bindings name only some of the options, so the number is mimalloc's.
#[cfg(not(feature = "system-allocator"))]
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
/// mimalloc's `purge_delay`: how long freed memory is kept before it is given back (ms).
#[cfg(not(feature = "system-allocator"))]
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes [`Allocator`] a binary's global allocator, with [`tune`] run as the program is
/// loaded: mimalloc sets up its first arena at the first allocation, which the Rust
/// runtime makes before `main`, so set in `main` the options came too late (measured:
/// 196 MiB, as untuned). An entry in `.init_array` runs before that. Each binary says
/// `printwatch_coordinator::tuned_heap!();` once; it must be in the binary itself, where
/// the linker keeps it.
#[macro_export]
macro_rules! tuned_heap {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::heap::Allocator = $crate::heap::Allocator;

        #[cfg(target_os = "linux")]
        #[used]
        #[unsafe(link_section = ".init_array")]
        static TUNE_HEAP_AT_LOAD: extern "C" fn() = {
            extern "C" fn tune_heap_at_load() {
                $crate::heap::tune();
            }
            tune_heap_at_load
        };
    };
}

/// Sets the allocator's options (see the module), through [`tuned_heap`] before the first
/// allocation. They replace MIMALLOC_ARENA_EAGER_COMMIT and MIMALLOC_PURGE_DELAY from the
/// environment. With glibc's allocator (a profile) it does nothing: MALLOC_ARENA_MAX in
/// the environment sets glibc's arenas.
pub fn tune() {
    #[cfg(not(feature = "system-allocator"))]
    // SAFETY: mi_option_set only stores an option's value, which mimalloc reads when it
    // next needs it; it touches no memory of ours.
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}
