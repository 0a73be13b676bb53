//! The library's connection to the daemon: hyper's pooled client over the Unix socket, with
//! requests addressed the hyperlocal way (`unix://<hex of the socket path>/path`) and one
//! keep-alive connection kept for the next call. Every new connection is checked before it
//! carries a byte (the socket's path, then the peer's credentials: [`crate::trust`]), which is
//! why the connector is this crate's own: hyperlocal's hides the stream the peer check needs.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::{ClientError, connect_error, trust};

/// Idle connections are dropped before the daemon's 5 s header timeout would close them, so
/// the pool never hands out one the daemon is closing.
const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

pub(crate) type Pool = hyper_util::client::legacy::Client<Checked, Full<Bytes>>;

/// A pool of (at most one idle) connections to `socket`.
pub(crate) fn pool(socket: &Path) -> Pool {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .build(Checked {
            socket: Arc::from(socket),
        })
}

/// The URI of `path` on the daemon at `socket`.
pub(crate) fn uri(socket: &Path, path: &str) -> hyper::Uri {
    hyperlocal::Uri::new(socket, path).into()
}

/// The first error of type `T` in `error`'s chain of causes.
fn cause<T: std::error::Error + 'static>(error: &hyper_util::client::legacy::Error) -> Option<&T> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(found) = cause.downcast_ref::<T>() {
            return Some(found);
        }
        source = cause.source();
    }
    None
}

/// The daemon behind a failed pooled request: the connector's own error when connecting
/// failed (not running, untrusted), else the connection's.
pub(crate) fn request_error(error: &hyper_util::client::legacy::Error) -> ClientError {
    cause::<ClientError>(error)
        .cloned()
        .unwrap_or_else(|| ClientError::Protocol(format!("the connection failed: {error}")))
}

/// Whether a request that failed on a kept connection may be sent again on a new one: never
/// after a failed connect (a new one would fail the same way); when the request never reached
/// the daemon (hyper cancelled it on a closed connection, or writing it hit a broken pipe);
/// and for a read (GET), when the connection closed before an answer.
pub(crate) fn may_retry(error: &hyper_util::client::legacy::Error, method: &hyper::Method) -> bool {
    if error.is_connect() {
        return false;
    }
    let Some(hyper_error) = cause::<hyper::Error>(error) else {
        return false;
    };
    // A broken pipe: the daemon had closed the connection before the request was written,
    // so it never saw it.
    let unwritten = std::error::Error::source(hyper_error)
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
    // Only a read may be asked again after the daemon may have seen it.
    let repeatable = *method == hyper::Method::GET;
    hyper_error.is_canceled()
        || unwritten
        || (repeatable && (hyper_error.is_incomplete_message() || hyper_error.is_closed()))
}

/// Connects to the one socket its client is for, checking it first.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    socket: Arc<Path>,
}

impl tower_service::Service<hyper::Uri> for Checked {
    type Response = Stream;
    type Error = ClientError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, ClientError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let socket = Arc::clone(&self.socket);
        Box::pin(async move {
            let expected = trust::check_path(&socket)?;
            let stream = tokio::net::UnixStream::connect(&*socket)
                .await
                .map_err(|e| connect_error(&socket, &e))?;
            trust::check_peer(&stream, &socket, expected)?;
            Ok(Stream(TokioIo::new(stream)))
        })
    }
}

/// A checked connection.
#[derive(Debug)]
pub(crate) struct Stream(TokioIo<tokio::net::UnixStream>);

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
