//! The session on disk: every write of the state file (with the in-flight mark of a rotating
//! refresh, and retries when a write fails), and what a starting daemon restores from it.

use tracing::{info, warn};

use super::owner::Owner;
use super::{SessionConfig, SignedIn};
use crate::cognito::UserPool;
use crate::cognito::auth::VerifiedTokens;
use crate::cognito::jwt::stored_claims;
use crate::store::{Loaded, Persisted, PersistedDevice, PersistedFederation, PersistedUser, Store};

/// How soon a failed write of the state file is tried again (a rotated refresh token held only
/// in memory is lost with the process).
const PERSIST_RETRY_MS: i64 = 5_000;

/// When to write the state file again (local ms), set from `persist(&self)`.
#[derive(Debug)]
pub(super) struct PersistRetry(std::sync::atomic::AtomicI64);

impl Default for PersistRetry {
    fn default() -> Self {
        Self(std::sync::atomic::AtomicI64::new(i64::MIN))
    }
}

impl PersistRetry {
    pub(super) fn get(&self) -> Option<i64> {
        let at = self.0.load(std::sync::atomic::Ordering::Relaxed);
        (at != i64::MIN).then_some(at)
    }

    pub(super) fn set(&self, at: Option<i64>) {
        self.0
            .store(at.unwrap_or(i64::MIN), std::sync::atomic::Ordering::Relaxed);
    }
}

impl<P: UserPool> Owner<P> {
    /// Writes the session (or its absence) to the state file; `refresh_in_flight` marks a
    /// rotating refresh about to be sent. A failure is logged and the session goes on in
    /// memory: nothing already obtained is thrown away.
    pub(super) fn persist(&self, signed_in: Option<&SignedIn>, refresh_in_flight: bool) -> bool {
        let Some(store) = &self.config.store else {
            return true;
        };
        // Every write while a rotating refresh is in flight keeps its mark: a write for other
        // reasons (new credentials) must not make a restart forget the refresh.
        let refresh_in_flight =
            refresh_in_flight || (self.config.refresh_token_rotation && self.in_flight.is_some());
        let user = signed_in.and_then(|s| {
            Some(PersistedUser {
                username: s.username.clone(),
                user_id: s.user_id.clone(),
                sign_in_details: s.sign_in_details.clone(),
                id_token: s.tokens.id_token.clone(),
                access_token: s.tokens.access_token.clone(),
                refresh_token: s.tokens.refresh_token.clone()?,
                clock_drift_ms: s.drift_ms,
                refresh_in_flight,
                identity_id: self.user_identity_id.clone(),
                device_key: s.device_key.clone(),
            })
        });
        let now = self.clock.now_ms();
        // The provider's token only while it is valid, or while a command can replace it.
        let federation = self
            .federation
            .as_ref()
            .filter(|f| !f.lapsed(now) || self.renewable(&f.provider))
            .zip(self.config.identity.as_ref())
            .map(|(f, identity)| PersistedFederation {
                provider: f.provider.clone(),
                token: f.token.clone(),
                identity_id: self.user_identity_id.clone(),
                identity_pool_id: identity.pool_id.clone(),
            });
        let state = Persisted {
            user,
            guest_identity_id: self.guest_identity_id.clone(),
            federation,
            devices: self
                .devices
                .iter()
                .map(|d| d.to_persisted(&self.config.user_pool_id))
                .chain(self.other_devices.iter().cloned())
                .collect(),
        };
        let result = store.save(&state);
        let error = result.as_ref().err().map(ToString::to_string);
        if let Some(error) = &error {
            tracing::error!(%error, "the session is kept in memory only until the state file can be written; trying again shortly");
            self.persist_retry
                .set(Some(self.clock.now_ms() + PERSIST_RETRY_MS));
        } else {
            self.persist_retry.set(None);
            if self.publish.borrow().state_file_error.is_some() {
                info!("the state file is written again");
            }
        }
        self.publish.send_modify(|s| s.state_file_error = error);
        result.is_ok()
    }

