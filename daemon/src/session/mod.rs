//! The one owner of the session.
//!
//! A single task holds the state. It publishes [`Snapshot`]s through a `watch` channel, which
//! request handlers read without locking, and takes [`Command`]s (sign in, confirm, sign out,
//! refresh) over a channel with a oneshot reply. It refreshes the tokens ahead of expiry on its
//! own timer; a refresh runs beside the command loop and every caller who asks while it runs
//! shares its result, so N clients cause one upstream call.

pub mod account;
mod challenge;
mod credentials;
pub mod devices;
mod federation;
mod owner;
mod persist;
mod redirect;
mod refresh;
mod revoke;
pub mod schedule;
mod signin;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cognitod_proto::{
    CompleteRedirectRequest, ConfirmSignInRequest, Event, FederateRequest, FederateResponse,
    LastRefresh, LastSignOut, NextStep, RedirectSignInRequest, RedirectSignInResponse,
    SessionState, SignInDetails, SignInRequest, SignInResponse, Timestamp, UpstreamHealth,
};
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

use crate::cognito::CognitoError;
use crate::cognito::UserPool;
use crate::cognito::auth::VerifiedTokens;
use crate::cognito::jwt::Verifier;
use crate::store::Store;
use challenge::ChallengeError;
pub(crate) use credentials::fetched as credentials_from;
pub use credentials::{AwsCredentials, IdentityConfig, view as credentials_view};

/// The wall clock, in Unix milliseconds. Passed in so tests can run the timers on tokio's
/// paused clock.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A signed-in user and their verified tokens.
#[derive(Debug)]
pub struct SignedIn {
    /// `cognito:username`: the canonical username.
    pub username: String,
    /// `sub`.
    pub user_id: String,
    pub sign_in_details: SignInDetails,
    pub tokens: VerifiedTokens,
    /// The server's clock minus ours, measured when these tokens arrived.
    pub drift_ms: i64,
    /// When (local ms) to refresh these tokens, jitter included.
    pub refresh_due_ms: i64,
    /// The remembered device the tokens were issued to: their refreshes name it.
    pub device_key: Option<String>,
}

impl SignedIn {
    fn new(
        username: String,
        user_id: String,
        sign_in_details: SignInDetails,
        tokens: VerifiedTokens,
        drift_ms: i64,
    ) -> Self {
        let mut signed_in = Self {
            username,
            user_id,
            sign_in_details,
            tokens,
            drift_ms,
            refresh_due_ms: 0,
            device_key: None,
        };
        signed_in.refresh_due_ms = schedule::refresh_at_ms(
            signed_in.issued_at(),
            signed_in.exp(),
            drift_ms,
            schedule::random_unit(),
        );
        signed_in
    }

    /// The earlier of the two tokens' `exp` (server clock, seconds).
    fn exp(&self) -> i64 {
        self.tokens.id_claims.exp.min(self.tokens.access_claims.exp)
    }

    fn issued_at(&self) -> i64 {
        let claims = &self.tokens.access_claims;
        claims.iat.unwrap_or(claims.exp - 3600)
    }

    /// The tokens' expiry as they state it.
    pub fn expires_at(&self) -> Timestamp {
        Timestamp::from_unix(self.exp())
    }

    /// When (local ms) the tokens expire.
    pub fn local_expiry_ms(&self) -> i64 {
        schedule::local_expiry_ms(self.exp(), self.drift_ms)
    }

    /// Whether the tokens are too close to expiry to hand out at local time `now_ms` (the wall
    /// clock, so a suspended machine is judged right when it wakes): less than
    /// [`schedule::serving_margin_ms`] left, so no client gets a token that expires on its way.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        let margin = schedule::serving_margin_ms(self.issued_at(), self.exp());
        schedule::is_expired(self.exp(), self.drift_ms, now_ms + margin)
    }

    /// Whether the refresh is due at `now_ms`.
    pub fn refresh_due(&self, now_ms: i64) -> bool {
        now_ms >= self.refresh_due_ms
    }
}

/// A federated identity (no user-pool user), as handlers see it.
#[derive(Debug, Clone)]
pub struct FederatedView {
    /// The identity pool's login key for the provider.
    pub provider: String,
    /// When the provider's token expires, if it says.
    pub token_expires_at: Option<Timestamp>,
}

