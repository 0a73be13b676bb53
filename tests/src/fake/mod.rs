//! A strict fake Cognito user pool, served over HTTP on 127.0.0.1 with the JSON 1.1 protocol.
//!
//! Strict where Cognito is: real SRP verification with single-use `SECRET_BLOCK`s and a clock
//! window, `SECRET_HASH` checks, RS256 tokens from two keys with lifetimes in seconds,
//! NEW_PASSWORD_REQUIRED with a password policy, real TOTP, MFA selection and setup,
//! revocation that sticks, and the account calls (sign-up with codes that expire and lock,
//! passwords, attributes, MFA preferences, DeleteUser). Every request is first checked against
//! AWS's published model of its service, as Cognito checks it ([`model`]). It counts calls per
//! action and injects faults on demand.

mod login;
pub mod model;
pub mod pool;
pub mod srp;
pub mod tls;
pub mod totp;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub use pool::{
    CodePurpose, CognitoFault, Device, DeviceTracking, Mfa, MfaSettings, PoolOptions, PoolState,
    UserSpec,
};

/// A fault to inject into the next calls of an action.
#[derive(Debug, Clone)]
pub enum Fault {
    /// HTTP 500 `InternalErrorException`.
    Internal,
    /// HTTP 400 `TooManyRequestsException`.
    Throttle,
    /// Wait, then answer normally.
    Delay(Duration),
    /// Close the connection without an answer.
    Drop,
    /// Do the action, then wait before answering (a client that dies meanwhile never hears
    /// what the pool did).
    DelayAnswer(Duration),
}

#[derive(Debug, Default)]
struct Shared {
    pool: Option<PoolState>,
    calls: HashMap<String, u64>,
    faults: HashMap<String, VecDeque<Fault>>,
    /// Faults for every call of an action until an instant.
    windows: HashMap<String, (Fault, std::time::Instant)>,
    /// Calls of an action being answered now, and the most there ever were at once.
    in_flight: HashMap<String, (usize, usize)>,
    /// Every secret that crossed the fake (passwords asked, tokens, keys and sessions issued),
    /// for the secret sweep (see [`crate::sweep_dir`]).
    secrets: Vec<String>,
    /// The `ClientMetadata` of the last call of each action (what the pool's Lambda triggers
    /// would get; `None`: that call had none).
    client_metadata: HashMap<String, Option<Value>>,
}

/// The values under these keys, in requests and answers, are secrets.
const SECRET_KEYS: [&str; 14] = [
    "PASSWORD",
    "NEW_PASSWORD",
    "Password",
    "PreviousPassword",
    "ProposedPassword",
    "AccessToken",
    "IdToken",
    "RefreshToken",
    "SecretKey",
    "SessionToken",
    "Session",
    "SecretCode",
    "REFRESH_TOKEN",
    "Token",
];

/// Collects the secrets in `value` (at any depth): each value under a [`SECRET_KEYS`] key, and
/// a JWT's signature on its own.
fn collect_secrets(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match inner {
                    Value::String(text) if SECRET_KEYS.contains(&key.as_str()) => {
                        into.push(text.clone());
                        if let Some(signature) = text.split('.').nth(2) {
                            into.push(signature.to_owned());
                        }
                    }
                    _ => collect_secrets(inner, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_secrets(item, into)),
        _ => {}
    }
}

/// Counts a call as in flight until dropped (answered, or its connection gone).
struct InFlight {
    shared: SharedState,
    action: String,
}

