//! Keeping the session fresh, against the fake Cognito with token lifetimes of seconds:
//! proactive refresh, single flight, rotation across a kill -9, faults, the end of a session,
//! and the event stream.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, Fault, PoolOptions, UserSpec};
use cognitod_tests::{
    PASSWORD, binary, jwt_claims, now_ms, raw_request, sign_in_alice, signed_in_with,
};
use serde_json::Value;

/// The refresh call without rotation.
const REFRESH: &str = "InitiateAuth";

fn short_lived(seconds: i64) -> PoolOptions {
    PoolOptions {
        access_token_seconds: seconds,
        id_token_seconds: seconds,
        ..PoolOptions::default()
    }
}

/// The access token's `exp` in local milliseconds, from a `/v1/session` answer.
fn expiry_ms(session: &Value) -> i64 {
    let token = session["tokens"]["accessToken"].as_str().unwrap();
    jwt_claims(token)["exp"].as_i64().unwrap() * 1000
}

/// `cognitoctl events --json`, read line by line on a thread.
struct Subscriber {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Subscriber {
    fn start(daemon: &TestDaemon) -> Subscriber {
        let mut child = Command::new(binary("cognitoctl"))
            .arg("--socket")
            .arg(&daemon.socket)
            .args(["events", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(serde_json::from_str(&line).unwrap()).is_err() {
                    break;
                }
            }
        });
        // The subscription is live once the daemon has accepted it.
        std::thread::sleep(Duration::from_millis(300));
        Subscriber { child, lines }
    }

    /// The next event, waiting up to 20 s.
    fn next(&self) -> Value {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .expect("an event arrives")
    }

    /// The next event's type, waiting up to 20 s.
    fn next_type(&self) -> String {
        self.next()["type"].as_str().unwrap().to_owned()
    }

