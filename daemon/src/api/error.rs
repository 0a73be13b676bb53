//! Errors of the socket API: every session error mapped, in one place, to a status and
//! `{"error": {"code", "message", "recoverySuggestion"}}` (with `Retry-After` where waiting
//! helps).

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cognitod_proto::{ApiError, ErrorBody, codes};
use tracing::error;

use crate::session::SessionError;

/// An error answer: status and `{"error": {...}}`.
#[derive(Debug)]
pub struct HttpError {
    pub(super) status: StatusCode,
    pub(super) error: ApiError,
    /// `Retry-After`, in seconds.
    retry_after: Option<u64>,
}

impl HttpError {
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            error: ApiError {
                code: code.to_owned(),
                message: message.into(),
                recovery_suggestion: None,
            },
            retry_after: None,
        }
    }

    /// Status, code and message, for answers in another format.
    pub(crate) fn parts(&self) -> (StatusCode, &str, &str) {
        (self.status, &self.error.code, &self.error.message)
    }

    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, message)
    }

    /// Without `Retry-After`: waiting a few seconds would not help.
    pub(super) fn without_retry_after(mut self) -> Self {
        self.retry_after = None;
        self
    }

    pub(super) fn suggest(mut self, suggestion: &str) -> Self {
        self.error.recovery_suggestion = Some(suggestion.to_owned());
        self
    }
}

/// What a refused answer to a pending step says to do (the step stays open).
pub(super) const STEP_STILL_OPEN: &str =
    "The sign-in step is still open: answer it again with `cognitoctl confirm`.";

/// Cognito's refusals of a sign-in; every other refusal is an answer to a challenge (400).
const SIGN_IN_REFUSALS: [&str; 4] = [
    "NotAuthorizedException",
    "UserNotFoundException",
    "PasswordResetRequiredException",
    "UserNotConfirmedException",
];

