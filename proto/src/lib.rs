//! Wire types of the cognitod socket API, version 1.
//!
//! HTTP/1.1 with JSON bodies over a Unix stream socket. Field names are camelCase, as in
//! Amplify Auth. Unknown request fields are ignored and clients must ignore unknown response
//! fields: the API grows by adding fields. This crate does no I/O.

mod account;
mod secret;
mod timestamp;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use account::*;
pub use secret::Secret;
pub use timestamp::Timestamp;

/// The version of the socket API these types describe; `/v1/...` paths.
pub const API_VERSION: u32 = 1;

/// Response header carrying [`API_VERSION`] on every answer, so a client can check it for free.
pub const API_VERSION_HEADER: &str = "cognitod-api-version";

/// The socket path daemon and clients agree on when none is configured:
/// `$XDG_RUNTIME_DIR/cognitod/socket`, else `/tmp/cognitod-<uid>/socket`.
pub fn default_socket_path(
    xdg_runtime_dir: Option<&std::path::Path>,
    uid: u32,
) -> std::path::PathBuf {
    match xdg_runtime_dir {
        Some(dir) => dir.join("cognitod/socket"),
        None => std::path::PathBuf::from(format!("/tmp/cognitod-{uid}/socket")),
    }
}

/// Whether `name` may name a profile: `[a-z0-9][a-z0-9_-]{0,31}` (no `/` or `.`, so it is
/// safe in paths and systemd instance names).
pub fn is_profile_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Why `name` is not a profile name, for messages.
pub const PROFILE_NAME_RULE: &str =
    "a profile name is 1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit";

/// Profile `profile`'s socket when none is configured:
/// `$XDG_RUNTIME_DIR/cognitod/profiles/<profile>/socket`, else
/// `/tmp/cognitod-<uid>/profiles/<profile>/socket`.
pub fn profile_socket_path(
    xdg_runtime_dir: Option<&std::path::Path>,
    uid: u32,
    profile: &str,
) -> std::path::PathBuf {
    let base = default_socket_path(xdg_runtime_dir, uid);
    let dir = base.parent().unwrap_or(std::path::Path::new("/"));
    dir.join("profiles").join(profile).join("socket")
}

/// A system-wide profile's socket (the template unit `cognitod@.socket`).
pub fn system_profile_socket_path(profile: &str) -> std::path::PathBuf {
    std::path::Path::new("/run/cognitod/profiles")
        .join(profile)
        .join("socket")
}

/// Largest request body the daemon accepts (larger ones get 413 `PayloadTooLarge`).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `GET /v1/status`.
///
/// ```json
/// {"version": "0.1.0", "apiVersion": 1, "state": "signedIn", "guest": false,
///  "username": "alice", "tokensExpireAt": "2026-11-26T20:05:09Z",
///  "consecutiveFailures": 0, "upstream": "ok"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub version: String,
    pub api_version: u32,
    pub state: SessionState,
    pub guest: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_expire_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_expire_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_refresh_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<LastRefresh>,
    pub consecutive_failures: u32,
    pub upstream: UpstreamHealth,
    /// The container credentials endpoint, when enabled and serving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<EcsInfo>,
    /// Why the enabled container credentials endpoint is not served (the socket is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_error: Option<String>,
    /// Why the last write of the state file failed (the session goes on in memory); absent
    /// once a write succeeds again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file_error: Option<String>,
    /// The sign-in step waiting for an answer (`state` is `signingIn`; `username` is whom it
    /// is for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<NextStep>,
    /// How the last session ended, since the daemon started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sign_out: Option<LastSignOut>,
}

/// How a session ended: at the user's request (no `reason`), or because Cognito refused its
/// refresh token (`reason` says why).
///
/// ```json
/// {"at": "2026-11-26T19:05:09Z", "username": "alice", "reason": "NotAuthorizedException: Refresh Token has been revoked"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSignOut {
    pub at: Timestamp,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where the container credentials endpoint listens and where its token is.
