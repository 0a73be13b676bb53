//! The one owner of the session.
//!
//! A single task holds the state. It publishes [`Snapshot`]s through a `watch` channel, which
//! request handlers read without locking, and takes [`Command`]s (sign in, sign out, refresh)
//! over a channel with a oneshot reply. Commands run one at a time, so two refresh requests can
//! never race: the second finds the tokens the first obtained.

use std::sync::Arc;
use std::time::Instant;

use cognitod_proto::{
    AuthFlowType, LastRefresh, NextStep, SessionState, SignInDetails, SignInRequest,
    SignInResponse, SignInStep, Timestamp, UpstreamHealth,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use crate::cognito::auth::{self, AuthOutcome, VerifiedTokens};
use crate::cognito::jwt::Verifier;
use crate::cognito::wire::SecretParameters;
use crate::cognito::{CognitoError, InitiateAuthRequest, UserPool};

/// A signed-in user and their verified tokens.
#[derive(Debug)]
pub struct SignedIn {
    /// `cognito:username`: the canonical username.
    pub username: String,
    /// `sub`.
    pub user_id: String,
    pub sign_in_details: SignInDetails,
    pub tokens: VerifiedTokens,
    /// When these tokens arrived (monotonic), to tell a refresh request whether it is served.
    pub received_at: Instant,
}

impl SignedIn {
    /// The earlier of the two tokens' `exp`.
    pub fn expires_at(&self) -> Timestamp {
        Timestamp::from_unix(self.tokens.id_claims.exp.min(self.tokens.access_claims.exp))
    }

    /// Whether the tokens are expired by the wall clock now.
    pub fn is_expired(&self) -> bool {
        self.expires_at() <= Timestamp::now()
    }
}

/// What handlers see: an immutable view of the session, cheap to clone.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: SessionState,
    pub signed_in: Option<Arc<SignedIn>>,
    pub last_refresh: Option<LastRefresh>,
    pub consecutive_failures: u32,
    pub upstream: UpstreamHealth,
}

impl Snapshot {
    fn signed_out() -> Self {
        Self {
            state: SessionState::SignedOut,
            signed_in: None,
            last_refresh: None,
            consecutive_failures: 0,
            upstream: UpstreamHealth::Ok,
        }
    }
}

/// Why a session command failed; named for what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not signed in")]
    NotSignedIn,
    #[error("already signed in as {0}")]
    AlreadySignedIn(String),
    #[error("no sign-in step is pending")]
    NoPendingStep,
    /// Cognito refused (wrong password, unknown user, revoked token, ...).
    #[error("{kind}: {message}")]
    Refused { kind: String, message: String },
    #[error("Cognito cannot be reached: {0}")]
    Unavailable(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("the sign-in needs the {0} challenge, which this version of cognitod cannot answer")]
    UnsupportedChallenge(String),
    #[error("{0}")]
    Internal(String),
}

impl From<CognitoError> for SessionError {
    fn from(error: CognitoError) -> Self {
        match error {
            CognitoError::Service { kind, message, .. } if !error_is_transient(&kind) => {
                Self::Refused { kind, message }
            }
            CognitoError::Service { .. } | CognitoError::Unreachable { .. } => {
                Self::Unavailable(error.to_string())
            }
            CognitoError::InvalidToken(why) => Self::InvalidToken(why),
            CognitoError::Protocol(_) | CognitoError::Srp(_) => Self::Internal(error.to_string()),
        }
    }
}

fn error_is_transient(kind: &str) -> bool {
    CognitoError::Service {
        kind: kind.to_owned(),
        message: String::new(),
        status: 400,
    }
    .is_transient()
}

type Reply<T> = oneshot::Sender<Result<T, SessionError>>;

/// What the owner can be asked to do.
#[derive(Debug)]
pub enum Command {
    SignIn {
        request: SignInRequest,
        reply: Reply<SignInResponse>,
    },
    SignOut {
        global: bool,
        reply: Reply<()>,
    },
    /// Fresh tokens, unless tokens newer than `requested_at` are already there.
    Refresh {
        requested_at: Instant,
        reply: Reply<()>,
    },
}

