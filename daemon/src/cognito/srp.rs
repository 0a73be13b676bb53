//! The client side of Cognito's SRP (`USER_SRP_AUTH`): RFC 5054's 3072-bit group with
//! SHA-256, Cognito's password hash and its `PASSWORD_CLAIM_SIGNATURE`.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use num_bigint::BigUint;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// RFC 5054's 3072-bit safe prime.
const N_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879",
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B",
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836",
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804",
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6",
    "955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64",
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D226",
    "1AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

const HKDF_INFO: &[u8] = b"Caldera Derived Key";

struct Group {
    n: BigUint,
    g: BigUint,
    /// `k = H(pad(N) | pad(g))`
    k: BigUint,
}

static GROUP: LazyLock<Group> = LazyLock::new(|| {
    let n = BigUint::parse_bytes(N_HEX.as_bytes(), 16).expect("N is valid hex");
    let g = BigUint::from(2u32);
    let k = hash_to_int(&[&pad(&n), &pad(&g)]);
    Group { n, g, k }
});

/// Why the server's challenge cannot be answered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SrpError {
    #[error("the challenge parameter {0} is not valid hex")]
    BadHex(&'static str),
    #[error("the challenge parameter SECRET_BLOCK is not valid base64")]
    BadSecretBlock,
    #[error("the server sent SRP_B = 0 mod N; refusing to continue")]
    BadServerValue,
    #[error("the SRP scrambling parameter u is 0; refusing to continue")]
    ZeroScrambler,
}

/// The challenge parameters of Cognito's `PASSWORD_VERIFIER` challenge that SRP needs.
#[derive(Debug, Clone, Copy)]
pub struct PasswordVerifierChallenge<'a> {
    /// The pool name: the user pool id without its `<region>_` prefix.
    pub pool_name: &'a str,
    /// `USER_ID_FOR_SRP`.
    pub user_id_for_srp: &'a str,
    /// `SALT`, hex.
    pub salt_hex: &'a str,
    /// `SRP_B`, hex.
    pub srp_b_hex: &'a str,
    /// `SECRET_BLOCK`, base64.
    pub secret_block: &'a str,
}

/// One SRP exchange: the ephemeral secret `a` and public `A = g^a mod N`.
pub struct SrpClient {
    a: BigUint,
    big_a: BigUint,
}

impl std::fmt::Debug for SrpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrpClient").finish_non_exhaustive()
    }
}

impl SrpClient {
    /// A fresh exchange with a random 256-bit `a` from the OS.
    pub fn new() -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut())?;
        Ok(Self::with_secret(BigUint::from_bytes_be(bytes.as_ref())))
    }

    /// An exchange with a given `a` (tests use the vectors' values).
    pub fn with_secret(a: BigUint) -> Self {
        let group = &*GROUP;
        let a = a % &group.n;
        let big_a = group.g.modpow(&a, &group.n);
        Self { a, big_a }
    }

    /// `SRP_A` for InitiateAuth, lowercase hex.
    pub fn public_hex(&self) -> String {
        self.big_a.to_str_radix(16)
    }

    /// `PASSWORD_CLAIM_SIGNATURE` (base64) for the challenge, at `timestamp`
    /// (see [`timestamp`]).
    pub fn password_signature(
        &self,
        challenge: &PasswordVerifierChallenge<'_>,
        password: &str,
        timestamp: &str,
    ) -> Result<String, SrpError> {
        let key = self.session_key(challenge, password)?;
        let secret_block = decode_secret_block(challenge.secret_block)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_ref()).expect("HMAC takes any key");
        mac.update(challenge.pool_name.as_bytes());
        mac.update(challenge.user_id_for_srp.as_bytes());
        mac.update(&secret_block);
        mac.update(timestamp.as_bytes());
        Ok(BASE64.encode(mac.finalize().into_bytes()))
    }

    /// The 16-byte HKDF key both sides derive from the shared secret `S`.
    fn session_key(
        &self,
        challenge: &PasswordVerifierChallenge<'_>,
        password: &str,
    ) -> Result<Zeroizing<[u8; 16]>, SrpError> {
        let group = &*GROUP;
        let big_b = parse_hex(challenge.srp_b_hex, "SRP_B")?;
        if (&big_b % &group.n) == BigUint::ZERO {
            return Err(SrpError::BadServerValue);
        }
        let salt = parse_hex(challenge.salt_hex, "SALT")?;
        let u = hash_to_int(&[&pad(&self.big_a), &pad(&big_b)]);
        if u == BigUint::ZERO {
            return Err(SrpError::ZeroScrambler);
        }
        let x = password_hash(challenge, password, &salt);
        // S = (B - k·g^x) ^ (a + u·x) mod N, kept non-negative.
        let kgx = (&group.k * group.g.modpow(&x, &group.n)) % &group.n;
        let base = (big_b + &group.n - kgx) % &group.n;
        let exponent = &self.a + &u * &x;
        let s = base.modpow(&exponent, &group.n);

        let (_, hkdf) = Hkdf::<Sha256>::extract(Some(&pad(&u)), &pad(&s));
        let mut key = Zeroizing::new([0u8; 16]);
        hkdf.expand(HKDF_INFO, key.as_mut())
            .expect("16 bytes is a valid HKDF-SHA256 length");
        Ok(key)
    }
}

