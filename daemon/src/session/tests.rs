//! The owner's timer loop on tokio's paused clock, against an in-process user pool.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use cognitod_proto::{AuthFlowType, EventKind, Secret, SignInRequest};
use serde_json::json;

use super::*;
use crate::cognito::jwt::Rules;
use crate::cognito::jwt::tests::{CLIENT, ISSUER, jwks, sign};
use crate::cognito::{
    AssociateSoftwareTokenResponse, AuthResponse, InitiateAuthRequest,
    RespondToAuthChallengeRequest, VerifySoftwareTokenResponse,
};

/// The wall clock moved by tokio's (paused) clock, plus any jumps of the wall clock alone (a
/// suspended machine waking, a clock set forward).
#[derive(Debug)]
struct TokioClock {
    base_ms: i64,
    base: tokio::time::Instant,
    jumped_ms: std::sync::atomic::AtomicI64,
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        self.base_ms
            + i64::try_from(self.base.elapsed().as_millis()).unwrap()
            + self.jumped_ms.load(Ordering::SeqCst)
    }
}

/// Issues tokens of `lifetime` by the test clock; refreshes fail while `failing`.
#[derive(Debug)]
struct TestPool {
    clock: Arc<TokioClock>,
    lifetime: i64,
    refreshes: AtomicU32,
    failing: AtomicBool,
}

impl TestPool {
    fn tokens(&self) -> AuthResponse {
        let now = self.clock.now_ms() / 1000;
        let exp = now + self.lifetime;
        let id = json!({"sub": "sub-1", "iss": ISSUER, "aud": CLIENT, "token_use": "id",
                        "cognito:username": "alice", "iat": now, "exp": exp});
        let access = json!({"sub": "sub-1", "iss": ISSUER, "client_id": CLIENT,
                            "token_use": "access", "username": "alice", "iat": now, "exp": exp});
        serde_json::from_value(json!({"AuthenticationResult": {
            "IdToken": sign("kid-1", &id), "AccessToken": sign("kid-2", &access),
            "RefreshToken": "refresh-1"}}))
        .unwrap()
    }
}

fn not_here() -> CognitoError {
    CognitoError::Protocol("not used in this test".into())
}

impl UserPool for TestPool {
    async fn initiate_auth(
        &self,
        request: InitiateAuthRequest,
    ) -> Result<AuthResponse, CognitoError> {
        if request.auth_flow == "REFRESH_TOKEN_AUTH" {
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(CognitoError::Service {
                    kind: "InternalErrorException".into(),
                    message: "down".into(),
                    status: 500,
                });
            }
        }
        Ok(self.tokens())
    }
    async fn respond_to_auth_challenge(
        &self,
        _: RespondToAuthChallengeRequest,
    ) -> Result<AuthResponse, CognitoError> {
        Err(not_here())
    }
    async fn associate_software_token(
        &self,
        _: &Secret,
    ) -> Result<AssociateSoftwareTokenResponse, CognitoError> {
        Err(not_here())
    }
    async fn verify_software_token(
        &self,
        _: &Secret,
        _: &Secret,
    ) -> Result<VerifySoftwareTokenResponse, CognitoError> {
        Err(not_here())
    }
    /// Rotation: a new refresh token with tokens signed by a key the pool's JWKS lacks (the
    /// answer parses; its tokens fail verification).
    async fn get_tokens_from_refresh_token(
        &self,
        _: &Secret,
        _: Option<&str>,
    ) -> Result<AuthResponse, CognitoError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let mut answer = self.tokens();
        if let Some(result) = answer.authentication_result.as_mut() {
            result.id_token = Some(Secret::new(sign("kid-unknown", &json!({"sub": "sub-1"}))));
            result.refresh_token = Some(Secret::new("refresh-rotated"));
        }
        Ok(answer)
    }
    async fn revoke_token(&self, _: &Secret) -> Result<(), CognitoError> {
        Ok(())
    }
    async fn global_sign_out(&self, _: &Secret) -> Result<(), CognitoError> {
        Ok(())
    }
    fn client_id(&self) -> &str {
        CLIENT
    }
    fn secret_hash(&self, _: &str) -> Option<Secret> {
        None
    }
}

async fn signed_in(lifetime: i64) -> (SessionHandle, Arc<TestPool>) {
    signed_in_rotating(lifetime, false).await
}

