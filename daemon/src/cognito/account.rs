//! The account actions of the user pool API, as typed calls: each request knows its action
//! and its answer ([`Call`]), and [`super::UserPool::account`] sends any of them.
//!
//! Members are botocore's (`data/cognito-idp/2016-04-18/service-2.json`): the tokenless calls
//! carry `SecretHash` (not `SECRET_HASH`), the others the user's `AccessToken`.

use std::collections::BTreeMap;

use cognitod_proto::Secret;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

/// A user pool action and its answer.
pub trait Call: Serialize + Send + Sync {
    const ACTION: &'static str;
    type Answer: DeserializeOwned + Send + 'static;
}

/// `AttributeType`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attribute {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

impl Attribute {
    pub fn list(attributes: &BTreeMap<String, String>) -> Vec<Self> {
        attributes
            .iter()
            .map(|(name, value)| Self {
                name: name.clone(),
                value: Some(value.clone()),
            })
            .collect()
    }
}

/// `CodeDeliveryDetailsType`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeDelivery {
    #[serde(default)]
    pub destination: Option<String>,
    #[serde(default)]
    pub delivery_medium: Option<String>,
    #[serde(default)]
    pub attribute_name: Option<String>,
}

impl From<CodeDelivery> for cognitod_proto::CodeDeliveryDetails {
    fn from(details: CodeDelivery) -> Self {
        Self {
            delivery_medium: details.delivery_medium,
            destination: details.destination,
            attribute_name: details.attribute_name,
        }
    }
}

/// What every tokenless call starts with: the app client, its secret's hash over the user,
/// and the user.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientUser {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_hash: Option<Secret>,
    pub username: String,
}