/// `SECRET_BLOCK`'s bytes. Characters outside the base64 alphabet are skipped, as Python's
/// and Amplify's decoders do (emulators send a UUID with dashes); what remains must decode.
fn decode_secret_block(text: &str) -> Result<Vec<u8>, SrpError> {
    let filtered: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/'))
        .collect();
    LENIENT_BASE64
        .decode(filtered)
        .map_err(|_| SrpError::BadSecretBlock)
}

const LENIENT_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// `x = H(pad(salt) | H(poolName | userIdForSrp | ":" | password))`.
fn password_hash(
    challenge: &PasswordVerifierChallenge<'_>,
    password: &str,
    salt: &BigUint,
) -> BigUint {
    let mut inner = Sha256::new();
    inner.update(challenge.pool_name.as_bytes());
    inner.update(challenge.user_id_for_srp.as_bytes());
    inner.update(b":");
    inner.update(password.as_bytes());
    let mut inner: [u8; 32] = inner.finalize().into();
    let x = hash_to_int(&[&pad(salt), &inner]);
    zeroize::Zeroize::zeroize(&mut inner);
    x
}

/// The SRP verifier `g^x mod N` for `password` of `user_id` in `pool_name` with `salt`, as
/// the padded big-endian bytes Cognito takes (remembered devices register one).
pub fn verifier_bytes(pool_name: &str, user_id: &str, password: &str, salt: &BigUint) -> Vec<u8> {
    let challenge = PasswordVerifierChallenge {
        pool_name,
        user_id_for_srp: user_id,
        salt_hex: "",
        srp_b_hex: "",
        secret_block: "",
    };
    let x = password_hash(&challenge, password, salt);
    pad(&GROUP.g.modpow(&x, &GROUP.n))
}

/// The server's side, for tests that check every value: `B = k·v + g^b mod N`, and
/// `u = H(pad(A) | pad(B))`.
#[cfg(test)]
pub(crate) fn server_public(verifier: &BigUint, small_b: &BigUint) -> BigUint {
    (&GROUP.k * verifier + GROUP.g.modpow(small_b, &GROUP.n)) % &GROUP.n
}

#[cfg(test)]
pub(crate) fn scrambler(big_a: &BigUint, big_b: &BigUint) -> BigUint {
    hash_to_int(&[&pad(big_a), &pad(big_b)])
}

/// A salt's bytes as Cognito pads them.
pub fn salt_bytes(salt: &BigUint) -> Vec<u8> {
    pad(salt)
}

