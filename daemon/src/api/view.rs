//! The `/v1/session` answer. Local apps poll it, and it changes only when the tokens or the
//! credentials do: the signed-in answer is serialized once for each pair and then served as
//! shared bytes. The copy is zeroed when its last user drops it, and dropped as soon as the
//! session changes (a sign-out leaves no tokens behind in it).

use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::watch;

use axum::body::Bytes;
use cognitod_proto as proto;
use zeroize::Zeroizing;

use crate::session::{AwsCredentials, SessionHandle, SignedIn, Snapshot};

/// The last signed-in answer, and what it was made of.
#[derive(Debug)]
pub struct SessionCache {
    last: Arc<Mutex<Option<Cached>>>,
    /// The session as it is now: an answer is kept only while it is still the session's.
    current: watch::Receiver<Snapshot>,
}

#[derive(Debug)]
struct Cached {
    // Weak: the cache keeps no tokens alive. A dropped value's allocation stays while a
    // `Weak` points at it, so a new session is never mistaken for the old one by address.
    signed_in: Weak<SignedIn>,
    aws: Option<Weak<AwsCredentials>>,
    body: Bytes,
}

impl Cached {
    fn is_for(&self, signed_in: &Arc<SignedIn>, aws: Option<&Arc<AwsCredentials>>) -> bool {
        std::ptr::eq(self.signed_in.as_ptr(), Arc::as_ptr(signed_in))
            && match (&self.aws, aws) {
                (None, None) => true,
                (Some(cached), Some(aws)) => std::ptr::eq(cached.as_ptr(), Arc::as_ptr(aws)),
                _ => false,
            }
    }
}

impl SessionCache {
    /// A cache emptied by a task on the current runtime each time `session` changes.
    pub fn start(session: &SessionHandle) -> SessionCache {
        let last = Arc::new(Mutex::new(None));
        let mut changes = session.changes();
        let emptied = Arc::clone(&last);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                lock(&emptied).take();
            }
        });
        SessionCache {
            last,
            current: session.changes(),
        }
    }

    /// The answer for `signed_in` with `aws`: the cached bytes when they were made from these,
    /// else [`view`] serialized now (and kept).
    pub fn body(
        &self,
        snapshot: &Snapshot,
        signed_in: &Arc<SignedIn>,
        aws: Option<&Arc<AwsCredentials>>,
    ) -> Bytes {
        if let Some(cached) = lock(&self.last)
            .as_ref()
            .filter(|c| c.is_for(signed_in, aws))
        {
            return cached.body.clone();
        }
        let body = serialize(&view(snapshot, aws.map(Arc::as_ref)));
        // Kept only while the session still holds these tokens and credentials: the session
        // cannot change while `current` is borrowed, and each change empties the cache after
        // it, so an answer made from a session that has just ended is never kept.
        let current = self.current.borrow();
        let still = Cached {
            signed_in: Arc::downgrade(signed_in),
            aws: aws.map(Arc::downgrade),
            body: body.clone(),
        };
        let current_aws = current.aws.as_ref().filter(|_| aws.is_some());
        if current
            .signed_in
            .as_ref()
            .is_some_and(|now| still.is_for(now, current_aws))
        {
            *lock(&self.last) = Some(still);
        }
        body
    }
}

/// `value` as JSON in bytes that are zeroed when the last copy goes. The buffer is measured
/// first and made at its size: growing it would leave copies of the secrets behind, unzeroed.
pub fn serialize(value: &impl serde::Serialize) -> Bytes {
    let mut size = Counter(0);
    serde_json::to_writer(&mut size, value).expect("an answer serializes");
    let mut json = Vec::with_capacity(size.0);
    serde_json::to_writer(&mut json, value).expect("an answer serializes");
    Bytes::from_owner(Zeroizing::new(json))
}

/// A writer that only counts what it is given.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// fetchAuthSession's answer for `snapshot`, with `aws` when there are credentials to hand out.
pub fn view(snapshot: &Snapshot, aws: Option<&AwsCredentials>) -> proto::Session {
    let mut view = match snapshot.signed_in.as_deref() {
        Some(signed_in) => proto::Session {
            is_signed_in: true,
            username: Some(signed_in.username.clone()),
            user_sub: Some(signed_in.user_id.clone()),
            tokens: Some(proto::Tokens {
                id_token: signed_in.tokens.id_token.clone(),
                access_token: signed_in.tokens.access_token.clone(),
                expires_at: signed_in.expires_at(),
            }),
            identity_id: None,
            credentials: None,
            federated_provider: None,
        },
        None => proto::Session {
            is_signed_in: snapshot.federated.is_some(),
            federated_provider: snapshot.federated.as_ref().map(|f| f.provider.clone()),
            username: None,
            user_sub: None,
            tokens: None,
            identity_id: None,
            credentials: None,
        },
    };
    if let Some(aws) = aws {
        view.identity_id = Some(aws.identity_id.clone());
        view.credentials = Some(crate::session::credentials_view(aws));
    }
    view
}

fn lock(last: &Mutex<Option<Cached>>) -> std::sync::MutexGuard<'_, Option<Cached>> {
    last.lock().unwrap_or_else(PoisonError::into_inner)
}
