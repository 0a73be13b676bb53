//! The container credentials endpoint: what the AWS SDKs and CLI read through
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
//!
//! Off unless `[ecs] enabled`. It listens on loopback only and answers `GET /` with
//! `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}` to a request that carries the
//! 256-bit token (compared in constant time), names the endpoint itself in `Host` (no DNS
//! rebinding), and is not a browser's (`Origin`, `Sec-Fetch-*`). Errors are `{code, message}`,
//! the container-provider convention.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cognitod_proto::{EcsInfo, Secret};
use serde_json::json;
use tracing::{info, warn};

use crate::api::fresh_credentials;
use crate::audit::{Audit, HandOut};
use crate::server::LogLimiter;
use crate::session::SessionHandle;

/// The token files' names: `ecs-token-<port>`, so a token is tied to the port it opens (a
/// shell that kept an old endpoint's URL finds no token for it, and never sends the new one
/// to whoever took the old port).
pub const TOKEN_FILE_PREFIX: &str = "ecs-token";

/// Connections the endpoint keeps open at once; at the cap the oldest idle one makes room.
const MAX_CONNECTIONS: usize = 64;

/// A bound endpoint, ready to serve.
#[derive(Debug)]
pub struct Endpoint {
    listener: tokio::net::TcpListener,
    state: Arc<Guard>,
    pub info: EcsInfo,
}

#[derive(Debug)]
struct Guard {
    token: Secret,
    hosts: [String; 2],
    session: SessionHandle,
    audit: Audit,
    refusal_logs: LogLimiter,
}

/// Why the endpoint cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EcsError {
    #[error("cannot listen on {addr} for the container credentials endpoint: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write the container credentials token to {}: {source}", path.display())]
    Token {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Endpoint {
    /// Binds `listen` (loopback, checked by the config) and writes a new token to
    /// `token_dir/ecs-token-<port>` (0600, no trailing newline), after removing the token files
    /// of earlier runs.
    pub async fn bind(
        listen: SocketAddr,
        token_dir: &Path,
        session: SessionHandle,
        audit: Audit,
    ) -> Result<Endpoint, EcsError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| EcsError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| EcsError::Bind {
            addr: listen,
            source,
        })?;
        let path = token_dir.join(format!("{TOKEN_FILE_PREFIX}-{}", addr.port()));
        remove_stale_tokens(token_dir);
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| EcsError::Token {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let token = Secret::new(data_encoding_hex(&bytes));
        zeroize::Zeroize::zeroize(&mut bytes);
        write_token(&path, &token).map_err(|source| EcsError::Token {
            path: path.clone(),
            source,
        })?;
        // `addr` as a URL's host: 127.0.0.1:41234, [::1]:41234.
        Ok(Endpoint {
            listener,
            state: Arc::new(Guard {
                token,
                hosts: [addr.to_string(), format!("localhost:{}", addr.port())],
                session,
                audit,
                refusal_logs: LogLimiter::default(),
            }),
            info: EcsInfo {
                url: format!("http://{addr}/"),
                token_file: path.display().to_string(),
            },
        })
    }

    /// Serves until `shutdown` completes, with the socket's limits: a header-read timeout, a
    /// cap on connections where the oldest idle one makes room, bounded refusals.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        info!(url = %self.info.url, token_file = %self.info.token_file, "container credentials endpoint serving");
        let router = Router::new()
            .route("/", get(credentials))
            .fallback(|| async {
                refusal(StatusCode::NOT_FOUND, "NotFound", "only GET / is served")
            })
            .layer(axum::extract::DefaultBodyLimit::max(1024))
            .with_state(self.state);
        // No watchdog probes here: the socket's loop answers those.
        let (_, probes) = tokio::sync::mpsc::channel(1);
        crate::server::serve(
            self.listener,
            router,
            None,
            MAX_CONNECTIONS,
            probes,
            shutdown,
        )
        .await;
    }
}