///
/// ```json
/// {"url": "http://127.0.0.1:41234/", "tokenFile": "/run/user/1000/cognitod/ecs-token"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsInfo {
    pub url: String,
    pub token_file: String,
}

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionState {
    SignedOut,
    SigningIn,
    SignedIn,
    /// An identity pool identity from an external provider's token, without a user-pool user.
    Federated,
}

/// How the last calls to Cognito went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UpstreamHealth {
    Ok,
    Degraded,
    Unreachable,
}

/// The outcome of the last token refresh.
///
/// ```json
/// {"at": "2026-11-26T19:05:09Z", "ok": false, "error": "cognito-idp unreachable"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRefresh {
    pub at: Timestamp,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /v1/user`: Amplify's `getCurrentUser()`.
///
/// ```json
/// {"username": "alice", "userId": "7d1f0e2c-1111-2222-3333-444455556666",
///  "signInDetails": {"loginId": "alice@example.com", "authFlowType": "USER_SRP_AUTH"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub username: String,
    pub user_id: String,
    pub sign_in_details: SignInDetails,
}

/// How the user signed in, as recorded at sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInDetails {
    pub login_id: String,
    pub auth_flow_type: AuthFlowType,
    /// A browser sign-in through an external identity provider: its name in the pool
    /// (`Google`, a SAML or OIDC provider's name), from the id token's `identities` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// The Cognito authentication flow used to sign in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthFlowType {
    /// Secure Remote Password: the password never leaves the machine.
    #[default]
    #[serde(rename = "USER_SRP_AUTH")]
    UserSrpAuth,
    /// The password is sent to Cognito over TLS.
    #[serde(rename = "USER_PASSWORD_AUTH")]
    UserPasswordAuth,
    /// The pool's custom challenges (its Lambda triggers), after an SRP password check.
    #[serde(rename = "CUSTOM_WITH_SRP")]
    CustomWithSrp,
    /// The pool's custom challenges only (no password).
    #[serde(rename = "CUSTOM_WITHOUT_SRP")]
    CustomWithoutSrp,
    /// Choice-based sign-in: a password, SRP, or a one-time code by email or SMS.
    #[serde(rename = "USER_AUTH")]
    UserAuth,
    /// Through the managed login in a browser (OAuth 2.0 authorization code with PKCE); only
    /// ever recorded, never asked for in `POST /v1/sign-in`.
    #[serde(rename = "REDIRECT")]
    Redirect,
    /// A flow a newer daemon or client knows and this one does not.
    #[serde(other, rename = "UNKNOWN")]
    Unknown,
}

impl AuthFlowType {
    /// The name Cognito and Amplify use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserSrpAuth => "USER_SRP_AUTH",
            Self::UserPasswordAuth => "USER_PASSWORD_AUTH",
            Self::CustomWithSrp => "CUSTOM_WITH_SRP",
            Self::CustomWithoutSrp => "CUSTOM_WITHOUT_SRP",
            Self::UserAuth => "USER_AUTH",
            Self::Redirect => "REDIRECT",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// `GET /v1/session`: Amplify's `fetchAuthSession()`.
///
/// ```json
/// {"isSignedIn": true, "userSub": "7d1f0e2c-...",
///  "tokens": {"idToken": "eyJ...", "accessToken": "eyJ...", "expiresAt": "2026-11-26T20:05:09Z"}}
/// ```
/// Signed out (without guest access): `{"isSignedIn": false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub is_signed_in: bool,
    /// The signed-in user's username (as `GET /v1/user` has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Tokens>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// A federated identity: the provider (the identity pool's login key) it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_provider: Option<String>,
}

/// `POST /v1/federate`: an identity pool identity from an external provider's token. Without
/// a token the daemon runs `[federation] token_command` for one.
///
/// ```json
/// {"provider": "token.actions.githubusercontent.com", "token": "eyJ..."}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
}

