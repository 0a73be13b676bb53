//! AWS credentials from the identity pool: the user's identity (or a guest one while signed
//! out), fetched and renewed by the owner like the tokens, one call for every client.

use std::collections::BTreeMap;
use std::sync::Arc;

use cognitod_proto::{EventKind, Secret, Timestamp};
use tracing::{info, warn};

use super::owner::Owner;
use super::{Reply, SessionError, schedule};
use crate::cognito::{CognitoError, UserPool};

/// Temporary AWS credentials and the identity they belong to.
#[derive(Debug)]
pub struct AwsCredentials {
    pub identity_id: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    /// As Cognito states it (its clock, ms).
    pub expiration_ms: i64,
    /// When they expire by the local clock (corrected for the drift the tokens measured).
    pub local_expiration_ms: i64,
    /// How close to their expiry they are no longer handed out (ms): `min(5 s, 10% of their
    /// life)`, so none expires on its way to the client.
    pub margin_ms: i64,
    /// Renew from this local time on.
    pub refresh_due_ms: i64,
    /// For a guest identity (signed out).
    pub guest: bool,
}

impl AwsCredentials {
    pub fn expiration(&self) -> Timestamp {
        Timestamp::from_unix(self.expiration_ms.div_euclid(1000))
    }

    /// Whether they are too close to expiry to hand out at local time `now_ms`.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        now_ms + self.margin_ms >= self.local_expiration_ms
    }
}

/// The identity pool as the session sees it.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// `identity_pool_id`.
    pub pool_id: String,
    /// `cognito-idp.<region>.amazonaws.com/<userPoolId>`.
    pub logins_key: String,
    /// Guest credentials while signed out.
    pub unauthenticated: bool,
}

/// How long an identity pool refusal that only the configuration can fix is answered from
/// memory before the pool is asked again.
const REFUSAL_HOLD_MS: i64 = 5 * 60 * 1000;

/// The identity pool refused in a way only the configuration can fix: answered at once, without
/// asking Cognito again, until `until_ms` (local).
#[derive(Debug, Clone)]
pub(super) struct Refusal {
    kind: String,
    message: String,
    fix: String,
    until_ms: i64,
}

impl Refusal {
    fn error(&self) -> SessionError {
        SessionError::Misconfigured {
            kind: self.kind.clone(),
            message: self.message.clone(),
            fix: self.fix.clone(),
        }
    }
}

/// The setting to fix when the identity pool answers `kind` with `message` to a fetch (for a
/// guest when `guest`); `None` when the refusal is not about the configuration (an expired id
/// token is the session's business, not the configuration's).
fn configuration_fix(kind: &str, message: &str, guest: bool) -> Option<&'static str> {
    if message.to_ascii_lowercase().contains("expired") {
        return None;
    }
    Some(match kind {
        "NotAuthorizedException" if guest => {
            "The identity pool does not allow guest access: allow unauthenticated identities in it, or set `unauthenticated_identities_enabled = false`."
        }
        "NotAuthorizedException" => {
            "Check that the identity pool (`identity_pool_id`) has this user pool and app client (`user_pool_client_id`) as an authentication provider."
        }
        "ResourceNotFoundException" => {
            "Check `identity_pool_id` (and `identity_pool_endpoint` or `aws_region`)."
        }
        "InvalidParameterException" => "Check `identity_pool_id` and `aws_region`.",
        "InvalidIdentityPoolConfigurationException" => {
            "Give the identity pool an IAM role for authenticated (and, for guests, unauthenticated) identities that Cognito may assume."
        }
        _ => return None,
    })
}

/// Whose credentials to fetch.
enum Mode {
    User {
        logins: BTreeMap<String, Secret>,
        known: Option<String>,
        guest_offer: Option<String>,
    },
    Guest {
        known: Option<String>,
    },
}

/// A fetch's result: the identity used and the credentials.
pub(crate) struct Fetched {
    pub(super) identity_id: String,
    guest: bool,
    /// The guest identity offered at sign-in became the user's.
    linked_guest: bool,
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Secret,
    expiration_ms: i64,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("identity_id", &self.identity_id)
            .finish_non_exhaustive()
    }
}

