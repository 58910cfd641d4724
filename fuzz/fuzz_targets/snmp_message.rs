//! Any datagram: decoding gives a message or an error, never a panic; a message that
//! decodes encodes again and decodes to the same message.
#![no_main]

use agent_core::message::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let again = Message::decode(&m.encode()).expect("what we encode, we decode");
        assert_eq!(again, m);
    }
});
