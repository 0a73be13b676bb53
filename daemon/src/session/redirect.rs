//! Browser sign-in: the daemon keeps the attempt's secrets (`state`, PKCE verifier, `nonce`),
//! hands out the authorize URL, and finishes with the URL the browser came back to. The code
//! is exchanged on a task of its own and comes back to the owner as an
//! [`AuthDone`](super::signin::AuthDone), like any sign-in call.

use cognitod_proto::{
    AuthFlowType, CompleteRedirectRequest, RedirectSignInRequest, RedirectSignInResponse,
    SignInResponse, Timestamp,
};
use tracing::info;

use super::owner::{Owner, upstream_after};
use super::signin::{AuthDone, Prepared};
use super::{Reply, SessionError};
use crate::cognito::UserPool;
use crate::cognito::auth;
use crate::oauth::{self, Attempt, Callback};

impl<P: UserPool> Owner<P> {
    /// Starts a browser sign-in; one pending (browser or not) is replaced.
    pub(super) fn start_redirect(
        &mut self,
        request: RedirectSignInRequest,
        reply: Reply<RedirectSignInResponse>,
    ) {
        let _ = reply.send(self.new_attempt(request));
    }

    fn new_attempt(
        &mut self,
        request: RedirectSignInRequest,
    ) -> Result<RedirectSignInResponse, SessionError> {
        if let Some(who) = self.signed_in_as() {
            return Err(SessionError::AlreadySignedIn(who));
        }
        let config = self
            .config
            .oauth
            .as_ref()
            .ok_or(SessionError::OAuthNotConfigured)?;
        let provider = request
            .provider
            .as_deref()
            .map(|name| oauth::provider(config, name))
            .transpose()
            .map_err(SessionError::BadAnswer)?;
        let now = self.clock.now_ms();
        let attempt = Attempt::new(now, provider)
            .map_err(|e| SessionError::Internal(format!("no randomness from the OS: {e}")))?;
        let response = RedirectSignInResponse {
            authorize_url: attempt.authorize_url(config, &self.config.client_id),
            redirect_uri: config.redirect_uri.clone(),
            expires_at: Timestamp::from_unix(attempt.expires_at_ms.div_euclid(1000)),
        };
        info!(
            provider = attempt.provider.as_deref().unwrap_or("(any)"),
            "browser sign-in started"
        );
        // A password sign-in pending or on its way is replaced.
        self.set_pending(None);
        self.answering = false;
        self.next_auth_generation();
        self.redirect = Some(attempt);
        Ok(response)
    }

    /// Finishes the browser sign-in with the URL the browser was sent to. A callback that is
    /// not this attempt's (no or another `state`) is refused and the attempt stays; any other
    /// answer uses it up.
    pub(super) fn complete_redirect(
        &mut self,
        request: CompleteRedirectRequest,
        reply: Reply<SignInResponse>,
    ) {
        let Some(attempt) = self.redirect.clone() else {
            let _ = reply.send(Err(SessionError::NoPendingStep));
            return;
        };
        let Some(config) = self.config.oauth.clone() else {
            let _ = reply.send(Err(SessionError::OAuthNotConfigured));
            return;
        };
        if self.clock.now_ms() > attempt.expires_at_ms {
            self.redirect = None;
            let _ = reply.send(Err(SessionError::RedirectRefused {
                message: "the browser sign-in expired (an attempt lasts 10 minutes)".into(),
                attempt_open: false,
            }));
            return;
        }
        let callback =
            match oauth::read_callback(request.callback_url.expose(), &config.redirect_uri) {
                Ok(callback) => callback,
                Err(why) => {
                    let _ = reply.send(Err(SessionError::BadAnswer(why)));
                    return;
                }
            };
        let state_ok = callback.state().is_some_and(|s| attempt.state_matches(s));
        if !state_ok {
            info!("a browser callback for another sign-in attempt was refused");
            let _ = reply.send(Err(SessionError::RedirectRefused {
                message: if callback.state().is_none() {
                    "the callback has no state, so it cannot be this sign-in's".into()
                } else {
                    "the callback's state is not this sign-in's (an older or another attempt's, or forged)".into()
                },
                attempt_open: true,
            }));
            return;
        }
        // The state is single use from here on.
        self.redirect = None;
        let code = match callback {
            Callback::Code { code, .. } => code,
            Callback::Error {
                error, description, ..
            } => {
                info!(error = %error.chars().take(64).collect::<String>(), "the managed login sent the browser back with an error");
                let _ = reply.send(Err(SessionError::RedirectRefused {
                    message: oauth::describe_error(&error, description.as_deref()),
                    attempt_open: false,
                }));
                return;
            }
        };
        let generation = self.next_auth_generation();
        let started_ms = self.clock.now_ms();
        let (pool, verifier, done) = self.auth_parts();
        tokio::spawn(async move {
            let exchanged = pool
                .exchange_code(&code, &attempt.verifier, &config.redirect_uri)
                .await;
            let upstream = Some(upstream_after(exchanged.as_ref().err()));
            let result = match exchanged {
                Ok(result) => match auth::verify(&verifier, result).await {
                    Ok(tokens) if attempt.nonce_matches(tokens.id_claims.nonce.as_deref()) => {
                        Ok(Prepared::SignedIn(Box::new(tokens), None))
                    }
                    Ok(tokens) => {
                        // Issued, but not for this attempt: not left valid.
                        if let Some(refresh_token) = &tokens.refresh_token {
                            let _ = pool.revoke_token(refresh_token).await;
                        }
                        Err(SessionError::InvalidToken(
                            "the id token's nonce is not this sign-in's".into(),
                        ))
                    }
                    Err(error) => Err(error.into()),
                },
                Err(error) => {
                    info!(%error, "the authorization code was not exchanged");
                    Err(error.into())
                }
            };
            let _ = done.send(AuthDone {
                generation,
                login_id: String::new(),
                flow: AuthFlowType::Redirect,
                started_ms,
                upstream,
                result,
                reply,
                confirm: false,
                step_used: true,
                device_gone: false,
            });
        });
    }
}
