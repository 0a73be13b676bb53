//! The accept loop on the Unix socket: the peer check (`SO_PEERCRED`) before anything a
//! connection sends is read, a cap on open connections, a header-read timeout, and a graceful
//! shutdown bounded in time so a stalled client cannot hold it.
//!
//! At the cap, a new connection takes the place of the oldest idle one (still sending its
//! first request's headers, or between keep-alive requests): a crowd of slow or idle clients
//! cannot lock out a working one, and the count of open connections stays at the cap.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::response::Response;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tower::ServiceExt as _;
use tracing::{debug, warn};

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for requests already accepted.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Who is at the other end of a connection, from `SO_PEERCRED`. Handlers find it in the
/// request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub uid: u32,
    pub pid: Option<i32>,
}

/// The uid of a peer the kernel does not name (a TCP connection).
pub const UNKNOWN_UID: u32 = u32::MAX;

/// Where connections come from, and who is at the other end of each.
pub trait Listener: Send + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
    /// The peer of `stream`; `None` closes it.
    fn peer(stream: &Self::Stream) -> Option<Peer>;
}

impl Listener for UnixListener {
    type Stream = UnixStream;

    async fn accept(&self) -> std::io::Result<UnixStream> {
        UnixListener::accept(self).await.map(|(stream, _)| stream)
    }

    fn peer(stream: &UnixStream) -> Option<Peer> {
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
}

/// Loopback TCP (the container credentials endpoint): the kernel does not say who connects;
/// what the router asks (a token) is the gate.
impl Listener for TcpListener {
    type Stream = TcpStream;

    async fn accept(&self) -> std::io::Result<TcpStream> {
        let (stream, _) = TcpListener::accept(self).await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    fn peer(_: &TcpStream) -> Option<Peer> {
        Some(Peer {
            uid: UNKNOWN_UID,
            pid: None,
        })
    }
}

/// At most a few warnings a minute about refused peers, then one line with how many more
/// there were: a flood of refusals cannot flood the journal.
#[derive(Debug)]
pub struct LogLimiter {
    state: Mutex<(std::time::Instant, u32, u64)>,
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self {
            state: Mutex::new((std::time::Instant::now(), 0, 0)),
        }
    }
}

impl LogLimiter {
    /// Logs per minute.
    const PER_MINUTE: u32 = 10;

    /// Whether this event may be logged; when a new minute starts, says how many were not.
    pub fn allow(&self, what: &str) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (started, logged, skipped) = &mut *state;
        if started.elapsed() >= Duration::from_secs(60) {
            if *skipped > 0 {
                warn!(count = *skipped, "{what}: more refusals were not logged");
            }
            *started = std::time::Instant::now();
            *logged = 0;
            *skipped = 0;
        }
        if *logged < Self::PER_MINUTE {
            *logged += 1;
            true
        } else {
            *skipped += 1;
            false
        }
    }
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

/// How many refused connections are answered at once (each for at most a second); more are
/// closed without an answer.
const MAX_REFUSALS: usize = 1024;

/// One open connection, as the accept loop sees it.
#[derive(Debug, Default)]
pub struct Connection {
    /// Requests accepted and not yet answered in full (a streamed body counts until its end).
    busy: AtomicUsize,
    /// Told to close once idle: at the cap, to make room.
    evict: Notify,
}

/// Counts a request as in progress on its connection from the moment its headers are read
/// until its answer's body is dropped (sent in full, or the connection gone).
struct InProgress(Arc<Connection>);

impl InProgress {
    fn start(connection: &Arc<Connection>) -> Self {
        connection.busy.fetch_add(1, Ordering::SeqCst);
        InProgress(Arc::clone(connection))
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An answer's body that holds its request's [`InProgress`] until it is dropped.
struct TrackedBody {
    inner: Body,
    _in_progress: InProgress,
}

impl HttpBody for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: BTreeMap<u64, Arc<Connection>>,
}

impl Connections {
    fn add(&mut self) -> (u64, Arc<Connection>) {
        let id = self.next_id;
        self.next_id += 1;
        let connection = Arc::new(Connection::default());
        self.open.insert(id, Arc::clone(&connection));
        (id, connection)
    }

