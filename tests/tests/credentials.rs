//! AWS credentials from the identity pool, against the fake: the user's and a guest's,
//! identity ids kept and linked, freshness, single flight, faults, and the CLI outputs AWS
//! clients read.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::time::{Duration, Instant};

use cognitod_tests::daemon::{TestDaemon, ctl};
use cognitod_tests::fake::{FakeCognito, Fault, PoolOptions, UserSpec};
use cognitod_tests::{PASSWORD, now_ms, raw_request, sign_in_alice, tcp_request};
use serde_json::Value;

const CREDENTIALS: &str = "GetCredentialsForIdentity";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn start(options: PoolOptions) -> (FakeCognito, TestDaemon) {
    let fake = FakeCognito::start(options);
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let daemon = TestDaemon::start(&fake.config_toml_with_identity_pool());
    (fake, daemon)
}

fn owner_of(fake: &FakeCognito, identity: &str) -> Option<String> {
    fake.with_pool(|p| p.identities.get(identity).cloned().flatten())
}

#[test]
fn a_signed_in_user_gets_credentials_in_every_form() {
    let (fake, daemon) = start(PoolOptions::default());
    sign_in_alice(&daemon);
    let credentials = daemon.ctl(&["credentials", "--json"]);
    assert_eq!(credentials.code, 0, "{credentials:?}");
    let credentials = json(&credentials.stdout);
    let key = credentials["accessKeyId"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ASIA"), "{key}");
    let identity = credentials["identityId"].as_str().unwrap().to_owned();
    let sub = json(&daemon.ctl(&["whoami", "--json"]).stdout)["userId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        owner_of(&fake, &identity),
        Some(sub),
        "the user's own identity"
    );

    let session = json(&daemon.ctl(&["session", "--json"]).stdout);
    assert_eq!(session["identityId"], identity.as_str());
    assert_eq!(session["credentials"]["accessKeyId"], key.as_str());
    // New credentials with the same tokens: the session shows them at once (its answer is
    // kept between requests only while both are the same).
    let renewed = json(
        &daemon
            .ctl(&["credentials", "--json", "--force-refresh"])
            .stdout,
    );
    let new_key = renewed["accessKeyId"].as_str().unwrap();
    assert_ne!(new_key, key);
    let session = json(&daemon.ctl(&["session", "--json"]).stdout);
    assert_eq!(session["credentials"]["accessKeyId"], new_key);
    let key = new_key.to_owned();
    let credentials = renewed;
    assert_eq!(daemon.ctl(&["identity-id"]).stdout.trim(), identity);

    let process = daemon.ctl(&["credential-process"]);
    assert_eq!(process.code, 0, "{process:?}");
    assert!(process.stderr.is_empty());
    assert!(
        process
            .stdout
            .starts_with("{\"Version\":1,\"AccessKeyId\":"),
        "{}",
        process.stdout
    );
    let output = json(&process.stdout);
    let fields: Vec<&String> = output.as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "AccessKeyId",
            "Expiration",
            "SecretAccessKey",
            "SessionToken",
            "Version"
        ]
    );
    assert_eq!(output["Version"], 1);
    assert_eq!(output["AccessKeyId"], key.as_str());
    assert_eq!(output["SecretAccessKey"], credentials["secretAccessKey"]);
    let expiration = output["Expiration"].as_str().unwrap();
    assert!(
        cognitod_proto::Timestamp::parse(expiration).is_ok(),
        "{expiration}"
    );
    // What it prints is the daemon's `/v1/credentials/process`, as it came.
    let route = raw_request(&daemon.socket, "GET", "/v1/credentials/process", b"");
    assert_eq!(route.status, 200);
    assert_eq!(format!("{}\n", route.body), process.stdout);

    let env = daemon.ctl(&["env"]).stdout;
    let names: Vec<&str> = env
        .lines()
        .map(|l| {
            l.strip_prefix("export ")
                .unwrap()
                .split('=')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_CREDENTIAL_EXPIRATION"
        ]
    );
    assert!(
        env.contains(&format!("export AWS_ACCESS_KEY_ID='{key}'")),
        "{env}"
    );

    let status = json(&daemon.ctl(&["status", "--json"]).stdout);
    assert_eq!(status["credentialsExpireAt"], credentials["expiration"]);
    assert_eq!(status["guest"], false);
    let secret = credentials["secretAccessKey"].as_str().unwrap();
    assert!(
        !daemon.log().contains(secret),
        "the secret key is never logged"
    );

    // Sign-out drops them at once.
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    let after = daemon.ctl(&["--json", "credentials"]);
    assert_eq!(after.code, 1, "{after:?}");
    assert!(
        after.error_code() == "UserUnAuthenticatedException",
        "{after:?}"
    );
    let process = daemon.ctl(&["credential-process"]);
    assert_ne!(process.code, 0);
    assert!(process.stdout.is_empty(), "{process:?}");
    assert_eq!(process.stderr.lines().count(), 1, "{process:?}");
}

