//! Who was handed which tokens and credentials. Every hand-out is counted on the request path
//! (a lock and an increment, no write) and logged off it by one task, in batches: the first
//! after a quiet spell at once, then at most one batch a second, with a line for each peer
//! and what it got, and how many times (`count`). Nothing is left out: what is still counted
//! when the last handle goes (at shutdown, after the last request) is logged then. Idle, the
//! task waits without a timer (no wake-ups).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::info;

use crate::server::Peer;

/// How often one peer's hand-outs of one kind are logged at most.
const INTERVAL: Duration = Duration::from_secs(1);

/// What was handed out, to whom: the key hand-outs are counted under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HandOut {
    /// The user's tokens (`/v1/session`).
    SessionTokens { peer: Peer, username: String },
    /// AWS credentials on the socket (`/v1/session`, `/v1/credentials`).
    AwsCredentials {
        peer: Peer,
        identity_id: String,
        guest: bool,
    },
    /// AWS credentials on the container endpoint (its peer is a TCP client: unnamed).
    ContainerCredentials { identity_id: String, guest: bool },
}

/// The hand-out counter; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    counts: Mutex<HashMap<HandOut, u64>>,
    pending: Notify,
}

impl Audit {
    /// A counter whose lines are written by a task on the current runtime.
    pub fn start() -> Audit {
        let audit = Audit::default();
        tokio::spawn(audit.clone().write_out());
        audit
    }

    /// Counts one hand-out; the line is written off the request path.
    pub fn record(&self, hand_out: HandOut) {
        let mut counts = self.shared.lock();
        let first = counts.is_empty();
        *counts.entry(hand_out).or_insert(0) += 1;
        drop(counts);
        if first {
            self.shared.pending.notify_one();
        }
    }

    /// Logs what is counted and not yet logged (at shutdown; the task does it while serving).
    pub fn flush(&self) {
        self.shared.flush();
    }

    /// Waits for a hand-out, logs what is counted, then lets a second go by so that a busy peer
    /// gets a line a second, not a line a request.
    async fn write_out(self) {
        loop {
            self.shared.pending.notified().await;
            self.flush();
            tokio::time::sleep(INTERVAL).await;
        }
    }

    #[cfg(test)]
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<HandOut, u64>> {
        self.shared.lock()
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<HandOut, u64>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn flush(&self) {
        let counts = std::mem::take(&mut *self.lock());
        for (hand_out, count) in counts {
            log(&hand_out, count);
        }
    }
}

/// Requests still running after the shutdown's flush (past the grace period, or on the
/// container endpoint) are counted too: the last handle writes them out.
impl Drop for Shared {
    fn drop(&mut self) {
        self.flush();
    }
}

fn log(hand_out: &HandOut, count: u64) {
    match hand_out {
        HandOut::SessionTokens { peer, username } => info!(
            uid = peer.uid,
            pid = peer.pid_or_zero(),
            %username,
            count,
            "session tokens handed out"
        ),
        HandOut::AwsCredentials {
            peer,
            identity_id,
            guest,
        } => info!(
            uid = peer.uid,
            pid = peer.pid_or_zero(),
            %identity_id,
            guest,
            count,
            "AWS credentials handed out"
        ),
        HandOut::ContainerCredentials { identity_id, guest } => info!(
            %identity_id,
            guest,
            count,
            "AWS credentials handed out on the container endpoint"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(pid: i32) -> Peer {
        Peer {
            uid: 1000,
            pid: Some(pid),
        }
    }

    fn tokens(pid: i32) -> HandOut {
        HandOut::SessionTokens {
            peer: peer(pid),
            username: "alice".into(),
        }
    }

    #[test]
    fn hand_outs_are_counted_per_peer_and_kind_until_flushed() {
        let audit = Audit::default();
        for _ in 0..3 {
            audit.record(tokens(7));
        }
        audit.record(tokens(8));
        audit.record(HandOut::AwsCredentials {
            peer: peer(7),
            identity_id: "us-east-1:x".into(),
            guest: false,
        });
        {
            let counts = audit.lock();
            assert_eq!(counts.len(), 3);
            assert_eq!(counts[&tokens(7)], 3);
            assert_eq!(counts[&tokens(8)], 1);
        }
        audit.flush();
        assert!(audit.lock().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_hand_out_is_written_at_once_and_the_rest_a_second_later() {
        let audit = Audit::start();
        audit.record(tokens(7));
        tokio::task::yield_now().await;
        assert!(audit.lock().is_empty(), "written at once");
        for _ in 0..5 {
            audit.record(tokens(7));
        }
        tokio::time::sleep(INTERVAL / 2).await;
        assert_eq!(audit.lock()[&tokens(7)], 5, "held back within the second");
        tokio::time::sleep(INTERVAL).await;
        assert!(audit.lock().is_empty(), "written after the second");
    }
}