    /// Tells the oldest idle connection to close; false when every one is busy.
    fn evict_oldest_idle(&mut self) -> bool {
        let oldest = self
            .open
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::SeqCst) == 0)
            .map(|(&id, _)| id);
        match oldest.and_then(|id| self.open.remove(&id)) {
            Some(connection) => {
                connection.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A liveness question (the watchdog's): the accept loop answers it between accepts, after
/// the router answered `GET /v1/status`, so a wedged loop, runtime or session is noticed
/// without going through the socket's path, which the service itself may not be allowed to
/// reach (a system-wide socket in a directory only its users can enter).
pub type LivenessProbe = oneshot::Sender<bool>;

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests already
/// accepted finish for at most [`SHUTDOWN_GRACE`]. With `access`, each new connection's peer
/// is checked against it (it may change while serving: a reload). Each probe that arrives on
/// `probes` is answered from the loop.
pub async fn serve<L: Listener>(
    listener: L,
    router: Router,
    access: Option<watch::Receiver<Access>>,
    max_connections: usize,
    mut probes: mpsc::Receiver<LivenessProbe>,
    shutdown: impl Future<Output = ()>,
) {
    let refusal_logs = LogLimiter::default();
    let slots = Arc::new(Semaphore::new(max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let connections = Arc::new(Mutex::new(Connections::default()));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(probe) = probes.recv() => {
                let _ = probe.send(answers_status(&router).await);
                continue;
            }
            () = &mut shutdown => break,
        };
        let Some(peer) = L::peer(&stream) else {
            continue;
        };
        if access
            .as_ref()
            .is_some_and(|a| !a.borrow().allows(peer.uid))
        {
            if refusal_logs.allow("refused connections") {
                warn!(
                    uid = peer.uid,
                    pid = peer.pid_or_zero(),
                    "refused a connection from a user that is not allowed"
                );
            }
            if let Ok(permit) = Arc::clone(&refusals).try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(permit);
                });
            }
            continue;
        }
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                let evicted = lock(&connections).evict_oldest_idle();
                if evicted {
                    debug!("at max_connections: closing the oldest idle connection");
                } else {
                    warn!(max_connections, "every connection is busy; a new one waits");
                }
                // The watchdog is still answered while every slot is busy (event streams
                // count as busy for as long as they last).
                let slot = loop {
                    tokio::select! {
                        slot = Arc::clone(&slots).acquire_owned() => break Some(slot.expect("the semaphore is never closed")),
                        Some(probe) = probes.recv() => {
                            let _ = probe.send(answers_status(&router).await);
                        }
                        () = &mut shutdown => break None,
                    }
                };
                match slot {
                    Some(slot) => slot,
                    None => break,
                }
            }
        };
        debug!(
            uid = peer.uid,
            pid = peer.pid_or_zero(),
            "connection accepted"
        );
        let (id, connection) = lock(&connections).add();
        let service = service(router.clone(), peer, Arc::clone(&connection));
        let mut stopping = stopping.clone();
        let connections = Arc::clone(&connections);
        let mut access = access.clone();
        tokio::spawn(async move {
            let serving = http1().serve_connection(TokioIo::new(Lingering::new(stream)), service);
            let mut serving = std::pin::pin!(serving);
            let ended = tokio::select! {
                result = serving.as_mut() => Some(result),
                () = connection.evict.notified() => None,
                _ = stopping.wait_for(|&stop| stop) => None,
                () = no_longer_allowed(access.as_mut(), peer.uid) => {
                    // At once, busy or not: an event stream would never finish.
                    debug!(uid = peer.uid, "closing a connection of a uid a reload removed");
                    Some(Ok(()))
                }
            };
            let result = match ended {
                Some(result) => result,
                // Told to close while idle: nothing to finish (hyper would wait for the rest
                // of partly sent headers). No request can start meanwhile: only polling
                // `serving`, here, starts one.
                None if connection.busy.load(Ordering::SeqCst) == 0 => Ok(()),
                None => {
                    serving.as_mut().graceful_shutdown();
                    serving.await
                }
            };
            if let Err(error) = result {
                debug!(%error, "connection ended with an error");
            }
            lock(&connections).open.remove(&id);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        warn!(
            "requests still open after {} s; closing them",
            SHUTDOWN_GRACE.as_secs()
        );
    }
}

/// Completes once `access` (a reload) no longer allows `uid`; never without `access`.
async fn no_longer_allowed(access: Option<&mut watch::Receiver<Access>>, uid: u32) {
    match access {
        Some(access) => {
            if access.wait_for(|a| !a.allows(uid)).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Whether `router` answers `GET /v1/status` with 200.
async fn answers_status(router: &Router) -> bool {
    let Ok(request) = Request::builder()
        .uri("/v1/status")
        .header("host", "localhost")
        .body(Body::empty())
    else {
        return false;
    };
    match router.clone().oneshot(request).await {
        Ok(response) => response.status() == axum::http::StatusCode::OK,
        Err(never) => match never {},
    }
}

/// The service for one connection from `peer`: `router`, with the peer in each request's
/// extensions and each request counted on `connection` until its answer's body is dropped.
pub fn service(
    router: Router,
    peer: Peer,
    connection: Arc<Connection>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let in_progress = InProgress::start(&connection);
        request.extensions_mut().insert(peer);
        let answer = router.clone().oneshot(request);
        async move {
            let response = answer.await?;
            Ok(response.map(|inner| {
                Body::new(TrackedBody {
                    inner,
                    _in_progress: in_progress,
                })
            }))
        }
    })
}

/// How long, and how much, a closing connection still reads and drops what its client sends.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// A connection's stream whose shutdown lingers: after the last answer its write side is shut,
/// then what the client still sends is read and dropped (at most [`LINGER_BYTES`], for at most
/// [`LINGER_TIME`]) before it is closed. A client still sending an oversized body then reads
/// its 413 instead of a failed send or a reset.
struct Lingering<S> {
    inner: S,
    /// Once shutting down: the write side is shut, the deadline, and how much was dropped.
    linger: Option<(Pin<Box<tokio::time::Sleep>>, usize)>,
}

impl<S> Lingering<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            linger: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Lingering<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    // Vectored like the stream: hyper then sends head and body in one `writev`, without first
    // copying the body into its own buffer.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.linger.is_none() {
            std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.linger = Some((Box::pin(tokio::time::sleep(LINGER_TIME)), 0));
        }
        let Some((deadline, dropped)) = this.linger.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 8192];
        loop {
            if *dropped >= LINGER_BYTES || deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = tokio::io::ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    *dropped += buf.filled().len();
                }
                // The client is done too (end of stream or an error): close.
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The HTTP/1 settings of every connection.
pub fn http1() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // A client that shuts down its write side after the request (`nc -N`, socat) still
        // gets the answer.
        .half_close(true)
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
}

fn lock(connections: &Mutex<Connections>) -> std::sync::MutexGuard<'_, Connections> {
    connections.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Answers 403 and closes. The peer's bytes are read but not parsed: only the blank line that
/// ends a request head is looked for, so the answer comes after the request as HTTP clients
/// expect (one that answered first could race a client still writing). After the answer the
/// rest is read and thrown away (at most 64 KiB), so the peer's write does not fail before it
/// reads the answer. A second in all.
async fn refuse(mut stream: impl AsyncRead + AsyncWrite + Unpin) {
    let answer = async {
        let mut buffer = [0u8; 4096];
        let mut tail = Vec::with_capacity(4096 + 3);
        let mut read = 0;
        while read < 16 * 1024 {
            let n = stream.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            read += n;
            tail.extend_from_slice(&buffer[..n]);
            if tail.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
            tail.drain(..tail.len().saturating_sub(3));
        }
        stream.write_all(&FORBIDDEN).await?;
        stream.shutdown().await?;
        let mut drained = 0;
        while drained < 64 * 1024 {
            match stream.read(&mut buffer).await? {
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