/// The `TIMESTAMP` Cognito expects: `EEE MMM d HH:mm:ss UTC yyyy`, day not zero-padded.
pub fn timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let weekday = &format!("{}", at.weekday())[..3];
    let month = &format!("{}", at.month())[..3];
    format!(
        "{weekday} {month} {} {:02}:{:02}:{:02} UTC {}",
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.year()
    )
}

/// The pool name SRP uses: the user pool id without its `<region>_` prefix.
pub fn pool_name(user_pool_id: &str) -> &str {
    user_pool_id
        .split_once('_')
        .map_or(user_pool_id, |(_, name)| name)
}

fn parse_hex(text: &str, name: &'static str) -> Result<BigUint, SrpError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SrpError::BadHex(name));
    }
    BigUint::parse_bytes(text.as_bytes(), 16).ok_or(SrpError::BadHex(name))
}

/// The big-endian bytes of `value` as Cognito pads them: a leading zero byte when the top bit
/// is set (a positive two's-complement number), and zero is one zero byte.
fn pad(value: &BigUint) -> Vec<u8> {
    let mut bytes = value.to_bytes_be();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    bytes
}

fn hash_to_int(parts: &[&[u8]]) -> BigUint {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    BigUint::from_bytes_be(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use time::macros::datetime;

    use super::*;

    #[derive(Deserialize)]
    struct Vectors {
        #[serde(rename = "N_hex")]
        n_hex: String,
        vectors: Vec<Vector>,
    }

    #[derive(Deserialize)]
    #[allow(non_snake_case, reason = "field names as in the vector file")]
    struct Vector {
        pool_id: String,
        user_id_for_srp: String,
        password: String,
        small_a_hex: String,
        SRP_A: String,
        SALT: String,
        SRP_B: String,
        SECRET_BLOCK: String,
        TIMESTAMP: String,
        k_hex: String,
        u_hex: String,
        x_hex: String,
        S_hex: String,
        hkdf_key_hex: String,
        PASSWORD_CLAIM_SIGNATURE: String,
    }

    impl Vector {
        fn challenge(&self) -> PasswordVerifierChallenge<'_> {
            PasswordVerifierChallenge {
                pool_name: pool_name(&self.pool_id),
                user_id_for_srp: &self.user_id_for_srp,
                salt_hex: &self.SALT,
                srp_b_hex: &self.SRP_B,
                secret_block: &self.SECRET_BLOCK,
            }
        }
    }

    fn vectors() -> Vectors {
        let text = include_str!("../../testdata/cognito-srp.json");
        serde_json::from_str(text).expect("vector file parses")
    }

    fn hex(value: &str) -> BigUint {
        BigUint::parse_bytes(value.as_bytes(), 16).unwrap()
    }

    #[test]
    fn group_matches_the_vectors() {
        let file = vectors();
        assert_eq!(GROUP.n, hex(&file.n_hex));
        for v in &file.vectors {
            assert_eq!(GROUP.k, hex(&v.k_hex));
        }
    }

    #[test]
    fn every_vector_reproduces_each_intermediate_and_the_signature() {
        let file = vectors();
        assert_eq!(file.vectors.len(), 3);
        for v in &file.vectors {
            let client = SrpClient::with_secret(hex(&v.small_a_hex));
            assert_eq!(
                client.public_hex(),
                v.SRP_A.to_lowercase(),
                "A for {}",
                v.pool_id
            );
            let challenge = v.challenge();
            let big_b = hex(&v.SRP_B);
            let u = hash_to_int(&[&pad(&client.big_a), &pad(&big_b)]);
            assert_eq!(u, hex(&v.u_hex), "u for {}", v.pool_id);
            let x = password_hash(&challenge, &v.password, &hex(&v.SALT));
            assert_eq!(x, hex(&v.x_hex), "x for {}", v.pool_id);
            let kgx = (&GROUP.k * GROUP.g.modpow(&x, &GROUP.n)) % &GROUP.n;
            let s = ((&big_b + &GROUP.n - kgx) % &GROUP.n).modpow(&(&client.a + &u * &x), &GROUP.n);
            assert_eq!(s, hex(&v.S_hex), "S for {}", v.pool_id);
            let key = client.session_key(&challenge, &v.password).unwrap();
            assert_eq!(
                BigUint::from_bytes_be(key.as_ref()),
                hex(&v.hkdf_key_hex),
                "key for {}",
                v.pool_id
            );
            let signature = client
                .password_signature(&challenge, &v.password, &v.TIMESTAMP)
                .unwrap();
            assert_eq!(
                signature, v.PASSWORD_CLAIM_SIGNATURE,
                "signature for {}",
                v.pool_id
            );
        }
    }

    #[test]
    fn a_wrong_password_gives_another_signature() {
        let file = vectors();
        let v = &file.vectors[0];
        let client = SrpClient::with_secret(hex(&v.small_a_hex));
        let challenge = v.challenge();
        let signature = client
            .password_signature(&challenge, "not-the-password", &v.TIMESTAMP)
            .unwrap();
        assert_ne!(signature, v.PASSWORD_CLAIM_SIGNATURE);
    }

    #[test]
    fn hostile_challenges_are_refused() {
        let client = SrpClient::with_secret(BigUint::from(12345u32));
        let mut challenge = PasswordVerifierChallenge {
            pool_name: "AbCdEf123",
            user_id_for_srp: "alice",
            salt_hex: "8f3c7a",
            srp_b_hex: "0",
            secret_block: "AAAA",
        };
        assert_eq!(
            client.password_signature(&challenge, "pw", "t"),
            Err(SrpError::BadServerValue)
        );
        challenge.srp_b_hex = N_HEX;
        assert_eq!(
            client.password_signature(&challenge, "pw", "t"),
            Err(SrpError::BadServerValue)
        );
        challenge.srp_b_hex = "zz";
        assert_eq!(
            client.password_signature(&challenge, "pw", "t"),
            Err(SrpError::BadHex("SRP_B"))
        );
        challenge.srp_b_hex = "1234";
        challenge.secret_block = "not base64!";
        assert_eq!(
            client.password_signature(&challenge, "pw", "t"),
            Err(SrpError::BadSecretBlock)
        );
    }

    #[test]
    fn secret_block_decoding_skips_what_is_not_base64() {
        assert_eq!(decode_secret_block("AAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(decode_secret_block("AAE=").unwrap(), vec![0, 1]);
        assert_eq!(decode_secret_block("AAE").unwrap(), vec![0, 1]);
        assert_eq!(
            decode_secret_block("379a5633-88c8-4d82-ab41-c9029a08b64e")
                .unwrap()
                .len(),
            24
        );
        assert_eq!(decode_secret_block("A"), Err(SrpError::BadSecretBlock));
    }

    #[test]
    fn random_clients_differ() {
        let one = SrpClient::new().unwrap();
        let two = SrpClient::new().unwrap();
        assert_ne!(one.public_hex(), two.public_hex());
    }

    #[test]
    fn timestamp_day_is_not_zero_padded() {
        assert_eq!(
            timestamp(datetime!(2024-01-01 00:00:00 UTC)),
            "Mon Jan 1 00:00:00 UTC 2024"
        );
        assert_eq!(
            timestamp(datetime!(2026-11-26 19:05:09 UTC)),
            "Thu Nov 26 19:05:09 UTC 2026"
        );
        assert_eq!(
            timestamp(datetime!(2028-02-29 23:59:59 -01:00)),
            "Wed Mar 1 00:59:59 UTC 2028"
        );
    }

    #[test]
    fn pool_name_drops_the_region() {
        assert_eq!(pool_name("eu-west-1_XyZ987654"), "XyZ987654");
        assert_eq!(pool_name("noregion"), "noregion");
    }
}
