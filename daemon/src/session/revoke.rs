//! Telling Cognito about a sign-out: `RevokeToken` for this device, `GlobalSignOut` for every
//! device (with a fresh access token: an expired one is refused). When Cognito cannot be
//! reached, the revocation is tried again in the background until it goes through or Cognito
//! refuses it for good; the local session is gone either way.

use std::sync::Arc;

use cognitod_proto::Secret;
use tracing::{info, warn};

use super::refresh::{ends_session, refresh_call};
use super::schedule;
use crate::cognito::jwt::Verifier;
use crate::cognito::{CognitoError, UserPool};

/// How many times a revocation Cognito could not take is tried again (with backoff up to
/// 5 minutes between attempts: about an hour in all).
const RETRIES: u32 = 16;

/// What revoking needs, kept past the session.
#[derive(Debug, Clone)]
pub(super) struct Revocation {
    pub refresh_token: Secret,
    /// The access token, while it is still valid (`GlobalSignOut` needs one).
    pub access_token: Option<Secret>,
    pub username: String,
    /// The remembered device the refresh token was issued to.
    pub device_key: Option<String>,
    pub global: bool,
    pub rotation: bool,
    /// Forget this device at Cognito first (`logout --forget-device`), with the access token
    /// before the revocation ends it.
    pub forget_device: Option<String>,
}

impl Revocation {
    /// Revokes once. Fresh tokens are obtained at most once, when an expired access token
    /// is all there is and `ForgetDevice` or `GlobalSignOut` needs one; with rotation, the
    /// refresh token they came with is the live one, and the one revoked.
    pub(super) async fn run<P: UserPool>(
        &mut self,
        pool: &P,
        verifier: &Verifier,
    ) -> Result<(), CognitoError> {
        let needs_access = self.global || self.forget_device.is_some();
        let fresh = match (&self.access_token, needs_access) {
            (None, true) => match self.fresh_tokens(pool, verifier).await {
                Ok(tokens) => Some(tokens),
                Err(error) if self.global => return Err(error),
                Err(error) => {
                    warn!(%error, "the device could not be forgotten at Cognito (no access token); it is forgotten here");
                    None
                }
            },
            _ => None,
        };
        let access_token = self
            .access_token
            .as_ref()
            .or(fresh.as_ref().map(|tokens| &tokens.access_token));
        let refresh_token = &self.refresh_token;
        if let (Some(key), Some(access_token)) = (&self.forget_device, access_token) {
            forget(pool, access_token, key).await;
        }
        if !self.global {
            return pool.revoke_token(refresh_token).await;
        }
        let Some(access_token) = access_token else {
            return Err(CognitoError::Protocol(
                "no access token for the global sign-out".to_owned(),
            ));
        };
        match pool.global_sign_out(access_token).await {
            // A browser sign-in without the admin scope: this device's token at least.
            Err(CognitoError::Service { kind, message, .. })
                if kind == "NotAuthorizedException" && message.contains("scope") =>
            {
                pool.revoke_token(refresh_token).await?;
                Err(CognitoError::Service {
                    kind,
                    message: "a global sign-out needs the aws.cognito.signin.user.admin scope, which this sign-in was not granted (add it to [oauth] scopes); this device's refresh token was revoked".into(),
                    status: 400,
                })
            }
            other => other,
        }
    }

    /// New tokens from the refresh token (an expired access token is refused). With
    /// rotation, the refresh token Cognito rotated to is the live one from then on, for this
    /// call and every retry, even when the rest of the answer is refused.
    async fn fresh_tokens<P: UserPool>(
        &mut self,
        pool: &P,
        verifier: &Verifier,
    ) -> Result<crate::cognito::auth::VerifiedTokens, CognitoError> {
        let slot = std::sync::Mutex::new(None);
        let result = refresh_call(
            pool,
            verifier,
            self.rotation,
            (&self.username, self.device_key.as_deref()),
            self.refresh_token.clone(),
            &slot,
        )
        .await;
        let rotated = slot
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(rotated) = rotated {
            self.refresh_token = rotated;
        }
        result
    }

    /// Tries again in the background, with backoff, while Cognito cannot be reached. A global
    /// sign-out stops when the same user signs in here again (it would end that session too).
    pub(super) fn retry_in_background<P: UserPool>(
        self,
        pool: Arc<P>,
        verifier: Arc<Verifier>,
        sessions: tokio::sync::watch::Receiver<super::Snapshot>,
    ) {
        tokio::spawn(async move {
            // A refresh for GlobalSignOut (and ForgetDevice) needs a fresh access token each
            // time.
            let mut revocation = Revocation {
                access_token: None,
                ..self
            };
            for failures in 1..=RETRIES {
                tokio::time::sleep(schedule::backoff(failures, schedule::random_unit())).await;
                let signed_in_again = sessions
                    .borrow()
                    .signed_in
                    .as_ref()
                    .is_some_and(|s| s.username == revocation.username);
                if revocation.global && signed_in_again {
                    warn!(username = %revocation.username, "the global sign-out is not retried: the user signed in here again, and it would end that session too");
                    return;
                }
                match revocation.run(&*pool, &verifier).await {
                    Ok(()) => {
                        info!(username = %revocation.username, global = revocation.global, "the sign-out reached Cognito on a retry");
                        return;
                    }
                    Err(error) if error.is_transient() => {
                        warn!(%error, failures, "the sign-out still cannot reach Cognito; trying again");
                    }
                    Err(error) => {
                        let gone = ends_session(&error);
                        warn!(%error, already_invalid = gone, "Cognito refused the retried sign-out; giving up");
                        return;
                    }
                }
            }
            warn!(username = %revocation.username, "the sign-out never reached Cognito; the refresh token stays valid until it expires");
        });
    }
}

/// `ForgetDevice` for `key`; a failure is logged: the device is forgotten here either way.
async fn forget<P: UserPool>(pool: &P, access_token: &Secret, key: &str) {
    match pool.forget_device(access_token, key).await {
        Ok(()) => info!(device_key = key, "the device is forgotten at Cognito"),
        Err(error) => {
            warn!(%error, "Cognito did not forget the device; it is forgotten here");
        }
    }
}
