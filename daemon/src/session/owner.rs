//! The owner task: its state, its loop, and the commands that change who is signed in.

use std::sync::Arc;
use std::time::Duration;

use cognitod_proto::{
    AuthFlowType, Event, EventKind, LastSignOut, Secret, SessionState, SignInDetails, Timestamp,
    UpstreamHealth,
};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::credentials::Fetched;
use super::federation::{Federation, FederationEvent};
use super::persist::{PersistRetry, Restored, restore};
use super::signin::{AuthDone, Pending};
use super::{Clock, Command, Reply, SessionConfig, SessionError, SignedIn, SignedOut, Snapshot};
use crate::cognito::auth::VerifiedTokens;
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
    pub(super) pending: Option<Pending>,
    /// Sign-in calls that came back, and the current sign-in's generation.
    pub(super) auth_done: mpsc::UnboundedSender<AuthDone>,
    auth_results: Option<mpsc::UnboundedReceiver<AuthDone>>,
    pub(super) auth_generation: u64,
    /// An answer to the pending step is with Cognito.
    pub(super) answering: bool,
    /// Account calls that came back, and a sign-up's session for its next step.
    pub(super) account_done: mpsc::UnboundedSender<super::account::AccountDone>,
    account_results: Option<mpsc::UnboundedReceiver<super::account::AccountDone>>,
    pub(super) sign_up: Option<super::account::SignUpSession>,
    /// The browser sign-in waiting for its callback.
    pub(super) redirect: Option<crate::oauth::Attempt>,
    /// This machine as each user's remembered device, and other pools' devices (kept as
    /// they are in the state file).
    pub(super) devices: Vec<super::devices::StoredDevice>,
    pub(super) other_devices: Vec<crate::store::PersistedDevice>,
    /// A federated identity (no user-pool user), and what renews its token.
    pub(super) federation: Option<Federation>,
    pub(super) federation_done: mpsc::UnboundedSender<FederationEvent>,
    federation_events: Option<mpsc::UnboundedReceiver<FederationEvent>>,
    pub(super) fed_renewal: Option<JoinHandle<()>>,
    /// Counts federations: a renewal for an earlier one is moot.
    pub(super) fed_generation: u64,
    pub(super) fed_failures: u32,
    pub(super) fed_retry_at_ms: Option<i64>,
    pub(super) fed_renew_at_ms: Option<i64>,
    /// Why a federated session ended when its token expired or was refused (for the answer
    /// to whoever asks next), until someone signs in.
    pub(super) federation_lapsed: Option<String>,

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