impl<P: UserPool> Owner<P> {
    /// A client wants credentials: joins a fetch in flight, else starts one unless valid ones
    /// are cached (and `force` is false).
    pub(super) fn credentials_requested(&mut self, force: bool, reply: Reply<()>) {
        if self.config.identity.is_none() {
            let _ = reply.send(Err(SessionError::NoIdentityPool));
            return;
        }
        if self.creds_in_flight.is_none() {
            let now = self.clock.now_ms();
            if let Some(refusal) = self.creds_refused.as_ref().filter(|r| now < r.until_ms)
                && !force
            {
                let _ = reply.send(Err(refusal.error()));
                return;
            }
            if !self.authenticated()
                && let Some(provider) = &self.federation_lapsed
                && !self
                    .config
                    .identity
                    .as_ref()
                    .is_some_and(|i| i.unauthenticated)
            {
                let _ = reply.send(Err(SessionError::FederationEnded(provider.clone())));
                return;
            }
            let cached = self.publish.borrow().aws.clone();
            let usable =
                cached.is_some_and(|c| !c.is_expired(now) && c.guest != self.authenticated());
            if usable && !force {
                let _ = reply.send(Ok(()));
                return;
            }
            // Expired tokens whose refresh backs off: said at once, not after a wait.
            let expired = self.current().is_some_and(|s| s.is_expired(now));
            if expired
                && self.in_flight.is_none()
                && let Some(error) = self.backing_off(now)
            {
                let _ = reply.send(Err(error));
                return;
            }
            if self.federation.as_ref().is_some_and(|f| f.lapsed(now))
                && !self.renewable_now()
                && self
                    .publish
                    .borrow()
                    .aws
                    .as_ref()
                    .is_some_and(|c| !c.is_expired(now))
            {
                // Nothing can renew them: the ones cached are all there is, until they expire.
                let _ = reply.send(Ok(()));
                return;
            }
            if let Some(error) = self.federation_backing_off(now) {
                let _ = reply.send(Err(error));
                return;
            }
            if !self.start_credentials() {
                let _ = reply.send(Err(match &self.federation_lapsed {
                    Some(why) => SessionError::FederationEnded(why.clone()),
                    None => SessionError::NotSignedIn,
                }));
                return;
            }
        }
        self.creds_waiters.push(reply);
    }

    /// Fetches credentials for whoever is signed in (or a guest); false when there is no one
    /// to fetch for.
    pub(super) fn start_credentials(&mut self) -> bool {
        let Some(identity) = self.config.identity.clone() else {
            return false;
        };
        if let Some(signed_in) = self.current()
            && signed_in.is_expired(self.clock.now_ms())
        {
            // An expired id token would be refused as if the identity were wrong: fresh
            // tokens first; their refresh starts the fetch.
            self.refresh_for_credentials(&signed_in);
            return true;
        }
        if let Some(fetch) = self.creds_in_flight.take() {
            fetch.abort();
        }
        let now = self.clock.now_ms();
        if self.federation.as_ref().is_some_and(|f| f.lapsed(now)) {
            // The identity pool would refuse it: a fresh token first (which starts the fetch),
            // or the end of the session.
            return self.federation_token_lapsed();
        }
        let mode = match (self.current(), &self.federation) {
            (Some(signed_in), _) => Mode::User {
                logins: BTreeMap::from([(identity.logins_key, signed_in.tokens.id_token.clone())]),
                known: self.user_identity_id.clone(),
                guest_offer: self.guest_identity_id.clone(),
            },
            (None, Some(federation)) => Mode::User {
                logins: federation.logins(),
                known: self.user_identity_id.clone(),
                guest_offer: None,
            },
            (None, None) if identity.unauthenticated => Mode::Guest {
                known: self.guest_identity_id.clone(),
            },
            (None, None) => return false,
        };
        self.creds_used_known = matches!(
            &mode,
            Mode::User { known: Some(_), .. } | Mode::Guest { known: Some(_) }
        );
        let pool = Arc::clone(&self.pool);
        self.creds_in_flight = Some(tokio::spawn(async move {
            fetch(&*pool, mode).await.map(Box::new)
        }));
        true
    }