/// What handlers see: an immutable view of the session, cheap to clone.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: SessionState,
    pub signed_in: Option<Arc<SignedIn>>,
    pub last_refresh: Option<LastRefresh>,
    pub consecutive_failures: u32,
    pub upstream: UpstreamHealth,
    /// The sign-in step waiting for an answer, while `state` is `SigningIn`, and whom it is
    /// for.
    pub pending_step: Option<NextStep>,
    pub pending_user: Option<String>,
    /// How the last session ended.
    pub last_sign_out: Option<LastSignOut>,
    /// The next refresh attempt (a retry while failing).
    pub next_refresh_at: Option<Timestamp>,
    /// AWS credentials: the user's while signed in, a guest's while signed out.
    pub aws: Option<Arc<AwsCredentials>>,
    /// Why the last state-file write failed, until one succeeds.
    pub state_file_error: Option<String>,
    /// A federated identity, while `state` is `Federated`.
    pub federated: Option<Arc<FederatedView>>,
}

impl Snapshot {
    /// Whether someone is signed in: a user, or a federated identity.
    pub fn authenticated(&self) -> bool {
        self.signed_in.is_some() || self.federated.is_some()
    }
}

impl Snapshot {
    fn signed_out() -> Self {
        Self {
            state: SessionState::SignedOut,
            signed_in: None,
            pending_step: None,
            pending_user: None,
            last_sign_out: None,
            last_refresh: None,
            consecutive_failures: 0,
            upstream: UpstreamHealth::Ok,
            next_refresh_at: None,
            aws: None,
            state_file_error: None,
            federated: None,
        }
    }
}

/// Why a session command failed; named for what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not signed in")]
    NotSignedIn,
    /// The session ended because Cognito refused its refresh token.
    #[error("the session ended: {0}")]
    SessionEnded(String),
    #[error("already signed in as {0}")]
    AlreadySignedIn(String),
    #[error("no sign-in step is pending")]
    NoPendingStep,
    /// Cognito refused (wrong password, unknown user, revoked token, ...).
    #[error("{kind}: {message}")]
    Refused { kind: String, message: String },
    /// Cognito could not be reached (or is throttling) for a call a user made; nothing retries
    /// it but the user.
    #[error("{0}")]
    Unavailable(String),
    /// Cognito could not be reached for a refresh or a credentials fetch, which the daemon
    /// retries on its own.
    #[error("{0}")]
    Retrying(String),
    /// The refresh is backing off after failures; the next attempt is in `retry_after_secs`.
    #[error("{message}")]
    BackingOff {
        retry_after_secs: u64,
        message: String,
    },
    /// Cognito is throttling a call a user made.
    #[error("{kind}: {message}")]
    Throttled { kind: String, message: String },
    /// The identity pool refused for a reason only the configuration can fix; `fix` names the
    /// setting.
    #[error("{message}")]
    Misconfigured {
        kind: String,
        message: String,
        fix: String,
    },
    #[error("{0}")]
    InvalidToken(String),
    #[error("the sign-in needs the {0} challenge, which cognitod cannot answer")]
    UnsupportedChallenge(String),
    /// The answer to the pending step does not fit it; the step stays open.
    #[error("{0}")]
    BadAnswer(String),
    #[error("no identity_pool_id is configured, so there are no AWS credentials")]
    NoIdentityPool,
    #[error("Cognito signed in without a refresh token; cognitod cannot keep such a session fresh")]
    NoRefreshToken,
    /// Browser sign-in is not configured.
    #[error("browser sign-in is not configured: the daemon's config has no [oauth] section")]
    OAuthNotConfigured,
    /// The browser came back refused, or not for this attempt; `attempt_open` when the
    /// attempt still waits for its own callback.
    #[error("{message}")]
    RedirectRefused { message: String, attempt_open: bool },
    /// This machine is not a remembered device of the user.
    #[error("this machine is not a remembered device of {0}")]
    NoDevice(String),
    /// A federated identity has no user-pool user (nor its tokens).
    #[error("a federated identity has no user-pool user")]
    FederatedNoUser,
    /// The federated session ended: its provider's token expired or was refused.
    #[error("{0}")]
    FederationEnded(String),
    #[error("{0}")]
    Internal(String),
}

