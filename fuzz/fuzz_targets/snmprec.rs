//! Any recording text: the strict reader gives rows or an error, the lenient one rows and
//! errors, never a panic; the lenient one keeps every row the strict one accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let strict = agent_core::snmprec::parse(&text);
    let (rows, _errors) = agent_core::snmprec::parse_lenient(&text);
    if let Ok(all) = strict {
        assert_eq!(all.len(), rows.len());
    }
});
