//! The fake user pool's state and its actions, strict where Cognito is strict. No I/O here:
//! each action takes the request body and the time and returns the answer or a Cognito error.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use num_bigint::BigUint;
use serde_json::{Value, json};
use sha2::Sha256;

use super::srp::{self, ServerExchange};
use super::totp;

mod account;
mod attributes;
mod custom;
mod devices;
mod federation;
mod mfa;
mod oauth;
mod user_auth;
pub use account::CodePurpose;
pub use devices::{Device, DeviceTracking};
pub use mfa::MfaSettings;
pub use oauth::{LoginAnswer, ManagedLogin, TEST_IDP, TokenError, pairs as oauth_pairs};

/// How long a challenge `Session` stays valid, as in Cognito.
const SESSION_SECONDS: i64 = 180;
/// Wrong answers a challenge session takes before it is dropped.
const MAX_ATTEMPTS: u32 = 5;

/// A Cognito error: `{"__type": kind, "message": message}` with `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoFault {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

fn fault(kind: &'static str, message: impl Into<String>) -> CognitoFault {
    CognitoFault {
        status: 400,
        kind,
        message: message.into(),
    }
}

fn not_authorized(message: &str) -> CognitoFault {
    fault("NotAuthorizedException", message)
}

type Answer = Result<Value, CognitoFault>;

/// How the pool is set up.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub region: String,
    pub pool_id: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// `UsernameAttributes = email`: users sign in with their email and the canonical username
    /// is a generated UUID (the sub).
    pub email_sign_in: bool,
    pub access_token_seconds: i64,
    pub id_token_seconds: i64,
    /// MFA required: users without a factor must set one up (`MFA_SETUP`).
    pub mfa_required: bool,
    /// How far a client's SRP `TIMESTAMP` may be from the pool's clock.
    pub timestamp_window_seconds: i64,
    /// Refresh-token rotation: refresh only through GetTokensFromRefreshToken, which hands out
    /// a new refresh token; the old one keeps working for `rotation_grace_seconds`.
    pub refresh_token_rotation: bool,
    pub rotation_grace_seconds: i64,
    /// The identity pool beside the user pool (same endpoint).
    pub identity_pool_id: String,
    /// Guest identities allowed.
    pub allow_unauthenticated: bool,
    /// Lifetime of the AWS credentials it hands out.
    pub credentials_seconds: i64,
    /// Sign-ins answer without a `RefreshToken` (an app client that cannot refresh).
    pub omit_refresh_token: bool,
    /// The app client's callback and sign-out URLs for the managed login (exact matches).
    pub callback_urls: Vec<String>,
    pub logout_urls: Vec<String>,
    /// An external OIDC provider whose tokens the identity pool takes under this name (see
    /// [`PoolState::oidc_token`]).
    pub oidc_provider: Option<String>,
    /// The custom auth triggers: the rounds of `CUSTOM_CHALLENGE`, each a question (its
    /// public parameter) and the answer it takes. Empty: no custom auth.
    pub custom_challenges: Vec<(String, String)>,
    /// Choice-based sign-in (`ALLOW_USER_AUTH` on the app client).
    pub user_auth: bool,
    /// With `mfa_required`: the factors users without one may set up (`MFAS_CAN_SETUP`).
    pub mfa_setup: Vec<Mfa>,
    /// Device tracking (remembered devices).
    pub device_tracking: DeviceTracking,
    /// The attributes the schema requires (SignUp must give them; they cannot be deleted).
    pub required_attributes: Vec<String>,
    /// The custom attributes the schema declares, with their prefix (`custom:department`).
    pub custom_attributes: Vec<String>,
    /// How long a code sent by the account calls (sign-up, forgotten password, attribute
    /// verification) stays valid.
    pub code_seconds: i64,
    /// Wrong codes taken before further tries are refused for a while.
    pub code_attempts: u32,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            pool_id: "us-east-1_FakePool1".into(),
            client_id: "fakeclient1234567890abcdef".into(),
            client_secret: None,
            email_sign_in: false,
            access_token_seconds: 3600,
            id_token_seconds: 3600,
            mfa_required: false,
            timestamp_window_seconds: 300,
            refresh_token_rotation: false,
            rotation_grace_seconds: 60,
            identity_pool_id: "us-east-1:0f4c9a2e-0000-4000-a000-000000000001".into(),
            allow_unauthenticated: false,
            credentials_seconds: 3600,
            omit_refresh_token: false,
            callback_urls: Vec::new(),
            logout_urls: Vec::new(),
            oidc_provider: None,
            custom_challenges: Vec::new(),
            user_auth: false,
            mfa_setup: vec![Mfa::Totp],
            device_tracking: DeviceTracking::Off,
            required_attributes: vec!["email".into()],
            custom_attributes: Vec::new(),
            code_seconds: 3600,
            code_attempts: 5,
        }
    }
}

/// A user to create.
#[derive(Debug, Clone, Default)]
pub struct UserSpec {
    pub username: String,
    pub password: String,
    pub email: Option<String>,
    /// `FORCE_CHANGE_PASSWORD`: the next sign-in gets `NEW_PASSWORD_REQUIRED`.
    pub force_change_password: bool,
    /// Attributes the new-password step must supply (e.g. `name`).
    pub required_attributes: Vec<String>,
    pub totp_secret: Option<Vec<u8>>,
    pub sms_mfa: bool,
    pub email_mfa: bool,
    pub preferred_mfa: Option<Mfa>,
    /// `RESET_REQUIRED`: sign-ins get `PasswordResetRequiredException`.
    pub reset_required: bool,
    /// `UNCONFIRMED`: sign-ins with the right password get `UserNotConfirmedException`.
    pub unconfirmed: bool,
}

impl UserSpec {
    pub fn new(username: &str, password: &str) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            ..Self::default()
        }
    }
}

/// The second factors Cognito knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mfa {
    Totp,
    Sms,
    Email,
}

impl Mfa {
    fn challenge(self) -> &'static str {
        match self {
            Self::Totp => "SOFTWARE_TOKEN_MFA",
            Self::Sms => "SMS_MFA",
            Self::Email => "EMAIL_OTP",
        }
    }
}

#[derive(Debug, Clone)]
struct User {
    username: String,
    sub: String,
    email: Option<String>,
    salt_hex: String,
    verifier: BigUint,
    password: String,
    force_change_password: bool,
    required_attributes: Vec<String>,
    attributes: BTreeMap<String, String>,
    /// The verified authenticator secret; sign-ins ask for it only once `totp_enabled`.
    totp_secret: Option<Vec<u8>>,
    totp_enabled: bool,
    /// A secret from AssociateSoftwareToken (access token) waiting for VerifySoftwareToken.
    pending_totp: Option<Vec<u8>>,
    sms_mfa: bool,
    email_mfa: bool,
    preferred_mfa: Option<Mfa>,
    /// The verified attributes (`email`, `phone_number`).
    verified: BTreeSet<String>,
    /// DeleteUser: gone, but kept in place (the managed login holds users by index).
    deleted: bool,
    /// Access tokens issued at or before this are revoked (GlobalSignOut).
    signed_out_at: Option<i64>,
    /// A federated user: the `identities` claim of their id tokens.
    identities: Option<Value>,
    reset_required: bool,
    unconfirmed: bool,
}

