//! Keeping the tokens fresh: the timer, single-flight refreshes, backoff while Cognito fails,
//! and the end of the session when Cognito refuses the refresh token.

use std::sync::Arc;

use cognitod_proto::{EventKind, LastRefresh, Secret, Timestamp, UpstreamHealth};
use tracing::{info, warn};

use super::owner::Owner;
use super::{Reply, SessionError, SignedIn, schedule};
use crate::cognito::auth::{self, AuthOutcome, VerifiedTokens};
use crate::cognito::jwt::Verifier;
use crate::cognito::wire::SecretParameters;
use crate::cognito::{CognitoError, InitiateAuthRequest, UserPool};

/// Cognito's answers to a refresh that mean the refresh token is no good: the session ends.
const DEFINITIVE: [&str; 6] = [
    "NotAuthorizedException",
    "RefreshTokenReuseException",
    "UserNotFoundException",
    "PasswordResetRequiredException",
    "UserNotConfirmedException",
    "TokenRevokedException",
];

/// While refreshes back off, client demand starts at most one attempt in this many ms.
const DEMAND_INTERVAL_MS: i64 = 5_000;

/// Whether a refresh error ends the session (as opposed to being retried).
pub fn ends_session(error: &CognitoError) -> bool {
    error
        .service_kind()
        .is_some_and(|kind| DEFINITIVE.contains(&kind))
        && !error.is_transient()
}

impl<P: UserPool> Owner<P> {
    /// A client wants fresh tokens (see [`super::Command::Refresh`]).
    pub(super) fn refresh_requested(&mut self, force: bool, reply: Reply<()>) {
        let Some(current) = self.current() else {
            let _ = reply.send(Err(SessionError::NotSignedIn));
            return;
        };
        if self.in_flight.is_none() {
            let now = self.clock.now_ms();
            if !force && !current.is_expired(now) {
                let _ = reply.send(Ok(()));
                return;
            }
            if let Some(error) = self.backing_off(now) {
                let _ = reply.send(Err(error));
                return;
            }
            self.start_refresh(&current);
        }
        self.waiters.push(reply);
    }

    /// Demand brings a refresh forward whatever the backoff, but at most one every
    /// [`DEMAND_INTERVAL_MS`]: more demand meanwhile gets this error (503 with Retry-After)
    /// instead of an upstream call per request. `None` when an attempt may start now.
    pub(super) fn backing_off(&self, now: i64) -> Option<SessionError> {
        let retry_at_ms = self.retry_at_ms.filter(|&at| at > now)?;
        let next_demand_ms = self.refresh_started_ms + DEMAND_INTERVAL_MS;
        (now < next_demand_ms).then(|| {
            let wait_ms = next_demand_ms.min(retry_at_ms) - now;
            SessionError::BackingOff {
                retry_after_secs: u64::try_from((wait_ms + 999) / 1000).unwrap_or(1),
                message:
                    "the tokens expired and their refresh is failing; it is tried again shortly"
                        .into(),
            }
        })
    }

    /// Fresh tokens for a credentials fetch: a refresh unless one is in flight or demand must
    /// wait for the backoff (its success starts the fetch).
    pub(super) fn refresh_for_credentials(&mut self, current: &SignedIn) {
        let now = self.clock.now_ms();
        if self.in_flight.is_none() && self.backing_off(now).is_none() {
            self.start_refresh(current);
        }
    }

    /// The timer fired or a client nudged: refresh if due, report an expiry once.
    pub(super) fn on_timer(&mut self) {
        let Some(current) = self.current() else {
            return;
        };
        let now = self.clock.now_ms();
        let due = self.retry_at_ms.unwrap_or(current.refresh_due_ms);
        if self.in_flight.is_none() && now >= due {
            self.start_refresh(&current);
        }
        if !self.expiry_reported && current.is_expired(now) {
            self.expiry_reported = true;
            warn!(username = %current.username, "the tokens expired before a refresh succeeded");
            self.emit(EventKind::SessionExpired {});
        }
    }

