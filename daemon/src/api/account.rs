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
    if peer.uid == own || peer.uid == 0 {
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
    let answer = session
        .account(op)
        .await
        .map_err(|error| with_suggestion(HttpError::from(error), what))?;
    if changes_claims && let Err(error) = wait_bounded(session.refresh(true), "fresh tokens").await
    {
        warn!(error = %error.parts().2, "the tokens were not refreshed after the change; the session shows the old claims until the next refresh");
    }
    Ok(Json(answer))
}

/// What to do about Cognito's refusals of account calls, where the answer is not obvious.
fn with_suggestion(error: HttpError, what: &str) -> HttpError {
    let (_, code, message) = error.parts();
    let suggestion = match code {
        "NotAuthorizedException" if message.contains("scope") => {
            "A browser sign-in needs the aws.cognito.signin.user.admin scope for account calls: add it to [oauth] scopes and sign in again."
        }
        "ExpiredCodeException" | "CodeMismatchException" => match what {
            "sign-up confirmation" => {
                "Check the code; `cognitoctl resend-code USERNAME` sends a new one."
            }
            "password reset confirmation" => {
                "Check the code; `cognitoctl reset-password USERNAME` sends a new one."
            }
            "attribute verification" => {
                "Check the code; `cognitoctl attributes verify NAME --resend` sends a new one."
            }
            _ => return error,
        },
        "LimitExceededException" => "Too many attempts: wait a while, then try again.",
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