#[test]
fn credential_process_without_a_daemon_says_so_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("socket");
    let output = ctl(
        &["--socket", socket.to_str().unwrap(), "credential-process"],
        None,
    );
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stdout.is_empty());
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert!(output.stderr.contains("not running"), "{output:?}");
}

/// A cognitoctl newer than its daemon (upgraded, the daemon not yet restarted): without
/// `/v1/credentials/process` (404) it reads `/v1/credentials` and prints the same format.
#[test]
fn credential_process_works_with_a_daemon_older_than_its_route() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("socket");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let asked = std::thread::spawn(move || {
        let mut asked = Vec::new();
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let path = request_line.split(' ').nth(1).unwrap().to_owned();
            let (status, body) = match path.as_str() {
                "/v1/credentials" => (
                    "200 OK",
                    r#"{"accessKeyId":"ASIAOLDER","secretAccessKey":"older-secret","sessionToken":"older-token","expiration":"2030-01-01T00:00:00Z","identityId":"us-east-1:older"}"#,
                ),
                _ => (
                    "404 Not Found",
                    r#"{"error":{"code":"NotFound","message":"no such route"}}"#,
                ),
            };
            write!(
                stream,
                "HTTP/1.1 {status}\r\ncognitod-api-version: 1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            asked.push(path);
        }
        asked
    });
    let output = ctl(
        &["--socket", socket.to_str().unwrap(), "credential-process"],
        None,
    );
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(
        output.stdout,
        "{\"Version\":1,\"AccessKeyId\":\"ASIAOLDER\",\"SecretAccessKey\":\"older-secret\",\"SessionToken\":\"older-token\",\"Expiration\":\"2030-01-01T00:00:00Z\"}\n"
    );
    assert_eq!(
        asked.join().unwrap(),
        ["/v1/credentials/process", "/v1/credentials"]
    );
}

#[test]
fn guests_keep_their_identity_and_hand_it_to_the_user_at_sign_in() {
    let options = PoolOptions {
        allow_unauthenticated: true,
        ..PoolOptions::default()
    };
    let (fake, mut daemon) = start(options);
    let guest = json(&daemon.ctl(&["credentials", "--json"]).stdout);
    let guest_id = guest["identityId"].as_str().unwrap().to_owned();
    assert_eq!(owner_of(&fake, &guest_id), None, "a guest identity");
    let session = json(&daemon.ctl(&["session", "--json"]).stdout);
    assert_eq!(session["isSignedIn"], false);
    assert_eq!(session["identityId"], guest_id.as_str());
    assert!(session["credentials"]["accessKeyId"].is_string());
    assert_eq!(
        json(&daemon.ctl(&["status", "--json"]).stdout)["guest"],
        true
    );

    let get_ids = fake.calls("GetId");
    assert!(daemon.stop().success());
    daemon.restart();
    let again = json(&daemon.ctl(&["credentials", "--json"]).stdout);
    assert_eq!(
        again["identityId"],
        guest_id.as_str(),
        "reused after a restart"
    );
    assert_eq!(fake.calls("GetId"), get_ids, "no new guest identity");

    sign_in_alice(&daemon);
    let user = json(&daemon.ctl(&["credentials", "--json"]).stdout);
    assert_eq!(
        user["identityId"],
        guest_id.as_str(),
        "the guest identity was linked"
    );
    assert!(owner_of(&fake, &guest_id).is_some());
    assert_eq!(fake.calls("GetId"), get_ids, "offered, not asked for");
}

