//! `X-Spark-Signature`: lowercase hex HMAC-SHA1 of the raw request body, keyed with the
//! webhook's secret.
//!
//! See <https://developer.webex.com/docs/webhooks> ("Handling Requests from Webex"): Webex signs
//! the exact bytes it posts, so the check must run on the raw body before any parsing.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The header Webex puts the signature in.
pub const SIGNATURE_HEADER: &str = "x-spark-signature";

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `X-Spark-Signature` header.
    #[error("missing X-Spark-Signature")]
    Missing,
    /// The header is not hex, has the wrong length, or does not match the body.
    #[error("invalid X-Spark-Signature")]
    Invalid,
}

/// The signature Webex sends for `body` with `secret` (lowercase hex).
pub fn sign(secret: &str, body: &[u8]) -> String {
    match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC accepts keys of any length; this arm is unreachable in practice.
        Err(_) => String::new(),
    }
}

/// Checks `header` (the `X-Spark-Signature` value, if any) against `body`, in constant time.
pub fn verify(secret: &str, body: &[u8], header: Option<&[u8]>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let text = std::str::from_utf8(header).map_err(|_| SignatureError::Invalid)?;
    let expected = hex::decode(text.trim()).map_err(|_| SignatureError::Invalid)?;
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Invalid)?;
    mac.update(body);
    // `verify_slice` compares in constant time and rejects a wrong length.
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // RFC 2202 test case 2 (HMAC-SHA1, key "Jefe").
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn accepts_its_own_signature() {
        let sig = sign("s3cret", b"{\"a\":1}");
        assert_eq!(verify("s3cret", b"{\"a\":1}", Some(sig.as_bytes())), Ok(()));
    }

    #[test]
    fn missing_header() {
        assert_eq!(verify("s", b"x", None), Err(SignatureError::Missing));
    }

    #[test]
    fn refuses_wrong_secret_body_or_encoding() {
        let sig = sign("s3cret", b"body");
        assert_eq!(
            verify("other", b"body", Some(sig.as_bytes())),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify("s3cret", b"body ", Some(sig.as_bytes())),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify("s3cret", b"body", Some(b"not hex")),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify("s3cret", b"body", Some(&sig.as_bytes()[..10])),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify("s3cret", b"body", Some(&[0xff, 0xfe])),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify("s3cret", b"body", Some(b"")),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn uppercase_hex_is_the_same_signature() {
        let sig = sign("k", b"b").to_uppercase();
        assert_eq!(verify("k", b"b", Some(sig.as_bytes())), Ok(()));
    }
}
