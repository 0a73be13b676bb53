//! RFC 6238 TOTP (HMAC-SHA1, 30 s steps, 6 digits): what an authenticator app computes, and
//! the check the fake pool makes (one step of clock skew either way).

use hmac::{Hmac, Mac};
use sha1::Sha1;

const STEP_SECONDS: i64 = 30;

/// The 6-digit code for `secret` at Unix time `at`.
pub fn code(secret: &[u8], at: i64) -> String {
    code_digits(secret, at, 6)
}

fn code_digits(secret: &[u8], at: i64, digits: u32) -> String {
    let counter = u64::try_from(at.div_euclid(STEP_SECONDS)).unwrap_or(0);
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("any key length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    let value = binary % 10u32.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// Whether `given` is the code for `at`, or for the step before or after it.
pub fn verify(secret: &[u8], given: &str, at: i64) -> bool {
    [-STEP_SECONDS, 0, STEP_SECONDS]
        .iter()
        .any(|skew| code(secret, at + skew) == given)
}

/// The base32 form authenticator apps take (`SecretCode`).
pub fn base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// Decodes a base32 secret, as an authenticator app does from the otpauth URI.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD
        .decode(text.trim_end_matches('=').as_bytes())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        let secret = b"12345678901234567890";
        let cases = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (at, expected) in cases {
            assert_eq!(code_digits(secret, at, 8), expected, "at {at}");
        }
        assert_eq!(code(secret, 59), "287082");
    }

    #[test]
    fn verify_allows_one_step_of_skew_only() {
        let secret = b"secret-secret-secret";
        let now = 1_800_000_000;
        assert!(verify(secret, &code(secret, now), now));
        assert!(verify(secret, &code(secret, now - 30), now));
        assert!(verify(secret, &code(secret, now + 30), now));
        assert!(!verify(secret, &code(secret, now - 90), now));
        assert!(!verify(secret, "000000", now) || code(secret, now) == "000000");
        assert_eq!(from_base32(&base32(secret)).unwrap(), secret);
    }
}