    /// Event types until `last` (included).
    fn until(&self, last: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let kind = self.next_type();
            seen.push(kind.clone());
            if kind == last {
                return seen;
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tokens_are_replaced_ahead_of_expiry_and_no_client_ever_sees_an_expired_one() {
    let (fake, daemon) = signed_in_with(short_lived(5), "", "");
    let refreshes_before = fake.calls(REFRESH);
    let started = Instant::now();
    let mut smallest_left_ms = i64::MAX;
    let mut tokens_seen = std::collections::HashSet::new();
    let mut requests = 0;
    while started.elapsed() < Duration::from_secs(25) {
        let answer = raw_request(&daemon.socket, "GET", "/v1/session", b"");
        let received = now_ms();
        assert_eq!(answer.status, 200, "{}", answer.body);
        let session = answer.json();
        let left = expiry_ms(&session) - received;
        assert!(left > 0, "a client got a token {left} ms past its expiry");
        smallest_left_ms = smallest_left_ms.min(left);
        tokens_seen.insert(
            session["tokens"]["accessToken"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        requests += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let refreshes = fake.calls(REFRESH) - refreshes_before;
    println!(
        "5 s tokens for 25 s: {refreshes} refresh calls, {} distinct tokens over {requests} requests, smallest lifetime left {smallest_left_ms} ms",
        tokens_seen.len()
    );
    assert!(refreshes >= 10, "at least 10 cycles: {refreshes}");
    assert!(tokens_seen.len() >= 10);
    let status = raw_request(&daemon.socket, "GET", "/v1/status", b"").json();
    assert_eq!(status["lastRefresh"]["ok"], true, "{status}");
    assert!(status["nextRefreshAt"].is_string(), "{status}");
}

#[test]
fn two_hundred_clients_at_expiry_share_one_refresh() {
    let (fake, mut daemon) = signed_in_with(short_lived(3), "", "");
    assert!(daemon.stop().success());
    std::thread::sleep(Duration::from_millis(3500));
    fake.fail_next(REFRESH, Fault::Delay(Duration::from_secs(2)), 1);
    let before = fake.calls(REFRESH);
    daemon.restart();
    let socket = daemon.socket.clone();
    let clients: Vec<_> = (0..200)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let answer = raw_request(&socket, "GET", "/v1/session", b"");
                (answer.status, answer.body, now_ms())
            })
        })
        .collect();
    for client in clients {
        let (status, body, received) = client.join().unwrap();
        assert_eq!(status, 200, "{body}");
        let session: Value = serde_json::from_str(&body).unwrap();
        assert!(
            expiry_ms(&session) > received,
            "an expired token was handed out"
        );
    }
    assert_eq!(
        fake.calls(REFRESH) - before,
        1,
        "one upstream refresh for 200 clients"
    );
}

#[test]
fn a_forced_refresh_refreshes_now_and_concurrent_ones_share_it() {
    let (fake, daemon) = signed_in_with(short_lived(3600), "", "");
    fake.fail_next(REFRESH, Fault::Delay(Duration::from_secs(1)), 1);
    let before = fake.calls(REFRESH);
    let socket = daemon.socket.clone();
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                raw_request(&socket, "GET", "/v1/session?forceRefresh=true", b"").status
            })
        })
        .collect();
    for client in clients {
        assert_eq!(client.join().unwrap(), 200);
    }
    assert_eq!(fake.calls(REFRESH) - before, 1);
    let forced = daemon.ctl(&["session", "--force-refresh"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_eq!(
        fake.calls(REFRESH) - before,
        2,
        "a later forced refresh is a new one"
    );
}

fn rotation(grace: i64) -> PoolOptions {
    PoolOptions {
        refresh_token_rotation: true,
        rotation_grace_seconds: grace,
        ..PoolOptions::default()
    }
}

/// Kills the daemon while the fake holds back its answer to a rotating refresh it already
/// performed, then restarts it.
/// Starts a forced rotating refresh whose answer the fake holds back for 3 s after it
/// rotated, and returns once the fake has the call (the asker's connection, not read).
fn rotating_refresh_held_back(fake: &FakeCognito, daemon: &TestDaemon) -> UnixStream {
    fake.fail_next(
        "GetTokensFromRefreshToken",
        Fault::DelayAnswer(Duration::from_secs(3)),
        1,
    );
    let mut asker = UnixStream::connect(&daemon.socket).unwrap();
    std::io::Write::write_all(
        &mut asker,
        b"GET /v1/session?forceRefresh=true HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.calls("GetTokensFromRefreshToken") == 0 {
        assert!(
            Instant::now() < deadline,
            "the refresh never reached the fake"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    asker
}

fn kill_during_rotation(fake: &FakeCognito, daemon: &mut TestDaemon) {
    // Asked without waiting for the answer: the daemon dies before it could give one.
    let asker = rotating_refresh_held_back(fake, daemon);
    std::thread::sleep(Duration::from_millis(500));
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(daemon.state_dir().join("session.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        stored["user"]["refreshInFlight"], true,
        "marked before the call"
    );
    daemon.kill();
    drop(asker);
    daemon.restart();
}

#[test]
fn a_kill_9_during_a_rotating_refresh_loses_nothing_inside_the_grace_period() {
    let (fake, mut daemon) = signed_in_with(rotation(60), "", "refresh_token_rotation = true\n");
    kill_during_rotation(&fake, &mut daemon);
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.calls("GetTokensFromRefreshToken") < 2 {
        assert!(
            Instant::now() < deadline,
            "no refresh at start:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        daemon.ctl(&["whoami"]).stdout.trim(),
        "alice",
        "{}",
        daemon.log()
    );
    let status = raw_request(&daemon.socket, "GET", "/v1/status", b"").json();
    assert_eq!(status["lastRefresh"]["ok"], true, "{status}");
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(daemon.state_dir().join("session.json")).unwrap(),
    )
    .unwrap();
    assert!(stored["user"].get("refreshInFlight").is_none(), "{stored}");
    // The rotated chain goes on.
    let forced = daemon.ctl(&["session", "--force-refresh"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_eq!(fake.calls(REFRESH), 1, "only the sign-in used InitiateAuth");
}

#[test]
fn without_a_grace_period_the_same_crash_ends_the_session() {
    let (fake, mut daemon) = signed_in_with(rotation(0), "", "refresh_token_rotation = true\n");
    kill_during_rotation(&fake, &mut daemon);
    let deadline = Instant::now() + Duration::from_secs(10);
    while daemon.ctl(&["whoami"]).code == 0 {
        assert!(
            Instant::now() < deadline,
            "still signed in:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(daemon.log().contains("Cognito refused the refresh token"));
}

/// Polls `/v1/session` while `fault` lasts for longer than a token lives: answers are valid
/// tokens while they last, then 503 (never 401), and fresh tokens after the fault.
fn ride_out(fault: Fault, errors_expected: bool) {
    let (fake, daemon) = signed_in_with(short_lived(4), "", "");
    let first = raw_request(&daemon.socket, "GET", "/v1/session", b"").json();
    let mut last_expiry = expiry_ms(&first);
    fake.fail_for(REFRESH, fault.clone(), Duration::from_secs(7));
    let started = Instant::now();
    let mut unavailable = 0;
    let mut recovered = false;
    while started.elapsed() < Duration::from_secs(16) {
        let answer = raw_request(&daemon.socket, "GET", "/v1/session", b"");
        let received = now_ms();
        match answer.status {
            200 => {
                let session = answer.json();
                let expiry = expiry_ms(&session);
                assert!(
                    expiry > received,
                    "{fault:?}: an expired token was handed out"
                );
                if expiry > last_expiry && started.elapsed() > Duration::from_secs(7) {
                    recovered = true;
                }
                last_expiry = last_expiry.max(expiry);
            }
            503 => {
                assert_eq!(answer.error_code(), "UpstreamUnavailable");
                assert!(
                    received >= last_expiry - 1500,
                    "{fault:?}: 503 while a token had {} ms left",
                    last_expiry - received
                );
                unavailable += 1;
            }
            other => panic!("{fault:?}: HTTP {other}: {}", answer.body),
        }
        if recovered {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        recovered,
        "{fault:?}: no fresh token after the fault cleared:\n{}",
        daemon.log()
    );
    if errors_expected {
        assert!(
            unavailable > 0,
            "{fault:?}: the outage outlived the tokens, yet no 503"
        );
    } else {
        assert_eq!(unavailable, 0, "{fault:?}");
    }
    assert_eq!(
        daemon.ctl(&["whoami"]).stdout.trim(),
        "alice",
        "still signed in"
    );
}

#[test]
fn an_outage_of_500s_outlives_the_tokens() {
    ride_out(Fault::Internal, true);
}

#[test]
fn throttling_outlives_the_tokens() {
    ride_out(Fault::Throttle, true);
}

#[test]
fn dropped_connections_outlive_the_tokens() {
    ride_out(Fault::Drop, true);
}

#[test]
fn a_slow_refresh_is_waited_for() {
    ride_out(Fault::Delay(Duration::from_secs(2)), false);
}

#[test]
fn a_revoked_refresh_token_ends_the_session_with_both_events_in_order() {
    let fake = FakeCognito::start(short_lived(3600));
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let daemon = TestDaemon::start(&fake.config_toml());
    let events = Subscriber::start(&daemon);
    sign_in_alice(&daemon);
    assert_eq!(events.next_type(), "signedIn");
    assert_eq!(daemon.ctl(&["session", "--force-refresh"]).code, 0);
    assert_eq!(events.next_type(), "tokenRefresh");

    fake.with_pool(|pool| pool.revoke_refresh_tokens("alice"));
    let refused = raw_request(&daemon.socket, "GET", "/v1/session?forceRefresh=true", b"");
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.error_code(), "UserUnAuthenticatedException");
    let suggestion = refused.json()["error"]["recoverySuggestion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(suggestion.contains("cognitoctl login"), "{suggestion}");
    assert_eq!(
        events.until("signedOut"),
        ["tokenRefresh_failure", "signedOut"]
    );

    assert_eq!(daemon.ctl(&["whoami"]).code, 1);
    let stored = std::fs::read_to_string(daemon.state_dir().join("session.json")).unwrap();
    assert!(
        !stored.contains("alice"),
        "the persisted session is gone: {stored}"
    );
}

#[test]
fn expiry_without_a_refresh_is_announced_and_status_shows_the_outage() {
    let (fake, daemon) = signed_in_with(short_lived(3), "", "");
    let events = Subscriber::start(&daemon);
    fake.fail_for(REFRESH, Fault::Internal, Duration::from_secs(60));
    let seen = events.until("sessionExpired");
    assert!(
        seen.iter()
            .all(|t| t == "tokenRefresh_failure" || t == "sessionExpired"),
        "{seen:?}"
    );
    assert!(seen.len() >= 2, "{seen:?}");
    let status = daemon.ctl(&["status", "--json"]);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["state"], "signedIn");
    assert_eq!(status["lastRefresh"]["ok"], false);
    assert!(status["consecutiveFailures"].as_u64().unwrap() >= 1);
    assert_eq!(status["upstream"], "degraded");
    let human = daemon.ctl(&["status"]).stdout;
    assert!(
        human.contains("refreshes in") || human.contains("refreshes 0 s ago"),
        "{human}"
    );
    assert!(human.contains("failures in a row"), "{human}");
}

#[test]
fn a_credentials_write_during_a_rotating_refresh_keeps_the_in_flight_mark() {
    let fake = FakeCognito::start(rotation(60));
    fake.add_user(UserSpec::new("alice", cognitod_tests::PASSWORD));
    let daemon = TestDaemon::start(&format!(
        "{}refresh_token_rotation = true\n",
        fake.config_toml_with_identity_pool()
    ));
    cognitod_tests::sign_in_alice(&daemon);
    assert_eq!(daemon.ctl(&["credentials"]).code, 0);
    let asker = rotating_refresh_held_back(&fake, &daemon);
    // New credentials are written while the rotating refresh waits for its answer.
    assert_eq!(daemon.ctl(&["credentials", "--force-refresh"]).code, 0);
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(daemon.state_dir().join("session.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        stored["user"]["refreshInFlight"], true,
        "a restart now must still know the refresh was sent: {stored}"
    );
    drop(asker);
}

#[test]
fn events_carry_ids_that_count_up() {
    let fake = FakeCognito::start(short_lived(3600));
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let daemon = TestDaemon::start(&fake.config_toml());
    let events = Subscriber::start(&daemon);
    sign_in_alice(&daemon);
    assert_eq!(daemon.ctl(&["session", "--force-refresh"]).code, 0);
    let first = events.next();
    let second = events.next();
    assert_eq!(first["type"], "signedIn");
    assert_eq!(second["type"], "tokenRefresh");
    let (a, b) = (
        first["id"].as_u64().unwrap(),
        second["id"].as_u64().unwrap(),
    );
    assert_eq!(b, a + 1, "{first} {second}");
    // The SSE frame carries it too, for EventSource's Last-Event-ID.
    let mut stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(daemon.ctl(&["session", "--force-refresh"]).code, 0);
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !line.starts_with("id:") {
        assert!(Instant::now() < deadline, "no id: line");
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    assert_eq!(line.trim(), format!("id: {}", b + 1));
}

#[test]
fn a_global_sign_out_with_expired_tokens_refreshes_first() {
    let (fake, daemon) = signed_in_with(short_lived(4), "", "");
    let session = raw_request(&daemon.socket, "GET", "/v1/session", b"").json();
    // No refresh gets through until the tokens have expired (a suspended laptop, an outage).
    fake.fail_for(REFRESH, Fault::Internal, Duration::from_secs(120));
    let expired_at = expiry_ms(&session);
    std::thread::sleep(Duration::from_millis(
        u64::try_from(expired_at + 500 - now_ms()).unwrap_or(0),
    ));
    fake.fail_for(REFRESH, Fault::Internal, Duration::ZERO);
    let logout = daemon.ctl(&["logout", "--global"]);
    assert_eq!(
        logout.code, 0,
        "GlobalSignOut got a fresh access token: {logout:?}"
    );
    assert_eq!(logout.stdout.trim(), "signed out everywhere");
    assert_eq!(fake.calls("GlobalSignOut"), 1);
}

/// With rotation, every refresh a sign-out makes for an access token hands out a new refresh
/// token: the retries use the newest one (Cognito forgets the old ones at once here), until
/// the global sign-out gets through.
#[test]
fn a_global_sign_out_retried_with_rotation_follows_the_rotated_token() {
    const ROTATING: &str = "GetTokensFromRefreshToken";
    let options = PoolOptions {
        refresh_token_rotation: true,
        rotation_grace_seconds: 0,
        ..short_lived(4)
    };
    let (fake, daemon) = signed_in_with(options, "", "refresh_token_rotation = true\n");
    let session = raw_request(&daemon.socket, "GET", "/v1/session", b"").json();
    fake.fail_for(ROTATING, Fault::Internal, Duration::from_secs(120));
    let expired_at = expiry_ms(&session);
    std::thread::sleep(Duration::from_millis(
        u64::try_from(expired_at + 500 - now_ms()).unwrap_or(0),
    ));
    fake.fail_for(ROTATING, Fault::Internal, Duration::ZERO);
    fake.fail_next("GlobalSignOut", Fault::Internal, 2);
    let logout = daemon.ctl(&["logout", "--global"]);
    assert_eq!(logout.code, 4, "Cognito failed the first try: {logout:?}");
    daemon.wait_for_log("the sign-out reached Cognito on a retry", 1);
    assert_eq!(fake.calls("GlobalSignOut"), 3);
    assert!(
        fake.with_pool(|p| p.refresh_tokens("alice"))
            .iter()
            .all(|(_, r)| r.revoked),
        "every refresh token of alice is revoked"
    );
}