/// The answer to `POST /v1/federate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FederateResponse {
    pub is_signed_in: bool,
    pub federated_provider: String,
    pub identity_id: String,
    pub credentials: Credentials,
}

/// The session's JWTs. `expiresAt` is the earlier of the two tokens' `exp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    pub id_token: Secret,
    pub access_token: Secret,
    pub expires_at: Timestamp,
}

/// Temporary AWS credentials from the identity pool.
///
/// ```json
/// {"accessKeyId": "ASIA...", "secretAccessKey": "...", "sessionToken": "...",
///  "expiration": "2026-11-26T20:05:09Z"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: Timestamp,
}

/// `GET /v1/credentials`: the user's AWS credentials, else a guest's.
///
/// ```json
/// {"accessKeyId": "ASIA...", "secretAccessKey": "...", "sessionToken": "...",
///  "expiration": "2026-11-26T20:05:09Z", "identityId": "eu-west-1:1234..."}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsResponse {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: Timestamp,
    pub identity_id: String,
}

/// `GET /v1/credentials/process[?forceRefresh=true]`: the same credentials in the AWS
/// `credential_process` format, which `cognitoctl credential-process` prints as it comes (no
/// parsing and printing again on the path every AWS CLI command takes). The fields are in the
/// order AWS documents them.
///
/// ```json
/// {"Version": 1, "AccessKeyId": "ASIA...", "SecretAccessKey": "...", "SessionToken": "...",
///  "Expiration": "2026-11-29T12:00:00Z"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessCredentials {
    pub version: u8,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: Timestamp,
}

impl From<CredentialsResponse> for ProcessCredentials {
    fn from(credentials: CredentialsResponse) -> Self {
        ProcessCredentials {
            version: 1,
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            session_token: credentials.session_token,
            expiration: credentials.expiration,
        }
    }
}

/// `POST /v1/sign-in`.
///
/// ```json
/// {"username": "alice", "password": "...", "authFlowType": "USER_SRP_AUTH"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInRequest {
    pub username: String,
    /// Not needed for `CUSTOM_WITHOUT_SRP`.
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_flow_type: Option<AuthFlowType>,
    /// Passed to the pool's Lambda triggers, as Amplify's `options.clientMetadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, String>>,
    /// `USER_AUTH`: the first factor wanted (`PASSWORD`, `PASSWORD_SRP`, `EMAIL_OTP`,
    /// `SMS_OTP`); without it Cognito offers a choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_challenge: Option<String>,
}

/// `POST /v1/sign-in/confirm`: the answer to the pending sign-in step.
///
/// ```json
/// {"challengeResponse": "123456"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmSignInRequest {
    pub challenge_response: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_attributes: Option<BTreeMap<String, String>>,
    /// Passed to the pool's Lambda triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, String>>,
}

/// The answer to `POST /v1/sign-in` and `POST /v1/sign-in/confirm`.
///
/// ```json
/// {"isSignedIn": true, "nextStep": {"signInStep": "DONE"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInResponse {
    pub is_signed_in: bool,
    pub next_step: NextStep,
}

/// What the user must do next to finish signing in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextStep {
    pub sign_in_step: SignInStep,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_attributes: Option<Vec<String>>,
    #[serde(
        default,
        rename = "allowedMFATypes",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_mfa_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_delivery_details: Option<CodeDeliveryDetails>,
    /// The `otpauth://` URI holding the new TOTP secret: a secret itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_setup_uri: Option<Secret>,
    /// A custom challenge's public parameters (from the pool's Lambda trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<BTreeMap<String, String>>,
    /// The first factors to choose from (`CONTINUE_SIGN_IN_WITH_FIRST_FACTOR_SELECTION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_challenges: Option<Vec<String>>,
}

impl NextStep {
    /// A step with no details.
    pub fn new(sign_in_step: SignInStep) -> Self {
        Self {
            sign_in_step,
            missing_attributes: None,
            allowed_mfa_types: None,
            code_delivery_details: None,
            totp_setup_uri: None,
            additional_info: None,
            available_challenges: None,
        }
    }
}

