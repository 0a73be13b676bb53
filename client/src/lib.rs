//! A client for the cognitod socket API, used by `cognitoctl` and by Rust programs that want
//! the shared Cognito session.
//!
//! ```no_run
//! # async fn example() -> Result<(), cognitod_client::ClientError> {
//! let client = cognitod_client::Client::new(cognitod_client::default_socket());
//! let session = client.session(false).await?;
//! if let Some(tokens) = session.tokens {
//!     // use tokens.access_token.expose() as a bearer token
//! }
//! # Ok(()) }
//! ```

mod account;
pub mod blocking;
mod pool;
pub mod trust;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cognitod_proto::{
    self as proto, API_VERSION, API_VERSION_HEADER, ApiError, ConfirmSignInRequest, ErrorBody,
    Session, SignInRequest, SignInResponse, SignOutRequest, Status, User,
};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long one request may take, sign-in included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The socket to use: `$COGNITOD_SOCKET`, else `$COGNITOD_PROFILE`'s
/// ([`profile_socket`]), else the daemon's default path.
pub fn default_socket() -> PathBuf {
    if let Some(path) = std::env::var_os("COGNITOD_SOCKET").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    if let Some(profile) = env_profile() {
        return profile_socket(&profile);
    }
    unnamed_socket()
}

/// The unnamed profile's socket: `$XDG_RUNTIME_DIR/cognitod/socket`, else
/// `/tmp/cognitod-<uid>/socket`.
pub fn unnamed_socket() -> PathBuf {
    proto::default_socket_path(runtime_dir().as_deref(), rustix::process::getuid().as_raw())
}

/// `$COGNITOD_PROFILE`, when it names a profile (see [`check_env_profile`]).
pub fn env_profile() -> Option<String> {
    std::env::var("COGNITOD_PROFILE")
        .ok()
        .filter(|name| proto::is_profile_name(name))
}

/// A `$COGNITOD_PROFILE` that is set but names no profile is a mistake to say, never a reason
/// to fall back to the unnamed profile's daemon.
pub fn check_env_profile() -> Result<(), String> {
    match std::env::var_os("COGNITOD_PROFILE") {
        Some(value)
            if !value.is_empty() && value.to_str().is_none_or(|v| !proto::is_profile_name(v)) =>
        {
            Err(format!(
                "COGNITOD_PROFILE={} is not a profile name: {}",
                value.to_string_lossy(),
                proto::PROFILE_NAME_RULE
            ))
        }
        _ => Ok(()),
    }
}

/// Profile `profile`'s socket: the user's own (`$XDG_RUNTIME_DIR/cognitod/profiles/P/socket`);
/// a system-wide one (`/run/cognitod/profiles/P/socket`) only for a profile the user has not
/// configured (no `~/.config/cognitod/profiles/P.toml`), so a stopped daemon of the user's
/// never silently becomes the host's.
pub fn profile_socket(profile: &str) -> PathBuf {
    let own = proto::profile_socket_path(
        runtime_dir().as_deref(),
        rustix::process::getuid().as_raw(),
        profile,
    );
    let system = proto::system_profile_socket_path(profile);
    let configured_here = user_config_dir().is_some_and(|dir| {
        dir.join("profiles")
            .join(format!("{profile}.toml"))
            .exists()
    });
    if !own.exists() && !configured_here && system.exists() {
        system
    } else {
        own
    }
}

/// `$XDG_CONFIG_HOME/cognitod` (`~/.config/cognitod`).
pub fn user_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|base| base.join("cognitod"))
}

/// How to start the daemon that should listen on `socket`: a profile's, or the unnamed one.
fn start_hint(socket: &Path) -> String {
    let profile = socket
        .parent()
        .filter(|dir| dir.parent().and_then(Path::file_name) == Some("profiles".as_ref()))
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned());
    match profile {
        Some(p) => format!(
            "Start it with `cognitod --profile {p}` (or `systemctl --user start cognitod@{p}.socket`), or pass --socket / set COGNITOD_SOCKET."
        ),
        None => "Start it with `cognitod` (or `systemctl --user start cognitod`), or pass --socket / set COGNITOD_SOCKET.".to_owned(),
    }
}