#[derive(Debug, Clone)]
struct ChallengeSession {
    username: String,
    challenge: &'static str,
    expires_at: i64,
    attempts: u32,
    /// The code sent by SMS or email.
    code: Option<String>,
    /// MFA_SETUP: the secret handed out by AssociateSoftwareToken, and whether
    /// VerifySoftwareToken accepted a code for it.
    setup_secret: Option<Vec<u8>>,
    setup_verified: bool,
    /// SELECT_MFA_TYPE: the choices offered.
    choices: Vec<Mfa>,
    /// CUSTOM_CHALLENGE: which round this is.
    round: usize,
    /// DEVICE_PASSWORD_VERIFIER: the device's SRP exchange.
    device: Option<Box<devices::DeviceExchange>>,
}

#[derive(Debug, Clone)]
struct SrpPending {
    username: String,
    exchange: ServerExchange,
    srp_a: String,
    /// CUSTOM_AUTH with `SRP_A`: custom challenges follow the password check.
    custom: bool,
    /// The `Session` the answer must bring back (CUSTOM_AUTH and USER_AUTH keep one).
    session: Option<String>,
}

/// Which sign-in an SRP exchange belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SrpFlow {
    UserSrp,
    Custom,
    UserAuth,
}

/// A refresh token the pool issued.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub username: String,
    pub revoked: bool,
    /// When rotation replaced this token (it works for the grace period after).
    pub rotated_at: Option<i64>,
    origin_jti: String,
    /// The user's `sub`: a token outlives no DeleteUser, even when the name is taken again.
    sub: String,
    /// The scopes of the managed login's grant it came from (`None`: an API sign-in); tokens
    /// refreshed from it keep them.
    scope: Option<String>,
    /// The device it was issued to: refreshes must name it.
    device_key: Option<String>,
}

/// The whole pool.
#[derive(Debug)]
pub struct PoolState {
    pub options: PoolOptions,
    users: Vec<User>,
    sessions: HashMap<String, ChallengeSession>,
    srp: HashMap<String, SrpPending>,
    refresh_tokens: HashMap<String, RefreshRecord>,
    revoked_origins: Vec<String>,
    /// Codes "sent" by SMS or email, by canonical username, for tests to read.
    pub sent_codes: HashMap<String, String>,
    keys: Vec<(String, EncodingKey)>,
    tokens_issued: u64,
    /// Identity id → the user's `sub` it belongs to (`None`: a guest identity).
    pub identities: HashMap<String, Option<String>>,
    /// Access key ids handed out, with the identity they are for.
    pub issued_credentials: Vec<(String, String)>,
    /// The managed login: codes, browser sessions, external provider round trips.
    pub login: ManagedLogin,
    /// Devices by key, and the device each user's sign-in in progress named.
    devices: HashMap<String, Device>,
    signing_in_device: HashMap<String, Option<String>>,
    /// Codes the account calls sent, by canonical username and purpose.
    account_codes: HashMap<(String, CodePurpose), account::PendingCode>,
    /// SignUp and ConfirmSignUp sessions (sign-in right after sign-up).
    account_sessions: HashMap<String, account::AccountSession>,
}

impl PoolState {
    pub fn new(options: PoolOptions) -> Self {
        let keys = vec![
            (
                "fake-key-1".to_owned(),
                EncodingKey::from_rsa_pem(include_bytes!("../../../daemon/testdata/jwt-key-1.pem"))
                    .expect("test key 1"),
            ),
            (
                "fake-key-2".to_owned(),
                EncodingKey::from_rsa_pem(include_bytes!("../../../daemon/testdata/jwt-key-2.pem"))
                    .expect("test key 2"),
            ),
        ];
        Self {
            options,
            users: Vec::new(),
            sessions: HashMap::new(),
            srp: HashMap::new(),
            refresh_tokens: HashMap::new(),
            revoked_origins: Vec::new(),
            sent_codes: HashMap::new(),
            keys,
            tokens_issued: 0,
            identities: HashMap::new(),
            issued_credentials: Vec::new(),
            login: ManagedLogin::default(),
            devices: HashMap::new(),
            signing_in_device: HashMap::new(),
            account_codes: HashMap::new(),
            account_sessions: HashMap::new(),
        }
    }

    /// The issuer, in the AWS form whatever the endpoint.
    pub fn issuer(&self) -> String {
        format!(
            "https://cognito-idp.{}.amazonaws.com/{}",
            self.options.region, self.options.pool_id
        )
    }

    fn pool_name(&self) -> &str {
        self.options
            .pool_id
            .split_once('_')
            .map_or(&*self.options.pool_id, |(_, name)| name)
    }

    /// Creates a user; returns the canonical username (the sub with email sign-in).
    pub fn add_user(&mut self, spec: UserSpec) -> String {
        let sub = uuid();
        let username = if self.options.email_sign_in {
            sub.clone()
        } else {
            spec.username.clone()
        };
        let email = spec
            .email
            .clone()
            .or_else(|| self.options.email_sign_in.then(|| spec.username.clone()));
        let salt_hex = data_encoding::HEXLOWER.encode(&random_bytes(16));
        let verifier = srp::verifier(self.pool_name(), &username, &spec.password, &salt_hex);
        let mut attributes = BTreeMap::new();
        attributes.insert("sub".to_owned(), sub.clone());
        let mut verified = BTreeSet::new();
        if let Some(email) = &email {
            attributes.insert("email".to_owned(), email.clone());
            if !spec.unconfirmed {
                verified.insert("email".to_owned());
            }
        }
        self.users.push(User {
            username: username.clone(),
            sub,
            email,
            salt_hex,
            verifier,
            password: spec.password,
            force_change_password: spec.force_change_password,
            required_attributes: spec.required_attributes,
            attributes,
            totp_enabled: spec.totp_secret.is_some(),
            totp_secret: spec.totp_secret,
            pending_totp: None,
            sms_mfa: spec.sms_mfa,
            email_mfa: spec.email_mfa,
            preferred_mfa: spec.preferred_mfa,
            verified,
            deleted: false,
            signed_out_at: None,
            identities: None,
            reset_required: spec.reset_required,
            unconfirmed: spec.unconfirmed,
        });
        username
    }