    pub(super) fn finish_credentials(&mut self, result: Result<Box<Fetched>, CognitoError>) {
        let now = self.clock.now_ms();
        match result {
            Ok(fetched) => {
                if fetched.guest == self.authenticated() {
                    // Fetched for a state that no longer holds (signed in or out meanwhile).
                    self.start_credentials();
                    return;
                }
                if fetched.guest {
                    self.guest_identity_id = Some(fetched.identity_id.clone());
                } else {
                    self.user_identity_id = Some(fetched.identity_id.clone());
                    if fetched.linked_guest {
                        info!(identity_id = %fetched.identity_id, "the guest identity now belongs to the user");
                        self.guest_identity_id = None;
                    }
                }
                // Cognito's clock, as the tokens measured it against ours.
                let drift = self.current().map_or(0, |s| s.drift_ms);
                let local_expiration_ms = fetched.expiration_ms - drift;
                let life = (local_expiration_ms - now).max(0);
                // Never due at once (a clock ahead would otherwise fetch back to back).
                let refresh_due_ms = schedule::credentials_refresh_at_ms(now, local_expiration_ms)
                    .max(now + (life / 2).min(30_000));
                let credentials = AwsCredentials {
                    refresh_due_ms,
                    local_expiration_ms,
                    margin_ms: (life / 10).min(5000),
                    identity_id: fetched.identity_id,
                    access_key_id: fetched.access_key_id,
                    secret_access_key: fetched.secret_access_key,
                    session_token: fetched.session_token,
                    expiration_ms: fetched.expiration_ms,
                    guest: fetched.guest,
                };
                info!(
                    identity_id = %credentials.identity_id,
                    guest = credentials.guest,
                    expiration = %credentials.expiration(),
                    "AWS credentials obtained"
                );
                self.emit(EventKind::CredentialsRefresh {
                    expiration: credentials.expiration(),
                });
                self.creds_failures = 0;
                self.creds_retry_at_ms = None;
                self.creds_refused = None;
                self.federation_accepted();
                self.publish
                    .send_modify(|s| s.aws = Some(Arc::new(credentials)));
                self.persist_current();
                for waiter in self.creds_waiters.drain(..) {
                    let _ = waiter.send(Ok(()));
                }
            }
            Err(error) => self.credentials_failed(error, now),
        }
    }

