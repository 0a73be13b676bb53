//! [`UserPool`] over HTTPS: `POST /` with `X-Amz-Target`, JSON 1.1 bodies, unsigned.

use std::path::Path;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use cognitod_proto::Secret;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire::{
    AssociateSoftwareTokenRequest, ErrorResponse, GetCredentialsForIdentityRequest, GetIdRequest,
    GetIdResponse, GetTokensFromRefreshTokenRequest, GlobalSignOutRequest, RevokeTokenRequest,
    VerifySoftwareTokenRequest,
};
use super::{
    AssociateSoftwareTokenResponse, AuthResponse, CognitoError, GetCredentialsForIdentityResponse,
    InitiateAuthRequest, RespondToAuthChallengeRequest, UserPool, VerifySoftwareTokenResponse,
};
use crate::config::Config;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Cognito's answers are a few KiB; anything far larger is not Cognito.
pub(crate) const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The HTTP client every upstream call uses: rustls with the system roots plus `ca_file`, no
/// redirects, connect and request timeouts.
pub fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("cognitod/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("ca_file {} holds no PEM certificate: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "ca_file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", error_chain(&e)))
}

/// The user pool at `user_pool_endpoint`, for one app client.
#[derive(Debug)]
pub struct HttpUserPool {
    pub(super) http: reqwest::Client,
    pub(super) client_id: String,
    pub(super) client_secret: Option<Secret>,
    /// Where the calls go; a reload may move them.
    endpoints: RwLock<Endpoints>,
}

#[derive(Debug, Clone)]
struct Endpoints {
    user_pool: String,
    /// The identity pool and its endpoint, when AWS credentials are configured.
    identity: Option<(String, String)>,
    /// The managed login, when browser sign-in is configured.
    oauth: Option<String>,
}

impl Endpoints {
    fn of(config: &Config) -> Self {
        Self {
            user_pool: format!("{}/", config.user_pool_endpoint),
            identity: config
                .identity_pool_id
                .clone()
                .map(|id| (id, format!("{}/", config.identity_pool_endpoint))),
            oauth: config.oauth.as_ref().map(|o| o.endpoint.clone()),
        }
    }
}

impl HttpUserPool {
    pub fn new(http: reqwest::Client, config: &Config) -> Self {
        Self {
            http,
            client_id: config.user_pool_client_id.clone(),
            client_secret: config.client_secret.clone(),
            endpoints: RwLock::new(Endpoints::of(config)),
        }
    }

    /// Sends later calls to the endpoints `config` names (a reload); the managed login's
    /// stays (`[oauth]` takes a restart, as the session keeps its settings).
    pub fn set_endpoints(&self, config: &Config) {
        let mut endpoints = self
            .endpoints
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let oauth = endpoints.oauth.take();
        *endpoints = Endpoints {
            oauth,
            ..Endpoints::of(config)
        };
    }

    /// The managed login's base URL, when browser sign-in is configured.
    pub(super) fn oauth_endpoint(&self) -> Option<String> {
        self.endpoints().oauth
    }