    /// The user's TOTP secret, once set up.
    pub fn totp_secret(&self, username: &str) -> Option<Vec<u8>> {
        self.find_user(username)
            .and_then(|i| self.users[i].totp_secret.clone())
    }

    /// The user's current password.
    pub fn password(&self, username: &str) -> Option<String> {
        self.find_user(username)
            .map(|i| self.users[i].password.clone())
    }

    /// Refresh tokens issued to a user (canonical name or sign-in alias).
    pub fn refresh_tokens(&self, username: &str) -> Vec<(String, RefreshRecord)> {
        let Some(index) = self.find_user(username) else {
            return Vec::new();
        };
        let canonical = &self.users[index].username;
        self.refresh_tokens
            .iter()
            .filter(|(_, r)| &r.username == canonical)
            .map(|(t, r)| (t.clone(), r.clone()))
            .collect()
    }

    /// The JWKS with both signing keys.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|(kid, key)| {
                let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(key, Algorithm::RS256)
                    .expect("RSA keys export");
                jwk.common.key_id = Some(kid.clone());
                jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
                serde_json::to_value(jwk).expect("JWK serializes")
            })
            .collect();
        json!({ "keys": keys })
    }

    fn find_user(&self, name: &str) -> Option<usize> {
        self.users.iter().position(|u| {
            !u.deleted
                && (u.username == name
                    || (self.options.email_sign_in && u.email.as_deref() == Some(name)))
        })
    }

    fn check_client(&self, body: &Value) -> Result<(), CognitoFault> {
        let client = body["ClientId"].as_str().unwrap_or_default();
        if client == self.options.client_id {
            Ok(())
        } else {
            Err(fault(
                "ResourceNotFoundException",
                format!("User pool client {client} does not exist."),
            ))
        }
    }

    /// SECRET_HASH over `username` must be present and right iff the client has a secret.
    fn check_secret_hash(&self, given: Option<&str>, username: &str) -> Result<(), CognitoFault> {
        match (&self.options.client_secret, given) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(not_authorized(
                "Client has no secret, but SECRET_HASH was given",
            )),
            (Some(_), None) => Err(not_authorized(&format!(
                "Client {} is configured with secret but SECRET_HASH was not received",
                self.options.client_id
            ))),
            (Some(secret), Some(given)) => {
                if secret_hash(secret, username, &self.options.client_id) == given {
                    Ok(())
                } else {
                    Err(not_authorized(&format!(
                        "Unable to verify secret hash for client {}",
                        self.options.client_id
                    )))
                }
            }
        }
    }

    pub fn initiate_auth(&mut self, body: &Value, now: i64) -> Answer {
        self.check_client(body)?;
        let params = &body["AuthParameters"];
        let param = |name: &str| params[name].as_str();
        match body["AuthFlow"].as_str().unwrap_or_default() {
            "USER_SRP_AUTH" => {
                let typed = param("USERNAME").ok_or_else(|| missing("USERNAME"))?;
                let srp_a = param("SRP_A").ok_or_else(|| missing("SRP_A"))?;
                self.check_secret_hash(param("SECRET_HASH"), typed)?;
                let index = self.signing_in_user(typed)?;
                self.note_device(index, param("DEVICE_KEY"))?;
                Ok(self.start_srp(index, srp_a, SrpFlow::UserSrp))
            }
            "CUSTOM_AUTH" => self.initiate_custom_auth(body, now),
            "USER_AUTH" => self.initiate_user_auth(body, now),
            "USER_PASSWORD_AUTH" => {
                let typed = param("USERNAME").ok_or_else(|| missing("USERNAME"))?;
                let password = param("PASSWORD").ok_or_else(|| missing("PASSWORD"))?;
                self.check_secret_hash(param("SECRET_HASH"), typed)?;
                let index = self.signing_in_user(typed)?;
                self.note_device(index, param("DEVICE_KEY"))?;
                if self.users[index].password != password {
                    return Err(not_authorized("Incorrect username or password."));
                }
                self.after_password(index, now)
            }
            "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
                if self.options.refresh_token_rotation {
                    return Err(not_authorized(
                        "Refresh token rotation is enabled: use GetTokensFromRefreshToken",
                    ));
                }
                let token = param("REFRESH_TOKEN").ok_or_else(|| missing("REFRESH_TOKEN"))?;
                let record = self.live_refresh_token(token, now)?;
                self.check_secret_hash(param("SECRET_HASH"), &record.username)?;
                check_device(&record, param("DEVICE_KEY"))?;
                let index = self
                    .find_user(&record.username)
                    .ok_or_else(|| fault("UserNotFoundException", "User does not exist."))?;
                let result = self.refreshed(index, now, &record);
                Ok(json!({ "AuthenticationResult": result, "ChallengeParameters": {} }))
            }
            other => Err(fault(
                "InvalidParameterException",
                format!("Unsupported auth flow {other:?}"),
            )),
        }
    }

    fn user_or_fail(&self, name: &str) -> Result<usize, CognitoFault> {
        self.find_user(name)
            .ok_or_else(|| fault("UserNotFoundException", "User does not exist."))
    }

    fn live_refresh_token(&self, token: &str, now: i64) -> Result<RefreshRecord, CognitoFault> {
        match self.refresh_tokens.get(token) {
            None => Err(not_authorized("Invalid Refresh Token")),
            Some(record) if record.revoked => Err(not_authorized("Refresh Token has been revoked")),
            Some(record)
                if record
                    .rotated_at
                    .is_some_and(|at| now >= at + self.options.rotation_grace_seconds) =>
            {
                Err(not_authorized("Refresh Token has been rotated"))
            }
            Some(record)
                if self
                    .find_user(&record.username)
                    .is_none_or(|i| self.users[i].sub != record.sub) =>
            {
                Err(fault("UserNotFoundException", "User does not exist."))
            }
            Some(record) => Ok(record.clone()),
        }
    }

    /// Revokes every refresh token of a user, as an administrator would.
    pub fn revoke_refresh_tokens(&mut self, username: &str) {
        let Some(index) = self.find_user(username) else {
            return;
        };
        let canonical = self.users[index].username.clone();
        for record in self.refresh_tokens.values_mut() {
            if record.username == canonical {
                record.revoked = true;
            }
        }
    }

    pub fn get_tokens_from_refresh_token(&mut self, body: &Value, now: i64) -> Answer {
        self.check_client(body)?;
        match (&self.options.client_secret, body["ClientSecret"].as_str()) {
            (Some(secret), Some(given)) if secret == given => {}
            (None, None) => {}
            _ => return Err(not_authorized("Client secret is missing or wrong")),
        }
        let token = body["RefreshToken"]
            .as_str()
            .ok_or_else(|| missing("RefreshToken"))?
            .to_owned();
        let record = self.live_refresh_token(&token, now)?;
        check_device(&record, body["DeviceKey"].as_str())?;
        let index = self.user_or_fail(&record.username)?;
        if !self.options.refresh_token_rotation {
            let result = self.refreshed(index, now, &record);
            return Ok(json!({ "AuthenticationResult": result }));
        }
        if let Some(old) = self.refresh_tokens.get_mut(&token) {
            old.rotated_at.get_or_insert(now);
        }
        let mut answer = self.signed_in_as(index, now, record.scope);
        // The rotated token stays the device's.
        if let Some(new) = answer["AuthenticationResult"]["RefreshToken"].as_str()
            && let Some(rotated) = self.refresh_tokens.get_mut(new)
        {
            rotated.device_key = record.device_key;
        }
        if let Some(result) = answer["AuthenticationResult"].as_object_mut() {
            result.remove("NewDeviceMetadata");
        }
        Ok(answer)
    }

    pub fn respond_to_auth_challenge(&mut self, body: &Value, now: i64) -> Answer {
        self.check_client(body)?;
        let responses = &body["ChallengeResponses"];
        let response = |name: &str| responses[name].as_str();
        let username = response("USERNAME").ok_or_else(|| missing("USERNAME"))?;
        let challenge = body["ChallengeName"].as_str().unwrap_or_default();

        if challenge == "PASSWORD_VERIFIER" {
            let block = response("PASSWORD_CLAIM_SECRET_BLOCK")
                .ok_or_else(|| missing("PASSWORD_CLAIM_SECRET_BLOCK"))?;
            // Single use: a SECRET_BLOCK is gone once answered, right or wrong.
            let pending = self
                .srp
                .remove(block)
                .ok_or_else(|| not_authorized("Incorrect username or password."))?;
            if username != pending.username {
                return Err(not_authorized(
                    "USERNAME must be the canonical username from the challenge",
                ));
            }
            if pending.session.is_some() && body["Session"].as_str() != pending.session.as_deref() {
                return Err(not_authorized("Invalid session for the user."));
            }
            self.check_secret_hash(response("SECRET_HASH"), username)?;
            let timestamp = self.checked_timestamp(response("TIMESTAMP"), now)?;
            let signature = response("PASSWORD_CLAIM_SIGNATURE")
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .ok_or_else(|| missing("PASSWORD_CLAIM_SIGNATURE"))?;
            let block_bytes = base64::engine::general_purpose::STANDARD
                .decode(block)
                .map_err(|_| not_authorized("Incorrect username or password."))?;
            let expected = pending
                .exchange
                .expected_signature(
                    &pending.srp_a,
                    self.pool_name(),
                    &pending.username,
                    &block_bytes,
                    timestamp,
                )
                .map_err(not_authorized)?;
            if expected != signature {
                return Err(not_authorized("Incorrect username or password."));
            }
            let index = self.user_or_fail(username)?;
            if pending.custom {
                return self.custom_round(index, 0, now);
            }
            return self.after_password(index, now);
        }

        let session_id = body["Session"]
            .as_str()
            .ok_or_else(|| missing("Session"))?
            .to_owned();
        let session = self
            .sessions
            .get(&session_id)
            .filter(|s| s.expires_at > now)
            .cloned()
            .ok_or_else(|| not_authorized("Invalid session for the user, session is expired."))?;
        if session.challenge != challenge {
            return Err(fault(
                "InvalidParameterException",
                format!(
                    "ChallengeName {challenge} does not match the session's {}",
                    session.challenge
                ),
            ));
        }
        if username != session.username {
            return Err(not_authorized(
                "USERNAME must be the canonical username from the challenge",
            ));
        }
        self.check_secret_hash(response("SECRET_HASH"), username)?;
        let index = self.user_or_fail(username)?;

        match challenge {
            "DEVICE_SRP_AUTH" => {
                self.sessions.remove(&session_id);
                self.answer_device_srp(index, response("DEVICE_KEY"), response("SRP_A"), now)
            }
            "DEVICE_PASSWORD_VERIFIER" => {
                self.sessions.remove(&session_id);
                let pending = session.device.clone().ok_or_else(|| {
                    fault(
                        "InvalidParameterException",
                        "no device exchange in the session",
                    )
                })?;
                self.answer_device_verifier(index, &pending, responses, now)
            }
            "CUSTOM_CHALLENGE" => {
                self.sessions.remove(&session_id);
                self.answer_custom(index, session.round, response("ANSWER"), now)
            }
            "NEW_PASSWORD_REQUIRED" => {
                let password = response("NEW_PASSWORD").ok_or_else(|| missing("NEW_PASSWORD"))?;
                if let Err(why) = password_policy(password) {
                    return Err(fault(
                        "InvalidPasswordException",
                        format!("Password does not conform to policy: {why}"),
                    ));
                }
                let user = &self.users[index];
                let mut supplied = BTreeMap::new();
                for name in &user.required_attributes {
                    match response(&format!("userAttributes.{name}")) {
                        Some(value) if !value.is_empty() => {
                            supplied.insert(name.clone(), value.to_owned());
                        }
                        _ => {
                            return Err(fault(
                                "InvalidParameterException",
                                format!("Missing required attribute {name}"),
                            ));
                        }
                    }
                }
                let pool_name = self.pool_name().to_owned();
                let user = &mut self.users[index];
                user.password = password.to_owned();
                user.verifier = srp::verifier(&pool_name, &user.username, password, &user.salt_hex);
                user.force_change_password = false;
                user.attributes.extend(supplied);
                self.sessions.remove(&session_id);
                Ok(self.mfa_or_tokens(index, now))
            }
            "SELECT_CHALLENGE" => {
                self.sessions.remove(&session_id);
                let answer = response("ANSWER").ok_or_else(|| missing("ANSWER"))?;
                self.first_factor(index, answer, response("PASSWORD"), response("SRP_A"), now)
            }
            "SOFTWARE_TOKEN_MFA" | "SMS_MFA" | "EMAIL_OTP" | "SMS_OTP" => {
                let field = match challenge {
                    "SOFTWARE_TOKEN_MFA" => "SOFTWARE_TOKEN_MFA_CODE",
                    "SMS_MFA" => "SMS_MFA_CODE",
                    "SMS_OTP" => "SMS_OTP_CODE",
                    _ => "EMAIL_OTP_CODE",
                };
                let code = response(field).ok_or_else(|| missing(field))?;
                let right = match challenge {
                    "SOFTWARE_TOKEN_MFA" => self.users[index]
                        .totp_secret
                        .as_deref()
                        .is_some_and(|secret| totp::verify(secret, code, now)),
                    _ => session.code.as_deref() == Some(code),
                };
                if !right {
                    return Err(self.wrong_code(&session_id));
                }
                self.sessions.remove(&session_id);
                Ok(self.signed_in(index, now))
            }
            "SELECT_MFA_TYPE" => {
                let answer = response("ANSWER").ok_or_else(|| missing("ANSWER"))?;
                let chosen = session
                    .choices
                    .iter()
                    .copied()
                    .find(|m| m.challenge() == answer)
                    .ok_or_else(|| {
                        fault(
                            "InvalidParameterException",
                            format!("{answer} is not one of the offered MFA types"),
                        )
                    })?;
                self.sessions.remove(&session_id);
                Ok(self.mfa_challenge(index, chosen, now))
            }
            "MFA_SETUP" if response("EMAIL").is_some() => {
                // Email MFA set up during sign-in: the address, then a code sent there.
                if !self.options.mfa_setup.contains(&Mfa::Email) {
                    return Err(fault(
                        "InvalidParameterException",
                        "EMAIL_OTP is not an MFA type this user may set up",
                    ));
                }
                let email = response("EMAIL").unwrap_or_default();
                if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
                    return Err(fault(
                        "InvalidParameterException",
                        "Invalid email address format.",
                    ));
                }
                self.users[index].email = Some(email.to_owned());
                self.users[index]
                    .attributes
                    .insert("email".into(), email.to_owned());
                self.users[index].email_mfa = true;
                self.users[index].preferred_mfa = Some(Mfa::Email);
                self.sessions.remove(&session_id);
                Ok(self.mfa_challenge(index, Mfa::Email, now))
            }
            "MFA_SETUP" => {
                let secret = match (&session.setup_secret, session.setup_verified) {
                    (Some(secret), true) => secret.clone(),
                    _ => {
                        return Err(fault(
                            "InvalidParameterException",
                            "Software token MFA is not verified for this session",
                        ));
                    }
                };
                self.users[index].totp_secret = Some(secret);
                self.users[index].totp_enabled = true;
                self.users[index].preferred_mfa = Some(Mfa::Totp);
                self.sessions.remove(&session_id);
                Ok(self.signed_in(index, now))
            }
            other => Err(fault(
                "InvalidParameterException",
                format!("Unsupported challenge {other}"),
            )),
        }
    }

    fn wrong_code(&mut self, session_id: &str) -> CognitoFault {
        if let Some(session) = self.sessions.get_mut(session_id) {
            session.attempts += 1;
            if session.attempts >= MAX_ATTEMPTS {
                self.sessions.remove(session_id);
                return not_authorized("Invalid session for the user, too many failed attempts.");
            }
        }
        fault("CodeMismatchException", "Invalid code received for user")
    }

    /// `AssociateSoftwareToken` with the `MFA_SETUP` challenge's `Session`.
    fn associate_software_token_in_session(&mut self, body: &Value, now: i64) -> Answer {
        let session_id = body["Session"]
            .as_str()
            .ok_or_else(|| missing("Session"))?
            .to_owned();
        let mut session = self
            .sessions
            .remove(&session_id)
            .filter(|s| s.expires_at > now && s.challenge == "MFA_SETUP")
            .ok_or_else(|| not_authorized("Invalid session for the user, session is expired."))?;
        let secret = random_bytes(20);
        session.setup_secret = Some(secret.clone());
        session.setup_verified = false;
        let new_id = self.open_session(session);
        Ok(json!({ "SecretCode": totp::base32(&secret), "Session": new_id }))
    }

    /// `VerifySoftwareToken` with the `MFA_SETUP` challenge's `Session`.
    fn verify_software_token_in_session(&mut self, body: &Value, now: i64) -> Answer {
        let session_id = body["Session"]
            .as_str()
            .ok_or_else(|| missing("Session"))?
            .to_owned();
        let code = body["UserCode"]
            .as_str()
            .ok_or_else(|| missing("UserCode"))?;
        let session = self
            .sessions
            .get(&session_id)
            .filter(|s| s.expires_at > now && s.challenge == "MFA_SETUP")
            .cloned()
            .ok_or_else(|| not_authorized("Invalid session for the user, session is expired."))?;
        let secret = session.setup_secret.clone().ok_or_else(|| {
            fault(
                "InvalidParameterException",
                "AssociateSoftwareToken was not called",
            )
        })?;
        if !totp::verify(&secret, code, now) {
            return Err(self.wrong_code(&session_id));
        }
        let mut session = self.sessions.remove(&session_id).expect("checked above");
        session.setup_verified = true;
        let new_id = self.open_session(session);
        Ok(json!({ "Status": "SUCCESS", "Session": new_id }))
    }

    pub fn global_sign_out(&mut self, body: &Value, now: i64) -> Answer {
        let index = self.account_user(body, now)?;
        let username = self.users[index].username.clone();
        self.users[index].signed_out_at = Some(now);
        for record in self.refresh_tokens.values_mut() {
            if record.username == username {
                record.revoked = true;
            }
        }
        Ok(json!({}))
    }

    pub fn revoke_token(&mut self, body: &Value) -> Answer {
        self.check_client(body)?;
        match (&self.options.client_secret, body["ClientSecret"].as_str()) {
            (Some(secret), Some(given)) if secret == given => {}
            (None, None) => {}
            _ => return Err(not_authorized("Client secret is missing or wrong")),
        }
        let token = body["Token"].as_str().ok_or_else(|| missing("Token"))?;
        if let Some(record) = self.refresh_tokens.get_mut(token) {
            record.revoked = true;
            let origin = record.origin_jti.clone();
            self.revoked_origins.push(origin);
        }
        Ok(json!({}))
    }

    /// Checks an access token the way Cognito does for GlobalSignOut and GetUser.
    fn verify_access_token(&self, token: &str, now: i64) -> Result<Value, CognitoFault> {
        self.verify_token(token, "access", now)
    }

    /// Checks a token this pool issued: signature, issuer, `token_use`, expiry, revocation.
    /// The pool's public key for the `kid` in `token`'s header.
    fn decoding_key(&self, token: &str) -> Option<jsonwebtoken::DecodingKey> {
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        let jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(self.jwks()).expect("own JWKS parses");
        jwks.find(&kid)
            .and_then(|jwk| jsonwebtoken::DecodingKey::from_jwk(jwk).ok())
    }

    fn verify_token(&self, token: &str, token_use: &str, now: i64) -> Result<Value, CognitoFault> {
        let invalid = || not_authorized("Invalid token");
        let key = self.decoding_key(token).ok_or_else(invalid)?;
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_issuer(&[self.issuer()]);
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|_| invalid())?
            .claims;
        if claims["token_use"] != token_use {
            return Err(invalid());
        }
        if claims["exp"].as_i64().unwrap_or(0) <= now {
            return Err(not_authorized("Access Token has expired"));
        }
        let origin = claims["origin_jti"].as_str().unwrap_or_default();
        if self.revoked_origins.iter().any(|o| o == origin) {
            return Err(not_authorized("Access Token has been revoked"));
        }
        let username = claims["username"]
            .as_str()
            .or(claims["cognito:username"].as_str())
            .unwrap_or_default();
        // A deleted user's access tokens (even once the name is taken again).
        let user_gone = self
            .find_user(username)
            .is_none_or(|i| claims["sub"] != self.users[i].sub.as_str());
        if token_use == "access" && user_gone {
            return Err(fault("UserNotFoundException", "User does not exist."));
        }
        let revoked_globally = self
            .find_user(username)
            .and_then(|i| self.users[i].signed_out_at)
            .is_some_and(|at| claims["iat"].as_i64().unwrap_or(0) <= at);
        if revoked_globally {
            return Err(not_authorized("Access Token has been revoked"));
        }
        Ok(claims)
    }

    /// An SRP proof's `TIMESTAMP`: Cognito's format, within the clock window.
    fn checked_timestamp<'a>(
        &self,
        given: Option<&'a str>,
        now: i64,
    ) -> Result<&'a str, CognitoFault> {
        let timestamp = given.ok_or_else(|| missing("TIMESTAMP"))?;
        let at = srp::parse_timestamp(timestamp)
            .ok_or_else(|| fault("InvalidParameterException", "TIMESTAMP format is wrong"))?;
        if (at - now).abs() > self.options.timestamp_window_seconds {
            return Err(not_authorized(
                "TIMESTAMP is outside the allowed clock window",
            ));
        }
        Ok(timestamp)
    }

    /// The user a sign-in names, unless the account must have its password reset first.
    fn signing_in_user(&self, typed: &str) -> Result<usize, CognitoFault> {
        let index = self.user_or_fail(typed)?;
        if self.users[index].reset_required {
            return Err(fault(
                "PasswordResetRequiredException",
                "Password reset required for the user",
            ));
        }
        Ok(index)
    }

    /// The `PASSWORD_VERIFIER` challenge for an SRP sign-in with the client's `srp_a`.
    fn start_srp(&mut self, index: usize, srp_a: &str, flow: SrpFlow) -> Value {
        let user = &self.users[index];
        let exchange = ServerExchange::new(
            user.verifier.clone(),
            BigUint::from_bytes_be(&random_bytes(32)),
        );
        let block = base64::engine::general_purpose::STANDARD.encode(random_bytes(64));
        let mut answer = json!({
            "ChallengeName": "PASSWORD_VERIFIER",
            "ChallengeParameters": {
                "SALT": user.salt_hex,
                "SRP_B": exchange.big_b.to_str_radix(16),
                "SECRET_BLOCK": block,
                "USER_ID_FOR_SRP": user.username,
                "USERNAME": user.username,
            }
        });
        // USER_SRP_AUTH's verifier comes without a session; the others carry theirs on.
        let session = (flow != SrpFlow::UserSrp)
            .then(|| base64::engine::general_purpose::STANDARD.encode(random_bytes(48)));
        if let Some(session) = &session {
            answer["Session"] = json!(session);
        }
        self.srp.insert(
            block,
            SrpPending {
                username: user.username.clone(),
                exchange,
                srp_a: srp_a.to_owned(),
                custom: flow == SrpFlow::Custom,
                session,
            },
        );
        answer
    }

    /// After a right password: an unconfirmed account is refused; else a new password, a
    /// second factor, or tokens.
    fn after_password(&mut self, index: usize, now: i64) -> Answer {
        if self.users[index].unconfirmed {
            return Err(fault("UserNotConfirmedException", "User is not confirmed."));
        }
        Ok(self.password_checked(index, now))
    }

    fn password_checked(&mut self, index: usize, now: i64) -> Value {
        let user = &self.users[index];
        if user.force_change_password {
            let attributes: BTreeMap<&String, &String> = user
                .attributes
                .iter()
                .filter(|(k, _)| k.as_str() != "sub")
                .collect();
            let required: Vec<String> = user
                .required_attributes
                .iter()
                .map(|a| format!("userAttributes.{a}"))
                .collect();
            let params = json!({
                "USER_ID_FOR_SRP": user.username,
                "userAttributes": serde_json::to_string(&attributes).expect("JSON"),
                "requiredAttributes": serde_json::to_string(&required).expect("JSON"),
            });
            return self.challenge(index, "NEW_PASSWORD_REQUIRED", params, now, |_| {});
        }
        self.mfa_or_tokens(index, now)
    }

    fn mfa_or_tokens(&mut self, index: usize, now: i64) -> Value {
        // A remembered device proves itself instead of a second factor.
        if let Some(challenge) = self.device_challenge(index, now) {
            return challenge;
        }
        let user = &self.users[index];
        let factors = user.mfa_enabled();
        if let Some(preferred) = user.preferred_mfa.filter(|p| factors.contains(p)) {
            return self.mfa_challenge(index, preferred, now);
        }
        match factors.as_slice() {
            [] if self.options.mfa_required => {
                let names: Vec<&str> = self
                    .options
                    .mfa_setup
                    .iter()
                    .map(|m| m.challenge())
                    .collect();
                let params =
                    json!({"MFAS_CAN_SETUP": serde_json::to_string(&names).expect("JSON")});
                self.challenge(index, "MFA_SETUP", params, now, |_| {})
            }
            [] => self.signed_in(index, now),
            [only] => self.mfa_challenge(index, *only, now),
            several => {
                let names: Vec<&str> = several.iter().map(|m| m.challenge()).collect();
                let params =
                    json!({"MFAS_CAN_CHOOSE": serde_json::to_string(&names).expect("JSON")});
                let choices = several.to_vec();
                self.challenge(index, "SELECT_MFA_TYPE", params, now, |s| {
                    s.choices = choices
                })
            }
        }
    }

    fn mfa_challenge(&mut self, index: usize, mfa: Mfa, now: i64) -> Value {
        match mfa {
            Mfa::Totp => self.challenge(index, "SOFTWARE_TOKEN_MFA", json!({}), now, |_| {}),
            Mfa::Sms | Mfa::Email => {
                let code = format!("{:06}", u32::from_be_bytes(random_array()) % 1_000_000);
                let username = self.users[index].username.clone();
                self.sent_codes.insert(username, code.clone());
                let (medium, destination) = if mfa == Mfa::Sms {
                    ("SMS", "+*******0100".to_owned())
                } else {
                    (
                        "EMAIL",
                        mask_email(self.users[index].email.as_deref().unwrap_or("x@x")),
                    )
                };
                let params = json!({
                    "CODE_DELIVERY_DELIVERY_MEDIUM": medium,
                    "CODE_DELIVERY_DESTINATION": destination,
                });
                self.challenge(index, mfa.challenge(), params, now, |s| s.code = Some(code))
            }
        }
    }

    fn challenge(
        &mut self,
        index: usize,
        name: &'static str,
        mut params: Value,
        now: i64,
        customize: impl FnOnce(&mut ChallengeSession),
    ) -> Value {
        let username = self.users[index].username.clone();
        // As Cognito: follow-up challenges name the user only by USER_ID_FOR_SRP (the
        // canonical username), never by USERNAME.
        params["USER_ID_FOR_SRP"] = json!(username);
        let mut session = ChallengeSession {
            username,
            challenge: name,
            expires_at: now + SESSION_SECONDS,
            attempts: 0,
            code: None,
            setup_secret: None,
            setup_verified: false,
            choices: Vec::new(),
            round: 0,
            device: None,
        };
        customize(&mut session);
        let id = self.open_session(session);
        json!({ "ChallengeName": name, "Session": id, "ChallengeParameters": params })
    }

    fn open_session(&mut self, session: ChallengeSession) -> String {
        let id = base64::engine::general_purpose::STANDARD.encode(random_bytes(48));
        self.sessions.insert(id.clone(), session);
        id
    }

    fn signed_in(&mut self, index: usize, now: i64) -> Value {
        self.signed_in_as(index, now, None)
    }

    /// Tokens and a new refresh token for a grant of `scope` (`None`: an API sign-in).
    fn signed_in_as(&mut self, index: usize, now: i64, scope: Option<String>) -> Value {
        let origin = uuid();
        let grant = Grant {
            scope: scope.clone(),
            nonce: None,
        };
        let mut result = self.mint(index, now, Some(origin.clone()), &grant);
        let refresh = self.new_refresh_token(index, origin, scope);
        let device = self.device_for_tokens(index, &mut result);
        if let Some(record) = self.refresh_tokens.get_mut(&refresh) {
            record.device_key = device;
        }
        if !self.options.omit_refresh_token {
            result["RefreshToken"] = json!(refresh);
        }
        json!({ "AuthenticationResult": result, "ChallengeParameters": {} })
    }

    /// Tokens refreshed from `record`, with the scopes of its grant.
    fn refreshed(&mut self, index: usize, now: i64, record: &RefreshRecord) -> Value {
        let grant = Grant {
            scope: record.scope.clone(),
            nonce: None,
        };
        self.mint(index, now, Some(record.origin_jti.clone()), &grant)
    }

    /// A refresh token for the user, for the session `origin` names.
    fn new_refresh_token(&mut self, index: usize, origin: String, scope: Option<String>) -> String {
        let refresh = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(96));
        self.refresh_tokens.insert(
            refresh.clone(),
            RefreshRecord {
                username: self.users[index].username.clone(),
                revoked: false,
                rotated_at: None,
                origin_jti: origin,
                sub: self.users[index].sub.clone(),
                scope,
                device_key: None,
            },
        );
        refresh
    }

    /// Id and access tokens with Cognito's claim sets, signed by the keys in turn, for `grant`
    /// (a managed login's scopes and nonce; the default for API sign-ins).
    fn mint(&mut self, index: usize, now: i64, origin: Option<String>, grant: &Grant) -> Value {
        let user = &self.users[index];
        let origin = origin.unwrap_or_else(uuid);
        let issuer = self.issuer();
        let mut id_claims = json!({
            "sub": user.sub, "aud": self.options.client_id, "iss": issuer, "token_use": "id",
            "cognito:username": user.username, "auth_time": now, "iat": now,
            "exp": now + self.options.id_token_seconds, "jti": uuid(), "origin_jti": origin,
            "event_id": uuid(),
        });
        if let Some(email) = user.email.as_ref().filter(|_| grant.allows("email")) {
            id_claims["email"] = json!(email);
            id_claims["email_verified"] = json!(user.verified.contains("email"));
        }
        if let Some(identities) = &user.identities {
            id_claims["identities"] = identities.clone();
        }
        if let Some(nonce) = &grant.nonce {
            id_claims["nonce"] = json!(nonce);
        }
        for (name, value) in &user.attributes {
            if !matches!(name.as_str(), "sub" | "email") {
                id_claims[name] = json!(value);
            }
        }
        if user.attributes.contains_key("phone_number") {
            id_claims["phone_number_verified"] = json!(user.verified.contains("phone_number"));
        }
        let access_claims = json!({
            "sub": user.sub, "iss": issuer, "client_id": self.options.client_id,
            "origin_jti": origin, "event_id": uuid(), "token_use": "access",
            "scope": grant.scope.as_deref().unwrap_or("aws.cognito.signin.user.admin"),
            "auth_time": now, "iat": now,
            "exp": now + self.options.access_token_seconds, "jti": uuid(),
            "username": user.username,
        });
        let id_token = self.sign(&id_claims);
        let access_token = self.sign(&access_claims);
        json!({
            "AccessToken": access_token,
            "IdToken": id_token,
            "ExpiresIn": self.options.access_token_seconds,
            "TokenType": "Bearer",
        })
    }

    fn sign(&mut self, claims: &Value) -> String {
        let (kid, key) = &self.keys[usize::try_from(self.tokens_issued % 2).unwrap_or(0)];
        self.tokens_issued += 1;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, key).expect("signing works")
    }
}