    fn start_refresh(&mut self, current: &SignedIn) {
        let Some(refresh_token) = current.tokens.refresh_token.clone() else {
            // Sign-in refuses such tokens; should one get here, the session ends now rather
            // than leave the timer and the waiters with nothing to do.
            warn!("the session has no refresh token; signed out");
            self.end_session(Some("the session has no refresh token".to_owned()));
            return;
        };
        let rotation = self.config.refresh_token_rotation;
        if rotation {
            // Recorded before the call: a daemon killed before it stores the rotated token
            // retries with this one inside Cognito's grace period.
            self.persist(Some(current), true);
        }
        let pool = Arc::clone(&self.pool);
        let verifier = Arc::clone(&self.verifier);
        let username = current.username.clone();
        let device_key = current.device_key.clone();
        self.refresh_started_ms = self.clock.now_ms();
        // A token left by an aborted refresh (an earlier session's) is never this one's.
        *self
            .rotated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let rotated = Arc::clone(&self.rotated);
        self.in_flight = Some(tokio::spawn(async move {
            refresh_call(
                &*pool,
                &verifier,
                rotation,
                (&username, device_key.as_deref()),
                refresh_token,
                &rotated,
            )
            .await
            .map(Box::new)
        }));
        self.publish_schedule();
    }

    pub(super) fn finish_refresh(&mut self, result: Result<Box<VerifiedTokens>, CognitoError>) {
        let rotated = self
            .rotated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(current) = self.current() else {
            return;
        };
        if let (Err(error), Some(rotated)) = (&result, rotated) {
            // The answer was refused after Cognito rotated: keep the new refresh token with
            // the tokens still held, so the retry uses it (the old one dies with the grace
            // period).
            warn!(%error, "the refreshed tokens were refused; keeping the rotated refresh token for the retry");
            let mut tokens = current.tokens.clone();
            tokens.refresh_token = Some(rotated);
            let mut kept = SignedIn::new(
                current.username.clone(),
                current.user_id.clone(),
                current.sign_in_details.clone(),
                tokens,
                current.drift_ms,
            );
            kept.device_key.clone_from(&current.device_key);
            self.persist(Some(&kept), false);
            let kept = Arc::new(kept);
            self.publish
                .send_modify(|snapshot| snapshot.signed_in = Some(Arc::clone(&kept)));
        }
        let Some(current) = self.current() else {
            return;
        };
        let now = self.clock.now_ms();
        let at = Timestamp::from_unix(now.div_euclid(1000));
        let result = result.and_then(|tokens| {
            if tokens.id_claims.sub == current.user_id {
                Ok(tokens)
            } else {
                Err(CognitoError::InvalidToken(
                    "refreshed tokens belong to another user".to_owned(),
                ))
            }
        });
        match result {
            Ok(tokens) => {
                let drift = schedule::clock_drift_ms(
                    tokens
                        .access_claims
                        .iat
                        .unwrap_or(tokens.access_claims.exp - 3600),
                    self.refresh_started_ms,
                    now,
                );
                let mut refreshed = SignedIn::new(
                    current.username.clone(),
                    current.user_id.clone(),
                    current.sign_in_details.clone(),
                    *tokens,
                    drift,
                );
                refreshed.device_key.clone_from(&current.device_key);
                // Stored before it is served: with rotation the old refresh token is on its
                // way out.
                self.persist(Some(&refreshed), false);
                info!(username = %refreshed.username, expires_at = %refreshed.expires_at(), "tokens refreshed");
                self.emit(EventKind::TokenRefresh {
                    expires_at: refreshed.expires_at(),
                });
                self.retry_at_ms = None;
                self.expiry_reported = false;
                self.publish.send_modify(|snapshot| {
                    snapshot.signed_in = Some(Arc::new(refreshed));
                    snapshot.last_refresh = Some(LastRefresh {
                        at,
                        ok: true,
                        error: None,
                    });
                    snapshot.consecutive_failures = 0;
                    snapshot.upstream = UpstreamHealth::Ok;
                });
                for waiter in self.waiters.drain(..) {
                    let _ = waiter.send(Ok(()));
                }
                // New id token, new credentials (a refusal held from the old token is
                // forgotten).
                if self.config.identity.is_some() {
                    self.creds_refused = None;
                    self.start_credentials();
                }
            }
            Err(error) if ends_session(&error) => {
                warn!(username = %current.username, %error, "Cognito refused the refresh token; signed out");
                self.emit(EventKind::TokenRefreshFailure {
                    error: error.to_string(),
                });
                self.end_session(Some(error.to_string()));
            }
            Err(error) => {
                let failures = self.publish.borrow().consecutive_failures + 1;
                let wait = schedule::backoff(failures, schedule::random_unit());
                let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                self.retry_at_ms = Some(now + wait_ms);
                warn!(%error, failures, retry_in_ms = wait_ms, "token refresh failed; retrying");
                self.emit(EventKind::TokenRefreshFailure {
                    error: error.to_string(),
                });
                let upstream = if matches!(error, CognitoError::Unreachable { .. }) {
                    UpstreamHealth::Unreachable
                } else {
                    UpstreamHealth::Degraded
                };
                let message = error.to_string();
                self.publish.send_modify(|snapshot| {
                    snapshot.last_refresh = Some(LastRefresh {
                        at,
                        ok: false,
                        error: Some(message),
                    });
                    snapshot.consecutive_failures = failures;
                    snapshot.upstream = upstream;
                });
                let error = SessionError::from(error);
                let message = error.to_string();
                for waiter in self.waiters.drain(..) {
                    let _ = waiter.send(Err(SessionError::Retrying(message.clone())));
                }
                // Credentials waiting for fresh tokens wait no more.
                if self.current().is_some_and(|s| s.is_expired(now)) {
                    for waiter in self.creds_waiters.drain(..) {
                        let _ = waiter.send(Err(SessionError::Retrying(format!(
                            "the tokens expired and their refresh failed: {message}"
                        ))));
                    }
                }
            }
        }
        self.publish_schedule();
    }