/// A session on the test clock over a [`TestPool`] issuing tokens of `lifetime`, signed out.
fn session_with(
    lifetime: i64,
    rotation: bool,
    oauth: Option<crate::config::OAuthConfig>,
) -> (SessionHandle, Arc<TestPool>) {
    let clock = Arc::new(TokioClock {
        base_ms: SystemClock.now_ms(),
        base: tokio::time::Instant::now(),
        jumped_ms: std::sync::atomic::AtomicI64::new(0),
    });
    let pool = Arc::new(TestPool {
        clock: Arc::clone(&clock),
        lifetime,
        refreshes: AtomicU32::new(0),
        failing: AtomicBool::new(false),
    });
    let verifier = Verifier::with_keys(
        jwks(),
        Rules {
            issuer: ISSUER.into(),
            client_id: CLIENT.into(),
        },
    );
    let config = SessionConfig {
        user_pool_id: "us-east-1_Test".into(),
        issuer: ISSUER.into(),
        client_id: CLIENT.into(),
        refresh_token_rotation: rotation,
        store: None,
        identity: None,
        oauth,
        federation: None,
        device_name: None,
    };
    let session = spawn(Arc::clone(&pool), Arc::new(verifier), config, clock);
    (session, pool)
}

async fn signed_in_rotating(lifetime: i64, rotation: bool) -> (SessionHandle, Arc<TestPool>) {
    let (session, pool) = session_with(lifetime, rotation, None);
    let answer = session
        .sign_in(SignInRequest {
            username: "alice".into(),
            password: Secret::new("pw"),
            auth_flow_type: Some(AuthFlowType::UserPasswordAuth),
            client_metadata: None,
            preferred_challenge: None,
        })
        .await
        .unwrap();
    assert!(answer.is_signed_in);
    (session, pool)
}

#[tokio::test(start_paused = true)]
async fn one_hour_tokens_are_refreshed_12_to_13_minutes_early_cycle_after_cycle() {
    let (session, pool) = signed_in(3600).await;
    let mut events = session.subscribe();
    tokio::time::sleep(Duration::from_secs(46 * 60)).await;
    assert_eq!(
        pool.refreshes.load(Ordering::SeqCst),
        0,
        "not before 13.2 min early"
    );
    tokio::time::sleep(Duration::from_secs(2 * 60 + 5)).await;
    assert_eq!(pool.refreshes.load(Ordering::SeqCst), 1, "by 12 min early");
    for cycle in 2..=4 {
        tokio::time::sleep(Duration::from_secs(48 * 60 + 5)).await;
        assert_eq!(pool.refreshes.load(Ordering::SeqCst), cycle);
    }
    let snapshot = session.snapshot();
    let signed_in = snapshot.signed_in.unwrap();
    assert!(!signed_in.is_expired(session.now_ms()));
    assert!(snapshot.next_refresh_at.is_some());
    let event = events.recv().await.unwrap();
    assert!(
        matches!(event.kind, EventKind::TokenRefresh { .. }),
        "{event:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_and_an_expired_token_forces_an_attempt_at_once() {
    let (session, pool) = signed_in(300).await;
    pool.failing.store(true, Ordering::SeqCst);
    // 5 min tokens refresh 60 s early; failures then back off (1 s, 2 s, 4 s, ... ceilings).
    tokio::time::sleep(Duration::from_secs(240 + 59)).await;
    let attempts = pool.refreshes.load(Ordering::SeqCst);
    assert!(attempts >= 2, "retried: {attempts}");
    assert!(attempts <= 12, "backed off, not spinning: {attempts}");
    let snapshot = session.snapshot();
    assert_eq!(snapshot.consecutive_failures, attempts);
    assert_eq!(snapshot.upstream, UpstreamHealth::Degraded);
    assert!(snapshot.last_refresh.is_some_and(|r| !r.ok));

    // Expired now: a client's request makes an attempt and gets a clear error; within 5 s
    // of the last attempt (a scheduled one may just have run) it is told to wait instead.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut waited = 0;
    let before = loop {
        let before = pool.refreshes.load(Ordering::SeqCst);
        match session.refresh(false).await {
            Err(SessionError::Retrying(_)) => break before,
            Err(SessionError::BackingOff { .. }) if waited < 6 => {
                assert_eq!(pool.refreshes.load(Ordering::SeqCst), before);
                tokio::time::sleep(Duration::from_secs(1)).await;
                waited += 1;
            }
            other => panic!("{other:?} after {waited} s"),
        }
    };
    assert_eq!(pool.refreshes.load(Ordering::SeqCst), before + 1);

    // More demand at once waits for the backoff (503 with Retry-After), no upstream call.
    let result = session.refresh(false).await;
    assert!(
        matches!(result, Err(SessionError::BackingOff { .. })),
        "{result:?}"
    );
    assert_eq!(pool.refreshes.load(Ordering::SeqCst), before + 1);

    // Cognito is back: the next request after the demand interval recovers at once.
    pool.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(5)).await;
    session.refresh(false).await.unwrap();
    let snapshot = session.snapshot();
    assert_eq!(snapshot.consecutive_failures, 0);
    assert!(!snapshot.signed_in.unwrap().is_expired(session.now_ms()));
}

