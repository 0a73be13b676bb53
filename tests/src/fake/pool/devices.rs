//! Device tracking, as a pool with it turned on behaves: a sign-in without a known device gets
//! `NewDeviceMetadata`; `ConfirmDevice` registers the device's SRP verifier; a sign-in that
//! names a remembered device (`DEVICE_KEY`) proves it with `DEVICE_SRP_AUTH` and
//! `DEVICE_PASSWORD_VERIFIER` (real SRP server math, the device group key in the place of the
//! pool name and the device key in the place of the user) instead of MFA; a refresh token
//! issued to a device needs its key; `ListDevices`, `UpdateDeviceStatus`, `ForgetDevice`.
//! The sign-in in progress is tracked per user (`signing_in_device`): the fake's users sign
//! in one at a time.

use base64::Engine as _;
use num_bigint::BigUint;
use serde_json::{Value, json};

use super::srp::ServerExchange;
use super::{Answer, CognitoFault, PoolState, fault, missing, not_authorized, random_bytes, uuid};

/// The pool's device tracking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceTracking {
    #[default]
    Off,
    /// Every confirmed device is remembered.
    Always,
    /// Devices are remembered when the user asks (`UserConfirmationNecessary: true`).
    UserOptIn,
}

/// A device the pool knows.
#[derive(Debug, Clone)]
pub struct Device {
    pub username: String,
    pub group_key: String,
    pub name: Option<String>,
    pub confirmed: bool,
    pub remembered: bool,
    verifier: Option<BigUint>,
    salt_hex: Option<String>,
}

/// A device SRP exchange in progress.
#[derive(Debug, Clone)]
pub(super) struct DeviceExchange {
    device_key: String,
    exchange: ServerExchange,
    srp_a: String,
    block: String,
}

fn device_not_found() -> CognitoFault {
    fault("ResourceNotFoundException", "Device does not exist.")
}

impl PoolState {
    /// The pool's devices, for tests to look at.
    pub fn device(&self, key: &str) -> Option<Device> {
        self.devices.get(key).cloned()
    }

    /// A user's devices (canonical username), by key.
    pub fn devices_of(&self, username: &str) -> Vec<(String, Device)> {
        self.devices
            .iter()
            .filter(|(_, d)| d.username == username)
            .map(|(k, d)| (k.clone(), d.clone()))
            .collect()
    }

    /// Forgets a device as an administrator would (`AdminForgetDevice`).
    pub fn admin_forget_device(&mut self, key: &str) {
        self.forget(key);
    }

    /// A forgotten device's refresh tokens die with it, as in Cognito.
    fn forget(&mut self, key: &str) {
        self.devices.remove(key);
        for record in self.refresh_tokens.values_mut() {
            if record.device_key.as_deref() == Some(key) {
                record.revoked = true;
            }
        }
    }

    /// A sign-in of user `index` names `device_key` (or none): it must be the user's.
    pub(super) fn note_device(
        &mut self,
        index: usize,
        device_key: Option<&str>,
    ) -> Result<(), CognitoFault> {
        let username = self.users[index].username.clone();
        if let Some(key) = device_key {
            let known = self
                .devices
                .get(key)
                .is_some_and(|d| d.username == username);
            if !known {
                return Err(device_not_found());
            }
        }
        self.signing_in_device
            .insert(username, device_key.map(str::to_owned));
        Ok(())
    }

    /// A remembered device proves itself instead of MFA: `DEVICE_SRP_AUTH`.
    pub(super) fn device_challenge(&mut self, index: usize, now: i64) -> Option<Value> {
        let username = self.users[index].username.clone();
        let key = self.signing_in_device.get(&username).cloned().flatten()?;
        let device = self.devices.get(&key)?;
        if !(device.confirmed && device.remembered) {
            return None;
        }
        let params = json!({ "DEVICE_KEY": key });
        Some(self.challenge(index, "DEVICE_SRP_AUTH", params, now, |_| {}))
    }

