//! The socket API (v1): an axum router that maps requests to session reads and commands, and
//! every error to the wire error format in one place ([`HttpError`]).

use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, FromRequest, Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cognitod_proto::{
    self as proto, Event, EventKind, SessionQuery, SignInRequest, SignOutRequest, Status,
    Timestamp, codes,
};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};
use tracing::{debug, info};

mod account;
mod error;
mod view;

pub use error::HttpError;
use error::STEP_STILL_OPEN;
use view::SessionCache;

use crate::audit::{Audit, HandOut};
use crate::server::Peer;
use crate::session::{AwsCredentials, SessionError, SessionHandle, Snapshot};

/// The content type of JSON answers.
const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// How long a request waits for a refresh it needs before it gets 503.
const REFRESH_WAIT: Duration = Duration::from_secs(10);
/// How long any request may take (a sign-in makes two or three calls to Cognito).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What the handlers share: the session, the hand-out audit, the session's answer, and a flag
/// that turns true at shutdown (it ends event streams, which would otherwise never finish).
/// Behind one `Arc`: axum clones the state for every request.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    session: SessionHandle,
    audit: Audit,
    cache: SessionCache,
    shutdown: watch::Receiver<bool>,
    ecs: Ecs,
}

/// The container credentials endpoint, as the status reports it.
#[derive(Debug, Clone)]
pub enum Ecs {
    Off,
    Serving(proto::EcsInfo),
    /// Enabled, and it could not start (why): the socket is served without it.
    Failed(String),
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<AppState> for SessionHandle {
    fn from_ref(state: &AppState) -> Self {
        state.session.clone()
    }
}

/// The router, ready to serve; `shutdown` turning true ends the event streams; hand-outs are
/// counted in `audit`.
pub fn router(
    session: SessionHandle,
    audit: Audit,
    shutdown: watch::Receiver<bool>,
    ecs: Ecs,
) -> Router {
    let router = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/session", get(session_handler))
        .route("/v1/credentials", get(credentials_handler))
        .route("/v1/credentials/process", get(process_credentials))
        .route("/v1/sign-in", post(sign_in))
        .route("/v1/sign-in/confirm", post(confirm_sign_in))
        .route("/v1/sign-in/redirect", post(start_redirect))
        .route("/v1/sign-in/redirect/complete", post(complete_redirect))
        .route("/v1/sign-out", post(sign_out))
        .route("/v1/federate", post(federate))
        .route("/v1/devices", get(list_devices))
        .route("/v1/devices/current/remember", post(remember_device))
        .route(
            "/v1/devices/current",
            axum::routing::delete(forget_current_device),
        )
        .route("/v1/devices/{key}", axum::routing::delete(forget_device))
        .route("/v1/events", get(events));
    account::routes(router, get(user))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(proto::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(timeout_and_version))
        .with_state(AppState(Arc::new(Inner {
            cache: SessionCache::start(&session),
            session,
            audit,
            shutdown,
            ecs,
        })))
}

/// Every request ends within [`REQUEST_TIMEOUT`], and every answer carries the API version
/// (one layer for both: each layer costs every request).
async fn timeout_and_version(request: Request, next: axum::middleware::Next) -> Response {
    let mut response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UPSTREAM_UNAVAILABLE,
            format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
        )
        .into_response(),
    };
    response.headers_mut().insert(
        proto::API_VERSION_HEADER,
        HeaderValue::from(proto::API_VERSION),
    );
    response
}

async fn status(State(state): State<AppState>) -> Json<Status> {
    let snapshot = state.session.snapshot();
    let signed_in = snapshot.signed_in.as_deref();
    Json(Status {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        api_version: proto::API_VERSION,
        state: snapshot.state,
        guest: signed_in.is_none() && snapshot.aws.as_ref().is_some_and(|aws| aws.guest),
        username: signed_in
            .map(|s| s.username.clone())
            .or_else(|| snapshot.pending_user.clone())
            .or_else(|| snapshot.federated.as_ref().map(|f| f.provider.clone())),
        tokens_expire_at: signed_in.map(|s| s.expires_at()),
        credentials_expire_at: snapshot.aws.as_ref().map(|aws| aws.expiration()),
        next_refresh_at: snapshot.next_refresh_at,
        last_refresh: snapshot.last_refresh.clone(),
        consecutive_failures: snapshot.consecutive_failures,
        upstream: snapshot.upstream,
        ecs: match &state.ecs {
            Ecs::Serving(info) => Some(info.clone()),
            _ => None,
        },
        ecs_error: match &state.ecs {
            Ecs::Failed(why) => Some(why.clone()),
            _ => None,
        },
        state_file_error: snapshot.state_file_error.clone(),
        // Which step, never its secret: the TOTP setup URI went to whoever started the
        // sign-in, not to every reader of the status.
        next_step: snapshot.pending_step.clone().map(|step| proto::NextStep {
            totp_setup_uri: None,
            ..step
        }),
        last_sign_out: snapshot.last_sign_out.clone(),
    })
}