    /// A fetch failed: an identity the pool no longer knows is asked for again at once; a
    /// refusal only the configuration can fix is answered from memory for a while, naming the
    /// setting; anything else is retried with backoff.
    fn credentials_failed(&mut self, error: CognitoError, now: i64) {
        let guest = !self.authenticated();
        if self.federation.is_some()
            && let CognitoError::Service { kind, message, .. } = &error
            && kind == "NotAuthorizedException"
        {
            if self.creds_used_known {
                // The stored identity id may be what is refused: a new one first.
                info!(%error, "the identity pool refused the cached identity id; asking for a new one");
                self.user_identity_id = None;
                self.start_credentials();
                return;
            }
            // The provider's token is refused: expired (by the provider's clock), or not
            // taken at all.
            self.federation_token_refused(message, now);
            return;
        }
        let fix = match &error {
            CognitoError::Service { kind, message, .. } if !error.is_transient() => {
                configuration_fix(kind, message, guest)
            }
            _ => None,
        };
        if fix.is_some() && self.creds_used_known {
            // The cached identity is gone or not ours: ask for one again.
            info!(%error, "the identity pool refused the cached identity id; asking for a new one");
            if guest {
                self.guest_identity_id = None;
            } else {
                self.user_identity_id = None;
            }
            self.start_credentials();
            return;
        }
        if let (Some(fix), CognitoError::Service { kind, message, .. }) = (fix, &error) {
            tracing::error!(%error, fix, "the identity pool refused; the configuration needs a change");
            let refusal = Refusal {
                kind: kind.clone(),
                message: message.clone(),
                fix: fix.to_owned(),
                until_ms: now + REFUSAL_HOLD_MS,
            };
            self.creds_retry_at_ms = Some(refusal.until_ms);
            for waiter in self.creds_waiters.drain(..) {
                let _ = waiter.send(Err(refusal.error()));
            }
            self.creds_refused = Some(refusal);
            return;
        }
        self.creds_failures += 1;
        let wait = schedule::backoff(self.creds_failures, schedule::random_unit());
        self.creds_retry_at_ms = Some(now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
        warn!(%error, failures = self.creds_failures, "fetching AWS credentials failed; retrying");
        for waiter in self.creds_waiters.drain(..) {
            let _ = waiter.send(Err(match &error {
                CognitoError::Service { kind, message, .. } if !error.is_transient() => {
                    SessionError::Refused {
                        kind: kind.clone(),
                        message: message.clone(),
                    }
                }
                CognitoError::Protocol(_) | CognitoError::Srp(_) => {
                    SessionError::Internal(error.to_string())
                }
                CognitoError::InvalidToken(why) => SessionError::InvalidToken(why.clone()),
                _ => SessionError::Retrying(error.to_string()),
            }));
        }
    }

    /// When the credentials need the timer next (local ms).
    pub(super) fn credentials_due_ms(&self) -> Option<i64> {
        if self.creds_in_flight.is_some() {
            return None;
        }
        // With expired tokens the fetch waits for their refresh, which starts it; a federated
        // token that lapsed waits for its renewal, or ends the session (the federation's timer).
        let now = self.clock.now_ms();
        if self.current().is_some_and(|s| s.is_expired(now))
            || self.federation.as_ref().is_some_and(|f| f.lapsed(now))
            || self.renewal_pending(now)
        {
            return None;
        }
        let aws = self.publish.borrow().aws.clone()?;
        Some(self.creds_retry_at_ms.unwrap_or(aws.refresh_due_ms))
    }

    /// Renews the credentials when due.
    pub(super) fn credentials_timer(&mut self) {
        if let Some(due) = self.credentials_due_ms()
            && self.clock.now_ms() >= due
        {
            self.start_credentials();
        }
    }

    /// Drops the user's credentials and identity (sign-out); the guest identity stays.
    pub(super) fn drop_user_credentials(&mut self) {
        if let Some(fetch) = self.creds_in_flight.take() {
            fetch.abort();
        }
        self.user_identity_id = None;
        self.creds_failures = 0;
        self.creds_retry_at_ms = None;
        self.creds_refused = None;
        self.publish.send_modify(|s| s.aws = None);
        for waiter in self.creds_waiters.drain(..) {
            let _ = waiter.send(Err(SessionError::NotSignedIn));
        }
    }
}

/// An identity and its credentials for `logins` (a federated provider's token).
pub(super) async fn fetch_identity<P: UserPool>(
    pool: &P,
    logins: BTreeMap<String, Secret>,
) -> Result<Fetched, CognitoError> {
    fetch(
        pool,
        Mode::User {
            logins,
            known: None,
            guest_offer: None,
        },
    )
    .await
}

/// The credentials as the API shows them.
pub fn view(aws: &AwsCredentials) -> cognitod_proto::Credentials {
    cognitod_proto::Credentials {
        access_key_id: aws.access_key_id.clone(),
        secret_access_key: aws.secret_access_key.clone(),
        session_token: aws.session_token.clone(),
        expiration: aws.expiration(),
    }
}

async fn fetch<P: UserPool>(pool: &P, mode: Mode) -> Result<Fetched, CognitoError> {
    let (identity_id, logins, guest, linked_guest) = match mode {
        Mode::Guest { known } => {
            let id = match known {
                Some(id) => id,
                None => pool.get_id(None).await?,
            };
            (id, None, true, false)
        }
        Mode::User {
            logins,
            known: Some(id),
            ..
        } => (id, Some(logins), false, false),
        Mode::User {
            logins,
            known: None,
            guest_offer,
        } => {
            if let Some(guest) = guest_offer {
                // Offered first, as Amplify does, so Cognito can link the guest identity.
                match pool
                    .get_credentials_for_identity(&guest, Some(logins.clone()))
                    .await
                {
                    Ok(response) => return fetched(response, guest, false, true),
                    Err(error) if error.is_transient() => return Err(error),
                    Err(error) => {
                        info!(%error, "the guest identity was not linked; using the user's own");
                    }
                }
            }
            let id = pool.get_id(Some(logins.clone())).await?;
            (id, Some(logins), false, false)
        }
    };
    let response = pool
        .get_credentials_for_identity(&identity_id, logins)
        .await?;
    fetched(response, identity_id, guest, linked_guest)
}

pub(crate) fn fetched(
    response: crate::cognito::GetCredentialsForIdentityResponse,
    identity_id: String,
    guest: bool,
    linked_guest: bool,
) -> Result<Fetched, CognitoError> {
    let credentials = response.credentials;
    // Seconds since 1970, up to the year 9999.
    if !(0.0..253_402_300_800.0).contains(&credentials.expiration) {
        return Err(CognitoError::Protocol(
            "credentials without a valid Expiration".into(),
        ));
    }
    Ok(Fetched {
        identity_id: response.identity_id.unwrap_or(identity_id),
        guest,
        linked_guest,
        access_key_id: credentials.access_key_id,
        secret_access_key: credentials.secret_key,
        session_token: credentials.session_token,
        // Whole seconds, as clients see it: nothing is served past the stated expiration.
        expiration_ms: credentials.expiration.floor() as i64 * 1000,
    })
}