impl InFlight {
    fn start(shared: &SharedState, action: &str) -> Self {
        let mut locked = lock(shared);
        let (now, most) = locked.in_flight.entry(action.to_owned()).or_default();
        *now += 1;
        *most = (*most).max(*now);
        InFlight {
            shared: Arc::clone(shared),
            action: action.to_owned(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some((now, _)) = lock(&self.shared).in_flight.get_mut(&self.action) {
            *now -= 1;
        }
    }
}

type SharedState = Arc<Mutex<Shared>>;

fn lock(shared: &SharedState) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The fake, running on its own thread until dropped.
#[derive(Debug)]
pub struct FakeCognito {
    pub endpoint: String,
    shared: SharedState,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeCognito {
    /// The fake over plain HTTP.
    pub fn start(options: PoolOptions) -> FakeCognito {
        Self::start_with(options, None)
    }

    /// The fake over HTTPS with a certificate from a fresh test CA, whose PEM is written to
    /// the returned path (for `ca_file`).
    pub fn start_https(options: PoolOptions) -> (FakeCognito, PathBuf) {
        let pki = tls::generate();
        let ca_pem = pki.ca_pem.clone();
        let fake = Self::start_with(options, Some(pki));
        let path = fake.dir.path().join("test-ca.pem");
        std::fs::write(&path, ca_pem).expect("CA written");
        (fake, path)
    }

    fn start_with(options: PoolOptions, pki: Option<tls::TestPki>) -> FakeCognito {
        model::ensure_loaded();
        let shared: SharedState = Arc::new(Mutex::new(Shared {
            pool: Some(PoolState::new(options)),
            ..Shared::default()
        }));
        let https = pki.is_some();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let router = login::routes(
            Router::new()
                .route("/", post(dispatch))
                .route("/{pool_id}/.well-known/jwks.json", get(jwks)),
        )
        .with_state(Arc::clone(&shared));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the fake");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a loopback port");
                let port = listener.local_addr().expect("bound").port();
                ready_tx.send(port).expect("the starter waits");
                match pki {
                    None => axum::serve(listener, router)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await
                        .expect("the fake serves"),
                    Some(pki) => serve_tls(listener, router, pki.acceptor, stopped).await,
                }
            });
        });
        let port = ready_rx.recv().expect("the fake starts");
        let scheme = if https { "https" } else { "http" };
        FakeCognito {
            endpoint: format!("{scheme}://127.0.0.1:{port}"),
            shared,
            dir: tempfile::tempdir().expect("a temporary folder"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Runs `f` on the pool's state.
    pub fn with_pool<T>(&self, f: impl FnOnce(&mut PoolState) -> T) -> T {
        f(lock(&self.shared).pool.as_mut().expect("the pool exists"))
    }

    pub fn options(&self) -> PoolOptions {
        self.with_pool(|pool| pool.options.clone())
    }

    /// Creates a user; returns the canonical username.
    pub fn add_user(&self, spec: UserSpec) -> String {
        lock(&self.shared).secrets.push(spec.password.clone());
        self.with_pool(|pool| pool.add_user(spec))
    }

    /// How many calls of `action` the fake has answered (faults included).
    pub fn calls(&self, action: &str) -> u64 {
        lock(&self.shared).calls.get(action).copied().unwrap_or(0)
    }

    /// The most calls of `action` the fake was ever answering at the same time.
    pub fn max_in_flight(&self, action: &str) -> usize {
        lock(&self.shared)
            .in_flight
            .get(action)
            .map_or(0, |&(_, most)| most)
    }

    /// Makes the next `times` calls of `action` fail with `fault`.
    pub fn fail_next(&self, action: &str, fault: Fault, times: usize) {
        let mut shared = lock(&self.shared);
        let queue = shared.faults.entry(action.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// Makes every call of `action` fail with `fault` for the next `duration`.
    pub fn fail_for(&self, action: &str, fault: Fault, duration: Duration) {
        lock(&self.shared).windows.insert(
            action.to_owned(),
            (fault, std::time::Instant::now() + duration),
        );
    }

    /// A token of the fake's external OIDC provider for `subject`, valid `seconds` (recorded
    /// for the secret sweep).
    pub fn oidc_token(&self, subject: &str, seconds: i64) -> String {
        let now = cognitod_proto::Timestamp::now().unix();
        let token = self.with_pool(|pool| pool.oidc_token(subject, now, seconds));
        lock(&self.shared).secrets.push(token.clone());
        if let Some(signature) = token.split('.').nth(2) {
            lock(&self.shared).secrets.push(signature.to_owned());
        }
        token
    }

    /// The `ClientMetadata` the last `action` call carried (`None`: none).
    pub fn client_metadata(&self, action: &str) -> Option<Value> {
        lock(&self.shared)
            .client_metadata
            .get(action)
            .cloned()
            .flatten()
    }

    /// Authorization codes the managed login exchanged for tokens.
    pub fn codes_redeemed(&self) -> u64 {
        self.with_pool(|pool| pool.login.codes_redeemed)
    }

    /// The last SMS or email code "sent" to a user.
    pub fn sent_code(&self, username: &str) -> Option<String> {
        self.with_pool(|pool| pool.sent_codes.get(username).cloned())
    }

    /// The last code the account calls (SignUp, ForgotPassword, attribute verification) sent
    /// a user (canonical name or sign-in alias) for `purpose`.
    pub fn account_code(&self, username: &str, purpose: CodePurpose) -> Option<String> {
        self.with_pool(|pool| pool.account_code(username, purpose))
    }

    /// Whether a user (canonical name or sign-in alias) exists.
    pub fn user_exists(&self, username: &str) -> bool {
        self.with_pool(|pool| pool.user_exists(username))
    }

    /// A user's attributes as GetUser lists them (empty for an unknown user).
    pub fn user_attributes(&self, username: &str) -> BTreeMap<String, String> {
        self.with_pool(|pool| pool.user_attributes(username))
    }

    /// A user's MFA settings (`None` for an unknown user).
    pub fn mfa_settings(&self, username: &str) -> Option<MfaSettings> {
        self.with_pool(|pool| pool.mfa_settings(username))
    }

    /// The daemon's config for this pool: the Cognito keys, and `client_secret_file` when the
    /// client has a secret.
    pub fn config_toml(&self) -> String {
        self.config(false)
    }

    /// [`FakeCognito::config_toml`] with the identity pool too (AWS credentials).
    pub fn config_toml_with_identity_pool(&self) -> String {
        self.config(true)
    }

    fn config(&self, with_identity_pool: bool) -> String {
        let options = self.options();
        let mut text = format!(
            "aws_region = \"{}\"\nuser_pool_id = \"{}\"\nuser_pool_client_id = \"{}\"\nuser_pool_endpoint = \"{}\"\n",
            options.region, options.pool_id, options.client_id, self.endpoint
        );
        if with_identity_pool {
            text.push_str(&format!(
                "identity_pool_id = \"{}\"\nidentity_pool_endpoint = \"{}\"\nunauthenticated_identities_enabled = {}\n",
                options.identity_pool_id, self.endpoint, options.allow_unauthenticated
            ));
        }
        if let Some(secret) = &options.client_secret {
            let path: PathBuf = self.dir.path().join("client-secret");
            std::fs::write(&path, format!("{secret}\n")).expect("secret written");
            text.push_str(&format!("client_secret_file = \"{}\"\n", path.display()));
        }
        text
    }

    /// An `[oauth]` section for the daemon: the fake's managed login at its endpoint, coming
    /// back to `redirect_uri` (and after `/logout` to `logout_uri`). The pool must have them
    /// among its callback and sign-out URLs.
    pub fn oauth_toml(&self, redirect_uri: &str, logout_uri: Option<&str>) -> String {
        let logout = logout_uri
            .map(|uri| format!("logout_uri = \"{uri}\"\n"))
            .unwrap_or_default();
        format!(
            "[oauth]\ndomain = \"fake.auth.{}.amazoncognito.com\"\nendpoint = \"{}\"\nredirect_uri = \"{redirect_uri}\"\n{logout}identity_providers = [\"COGNITO\", \"{}\"]\n",
            self.options().region,
            self.endpoint,
            pool::TEST_IDP,
        )
    }

    /// Asks the fake, over HTTP like any client, for tokens from `refresh_token`.
    pub fn refresh_with(&self, refresh_token: &str, username: &str) -> Result<Value, String> {
        let options = self.options();
        let mut params = json!({"REFRESH_TOKEN": refresh_token});
        if let Some(secret) = &options.client_secret {
            params["SECRET_HASH"] = json!(pool::secret_hash(secret, username, &options.client_id));
        }
        let body = json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": options.client_id,
                          "AuthParameters": params});
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                "AWSCognitoIdentityProviderService.InitiateAuth",
            )
            .body(body.to_string())
            .send()
            .map_err(|e| e.to_string())?;
        let ok = response.status().is_success();
        let value: Value = response.json().map_err(|e| e.to_string())?;
        if ok {
            Ok(value)
        } else {
            Err(value["__type"].as_str().unwrap_or("?").to_owned())
        }
    }
}