#[test]
fn a_refused_guest_offer_falls_back_to_the_users_own_identity() {
    let options = PoolOptions {
        allow_unauthenticated: true,
        ..PoolOptions::default()
    };
    let (fake, daemon) = start(options);
    sign_in_alice(&daemon);
    let own = json(&daemon.ctl(&["credentials", "--json"]).stdout)["identityId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    let guest = json(&daemon.ctl(&["credentials", "--json"]).stdout)["identityId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(guest, own);
    sign_in_alice(&daemon);
    let back = json(&daemon.ctl(&["credentials", "--json"]).stdout);
    assert_eq!(back["identityId"], own.as_str(), "{back}");
    assert_eq!(
        owner_of(&fake, &guest),
        None,
        "the guest identity stays a guest's"
    );
}

#[test]
fn credentials_handed_out_keep_their_headroom_and_outlive_a_fault() {
    let options = PoolOptions {
        credentials_seconds: 20,
        ..PoolOptions::default()
    };
    let (fake, daemon) = start(options);
    sign_in_alice(&daemon);
    let started = Instant::now();
    let mut smallest_left = i64::MAX;
    while started.elapsed() < Duration::from_secs(25) {
        let answer = raw_request(&daemon.socket, "GET", "/v1/credentials", b"");
        assert_eq!(answer.status, 200, "{}", answer.body);
        let expiration =
            cognitod_proto::Timestamp::parse(answer.json()["expiration"].as_str().unwrap())
                .unwrap()
                .unix()
                * 1000;
        smallest_left = smallest_left.min(expiration - now_ms());
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("20 s credentials: smallest lifetime left when handed out {smallest_left} ms");
    // Renewed with half their life (10 s) left; a renewal in flight takes well under a second.
    assert!(smallest_left >= 8_000, "{smallest_left} ms left");
    assert!(fake.calls(CREDENTIALS) >= 3);

    // An outage longer than their life: cached ones while valid, then 503, then recovery.
    fake.fail_for(CREDENTIALS, Fault::Internal, Duration::from_secs(25));
    let mut last_expiration = 0;
    let mut saw_503 = false;
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(45), "no recovery");
        let answer = raw_request(&daemon.socket, "GET", "/v1/credentials", b"");
        match answer.status {
            200 => {
                let expiration =
                    cognitod_proto::Timestamp::parse(answer.json()["expiration"].as_str().unwrap())
                        .unwrap()
                        .unix()
                        * 1000;
                assert!(
                    expiration > now_ms() + 1000,
                    "credentials handed out in their last second"
                );
                if saw_503 {
                    break;
                }
                last_expiration = expiration;
            }
            503 => {
                // Not handed out in their last 10% (2 s of 20 s), so none expires on its way.
                assert!(
                    now_ms() >= last_expiration - 3000,
                    "503 while cached ones were valid"
                );
                saw_503 = true;
            }
            other => panic!("HTTP {other}: {}", answer.body),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(saw_503);
}

#[test]
fn concurrent_forced_fetches_share_one_call() {
    let (fake, daemon) = start(PoolOptions::default());
    sign_in_alice(&daemon);
    assert_eq!(daemon.ctl(&["credentials"]).code, 0);
    fake.fail_next(CREDENTIALS, Fault::Delay(Duration::from_secs(1)), 1);
    let before = fake.calls(CREDENTIALS);
    let socket = daemon.socket.clone();
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                raw_request(&socket, "GET", "/v1/credentials?forceRefresh=true", b"").status
            })
        })
        .collect();
    for client in clients {
        assert_eq!(client.join().unwrap(), 200);
    }
    assert_eq!(fake.calls(CREDENTIALS) - before, 1);
}

