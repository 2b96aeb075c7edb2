//! Pairing codes: 8 characters from an alphabet without look-alikes, valid for one hour.

use std::time::Duration;

use rand::rngs::OsRng;
use rand::RngCore;

/// The characters of a pairing code: no `I`, `O`, `0` or `1`, which are easy to misread.
pub const PAIRING_CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// The length of a pairing code.
pub const PAIRING_CODE_LEN: usize = 8;

/// How long a pairing request (and its code) stays valid.
pub const PAIRING_CODE_TTL: Duration = Duration::from_secs(60 * 60);

/// [`PAIRING_CODE_TTL`] in milliseconds, the unit of the store's times.
pub const PAIRING_CODE_TTL_MS: i64 = 60 * 60 * 1000;

/// A new random pairing code.
///
/// Uses [`OsRng`], the operating system's cryptographic random source (`getrandom`), so codes
/// cannot be predicted from earlier ones. The alphabet has exactly 32 characters, so taking the
/// low 5 bits of each random byte picks every character with equal probability (40 bits of
/// entropy per code). Panics only if the operating system has no random source at all.
pub fn generate_pairing_code() -> String {
    let mut bytes = [0u8; PAIRING_CODE_LEN];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| char::from(PAIRING_CODE_ALPHABET[usize::from(b & 0x1f)]))
        .collect()
}

/// Normalizes a code typed by a person: trimmed and uppercased (lookups are case-insensitive).
/// `None` if the result is not [`PAIRING_CODE_LEN`] characters of [`PAIRING_CODE_ALPHABET`],
/// so it cannot be a code.
pub fn normalize_pairing_code(input: &str) -> Option<String> {
    let code = input.trim().to_ascii_uppercase();
    let valid =
        code.len() == PAIRING_CODE_LEN && code.bytes().all(|b| PAIRING_CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_use_the_alphabet_and_length() {
        for _ in 0..200 {
            let code = generate_pairing_code();
            assert_eq!(code.len(), PAIRING_CODE_LEN);
            assert!(
                code.bytes().all(|b| PAIRING_CODE_ALPHABET.contains(&b)),
                "{code}"
            );
            assert_eq!(
                normalize_pairing_code(&code).as_deref(),
                Some(code.as_str())
            );
        }
    }

    #[test]
    fn codes_are_not_repeated() {
        let codes: HashSet<String> = (0..1000).map(|_| generate_pairing_code()).collect();
        assert_eq!(codes.len(), 1000);
    }

    #[test]
    fn every_character_can_appear() {
        let seen: HashSet<u8> = (0..400)
            .flat_map(|_| generate_pairing_code().into_bytes())
            .collect();
        assert_eq!(seen.len(), PAIRING_CODE_ALPHABET.len());
    }

    #[test]
    fn normalization_is_case_insensitive_and_rejects_non_codes() {
        assert_eq!(
            normalize_pairing_code(" abcd2345 ").as_deref(),
            Some("ABCD2345")
        );
        assert_eq!(normalize_pairing_code("ABCD234"), None);
        assert_eq!(normalize_pairing_code("ABCD2340"), None); // 0 is not in the alphabet
        assert_eq!(normalize_pairing_code("ABCDÉ345"), None);
    }

    #[test]
    fn ttl_constants_agree() {
        assert_eq!(
            i64::try_from(PAIRING_CODE_TTL.as_millis()).ok(),
            Some(PAIRING_CODE_TTL_MS)
        );
    }
}