impl Drop for FakeCognito {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(dir) = crate::sweep_dir() {
            let mut shared = lock(&self.shared);
            let mut secrets = std::mem::take(&mut shared.secrets);
            if let Some(pool) = shared.pool.as_mut() {
                secrets.append(&mut pool.login.secrets);
            }
            drop(shared);
            let path = dir.join(format!("secrets-{}.txt", crate::unique_name()));
            let _ = std::fs::write(path, secrets.join("\n"));
        }
    }
}

/// Serves `router` over TLS until `stopped`.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    acceptor: tokio_rustls::TlsAcceptor,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
            _ = &mut stopped => return,
        };
        let acceptor = acceptor.clone();
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            if let Ok(tls) = acceptor.accept(tcp).await {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            }
        });
    }
}

async fn jwks(State(shared): State<SharedState>) -> Response {
    let keys = lock(&shared).pool.as_ref().expect("the pool exists").jwks();
    axum::Json(keys).into_response()
}

async fn dispatch(State(shared): State<SharedState>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some((service, action)) = target
        .strip_prefix("AWSCognitoIdentityProviderService.")
        .map(|action| (model::IDENTITY_PROVIDER, action))
        .or_else(|| {
            let action = target.strip_prefix("AWSCognitoIdentityService.")?;
            Some((model::IDENTITY, action))
        })
    else {
        return error(&pool_fault(
            "UnknownOperationException",
            format!("unknown target {target:?}"),
        ));
    };
    let action = action.to_owned();
    let _in_flight = InFlight::start(&shared, &action);
    let fault = {
        let mut shared = lock(&shared);
        *shared.calls.entry(action.clone()).or_default() += 1;
        let window = shared
            .windows
            .get(&action)
            .filter(|(_, until)| std::time::Instant::now() < *until)
            .map(|(fault, _)| fault.clone());
        window.or_else(|| shared.faults.get_mut(&action).and_then(VecDeque::pop_front))
    };
    match fault {
        Some(Fault::Internal) => {
            return error(&CognitoFault {
                status: 500,
                kind: "InternalErrorException",
                message: "injected fault".into(),
            });
        }
        Some(Fault::Throttle) => {
            return error(&pool_fault(
                "TooManyRequestsException",
                "Rate exceeded".into(),
            ));
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Drop) => return dropped_connection(),
        Some(Fault::DelayAnswer(_)) | None => {}
    }

    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/x-amz-json-1.1" {
        return error(&pool_fault(
            "SerializationException",
            format!("Content-Type must be application/x-amz-json-1.1, not {content_type:?}"),
        ));
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(&pool_fault(
            "SerializationException",
            "body is not JSON".into(),
        ));
    };
    let now = cognitod_proto::Timestamp::now().unix();
    let mut secrets = Vec::new();
    collect_secrets(&request, &mut secrets);
    lock(&shared).secrets.extend(secrets);
    let answer = model::validate(service, &action, &request).and_then(|()| {
        let mut shared = lock(&shared);
        shared
            .client_metadata
            .insert(action.clone(), request.get("ClientMetadata").cloned());
        let pool = shared.pool.as_mut().expect("the pool exists");
        match action.as_str() {
            "InitiateAuth" => pool.initiate_auth(&request, now),
            "RespondToAuthChallenge" => pool.respond_to_auth_challenge(&request, now),
            "AssociateSoftwareToken" => pool.associate_software_token(&request, now),
            "VerifySoftwareToken" => pool.verify_software_token(&request, now),
            "GlobalSignOut" => pool.global_sign_out(&request, now),
            "RevokeToken" => pool.revoke_token(&request),
            "GetTokensFromRefreshToken" => pool.get_tokens_from_refresh_token(&request, now),
            "ConfirmDevice" => pool.confirm_device(&request, now),
            "UpdateDeviceStatus" => pool.update_device_status(&request, now),
            "ForgetDevice" => pool.forget_device(&request, now),
            "ListDevices" => pool.list_devices(&request, now),
            "SignUp" => pool.sign_up(&request, now),
            "ConfirmSignUp" => pool.confirm_sign_up(&request, now),
            "ResendConfirmationCode" => pool.resend_confirmation_code(&request, now),
            "ForgotPassword" => pool.forgot_password(&request, now),
            "ConfirmForgotPassword" => pool.confirm_forgot_password(&request, now),
            "ChangePassword" => pool.change_password(&request, now),
            "GetUser" => pool.get_user(&request, now),
            "UpdateUserAttributes" => pool.update_user_attributes(&request, now),
            "VerifyUserAttribute" => pool.verify_user_attribute(&request, now),
            "GetUserAttributeVerificationCode" => {
                pool.get_user_attribute_verification_code(&request, now)
            }
            "DeleteUserAttributes" => pool.delete_user_attributes(&request, now),
            "SetUserMFAPreference" => pool.set_user_mfa_preference(&request, now),
            "DeleteUser" => pool.delete_user(&request, now),
            "GetId" => pool.get_id(&request, now),
            "GetCredentialsForIdentity" => pool.get_credentials_for_identity(&request, now),
            other => Err(pool_fault(
                "UnknownOperationException",
                format!("the fake does not implement {other}"),
            )),
        }
    });
    if let Some(Fault::DelayAnswer(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    if let Ok(value) = &answer {
        let mut secrets = Vec::new();
        collect_secrets(value, &mut secrets);
        lock(&shared).secrets.extend(secrets);
    }
    match answer {
        // An action without an output shape (DeleteUser): an empty body.
        Ok(Value::Null) => (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.1")],
            String::new(),
        )
            .into_response(),
        Ok(value) => (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.1")],
            value.to_string(),
        )
            .into_response(),
        Err(fault) => error(&fault),
    }
}

fn pool_fault(kind: &'static str, message: String) -> CognitoFault {
    CognitoFault {
        status: 400,
        kind,
        message,
    }
}

fn error(fault: &CognitoFault) -> Response {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        [
            ("content-type", "application/x-amz-json-1.1".to_owned()),
            ("x-amzn-errortype", format!("{}:", fault.kind)),
        ],
        json!({"__type": fault.kind, "message": fault.message}).to_string(),
    )
        .into_response()
}

