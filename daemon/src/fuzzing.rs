//! Entry points for the fuzz targets in `fuzz/` (cargo fuzz) and for the unit test that
//! replays their corpus and crash reproducers. Each takes arbitrary bytes; none may panic or
//! hang, and each checks what must hold of the daemon's answer to them.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use cognitod_proto::{AuthFlowType, Secret};
use hyper_util::rt::TokioIo;
use jsonwebtoken::jwk::JwkSet;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cognito::jwt::{Rules, Verifier};
use crate::cognito::wire::GetIdResponse;
use crate::cognito::{
    AssociateSoftwareTokenResponse, AuthResponse, CognitoError, GetCredentialsForIdentityResponse,
    InitiateAuthRequest, RespondToAuthChallengeRequest, UserPool, VerifySoftwareTokenResponse,
    auth, decode_answer,
};
use crate::config::Config;
use crate::paths::Environment;
use crate::server::Peer;
use crate::store::{Loaded, Store};

/// A config for a pool nobody answers for (port 9 on loopback refuses at once).
const CONFIG: &str = r#"
user_pool_id = "us-east-1_Fuzz"
user_pool_client_id = "fuzzclient"
user_pool_endpoint = "http://127.0.0.1:9"
identity_pool_endpoint = "http://127.0.0.1:9"
identity_pool_id = "us-east-1:00000000-0000-0000-0000-000000000000"

[daemon]
persist = false
"#;

/// The daemon's config for [`CONFIG`].
fn fuzz_config() -> Config {
    Config::parse(CONFIG, Path::new("fuzz.toml"), &Environment::default())
        .expect("the fuzzing config is valid")
}

/// A tokio runtime, and the daemon's router over a session that is signed out.
struct Api {
    runtime: tokio::runtime::Runtime,
    router: Router,
    _stop: tokio::sync::watch::Sender<bool>,
}

static API: LazyLock<Api> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let config = fuzz_config();
    // Event streams end at once: the router sees a daemon that is stopping.
    let (stop, stopping) = tokio::sync::watch::channel(true);
    let router = runtime.block_on(async {
        let upstream = crate::upstream(&config, None).expect("the session starts");
        crate::api::router(
            upstream.session,
            crate::audit::Audit::start(),
            stopping,
            crate::api::Ecs::Off,
        )
    });
    Api {
        runtime,
        router,
        _stop: stop,
    }
});

/// The raw bytes of one connection to the socket API: method, path, headers and body are the
/// fuzzer's. The answer, if any, is an HTTP/1.x answer and never a 500.
pub fn api_request(data: &[u8]) {
    let api = &*API;
    let router = api.router.clone();
    let answer = api.runtime.block_on(async move {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let peer = Peer { uid: 0, pid: None };
        let service = crate::server::service(router, peer, Arc::default());
        let serving = crate::server::http1().serve_connection(TokioIo::new(server), service);
        let exchange = async {
            // The daemon may answer and close before it has read everything.
            let _ = client.write_all(data).await;
            let _ = client.shutdown().await;
            let mut answer = Vec::new();
            let _ = client.read_to_end(&mut answer).await;
            answer
        };
        let both = async { tokio::join!(serving, exchange).1 };
        tokio::time::timeout(Duration::from_secs(10), both)
            .await
            .expect("the exchange ends")
    });
    if answer.is_empty() {
        return;
    }
    // HTTP/1.0 requests get HTTP/1.0 answers.
    let status = answer
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| answer.strip_prefix(b"HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .expect("an HTTP/1.x answer");
    assert_ne!(status, b"500", "{}", String::from_utf8_lossy(&answer));
}

/// Answers of Cognito, one per call, scripted by the fuzzer.
struct Scripted {
    answers: Mutex<VecDeque<(u16, Vec<u8>)>>,
}

impl Scripted {
    fn next<T: DeserializeOwned>(&self, action: &str) -> Result<T, CognitoError> {
        let (status, body) = self
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or((500, Vec::new()));
        decode_answer(action, status, None, &body)
    }
}

impl UserPool for Scripted {
    async fn initiate_auth(&self, _: InitiateAuthRequest) -> Result<AuthResponse, CognitoError> {
        self.next("InitiateAuth")
    }

    async fn respond_to_auth_challenge(
        &self,
        _: RespondToAuthChallengeRequest,
    ) -> Result<AuthResponse, CognitoError> {
        self.next("RespondToAuthChallenge")
    }

    async fn associate_software_token(
        &self,
        _: &Secret,
    ) -> Result<AssociateSoftwareTokenResponse, CognitoError> {
        self.next("AssociateSoftwareToken")
    }

    async fn verify_software_token(
        &self,
        _: &Secret,
        _: &Secret,
    ) -> Result<VerifySoftwareTokenResponse, CognitoError> {
        self.next("VerifySoftwareToken")
    }

    async fn get_tokens_from_refresh_token(
        &self,
        _: &Secret,
        _: Option<&str>,
    ) -> Result<AuthResponse, CognitoError> {
        self.next("GetTokensFromRefreshToken")
    }

    async fn revoke_token(&self, _: &Secret) -> Result<(), CognitoError> {
        self.next::<serde_json::Value>("RevokeToken").map(drop)
    }

    async fn global_sign_out(&self, _: &Secret) -> Result<(), CognitoError> {
        self.next::<serde_json::Value>("GlobalSignOut").map(drop)
    }

    async fn get_id(&self, _: Option<BTreeMap<String, Secret>>) -> Result<String, CognitoError> {
        self.next::<GetIdResponse>("GetId").map(|r| r.identity_id)
    }

    async fn get_credentials_for_identity(
        &self,
        _: &str,
        _: Option<BTreeMap<String, Secret>>,
    ) -> Result<GetCredentialsForIdentityResponse, CognitoError> {
        self.next("GetCredentialsForIdentity")
    }

    fn client_id(&self) -> &str {
        "fuzzclient"
    }

    fn secret_hash(&self, _: &str) -> Option<Secret> {
        None
    }
}

/// Cognito's answers, split at 0xFF bytes (never in UTF-8 JSON): the answers to a sign-in
/// (InitiateAuth, then RespondToAuthChallenge for SRP), a JWKS the tokens are checked
/// against, then the identity pool's GetId and GetCredentialsForIdentity. The first byte picks
/// the flow (bit 7: SRP or password) and each answer's HTTP status. Every answer is parsed and
/// used as the daemon does; whatever it holds, the outcome is a value or an error, never a
/// panic.
pub fn upstream_answer(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let mut sections = rest.split(|&b| b == 0xFF);
    let mut answer = |bits: u8| {
        let status = match bits & 3 {
            0 | 1 => 200,
            2 => 400,
            _ => 500,
        };
        (status, sections.next().unwrap_or_default().to_vec())
    };
    let initiate = answer(control);
    let respond = answer(control >> 2);
    let jwks = sections_jwks(answer(0).1);
    let get_id = answer(control >> 4);
    let credentials = answer((control >> 6) & 1);
    let flow = if control & 0x80 == 0 {
        AuthFlowType::UserSrpAuth
    } else {
        AuthFlowType::UserPasswordAuth
    };
    let pool = Scripted {
        answers: Mutex::new(VecDeque::from([initiate, respond, get_id, credentials])),
    };
    static HTTP: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);
    let verifier = Verifier::preloaded(
        HTTP.clone(),
        jwks,
        Rules {
            issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Fuzz".into(),
            client_id: "fuzzclient".into(),
        },
    );
    API.runtime.block_on(async {
        let password = Secret::new("Correct-Horse-9");
        let args = auth::SignInArgs {
            user_pool_id: "us-east-1_Fuzz",
            username: "alice",
            password: &password,
            flow,
            client_metadata: None,
            preferred: None,
            device: None,
            session: None,
        };
        let _ = auth::sign_in(&pool, &verifier, args).await;
        if let Ok(identity_id) = pool.get_id(None).await
            && let Ok(answer) = pool.get_credentials_for_identity(&identity_id, None).await
        {
            let _ = crate::session::credentials_from(answer, identity_id, false, false);
        }
    });
}