impl PoolState {
    /// The `Logins` key for this user pool.
    pub fn logins_key(&self) -> String {
        format!(
            "cognito-idp.{}.amazonaws.com/{}",
            self.options.region, self.options.pool_id
        )
    }

    /// The user `sub` the request's Logins prove, or `None` without Logins.
    fn login_sub(&self, body: &Value, now: i64) -> Result<Option<String>, CognitoFault> {
        let Some(logins) = body["Logins"].as_object() else {
            return Ok(None);
        };
        let [(key, token)] = logins.iter().collect::<Vec<_>>()[..] else {
            return Err(not_authorized("Exactly one login is supported"));
        };
        let token = token
            .as_str()
            .ok_or_else(|| not_authorized("Invalid login token"))?;
        if self.options.oidc_provider.as_deref() == Some(key.as_str()) {
            return self.external_login(token, now).map(Some);
        }
        if *key != self.logins_key() {
            return Err(not_authorized(&format!("Invalid login provider {key}")));
        }
        let claims = self.verify_token(token, "id", now)?;
        if claims["aud"] != self.options.client_id.as_str() {
            return Err(not_authorized("Invalid login token. Incorrect audience."));
        }
        Ok(claims["sub"].as_str().map(str::to_owned))
    }

    pub fn get_id(&mut self, body: &Value, now: i64) -> Answer {
        if body["IdentityPoolId"] != self.options.identity_pool_id.as_str() {
            return Err(fault(
                "ResourceNotFoundException",
                "IdentityPool not found".to_owned(),
            ));
        }
        let id = match self.login_sub(body, now)? {
            Some(sub) => self
                .identities
                .iter()
                .find(|(_, owner)| owner.as_deref() == Some(sub.as_str()))
                .map(|(id, _)| id.clone())
                .unwrap_or_else(|| {
                    let id = format!("{}:{}", self.options.region, uuid());
                    self.identities.insert(id.clone(), Some(sub));
                    id
                }),
            None if self.options.allow_unauthenticated => {
                let id = format!("{}:{}", self.options.region, uuid());
                self.identities.insert(id.clone(), None);
                id
            }
            None => {
                return Err(not_authorized(
                    "Unauthenticated access is not supported for this identity pool.",
                ));
            }
        };
        Ok(json!({ "IdentityId": id }))
    }

