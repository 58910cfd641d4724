//! Any bytes as a printer's IPP answer: the decoder gives a response or an error, and what
//! decodes becomes a reading within its bounds, without a panic.
#![no_main]

use agent_core::ipp::{message, reading};
use agent_core::model::bounds;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(answer) = message::decode(data) else {
        return;
    };
    let r = reading::reading(&answer.printer, "ipp://fuzz/ipp/print");
    assert!(r.supplies.len() <= bounds::SUPPLIES && r.meters.len() <= bounds::METERS);
    assert!(r.supplies.iter().all(|s| s.percent.is_none_or(|p| p <= 100)));
    let _ = reading::uuid(&answer.printer);
});