    /// `RespondToAuthChallenge DEVICE_SRP_AUTH`: the device's `SRP_A` for its server side.
    pub(super) fn answer_device_srp(
        &mut self,
        index: usize,
        device_key: Option<&str>,
        srp_a: Option<&str>,
        now: i64,
    ) -> Answer {
        let key = device_key.ok_or_else(|| missing("DEVICE_KEY"))?;
        let srp_a = srp_a.ok_or_else(|| missing("SRP_A"))?;
        let device = self
            .devices
            .get(key)
            .filter(|d| d.username == self.users[index].username)
            .cloned()
            .ok_or_else(device_not_found)?;
        let (Some(verifier), Some(salt_hex)) = (device.verifier, device.salt_hex) else {
            return Err(not_authorized("Device is not confirmed."));
        };
        let exchange = ServerExchange::new(verifier, BigUint::from_bytes_be(&random_bytes(32)));
        let block = base64::engine::general_purpose::STANDARD.encode(random_bytes(64));
        let params = json!({
            "SALT": salt_hex,
            "SRP_B": exchange.big_b.to_str_radix(16),
            "SECRET_BLOCK": block,
            "DEVICE_KEY": key,
        });
        let pending = DeviceExchange {
            device_key: key.to_owned(),
            exchange,
            srp_a: srp_a.to_owned(),
            block,
        };
        Ok(
            self.challenge(index, "DEVICE_PASSWORD_VERIFIER", params, now, |s| {
                s.device = Some(Box::new(pending));
            }),
        )
    }

    /// `RespondToAuthChallenge DEVICE_PASSWORD_VERIFIER`: the device's proof, then tokens
    /// (no MFA).
    pub(super) fn answer_device_verifier(
        &mut self,
        index: usize,
        pending: &DeviceExchange,
        responses: &Value,
        now: i64,
    ) -> Answer {
        let response = |name: &str| responses[name].as_str();
        if response("DEVICE_KEY") != Some(pending.device_key.as_str()) {
            return Err(not_authorized("Incorrect device key."));
        }
        if response("PASSWORD_CLAIM_SECRET_BLOCK") != Some(pending.block.as_str()) {
            return Err(not_authorized("Incorrect secret block."));
        }
        // As for the user's proof: the format, and a clock window.
        let timestamp = self.checked_timestamp(response("TIMESTAMP"), now)?;
        let signature = response("PASSWORD_CLAIM_SIGNATURE")
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .ok_or_else(|| missing("PASSWORD_CLAIM_SIGNATURE"))?;
        let group_key = self
            .devices
            .get(&pending.device_key)
            .map(|d| d.group_key.clone())
            .ok_or_else(device_not_found)?;
        let block = base64::engine::general_purpose::STANDARD
            .decode(&pending.block)
            .map_err(|_| not_authorized("Incorrect secret block."))?;
        let expected = pending
            .exchange
            .expected_signature(
                &pending.srp_a,
                &group_key,
                &pending.device_key,
                &block,
                timestamp,
            )
            .map_err(not_authorized)?;
        if expected != signature {
            return Err(not_authorized("Incorrect device password."));
        }
        Ok(self.signed_in(index, now))
    }

