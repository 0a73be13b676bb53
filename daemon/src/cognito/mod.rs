//! The upstream: Cognito user pools over the JSON 1.1 protocol, SRP, SECRET_HASH and JWT
//! verification.
//!
//! [`UserPool`] is the seam: the daemon talks to Cognito through it, and tests may put another
//! implementation in its place. [`HttpUserPool`] is the real one.

pub mod account;
pub mod auth;
pub mod devices;
mod http;
pub mod jwt;
mod oauth;
pub mod srp;
pub mod wire;

use std::collections::BTreeMap;
use std::future::Future;

use base64::Engine as _;
use cognitod_proto::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use http::{HttpUserPool, decode_answer, http_client};
pub use wire::{
    AssociateSoftwareTokenResponse, AuthResponse, AuthenticationResult,
    GetCredentialsForIdentityResponse, InitiateAuthRequest, RespondToAuthChallengeRequest,
    VerifySoftwareTokenResponse,
};

/// An error from talking to Cognito.
#[derive(Debug, thiserror::Error)]
pub enum CognitoError {
    /// Cognito answered with an error (`__type` without any `namespace#` prefix).
    #[error("{kind}: {message}")]
    Service {
        kind: String,
        message: String,
        status: u16,
    },
    /// No answer: connection refused, DNS, TLS, timeout.
    #[error("cannot reach Cognito at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    /// An answer that does not follow the protocol.
    #[error("unexpected answer from Cognito: {0}")]
    Protocol(String),
    /// A token that failed verification.
    #[error("token rejected: {0}")]
    InvalidToken(String),
    /// The SRP challenge could not be answered.
    #[error(transparent)]
    Srp(#[from] srp::SrpError),
}

impl CognitoError {
    /// Cognito's exception name, when Cognito sent one.
    pub fn service_kind(&self) -> Option<&str> {
        match self {
            Self::Service { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (network, 5xx, throttling).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Service { kind, status, .. } => {
                *status >= 500
                    || matches!(
                        kind.as_str(),
                        "TooManyRequestsException"
                            | "ThrottlingException"
                            | "LimitExceededException"
                            | "InternalErrorException"
                            | "ServiceUnavailable"
                    )
            }
            Self::Protocol(_) | Self::InvalidToken(_) | Self::Srp(_) => false,
        }
    }
}

/// The user pool calls cognitod makes. Implemented over HTTP by [`HttpUserPool`].
pub trait UserPool: Send + Sync + 'static {
    fn initiate_auth(
        &self,
        request: InitiateAuthRequest,
    ) -> impl Future<Output = Result<AuthResponse, CognitoError>> + Send;

    fn respond_to_auth_challenge(
        &self,
        request: RespondToAuthChallengeRequest,
    ) -> impl Future<Output = Result<AuthResponse, CognitoError>> + Send;

    /// Starts TOTP setup inside the `MFA_SETUP` challenge: a new secret for the user.
    fn associate_software_token(
        &self,
        session: &Secret,
    ) -> impl Future<Output = Result<AssociateSoftwareTokenResponse, CognitoError>> + Send;

    /// Proves the user's authenticator has the secret, inside the `MFA_SETUP` challenge.
    fn verify_software_token(
        &self,
        session: &Secret,
        code: &Secret,
    ) -> impl Future<Output = Result<VerifySoftwareTokenResponse, CognitoError>> + Send;

    /// Refreshes with `GetTokensFromRefreshToken` (needed with refresh-token rotation).
    fn get_tokens_from_refresh_token(
        &self,
        refresh_token: &Secret,
        device_key: Option<&str>,
    ) -> impl Future<Output = Result<AuthResponse, CognitoError>> + Send;

    /// Registers this machine as the user's device (`ConfirmDevice`); whether the user must
    /// still choose to remember it (`UserConfirmationNecessary`).
    fn confirm_device(
        &self,
        access_token: &Secret,
        device_key: &str,
        device_name: &str,
        secret: &devices::DeviceSecret,
    ) -> impl Future<Output = Result<bool, CognitoError>> + Send {
        let _ = (access_token, device_key, device_name, secret);
        async {
            Err(CognitoError::Protocol(
                "devices are not supported here".to_owned(),
            ))
        }
    }

    /// Revokes one refresh token (and the tokens issued from it).
    fn revoke_token(
        &self,
        refresh_token: &Secret,
    ) -> impl Future<Output = Result<(), CognitoError>> + Send;