impl From<CognitoError> for SessionError {
    fn from(error: CognitoError) -> Self {
        match error {
            CognitoError::Service { kind, message, .. } if error_is_throttling(&kind) => {
                Self::Throttled { kind, message }
            }
            CognitoError::Service { .. } | CognitoError::Unreachable { .. }
                if error.is_transient() =>
            {
                Self::Unavailable(error.to_string())
            }
            CognitoError::Service { kind, message, .. } => Self::Refused { kind, message },
            CognitoError::Unreachable { .. } => Self::Unavailable(error.to_string()),
            CognitoError::InvalidToken(why) => Self::InvalidToken(why),
            CognitoError::Protocol(_) | CognitoError::Srp(_) => Self::Internal(error.to_string()),
        }
    }
}

/// Cognito's names for "too many requests".
fn error_is_throttling(kind: &str) -> bool {
    matches!(
        kind,
        "TooManyRequestsException"
            | "ThrottlingException"
            | "LimitExceededException"
            | "TooManyFailedAttemptsException"
    )
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
            // Cognito's refusals of the sign-in itself end it; a wrong code or password policy
            // leaves the step for another try.
            Self::Refused { kind, .. } => !matches!(
                kind.as_str(),
                "NotAuthorizedException"
                    | "UserNotFoundException"
                    | "PasswordResetRequiredException"
                    | "UserNotConfirmedException"
            ),
            Self::BadAnswer(_)
            | Self::Unavailable(_)
            | Self::Retrying(_)
            | Self::BackingOff { .. }
            | Self::Throttled { .. } => true,
            _ => false,
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, SessionError>>;

/// A sign-out's outcome: the session is gone here either way; `revoked` when Cognito confirmed
/// it, else why not (`None` when there was nothing to revoke).
#[derive(Debug)]
pub struct SignedOut {
    pub revoked: bool,
    pub remote_error: Option<SessionError>,
    /// Cognito could not be reached: the revocation is tried again in the background.
    pub retrying: bool,
    /// A browser session: the managed login's `/logout` URL, which clears its cookie.
    pub logout_url: Option<String>,
}

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
        /// Forget this machine as the user's device too.
        forget_device: bool,
        reply: Reply<SignedOut>,
    },
    /// Starts a browser sign-in.
    StartRedirect {
        request: RedirectSignInRequest,
        reply: Reply<RedirectSignInResponse>,
    },
    /// Finishes the browser sign-in with the URL the browser came back to.
    CompleteRedirect {
        request: CompleteRedirectRequest,
        reply: Reply<SignInResponse>,
    },
    /// The signed-in user's devices.
    Devices {
        op: devices::DeviceOp,
        reply: Reply<Vec<cognitod_proto::DeviceInfo>>,
    },
    /// An account call.
    Account {
        op: account::AccountOp,
        reply: Reply<account::AccountAnswer>,
    },
    /// Signs in the user whose sign-up was just confirmed (no password).
    AutoSignIn {
        request: cognitod_proto::UsernameRequest,
        reply: Reply<SignInResponse>,
    },
    /// An identity pool identity from an external provider's token.
    Federate {
        request: FederateRequest,
        reply: Reply<FederateResponse>,
    },
    /// Fresh tokens: joins a refresh in flight, else starts one (whatever the backoff) unless
    /// the tokens are valid and `force` is false.
    Refresh { force: bool, reply: Reply<()> },
    /// AWS credentials: joins a fetch in flight, else fetches unless valid ones are cached and
    /// `force` is false.
    Credentials { force: bool, reply: Reply<()> },
}

/// The handlers' side: read snapshots, send commands, subscribe to events.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    commands: mpsc::Sender<Command>,
    snapshot: watch::Receiver<Snapshot>,
    events: broadcast::Sender<Event>,
    wake: Arc<Notify>,
    clock: Arc<dyn Clock>,
    identity_pool: bool,
}

impl SessionHandle {
    /// Whether AWS credentials are configured.
    pub fn has_identity_pool(&self) -> bool {
        self.identity_pool
    }

    /// The session as it is now.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }

    /// A receiver that wakes on every change of the session.
    pub fn changes(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    /// The wall clock the session judges expiry by.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
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

    /// Starts a browser sign-in: the URL to open, and where the browser comes back.
    pub async fn start_redirect(
        &self,
        request: RedirectSignInRequest,
    ) -> Result<RedirectSignInResponse, SessionError> {
        self.ask(|reply| Command::StartRedirect { request, reply })
            .await
    }

    /// Finishes the browser sign-in with the URL the browser came back to.
    pub async fn complete_redirect(
        &self,
        request: CompleteRedirectRequest,
    ) -> Result<SignInResponse, SessionError> {
        self.ask(|reply| Command::CompleteRedirect { request, reply })
            .await
    }

    /// Lists, remembers or forgets the signed-in user's devices.
    pub async fn devices(
        &self,
        op: devices::DeviceOp,
    ) -> Result<Vec<cognitod_proto::DeviceInfo>, SessionError> {
        self.ask(|reply| Command::Devices { op, reply }).await
    }

    /// Runs an account call (sign-up, password, attributes, MFA, deleting the user).
    pub async fn account(
        &self,
        op: account::AccountOp,
    ) -> Result<account::AccountAnswer, SessionError> {
        self.ask(|reply| Command::Account { op, reply }).await
    }

    /// Signs in the user whose sign-up was just confirmed, without the password.
    pub async fn auto_sign_in(
        &self,
        request: cognitod_proto::UsernameRequest,
    ) -> Result<SignInResponse, SessionError> {
        self.ask(|reply| Command::AutoSignIn { request, reply })
            .await
    }

    /// An identity pool identity from an external provider's token (or the token command's).
    pub async fn federate(
        &self,
        request: FederateRequest,
    ) -> Result<FederateResponse, SessionError> {
        self.ask(|reply| Command::Federate { request, reply }).await
    }

    /// Signs out here, then tells Cognito; what Cognito said is in the answer.
    pub async fn sign_out(&self, global: bool) -> Result<SignedOut, SessionError> {
        self.sign_out_forgetting(global, false).await
    }

    /// [`SessionHandle::sign_out`], forgetting this machine as the user's device when
    /// `forget_device`.
    pub async fn sign_out_forgetting(
        &self,
        global: bool,
        forget_device: bool,
    ) -> Result<SignedOut, SessionError> {
        self.ask(|reply| Command::SignOut {
            global,
            forget_device,
            reply,
        })
        .await
    }

    /// Waits for fresh tokens (see [`Command::Refresh`]).
    pub async fn refresh(&self, force: bool) -> Result<(), SessionError> {
        self.ask(|reply| Command::Refresh { force, reply }).await
    }

    /// Waits for AWS credentials (see [`Command::Credentials`]).
    pub async fn credentials(&self, force: bool) -> Result<(), SessionError> {
        self.ask(|reply| Command::Credentials { force, reply })
            .await
    }

    /// Tells the refresher that a client saw the tokens inside their lead; never waits.
    pub fn wake_refresher(&self) {
        self.wake.notify_one();
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
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

/// How the session reaches Cognito and keeps its state.
#[derive(Debug)]
pub struct SessionConfig {
    pub user_pool_id: String,
    /// The `iss` and app client a restored session's tokens must carry.
    pub issuer: String,
    pub client_id: String,
    /// Refresh with GetTokensFromRefreshToken and keep the rotated refresh token.
    pub refresh_token_rotation: bool,
    /// Where the session is persisted (`None` with `persist = false`).
    pub store: Option<Store>,
    /// The identity pool, when AWS credentials are configured.
    pub identity: Option<IdentityConfig>,
    /// Browser sign-in, when configured.
    pub oauth: Option<crate::config::OAuthConfig>,
    /// Identity pool federation, when configured.
    pub federation: Option<crate::config::FederationConfig>,
    /// This machine's name as a remembered device (`None`: the host name).
    pub device_name: Option<String>,
}

/// Starts the owner task with the session `config.store` holds (if any); the task ends when
/// every handle is dropped.
pub fn spawn<P: UserPool>(
    pool: Arc<P>,
    verifier: Arc<Verifier>,
    config: SessionConfig,
    clock: Arc<dyn Clock>,
) -> SessionHandle {
    let (commands, receiver) = mpsc::channel(256);
    let (events, _) = broadcast::channel(256);
    let wake = Arc::new(Notify::new());
    let identity_pool = config.identity.is_some();
    let (owner, snapshot) =
        owner::Owner::new(pool, verifier, config, Arc::clone(&clock), events.clone());
    tokio::spawn(owner.run(receiver, Arc::clone(&wake)));
    SessionHandle {
        commands,
        snapshot,
        events,
        wake,
        clock,
        identity_pool,
    }
}

#[cfg(test)]
mod tests;