#[tokio::test(start_paused = true)]
async fn concurrent_refresh_requests_share_one_call() {
    let (session, pool) = signed_in(3600).await;
    let waiters: Vec<_> = (0..50)
        .map(|_| {
            let session = session.clone();
            tokio::spawn(async move { session.refresh(true).await })
        })
        .collect();
    for waiter in waiters {
        waiter.await.unwrap().unwrap();
    }
    let calls = pool.refreshes.load(Ordering::SeqCst);
    assert_eq!(calls, 1, "50 forced refreshes at once make one call");
}

/// The wall clock jumps 2 h ahead while the monotonic timers stand still (suspend): the cached
/// tokens are judged expired at once, and the next request refreshes instead of being served
/// the expired ones.
#[tokio::test(start_paused = true)]
async fn a_wall_clock_jump_past_expiry_makes_the_next_request_refresh() {
    let (session, pool) = signed_in(3600).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(pool.refreshes.load(Ordering::SeqCst), 0);
    pool.clock
        .jumped_ms
        .store(2 * 3600 * 1000, Ordering::SeqCst);

    let stale = session.snapshot().signed_in.unwrap();
    assert!(
        stale.is_expired(session.now_ms()),
        "judged by the wall clock"
    );
    assert_eq!(
        pool.refreshes.load(Ordering::SeqCst),
        0,
        "no timer fired: only a request notices"
    );
    // What `GET /v1/session` does with expired tokens.
    session.refresh(false).await.unwrap();
    assert_eq!(pool.refreshes.load(Ordering::SeqCst), 1);
    let fresh = session.snapshot().signed_in.unwrap();
    assert!(!fresh.is_expired(session.now_ms()));
    assert_ne!(
        fresh.tokens.access_token.expose(),
        stale.tokens.access_token.expose()
    );
}

#[tokio::test(start_paused = true)]
async fn a_rotated_refresh_token_is_kept_when_the_new_tokens_are_refused() {
    let (session, pool) = signed_in_rotating(3600, true).await;
    let result = session.refresh(true).await;
    assert!(
        result.is_err(),
        "the new tokens fail verification: {result:?}"
    );
    assert_eq!(pool.refreshes.load(Ordering::SeqCst), 1);
    let snapshot = session.snapshot();
    let signed_in = snapshot.signed_in.expect("still signed in");
    assert_eq!(
        signed_in.tokens.refresh_token.as_ref().map(Secret::expose),
        Some("refresh-rotated"),
        "the retry uses the token Cognito rotated to"
    );
}

#[tokio::test(start_paused = true)]
async fn a_browser_sign_in_takes_only_its_own_callback_and_lapses_after_10_minutes() {
    let redirect_uri = "http://localhost:8976/callback";
    let (session, _pool) = session_with(
        3600,
        false,
        Some(crate::config::OAuthConfig {
            domain: "example.auth.us-east-1.amazoncognito.com".into(),
            scopes: vec!["openid".into()],
            redirect_uri: redirect_uri.into(),
            logout_uri: None,
            identity_providers: Vec::new(),
            endpoint: "https://example.auth.us-east-1.amazoncognito.com".into(),
        }),
    );
    let complete = |url: String| {
        let session = session.clone();
        async move {
            session
                .complete_redirect(cognitod_proto::CompleteRedirectRequest {
                    callback_url: Secret::new(url),
                })
                .await
        }
    };
    let started = session
        .start_redirect(cognitod_proto::RedirectSignInRequest::default())
        .await
        .unwrap();
    let state = reqwest::Url::parse(started.authorize_url.expose())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let foreign = complete(format!("{redirect_uri}?code=c&state=other")).await;
    assert!(
        matches!(
            foreign,
            Err(SessionError::RedirectRefused {
                attempt_open: true,
                ..
            })
        ),
        "{foreign:?}"
    );
    tokio::time::sleep(Duration::from_secs(10 * 60 + 1)).await;
    let late = complete(format!("{redirect_uri}?code=c&state={state}")).await;
    match late {
        Err(SessionError::RedirectRefused {
            attempt_open: false,
            message,
        }) => assert!(message.contains("expired"), "{message}"),
        other => panic!("{other:?}"),
    }
    let again = complete(format!("{redirect_uri}?code=c&state={state}")).await;
    assert!(
        matches!(again, Err(SessionError::NoPendingStep)),
        "{again:?}"
    );
}
