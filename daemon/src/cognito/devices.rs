//! Remembered devices, the cryptography: the device password and the SRP verifier
//! `ConfirmDevice` registers (`DeviceSecretVerifierConfig`), and the device's SRP proof for
//! `DEVICE_PASSWORD_VERIFIER`. Device SRP is Cognito's user SRP with the device group key in
//! the place of the pool name and the device key in the place of the user: `x = H(salt |
//! H(groupKey | deviceKey | ":" | password))`, and the HMAC message `groupKey | deviceKey |
//! secret block | timestamp`. Checked against `testdata/cognito-device-srp.json`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cognitod_proto::Secret;
use num_bigint::BigUint;

use super::srp::{self, PasswordVerifierChallenge};

/// A device's secret and what Cognito keeps of it.
#[derive(Debug, Clone)]
pub struct DeviceSecret {
    /// Base64 of 40 random bytes: only this machine has it.
    pub password: Secret,
    /// `DeviceSecretVerifierConfig.PasswordVerifier`: base64 of the padded verifier.
    pub password_verifier: String,
    /// `DeviceSecretVerifierConfig.Salt`: base64 of the padded salt.
    pub salt: String,
}

/// A remembered device as a sign-in uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCreds {
    pub key: String,
    pub group_key: String,
    pub password: Secret,
}

/// This machine's name for `ConfirmDevice` (`DeviceName`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().chars().take(64).collect::<String>())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "cognitod".to_owned())
}

/// A new device secret for `device_key` in `device_group_key`.
pub fn new_secret(
    device_group_key: &str,
    device_key: &str,
) -> Result<DeviceSecret, getrandom::Error> {
    let mut password = zeroize::Zeroizing::new([0u8; 40]);
    getrandom::fill(&mut *password)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)?;
    Ok(secret_with(
        device_group_key,
        device_key,
        Secret::new(BASE64.encode(&password[..])),
        &BigUint::from_bytes_be(&salt),
    ))
}

fn secret_with(
    device_group_key: &str,
    device_key: &str,
    password: Secret,
    salt: &BigUint,
) -> DeviceSecret {
    let verifier = srp::verifier_bytes(device_group_key, device_key, password.expose(), salt);
    DeviceSecret {
        password_verifier: BASE64.encode(verifier),
        salt: BASE64.encode(srp::salt_bytes(salt)),
        password,
    }
}

/// The `DEVICE_PASSWORD_VERIFIER` challenge as SRP sees it.
pub fn challenge<'a>(
    device_group_key: &'a str,
    device_key: &'a str,
    salt_hex: &'a str,
    srp_b_hex: &'a str,
    secret_block: &'a str,
) -> PasswordVerifierChallenge<'a> {
    PasswordVerifierChallenge {
        pool_name: device_group_key,
        user_id_for_srp: device_key,
        salt_hex,
        srp_b_hex,
        secret_block,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::cognito::srp::SrpClient;

    #[derive(Deserialize)]
    struct File {
        vectors: Vec<Vector>,
    }

    #[derive(Deserialize)]
    struct Vector {
        device_group_key: String,
        device_key: String,
        device_password: String,
        confirm_device: ConfirmDevice,
        device_srp_auth: DeviceSrpAuth,
    }

    #[derive(Deserialize)]
    struct ConfirmDevice {
        salt_hex: String,
        #[serde(rename = "DeviceSecretVerifierConfig")]
        config: VerifierConfig,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct VerifierConfig {
        password_verifier: String,
        salt: String,
    }

    #[derive(Deserialize)]
    #[allow(non_snake_case)]
    struct DeviceSrpAuth {
        small_a_hex: String,
        small_b_hex: String,
        u_hex: String,
        SRP_A: String,
        SALT: String,
        SRP_B: String,
        SECRET_BLOCK: String,
        TIMESTAMP: String,
        PASSWORD_CLAIM_SIGNATURE: String,
    }

    fn vectors() -> Vec<Vector> {
        let text = include_str!("../../testdata/cognito-device-srp.json");
        serde_json::from_str::<File>(text)
            .expect("the vector file parses")
            .vectors
    }

    fn hex(value: &str) -> BigUint {
        BigUint::parse_bytes(value.as_bytes(), 16).expect("hex")
    }

    #[test]
    fn the_verifier_confirm_device_registers_matches_the_vectors() {
        let vectors = vectors();
        assert_eq!(vectors.len(), 2);
        for v in &vectors {
            let secret = secret_with(
                &v.device_group_key,
                &v.device_key,
                Secret::new(v.device_password.clone()),
                &hex(&v.confirm_device.salt_hex),
            );
            assert_eq!(
                secret.salt, v.confirm_device.config.salt,
                "{}",
                v.device_key
            );
            assert_eq!(
                secret.password_verifier, v.confirm_device.config.password_verifier,
                "{}",
                v.device_key
            );
        }
    }

    #[test]
    fn the_device_srp_proof_matches_the_vectors() {
        for v in &vectors() {
            let auth = &v.device_srp_auth;
            let client = SrpClient::with_secret(hex(&auth.small_a_hex));
            assert_eq!(client.public_hex(), auth.SRP_A.to_lowercase());
            // The server's values from the registered verifier: B, then u.
            let verifier = BigUint::from_bytes_be(
                &BASE64
                    .decode(&v.confirm_device.config.password_verifier)
                    .expect("base64"),
            );
            let big_b = srp::server_public(&verifier, &hex(&auth.small_b_hex));
            assert_eq!(big_b, hex(&auth.SRP_B), "B for {}", v.device_key);
            let u = srp::scrambler(&hex(&client.public_hex()), &big_b);
            assert_eq!(u, hex(&auth.u_hex), "u for {}", v.device_key);
            let challenge = challenge(
                &v.device_group_key,
                &v.device_key,
                &auth.SALT,
                &auth.SRP_B,
                &auth.SECRET_BLOCK,
            );
            let signature = client
                .password_signature(&challenge, &v.device_password, &auth.TIMESTAMP)
                .expect("a signature");
            assert_eq!(signature, auth.PASSWORD_CLAIM_SIGNATURE, "{}", v.device_key);
            let wrong = client
                .password_signature(&challenge, "another-password", &auth.TIMESTAMP)
                .expect("a signature");
            assert_ne!(wrong, auth.PASSWORD_CLAIM_SIGNATURE);
        }
    }

    #[test]
    fn new_secrets_are_random_and_verify() {
        let a = new_secret("-Group", "us-east-1_device").expect("randomness");
        let b = new_secret("-Group", "us-east-1_device").expect("randomness");
        assert_ne!(a.password.expose(), b.password.expose());
        assert_ne!(a.salt, b.salt);
        assert_eq!(
            BASE64.decode(a.password.expose()).expect("base64").len(),
            40
        );
        // The verifier is the one its own password and salt give.
        let salt = BigUint::from_bytes_be(&BASE64.decode(&a.salt).expect("base64"));
        let again = secret_with("-Group", "us-east-1_device", a.password.clone(), &salt);
        assert_eq!(again.password_verifier, a.password_verifier);
    }
}