type Metadata = Option<BTreeMap<String, String>>;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignUp {
    #[serde(flatten)]
    pub who: ClientUser,
    pub password: Secret,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_attributes: Vec<Attribute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_metadata: Metadata,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignUpAnswer {
    pub user_confirmed: bool,
    #[serde(default)]
    pub code_delivery_details: Option<CodeDelivery>,
    pub user_sub: String,
    /// For `ConfirmSignUp`, to sign in right after it.
    #[serde(default)]
    pub session: Option<Secret>,
}

impl Call for SignUp {
    const ACTION: &'static str = "SignUp";
    type Answer = SignUpAnswer;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfirmSignUp {
    #[serde(flatten)]
    pub who: ClientUser,
    pub confirmation_code: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_metadata: Metadata,
}

/// An answer that may carry a `Session` for the next call (`ConfirmSignUp`'s, for
/// `InitiateAuth USER_AUTH`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionAnswer {
    #[serde(default)]
    pub session: Option<Secret>,
}

impl Call for ConfirmSignUp {
    const ACTION: &'static str = "ConfirmSignUp";
    type Answer = SessionAnswer;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResendConfirmationCode {
    #[serde(flatten)]
    pub who: ClientUser,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_metadata: Metadata,
}

/// An answer naming where a code went.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeAnswer {
    #[serde(default)]
    pub code_delivery_details: Option<CodeDelivery>,
}

impl Call for ResendConfirmationCode {
    const ACTION: &'static str = "ResendConfirmationCode";
    type Answer = CodeAnswer;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForgotPassword {
    #[serde(flatten)]
    pub who: ClientUser,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_metadata: Metadata,
}

impl Call for ForgotPassword {
    const ACTION: &'static str = "ForgotPassword";
    type Answer = CodeAnswer;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfirmForgotPassword {
    #[serde(flatten)]
    pub who: ClientUser,
    pub confirmation_code: Secret,
    pub password: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_metadata: Metadata,
}

impl Call for ConfirmForgotPassword {
    const ACTION: &'static str = "ConfirmForgotPassword";
    type Answer = IgnoredAny;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangePassword {
    pub previous_password: Secret,
    pub proposed_password: Secret,
    pub access_token: Secret,
}

impl Call for ChangePassword {
    const ACTION: &'static str = "ChangePassword";
    type Answer = IgnoredAny;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetUser {
    pub access_token: Secret,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetUserAnswer {
    pub username: String,
    #[serde(default)]
    pub user_attributes: Vec<Attribute>,
    #[serde(default)]
    pub preferred_mfa_setting: Option<String>,
    #[serde(default, rename = "UserMFASettingList")]
    pub user_mfa_setting_list: Option<Vec<String>>,
}

impl Call for GetUser {
    const ACTION: &'static str = "GetUser";
    type Answer = GetUserAnswer;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateUserAttributes {
    pub user_attributes: Vec<Attribute>,
    pub access_token: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_metadata: Metadata,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateUserAttributesAnswer {
    #[serde(default)]
    pub code_delivery_details_list: Option<Vec<CodeDelivery>>,
}

impl Call for UpdateUserAttributes {
    const ACTION: &'static str = "UpdateUserAttributes";
    type Answer = UpdateUserAttributesAnswer;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyUserAttribute {
    pub access_token: Secret,
    pub attribute_name: String,
    pub code: Secret,
}

impl Call for VerifyUserAttribute {
    const ACTION: &'static str = "VerifyUserAttribute";
    type Answer = IgnoredAny;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetUserAttributeVerificationCode {
    pub access_token: Secret,
    pub attribute_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_metadata: Metadata,
}

impl Call for GetUserAttributeVerificationCode {
    const ACTION: &'static str = "GetUserAttributeVerificationCode";
    type Answer = CodeAnswer;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteUserAttributes {
    pub user_attribute_names: Vec<String>,
    pub access_token: Secret,
}

impl Call for DeleteUserAttributes {
    const ACTION: &'static str = "DeleteUserAttributes";
    type Answer = IgnoredAny;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateSoftwareToken {
    pub access_token: Secret,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateSoftwareTokenAnswer {
    pub secret_code: Secret,
}

impl Call for AssociateSoftwareToken {
    const ACTION: &'static str = "AssociateSoftwareToken";
    type Answer = AssociateSoftwareTokenAnswer;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifySoftwareToken {
    pub access_token: Secret,
    pub user_code: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friendly_device_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifySoftwareTokenAnswer {
    #[serde(default)]
    pub status: Option<String>,
}

impl Call for VerifySoftwareToken {
    const ACTION: &'static str = "VerifySoftwareToken";
    type Answer = VerifySoftwareTokenAnswer;
}

/// `SMSMfaSettingsType`, `SoftwareTokenMfaSettingsType`, `EmailMfaSettingsType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MfaSettings {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_mfa: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetUserMfaPreference {
    #[serde(rename = "SMSMfaSettings", skip_serializing_if = "Option::is_none")]
    pub sms_mfa_settings: Option<MfaSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_token_mfa_settings: Option<MfaSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_mfa_settings: Option<MfaSettings>,
    pub access_token: Secret,
}

impl Call for SetUserMfaPreference {
    const ACTION: &'static str = "SetUserMFAPreference";
    type Answer = IgnoredAny;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteUser {
    pub access_token: Secret,
}

impl Call for DeleteUser {
    const ACTION: &'static str = "DeleteUser";
    type Answer = IgnoredAny;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_use_the_models_member_names() {
        let sign_up = SignUp {
            who: ClientUser {
                client_id: "client".into(),
                secret_hash: Some(Secret::new("hash")),
                username: "alice".into(),
            },
            password: Secret::new("pw"),
            user_attributes: Attribute::list(&BTreeMap::from([(
                "email".to_owned(),
                "a@example.com".to_owned(),
            )])),
            client_metadata: None,
        };
        assert_eq!(
            serde_json::to_value(&sign_up).unwrap(),
            serde_json::json!({"ClientId": "client", "SecretHash": "hash", "Username": "alice",
                "Password": "pw", "UserAttributes": [{"Name": "email", "Value": "a@example.com"}]})
        );
        let mfa = SetUserMfaPreference {
            sms_mfa_settings: Some(MfaSettings {
                enabled: false,
                preferred_mfa: None,
            }),
            software_token_mfa_settings: Some(MfaSettings {
                enabled: true,
                preferred_mfa: Some(true),
            }),
            email_mfa_settings: None,
            access_token: Secret::new("at"),
        };
        assert_eq!(
            serde_json::to_value(&mfa).unwrap(),
            serde_json::json!({"SMSMfaSettings": {"Enabled": false},
                "SoftwareTokenMfaSettings": {"Enabled": true, "PreferredMfa": true},
                "AccessToken": "at"})
        );
    }

    #[test]
    fn answers_read_what_cognito_sends() {
        let answer: GetUserAnswer = serde_json::from_value(serde_json::json!({
            "Username": "alice",
            "UserAttributes": [{"Name": "sub", "Value": "1"}, {"Name": "email", "Value": "a@x"}],
            "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA",
            "UserMFASettingList": ["SOFTWARE_TOKEN_MFA"]
        }))
        .unwrap();
        assert_eq!(answer.user_attributes.len(), 2);
        assert_eq!(
            answer.user_mfa_setting_list.as_deref(),
            Some(&["SOFTWARE_TOKEN_MFA".to_owned()][..])
        );
        let _: IgnoredAny = serde_json::from_str("{}").unwrap();
    }
}