    pub fn get_credentials_for_identity(&mut self, body: &Value, now: i64) -> Answer {
        let id = body["IdentityId"]
            .as_str()
            .ok_or_else(|| missing("IdentityId"))?
            .to_owned();
        let owner = self.identities.get(&id).cloned().ok_or_else(|| {
            fault(
                "ResourceNotFoundException",
                format!("Identity '{id}' not found."),
            )
        })?;
        let sub = self.login_sub(body, now)?;
        match (&owner, &sub) {
            (Some(owner), Some(sub)) if owner == sub => {}
            (Some(_), Some(_)) => {
                return Err(not_authorized("Identity belongs to another user"));
            }
            (Some(_), None) => {
                return Err(not_authorized(
                    "Logins are required for an authenticated identity",
                ));
            }
            (None, Some(sub)) => {
                // A guest identity offered at sign-in: linked, unless the user has one already.
                if self
                    .identities
                    .values()
                    .any(|o| o.as_deref() == Some(sub.as_str()))
                {
                    return Err(not_authorized("The user already has an identity"));
                }
                self.identities.insert(id.clone(), Some(sub.clone()));
            }
            (None, None) if !self.options.allow_unauthenticated => {
                return Err(not_authorized(
                    "Unauthenticated access is not supported for this identity pool.",
                ));
            }
            (None, None) => {}
        }
        let key = format!(
            "ASIA{}",
            data_encoding::BASE32_NOPAD.encode(&random_bytes(10))
        );
        self.issued_credentials.push((key.clone(), id.clone()));
        let expiration = (now + self.options.credentials_seconds) as f64 + 0.25;
        Ok(json!({
            "IdentityId": id,
            "Credentials": {
                "AccessKeyId": key,
                "SecretKey": base64::engine::general_purpose::STANDARD.encode(random_bytes(30)),
                "SessionToken": base64::engine::general_purpose::STANDARD.encode(random_bytes(120)),
                "Expiration": expiration,
            }
        }))
    }
}