async fn user(State(session): State<SessionHandle>) -> Result<Json<proto::User>, HttpError> {
    let snapshot = session.snapshot();
    if snapshot.federated.is_some() {
        return Err(SessionError::FederatedNoUser.into());
    }
    let signed_in = snapshot
        .signed_in
        .as_deref()
        .ok_or(SessionError::NotSignedIn)?;
    Ok(Json(proto::User {
        username: signed_in.username.clone(),
        user_id: signed_in.user_id.clone(),
        sign_in_details: signed_in.sign_in_details.clone(),
    }))
}

async fn session_handler(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    query: Result<Query<SessionQuery>, QueryRejection>,
) -> Result<Response, HttpError> {
    let Query(query) = query.map_err(|e| HttpError::invalid(e.body_text()))?;
    let session = &state.session;
    let snapshot = fresh_snapshot(session, query.force_refresh).await?;
    if let Some(signed_in) = snapshot.signed_in.as_deref() {
        state.audit.record(HandOut::SessionTokens {
            peer,
            username: signed_in.username.clone(),
        });
    }
    // The tokens never wait on the identity pool: credentials as they are (a fetch is started
    // when there are none); only a forced refresh waits, bounded, for new ones.
    let aws = if !session.has_identity_pool() {
        None
    } else if query.force_refresh {
        fresh_credentials(session, true)
            .await
            .map_err(|error| debug!(?error, "the session is served without AWS credentials"))
            .ok()
    } else {
        cached_credentials(session, &snapshot)
    };
    if let Some(aws) = &aws {
        state.audit.record(handout(peer, aws));
    }
    let body = match &snapshot.signed_in {
        Some(signed_in) if !query.force_refresh => {
            state.cache.body(&snapshot, signed_in, aws.as_ref())
        }
        _ => return Ok(secret_json(&view::view(&snapshot, aws.as_deref()))),
    };
    Ok(([(CONTENT_TYPE, JSON)], body).into_response())
}

/// `GET /v1/credentials`.
async fn credentials_handler(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    query: Result<Query<SessionQuery>, QueryRejection>,
) -> Result<Response, HttpError> {
    let aws = hand_out_credentials(&state, peer, query).await?;
    Ok(secret_json(&proto::CredentialsResponse {
        access_key_id: aws.access_key_id.clone(),
        secret_access_key: aws.secret_access_key.clone(),
        session_token: aws.session_token.clone(),
        expiration: aws.expiration(),
        identity_id: aws.identity_id.clone(),
    }))
}

/// `GET /v1/credentials/process`: what `credential_process` prints, ready to print.
async fn process_credentials(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    query: Result<Query<SessionQuery>, QueryRejection>,
) -> Result<Response, HttpError> {
    let aws = hand_out_credentials(&state, peer, query).await?;
    Ok(secret_json(&proto::ProcessCredentials {
        version: 1,
        access_key_id: aws.access_key_id.clone(),
        secret_access_key: aws.secret_access_key.clone(),
        session_token: aws.session_token.clone(),
        expiration: aws.expiration(),
    }))
}

/// The AWS credentials for a request (fetched first when forced or due), counted as handed
/// out to `peer`.
async fn hand_out_credentials(
    state: &AppState,
    peer: Peer,
    query: Result<Query<SessionQuery>, QueryRejection>,
) -> Result<Arc<AwsCredentials>, HttpError> {
    let Query(query) = query.map_err(|e| HttpError::invalid(e.body_text()))?;
    let aws = fresh_credentials(&state.session, query.force_refresh).await?;
    state.audit.record(handout(peer, &aws));
    Ok(aws)
}

/// A JSON answer holding secrets: serialized into a buffer that is zeroed when dropped.
fn secret_json(value: &impl serde::Serialize) -> Response {
    ([(CONTENT_TYPE, JSON)], view::serialize(value)).into_response()
}

/// A hand-out of `aws` to `peer`, as the audit counts it (never the secret).
fn handout(peer: Peer, aws: &AwsCredentials) -> HandOut {
    HandOut::AwsCredentials {
        peer,
        identity_id: aws.identity_id.clone(),
        guest: aws.guest,
    }
}

/// The cached AWS credentials when they may be handed out at `now`: not near expiry, and the
/// user's while signed in, a guest's while signed out.
fn usable(snapshot: &Snapshot, now: i64) -> Option<Arc<AwsCredentials>> {
    let signed_in = snapshot.authenticated();
    snapshot
        .aws
        .clone()
        .filter(|aws| !aws.is_expired(now) && aws.guest != signed_in)
}

