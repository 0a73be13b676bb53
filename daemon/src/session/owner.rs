//! The owner task: its state, its loop, and the commands that change who is signed in.

use std::sync::Arc;
use std::time::Duration;

use cognitod_proto::{
    AuthFlowType, ConfirmSignInRequest, Event, EventKind, LastSignOut, NextStep, Secret,
    SessionState, SignInDetails, SignInRequest, SignInResponse, SignInStep, Timestamp,
    UpstreamHealth,
};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::challenge;
use super::credentials::Fetched;
use super::persist::{PersistRetry, Restored, restore};
use super::{Clock, Command, Reply, SessionConfig, SessionError, SignedIn, SignedOut, Snapshot};
use crate::cognito::auth::{self, AuthOutcome, Challenge, VerifiedTokens};
use crate::cognito::jwt::Verifier;
use crate::cognito::{CognitoError, UserPool};

/// A refresh call in flight, as its own task so the loop can poll it beside commands and
/// abort it when the session ends.
pub(super) type InFlight = JoinHandle<Result<Box<VerifiedTokens>, CognitoError>>;

/// The longest the loop sleeps before looking at the wall clock again, so a suspended machine
/// or a clock jump is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(60);

pub(super) struct Owner<P> {
    pub(super) pool: Arc<P>,
    pub(super) verifier: Arc<Verifier>,
    pub(super) config: SessionConfig,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) publish: watch::Sender<Snapshot>,
    pub(super) events: broadcast::Sender<Event>,
    /// The sign-in step waiting for the user's answer.
    pending: Option<Pending>,
    /// The refresh call in flight, and everyone waiting for it.
    pub(super) in_flight: Option<InFlight>,
    pub(super) waiters: Vec<Reply<()>>,
    /// While refreshes fail: when to try again (local ms).
    pub(super) retry_at_ms: Option<i64>,
    /// `sessionExpired` was sent for the current tokens.
    pub(super) expiry_reported: bool,
    /// Identity pool ids: the user's, and the guest one (kept across sign-outs).
    pub(super) user_identity_id: Option<String>,
    pub(super) guest_identity_id: Option<String>,
    /// The credentials fetch in flight, everyone waiting for it, and the retry state.
    pub(super) creds_in_flight: Option<JoinHandle<Result<Box<Fetched>, CognitoError>>>,
    pub(super) creds_waiters: Vec<Reply<()>>,
    pub(super) creds_retry_at_ms: Option<i64>,
    pub(super) creds_failures: u32,
    /// The fetch in flight started from a cached identity id.
    pub(super) creds_used_known: bool,
    /// The identity pool's last refusal that only the configuration can fix.
    pub(super) creds_refused: Option<super::credentials::Refusal>,
    /// When the refresh in flight was started (local ms), for the clock-drift estimate.
    pub(super) refresh_started_ms: i64,
    /// When to write the state file again after a write failed (local ms).
    pub(super) persist_retry: PersistRetry,
    /// Events sent so far (the next one's id is one more).
    event_count: std::sync::atomic::AtomicU64,
    /// The refresh token a rotating refresh in flight received, kept as soon as its answer
    /// parsed.
    pub(super) rotated: Arc<std::sync::Mutex<Option<Secret>>>,
}

/// A sign-in in progress: the challenge Cognito asked, for whom, and how it started.
#[derive(Debug)]
struct Pending {
    /// Cognito's challenge, with the canonical username every answer carries.
    challenge: Challenge,
    login_id: String,
    flow: AuthFlowType,
    /// The session to answer with when a call after the challenge issued a new one
    /// (AssociateSoftwareToken during `MFA_SETUP`).
    session: Option<Secret>,
    next_step: NextStep,
}

/// What woke the loop.
enum Wakeup {
    Command(Option<Command>),
    Refreshed(Result<Result<Box<VerifiedTokens>, CognitoError>, tokio::task::JoinError>),
    Credentials(Result<Result<Box<Fetched>, CognitoError>, tokio::task::JoinError>),
    Timer,
    Nudged,
}