    /// Writes the session as it is now.
    pub(super) fn persist_current(&self) {
        self.persist(self.current().as_deref(), false);
    }
}

/// What the state file held.
pub(super) struct Restored {
    pub(super) signed_in: Option<SignedIn>,
    /// A rotating refresh was sent and its answer never stored.
    pub(super) refresh_in_flight: bool,
    pub(super) user_identity_id: Option<String>,
    pub(super) guest_identity_id: Option<String>,
    /// A federated identity whose token was still valid when stored.
    pub(super) federation: Option<super::federation::Federation>,
    /// This pool's remembered devices, and other pools' (kept as they are).
    pub(super) devices: Vec<super::devices::StoredDevice>,
    pub(super) other_devices: Vec<PersistedDevice>,
}

/// The session in the state file, if there is a usable one.
/// The session in the state file, if there is a usable one for the pool and app client
/// `config` names (another's is set aside: a changed configuration must not serve it).
pub(super) fn restore(store: &Store, config: &SessionConfig, now_ms: i64) -> Option<Restored> {
    let persisted = match store.load() {
        Ok(Loaded::Session(persisted)) => *persisted,
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
    let mut restored = Restored {
        signed_in: None,
        refresh_in_flight: false,
        user_identity_id: None,
        guest_identity_id: persisted.guest_identity_id,
        federation: None,
        devices: Vec::new(),
        other_devices: Vec::new(),
    };
    for device in persisted.devices {
        if device.user_pool_id == config.user_pool_id {
            restored
                .devices
                .push(super::devices::StoredDevice::from_persisted(device));
        } else {
            restored.other_devices.push(device);
        }
    }
    let Some(user) = persisted.user else {
        if let Some(stored) = persisted.federation {
            let federation = super::federation::Federation::new(stored.provider, stored.token);
            let renewable = config
                .federation
                .as_ref()
                .is_some_and(|f| f.provider == federation.provider && f.token_command.is_some());
            let same_pool = config
                .identity
                .as_ref()
                .is_some_and(|i| i.pool_id == stored.identity_pool_id);
            if !same_pool {
                info!(provider = %federation.provider, "the stored federated session belongs to another identity pool; starting signed out");
            } else if federation.lapsed(now_ms) && !renewable {
                info!(provider = %federation.provider, "the stored federated session's provider token has expired; starting signed out");
            } else {
                restored.user_identity_id = stored.identity_id;
                restored.federation = Some(federation);
            }
        }
        return Some(restored);
    };
    let claims = stored_claims(&user.id_token)
        .and_then(|id| stored_claims(&user.access_token).map(|access| (id, access)));
    match claims {
        Ok((id_claims, access_claims))
            if id_claims.iss.as_deref() != Some(config.issuer.as_str())
                || access_claims.client_id.as_deref() != Some(config.client_id.as_str()) =>
        {
            match store.set_aside("another-pool") {
                Ok(to) => {
                    warn!(moved_to = %to.display(), "the stored session belongs to another user pool or app client than the configuration names; set aside, starting signed out")
                }
                Err(error) => {
                    warn!(%error, "the stored session belongs to another user pool or app client; starting signed out")
                }
            }
            return Some(Restored {
                guest_identity_id: None,
                ..restored
            });
        }
        Ok((id_claims, access_claims)) => {
            restored.refresh_in_flight = user.refresh_in_flight;
            restored.user_identity_id = user.identity_id;
            let mut signed_in = SignedIn::new(
                user.username,
                user.user_id,
                user.sign_in_details,
                VerifiedTokens {
                    id_token: user.id_token,
                    access_token: user.access_token,
                    refresh_token: Some(user.refresh_token),
                    id_claims,
                    access_claims,
                    new_device: None,
                },
                user.clock_drift_ms,
            );
            signed_in.device_key = user.device_key;
            restored.signed_in = Some(signed_in);
        }
        Err(error) => warn!(%error, "the stored session is unusable; starting signed out"),
    }
    Some(restored)
}
