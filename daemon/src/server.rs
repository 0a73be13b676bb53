//! The accept loop on the Unix socket: the peer check (`SO_PEERCRED`) before anything a
//! connection sends is read, a cap on open connections, a header-read timeout, and a graceful
//! shutdown bounded in time so a stalled client cannot hold it.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;
use tracing::{debug, warn};

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for requests already accepted.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Who is at the other end of a connection, from `SO_PEERCRED`. Handlers find it in the
/// request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub pid: Option<i32>,
}

impl Peer {
    /// The pid for logs (0 when the kernel did not say).
    pub fn pid_or_zero(&self) -> i32 {
        self.pid.unwrap_or(0)
    }
}

/// Which users may connect: the daemon's own uid, root, and `allowed_uids`.
#[derive(Debug, Clone)]
pub struct Access {
    pub own_uid: u32,
    pub allowed_uids: Vec<u32>,
}

impl Access {
    pub fn allows(&self, uid: u32) -> bool {
        uid == self.own_uid || uid == 0 || self.allowed_uids.contains(&uid)
    }
}

/// The fixed answer to a peer that may not connect; sent without reading its request.
static FORBIDDEN: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = r#"{"error":{"code":"Forbidden","message":"this user may not use this cognitod (see allowed_uids in its config)"}}"#;
    format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncognitod-api-version: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests already
/// accepted finish for at most [`SHUTDOWN_GRACE`]. `access` may change while serving (a
/// reload); each new connection is checked against the current one.
pub async fn serve(
    listener: UnixListener,
    router: Router,
    access: watch::Receiver<Access>,
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(peer) = peer_of(&stream) else {
            continue;
        };
        if !access.borrow().allows(peer.uid) {
            warn!(
                uid = peer.uid,
                pid = peer.pid_or_zero(),
                "refused a connection from a user that is not allowed"
            );
            tokio::spawn(refuse(stream));
            continue;
        }
        debug!(
            uid = peer.uid,
            pid = peer.pid_or_zero(),
            "connection accepted"
        );
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(peer);
                request
            },
        ));
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            warn!("requests still open after {} s; closing them", SHUTDOWN_GRACE.as_secs());
        }
    }
}

fn peer_of(stream: &UnixStream) -> Option<Peer> {
    match stream.peer_cred() {
        Ok(cred) => Some(Peer {
            uid: cred.uid(),
            pid: cred.pid(),
        }),
        Err(error) => {
            warn!(%error, "cannot read the peer's credentials; closing the connection");
            None
        }
    }
}

/// Answers 403 and closes. What the peer sends is read and thrown away unparsed (at most
/// 64 KiB, for at most a second), so that its request write does not fail before it can read
/// the answer.
async fn refuse(mut stream: UnixStream) {
    let answer = async {
        stream.write_all(&FORBIDDEN).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_allows_self_root_and_listed_uids_only() {
        let access = Access {
            own_uid: 1000,
            allowed_uids: vec![1001],
        };
        assert!(access.allows(1000));
        assert!(access.allows(0));
        assert!(access.allows(1001));
        assert!(!access.allows(1002));
        assert!(!access.allows(65534));
    }

    #[test]
    fn the_forbidden_answer_is_well_formed() {
        let text = std::str::from_utf8(&FORBIDDEN).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len());
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "Forbidden");
    }
}
