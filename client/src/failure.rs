//! How a failed command ends: its exit status, and what it says — cause first, fix last, one
//! sentence a line for people; `{"error": {...}}` on stdout for `--json`.

use cognitod_client::ClientError;
use cognitod_proto::{ApiError, codes};

/// Exit statuses, as documented (README, `cognitoctl --help`).
pub mod exit {
    pub const OK: u8 = 0;
    /// The answer was no: not signed in, sign-in refused.
    pub const NO: u8 = 1;
    /// Usage error, or the daemon cannot be reached.
    pub const USAGE: u8 = 2;
    /// A sign-in step is pending.
    pub const PENDING: u8 = 3;
    /// Cognito could not be reached or is throttling: trying again later may work.
    pub const TRANSIENT: u8 = 4;
}

/// A mistake caught before anything is sent (an empty username, Ctrl-D at a prompt).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// The daemon ended the event stream (it stopped or restarted): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("the event stream ended: cognitod stopped or restarted")]
pub struct StreamEnded;

/// A "no" the client says itself, shaped like the daemon's (exit 1, the code in `--json`).
pub fn no(code: &str, message: &str, fix: &str) -> anyhow::Error {
    ClientError::Api {
        status: 400,
        error: ApiError {
            code: code.to_owned(),
            message: message.to_owned(),
            recovery_suggestion: Some(fix.to_owned()),
        },
    }
    .into()
}

/// The exit status for `error`.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<Usage>().is_some() {
        return exit::USAGE;
    }
    match error.downcast_ref::<ClientError>() {
        Some(ClientError::Api { status, error }) => api_exit_code(*status, error),
        _ => exit::USAGE,
    }
}

/// The exit status for an error answer of the daemon.
pub fn api_exit_code(status: u16, error: &ApiError) -> u8 {
    if is_transient(status, error) {
        exit::TRANSIENT
    } else {
        exit::NO
    }
}

/// Whether trying again later may work: Cognito unreachable or throttling.
pub fn is_transient(status: u16, error: &ApiError) -> bool {
    status == 503 || status == 429 || is_transient_code(&error.code)
}

/// Whether an error code means that trying again later may work.
pub fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        codes::UPSTREAM_UNAVAILABLE
            | "TooManyRequestsException"
            | "ThrottlingException"
            | "LimitExceededException"
    )
}

/// Whether `error` comes from writing to a closed stdout (`cognitoctl status | head -1`).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `error` for a person: the cause, then the fix, each on its own line; Cognito's exception
/// names stay in `--json`.
pub fn human(error: &anyhow::Error) -> String {
    match error.downcast_ref::<ClientError>() {
        Some(ClientError::Api { error, .. }) => api_text(error),
        _ => format!("{error:#}"),
    }
}

/// An error answer for a person: its message, and its suggestion on the next line.
pub fn api_text(error: &ApiError) -> String {
    match &error.recovery_suggestion {
        Some(fix) => format!("{}\n{fix}", error.message),
        None => error.message.clone(),
    }
}

/// `error` on one line (for `credential_process`, whose stderr the AWS CLI shows as it is):
/// the sentences joined, each ending in a full stop.
pub fn one_line(error: &ClientError) -> String {
    let text = match error {
        ClientError::Api { error, .. } => api_text(error),
        other => other.to_string(),
    };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            if line.ends_with(['.', '!', '?', ':']) {
                line.to_owned()
            } else {
                format!("{line}.")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `error` as the socket API's error object, for `--json`.
pub fn as_api_error(error: &anyhow::Error) -> ApiError {
    if let Some(ClientError::Api { error, .. }) = error.downcast_ref::<ClientError>() {
        return error.clone();
    }
    let code = match error.downcast_ref::<ClientError>() {
        _ if error.downcast_ref::<Usage>().is_some() => "UsageError",
        _ if error.downcast_ref::<StreamEnded>().is_some() => "StreamEnded",
        Some(ClientError::NotRunning { .. }) => "DaemonNotRunning",
        Some(ClientError::Connect { .. }) => "DaemonUnreachable",
        Some(ClientError::Untrusted { .. }) => "UntrustedSocket",
        Some(ClientError::Version { .. }) => "ApiVersionMismatch",
        Some(ClientError::Protocol(_)) => "ProtocolError",
        Some(ClientError::Api { .. }) | None => "ClientError",
    };
    let text = format!("{error:#}");
    let (message, fix) = match text.split_once('\n') {
        Some((message, fix)) => (message.to_owned(), Some(fix.to_owned())),
        None => (text, None),
    };
    ApiError {
        code: code.to_owned(),
        message,
        recovery_suggestion: fix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, message: &str, fix: Option<&str>) -> ClientError {
        ClientError::Api {
            status: 401,
            error: ApiError {
                code: code.into(),
                message: message.into(),
                recovery_suggestion: fix.map(Into::into),
            },
        }
    }

    #[test]
    fn one_line_keeps_sentences_apart() {
        let error = api(
            "UserUnAuthenticatedException",
            "not signed in",
            Some("Sign in with `cognitoctl login`."),
        );
        assert_eq!(
            one_line(&error),
            "not signed in. Sign in with `cognitoctl login`."
        );
    }

    #[test]
    fn human_text_has_no_exception_names_and_json_keeps_them() {
        let error = anyhow::Error::from(api(
            "NotAuthorizedException",
            "Incorrect username or password.",
            None,
        ));
        assert_eq!(human(&error), "Incorrect username or password.");
        assert_eq!(as_api_error(&error).code, "NotAuthorizedException");
        assert_eq!(exit_code(&error), exit::NO);
    }

    #[test]
    fn transient_failures_have_their_own_exit_status() {
        let error = ApiError {
            code: codes::UPSTREAM_UNAVAILABLE.into(),
            message: "m".into(),
            recovery_suggestion: None,
        };
        assert_eq!(api_exit_code(503, &error), exit::TRANSIENT);
        let throttled = ApiError {
            code: "TooManyRequestsException".into(),
            ..error
        };
        assert_eq!(api_exit_code(429, &throttled), exit::TRANSIENT);
        assert_eq!(
            exit_code(&anyhow::Error::from(Usage("x".into()))),
            exit::USAGE
        );
    }
}