#[test]
fn the_container_endpoint_serves_boto3_and_refuses_everyone_else() {
    use std::os::unix::fs::PermissionsExt;
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let config = format!(
        "{}[ecs]\nenabled = true\n",
        fake.config_toml_with_identity_pool()
    );
    let daemon = TestDaemon::start(&config);
    sign_in_alice(&daemon);

    let env = daemon.ctl(&["env", "--ecs"]);
    assert_eq!(env.code, 0, "{env:?}");
    let value = |name: &str| {
        env.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap()
            .trim_matches('\'')
            .to_owned()
    };
    let url = value("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    let token_file = value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(token.len(), 64, "256 bits in hex, no newline");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();

    let (status, body) = tcp_request(&url, &[("Host", &host), ("Authorization", &token)]);
    assert_eq!(status, 200, "{body}");
    let daemon_credentials = json(&daemon.ctl(&["credentials", "--json"]).stdout);
    assert_eq!(body["AccessKeyId"], daemon_credentials["accessKeyId"]);
    assert_eq!(body["Token"], daemon_credentials["sessionToken"]);

    let localhost = host.replace("127.0.0.1", "localhost");
    let refusals = [
        (vec![("Host", host.as_str())], 401),
        (
            vec![("Host", host.as_str()), ("Authorization", "0000")],
            403,
        ),
        (
            vec![
                ("Host", "evil.example:80"),
                ("Authorization", token.as_str()),
            ],
            403,
        ),
        (
            vec![
                ("Host", localhost.as_str()),
                ("Authorization", token.as_str()),
                ("Origin", "https://evil.example"),
            ],
            403,
        ),
        (
            vec![
                ("Host", host.as_str()),
                ("Authorization", token.as_str()),
                ("Sec-Fetch-Mode", "cors"),
            ],
            403,
        ),
    ];
    let truncated = &token[..token.len() - 1];
    let longer = format!("{token}0");
    let bearer = format!("Bearer {token}");
    let refusals = refusals.into_iter().chain([
        (
            vec![("Host", host.as_str()), ("Authorization", truncated)],
            403,
        ),
        (
            vec![("Host", host.as_str()), ("Authorization", &longer)],
            403,
        ),
        (
            vec![("Host", host.as_str()), ("Authorization", &bearer)],
            403,
        ),
        (vec![("Host", host.as_str()), ("Authorization", "")], 403),
    ]);
    for (headers, expected) in refusals {
        let (status, body) = tcp_request(&url, &headers);
        assert_eq!(status, expected, "{headers:?}: {body}");
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{body}"
        );
    }
    for path in ["latest/meta-data/", "v2/credentials", "..%2f", "?x=1"] {
        let (status, body) = tcp_request(
            &format!("{url}{path}"),
            &[("Host", &host), ("Authorization", &token)],
        );
        let expected = if path.starts_with('?') { 200 } else { 404 };
        assert_eq!(status, expected, "{path}: {body}");
    }
    let (status, _) = tcp_request(&url, &[("Host", &localhost), ("Authorization", &token)]);
    assert_eq!(status, 200, "localhost:PORT is this endpoint too");
    assert!(!daemon.log().contains(&token), "the token is never logged");

    // boto3, as any SDK would load them.
    let python = cognitod_tests::venv().join("bin/python");
    let output = std::process::Command::new(python)
        .args([
            "-c",
            "import boto3; c = boto3.Session().get_credentials().get_frozen_credentials(); print(c.access_key, c.token)",
        ])
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = format!(
        "{} {}",
        daemon_credentials["accessKeyId"].as_str().unwrap(),
        daemon_credentials["sessionToken"].as_str().unwrap()
    );
    assert_eq!(stdout.trim(), expected);
}