fn runtime_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// Why an event stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The callback asked to stop.
    Stopped,
    /// The daemon closed the stream (it stopped or restarted).
    Closed,
}

/// Why a request to the daemon failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cognitod is not running (nothing listens on {})\n{}",
        .path.display(),
        start_hint(.path)
    )]
    NotRunning { path: PathBuf },
    #[error("cannot connect to cognitod at {}: {reason}", .path.display())]
    Connect { path: PathBuf, reason: String },
    /// The socket, its directories or its server are not the caller's, root's or the
    /// service's root chose: nothing was sent.
    #[error(
        "refusing to use {}: {reason}; nothing was sent\n{}",
        .path.display(),
        trust::advice(.path)
    )]
    Untrusted { path: PathBuf, reason: String },
    /// The daemon answered with an error.
    #[error("{error}")]
    Api { status: u16, error: ApiError },
    #[error(
        "cognitod speaks API version {daemon}, this client speaks {API_VERSION}\nInstall matching versions of cognitod and cognitoctl."
    )]
    Version { daemon: String },
    #[error("unexpected answer from cognitod: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The daemon's error code, when it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { error, .. } => Some(&error.code),
            _ => None,
        }
    }

    /// Whether the daemon could not be reached at all (as opposed to answering no).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::NotRunning { .. } | Self::Connect { .. } | Self::Untrusted { .. }
        )
    }
}

