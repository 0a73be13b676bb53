//! The account calls of [`Client`]: sign-up, password reset and change, attributes, MFA
//! settings, TOTP setup and deleting the account.

use std::collections::BTreeMap;

use cognitod_proto::{self as proto, Secret, SignInResponse};
use hyper::Method;

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/sign-up`.
    pub async fn sign_up(
        &self,
        request: &proto::SignUpRequest,
    ) -> Result<proto::SignUpResponse, ClientError> {
        self.post("/v1/sign-up", request).await
    }

    /// `POST /v1/sign-up/confirm`.
    pub async fn confirm_sign_up(
        &self,
        request: &proto::ConfirmSignUpRequest,
    ) -> Result<proto::SignUpResponse, ClientError> {
        self.post("/v1/sign-up/confirm", request).await
    }

    /// `POST /v1/sign-up/resend-code`.
    pub async fn resend_sign_up_code(
        &self,
        username: &str,
    ) -> Result<proto::CodeSent, ClientError> {
        self.post("/v1/sign-up/resend-code", &by_name(username))
            .await
    }

    /// `POST /v1/sign-up/auto-sign-in`: signs in the user whose sign-up was just confirmed.
    pub async fn auto_sign_in(&self, username: &str) -> Result<SignInResponse, ClientError> {
        self.post("/v1/sign-up/auto-sign-in", &by_name(username))
            .await
    }

    /// `POST /v1/password/reset`.
    pub async fn reset_password(
        &self,
        username: &str,
    ) -> Result<proto::ResetPasswordResponse, ClientError> {
        self.post("/v1/password/reset", &by_name(username)).await
    }

    /// `POST /v1/password/reset/confirm`.
    pub async fn confirm_reset_password(
        &self,
        request: &proto::ConfirmResetPasswordRequest,
    ) -> Result<proto::ResetPasswordResponse, ClientError> {
        self.post("/v1/password/reset/confirm", request).await
    }

    /// `POST /v1/user/password`.
    pub async fn update_password(
        &self,
        old_password: Secret,
        new_password: Secret,
    ) -> Result<(), ClientError> {
        let request = proto::UpdatePasswordRequest {
            old_password,
            new_password,
        };
        self.post::<_, serde_json::Value>("/v1/user/password", &request)
            .await
            .map(drop)
    }

    /// `GET /v1/user/attributes`.
    pub async fn attributes(&self) -> Result<BTreeMap<String, String>, ClientError> {
        self.get("/v1/user/attributes").await
    }

    /// `POST /v1/user/attributes`.
    pub async fn update_attributes(
        &self,
        attributes: BTreeMap<String, String>,
    ) -> Result<proto::UpdateAttributesResponse, ClientError> {
        let request = proto::UpdateAttributesRequest {
            user_attributes: attributes,
            client_metadata: None,
        };
        self.post("/v1/user/attributes", &request).await
    }

    /// `POST /v1/user/attributes/confirm`.
    pub async fn confirm_attribute(&self, name: &str, code: Secret) -> Result<(), ClientError> {
        let request = proto::ConfirmAttributeRequest {
            attribute_key: name.to_owned(),
            confirmation_code: code,
        };
        self.post::<_, serde_json::Value>("/v1/user/attributes/confirm", &request)
            .await
            .map(drop)
    }

    /// `POST /v1/user/attributes/send-code`.
    pub async fn send_attribute_code(&self, name: &str) -> Result<proto::CodeSent, ClientError> {
        let request = proto::SendAttributeCodeRequest {
            attribute_key: name.to_owned(),
            client_metadata: None,
        };
        self.post("/v1/user/attributes/send-code", &request).await
    }

    /// `DELETE /v1/user/attributes`.
    pub async fn delete_attributes(&self, names: Vec<String>) -> Result<(), ClientError> {
        let request = proto::DeleteAttributesRequest {
            attribute_keys: names,
        };
        self.request::<_, serde_json::Value>(Method::DELETE, "/v1/user/attributes", Some(&request))
            .await
            .map(drop)
    }

    /// `GET /v1/user/mfa`.
    pub async fn mfa(&self) -> Result<proto::MfaPreference, ClientError> {
        self.get("/v1/user/mfa").await
    }

    /// `PUT /v1/user/mfa`.
    pub async fn update_mfa(&self, request: &proto::UpdateMfaRequest) -> Result<(), ClientError> {
        self.request::<_, serde_json::Value>(Method::PUT, "/v1/user/mfa", Some(request))
            .await
            .map(drop)
    }

    /// `POST /v1/user/totp`: a new authenticator secret.
    pub async fn set_up_totp(&self) -> Result<proto::TotpSetup, ClientError> {
        self.post("/v1/user/totp", &serde_json::json!({})).await
    }

    /// `POST /v1/user/totp/verify`.
    pub async fn verify_totp(
        &self,
        code: Secret,
        friendly_device_name: Option<String>,
    ) -> Result<(), ClientError> {
        let request = proto::VerifyTotpRequest {
            code,
            friendly_device_name,
        };
        self.post::<_, serde_json::Value>("/v1/user/totp/verify", &request)
            .await
            .map(drop)
    }

    /// `DELETE /v1/user`: `confirm` is the signed-in user's username.
    pub async fn delete_user(&self, confirm: &str) -> Result<(), ClientError> {
        let request = proto::DeleteUserRequest {
            confirm: confirm.to_owned(),
        };
        self.request::<_, serde_json::Value>(Method::DELETE, "/v1/user", Some(&request))
            .await
            .map(drop)
    }
}

fn by_name(username: &str) -> proto::UsernameRequest {
    proto::UsernameRequest {
        username: username.to_owned(),
        client_metadata: None,
    }
}