    fn endpoints(&self) -> Endpoints {
        self.endpoints
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn call<Req: Serialize + Sync, Resp: DeserializeOwned>(
        &self,
        action: &str,
        body: &Req,
    ) -> Result<Resp, CognitoError> {
        let target = format!("AWSCognitoIdentityProviderService.{action}");
        let endpoint = self.endpoints().user_pool;
        self.post(&endpoint, &target, action, body).await
    }

    /// An identity pool call, on the identity endpoint.
    async fn identity_call<Req: Serialize + Sync, Resp: DeserializeOwned>(
        &self,
        action: &str,
        body: &Req,
    ) -> Result<Resp, CognitoError> {
        let (_, endpoint) = self
            .endpoints()
            .identity
            .ok_or_else(super::no_identity_pool)?;
        let target = format!("AWSCognitoIdentityService.{action}");
        self.post(&endpoint, &target, action, body).await
    }

    async fn post<Req: Serialize + Sync, Resp: DeserializeOwned>(
        &self,
        endpoint: &str,
        target: &str,
        action: &str,
        body: &Req,
    ) -> Result<Resp, CognitoError> {
        let body = serde_json::to_vec(body).map_err(|e| CognitoError::Protocol(e.to_string()))?;
        let unreachable = |e: reqwest::Error| CognitoError::Unreachable {
            endpoint: endpoint.to_owned(),
            reason: unreachable_reason(&e),
        };
        let mut response = self
            .http
            .post(endpoint)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let header_kind = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(CognitoError::Protocol(format!(
                    "{action} answer is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        // The answer holds tokens: parse it, then wipe the buffer.
        let bytes = zeroize::Zeroizing::new(bytes);
        decode_answer(action, status.as_u16(), header_kind, &bytes)
    }
}

/// Reads an answer of Cognito's: the body as `Resp` for a success, else the service error.
/// Messages never quote the body (it may hold tokens).
pub fn decode_answer<Resp: DeserializeOwned>(
    action: &str,
    status: u16,
    header_kind: Option<String>,
    body: &[u8],
) -> Result<Resp, CognitoError> {
    if !(200..300).contains(&status) {
        return Err(service_error(action, status, body, header_kind));
    }
    crate::json::from_body(body).map_err(|e| {
        CognitoError::Protocol(crate::json::describe_error(&format!("{action} answer"), &e))
    })
}

/// Reads an error answer: the type from the body's `__type` (any `namespace#` prefix dropped),
/// else from `X-Amzn-ErrorType`.
fn service_error(action: &str, status: u16, body: &[u8], header: Option<String>) -> CognitoError {
    let parsed: Option<ErrorResponse> = serde_json::from_slice(body).ok();
    let (kind, message) = match parsed {
        Some(e) => (e.kind, e.message),
        None => (None, None),
    };
    let kind = kind
        .or_else(|| header.map(|h| h.split(':').next().unwrap_or_default().to_owned()))
        .map(|k| k.rsplit('#').next().unwrap_or_default().to_owned())
        .filter(|k| !k.is_empty());
    match kind {
        Some(kind) => CognitoError::Service {
            kind,
            message: message.unwrap_or_default(),
            status,
        },
        None if status >= 500 => CognitoError::Service {
            kind: "InternalErrorException".to_owned(),
            message: format!("{action} failed with HTTP {status}"),
            status,
        },
        None => CognitoError::Protocol(format!(
            "{action} failed with HTTP {status} and no error type"
        )),
    }
}

/// `error: cause: cause`, since reqwest's own message hides the cause.
/// The useful part of why a request got no answer ("connection refused", "timed out"); the
/// whole chain goes to the debug log.
pub(crate) fn unreachable_reason(error: &reqwest::Error) -> String {
    tracing::debug!(error = %error_chain(error), "no answer from Cognito");
    if error.is_timeout() {
        return "no answer in time".to_owned();
    }
    let mut root: &dyn std::error::Error = error;
    while let Some(cause) = root.source() {
        root = cause;
    }
    let text = root.to_string();
    // "Connection refused (os error 111)" reads better without the errno.
    let text = match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "no answer".to_owned(),
    }
}

pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl UserPool for HttpUserPool {
    async fn initiate_auth(
        &self,
        request: InitiateAuthRequest,
    ) -> Result<AuthResponse, CognitoError> {
        self.call("InitiateAuth", &request).await
    }

    async fn respond_to_auth_challenge(
        &self,
        request: RespondToAuthChallengeRequest,
    ) -> Result<AuthResponse, CognitoError> {
        self.call("RespondToAuthChallenge", &request).await
    }

    async fn associate_software_token(
        &self,
        session: &Secret,
    ) -> Result<AssociateSoftwareTokenResponse, CognitoError> {
        self.call(
            "AssociateSoftwareToken",
            &AssociateSoftwareTokenRequest { session },
        )
        .await
    }

    async fn verify_software_token(
        &self,
        session: &Secret,
        code: &Secret,
    ) -> Result<VerifySoftwareTokenResponse, CognitoError> {
        self.call(
            "VerifySoftwareToken",
            &VerifySoftwareTokenRequest {
                session,
                user_code: code,
            },
        )
        .await
    }

    async fn get_tokens_from_refresh_token(
        &self,
        refresh_token: &Secret,
        device_key: Option<&str>,
    ) -> Result<AuthResponse, CognitoError> {
        let request = GetTokensFromRefreshTokenRequest {
            refresh_token,
            client_id: &self.client_id,
            client_secret: self.client_secret.as_ref(),
            device_key,
        };
        self.call("GetTokensFromRefreshToken", &request).await
    }

    async fn confirm_device(
        &self,
        access_token: &Secret,
        device_key: &str,
        device_name: &str,
        secret: &super::devices::DeviceSecret,
    ) -> Result<bool, CognitoError> {
        let request = super::wire::ConfirmDeviceRequest {
            access_token,
            device_key,
            device_secret_verifier_config: super::wire::DeviceSecretVerifierConfig {
                password_verifier: &secret.password_verifier,
                salt: &secret.salt,
            },
            device_name: Some(device_name),
        };
        let answer: super::wire::ConfirmDeviceResponse =
            self.call("ConfirmDevice", &request).await?;
        Ok(answer.user_confirmation_necessary.unwrap_or(false))
    }

    async fn revoke_token(&self, refresh_token: &Secret) -> Result<(), CognitoError> {
        let request = RevokeTokenRequest {
            token: refresh_token,
            client_id: &self.client_id,
            client_secret: self.client_secret.as_ref(),
        };
        self.call::<_, serde_json::Value>("RevokeToken", &request)
            .await
            .map(drop)
    }

    async fn exchange_code(
        &self,
        code: &Secret,
        verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<super::AuthenticationResult, CognitoError> {
        self.token_endpoint_code(code, verifier, redirect_uri).await
    }

    async fn list_devices(
        &self,
        access_token: &Secret,
    ) -> Result<Vec<super::wire::DeviceType>, CognitoError> {
        let answer: super::wire::ListDevicesResponse = self
            .call(
                "ListDevices",
                &serde_json::json!({ "AccessToken": access_token }),
            )
            .await?;
        Ok(answer.devices)
    }

    async fn update_device_status(
        &self,
        access_token: &Secret,
        device_key: &str,
        remembered: bool,
    ) -> Result<(), CognitoError> {
        let status = if remembered {
            "remembered"
        } else {
            "not_remembered"
        };
        let body = serde_json::json!({"AccessToken": access_token, "DeviceKey": device_key,
                                      "DeviceRememberedStatus": status});
        self.call::<_, serde_json::Value>("UpdateDeviceStatus", &body)
            .await
            .map(drop)
    }

    async fn forget_device(
        &self,
        access_token: &Secret,
        device_key: &str,
    ) -> Result<(), CognitoError> {
        let body = serde_json::json!({"AccessToken": access_token, "DeviceKey": device_key});
        self.call::<_, serde_json::Value>("ForgetDevice", &body)
            .await
            .map(drop)
    }

    async fn account<C: super::account::Call>(&self, call: &C) -> Result<C::Answer, CognitoError> {
        self.call(C::ACTION, call).await
    }

    async fn global_sign_out(&self, access_token: &Secret) -> Result<(), CognitoError> {
        self.call::<_, serde_json::Value>("GlobalSignOut", &GlobalSignOutRequest { access_token })
            .await
            .map(drop)
    }

    async fn get_id(
        &self,
        logins: Option<std::collections::BTreeMap<String, Secret>>,
    ) -> Result<String, CognitoError> {
        let (pool_id, _) = self
            .endpoints()
            .identity
            .ok_or_else(super::no_identity_pool)?;
        let request = GetIdRequest {
            identity_pool_id: &pool_id,
            logins,
        };
        let response: GetIdResponse = self.identity_call("GetId", &request).await?;
        Ok(response.identity_id)
    }

    async fn get_credentials_for_identity(
        &self,
        identity_id: &str,
        logins: Option<std::collections::BTreeMap<String, Secret>>,
    ) -> Result<GetCredentialsForIdentityResponse, CognitoError> {
        let request = GetCredentialsForIdentityRequest {
            identity_id,
            logins,
        };
        self.identity_call("GetCredentialsForIdentity", &request)
            .await
    }

    fn client_id(&self) -> &str {
        &self.client_id
    }

    fn secret_hash(&self, username: &str) -> Option<Secret> {
        self.client_secret
            .as_ref()
            .map(|secret| super::secret_hash(secret, username, &self.client_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_comes_from_the_body_without_namespace() {
        let body = br#"{"__type": "com.amazonaws.cognito#NotAuthorizedException", "message": "Incorrect username or password."}"#;
        match service_error("InitiateAuth", 400, body, None) {
            CognitoError::Service {
                kind,
                message,
                status,
            } => {
                assert_eq!(kind, "NotAuthorizedException");
                assert_eq!(message, "Incorrect username or password.");
                assert_eq!(status, 400);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_type_falls_back_to_the_header_then_the_status() {
        let err = service_error(
            "X",
            400,
            b"<html>",
            Some("TooManyRequestsException:http://internal".into()),
        );
        assert_eq!(err.service_kind(), Some("TooManyRequestsException"));
        let err = service_error("RevokeToken", 500, b"", None);
        assert!(err.is_transient());
        let err = service_error("X", 400, b"", None);
        assert!(matches!(err, CognitoError::Protocol(_)), "{err:?}");
    }
}