/// One daemon, reached over its Unix socket. Calls share one keep-alive connection (a new
/// one is checked before use); clones share it too.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    pool: pool::Pool,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        let socket = socket.into();
        Self {
            pool: pool::pool(&socket),
            socket,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/v1/status").await
    }

    /// `GET /v1/user`: the signed-in user (`UserUnAuthenticatedException` when signed out).
    pub async fn user(&self) -> Result<User, ClientError> {
        self.get("/v1/user").await
    }

    /// `GET /v1/session`, refreshing first when `force_refresh`.
    pub async fn session(&self, force_refresh: bool) -> Result<Session, ClientError> {
        if force_refresh {
            self.get("/v1/session?forceRefresh=true").await
        } else {
            self.get("/v1/session").await
        }
    }

    /// `GET /v1/credentials`: AWS credentials (the user's, else a guest's).
    pub async fn credentials(
        &self,
        force_refresh: bool,
    ) -> Result<proto::CredentialsResponse, ClientError> {
        if force_refresh {
            self.get("/v1/credentials?forceRefresh=true").await
        } else {
            self.get("/v1/credentials").await
        }
    }

    /// `POST /v1/sign-in`.
    pub async fn sign_in(&self, request: &SignInRequest) -> Result<SignInResponse, ClientError> {
        self.post("/v1/sign-in", request).await
    }

    /// `POST /v1/sign-in/confirm`.
    pub async fn confirm_sign_in(
        &self,
        request: &ConfirmSignInRequest,
    ) -> Result<SignInResponse, ClientError> {
        self.post("/v1/sign-in/confirm", request).await
    }

    /// `GET /v1/devices`: the user's remembered devices.
    pub async fn devices(&self) -> Result<Vec<proto::DeviceInfo>, ClientError> {
        self.get("/v1/devices").await
    }

    /// `POST /v1/devices/current/remember`.
    pub async fn remember_device(&self) -> Result<(), ClientError> {
        self.post::<_, serde_json::Value>("/v1/devices/current/remember", &serde_json::json!({}))
            .await
            .map(drop)
    }

    /// `DELETE /v1/devices/current`, or `/v1/devices/{key}`.
    pub async fn forget_device(&self, key: Option<&str>) -> Result<(), ClientError> {
        let path = match key {
            Some(key) => format!("/v1/devices/{key}"),
            None => "/v1/devices/current".to_owned(),
        };
        self.request::<(), serde_json::Value>(Method::DELETE, &path, None)
            .await
            .map(drop)
    }

    /// `POST /v1/federate`: an identity pool identity from an external provider's token.
    pub async fn federate(
        &self,
        request: &proto::FederateRequest,
    ) -> Result<proto::FederateResponse, ClientError> {
        self.post("/v1/federate", request).await
    }

    /// `POST /v1/sign-in/redirect`: starts a browser sign-in.
    pub async fn start_redirect(
        &self,
        request: &proto::RedirectSignInRequest,
    ) -> Result<proto::RedirectSignInResponse, ClientError> {
        self.post("/v1/sign-in/redirect", request).await
    }

    /// `POST /v1/sign-in/redirect/complete`: the URL the browser came back to.
    pub async fn complete_redirect(
        &self,
        request: &proto::CompleteRedirectRequest,
    ) -> Result<SignInResponse, ClientError> {
        self.post("/v1/sign-in/redirect/complete", request).await
    }

    /// `POST /v1/sign-out`: signed out here; whether Cognito revoked the tokens is in
    /// [`Client::sign_out_outcome`].
    pub async fn sign_out(&self, global: bool) -> Result<(), ClientError> {
        self.sign_out_outcome(global).await.map(drop)
    }

    /// Follows `GET /v1/events`, calling `on_event(type, data)` for each event until it returns
    /// false ([`StreamEnd::Stopped`]) or the daemon ends the stream ([`StreamEnd::Closed`]:
    /// it stopped or restarted).
    pub async fn events(
        &self,
        mut on_event: impl FnMut(&str, &str) -> bool,
    ) -> Result<StreamEnd, ClientError> {
        let (mut sender, connection) = self.connect().await?;
        let request = Request::builder()
            .uri("/v1/events")
            .header("host", "localhost")
            .header("accept", "text/event-stream")
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Protocol(format!("the connection failed: {e}")))?;
        check_version(response.headers().get(API_VERSION_HEADER))?;
        if !response.status().is_success() {
            return Err(ClientError::Protocol(format!(
                "events answered HTTP {}",
                response.status()
            )));
        }
        let mut body = response.into_body();
        let mut parser = SseParser::default();
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| ClientError::Protocol(format!("the stream broke: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            for (kind, data) in parser.feed(&data) {
                if !on_event(&kind, &data) {
                    connection.abort();
                    return Ok(StreamEnd::Stopped);
                }
            }
        }
        connection.abort();
        Ok(StreamEnd::Closed)
    }

    /// `POST /v1/sign-out`, with what Cognito said about it.
    pub async fn sign_out_outcome(
        &self,
        global: bool,
    ) -> Result<proto::SignOutResponse, ClientError> {
        self.sign_out_request(&SignOutRequest {
            global,
            forget_device: false,
        })
        .await
    }

    /// `POST /v1/sign-out` as `request` says (`forgetDevice` too).
    pub async fn sign_out_request(
        &self,
        request: &SignOutRequest,
    ) -> Result<proto::SignOutResponse, ClientError> {
        self.post("/v1/sign-out", request).await
    }

    /// A new HTTP/1.1 connection to the daemon, driven on its own task.
    async fn connect(
        &self,
    ) -> Result<
        (
            hyper::client::conn::http1::SendRequest<Full<Bytes>>,
            tokio::task::JoinHandle<hyper::Result<()>>,
        ),
        ClientError,
    > {
        let expected = trust::check_path(&self.socket)?;
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| self.connect_error(&e))?;
        trust::check_peer(&stream, &self.socket, expected)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((sender, tokio::spawn(connection)))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.request::<(), T>(Method::GET, path, None).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.request(Method::POST, path, Some(body)).await
    }

    async fn request<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(method, path, body))
            .await
            .map_err(|_| {
                ClientError::Protocol(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))
            })?
    }

    async fn exchange<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let body = match body {
            Some(body) => serde_json::to_vec(body)
                .map_err(|e| ClientError::Protocol(format!("cannot encode the request: {e}")))?,
            None => Vec::new(),
        };
        let body = Bytes::from(body);
        let request = || {
            Request::builder()
                .method(method.clone())
                .uri(pool::uri(&self.socket, path))
                .header("host", "localhost")
                .header("content-type", "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| ClientError::Protocol(e.to_string()))
        };
        let response = match self.pool.request(request()?).await {
            // The kept connection was closed under it (the daemon restarted, or dropped it
            // idle): once more, on a new one, when the daemon cannot have acted on it.
            Err(error) if pool::may_retry(&error, &method) => self.pool.request(request()?).await,
            other => other,
        }
        .map_err(|e| pool::request_error(&e))?;
        let status = response.status();
        check_version(response.headers().get(API_VERSION_HEADER))?;
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Protocol(format!("cannot read the answer: {e}")))?
            .to_bytes();

        if status.is_success() {
            let bytes = if bytes.is_empty() {
                &b"null"[..]
            } else {
                &bytes[..]
            };
            return serde_json::from_slice(bytes)
                .map_err(|e| ClientError::Protocol(format!("answer does not parse: {e}")));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Api {
                status: status.as_u16(),
                error: body.error,
            }),
            Err(_) => Err(ClientError::Protocol(format!(
                "HTTP {status} without an error body"
            ))),
        }
    }

    fn connect_error(&self, error: &io::Error) -> ClientError {
        connect_error(&self.socket, error)
    }
}

