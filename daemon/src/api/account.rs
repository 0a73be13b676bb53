//! The account routes: sign-up, password reset and change, attributes, MFA settings, TOTP
//! setup, deleting the account. Only the daemon's own uid and root may make these calls: in
//! system-wide mode the other allowed users may read the session, never change the account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Json, Router};
use cognitod_proto::{self as proto, codes};
use tracing::{info, warn};

use super::{AppState, HttpError, JsonBody, fresh_snapshot, wait_bounded};
use crate::server::Peer;
use crate::session::SessionHandle;
use crate::session::account::{AccountAnswer, AccountOp};

/// The account routes, beside the others; `user` is `GET /v1/user`'s handler, which
/// `DELETE /v1/user` shares the path with.
pub(super) fn routes(router: Router<AppState>, user: MethodRouter<AppState>) -> Router<AppState> {
    router
        .route("/v1/user", user.delete(delete_user))
        .route("/v1/sign-up", post(sign_up))
        .route("/v1/sign-up/confirm", post(confirm_sign_up))
        .route("/v1/sign-up/resend-code", post(resend_sign_up_code))
        .route("/v1/sign-up/auto-sign-in", post(auto_sign_in))
        .route("/v1/password/reset", post(reset_password))
        .route("/v1/password/reset/confirm", post(confirm_reset_password))
        .route("/v1/user/password", post(update_password))
        .route(
            "/v1/user/attributes",
            get(fetch_attributes)
                .post(update_attributes)
                .delete(delete_attributes),
        )
        .route("/v1/user/attributes/confirm", post(confirm_attribute))
        .route("/v1/user/attributes/send-code", post(send_attribute_code))
        .route("/v1/user/mfa", get(fetch_mfa).put(update_mfa))
        .route("/v1/user/totp", post(set_up_totp))
        .route("/v1/user/totp/verify", post(verify_totp))
}

/// Refuses peers other than the daemon's own uid and root.
fn owner_only(peer: &Peer, what: &str) -> Result<(), HttpError> {
    let own = rustix::process::getuid().as_raw();
    if may_change_account(peer.uid, own) {
        return Ok(());
    }
    warn!(
        uid = peer.uid,
        pid = peer.pid_or_zero(),
        what,
        "account call refused: only the daemon's own uid and root may make it"
    );
    Err(HttpError::new(
        StatusCode::FORBIDDEN,
        codes::FORBIDDEN,
        format!("only uid {own} (the daemon's) and root may change the account"),
    ))
}

/// Whether a peer with `uid` may change the account of a daemon running as `own`.
fn may_change_account(uid: u32, own: u32) -> bool {
    uid == own || uid == 0
}

/// Runs `op` for `peer`: logged (what, never codes or passwords), with fresh tokens for calls
/// made as the signed-in user, and a refresh after a change of the id token's claims so the
/// next session shows the new values.
async fn run(
    session: &SessionHandle,
    peer: &Peer,
    op: AccountOp,
) -> Result<Json<AccountAnswer>, HttpError> {
    let what = op.name();
    owner_only(peer, what)?;
    info!(
        uid = peer.uid,
        pid = peer.pid_or_zero(),
        what,
        "account call"
    );
    if op.needs_user() {
        let snapshot = fresh_snapshot(session, false).await?;
        // Inside their lead the tokens are refreshed first (best effort: valid ones serve if
        // Cognito cannot refresh them now).
        if snapshot
            .signed_in
            .as_deref()
            .is_some_and(|s| s.refresh_due(session.now_ms()))
            && let Err(error) = wait_bounded(session.refresh(true), "fresh tokens").await
        {
            warn!(error = %error.parts().2, "the tokens were not refreshed before the account call; the current ones are used");
        }
    }
    let changes_claims = op.changes_claims();
    let new_code = op.new_code_hint();
    let answer = session
        .account(op)
        .await
        .map_err(|error| with_suggestion(HttpError::from(error), new_code))?;
    if changes_claims && let Err(error) = wait_bounded(session.refresh(true), "fresh tokens").await
    {
        warn!(error = %error.parts().2, "the tokens were not refreshed after the change; the session shows the old claims until the next refresh");
    }
    Ok(Json(answer))
}