async fn credentials(State(guard): State<Arc<Guard>>, headers: HeaderMap) -> Response {
    if let Err((status, code, message)) = check(&guard, &headers) {
        // Logged with the reason, never the token; at most a few a minute.
        if guard.refusal_logs.allow("container endpoint") {
            let host = headers.get("host").and_then(|v| v.to_str().ok());
            warn!(
                why = message,
                ?host,
                "refused a request on the container credentials endpoint"
            );
        }
        return refusal(status, code, message);
    }
    match fresh_credentials(&guard.session, false).await {
        Ok(aws) => {
            guard.audit.record(HandOut::ContainerCredentials {
                identity_id: aws.identity_id.clone(),
                guest: aws.guest,
            });
            axum::Json(json!({
                "AccessKeyId": aws.access_key_id,
                "SecretAccessKey": aws.secret_access_key.expose(),
                "Token": aws.session_token.expose(),
                "Expiration": aws.expiration().to_string(),
            }))
            .into_response()
        }
        Err(error) => {
            let (status, code, message) = error.parts();
            refusal(status, code, message)
        }
    }
}

/// The request's right to credentials: a browser, a foreign `Host` or a missing or wrong token
/// is refused.
/// A refusal: status, code, message.
type Refused = (StatusCode, &'static str, &'static str);

fn check(guard: &Guard, headers: &HeaderMap) -> Result<(), Refused> {
    let browser = headers.contains_key("origin")
        || headers
            .keys()
            .any(|name| name.as_str().starts_with("sec-fetch-"));
    if browser {
        return Err((
            StatusCode::FORBIDDEN,
            "Forbidden",
            "browser requests are refused",
        ));
    }
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !guard.hosts.iter().any(|h| h == host) {
        return Err((
            StatusCode::FORBIDDEN,
            "Forbidden",
            "the Host header does not name this endpoint",
        ));
    }
    let Some(given) = headers.get("authorization") else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "the Authorization token is missing",
        ));
    };
    if !crate::same_secret(given.as_bytes(), guard.token.expose().as_bytes()) {
        return Err((
            StatusCode::FORBIDDEN,
            "Forbidden",
            "the Authorization token is wrong",
        ));
    }
    Ok(())
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

/// Removes the token files earlier runs left (a daemon that was killed).
fn remove_stale_tokens(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(TOKEN_FILE_PREFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn write_token(path: &Path, token: &Secret) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".ecs-token.")
        .tempfile_in(dir)?;
    temp.write_all(token.expose().as_bytes())?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn data_encoding_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use crate::same_secret as token_matches;
    use std::time::{Duration, Instant};

    #[test]
    fn only_the_exact_token_matches() {
        let token = b"0123456789abcdef0123456789abcdef";
        assert!(token_matches(token, token));
        assert!(!token_matches(b"", token));
        assert!(!token_matches(&token[..31], token), "a prefix");
        assert!(
            !token_matches(b"0123456789abcdef0123456789abcdef0", token),
            "longer"
        );
        assert!(
            !token_matches(b"1123456789abcdef0123456789abcdef", token),
            "first byte"
        );
        assert!(
            !token_matches(b"0123456789abcdef0123456789abcdee", token),
            "last byte"
        );
    }

    /// The fastest of a few runs of `compare`.
    fn fastest(compare: impl Fn() -> bool) -> Duration {
        (0..7)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(compare());
                started.elapsed()
            })
            .min()
            .unwrap_or_default()
    }

    /// Timing over HTTP is noise on this kind of machine; the function itself is measured on
    /// inputs large enough that an early exit would show by orders of magnitude. The same
    /// measurement of `==` (which stops at the first difference) is the positive control.
    #[test]
    fn the_comparison_takes_as_long_wherever_the_inputs_differ() {
        let token = vec![b'a'; 256 * 1024];
        let mut first = token.clone();
        first[0] = b'b';
        let mut last = token.clone();
        *last.last_mut().unwrap() = b'b';

        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        let early = fastest(|| token_matches(&first, &token));
        let late = fastest(|| token_matches(&last, &token));
        let ours = ratio(late, early);
        let naive_early = fastest(|| std::hint::black_box(&first[..]) == &token[..]);
        let naive_late = fastest(|| std::hint::black_box(&last[..]) == &token[..]);
        let naive = ratio(naive_late, naive_early);
        println!("late/early difference: token_matches {ours:.2}x, == {naive:.0}x");
        assert!(naive > 20.0, "the control shows an early exit: {naive:.1}x");
        assert!(
            (0.33..3.0).contains(&ours),
            "token_matches takes {ours:.2}x as long for a late difference"
        );
    }
}