/// A refresh token issued to a device is refused without that device's key.
fn check_device(record: &RefreshRecord, given: Option<&str>) -> Result<(), CognitoFault> {
    match &record.device_key {
        Some(key) if given != Some(key.as_str()) => Err(not_authorized("Invalid Refresh Token")),
        _ => Ok(()),
    }
}

fn missing(name: &str) -> CognitoFault {
    fault(
        "InvalidParameterException",
        format!("Missing required parameter {name}"),
    )
}

/// Cognito's default policy: at least 8 characters with a lowercase letter, an uppercase
/// letter, a digit and a symbol.
fn password_policy(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < 8 {
        return Err("Password not long enough");
    }
    if !password.chars().any(|c| c.is_lowercase()) {
        return Err("Password must have lowercase characters");
    }
    if !password.chars().any(|c| c.is_uppercase()) {
        return Err("Password must have uppercase characters");
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        return Err("Password must have numeric characters");
    }
    if password.chars().all(char::is_alphanumeric) {
        return Err("Password must have symbol characters");
    }
    Ok(())
}

/// `SECRET_HASH`, computed here on its own so the daemon's cannot hide a mistake.
pub fn secret_hash(secret: &str, username: &str, client_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{username}{client_id}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            format!(
                "{}***@{}***",
                &local[..1.min(local.len())],
                &domain[..1.min(domain.len())]
            )
        }
        None => "***".to_owned(),
    }
}