/// Where a one-time code was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeDeliveryDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The attribute the code verifies (`email`, `phone_number`), for account codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_name: Option<String>,
}

/// Amplify's sign-in steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SignInStep {
    Done,
    ConfirmSignInWithNewPasswordRequired,
    ConfirmSignInWithTotpCode,
    ConfirmSignInWithSmsCode,
    ConfirmSignInWithEmailCode,
    ContinueSignInWithMfaSelection,
    ContinueSignInWithTotpSetup,
    /// A custom challenge of the pool's; `additionalInfo` holds its public parameters.
    ConfirmSignInWithCustomChallenge,
    /// `USER_AUTH`: choose a first factor among `availableChallenges`.
    ContinueSignInWithFirstFactorSelection,
    /// `USER_AUTH` with a password first factor: the password.
    ConfirmSignInWithPassword,
    /// MFA setup by email during sign-in: the address codes go to.
    ContinueSignInWithEmailSetup,
    /// MFA must be set up and several kinds may be: choose among `allowedMFATypes`.
    ContinueSignInWithMfaSetupSelection,
    /// The password must be reset first (`PasswordResetRequiredException`); not a step
    /// `confirm` answers.
    ResetPassword,
    /// The account is not confirmed yet (`UserNotConfirmedException`); not a step `confirm`
    /// answers.
    ConfirmSignUp,
    /// A step a newer daemon knows and this client does not.
    #[serde(other)]
    Unknown,
}

/// `POST /v1/sign-out`. An empty body means `{}`.
///
/// ```json
/// {"global": true}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOutRequest {
    #[serde(default)]
    pub global: bool,
    /// Forget this machine as the user's remembered device too (it survives a sign-out
    /// otherwise).
    #[serde(
        default,
        rename = "forgetDevice",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub forget_device: bool,
}

/// The answer to `POST /v1/sign-out`: the session is gone here whatever Cognito said;
/// `revoked` tells whether Cognito confirmed the revocation (`RevokeToken`, or
/// `GlobalSignOut` for a global sign-out), and `revokeError` why not when it was tried.
///
/// ```json
/// {"isSignedIn": false, "revoked": false,
///  "revokeError": {"code": "UpstreamUnavailable", "message": "..."}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignOutResponse {
    pub is_signed_in: bool,
    pub revoked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_error: Option<ApiError>,
    /// Cognito could not be reached: the daemon tries the revocation again on its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retrying: bool,
    /// A browser session: the managed login's `/logout` URL, to open in the browser so its
    /// Cognito cookie goes too (else the next browser sign-in silently reuses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_url: Option<String>,
}

/// One of the user's remembered devices (`GET /v1/devices`), as Amplify's `fetchDevices`.
///
/// ```json
/// {"id": "us-east-1_0a1b...", "name": "laptop", "remembered": true, "current": true}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Cognito remembers it (it skips MFA).
    pub remembered: bool,
    /// This machine.
    pub current: bool,
    /// Cognito's other attributes of the device.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// `POST /v1/sign-in/redirect`: starts a browser sign-in. An empty body means `{}`.
///
/// ```json
/// {"provider": "Google"}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectSignInRequest {
    /// An identity provider to go to directly (Cognito's name or Amplify's, such as `GOOGLE`);
    /// without it the managed login page offers them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// The answer to `POST /v1/sign-in/redirect`: the URL to open in a browser, and where the
/// browser comes back to.
///
/// ```json
/// {"authorizeUrl": "https://auth.example.com/oauth2/authorize?...",
///  "redirectUri": "http://localhost:8976/callback", "expiresAt": "2026-11-26T19:15:09Z"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectSignInResponse {
    /// Holds the attempt's `state`: for the user's browser only, never for a log.
    pub authorize_url: Secret,
    pub redirect_uri: String,
    pub expires_at: Timestamp,
}

