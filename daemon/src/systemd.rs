//! systemd integration: socket activation (`LISTEN_FDS`), readiness and status
//! (`NOTIFY_SOCKET`), and the watchdog. Without systemd every call here does nothing.

use std::io;

use cognitod_proto::SessionState;
use sd_notify::NotifyState;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::server::LivenessProbe;
use crate::session::{SessionHandle, Snapshot};

/// The socket systemd passed (`LISTEN_FDS`, fd 3), if any. It is systemd's: never unlinked,
/// chmodded or owner-checked here.
pub fn inherited_listener() -> io::Result<Option<tokio::net::UnixListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    let Some(listener) = fds.take_unix_listener(0)? else {
        return Ok(None);
    };
    listener.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(listener).map(Some)
}

/// Tells the service manager, if there is one.
pub fn notify(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        debug!(%error, "cannot notify the service manager");
    }
}

/// The one-line state for `STATUS=`: "signed in as alice, refresh in 41 min".
pub fn status_line(snapshot: &Snapshot, now_ms: i64) -> String {
    match (&snapshot.state, snapshot.signed_in.as_deref()) {
        (SessionState::SignedIn, Some(signed_in)) => {
            let mut line = format!("signed in as {}", signed_in.username);
            if let Some(next) = snapshot.next_refresh_at {
                let minutes = (next.unix() * 1000 - now_ms).max(0) / 60_000;
                line.push_str(&format!(", refresh in {minutes} min"));
            }
            if snapshot.consecutive_failures > 0 {
                line.push_str(&format!(
                    ", {} refresh failures in a row",
                    snapshot.consecutive_failures
                ));
            }
            line
        }
        (SessionState::SigningIn, _) => "signing in: a step is pending".to_owned(),
        (SessionState::Federated, _) => format!(
            "federated through {}",
            snapshot
                .federated
                .as_ref()
                .map_or("an external provider", |f| f.provider.as_str())
        ),
        _ if snapshot.aws.as_ref().is_some_and(|aws| aws.guest) => {
            "signed out, serving guest credentials".to_owned()
        }
        _ => "signed out".to_owned(),
    }
}

/// Keeps `STATUS=` current, and when systemd asks for a watchdog, pings it at half the
/// interval after the accept loop answered a liveness probe (which runs a status request
/// through the router), so a hung runtime, accept loop or session gets the service restarted.
/// The probe does not go through the socket's path: a system-wide service may not be able to
/// reach its own socket's directory, and does not need to.
pub fn spawn_reporters(session: SessionHandle, probes: mpsc::Sender<LivenessProbe>) {
    let mut changes = session.changes();
    let status_session = session.clone();
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let line = status_line(&status_session.snapshot(), status_session.now_ms());
            notify(&[NotifyState::Status(&line)]);
        }
    });
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = interval / 2;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        loop {
            ticks.tick().await;
            let (ask, answer) = oneshot::channel();
            if probes.send(ask).await.is_err() {
                return; // The accept loop has ended: shutting down.
            }
            match tokio::time::timeout(period, answer).await {
                Ok(Ok(true)) => {
                    let line = status_line(&session.snapshot(), session.now_ms());
                    notify(&[NotifyState::Watchdog, NotifyState::Status(&line)]);
                }
                Ok(Ok(false)) => warn!("the status request failed; not pinging the watchdog"),
                Ok(Err(_)) => return,
                Err(_) => warn!("the accept loop did not answer in time; not pinging the watchdog"),
            }
        }
    });
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_says_who_and_when() {
        let snapshot = Snapshot {
            state: SessionState::SignedOut,
            signed_in: None,
            last_refresh: None,
            consecutive_failures: 0,
            upstream: cognitod_proto::UpstreamHealth::Ok,
            pending_step: None,
            pending_user: None,
            last_sign_out: None,
            next_refresh_at: None,
            aws: None,
            state_file_error: None,
            federated: None,
        };
        assert_eq!(status_line(&snapshot, 0), "signed out");
        let signing_in = Snapshot {
            state: SessionState::SigningIn,
            ..snapshot
        };
        assert_eq!(status_line(&signing_in, 0), "signing in: a step is pending");
    }
}