    /// Shows the next refresh (or retry) in the snapshot.
    pub(super) fn publish_schedule(&self) {
        let next = self.current().map(|current| {
            let ms = self.retry_at_ms.unwrap_or(current.refresh_due_ms);
            Timestamp::from_unix(ms.div_euclid(1000))
        });
        self.publish
            .send_modify(|snapshot| snapshot.next_refresh_at = next);
    }
}

/// One refresh call: `GetTokensFromRefreshToken` with rotation, else `InitiateAuth
/// REFRESH_TOKEN_AUTH`; the answer's tokens verified. Without a new refresh token in the
/// answer the old one stays.
pub(super) async fn refresh_call<P: UserPool>(
    pool: &P,
    verifier: &Verifier,
    rotation: bool,
    (username, device_key): (&str, Option<&str>),
    refresh_token: Secret,
    rotated: &std::sync::Mutex<Option<Secret>>,
) -> Result<VerifiedTokens, CognitoError> {
    let response = if rotation {
        let response = pool
            .get_tokens_from_refresh_token(&refresh_token, device_key)
            .await?;
        // The old token is on its way out from here: the new one is kept as soon as the
        // answer parses, whatever becomes of the answer's other tokens.
        if let Some(new) = response
            .authentication_result
            .as_ref()
            .and_then(|r| r.refresh_token.clone())
        {
            *rotated
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(new);
        }
        response
    } else {
        let mut parameters = SecretParameters::new();
        parameters.insert("REFRESH_TOKEN".into(), refresh_token.clone());
        if let Some(hash) = pool.secret_hash(username) {
            parameters.insert("SECRET_HASH".into(), hash);
        }
        // A refresh token issued to a remembered device needs its key.
        if let Some(key) = device_key {
            parameters.insert("DEVICE_KEY".into(), Secret::new(key));
        }
        pool.initiate_auth(InitiateAuthRequest {
            auth_flow: "REFRESH_TOKEN_AUTH",
            client_id: pool.client_id().to_owned(),
            auth_parameters: parameters,
            client_metadata: None,
            session: None,
        })
        .await?
    };
    match auth::outcome(verifier, response, username).await? {
        AuthOutcome::SignedIn(mut tokens) => {
            if tokens.refresh_token.is_none() {
                tokens.refresh_token = Some(refresh_token);
            }
            Ok(*tokens)
        }
        AuthOutcome::Challenge(challenge) => Err(CognitoError::Protocol(format!(
            "refresh answered with the {} challenge",
            challenge.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(kind: &str, status: u16) -> CognitoError {
        CognitoError::Service {
            kind: kind.into(),
            message: String::new(),
            status,
        }
    }

    #[test]
    fn refusals_of_the_refresh_token_end_the_session_and_the_rest_are_retried() {
        for kind in DEFINITIVE {
            assert!(ends_session(&service(kind, 400)), "{kind}");
        }
        assert!(!ends_session(&service("TooManyRequestsException", 400)));
        assert!(!ends_session(&service("InternalErrorException", 500)));
        assert!(!ends_session(&service("NotAuthorizedException", 503)));
        assert!(!ends_session(&CognitoError::Unreachable {
            endpoint: "x".into(),
            reason: "refused".into()
        }));
        assert!(!ends_session(&CognitoError::InvalidToken("kid".into())));
    }
}