#[test]
fn expired_tokens_are_refreshed_before_credentials_and_demand_respects_the_backoff() {
    let options = PoolOptions {
        id_token_seconds: 5,
        access_token_seconds: 5,
        ..PoolOptions::default()
    };
    let (fake, daemon) = start(options);
    sign_in_alice(&daemon);
    // Refreshes fail from now until told otherwise (a suspend, an outage).
    fake.fail_for("InitiateAuth", Fault::Internal, Duration::from_secs(120));
    let identity = json(&daemon.ctl(&["credentials", "--json"]).stdout)["identityId"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = json(&daemon.ctl(&["status", "--json"]).stdout);
    let expires = cognitod_proto::Timestamp::parse(status["tokensExpireAt"].as_str().unwrap())
        .unwrap()
        .unix()
        * 1000;
    std::thread::sleep(Duration::from_millis(
        u64::try_from(expires + 500 - now_ms()).unwrap_or(0),
    ));
    let (fetches, get_ids, refreshes) = (
        fake.calls(CREDENTIALS),
        fake.calls("GetId"),
        fake.calls("InitiateAuth"),
    );
    let forced = raw_request(
        &daemon.socket,
        "GET",
        "/v1/credentials?forceRefresh=true",
        b"",
    );
    assert_eq!(forced.status, 503, "{forced:?}");
    assert_eq!(
        fake.calls(CREDENTIALS),
        fetches,
        "no credentials are asked for with an expired id token"
    );
    // Demand during the backoff: one attempt brought forward, then 503 with Retry-After.
    let answers: Vec<_> = (0..10)
        .map(|_| raw_request(&daemon.socket, "GET", "/v1/session", b""))
        .collect();
    assert!(answers.iter().all(|a| a.status == 503), "{answers:?}");
    assert!(
        answers
            .iter()
            .any(|a| a.head.to_lowercase().contains("retry-after:")),
        "{answers:?}"
    );
    assert!(
        fake.calls("InitiateAuth") - refreshes <= 3,
        "11 requests made {} refresh calls",
        fake.calls("InitiateAuth") - refreshes
    );

    // Cognito back: fresh tokens, then credentials for the same identity, never dropped.
    fake.fail_for("InitiateAuth", Fault::Internal, Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(40);
    let recovered = loop {
        assert!(Instant::now() < deadline, "no recovery");
        let answer = raw_request(&daemon.socket, "GET", "/v1/credentials", b"");
        if answer.status == 200 {
            break answer.json();
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(recovered["identityId"], identity.as_str());
    assert_eq!(fake.calls("GetId"), get_ids, "the identity id was kept");
}

#[test]
fn the_session_does_not_wait_on_the_identity_pool() {
    let (fake, daemon) = start(PoolOptions::default());
    // The credentials fetch at sign-in hangs; the tokens are fine meanwhile.
    fake.fail_next("GetId", Fault::Delay(Duration::from_secs(8)), 1);
    sign_in_alice(&daemon);
    let started = Instant::now();
    let session = raw_request(&daemon.socket, "GET", "/v1/session", b"");
    let took = started.elapsed();
    assert_eq!(session.status, 200, "{session:?}");
    assert!(session.json()["tokens"]["idToken"].is_string());
    assert!(
        took < Duration::from_secs(4),
        "the tokens waited {took:?} for the identity pool"
    );
    // Once the fetch is done, the session carries the credentials too.
    let deadline = Instant::now() + Duration::from_secs(20);
    while raw_request(&daemon.socket, "GET", "/v1/session", b"").json()["credentials"].is_null() {
        assert!(Instant::now() < deadline, "no credentials in the session");
        std::thread::sleep(Duration::from_millis(200));
    }
}