/// The handlers' side: read snapshots, send commands.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    commands: mpsc::Sender<Command>,
    snapshot: watch::Receiver<Snapshot>,
}

impl SessionHandle {
    /// The session as it is now.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }

    pub async fn sign_in(&self, request: SignInRequest) -> Result<SignInResponse, SessionError> {
        self.ask(|reply| Command::SignIn { request, reply }).await
    }

    pub async fn sign_out(&self, global: bool) -> Result<(), SessionError> {
        self.ask(|reply| Command::SignOut { global, reply }).await
    }

    /// Refreshes the tokens unless a refresh that began after this call already did.
    pub async fn refresh(&self) -> Result<(), SessionError> {
        let requested_at = Instant::now();
        self.ask(|reply| Command::Refresh {
            requested_at,
            reply,
        })
        .await
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, SessionError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| SessionError::Internal("the session task has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| SessionError::Internal("the session task dropped a request".to_owned()))?
    }
}

/// Starts the owner task; it ends when every handle is dropped.
pub fn spawn<P: UserPool>(pool: P, verifier: Verifier, user_pool_id: String) -> SessionHandle {
    let (commands, receiver) = mpsc::channel(64);
    let (publish, snapshot) = watch::channel(Snapshot::signed_out());
    let owner = Owner {
        pool,
        verifier,
        user_pool_id,
        publish,
    };
    tokio::spawn(owner.run(receiver));
    SessionHandle { commands, snapshot }
}

struct Owner<P> {
    pool: P,
    verifier: Verifier,
    user_pool_id: String,
    publish: watch::Sender<Snapshot>,
}

impl<P: UserPool> Owner<P> {
    async fn run(self, mut commands: mpsc::Receiver<Command>) {
        while let Some(command) = commands.recv().await {
            match command {
                Command::SignIn { request, reply } => {
                    let _ = reply.send(self.sign_in(request).await);
                }
                Command::SignOut { global, reply } => {
                    let _ = reply.send(self.sign_out(global).await);
                }
                Command::Refresh {
                    requested_at,
                    reply,
                } => {
                    let _ = reply.send(self.refresh(requested_at).await);
                }
            }
        }
    }

    fn current(&self) -> Option<Arc<SignedIn>> {
        self.publish.borrow().signed_in.clone()
    }

    async fn sign_in(&self, request: SignInRequest) -> Result<SignInResponse, SessionError> {
        if let Some(current) = self.current() {
            return Err(SessionError::AlreadySignedIn(current.username.clone()));
        }
        let flow = request.auth_flow_type.unwrap_or_default();
        let username = request.username.trim();
        if username.is_empty() {
            return Err(SessionError::Refused {
                kind: "InvalidParameterException".to_owned(),
                message: "username is empty".to_owned(),
            });
        }
        let outcome = auth::sign_in(
            &self.pool,
            &self.verifier,
            &self.user_pool_id,
            username,
            &request.password,
            flow,
        )
        .await;
        match outcome {
            Ok(AuthOutcome::SignedIn(tokens)) => {
                self.install(*tokens, username, flow);
                Ok(SignInResponse {
                    is_signed_in: true,
                    next_step: NextStep::new(SignInStep::Done),
                })
            }
            Ok(AuthOutcome::Challenge(challenge)) => {
                warn!(challenge = %challenge.name, "sign-in needs a challenge this version cannot answer");
                Err(SessionError::UnsupportedChallenge(challenge.name))
            }
            Err(error) => {
                info!(username, %error, "sign-in refused");
                Err(error.into())
            }
        }
    }

    fn install(&self, tokens: VerifiedTokens, login_id: &str, flow: AuthFlowType) {
        let username = tokens
            .id_claims
            .cognito_username
            .clone()
            .or_else(|| tokens.access_claims.username.clone())
            .unwrap_or_else(|| login_id.to_owned());
        let signed_in = SignedIn {
            user_id: tokens.id_claims.sub.clone(),
            username,
            sign_in_details: SignInDetails {
                login_id: login_id.to_owned(),
                auth_flow_type: flow,
            },
            tokens,
            received_at: Instant::now(),
        };
        info!(
            username = %signed_in.username,
            user_id = %signed_in.user_id,
            expires_at = %signed_in.expires_at(),
            "signed in"
        );
        self.publish.send_modify(|snapshot| {
            snapshot.state = SessionState::SignedIn;
            snapshot.signed_in = Some(Arc::new(signed_in));
            snapshot.upstream = UpstreamHealth::Ok;
            snapshot.consecutive_failures = 0;
        });
    }