/// Valid AWS credentials of `snapshot`, without waiting; when there are none (or they are
/// due), a fetch is started for whoever asks next.
fn cached_credentials(session: &SessionHandle, snapshot: &Snapshot) -> Option<Arc<AwsCredentials>> {
    let now = session.now_ms();
    let usable = usable(snapshot, now);
    match &usable {
        Some(aws) if now < aws.refresh_due_ms => {}
        Some(_) => session.wake_refresher(),
        None => {
            let session = session.clone();
            tokio::spawn(async move {
                let _ = session.credentials(false).await;
            });
        }
    }
    usable
}

/// AWS credentials a client may use: valid cached ones at once (waking the owner when they
/// are due for renewal), else a fetch shared with everyone asking, waited for at most
/// [`REFRESH_WAIT`].
pub(crate) async fn fresh_credentials(
    session: &SessionHandle,
    force: bool,
) -> Result<Arc<AwsCredentials>, HttpError> {
    let now = session.now_ms();
    if !force && let Some(aws) = usable(&session.snapshot(), now) {
        if now >= aws.refresh_due_ms {
            session.wake_refresher();
        }
        return Ok(aws);
    }
    wait_bounded(session.credentials(force), "AWS credentials").await?;
    usable(&session.snapshot(), session.now_ms()).ok_or_else(|| {
        SessionError::Retrying("no valid AWS credentials could be obtained".into()).into()
    })
}

/// Waits for the session owner at most [`REFRESH_WAIT`]; past that, 503 naming `what`.
async fn wait_bounded(
    work: impl std::future::Future<Output = Result<(), SessionError>>,
    what: &str,
) -> Result<(), HttpError> {
    match tokio::time::timeout(REFRESH_WAIT, work).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(SessionError::Retrying(format!(
            "no {what} within {} s",
            REFRESH_WAIT.as_secs()
        ))
        .into()),
    }
}

/// The session with tokens a client may use: valid ones at once (waking the refresher when
/// they are inside their lead); expired ones, or any with `force`, only after a refresh, waited
/// for at most [`REFRESH_WAIT`].
async fn fresh_snapshot(session: &SessionHandle, force: bool) -> Result<Snapshot, HttpError> {
    let snapshot = session.snapshot();
    let Some(signed_in) = snapshot.signed_in.as_deref() else {
        return Ok(snapshot);
    };
    let now = session.now_ms();
    if !force && !signed_in.is_expired(now) {
        if signed_in.refresh_due(now) {
            session.wake_refresher();
        }
        return Ok(snapshot);
    }
    wait_bounded(session.refresh(force), "fresh tokens").await?;
    let snapshot = session.snapshot();
    if snapshot
        .signed_in
        .as_deref()
        .is_some_and(|s| s.is_expired(session.now_ms()))
    {
        return Err(
            SessionError::Retrying("the tokens expired and no refresh succeeded".into()).into(),
        );
    }
    Ok(snapshot)
}

async fn sign_in(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<SignInRequest>,
) -> Result<Json<proto::SignInResponse>, HttpError> {
    info!(uid = peer.uid, pid = peer.pid_or_zero(), username = %request.username, "sign-in requested");
    Ok(Json(session.sign_in(request).await?))
}

async fn confirm_sign_in(
    State(session): State<SessionHandle>,
    JsonBody(request): JsonBody<proto::ConfirmSignInRequest>,
) -> Result<Json<proto::SignInResponse>, HttpError> {
    match session.confirm(request).await {
        Ok(response) => Ok(Json(response)),
        Err(error) => {
            let mut error = HttpError::from(error);
            // Said only when true: some refusals end the sign-in.
            if session.snapshot().pending_step.is_some() && error.status != StatusCode::CONFLICT {
                let hint = match error.error.recovery_suggestion.take() {
                    Some(first) => format!("{first}\n{STEP_STILL_OPEN}"),
                    None => STEP_STILL_OPEN.to_owned(),
                };
                Err(error.suggest(&hint))
            } else {
                Err(error)
            }
        }
    }
}

async fn sign_out(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<SignOutRequest>,
) -> Result<Json<proto::SignOutResponse>, HttpError> {
    info!(
        uid = peer.uid,
        pid = peer.pid_or_zero(),
        global = request.global,
        "sign-out requested"
    );
    let outcome = session
        .sign_out_forgetting(request.global, request.forget_device)
        .await?;
    Ok(Json(proto::SignOutResponse {
        is_signed_in: false,
        revoked: outcome.revoked,
        revoke_error: outcome.remote_error.map(|e| HttpError::from(e).error),
        retrying: outcome.retrying,
        logout_url: outcome.logout_url,
    }))
}

use crate::session::devices::DeviceOp;

