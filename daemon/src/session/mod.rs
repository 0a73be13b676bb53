//! The one owner of the session.
//!
//! A single task holds the state. It publishes [`Snapshot`]s through a `watch` channel, which
//! request handlers read without locking, and takes [`Command`]s (sign in, sign out, refresh)
//! over a channel with a oneshot reply. Commands run one at a time, so two refresh requests can
//! never race: the second finds the tokens the first obtained.

mod challenge;

use std::sync::Arc;
use std::time::Instant;

use cognitod_proto::{
    AuthFlowType, ConfirmSignInRequest, LastRefresh, NextStep, Secret, SessionState, SignInDetails,
    SignInRequest, SignInResponse, SignInStep, Timestamp, UpstreamHealth,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use crate::cognito::auth::{self, AuthOutcome, Challenge, VerifiedTokens};
use crate::cognito::jwt::Verifier;
use crate::cognito::jwt::stored_claims;
use crate::cognito::wire::SecretParameters;
use crate::cognito::{CognitoError, InitiateAuthRequest, UserPool};
use crate::store::{Loaded, Persisted, PersistedUser, Store};
use challenge::ChallengeError;

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
    /// The sign-in step waiting for an answer, while `state` is `SigningIn`.
    pub pending_step: Option<NextStep>,
}