/// What to do about Cognito's refusals of account calls, where the answer is not obvious.
/// `new_code` says how to get a new code for the call.
fn with_suggestion(mut error: HttpError, new_code: Option<&str>) -> HttpError {
    let (_, code, message) = error.parts();
    let suggestion = match code {
        "NotAuthorizedException" if message.contains("scope") => {
            // Signed in, without the right: not a matter of signing in again as such.
            error.status = StatusCode::FORBIDDEN;
            "A browser sign-in needs the aws.cognito.signin.user.admin scope for account calls: add it to [oauth] scopes and sign in again."
        }
        "ExpiredCodeException" | "CodeMismatchException" => match new_code {
            Some(hint) => hint,
            None => return error,
        },
        // Locked for minutes, or limited per hour: not a matter of seconds.
        "LimitExceededException" | "TooManyFailedAttemptsException" => {
            return error.without_retry_after().suggest(
                "Too many attempts: wait a while (Cognito locks for minutes), then try again.",
            );
        }
        _ => return error,
    };
    error.suggest(suggestion)
}

async fn sign_up(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::SignUpRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::SignUp(request)).await
}

async fn confirm_sign_up(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::ConfirmSignUpRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::ConfirmSignUp(request)).await
}

async fn resend_sign_up_code(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::UsernameRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::ResendSignUpCode(request)).await
}

/// `POST /v1/sign-up/auto-sign-in`: Amplify's `autoSignIn`.
async fn auto_sign_in(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::UsernameRequest>,
) -> Result<Json<proto::SignInResponse>, HttpError> {
    owner_only(&peer, "sign-in after sign-up")?;
    info!(uid = peer.uid, pid = peer.pid_or_zero(), username = %request.username, "sign-in after sign-up requested");
    Ok(Json(session.auto_sign_in(request).await?))
}

async fn reset_password(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::UsernameRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::ResetPassword(request)).await
}

async fn confirm_reset_password(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::ConfirmResetPasswordRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::ConfirmResetPassword(request)).await
}

async fn update_password(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::UpdatePasswordRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::UpdatePassword(request)).await
}

async fn fetch_attributes(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::FetchAttributes).await
}

async fn update_attributes(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::UpdateAttributesRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::UpdateAttributes(request)).await
}

async fn delete_attributes(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::DeleteAttributesRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::DeleteAttributes(request)).await
}

async fn confirm_attribute(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::ConfirmAttributeRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::ConfirmAttribute(request)).await
}

async fn send_attribute_code(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::SendAttributeCodeRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::SendAttributeCode(request)).await
}

async fn fetch_mfa(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::FetchMfa).await
}

async fn update_mfa(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::UpdateMfaRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::UpdateMfa(request)).await
}

async fn set_up_totp(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::SetUpTotp).await
}

async fn verify_totp(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::VerifyTotpRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::VerifyTotp(request)).await
}

async fn delete_user(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::DeleteUserRequest>,
) -> Result<Json<AccountAnswer>, HttpError> {
    run(&session, &peer, AccountOp::DeleteUser(request)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_daemons_uid_and_root_may_change_the_account() {
        assert!(may_change_account(1000, 1000));
        assert!(may_change_account(0, 1000));
        assert!(!may_change_account(1001, 1000));
        assert!(!may_change_account(65534, 0));
        assert!(may_change_account(0, 0));
    }

    #[test]
    fn lockouts_say_to_wait_and_scope_refusals_are_403() {
        let locked = with_suggestion(
            HttpError::from(crate::session::SessionError::Throttled {
                kind: "LimitExceededException".into(),
                message: "Attempt limit exceeded, please try after some time.".into(),
            }),
            None,
        );
        assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            locked
                .error
                .recovery_suggestion
                .as_deref()
                .is_some_and(|s| s.contains("wait a while"))
        );
        let response = axum::response::IntoResponse::into_response(locked);
        assert!(response.headers().get("retry-after").is_none());

        let scope = with_suggestion(
            HttpError::from(crate::session::SessionError::Refused {
                kind: "NotAuthorizedException".into(),
                message: "Access Token does not have required scopes".into(),
            }),
            None,
        );
        assert_eq!(scope.status, StatusCode::FORBIDDEN);
        let mismatch = with_suggestion(
            HttpError::from(crate::session::SessionError::Refused {
                kind: "CodeMismatchException".into(),
                message: "Invalid verification code provided, please try again.".into(),
            }),
            Some("get a new one"),
        );
        assert_eq!(
            mismatch.error.recovery_suggestion.as_deref(),
            Some("get a new one")
        );
    }
}
