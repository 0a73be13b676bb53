//! The managed login's token endpoint (`POST /oauth2/token`, form-encoded, OAuth 2.0 errors):
//! an authorization code and its PKCE verifier for tokens.

use base64::Engine as _;
use cognitod_proto::Secret;
use serde::Deserialize;

use super::http::{HttpUserPool, MAX_RESPONSE_BYTES, unreachable_reason};
use super::{AuthenticationResult, CognitoError};

/// The token endpoint's answer (RFC 6749 §5.1, as Cognito sends it).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    #[serde(default)]
    id_token: Option<Secret>,
    #[serde(default)]
    refresh_token: Option<Secret>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    token_type: Option<String>,
}

/// RFC 6749 §5.2.
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl HttpUserPool {
    /// `grant_type=authorization_code` with the PKCE verifier; the client authenticates with
    /// HTTP Basic when it has a secret.
    pub(super) async fn token_endpoint_code(
        &self,
        code: &Secret,
        verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<AuthenticationResult, CognitoError> {
        let endpoint = self
            .oauth_endpoint()
            .ok_or_else(|| CognitoError::Protocol("no [oauth] endpoint is configured".into()))?;
        let url = format!("{endpoint}/oauth2/token");
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", self.client_id.as_str()),
            ("code", code.expose()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose()),
        ];
        let mut request = self.http.post(&url).form(&form);
        if let Some(secret) = &self.client_secret {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                self.client_id,
                secret.expose()
            ));
            request = request.header("authorization", format!("Basic {basic}"));
        }
        let unreachable = |e: reqwest::Error| CognitoError::Unreachable {
            endpoint: endpoint.clone(),
            reason: unreachable_reason(&e),
        };
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let mut bytes = zeroize::Zeroizing::new(Vec::new());
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(CognitoError::Protocol(format!(
                    "the token endpoint's answer is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !(200..300).contains(&status) {
            return Err(token_error(status, &bytes));
        }
        let tokens: TokenResponse = crate::json::from_body(&bytes).map_err(|e| {
            CognitoError::Protocol(crate::json::describe_error(
                "the token endpoint's answer",
                &e,
            ))
        })?;
        Ok(AuthenticationResult {
            access_token: tokens.access_token,
            id_token: tokens.id_token,
            refresh_token: tokens.refresh_token,
            expires_in: tokens.expires_in,
            token_type: tokens.token_type,
            new_device_metadata: None,
        })
    }
}

/// An OAuth error answer as a [`CognitoError`]: a refused grant or client is Cognito's
/// `NotAuthorizedException` (the code is used, expired, for another verifier or redirect URI).
fn token_error(status: u16, body: &[u8]) -> CognitoError {
    let parsed: Option<OAuthError> = serde_json::from_slice(body).ok();
    let Some(parsed) = parsed else {
        return if status == 429 {
            CognitoError::Service {
                kind: "TooManyRequestsException".into(),
                message: "the token endpoint is throttling requests".into(),
                status,
            }
        } else if status >= 500 {
            CognitoError::Service {
                kind: "InternalErrorException".into(),
                message: format!("the token endpoint failed with HTTP {status}"),
                status,
            }
        } else {
            CognitoError::Protocol(format!(
                "the token endpoint answered HTTP {status} without an OAuth error"
            ))
        };
    };
    let error: String = parsed.error.chars().take(64).collect();
    let detail = parsed
        .error_description
        .map(|d| format!(": {}", d.chars().take(200).collect::<String>()))
        .unwrap_or_default();
    let (kind, message) = match error.as_str() {
        "invalid_grant" => (
            "NotAuthorizedException",
            format!(
                "the authorization code was refused (used already, expired, or not this \
                 attempt's){detail}"
            ),
        ),
        "invalid_client" | "unauthorized_client" => (
            "NotAuthorizedException",
            format!(
                "the app client was refused ({error}){detail}; check user_pool_client_id and client_secret_file"
            ),
        ),
        "slow_down" => ("TooManyRequestsException", format!("{error}{detail}")),
        _ => ("InvalidParameterException", format!("{error}{detail}")),
    };
    CognitoError::Service {
        kind: kind.to_owned(),
        message,
        status,
    }
}