/// What a managed login grant adds to the tokens: its scopes (`None`: an API sign-in) and the
/// authorize request's nonce.
#[derive(Debug, Clone, Default)]
struct Grant {
    scope: Option<String>,
    nonce: Option<String>,
}

impl Grant {
    fn allows(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_none_or(|s| s.split(' ').any(|granted| granted == scope))
    }
}

pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("OS randomness");
    bytes
}

fn random_array<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("OS randomness");
    bytes
}

fn uuid() -> String {
    let b: [u8; 16] = random_array();
    let hex = data_encoding::HEXLOWER.encode(&b);
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy_names_what_is_missing() {
        assert!(password_policy("Str0ng-Pass").is_ok());
        assert_eq!(password_policy("Sh0rt-"), Err("Password not long enough"));
        assert_eq!(
            password_policy("no-upper-1"),
            Err("Password must have uppercase characters")
        );
        assert_eq!(
            password_policy("NoSymbol1x"),
            Err("Password must have symbol characters")
        );
    }

    #[test]
    fn secret_hash_matches_a_value_computed_elsewhere() {
        // Python: base64(hmac.new(b"secret", b"aliceclient", sha256).digest())
        assert_eq!(
            secret_hash("secret", "alice", "client"),
            "RTsve+FQ659UKyESgvLg9GYmZEL+QjzQsW/OjL77/b0="
        );
    }

    #[test]
    fn password_sign_in_issues_verifiable_tokens() {
        let mut pool = PoolState::new(PoolOptions::default());
        pool.add_user(UserSpec::new("alice", "Passw0rd!"));
        let body = json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": pool.options.client_id,
                          "AuthParameters": {"USERNAME": "alice", "PASSWORD": "wrong"}});
        let err = pool.initiate_auth(&body, 1_800_000_000).unwrap_err();
        assert_eq!(err.kind, "NotAuthorizedException");
        let body = json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": pool.options.client_id,
                          "AuthParameters": {"USERNAME": "alice", "PASSWORD": "Passw0rd!"}});
        let now = cognitod_proto::Timestamp::now().unix();
        let answer = pool.initiate_auth(&body, now).unwrap();
        let access = answer["AuthenticationResult"]["AccessToken"]
            .as_str()
            .unwrap();
        assert!(pool.verify_access_token(access, now).is_ok());
        assert!(answer["AuthenticationResult"]["RefreshToken"].is_string());
    }
}