fn sections_jwks(bytes: Vec<u8>) -> JwkSet {
    serde_json::from_slice(&bytes).unwrap_or(JwkSet { keys: Vec::new() })
}

/// A config file's text. Parsing gives a config or an error naming what is wrong; a config
/// that parses prints (as `--check-config` does) and parses back to the same config.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Environment {
        home: Some("/home/fuzz".into()),
        uid: 1000,
        ..Environment::default()
    };
    let path = Path::new("/fuzz/config.toml");
    if let Ok(config) = Config::parse(text, path, &env) {
        let printed = config.to_string();
        let again = Config::parse(&printed, path, &env)
            .unwrap_or_else(|e| panic!("the printed config does not parse: {e}\n{printed}"));
        assert_eq!(again.to_string(), printed);
    }
}

static STATE_DIR: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().expect("a temporary folder"));

/// A state file's bytes. Loading gives a session, or moves the file aside; a session loads
/// into the session owner as at the daemon's start.
pub fn state_file(data: &[u8]) {
    let dir = STATE_DIR.path();
    let store = Store::new(dir);
    std::fs::write(store.path(), data).expect("state file written");
    match store.load().expect("the temporary folder is usable") {
        Loaded::Empty => panic!("the file was written"),
        Loaded::MovedAside { to, .. } => {
            assert!(!store.path().exists() && to.exists(), "moved aside");
            let _ = std::fs::remove_file(to);
        }
        Loaded::Session(_) => {
            let config = fuzz_config();
            API.runtime.block_on(async {
                let upstream =
                    crate::upstream(&config, Some(Store::new(dir))).expect("the session starts");
                let _ = upstream.session.snapshot();
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// Every input in `fuzz/<kind>/<target>/` (seeds, the corpus the fuzzer grew, the
    /// reproducers of what it found), through the target's entry point: the fuzzer's findings
    /// stay fixed without cargo fuzz.
    fn replay(target: &str, run: fn(&[u8])) {
        let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut inputs = 0;
        for kind in ["seeds", "corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| run(&data));
                assert!(outcome.is_ok(), "{} fails", path.display());
                inputs += 1;
            }
        }
        assert!(inputs > 0, "no inputs for {target}");
    }

    #[test]
    fn api_request_inputs() {
        replay("api_request", super::api_request);
    }

    #[test]
    fn upstream_answer_inputs() {
        replay("upstream_answer", super::upstream_answer);
    }

    #[test]
    fn config_inputs() {
        replay("config", super::config);
    }

    #[test]
    fn state_file_inputs() {
        replay("state_file", super::state_file);
    }
}