    /// The managed login's token endpoint: an authorization code and its PKCE verifier for
    /// tokens (not yet verified).
    fn exchange_code(
        &self,
        code: &Secret,
        verifier: &Secret,
        redirect_uri: &str,
    ) -> impl Future<Output = Result<AuthenticationResult, CognitoError>> + Send {
        let _ = (code, verifier, redirect_uri);
        async {
            Err(CognitoError::Protocol(
                "no [oauth] section is configured".to_owned(),
            ))
        }
    }

    /// The user's devices (`ListDevices`).
    fn list_devices(
        &self,
        access_token: &Secret,
    ) -> impl Future<Output = Result<Vec<wire::DeviceType>, CognitoError>> + Send {
        let _ = access_token;
        async {
            Err(CognitoError::Protocol(
                "devices are not supported here".to_owned(),
            ))
        }
    }

    /// Remembers a device, or stops (`UpdateDeviceStatus`).
    fn update_device_status(
        &self,
        access_token: &Secret,
        device_key: &str,
        remembered: bool,
    ) -> impl Future<Output = Result<(), CognitoError>> + Send {
        let _ = (access_token, device_key, remembered);
        async {
            Err(CognitoError::Protocol(
                "devices are not supported here".to_owned(),
            ))
        }
    }

    /// Forgets a device (`ForgetDevice`).
    fn forget_device(
        &self,
        access_token: &Secret,
        device_key: &str,
    ) -> impl Future<Output = Result<(), CognitoError>> + Send {
        let _ = (access_token, device_key);
        async {
            Err(CognitoError::Protocol(
                "devices are not supported here".to_owned(),
            ))
        }
    }

    /// An account action ([`account::Call`]): sign-up, password reset, attributes, MFA
    /// settings, deleting the user.
    fn account<C: account::Call>(
        &self,
        call: &C,
    ) -> impl Future<Output = Result<C::Answer, CognitoError>> + Send {
        let _ = call;
        async {
            Err(CognitoError::Protocol(
                "account calls are not supported here".to_owned(),
            ))
        }
    }

    /// Invalidates every refresh token of the user the access token belongs to.
    fn global_sign_out(
        &self,
        access_token: &Secret,
    ) -> impl Future<Output = Result<(), CognitoError>> + Send;

    /// Identity pool `GetId`: with `logins` the user's identity, without a new guest one.
    fn get_id(
        &self,
        logins: Option<BTreeMap<String, Secret>>,
    ) -> impl Future<Output = Result<String, CognitoError>> + Send {
        let _ = logins;
        async { Err(no_identity_pool()) }
    }

    /// Identity pool `GetCredentialsForIdentity`.
    fn get_credentials_for_identity(
        &self,
        identity_id: &str,
        logins: Option<BTreeMap<String, Secret>>,
    ) -> impl Future<Output = Result<GetCredentialsForIdentityResponse, CognitoError>> + Send {
        let _ = (identity_id, logins);
        async { Err(no_identity_pool()) }
    }

    /// The app client id the pool is used with.
    fn client_id(&self) -> &str;

    /// `SECRET_HASH` for `username`, when the app client has a secret.
    fn secret_hash(&self, username: &str) -> Option<Secret>;
}

fn no_identity_pool() -> CognitoError {
    CognitoError::Protocol("no identity_pool_id is configured".to_owned())
}

/// `SECRET_HASH = Base64(HMAC-SHA256(key = client secret, username | client id))`.
pub fn secret_hash(client_secret: &Secret, username: &str, client_id: &str) -> Secret {
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.expose().as_bytes())
        .expect("HMAC takes any key");
    mac.update(username.as_bytes());
    mac.update(client_id.as_bytes());
    Secret::new(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hash_matches_a_known_value() {
        // HMAC-SHA256(key="secret", "alice" + "client") computed with Python's hmac module.
        let hash = secret_hash(&Secret::new("secret"), "alice", "client");
        assert_eq!(
            hash.expose(),
            "RTsve+FQ659UKyESgvLg9GYmZEL+QjzQsW/OjL77/b0="
        );
    }

    #[test]
    fn transient_errors_are_classified_by_type_and_status() {
        let service = |kind: &str, status| CognitoError::Service {
            kind: kind.into(),
            message: String::new(),
            status,
        };
        assert!(service("TooManyRequestsException", 400).is_transient());
        assert!(service("InternalErrorException", 500).is_transient());
        assert!(service("Whatever", 503).is_transient());
        assert!(!service("NotAuthorizedException", 400).is_transient());
        assert!(
            CognitoError::Unreachable {
                endpoint: "x".into(),
                reason: "refused".into()
            }
            .is_transient()
        );
        assert!(!CognitoError::Protocol("x".into()).is_transient());
    }
}