/// A response whose body fails at once: the client sees the connection close mid-answer.
fn dropped_connection() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, _>(std::io::Error::other("injected dropped connection"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-length", "1000")
        .body(Body::from_stream(stream))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One call over HTTP: the status and the raw body.
    fn call(fake: &FakeCognito, action: &str, body: &Value) -> (u16, String) {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/", fake.endpoint))
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                format!("AWSCognitoIdentityProviderService.{action}"),
            )
            .body(body.to_string())
            .send()
            .expect("the fake answers");
        let status = response.status().as_u16();
        (status, response.text().expect("a body"))
    }

    #[test]
    fn the_account_calls_over_http() {
        let fake = FakeCognito::start(PoolOptions::default());
        let client = fake.options().client_id;
        let password = "Correct-Horse-9";
        let (status, _) = call(
            &fake,
            "SignUp",
            &json!({"ClientId": client, "Username": "cora", "Password": password,
                    "UserAttributes": [{"Name": "email", "Value": "cora@example.com"}]}),
        );
        assert_eq!(status, 200);
        assert!(fake.user_exists("cora"));
        assert_eq!(fake.user_attributes("cora")["email_verified"], "false");
        let code = fake
            .account_code("cora", CodePurpose::SignUp)
            .expect("a code");
        let confirm = json!({"ClientId": client, "Username": "cora", "ConfirmationCode": code});
        let (status, body) = call(&fake, "ConfirmSignUp", &confirm);
        assert_eq!((status, body.as_str()), (200, "{}"));
        let (status, body) = call(&fake, "ConfirmSignUp", &confirm);
        assert_eq!(status, 400);
        assert!(body.contains("NotAuthorizedException"), "{body}");

        let sign_in = json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client,
                             "AuthParameters": {"USERNAME": "cora", "PASSWORD": password}});
        let (_, body) = call(&fake, "InitiateAuth", &sign_in);
        let tokens: Value = serde_json::from_str(&body).expect("JSON");
        let access = tokens["AuthenticationResult"]["AccessToken"].clone();
        assert_eq!(
            fake.mfa_settings("cora").map(|s| s.enabled),
            Some(Vec::new())
        );
        // DeleteUser has no output shape: an empty body.
        let (status, body) = call(&fake, "DeleteUser", &json!({"AccessToken": access}));
        assert_eq!((status, body.as_str()), (200, ""));
        assert!(!fake.user_exists("cora"));
        let (status, body) = call(&fake, "GetUser", &json!({"AccessToken": access}));
        assert_eq!(status, 400);
        assert!(body.contains("UserNotFoundException"), "{body}");
        assert!(
            lock(&fake.shared).secrets.iter().any(|s| s == password),
            "the password is a secret to sweep for"
        );
    }
}