    /// What a sign-in's tokens say about its device: `NewDeviceMetadata` for a sign-in that
    /// named none (with tracking on); the device the refresh token is bound to.
    pub(super) fn device_for_tokens(&mut self, index: usize, result: &mut Value) -> Option<String> {
        let username = self.users[index].username.clone();
        if let Some(Some(key)) = self.signing_in_device.remove(&username) {
            return Some(key);
        }
        if self.options.device_tracking == DeviceTracking::Off {
            return None;
        }
        let key = format!("{}_{}", self.options.region, uuid());
        let group_key = format!(
            "-{}",
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(8))[..9]
        );
        result["NewDeviceMetadata"] = json!({"DeviceKey": key, "DeviceGroupKey": group_key});
        self.devices.insert(
            key.clone(),
            Device {
                username,
                group_key,
                name: None,
                confirmed: false,
                remembered: false,
                verifier: None,
                salt_hex: None,
            },
        );
        Some(key)
    }

    /// The device of the access token's user that `body` names.
    fn own_device(&self, body: &Value, now: i64) -> Result<(String, String), CognitoFault> {
        let token = body["AccessToken"]
            .as_str()
            .ok_or_else(|| missing("AccessToken"))?;
        let claims = self.verify_token(token, "access", now)?;
        let username = claims["username"].as_str().unwrap_or_default().to_owned();
        let key = body["DeviceKey"]
            .as_str()
            .ok_or_else(|| missing("DeviceKey"))?
            .to_owned();
        match self.devices.get(&key) {
            Some(device) if device.username == username => Ok((key, username)),
            _ => Err(device_not_found()),
        }
    }

    /// `ConfirmDevice`: the device's verifier and salt (base64 of padded big-endian bytes).
    pub fn confirm_device(&mut self, body: &Value, now: i64) -> Answer {
        let (key, _) = self.own_device(body, now)?;
        let config = &body["DeviceSecretVerifierConfig"];
        let decode = |name: &str| {
            config[name]
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .filter(|bytes| !bytes.is_empty())
                .ok_or_else(|| fault("InvalidParameterException", format!("{name} is not valid")))
        };
        let verifier = BigUint::from_bytes_be(&decode("PasswordVerifier")?);
        let salt = decode("Salt")?;
        let name = body["DeviceName"].as_str().map(str::to_owned);
        let opt_in = self.options.device_tracking == DeviceTracking::UserOptIn;
        let device = self.devices.get_mut(&key).ok_or_else(device_not_found)?;
        if device.confirmed {
            return Err(fault(
                "InvalidParameterException",
                "Device is already confirmed.",
            ));
        }
        device.verifier = Some(verifier);
        device.salt_hex = Some(data_encoding::HEXLOWER.encode(&salt));
        device.name = name;
        device.confirmed = true;
        device.remembered = !opt_in;
        Ok(json!({ "UserConfirmationNecessary": opt_in }))
    }

    /// `UpdateDeviceStatus`: `remembered` or `not_remembered`.
    pub fn update_device_status(&mut self, body: &Value, now: i64) -> Answer {
        let (key, _) = self.own_device(body, now)?;
        let remembered = match body["DeviceRememberedStatus"].as_str() {
            Some("remembered") => true,
            Some("not_remembered") => false,
            _ => {
                return Err(fault(
                    "InvalidParameterException",
                    "DeviceRememberedStatus must be remembered or not_remembered",
                ));
            }
        };
        if let Some(device) = self.devices.get_mut(&key) {
            device.remembered = remembered;
        }
        Ok(json!({}))
    }

    /// `ForgetDevice`.
    pub fn forget_device(&mut self, body: &Value, now: i64) -> Answer {
        let (key, _) = self.own_device(body, now)?;
        self.forget(&key);
        Ok(json!({}))
    }

    /// `ListDevices`: the access token's user's confirmed devices.
    pub fn list_devices(&mut self, body: &Value, now: i64) -> Answer {
        let token = body["AccessToken"]
            .as_str()
            .ok_or_else(|| missing("AccessToken"))?;
        let claims = self.verify_token(token, "access", now)?;
        let username = claims["username"].as_str().unwrap_or_default();
        let devices: Vec<Value> = self
            .devices
            .iter()
            .filter(|(_, d)| d.username == username && d.confirmed)
            .map(|(key, d)| {
                json!({
                    "DeviceKey": key,
                    "DeviceAttributes": [
                        {"Name": "device_name", "Value": d.name.clone().unwrap_or_default()},
                        {"Name": "device_status", "Value": "valid"},
                        {"Name": "dev:device_remembered_status",
                         "Value": if d.remembered { "remembered" } else { "not_remembered" }},
                    ],
                    "DeviceCreateDate": now as f64,
                    "DeviceLastModifiedDate": now as f64,
                })
            })
            .collect();
        Ok(json!({ "Devices": devices }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Mfa, PoolOptions, UserSpec};
    use super::*;

    const PASSWORD: &str = "Correct-Horse-9";

    fn pool(tracking: DeviceTracking) -> PoolState {
        let mut pool = PoolState::new(PoolOptions {
            device_tracking: tracking,
            ..PoolOptions::default()
        });
        pool.add_user(UserSpec {
            totp_secret: Some(b"totp-secret-for-dora".to_vec()),
            ..UserSpec::new("dora", PASSWORD)
        });
        pool
    }

    fn password_sign_in(pool: &mut PoolState, device_key: Option<&str>, now: i64) -> Answer {
        let mut params = json!({"USERNAME": "dora", "PASSWORD": PASSWORD});
        if let Some(key) = device_key {
            params["DEVICE_KEY"] = json!(key);
        }
        pool.initiate_auth(
            &json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": pool.options.client_id,
                    "AuthParameters": params}),
            now,
        )
    }

    fn respond(pool: &mut PoolState, challenge: &Value, responses: Value, now: i64) -> Answer {
        pool.respond_to_auth_challenge(
            &json!({"ChallengeName": challenge["ChallengeName"], "ClientId": pool.options.client_id,
                    "Session": challenge["Session"], "ChallengeResponses": responses}),
            now,
        )
    }

    /// Signs dora in with her TOTP code; the authentication result.
    fn with_totp(pool: &mut PoolState, answer: &Value, now: i64) -> Value {
        assert_eq!(answer["ChallengeName"], "SOFTWARE_TOKEN_MFA", "{answer}");
        let code = super::super::totp::code(b"totp-secret-for-dora", now);
        let done = respond(
            pool,
            answer,
            json!({"USERNAME": "dora", "SOFTWARE_TOKEN_MFA_CODE": code}),
            now,
        )
        .expect("the right code");
        done["AuthenticationResult"].clone()
    }

    #[test]
    fn a_remembered_device_proves_itself_instead_of_mfa() {
        // The proofs' TIMESTAMP is checked against the pool's clock.
        let now =
            super::super::srp::parse_timestamp("Tue Feb 6 09:05:01 UTC 2024").expect("a timestamp");
        let mut pool = pool(DeviceTracking::Always);
        let first = password_sign_in(&mut pool, None, now).expect("right password");
        let result = with_totp(&mut pool, &first, now);
        let key = result["NewDeviceMetadata"]["DeviceKey"]
            .as_str()
            .expect("a new device")
            .to_owned();
        // Confirmed with a verifier (any number works for the plumbing here).
        let verifier = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let salt = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        let confirm = json!({"AccessToken": result["AccessToken"], "DeviceKey": key,
            "DeviceName": "laptop",
            "DeviceSecretVerifierConfig": {"PasswordVerifier": verifier, "Salt": salt}});
        assert_eq!(
            pool.confirm_device(&confirm, now).expect("confirmed"),
            json!({"UserConfirmationNecessary": false})
        );
        assert!(pool.confirm_device(&confirm, now).is_err(), "once");

        // Its refresh token needs the key.
        let refresh = result["RefreshToken"].as_str().expect("a refresh token");
        let refresh_body = |key: Option<&str>| {
            let mut params = json!({"REFRESH_TOKEN": refresh});
            if let Some(key) = key {
                params["DEVICE_KEY"] = json!(key);
            }
            json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": "fakeclient1234567890abcdef",
                   "AuthParameters": params})
        };
        assert!(pool.initiate_auth(&refresh_body(None), now).is_err());
        assert!(pool.initiate_auth(&refresh_body(Some(&key)), now).is_ok());

        // The next sign-in names the device: DEVICE_SRP_AUTH, not the TOTP code.
        let next = password_sign_in(&mut pool, Some(&key), now).expect("right password");
        assert_eq!(next["ChallengeName"], "DEVICE_SRP_AUTH", "{next}");
        let verifier_step = respond(
            &mut pool,
            &next,
            json!({"USERNAME": "dora", "DEVICE_KEY": key, "SRP_A": "2"}),
            now,
        )
        .expect("the device's SRP_A");
        assert_eq!(verifier_step["ChallengeName"], "DEVICE_PASSWORD_VERIFIER");
        let params = &verifier_step["ChallengeParameters"];
        assert_eq!(params["SALT"], "01010101010101010101010101010101");
        // What an honest device would sign, taken from the pool's own side.
        let session = pool.sessions[verifier_step["Session"].as_str().expect("a session")]
            .device
            .clone()
            .expect("the exchange");
        let block = base64::engine::general_purpose::STANDARD
            .decode(params["SECRET_BLOCK"].as_str().expect("a block"))
            .expect("base64");
        let group = pool.device(&key).expect("known").group_key;
        let timestamp = "Tue Feb 6 09:05:01 UTC 2024";
        let signature = session
            .exchange
            .expected_signature("2", &group, &key, &block, timestamp)
            .expect("a signature");
        let answer = |signature: &[u8]| {
            json!({"USERNAME": "dora", "DEVICE_KEY": key,
                   "PASSWORD_CLAIM_SECRET_BLOCK": params["SECRET_BLOCK"],
                   "PASSWORD_CLAIM_SIGNATURE": base64::engine::general_purpose::STANDARD.encode(signature),
                   "TIMESTAMP": timestamp})
        };
        let mut wrong = signature.clone();
        wrong[0] ^= 1;
        assert!(respond(&mut pool, &verifier_step, answer(&wrong), now).is_err());
        // A wrong proof used the session up: again from the start.
        let again = password_sign_in(&mut pool, Some(&key), now).expect("right password");
        let step = respond(
            &mut pool,
            &again,
            json!({"USERNAME": "dora", "DEVICE_KEY": key, "SRP_A": "2"}),
            now,
        )
        .expect("SRP_A");
        let session = pool.sessions[step["Session"].as_str().expect("a session")]
            .device
            .clone()
            .expect("the exchange");
        let block = step["ChallengeParameters"]["SECRET_BLOCK"].clone();
        let signature = session
            .exchange
            .expected_signature(
                "2",
                &group,
                &key,
                &base64::engine::general_purpose::STANDARD
                    .decode(block.as_str().expect("a block"))
                    .expect("base64"),
                timestamp,
            )
            .expect("a signature");
        let done = respond(
            &mut pool,
            &step,
            json!({"USERNAME": "dora", "DEVICE_KEY": key, "PASSWORD_CLAIM_SECRET_BLOCK": block,
                   "PASSWORD_CLAIM_SIGNATURE": base64::engine::general_purpose::STANDARD.encode(signature),
                   "TIMESTAMP": timestamp}),
            now,
        )
        .expect("the right proof");
        assert!(done["AuthenticationResult"]["AccessToken"].is_string());
        assert!(
            done["AuthenticationResult"]
                .get("NewDeviceMetadata")
                .is_none()
        );

        // Listed, then forgotten: a sign-in naming it is refused.
        let access = done["AuthenticationResult"]["AccessToken"].clone();
        let listed = pool
            .list_devices(&json!({"AccessToken": access}), now)
            .expect("listed");
        assert_eq!(listed["Devices"][0]["DeviceKey"], key.as_str());
        pool.forget_device(&json!({"AccessToken": access, "DeviceKey": key}), now)
            .expect("forgotten");
        let gone = password_sign_in(&mut pool, Some(&key), now).expect_err("unknown device");
        assert_eq!(gone.kind, "ResourceNotFoundException");
    }

    #[test]
    fn opt_in_devices_are_not_remembered_until_the_user_asks() {
        let now = 1_800_000_000;
        let mut pool = pool(DeviceTracking::UserOptIn);
        let first = password_sign_in(&mut pool, None, now).expect("right password");
        let result = with_totp(&mut pool, &first, now);
        let key = result["NewDeviceMetadata"]["DeviceKey"]
            .as_str()
            .expect("a device")
            .to_owned();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let confirmed = pool
            .confirm_device(
                &json!({"AccessToken": result["AccessToken"], "DeviceKey": key,
                        "DeviceSecretVerifierConfig": {"PasswordVerifier": b64(&[7; 32]), "Salt": b64(&[1; 16])}}),
                now,
            )
            .expect("confirmed");
        assert_eq!(confirmed["UserConfirmationNecessary"], true);
        // Not remembered: the second factor is still asked.
        let next = password_sign_in(&mut pool, Some(&key), now).expect("right password");
        assert_eq!(next["ChallengeName"], Mfa::Totp.challenge());
        let result = with_totp(&mut pool, &next, now);
        assert!(result.get("NewDeviceMetadata").is_none(), "a known device");
        pool.update_device_status(
            &json!({"AccessToken": result["AccessToken"], "DeviceKey": key,
                    "DeviceRememberedStatus": "remembered"}),
            now,
        )
        .expect("remembered");
        let remembered = password_sign_in(&mut pool, Some(&key), now).expect("right password");
        assert_eq!(remembered["ChallengeName"], "DEVICE_SRP_AUTH");
    }
}