/// What woke the loop.
enum Wakeup {
    Command(Option<Command>),
    Auth(Box<AuthDone>),
    Account(Box<super::account::AccountDone>),
    Federation(FederationEvent),
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
            .and_then(|store| restore(store, &config, clock.now_ms()));
        let guest_identity_id = restored.as_ref().and_then(|r| r.guest_identity_id.clone());
        let devices = restored
            .as_ref()
            .map(|r| r.devices.clone())
            .unwrap_or_default();
        let other_devices = restored
            .as_ref()
            .map(|r| r.other_devices.clone())
            .unwrap_or_default();
        let federation = restored.as_ref().and_then(|r| r.federation.clone());
        if let Some(federation) = &federation {
            info!(provider = %federation.provider, "federated session restored from the state file");
            initial.state = SessionState::Federated;
            initial.federated = Some(Arc::new(super::FederatedView {
                provider: federation.provider.clone(),
                token_expires_at: federation.exp.map(Timestamp::from_unix),
            }));
        }
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
        let (auth_done, auth_results) = mpsc::unbounded_channel();
        let (federation_done, federation_events) = mpsc::unbounded_channel();
        let (account_done, account_results) = mpsc::unbounded_channel();
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
            auth_done,
            auth_results: Some(auth_results),
            auth_generation: 0,
            answering: false,
            account_done,
            account_results: Some(account_results),
            sign_up: None,
            redirect: None,
            devices,
            other_devices,
            federation,
            federation_done,
            federation_events: Some(federation_events),
            fed_renewal: None,
            fed_generation: 0,
            fed_failures: 0,
            fed_retry_at_ms: None,
            fed_renew_at_ms: None,
            federation_lapsed: None,
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
        if self.federation.is_some() {
            self.restart_federation();
        }
        let mut auth_results = self.auth_results.take().expect("run once");
        let mut federation_events = self.federation_events.take().expect("run once");
        let mut account_results = self.account_results.take().expect("run once");
        loop {
            let sleep = self.next_timer().map(tokio::time::sleep);
            let in_flight = &mut self.in_flight;
            let creds_in_flight = &mut self.creds_in_flight;
            let wakeup = tokio::select! {
                command = commands.recv() => Wakeup::Command(command),
                Some(done) = auth_results.recv() => Wakeup::Auth(Box::new(done)),
                Some(event) = federation_events.recv() => Wakeup::Federation(event),
                Some(done) = account_results.recv() => Wakeup::Account(Box::new(done)),
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
                Wakeup::Command(Some(command)) => self.handle(command),
                Wakeup::Auth(done) => self.finish_auth(*done),
                Wakeup::Account(done) => self.finish_account(*done),
                Wakeup::Federation(event) => self.finish_federation_event(event),
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
                    self.federation_timer();
                    self.credentials_timer();
                }
            }
        }
    }

    /// How long until the next thing the timer must look at, at most [`MAX_SLEEP`].
    fn next_timer(&self) -> Option<Duration> {
        let mut due: Vec<i64> = self.credentials_due_ms().into_iter().collect();
        due.extend(self.persist_retry.get());
        due.extend(self.federation_due_ms());
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

    fn handle(&mut self, command: Command) {
        match command {
            Command::SignIn { request, reply } => self.sign_in(request, reply),
            Command::Confirm { request, reply } => self.confirm(request, reply),
            Command::SignOut {
                global,
                forget_device,
                reply,
            } => self.sign_out(global, forget_device, reply),
            Command::StartRedirect { request, reply } => self.start_redirect(request, reply),
            Command::CompleteRedirect { request, reply } => {
                self.complete_redirect(request, reply);
            }
            Command::Federate { request, reply } => self.federate(request, reply),
            Command::Devices { op, reply } => self.devices_command(op, reply),
            Command::Account { op, reply } => self.account_command(op, reply),
            Command::AutoSignIn { request, reply } => self.auto_sign_in(request, reply),
            Command::Refresh { force, reply } => self.refresh_requested(force, reply),
            Command::Credentials { force, reply } => self.credentials_requested(force, reply),
        }
    }

    pub(super) fn current(&self) -> Option<Arc<SignedIn>> {
        self.publish.borrow().signed_in.clone()
    }

    /// Whether someone is signed in: a user, or a federated identity.
    pub(super) fn authenticated(&self) -> bool {
        self.current().is_some() || self.federation.is_some()
    }

    /// Who is signed in, by name (a federated identity by its provider), for "already signed
    /// in" answers.
    pub(super) fn signed_in_as(&self) -> Option<String> {
        self.current()
            .map(|c| c.username.clone())
            .or_else(|| self.federation.as_ref().map(|f| f.provider.clone()))
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

    pub(super) fn set_pending(&mut self, pending: Option<Pending>) {
        let state = if pending.is_some() {
            SessionState::SigningIn
        } else if self.current().is_some() {
            SessionState::SignedIn
        } else if self.federation.is_some() {
            SessionState::Federated
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
    pub(super) fn install(
        &mut self,
        tokens: VerifiedTokens,
        login_id: &str,
        flow: AuthFlowType,
        sent_ms: i64,
    ) {
        let username = tokens.username_or(login_id);
        // A browser sign-in's login id is what the user signed in as: the email, else the
        // username; a federated user's provider comes from `identities`.
        let (login_id, provider) = if flow == AuthFlowType::Redirect {
            let claims = &tokens.id_claims;
            (
                claims.email.clone().unwrap_or_else(|| username.clone()),
                claims
                    .identities
                    .as_ref()
                    .and_then(|ids| ids.first())
                    .map(|id| id.provider_name.clone()),
            )
        } else {
            (login_id.to_owned(), None)
        };
        let drift = super::schedule::clock_drift_ms(
            tokens
                .access_claims
                .iat
                .unwrap_or(tokens.access_claims.exp - 3600),
            sent_ms,
            self.clock.now_ms(),
        );
        let mut signed_in = SignedIn::new(
            username,
            tokens.id_claims.sub.clone(),
            SignInDetails {
                login_id,
                auth_flow_type: flow,
                provider,
            },
            tokens,
            drift,
        );
        // The device this sign-in named or confirmed (a browser sign-in has none).
        if flow != AuthFlowType::Redirect {
            signed_in.device_key = self
                .device_of(&signed_in.username)
                .map(|d| d.creds.key.clone());
        }
        info!(
            username = %signed_in.username,
            user_id = %signed_in.user_id,
            expires_at = %signed_in.expires_at(),
            "signed in"
        );
        self.persist(Some(&signed_in), false);
        self.emit(EventKind::SignedIn {
            username: signed_in.username.clone(),
            federated_provider: None,
        });
        self.retry_at_ms = None;
        self.expiry_reported = false;
        self.federation_lapsed = None;
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
        if let Some(renewal) = self.fed_renewal.take() {
            renewal.abort();
        }
        self.fed_generation += 1;
        self.fed_retry_at_ms = None;
        self.fed_renew_at_ms = None;
        self.fed_failures = 0;
        let federation = self.federation.take();
        *self
            .rotated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let ended = self
            .current()
            .map(|ended| ended.username.clone())
            .or_else(|| federation.map(|f| f.provider));
        let last_sign_out = ended.map(|username| LastSignOut {
            at: Timestamp::from_unix(self.clock.now_ms().div_euclid(1000)),
            username,
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
    fn sign_out(&mut self, global: bool, forget_device: bool, reply: Reply<SignedOut>) {
        self.set_pending(None);
        self.redirect = None;
        self.federation_lapsed = None;
        // A sign-in still on its way to Cognito is moot now.
        self.auth_generation += 1;
        self.answering = false;
        let Some(current) = self.current() else {
            if let Some(federation) = &self.federation {
                // Nothing to revoke: the provider's token is the provider's.
                info!(provider = %federation.provider, "signed out of the federated identity");
                self.end_session(None);
            }
            let _ = reply.send(Ok(SignedOut {
                revoked: false,
                remote_error: None,
                retrying: false,
                logout_url: None,
            }));
            return;
        };
        // A browser session also lives on as the managed login's cookie.
        let logout_url = match &self.config.oauth {
            Some(oauth) if current.sign_in_details.auth_flow_type == AuthFlowType::Redirect => {
                Some(crate::oauth::logout_url(oauth, &self.config.client_id))
            }
            _ => None,
        };
        let not_revoked = SignedOut {
            revoked: false,
            remote_error: None,
            retrying: false,
            logout_url: logout_url.clone(),
        };
        // A rotating refresh in flight may have got a new refresh token already: that one is
        // live, and the one to revoke (taken before the session's end clears it).
        let rotated = self
            .rotated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        // Signed out here first (state file included), then told to Cognito: a daemon killed
        // in between restarts signed out, never serving the tokens of a user who signed out.
        self.end_session(None);
        let Some(refresh_token) = rotated.or_else(|| current.tokens.refresh_token.clone()) else {
            info!(username = %current.username, "signed out; there was no refresh token to revoke");
            let _ = reply.send(Ok(not_revoked));
            return;
        };
        let now = self.clock.now_ms();
        let mut revocation = super::revoke::Revocation {
            refresh_token,
            // An expired access token is refused by GlobalSignOut: a refresh gets a new one.
            access_token: (!current.is_expired(now)).then(|| current.tokens.access_token.clone()),
            username: current.username.clone(),
            device_key: current.device_key.clone(),
            global,
            rotation: self.config.refresh_token_rotation,
            forget_device: forget_device
                .then(|| self.take_device(&current.username))
                .flatten(),
        };
        info!(username = %current.username, global, "signed out");
        let (pool, verifier, publish) = (
            Arc::clone(&self.pool),
            Arc::clone(&self.verifier),
            self.publish.clone(),
        );
        let sessions = self.publish.subscribe();
        tokio::spawn(async move {
            let result = revocation.run(&*pool, &verifier).await;
            set_upstream(&publish, upstream_after(result.as_ref().err()));
            let outcome = match result {
                Ok(()) => SignedOut {
                    revoked: true,
                    remote_error: None,
                    retrying: false,
                    logout_url,
                },
                Err(error) => {
                    let retrying = error.is_transient();
                    warn!(%error, global, retrying, "Cognito did not confirm the sign-out; the local session is cleared anyway");
                    if retrying {
                        revocation.retry_in_background(pool, verifier, sessions);
                    }
                    SignedOut {
                        revoked: false,
                        remote_error: Some(error.into()),
                        retrying,
                        logout_url,
                    }
                }
            };
            let _ = reply.send(Ok(outcome));
        });
    }

    /// Records how a call the user made went: Cognito answered (whatever it said), or could
    /// not be reached.
    pub(super) fn set_upstream(&self, health: UpstreamHealth) {
        set_upstream(&self.publish, health);
    }
}

/// Cognito's health after a call that ended with `error` (none: it answered).
pub(super) fn upstream_after(error: Option<&CognitoError>) -> UpstreamHealth {
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
