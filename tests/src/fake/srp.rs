//! The server side of Cognito's SRP, written apart from the daemon's client side (hex-string
//! padding here, byte padding there) and checked against the same vectors, so the two cannot
//! be wrong together.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use num_bigint::BigUint;
use sha2::{Digest, Sha256};

const N_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

fn n() -> BigUint {
    BigUint::parse_bytes(N_HEX.as_bytes(), 16).expect("N parses")
}

/// Hex as Cognito pads it for hashing: odd length gets a leading `0`, a first digit of 8–f
/// gets a leading `00`.
fn pad_hex(value: &BigUint) -> String {
    let hex = value.to_str_radix(16);
    if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else if "89abcdef".contains(&hex[..1]) {
        format!("00{hex}")
    } else {
        hex
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.as_bytes())
        .expect("even-length hex")
}

/// SHA-256 of the bytes that the hex string spells.
fn hash_hex(hex: &str) -> BigUint {
    BigUint::from_bytes_be(&Sha256::digest(hex_bytes(hex)))
}

fn k() -> BigUint {
    hash_hex(&format!(
        "{}{}",
        pad_hex(&n()),
        pad_hex(&BigUint::from(2u32))
    ))
}

/// The password verifier `v = g^x` that the pool stores instead of the password.
pub fn verifier(pool_name: &str, user_id_for_srp: &str, password: &str, salt_hex: &str) -> BigUint {
    let inner = Sha256::digest(format!("{pool_name}{user_id_for_srp}:{password}").as_bytes());
    let salt = BigUint::parse_bytes(salt_hex.as_bytes(), 16).expect("salt is hex");
    let x = hash_hex(&format!(
        "{}{}",
        pad_hex(&salt),
        data_encoding::HEXLOWER.encode(&inner)
    ));
    BigUint::from(2u32).modpow(&x, &n())
}

/// One server-side exchange: secret `b`, public `B = k·v + g^b`.
#[derive(Debug, Clone)]
pub struct ServerExchange {
    b: BigUint,
    v: BigUint,
    pub big_b: BigUint,
}

impl ServerExchange {
    pub fn new(v: BigUint, b: BigUint) -> Self {
        let n = n();
        let big_b = (k() * &v + BigUint::from(2u32).modpow(&b, &n)) % &n;
        Self { b, v, big_b }
    }

    /// The `PASSWORD_CLAIM_SIGNATURE` an honest client with the right password sends, or why
    /// the client's `A` is unacceptable.
    pub fn expected_signature(
        &self,
        srp_a_hex: &str,
        pool_name: &str,
        user_id_for_srp: &str,
        secret_block: &[u8],
        timestamp: &str,
    ) -> Result<Vec<u8>, &'static str> {
        let n = n();
        let a = BigUint::parse_bytes(srp_a_hex.as_bytes(), 16).ok_or("SRP_A is not hex")?;
        if (&a % &n) == BigUint::ZERO {
            return Err("SRP_A mod N is 0");
        }
        let u = hash_hex(&format!("{}{}", pad_hex(&a), pad_hex(&self.big_b)));
        let s = (a * self.v.modpow(&u, &n)).modpow(&self.b, &n);
        let hk = Hkdf::<Sha256>::new(Some(&hex_bytes(&pad_hex(&u))), &hex_bytes(&pad_hex(&s)));
        let mut key = [0u8; 16];
        hk.expand(b"Caldera Derived Key", &mut key)
            .expect("16 bytes is a valid length");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(pool_name.as_bytes());
        mac.update(user_id_for_srp.as_bytes());
        mac.update(secret_block);
        mac.update(timestamp.as_bytes());
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

/// Parses Cognito's `TIMESTAMP` (`Tue Feb 29 23:59:59 UTC 2028`, day not zero-padded) to Unix
/// seconds; anything else is refused.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split(' ').collect();
    let [weekday, month, day, clock, "UTC", year] = parts.as_slice() else {
        return None;
    };
    if day.starts_with('0') || day.is_empty() {
        return None;
    }
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|m| m == month)?;
    let month = time::Month::try_from(u8::try_from(month + 1).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    if &date.weekday().to_string()[..3] != *weekday {
        return None;
    }
    let [h, m, s] = clock.split(':').collect::<Vec<_>>()[..] else {
        return None;
    };
    if h.len() != 2 || m.len() != 2 || s.len() != 2 {
        return None;
    }
    let time = time::Time::from_hms(h.parse().ok()?, m.parse().ok()?, s.parse().ok()?).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use serde_json::Value;

    use super::*;

    fn vectors() -> Value {
        let text = include_str!("../../../daemon/testdata/cognito-srp.json");
        serde_json::from_str(text).unwrap()
    }

    fn big(hex: &Value) -> BigUint {
        BigUint::parse_bytes(hex.as_str().unwrap().as_bytes(), 16).unwrap()
    }

    #[test]
    fn the_server_side_agrees_with_every_vector() {
        let file = vectors();
        assert_eq!(n(), big(&file["N_hex"]));
        for v in file["vectors"].as_array().unwrap() {
            let s = |key: &str| v[key].as_str().unwrap();
            assert_eq!(k(), big(&v["k_hex"]));
            let pool_name = s("pool_id").split_once('_').unwrap().1;
            let verifier = verifier(pool_name, s("user_id_for_srp"), s("password"), s("SALT"));
            let server = ServerExchange::new(verifier, big(&v["small_b_hex"]));
            assert_eq!(server.big_b, big(&v["SRP_B"]), "B for {}", s("pool_id"));
            let block = base64::engine::general_purpose::STANDARD
                .decode(s("SECRET_BLOCK"))
                .unwrap();
            let expected = server
                .expected_signature(
                    s("SRP_A"),
                    pool_name,
                    s("user_id_for_srp"),
                    &block,
                    s("TIMESTAMP"),
                )
                .unwrap();
            let client = base64::engine::general_purpose::STANDARD
                .decode(s("PASSWORD_CLAIM_SIGNATURE"))
                .unwrap();
            assert_eq!(expected, client, "signature for {}", s("pool_id"));
        }
    }

    #[test]
    fn a_wrong_password_gives_another_verifier() {
        let right = verifier("Pool", "alice", "right", "abcd");
        assert_ne!(right, verifier("Pool", "alice", "wrong", "abcd"));
        let exchange = ServerExchange::new(right, BigUint::from(7u32));
        assert!(
            exchange
                .expected_signature("0", "Pool", "alice", b"", "t")
                .is_err()
        );
        assert!(
            exchange
                .expected_signature(&n().to_str_radix(16), "Pool", "alice", b"", "t")
                .is_err()
        );
    }

    #[test]
    fn timestamps_are_parsed_strictly() {
        assert_eq!(
            parse_timestamp("Mon Jan 1 00:00:00 UTC 2024"),
            Some(1_704_067_200)
        );
        assert!(parse_timestamp("Thu Nov 26 19:05:09 UTC 2026").is_some());
        assert_eq!(
            parse_timestamp("Mon Jan 01 00:00:00 UTC 2024"),
            None,
            "zero-padded day"
        );
        assert_eq!(
            parse_timestamp("Tue Jan 1 00:00:00 UTC 2024"),
            None,
            "wrong weekday"
        );
        assert_eq!(parse_timestamp("2024-01-01T00:00:00Z"), None);
    }
}
