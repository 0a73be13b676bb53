//! The account calls: sign-up, password reset and change, attributes, MFA settings, TOTP setup
//! and deleting the account, in Amplify's shapes (`signUp`, `resetPassword`,
//! `updateUserAttributes`, `fetchMFAPreference`, ...).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{CodeDeliveryDetails, Secret};

/// `POST /v1/sign-up`.
///
/// ```json
/// {"username": "alice", "password": "...", "userAttributes": {"email": "alice@example.com"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignUpRequest {
    pub username: String,
    pub password: Secret,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_attributes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, String>>,
    /// Sign in once the sign-up is confirmed, without the password again, where the pool
    /// allows it (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_sign_in: Option<bool>,
}

/// The answer to `POST /v1/sign-up` and `POST /v1/sign-up/confirm`.
///
/// ```json
/// {"isSignUpComplete": false, "userId": "4f0c...", "nextStep": {"signUpStep": "CONFIRM_SIGN_UP",
///  "codeDeliveryDetails": {"deliveryMedium": "EMAIL", "destination": "a***@e***", "attributeName": "email"}}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignUpResponse {
    pub is_sign_up_complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub next_step: SignUpNextStep,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignUpNextStep {
    pub sign_up_step: SignUpStep,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_delivery_details: Option<CodeDeliveryDetails>,
}

/// Amplify's sign-up steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SignUpStep {
    /// A code was sent: `POST /v1/sign-up/confirm` with it.
    ConfirmSignUp,
    /// Confirmed, and the pool lets the user in without the password: `POST
    /// /v1/sign-up/auto-sign-in`.
    CompleteAutoSignIn,
    Done,
    #[serde(other)]
    Unknown,
}

/// `POST /v1/sign-up/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmSignUpRequest {
    pub username: String,
    pub confirmation_code: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, String>>,
}

/// `POST /v1/sign-up/resend-code`, `POST /v1/sign-up/auto-sign-in` and `POST
/// /v1/password/reset`: a user by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsernameRequest {
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, String>>,
}

/// Where a code went: `POST /v1/sign-up/resend-code` and `POST /v1/user/attributes/send-code`
/// answer `{"codeDeliveryDetails": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeSent {
    pub code_delivery_details: CodeDeliveryDetails,
}

/// The answer to `POST /v1/password/reset` (and `.../confirm`, with `DONE`).
///
/// ```json
/// {"isPasswordReset": false, "nextStep": {"resetPasswordStep": "CONFIRM_RESET_PASSWORD_WITH_CODE",
///  "codeDeliveryDetails": {"deliveryMedium": "EMAIL", "destination": "a***@e***"}}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetPasswordResponse {
    pub is_password_reset: bool,
    pub next_step: ResetPasswordNextStep,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetPasswordNextStep {
    pub reset_password_step: ResetPasswordStep,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_delivery_details: Option<CodeDeliveryDetails>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResetPasswordStep {
    ConfirmResetPasswordWithCode,
    Done,
    #[serde(other)]
    Unknown,
}

/// `POST /v1/password/reset/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmResetPasswordRequest {
    pub username: String,
    pub confirmation_code: Secret,
    pub new_password: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, String>>,
}

/// `POST /v1/user/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePasswordRequest {
    pub old_password: Secret,
    pub new_password: Secret,
}

/// `POST /v1/user/attributes`.
///
/// ```json
/// {"userAttributes": {"email": "new@example.com", "name": "Alice"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAttributesRequest {
    pub user_attributes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, String>>,
}

/// The answer to `POST /v1/user/attributes`, per attribute (Amplify's
/// `UpdateUserAttributesOutput`).
pub type UpdateAttributesResponse = BTreeMap<String, UpdateAttributeResult>;

/// ```json
/// {"isUpdated": false, "nextStep": {"updateAttributeStep": "CONFIRM_ATTRIBUTE_WITH_CODE",
///  "codeDeliveryDetails": {"deliveryMedium": "EMAIL", "destination": "n***@e***", "attributeName": "email"}}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAttributeResult {
    pub is_updated: bool,
    pub next_step: UpdateAttributeNextStep,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAttributeNextStep {
    pub update_attribute_step: UpdateAttributeStep,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_delivery_details: Option<CodeDeliveryDetails>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UpdateAttributeStep {
    ConfirmAttributeWithCode,
    Done,
    #[serde(other)]
    Unknown,
}

/// `POST /v1/user/attributes/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmAttributeRequest {
    pub attribute_key: String,
    pub confirmation_code: Secret,
}

/// `POST /v1/user/attributes/send-code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendAttributeCodeRequest {
    pub attribute_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata: Option<BTreeMap<String, String>>,
}

/// `DELETE /v1/user/attributes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteAttributesRequest {
    pub attribute_keys: Vec<String>,
}

/// `GET /v1/user/mfa` (Amplify's `fetchMFAPreference`): the factors enabled, and the one
/// preferred; `TOTP`, `SMS` or `EMAIL`.
///
/// ```json
/// {"enabled": ["TOTP"], "preferred": "TOTP"}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaPreference {
    /// Absent when none is (as Amplify's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enabled: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred: Option<String>,
}

/// `PUT /v1/user/mfa` (Amplify's `updateMFAPreference`); absent factors are left as they are.
///
/// ```json
/// {"totp": "PREFERRED", "sms": "DISABLED"}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateMfaRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<MfaSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<MfaSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<MfaSetting>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MfaSetting {
    Enabled,
    Disabled,
    Preferred,
    NotPreferred,
}

impl MfaSetting {
    /// The setting named `text` (`enabled`, `not-preferred`, ...).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "ENABLED" | "ON" => Some(Self::Enabled),
            "DISABLED" | "OFF" => Some(Self::Disabled),
            "PREFERRED" => Some(Self::Preferred),
            "NOT_PREFERRED" => Some(Self::NotPreferred),
            _ => None,
        }
    }
}

/// The answer to `POST /v1/user/totp` (Amplify's `setUpTOTP`): the new secret, and the
/// `otpauth://` URI an authenticator app reads (both secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotpSetup {
    pub shared_secret: Secret,
    pub setup_uri: Secret,
}

/// `POST /v1/user/totp/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyTotpRequest {
    pub code: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_device_name: Option<String>,
}

/// `DELETE /v1/user`: `confirm` must be the signed-in user's username, so no stray request
/// deletes an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteUserRequest {
    pub confirm: String,
}