impl<P: UserPool> Owner<P> {
    pub(super) fn new(
        pool: Arc<P>,
        verifier: Arc<Verifier>,
        config: SessionConfig,
        clock: Arc<dyn Clock>,
        events: broadcast::Sender<Event>,
    ) -> (Self, watch::Receiver<Snapshot>) {
        let mut initial = Snapshot::signed_out();
        let restored = config
            .store
            .as_ref()
            .and_then(|store| restore(store, &config));
        let guest_identity_id = restored.as_ref().and_then(|r| r.guest_identity_id.clone());
        let user_identity_id = restored.as_ref().and_then(|r| r.user_identity_id.clone());
        if let Some(Restored {
            signed_in: Some(mut signed_in),
            refresh_in_flight: in_flight,
            ..
        }) = restored
        {
            info!(
                username = %signed_in.username,
                expires_at = %signed_in.expires_at(),
                "session restored from the state file"
            );
            if in_flight {
                info!(
                    "a rotating refresh was cut short before its answer was stored; refreshing at once"
                );
                signed_in.refresh_due_ms = 0;
            }
            initial.state = SessionState::SignedIn;
            initial.signed_in = Some(Arc::new(signed_in));
        }
        let (publish, snapshot) = watch::channel(initial);
        let first_event_id = u64::try_from(clock.now_ms())
            .unwrap_or(0)
            .saturating_mul(1000);
        let owner = Self {
            pool,
            verifier,
            config,
            clock,
            publish,
            events,
            pending: None,
            in_flight: None,
            waiters: Vec::new(),
            retry_at_ms: None,
            expiry_reported: false,
            user_identity_id,
            guest_identity_id,
            creds_in_flight: None,
            creds_waiters: Vec::new(),
            creds_retry_at_ms: None,
            creds_failures: 0,
            creds_used_known: false,
            creds_refused: None,
            refresh_started_ms: 0,
            persist_retry: PersistRetry::default(),
            event_count: std::sync::atomic::AtomicU64::new(first_event_id),
            rotated: Arc::default(),
        };
        (owner, snapshot)
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>, wake: Arc<Notify>) {
        self.publish_schedule();
        loop {
            let sleep = self.next_timer().map(tokio::time::sleep);
            let in_flight = &mut self.in_flight;
            let creds_in_flight = &mut self.creds_in_flight;
            let wakeup = tokio::select! {
                command = commands.recv() => Wakeup::Command(command),
                result = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                    Wakeup::Refreshed(result)
                }
                result = async { creds_in_flight.as_mut().expect("guarded").await }, if creds_in_flight.is_some() => {
                    Wakeup::Credentials(result)
                }
                () = async { sleep.expect("guarded").await }, if sleep.is_some() => Wakeup::Timer,
                () = wake.notified() => Wakeup::Nudged,
            };
            match wakeup {
                Wakeup::Command(None) => break,
                Wakeup::Command(Some(command)) => self.handle(command).await,
                Wakeup::Refreshed(joined) => {
                    self.in_flight = None;
                    let result = joined.unwrap_or_else(|e| {
                        Err(CognitoError::Protocol(format!(
                            "the refresh task failed: {e}"
                        )))
                    });
                    self.finish_refresh(result);
                }
                Wakeup::Credentials(joined) => {
                    self.creds_in_flight = None;
                    match joined {
                        Ok(result) => self.finish_credentials(result),
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => self.finish_credentials(Err(CognitoError::Protocol(format!(
                            "the credentials task failed: {e}"
                        )))),
                    }
                }
                Wakeup::Timer | Wakeup::Nudged => {
                    if self
                        .persist_retry
                        .get()
                        .is_some_and(|at| self.clock.now_ms() >= at)
                    {
                        self.persist_current();
                    }
                    self.on_timer();
                    self.credentials_timer();
                }
            }
        }
    }

    /// How long until the next thing the timer must look at, at most [`MAX_SLEEP`].
    fn next_timer(&self) -> Option<Duration> {
        let mut due: Vec<i64> = self.credentials_due_ms().into_iter().collect();
        due.extend(self.persist_retry.get());
        if let Some(signed_in) = self.current() {
            if self.in_flight.is_none() {
                due.push(self.retry_at_ms.unwrap_or(signed_in.refresh_due_ms));
            }
            if !self.expiry_reported {
                due.push(signed_in.local_expiry_ms());
            }
        }
        let next = due.into_iter().min()?;
        let wait = u64::try_from(next - self.clock.now_ms()).unwrap_or(0);
        Some(Duration::from_millis(wait).min(MAX_SLEEP))
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::SignIn { request, reply } => {
                let _ = reply.send(self.sign_in(request).await);
            }
            Command::Confirm { request, reply } => {
                let _ = reply.send(self.confirm(request).await);
            }
            Command::SignOut { global, reply } => self.sign_out(global, reply),
            Command::Refresh { force, reply } => self.refresh_requested(force, reply),
            Command::Credentials { force, reply } => self.credentials_requested(force, reply),
        }
    }

    pub(super) fn current(&self) -> Option<Arc<SignedIn>> {
        self.publish.borrow().signed_in.clone()
    }

    pub(super) fn emit(&self, kind: EventKind) {
        let id = self
            .event_count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        // Counted on from the start's wall clock in µs: ids keep going up across restarts.
        let _ = self.events.send(Event {
            id,
            at: Timestamp::from_unix(self.clock.now_ms().div_euclid(1000)),
            kind,
        });
    }

    /// Starts a sign-in; one already pending is replaced.
    async fn sign_in(&mut self, request: SignInRequest) -> Result<SignInResponse, SessionError> {
        if let Some(current) = self.current() {
            return Err(SessionError::AlreadySignedIn(current.username.clone()));
        }
        self.set_pending(None);
        let started_ms = self.clock.now_ms();
        let flow = request.auth_flow_type.unwrap_or_default();
        let username = request.username.trim();
        if username.is_empty() {
            return Err(SessionError::BadAnswer("username is empty".to_owned()));
        }
        let outcome = auth::sign_in(
            &*self.pool,
            &self.verifier,
            &self.config.user_pool_id,
            username,
            &request.password,
            flow,
        )
        .await;
        self.note_upstream(outcome.as_ref().err());
        match outcome {
            Ok(outcome) => self.advance(outcome, username, flow, started_ms).await,
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
        let started_ms = self.clock.now_ms();
        let result = self.answer(pending, &request).await;
        if let Err(SessionError::Unavailable(_)) = &result {
            self.set_upstream(UpstreamHealth::Unreachable);
        } else if !matches!(&result, Err(SessionError::BadAnswer(_))) {
            self.set_upstream(UpstreamHealth::Ok);
        }
        match result {
            Ok(outcome) => {
                let pending = self.pending.take().expect("checked above");
                self.advance(outcome, &pending.login_id, pending.flow, started_ms)
                    .await
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
        Ok(auth::respond(&*self.pool, &self.verifier, challenge, responses, session).await?)
    }

    /// Signs in, or makes the challenge the pending step.
    async fn advance(
        &mut self,
        outcome: AuthOutcome,
        login_id: &str,
        flow: AuthFlowType,
        started_ms: i64,
    ) -> Result<SignInResponse, SessionError> {
        let challenge = match outcome {
            AuthOutcome::SignedIn(tokens) => {
                self.set_pending(None);
                if tokens.refresh_token.is_none() {
                    // Nothing could keep such a session fresh; refused rather than served
                    // until it silently ends.
                    warn!("Cognito signed in without a refresh token; the sign-in is refused");
                    return Err(SessionError::NoRefreshToken);
                }
                self.install(*tokens, login_id, flow, started_ms);
                return Ok(SignInResponse {
                    is_signed_in: true,
                    next_step: NextStep::new(SignInStep::Done),
                });
            }
            AuthOutcome::Challenge(challenge) => challenge,
        };
        let username = challenge.username.clone();
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
                // Labelled with what the user signs in with (for email sign-in the canonical
                // name is a UUID).
                challenge::totp_setup_step(&associated.secret_code, login_id),
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
        let user = pending.as_ref().map(|p| p.login_id.clone());
        self.pending = pending;
        self.publish.send_modify(|snapshot| {
            snapshot.state = state;
            snapshot.pending_step = next_step;
            snapshot.pending_user = user;
        });
    }

    /// Signs the user in with `tokens`, which a request sent at `sent_ms` (local) brought.
    fn install(
        &mut self,
        tokens: VerifiedTokens,
        login_id: &str,
        flow: AuthFlowType,
        sent_ms: i64,
    ) {
        let username = tokens
            .id_claims
            .cognito_username
            .clone()
            .or_else(|| tokens.access_claims.username.clone())
            .unwrap_or_else(|| login_id.to_owned());
        let drift = super::schedule::clock_drift_ms(
            tokens
                .access_claims
                .iat
                .unwrap_or(tokens.access_claims.exp - 3600),
            sent_ms,
            self.clock.now_ms(),
        );
        let signed_in = SignedIn::new(
            username,
            tokens.id_claims.sub.clone(),
            SignInDetails {
                login_id: login_id.to_owned(),
                auth_flow_type: flow,
            },
            tokens,
            drift,
        );
        info!(
            username = %signed_in.username,
            user_id = %signed_in.user_id,
            expires_at = %signed_in.expires_at(),
            "signed in"
        );
        self.persist(Some(&signed_in), false);
        self.emit(EventKind::SignedIn {
            username: signed_in.username.clone(),
        });
        self.retry_at_ms = None;
        self.expiry_reported = false;
        self.publish.send_modify(|snapshot| {
            snapshot.state = SessionState::SignedIn;
            snapshot.signed_in = Some(Arc::new(signed_in));
            snapshot.upstream = UpstreamHealth::Ok;
            snapshot.consecutive_failures = 0;
            snapshot.last_refresh = None;
        });
        self.publish_schedule();
        self.drop_user_credentials();
        self.start_credentials();
    }

    /// Forgets the session: in the state file, in memory, then for everyone waiting — in that
    /// order, so a client that hears "signed out" can never read the old session after.
    pub(super) fn end_session(&mut self, reason: Option<String>) {
        if let Some(refresh) = self.in_flight.take() {
            refresh.abort();
        }
        *self
            .rotated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let last_sign_out = self.current().map(|ended| LastSignOut {
            at: Timestamp::from_unix(self.clock.now_ms().div_euclid(1000)),
            username: ended.username.clone(),
            reason: reason.clone(),
        });
        self.retry_at_ms = None;
        self.expiry_reported = false;
        self.drop_user_credentials();
        self.persist(None, false);
        if let Some(store) = &self.config.store {
            // Files set aside earlier (unreadable, another pool's) may hold tokens.
            store.remove_set_aside();
        }
        let (state_file_error, previous) = {
            let snapshot = self.publish.borrow();
            (
                snapshot.state_file_error.clone(),
                snapshot.last_sign_out.clone(),
            )
        };
        self.publish.send_replace(Snapshot {
            state_file_error,
            last_sign_out: last_sign_out.or(previous),
            ..Snapshot::signed_out()
        });
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(Err(match &reason {
                Some(why) => SessionError::SessionEnded(why.clone()),
                None => SessionError::NotSignedIn,
            }));
        }
        self.emit(EventKind::SignedOut { reason });
    }

    /// Signs out here at once; Cognito is told on a task of its own (which answers `reply`),
    /// so the owner goes on with its timers and commands meanwhile.
    fn sign_out(&mut self, global: bool, reply: Reply<SignedOut>) {
        self.set_pending(None);
        let not_revoked = SignedOut {
            revoked: false,
            remote_error: None,
            retrying: false,
        };
        let Some(current) = self.current() else {
            let _ = reply.send(Ok(not_revoked));
            return;
        };
        // Signed out here first (state file included), then told to Cognito: a daemon killed
        // in between restarts signed out, never serving the tokens of a user who signed out.
        self.end_session(None);
        let Some(refresh_token) = current.tokens.refresh_token.clone() else {
            info!(username = %current.username, "signed out; there was no refresh token to revoke");
            let _ = reply.send(Ok(not_revoked));
            return;
        };
        let now = self.clock.now_ms();
        let revocation = super::revoke::Revocation {
            refresh_token,
            // An expired access token is refused by GlobalSignOut: a refresh gets a new one.
            access_token: (!current.is_expired(now)).then(|| current.tokens.access_token.clone()),
            username: current.username.clone(),
            global,
            rotation: self.config.refresh_token_rotation,
        };
        info!(username = %current.username, global, "signed out");
        let (pool, verifier, publish) = (
            Arc::clone(&self.pool),
            Arc::clone(&self.verifier),
            self.publish.clone(),
        );
        tokio::spawn(async move {
            let result = revocation.run(&*pool, &verifier).await;
            set_upstream(&publish, upstream_after(result.as_ref().err()));
            let outcome = match result {
                Ok(()) => SignedOut {
                    revoked: true,
                    remote_error: None,
                    retrying: false,
                },
                Err(error) => {
                    let retrying = error.is_transient();
                    warn!(%error, global, retrying, "Cognito did not confirm the sign-out; the local session is cleared anyway");
                    if retrying {
                        revocation.retry_in_background(pool, verifier);
                    }
                    SignedOut {
                        revoked: false,
                        remote_error: Some(error.into()),
                        retrying,
                    }
                }
            };
            let _ = reply.send(Ok(outcome));
        });
    }

    /// Records how a call the user made went: Cognito answered (whatever it said), or could
    /// not be reached.
    fn note_upstream(&self, error: Option<&CognitoError>) {
        self.set_upstream(upstream_after(error));
    }

    fn set_upstream(&self, health: UpstreamHealth) {
        set_upstream(&self.publish, health);
    }
}

/// Cognito's health after a call that ended with `error` (none: it answered).
fn upstream_after(error: Option<&CognitoError>) -> UpstreamHealth {
    match error {
        Some(error @ CognitoError::Unreachable { .. }) if error.is_transient() => {
            UpstreamHealth::Unreachable
        }
        Some(error @ CognitoError::Service { .. }) if error.is_transient() => {
            UpstreamHealth::Degraded
        }
        _ => UpstreamHealth::Ok,
    }
}

fn set_upstream(publish: &watch::Sender<Snapshot>, health: UpstreamHealth) {
    publish.send_if_modified(|snapshot| {
        let changed = snapshot.upstream != health;
        snapshot.upstream = health;
        changed
    });
}