impl From<SessionError> for HttpError {
    fn from(error: SessionError) -> Self {
        let message = error.to_string();
        match error {
            SessionError::NotSignedIn => Self::new(
                StatusCode::UNAUTHORIZED,
                codes::USER_UNAUTHENTICATED,
                message,
            )
            .suggest("Sign in with `cognitoctl login`."),
            SessionError::SessionEnded(_) => Self::new(
                StatusCode::UNAUTHORIZED,
                codes::USER_UNAUTHENTICATED,
                message,
            )
            .suggest("Sign in again with `cognitoctl login`."),
            SessionError::AlreadySignedIn(_) => Self::new(
                StatusCode::CONFLICT,
                codes::USER_ALREADY_AUTHENTICATED,
                message,
            )
            .suggest("Sign out first with `cognitoctl logout`."),
            SessionError::NoPendingStep => Self::new(
                StatusCode::CONFLICT,
                codes::NO_PENDING_SIGN_IN_STEP,
                message,
            )
            .suggest("Start a sign-in with `cognitoctl login`."),
            SessionError::Refused { kind, message } => {
                let status = if SIGN_IN_REFUSALS.contains(&kind.as_str()) {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                };
                Self::new(status, &kind, message)
            }
            SessionError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::UPSTREAM_UNAVAILABLE,
                message,
            )
            .suggest("Check the network and `user_pool_endpoint`, then try again."),
            SessionError::Retrying(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::UPSTREAM_UNAVAILABLE,
                message,
            )
            .suggest(
                "cognitod retries on its own; check the network and the endpoints if this lasts.",
            ),
            SessionError::BackingOff {
                retry_after_secs, ..
            } => {
                let mut error = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::UPSTREAM_UNAVAILABLE,
                    message,
                )
                .suggest(&format!(
                    "cognitod tries again in {retry_after_secs} s on its own; check the network and the endpoints if this lasts."
                ));
                error.retry_after = Some(retry_after_secs);
                error
            }
            SessionError::Throttled { kind, .. } => {
                let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, &kind, message)
                    .suggest("Cognito is throttling requests; try again in a few seconds.");
                error.retry_after = Some(5);
                error
            }
            SessionError::Misconfigured { kind, fix, .. } => {
                Self::new(StatusCode::BAD_GATEWAY, &kind, message).suggest(&fix)
            }
            SessionError::InvalidToken(_) => {
                Self::new(StatusCode::BAD_GATEWAY, codes::INVALID_TOKEN, message).suggest(
                    "Check `issuer` and `user_pool_client_id` in the daemon's configuration.",
                )
            }
            SessionError::NoRefreshToken => Self::new(
                StatusCode::BAD_GATEWAY,
                "NoRefreshToken",
                message,
            )
            .suggest(
                "Let the app client refresh tokens (ALLOW_REFRESH_TOKEN_AUTH) and sign in again.",
            ),
            SessionError::NoIdentityPool => {
                Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
                    .suggest("Set `identity_pool_id` in the daemon's configuration.")
            }
            SessionError::BadAnswer(_) => {
                Self::new(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, message)
            }
            SessionError::UnsupportedChallenge(_) => Self::new(
                StatusCode::NOT_IMPLEMENTED,
                codes::UNSUPPORTED_CHALLENGE,
                message,
            ),
            SessionError::OAuthNotConfigured => Self::new(
                StatusCode::BAD_REQUEST,
                "OAuthNotConfigureException",
                message,
            )
            .suggest(
                "Add an [oauth] section (domain, redirect_uri) to the daemon's configuration, or set amplify_outputs to a file with auth.oauth.",
            ),
            SessionError::RedirectRefused { attempt_open, .. } => Self::new(
                StatusCode::UNAUTHORIZED,
                "NotAuthorizedException",
                message,
            )
            .suggest(if attempt_open {
                "The browser sign-in is still waiting for its own callback; finish it in the browser."
            } else {
                "Start again with `cognitoctl login --browser`."
            }),
            SessionError::NoDevice(_) => Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
                .suggest("A pool with device tracking makes this machine a device at sign-in; `cognitoctl devices` lists the user's devices."),
            SessionError::FederatedNoUser => Self::new(
                StatusCode::UNAUTHORIZED,
                codes::USER_UNAUTHENTICATED,
                message,
            )
            .suggest("`cognitoctl session` shows the federated identity and its credentials; sign in with `cognitoctl login` for a user."),
            SessionError::FederationEnded(_) => Self::new(
                StatusCode::UNAUTHORIZED,
                codes::USER_UNAUTHENTICATED,
                message,
            )
            .suggest("Sign in to the provider again and run `cognitoctl federate`."),
            SessionError::Internal(_) => {
                error!(%message, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    codes::INTERNAL_ERROR,
                    message,
                )
            }
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(ErrorBody { error: self.error })).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use cognitod_proto::SignInRequest;

    use super::*;

    fn mapped(error: SessionError) -> (StatusCode, String) {
        let http = HttpError::from(error);
        (http.status, http.error.code)
    }

    #[test]
    fn session_errors_map_to_the_documented_codes() {
        let refused = |kind: &str| SessionError::Refused {
            kind: kind.into(),
            message: "m".into(),
        };
        let cases = [
            (
                SessionError::NotSignedIn,
                401,
                "UserUnAuthenticatedException",
            ),
            (
                SessionError::AlreadySignedIn("a".into()),
                409,
                "UserAlreadyAuthenticatedException",
            ),
            (SessionError::NoPendingStep, 409, "NoPendingSignInStep"),
            (
                refused("NotAuthorizedException"),
                401,
                "NotAuthorizedException",
            ),
            (
                refused("UserNotFoundException"),
                401,
                "UserNotFoundException",
            ),
            (
                refused("UserNotConfirmedException"),
                401,
                "UserNotConfirmedException",
            ),
            (
                refused("CodeMismatchException"),
                400,
                "CodeMismatchException",
            ),
            (
                refused("InvalidPasswordException"),
                400,
                "InvalidPasswordException",
            ),
            (
                SessionError::Unavailable("x".into()),
                503,
                "UpstreamUnavailable",
            ),
            (
                SessionError::InvalidToken("x".into()),
                502,
                "InvalidTokenException",
            ),
            (SessionError::Internal("x".into()), 500, "InternalError"),
        ];
        for (error, status, code) in cases {
            assert_eq!(
                mapped(error),
                (StatusCode::from_u16(status).unwrap(), code.to_owned())
            );
        }
    }

    #[test]
    fn json_errors_do_not_echo_the_body() {
        let error = serde_json::from_str::<SignInRequest>(
            r#"{"username": "alice", "password": 12345678, "authFlowType": "hunter2"}"#,
        )
        .unwrap_err();
        let text = crate::json::describe_error("request body", &error);
        assert!(
            !text.contains("12345678") && !text.contains("hunter2"),
            "{text}"
        );
        let error = serde_json::from_str::<SignInRequest>(r#"{"password": "pw"}"#).unwrap_err();
        assert_eq!(
            crate::json::describe_error("request body", &error),
            "request body: missing field `username` at line 1 column 18"
        );
    }
}
