//! The webhook handler's input: `X-Spark-Signature` verification and envelope parsing.
//!
//! Input layout: byte 0 = length of the signature header (taken from the following bytes), the
//! rest is the request body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moltbot_webex::webhook::envelope::Envelope;
use moltbot_webex::webhook::signature;

const SECRET: &str = "fuzz-webhook-secret";

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.split_first() {
        Some((&n, rest)) => rest.split_at(usize::from(n).min(rest.len())),
        None => (&data[..0], data),
    };
    // Arbitrary headers never panic, and only the right signature passes.
    let verdict = signature::verify(SECRET, body, Some(header));
    let good = signature::sign(SECRET, body);
    if verdict.is_ok() {
        let text = std::str::from_utf8(header).expect("accepted header is UTF-8");
        assert_eq!(
            text.trim().to_ascii_lowercase(),
            good,
            "a wrong signature was accepted"
        );
    }
    assert!(signature::verify(SECRET, body, None).is_err());
    assert!(signature::verify(SECRET, body, Some(good.as_bytes())).is_ok());
    assert!(signature::verify(SECRET, body, Some(good.to_uppercase().as_bytes())).is_ok());

    // The body as the handler parses it.
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        let _ = envelope.kind();
        let _ = envelope.data_id();
        let _ = envelope.data_created_ms();
    }
});