impl Snapshot {
    fn signed_out() -> Self {
        Self {
            state: SessionState::SignedOut,
            signed_in: None,
            pending_step: None,
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
    #[error("the sign-in needs the {0} challenge, which cognitod cannot answer")]
    UnsupportedChallenge(String),
    /// The answer to the pending step does not fit it; the step stays open.
    #[error("{0}")]
    BadAnswer(String),
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

impl From<ChallengeError> for SessionError {
    fn from(error: ChallengeError) -> Self {
        match error {
            ChallengeError::Unsupported(name) => Self::UnsupportedChallenge(name),
            ChallengeError::BadAnswer(why) => Self::BadAnswer(why),
        }
    }
}

impl SessionError {
    /// Whether a pending sign-in step stays open after this error on its answer: wrong codes
    /// and passwords, bad answers and outages do; a refused or expired session does not.
    fn keeps_step_open(&self) -> bool {
        match self {
            Self::Refused { kind, .. } => kind != "NotAuthorizedException",
            Self::BadAnswer(_) | Self::Unavailable(_) => true,
            _ => false,
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
    Confirm {
        request: ConfirmSignInRequest,
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

    /// Answers the pending sign-in step.
    pub async fn confirm(
        &self,
        request: ConfirmSignInRequest,
    ) -> Result<SignInResponse, SessionError> {
        self.ask(|reply| Command::Confirm { request, reply }).await
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

/// Starts the owner task with the session `store` holds (if any); the task ends when every
/// handle is dropped.
pub fn spawn<P: UserPool>(
    pool: P,
    verifier: Verifier,
    user_pool_id: String,
    store: Option<Store>,
) -> SessionHandle {
    let (commands, receiver) = mpsc::channel(64);
    let mut initial = Snapshot::signed_out();
    if let Some(signed_in) = store.as_ref().and_then(restore) {
        info!(
            username = %signed_in.username,
            expires_at = %signed_in.expires_at(),
            "session restored from the state file"
        );
        initial.state = SessionState::SignedIn;
        initial.signed_in = Some(Arc::new(signed_in));
    }
    let (publish, snapshot) = watch::channel(initial);
    let owner = Owner {
        pool,
        verifier,
        user_pool_id,
        publish,
        pending: None,
        store,
    };
    tokio::spawn(owner.run(receiver));
    SessionHandle { commands, snapshot }
}

struct Owner<P> {
    pool: P,
    verifier: Verifier,
    user_pool_id: String,
    publish: watch::Sender<Snapshot>,
    /// The sign-in step waiting for the user's answer.
    pending: Option<Pending>,
    /// Where the session is persisted (`None` with `persist = false`).
    store: Option<Store>,
}

/// The session in the state file, if there is a usable one.
fn restore(store: &Store) -> Option<SignedIn> {
    let persisted = match store.load() {
        Ok(Loaded::Session(persisted)) => persisted,
        Ok(Loaded::Empty) => return None,
        Ok(Loaded::MovedAside { to, why }) => {
            warn!(moved_to = %to.display(), %why, "the state file is unusable; starting signed out");
            return None;
        }
        Err(error) => {
            warn!(%error, "starting signed out");
            return None;
        }
    };
    let user = persisted.user?;
    let claims = stored_claims(&user.id_token)
        .and_then(|id| stored_claims(&user.access_token).map(|access| (id, access)));
    match claims {
        Ok((id_claims, access_claims)) => Some(SignedIn {
            username: user.username,
            user_id: user.user_id,
            sign_in_details: user.sign_in_details,
            tokens: VerifiedTokens {
                id_token: user.id_token,
                access_token: user.access_token,
                refresh_token: Some(user.refresh_token),
                id_claims,
                access_claims,
            },
            received_at: Instant::now(),
        }),
        Err(error) => {
            warn!(%error, "the stored session is unusable; starting signed out");
            None
        }
    }
}

/// A sign-in in progress: the challenge Cognito asked, for whom, and how it started.
#[derive(Debug)]
struct Pending {
    challenge: Challenge,
    /// The canonical username the challenge names; every answer carries it.
    username: String,
    login_id: String,
    flow: AuthFlowType,
    /// The session to answer with when a call after the challenge issued a new one
    /// (AssociateSoftwareToken during `MFA_SETUP`).
    session: Option<Secret>,
    next_step: NextStep,
}

impl<P: UserPool> Owner<P> {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(command) = commands.recv().await {
            match command {
                Command::SignIn { request, reply } => {
                    let _ = reply.send(self.sign_in(request).await);
                }
                Command::Confirm { request, reply } => {
                    let _ = reply.send(self.confirm(request).await);
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

    /// Starts a sign-in; one already pending is replaced.
    async fn sign_in(&mut self, request: SignInRequest) -> Result<SignInResponse, SessionError> {
        if let Some(current) = self.current() {
            return Err(SessionError::AlreadySignedIn(current.username.clone()));
        }
        self.set_pending(None);
        let flow = request.auth_flow_type.unwrap_or_default();
        let username = request.username.trim();
        if username.is_empty() {
            return Err(SessionError::BadAnswer("username is empty".to_owned()));
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
            Ok(outcome) => self.advance(outcome, username, flow).await,
            Err(error) => {
                info!(username, %error, "sign-in refused");
                Err(error.into())
            }
        }
    }

    /// Answers the pending step. A wrong answer keeps the step open for another try.
    async fn confirm(
        &mut self,
        request: ConfirmSignInRequest,
    ) -> Result<SignInResponse, SessionError> {
        let pending = self.pending.as_ref().ok_or(SessionError::NoPendingStep)?;
        let result = self.answer(pending, &request).await;
        match result {
            Ok(outcome) => {
                let pending = self.pending.take().expect("checked above");
                self.advance(outcome, &pending.login_id, pending.flow).await
            }
            Err(error) => {
                if !error.keeps_step_open() {
                    info!(%error, "the pending sign-in step was refused; sign in again");
                    self.set_pending(None);
                }
                Err(error)
            }
        }
    }

    async fn answer(
        &self,
        pending: &Pending,
        request: &ConfirmSignInRequest,
    ) -> Result<AuthOutcome, SessionError> {
        let challenge = &pending.challenge;
        let answer = &request.challenge_response;
        let responses = challenge::responses(challenge, answer, request.user_attributes.as_ref())?;
        let mut session = pending.session.clone();
        if challenge.name == "MFA_SETUP" {
            let current = session
                .as_ref()
                .or(challenge.session.as_ref())
                .ok_or_else(|| SessionError::Internal("MFA_SETUP without a session".into()))?;
            let code = challenge::code(answer)?;
            let verified = self.pool.verify_software_token(current, &code).await?;
            if verified.status.as_deref().is_some_and(|s| s != "SUCCESS") {
                return Err(SessionError::Refused {
                    kind: "EnableSoftwareTokenMFAException".into(),
                    message: "the authenticator code was not accepted".into(),
                });
            }
            session = verified.session.or(session);
        }
        Ok(auth::respond(
            &self.pool,
            &self.verifier,
            challenge,
            &pending.username,
            responses,
            session,
        )
        .await?)
    }

    /// Signs in, or makes the challenge the pending step.
    async fn advance(
        &mut self,
        outcome: AuthOutcome,
        login_id: &str,
        flow: AuthFlowType,
    ) -> Result<SignInResponse, SessionError> {
        let challenge = match outcome {
            AuthOutcome::SignedIn(tokens) => {
                self.set_pending(None);
                self.install(*tokens, login_id, flow);
                return Ok(SignInResponse {
                    is_signed_in: true,
                    next_step: NextStep::new(SignInStep::Done),
                });
            }
            AuthOutcome::Challenge(challenge) => challenge,
        };
        let username = challenge.username().unwrap_or(login_id).to_owned();
        let (next_step, session) = if challenge.name == "MFA_SETUP" {
            if !challenge::can_set_up_totp(&challenge) {
                self.set_pending(None);
                return Err(SessionError::UnsupportedChallenge(
                    "MFA_SETUP without SOFTWARE_TOKEN_MFA".into(),
                ));
            }
            let session = challenge
                .session
                .as_ref()
                .ok_or_else(|| SessionError::Internal("MFA_SETUP without a session".into()))?;
            let associated = self.pool.associate_software_token(session).await?;
            (
                challenge::totp_setup_step(&associated.secret_code, &username),
                associated.session,
            )
        } else {
            match challenge::next_step(&challenge) {
                Ok(step) => (step, None),
                Err(error) => {
                    warn!(challenge = %challenge.name, "sign-in needs a challenge cognitod cannot answer");
                    self.set_pending(None);
                    return Err(error.into());
                }
            }
        };
        info!(username, challenge = %challenge.name, "sign-in step pending");
        self.set_pending(Some(Pending {
            challenge,
            username,
            login_id: login_id.to_owned(),
            flow,
            session,
            next_step: next_step.clone(),
        }));
        Ok(SignInResponse {
            is_signed_in: false,
            next_step,
        })
    }

    fn set_pending(&mut self, pending: Option<Pending>) {
        let state = if pending.is_some() {
            SessionState::SigningIn
        } else if self.current().is_some() {
            SessionState::SignedIn
        } else {
            SessionState::SignedOut
        };
        let next_step = pending.as_ref().map(|p| p.next_step.clone());
        self.pending = pending;
        self.publish.send_modify(|snapshot| {
            snapshot.state = state;
            snapshot.pending_step = next_step;
        });
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
        self.persist(Some(&signed_in));
        self.publish.send_modify(|snapshot| {
            snapshot.state = SessionState::SignedIn;
            snapshot.signed_in = Some(Arc::new(signed_in));
            snapshot.upstream = UpstreamHealth::Ok;
            snapshot.consecutive_failures = 0;
        });
    }

    /// Writes the session (or its absence) to the state file. A failure is logged and the
    /// session goes on in memory: nothing already obtained is thrown away.
    fn persist(&self, signed_in: Option<&SignedIn>) {
        let Some(store) = &self.store else {
            return;
        };
        let user = signed_in.and_then(|s| {
            Some(PersistedUser {
                username: s.username.clone(),
                user_id: s.user_id.clone(),
                sign_in_details: s.sign_in_details.clone(),
                id_token: s.tokens.id_token.clone(),
                access_token: s.tokens.access_token.clone(),
                refresh_token: s.tokens.refresh_token.clone()?,
                received_at: Timestamp::now(),
            })
        });
        if let Err(error) = store.save(&Persisted { user }) {
            tracing::error!(%error, "the session is kept in memory only until the state file can be written");
        }
    }

    async fn sign_out(&mut self, global: bool) -> Result<(), SessionError> {
        self.set_pending(None);
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
        self.persist(None);
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
        parameters.insert("REFRESH_TOKEN".into(), refresh_token.clone());
        if let Some(hash) = self.pool.secret_hash(&current.username) {
            parameters.insert("SECRET_HASH".into(), hash);
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
                self.persist(Some(&refreshed));
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
                    self.persist(None);
                    self.publish.send_replace(Snapshot::signed_out());
                }
                Err(error)
            }
        }
    }
}