/// `POST /v1/sign-in/redirect/complete`: the URL the browser was sent back to.
///
/// ```json
/// {"callbackUrl": "http://localhost:8976/callback?code=...&state=..."}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteRedirectRequest {
    pub callback_url: Secret,
}

/// `GET /v1/session` and `GET /v1/credentials` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionQuery {
    #[serde(default)]
    pub force_refresh: bool,
}

/// One event of `GET /v1/events` (server-sent events: `event: <type>` and `data: <json>`).
///
/// ```json
/// {"type": "tokenRefresh", "at": "2026-11-26T19:05:09Z", "expiresAt": "2026-11-26T20:05:09Z"}
/// ```
/// Clients must ignore event types they do not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Goes up by one for each event, and across restarts (also the SSE `id:`), so a client that
    /// reconnects can tell what it missed; 0 for `lagged`, which is this subscriber's own.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub id: u64,
    pub at: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

fn is_zero(id: &u64) -> bool {
    *id == 0
}

/// What happened; never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    /// `username` is the provider for a federated identity, which also names it in
    /// `federatedProvider`.
    #[serde(rename = "signedIn", rename_all = "camelCase")]
    SignedIn {
        username: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        federated_provider: Option<String>,
    },
    #[serde(rename = "signedOut")]
    SignedOut {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    #[serde(rename = "tokenRefresh", rename_all = "camelCase")]
    TokenRefresh { expires_at: Timestamp },
    #[serde(rename = "tokenRefresh_failure")]
    TokenRefreshFailure { error: String },
    #[serde(rename = "credentialsRefresh")]
    CredentialsRefresh { expiration: Timestamp },
    /// The tokens expired with no successful refresh.
    #[serde(rename = "sessionExpired")]
    SessionExpired {},
    /// This subscriber fell behind and missed events.
    #[serde(rename = "lagged")]
    Lagged { missed: u64 },
}

impl EventKind {
    /// The `type` name, also the SSE `event:` field.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SignedIn { .. } => "signedIn",
            Self::SignedOut { .. } => "signedOut",
            Self::TokenRefresh { .. } => "tokenRefresh",
            Self::TokenRefreshFailure { .. } => "tokenRefresh_failure",
            Self::CredentialsRefresh { .. } => "credentialsRefresh",
            Self::SessionExpired {} => "sessionExpired",
            Self::Lagged { .. } => "lagged",
        }
    }
}

/// Every error answer.
///
/// ```json
/// {"error": {"code": "UserUnAuthenticatedException", "message": "not signed in",
///            "recoverySuggestion": "sign in with `cognitoctl login`"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

/// The error inside [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_suggestion: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(suggestion) = &self.recovery_suggestion {
            write!(f, "\n{suggestion}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The daemon's own error codes. Cognito's exception names (`NotAuthorizedException`, ...) are
/// passed through as they come.
pub mod codes {
    pub const INVALID_REQUEST: &str = "InvalidRequest";
    pub const USER_UNAUTHENTICATED: &str = "UserUnAuthenticatedException";
    pub const NOT_AUTHORIZED: &str = "NotAuthorizedException";
    pub const FORBIDDEN: &str = "Forbidden";
    pub const NOT_FOUND: &str = "NotFound";
    pub const METHOD_NOT_ALLOWED: &str = "MethodNotAllowed";
    pub const USER_ALREADY_AUTHENTICATED: &str = "UserAlreadyAuthenticatedException";
    pub const NO_PENDING_SIGN_IN_STEP: &str = "NoPendingSignInStep";
    pub const PAYLOAD_TOO_LARGE: &str = "PayloadTooLarge";
    pub const UPSTREAM_UNAVAILABLE: &str = "UpstreamUnavailable";
    pub const UNSUPPORTED_CHALLENGE: &str = "UnsupportedChallenge";
    pub const INVALID_TOKEN: &str = "InvalidTokenException";
    pub const INTERNAL_ERROR: &str = "InternalError";
}

#[cfg(test)]
mod tests;