    async fn sign_out(&self, global: bool) -> Result<(), SessionError> {
        let Some(current) = self.current() else {
            return Ok(());
        };
        let result = if global {
            self.pool
                .global_sign_out(&current.tokens.access_token)
                .await
        } else if let Some(refresh_token) = &current.tokens.refresh_token {
            self.pool.revoke_token(refresh_token).await
        } else {
            Ok(())
        };
        if let Err(error) = result {
            warn!(%error, global, "Cognito did not confirm the sign-out; the local session is cleared anyway");
        }
        self.publish.send_replace(Snapshot::signed_out());
        info!(username = %current.username, global, "signed out");
        Ok(())
    }

    async fn refresh(&self, requested_at: Instant) -> Result<(), SessionError> {
        let current = self.current().ok_or(SessionError::NotSignedIn)?;
        if current.received_at > requested_at {
            return Ok(());
        }
        let refresh_token =
            current.tokens.refresh_token.clone().ok_or_else(|| {
                SessionError::Internal("the session has no refresh token".to_owned())
            })?;
        let mut parameters = SecretParameters::new();
        parameters.insert("REFRESH_TOKEN", refresh_token.clone());
        if let Some(hash) = self.pool.secret_hash(&current.username) {
            parameters.insert("SECRET_HASH", hash);
        }
        let response = self
            .pool
            .initiate_auth(InitiateAuthRequest {
                auth_flow: "REFRESH_TOKEN_AUTH",
                client_id: self.pool.client_id().to_owned(),
                auth_parameters: parameters,
            })
            .await;
        let result = match response {
            Ok(response) => auth::outcome(&self.verifier, response).await,
            Err(error) => Err(error),
        };
        let now = Timestamp::now();
        match result {
            Ok(AuthOutcome::SignedIn(mut tokens)) => {
                if tokens.refresh_token.is_none() {
                    tokens.refresh_token = Some(refresh_token);
                }
                if tokens.id_claims.sub != current.user_id {
                    return Err(SessionError::InvalidToken(
                        "refreshed tokens belong to another user".to_owned(),
                    ));
                }
                let refreshed = SignedIn {
                    username: current.username.clone(),
                    user_id: current.user_id.clone(),
                    sign_in_details: current.sign_in_details.clone(),
                    tokens: *tokens,
                    received_at: Instant::now(),
                };
                info!(username = %refreshed.username, expires_at = %refreshed.expires_at(), "tokens refreshed");
                self.publish.send_modify(|snapshot| {
                    snapshot.signed_in = Some(Arc::new(refreshed));
                    snapshot.last_refresh = Some(LastRefresh {
                        at: now,
                        ok: true,
                        error: None,
                    });
                    snapshot.consecutive_failures = 0;
                    snapshot.upstream = UpstreamHealth::Ok;
                });
                Ok(())
            }
            Ok(AuthOutcome::Challenge(challenge)) => Err(SessionError::Internal(format!(
                "refresh answered with the {} challenge",
                challenge.name
            ))),
            Err(error) => {
                let error = SessionError::from(error);
                warn!(%error, "token refresh failed");
                let ends_session = matches!(error, SessionError::Refused { .. });
                self.publish.send_modify(|snapshot| {
                    snapshot.last_refresh = Some(LastRefresh {
                        at: now,
                        ok: false,
                        error: Some(error.to_string()),
                    });
                    snapshot.consecutive_failures += 1;
                    snapshot.upstream = if matches!(error, SessionError::Unavailable(_)) {
                        UpstreamHealth::Unreachable
                    } else {
                        UpstreamHealth::Degraded
                    };
                });
                if ends_session {
                    info!(username = %current.username, "the refresh token was refused; signed out");
                    self.publish.send_replace(Snapshot::signed_out());
                }
                Err(error)
            }
        }
    }
}
