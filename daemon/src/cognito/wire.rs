//! Request and response bodies of the Cognito user pool actions cognitod calls, in the JSON 1.1
//! protocol's PascalCase. Optional fields are optional: emulators and Cognito differ.

use std::collections::BTreeMap;

use cognitod_proto::Secret;
use serde::{Deserialize, Serialize};

/// Parameters whose values may be secret (`PASSWORD`, `SECRET_HASH`, `REFRESH_TOKEN`, ...).
pub type SecretParameters = BTreeMap<String, Secret>;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitiateAuthRequest {
    pub auth_flow: &'static str,
    pub client_id: String,
    pub auth_parameters: SecretParameters,
    /// For the pool's Lambda triggers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, String>>,
    /// `USER_AUTH` right after a confirmed sign-up: `ConfirmSignUp`'s session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Secret>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RespondToAuthChallengeRequest {
    pub challenge_name: String,
    pub client_id: String,
    pub challenge_responses: SecretParameters,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Secret>,
    /// For the pool's Lambda triggers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, String>>,
}

/// The answer to InitiateAuth and RespondToAuthChallenge: tokens, or another challenge.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthResponse {
    #[serde(default)]
    pub challenge_name: Option<String>,
    #[serde(default)]
    pub session: Option<Secret>,
    #[serde(default)]
    pub challenge_parameters: BTreeMap<String, String>,
    #[serde(default)]
    pub authentication_result: Option<AuthenticationResult>,
    /// `SELECT_CHALLENGE` (`USER_AUTH`): the first factors the user may choose.
    #[serde(default)]
    pub available_challenges: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthenticationResult {
    pub access_token: Secret,
    #[serde(default)]
    pub id_token: Option<Secret>,
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub token_type: Option<String>,
    /// A pool with device tracking: this machine as a new device, to confirm.
    #[serde(default)]
    pub new_device_metadata: Option<NewDeviceMetadata>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewDeviceMetadata {
    pub device_key: String,
    pub device_group_key: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfirmDeviceRequest<'a> {
    pub access_token: &'a Secret,
    pub device_key: &'a str,
    pub device_secret_verifier_config: DeviceSecretVerifierConfig<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_name: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceSecretVerifierConfig<'a> {
    pub password_verifier: &'a str,
    pub salt: &'a str,
}

/// `ListDevices`' answer (what cognitod reads of it).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDevicesResponse {
    #[serde(default)]
    pub devices: Vec<DeviceType>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceType {
    pub device_key: String,
    #[serde(default)]
    pub device_attributes: Vec<AttributeType>,
}

pub use super::account::Attribute as AttributeType;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfirmDeviceResponse {
    #[serde(default)]
    pub user_confirmation_necessary: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevokeTokenRequest<'a> {
    pub token: &'a Secret,
    pub client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<&'a Secret>,
}

/// Refresh with rotation: the answer carries a new refresh token.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTokensFromRefreshTokenRequest<'a> {
    pub refresh_token: &'a Secret,
    pub client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<&'a Secret>,
    /// The remembered device the refresh token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_key: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GlobalSignOutRequest<'a> {
    pub access_token: &'a Secret,
}

/// AssociateSoftwareToken during `MFA_SETUP` (by the challenge's `Session`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateSoftwareTokenRequest<'a> {
    pub session: &'a Secret,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateSoftwareTokenResponse {
    /// The TOTP secret, base32.
    pub secret_code: Secret,
    #[serde(default)]
    pub session: Option<Secret>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifySoftwareTokenRequest<'a> {
    pub session: &'a Secret,
    pub user_code: &'a Secret,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifySoftwareTokenResponse {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub session: Option<Secret>,
}

/// An error body: `{"__type": "NotAuthorizedException", "message": "..."}`.
#[derive(Debug, Deserialize)]
pub struct ErrorResponse {
    #[serde(rename = "__type", default)]
    pub kind: Option<String>,
    #[serde(alias = "Message", default)]
    pub message: Option<String>,
}

/// Identity pool `GetId`: the identity for the Logins (authenticated) or a new guest one.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetIdRequest<'a> {
    pub identity_pool_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logins: Option<BTreeMap<String, Secret>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetIdResponse {
    pub identity_id: String,
}

/// Identity pool `GetCredentialsForIdentity`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCredentialsForIdentityRequest<'a> {
    pub identity_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logins: Option<BTreeMap<String, Secret>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCredentialsForIdentityResponse {
    #[serde(default)]
    pub identity_id: Option<String>,
    pub credentials: IdentityCredentials,
}

/// Temporary AWS credentials; `Expiration` is epoch seconds, a JSON number with a fraction.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdentityCredentials {
    pub access_key_id: String,
    pub secret_key: Secret,
    pub session_token: Secret,
    pub expiration: f64,
}