/// `GET /v1/devices`: Amplify's `fetchDevices`.
async fn list_devices(
    State(session): State<SessionHandle>,
) -> Result<Json<Vec<proto::DeviceInfo>>, HttpError> {
    Ok(Json(device_op(&session, DeviceOp::List).await?))
}

/// `POST /v1/devices/current/remember`: Amplify's `rememberDevice`.
async fn remember_device(
    State(session): State<SessionHandle>,
) -> Result<Json<serde_json::Value>, HttpError> {
    device_change(&session, DeviceOp::RememberCurrent).await
}

/// `DELETE /v1/devices/current`: Amplify's `forgetDevice()`.
async fn forget_current_device(
    State(session): State<SessionHandle>,
) -> Result<Json<serde_json::Value>, HttpError> {
    device_change(&session, DeviceOp::ForgetCurrent).await
}

/// `op` on the user's devices, with tokens that are fresh enough for Cognito.
async fn device_op(
    session: &SessionHandle,
    op: DeviceOp,
) -> Result<Vec<proto::DeviceInfo>, HttpError> {
    fresh_snapshot(session, false).await?;
    Ok(session.devices(op).await?)
}

/// A change to the user's devices; answers `{}`.
async fn device_change(
    session: &SessionHandle,
    op: DeviceOp,
) -> Result<Json<serde_json::Value>, HttpError> {
    device_op(session, op).await?;
    Ok(Json(serde_json::json!({})))
}

/// `DELETE /v1/devices/{key}`: Amplify's `forgetDevice({device})`.
async fn forget_device(
    State(session): State<SessionHandle>,
    axum::extract::Path(key): axum::extract::Path<String>,
) -> Result<Json<serde_json::Value>, HttpError> {
    if key.is_empty()
        || key.len() > 55
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        return Err(HttpError::invalid("not a device key"));
    }
    device_change(&session, DeviceOp::Forget(key)).await
}

async fn federate(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::FederateRequest>,
) -> Result<Json<proto::FederateResponse>, HttpError> {
    info!(
        uid = peer.uid,
        pid = peer.pid_or_zero(),
        provider = request.provider.as_deref().unwrap_or("(configured)"),
        "federation requested"
    );
    Ok(Json(session.federate(request).await?))
}

async fn start_redirect(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::RedirectSignInRequest>,
) -> Result<Json<proto::RedirectSignInResponse>, HttpError> {
    info!(
        uid = peer.uid,
        pid = peer.pid_or_zero(),
        "browser sign-in requested"
    );
    Ok(Json(session.start_redirect(request).await?))
}

async fn complete_redirect(
    State(session): State<SessionHandle>,
    Extension(peer): Extension<Peer>,
    JsonBody(request): JsonBody<proto::CompleteRedirectRequest>,
) -> Result<Json<proto::SignInResponse>, HttpError> {
    info!(
        uid = peer.uid,
        pid = peer.pid_or_zero(),
        "browser sign-in callback received"
    );
    Ok(Json(session.complete_redirect(request).await?))
}

/// `GET /v1/events`: server-sent events, a `: keep-alive` comment every 30 s, `lagged` when
/// this subscriber fell behind. A slow subscriber only loses its own events: the session
/// owner never waits for it.
async fn events(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    debug!(
        uid = peer.uid,
        pid = peer.pid_or_zero(),
        "event stream opened"
    );
    let receiver = state.session.subscribe();
    let stream = futures_util::stream::unfold(
        (receiver, state.shutdown.clone()),
        |(mut receiver, mut shutdown)| async move {
            if *shutdown.borrow() {
                return None;
            }
            let event = tokio::select! {
                received = receiver.recv() => match received {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(missed)) => Event {
                        id: 0,
                        at: Timestamp::now(),
                        kind: EventKind::Lagged { missed },
                    },
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = shutdown.wait_for(|stop| *stop) => return None,
            };
            let data = serde_json::to_string(&event).unwrap_or_default();
            let mut sse = SseEvent::default().event(event.kind.name()).data(data);
            if event.id != 0 {
                sse = sse.id(event.id.to_string());
            }
            Some((Ok(sse), (receiver, shutdown)))
        },
    );
    Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(30))
            .text("keep-alive"),
    )
}

async fn not_found() -> HttpError {
    HttpError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such path")
}

async fn method_not_allowed() -> HttpError {
    HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "this path does not take that method",
    )
}

/// A JSON request body: an empty body is `{}`, unknown fields are ignored, and errors never
/// echo the body (it may hold a password).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let too_large = || {
            HttpError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::PAYLOAD_TOO_LARGE,
                format!("request body is over {} bytes", proto::MAX_BODY_BYTES),
            )
        };
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > proto::MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    HttpError::invalid("cannot read the request body")
                }
            })?;
        crate::json::from_body(&bytes)
            .map(JsonBody)
            .map_err(|e| HttpError::invalid(crate::json::describe_error("request body", &e)))
    }
}