/// What a failed connect to `socket` means for the user.
fn connect_error(socket: &Path, error: &io::Error) -> ClientError {
    let path = socket.to_path_buf();
    match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning { path }
        }
        io::ErrorKind::PermissionDenied => ClientError::Connect {
            path,
            reason: "permission denied (the socket belongs to another user)".to_owned(),
        },
        _ => ClientError::Connect {
            path,
            reason: error.to_string(),
        },
    }
}

fn check_version(header: Option<&hyper::header::HeaderValue>) -> Result<(), ClientError> {
    let Some(value) = header else {
        return Err(ClientError::Protocol(
            "the answer has no API version; is this a cognitod socket?".to_owned(),
        ));
    };
    let text = value.to_str().unwrap_or("?");
    if text.parse::<u32>() == Ok(API_VERSION) {
        Ok(())
    } else {
        Err(ClientError::Version {
            daemon: text.to_owned(),
        })
    }
}

/// Splits a `text/event-stream` into `(event type, data)` pairs; comments are skipped.
#[derive(Debug, Default)]
struct SseParser {
    buffer: String,
    kind: String,
    data: String,
}

impl SseParser {
    fn feed(&mut self, bytes: &[u8]) -> Vec<(String, String)> {
        self.buffer.push_str(&String::from_utf8_lossy(bytes));
        let mut events = Vec::new();
        while let Some(end) = self.buffer.find('\n') {
            let line: String = self.buffer.drain(..=end).collect();
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    let kind = std::mem::take(&mut self.kind);
                    events.push((kind, std::mem::take(&mut self.data)));
                }
            } else if let Some(kind) = line.strip_prefix("event:") {
                self.kind = kind.trim_start().to_owned();
            } else if let Some(data) = line.strip_prefix("data:") {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(data.strip_prefix(' ').unwrap_or(data));
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_handles_split_frames_and_comments() {
        let mut parser = SseParser::default();
        assert!(
            parser
                .feed(b": keep-alive\n\nevent: signedIn\ndata: {\"a\"")
                .is_empty()
        );
        let events = parser.feed(b":1}\n\nevent: x\r\ndata: 2\r\n\r\n");
        assert_eq!(
            events,
            vec![
                ("signedIn".to_owned(), "{\"a\":1}".to_owned()),
                ("x".to_owned(), "2".to_owned())
            ]
        );
    }
}
