//! Identity pool federation: an external OIDC provider's token (the fake's TestOIDC) turned
//! into an identity and AWS credentials by the real `cognitod` and `cognitoctl`; its expiry
//! ending the session; `[federation] token_command` renewing it ahead of expiry, once for
//! every client, with backoff when it fails.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::{Duration, Instant};

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::{PASSWORD, raw_request};
use serde_json::{Value, json};

const PROVIDER: &str = "oidc.testidp.example";

fn fake() -> FakeCognito {
    fake_with(PoolOptions::default())
}

fn fake_with(options: PoolOptions) -> FakeCognito {
    let fake = FakeCognito::start(PoolOptions {
        oidc_provider: Some(PROVIDER.into()),
        ..options
    });
    fake.add_user(UserSpec::new("alice", PASSWORD));
    fake
}

fn json_of(output: &cognitod_tests::daemon::CtlOutput) -> Value {
    serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {output:?}"))
}

/// Waits up to `seconds` for `check` to hold.
fn wait_until(seconds: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {seconds} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The events a background `cognitoctl events --json` printed until now.
fn events_of(events: &mut Child) -> Vec<Value> {
    let _ = events.kill();
    let stdout = events.stdout.take().expect("piped");
    BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
        .collect()
}

/// Their types.
fn event_types(events: &mut Child) -> Vec<String> {
    events_of(events)
        .iter()
        .filter_map(|event| event["type"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_provider_token_becomes_an_identity_with_credentials_and_no_user() {
    let fake = fake();
    let mut daemon = TestDaemon::start(&fake.config_toml_with_identity_pool());
    let token = fake.oidc_token("worker-1", 600);

    let federate = daemon.ctl_stdin(&["federate", "--provider", PROVIDER], &token);
    assert_eq!(federate.code, 0, "{federate:?}");
    assert!(
        federate.stdout.starts_with(&format!(
            "federated through {PROVIDER} as identity us-east-1:"
        )),
        "{federate:?}"
    );
    let status = json_of(&daemon.ctl(&["--json", "status"]));
    assert_eq!(status["state"], "federated");
    let session = json_of(&daemon.ctl(&["--json", "session"]));
    assert_eq!(session["isSignedIn"], true);
    assert_eq!(session["federatedProvider"], PROVIDER);
    assert!(session["identityId"].is_string(), "{session}");
    assert!(
        session["credentials"]["accessKeyId"].is_string(),
        "{session}"
    );
    assert!(
        session.get("tokens").is_none() && session.get("userSub").is_none(),
        "{session}"
    );

    let whoami = daemon.ctl(&["whoami"]);
    assert_eq!(whoami.code, 1, "{whoami:?}");
    assert!(whoami.stderr.contains("no user-pool user"), "{whoami:?}");
    let user = raw_request(&daemon.socket, "GET", "/v1/user", b"");
    assert_eq!(
        (user.status, user.error_code().as_str()),
        (401, "UserUnAuthenticatedException")
    );
    let token_out = daemon.ctl(&["token", "id"]);
    assert_eq!(token_out.code, 1, "{token_out:?}");
    assert!(
        token_out.stderr.contains("no user-pool tokens"),
        "{token_out:?}"
    );
    let process = daemon.ctl(&["credential-process"]);
    assert_eq!(process.code, 0, "{process:?}");
    let identity = session["identityId"].clone();
    assert_eq!(
        fake.with_pool(|pool| pool
            .identities
            .get(identity.as_str().unwrap_or_default())
            .cloned()),
        Some(Some(format!("{PROVIDER}:worker-1")))
    );

    // A user cannot sign in over it; it survives a restart; sign-out ends it.
    let login = daemon.ctl_stdin(&["--json", "login", "alice", "--password-stdin"], PASSWORD);
    assert_eq!(
        login.error_code(),
        "UserAlreadyAuthenticatedException",
        "{login:?}"
    );
    daemon.stop();
    daemon.restart();
    // `session` shows the cached credentials; after a restart they come from a fetch.
    let process = daemon.ctl(&["credential-process"]);
    assert_eq!(process.code, 0, "{process:?}");
    let session = json_of(&daemon.ctl(&["--json", "session"]));
    assert_eq!(session["federatedProvider"], PROVIDER);
    assert_eq!(session["identityId"], identity);
    let logout = daemon.ctl(&["logout"]);
    assert_eq!(logout.code, 0, "{logout:?}");
    assert_eq!(
        json_of(&daemon.ctl(&["--json", "status"]))["state"],
        "signedOut"
    );
    assert_ne!(daemon.ctl(&["credential-process"]).code, 0);

    // A token the identity pool does not take, and no token at all.
    let forged = daemon.ctl_stdin(
        &["--json", "federate", "--provider", PROVIDER],
        "not-a-token",
    );
    assert_eq!(forged.error_code(), "NotAuthorizedException", "{forged:?}");
    let nothing = daemon.ctl_stdin(&["--json", "federate", "--provider", PROVIDER], "");
    assert_eq!(nothing.error_code(), "InvalidRequest", "{nothing:?}");
    assert!(nothing.stdout.contains("no token"), "{nothing:?}");
    assert!(
        !daemon.log().contains(&token),
        "the provider token was logged"
    );
}

#[test]
fn an_expired_provider_token_ends_the_session_with_its_credentials() {
    let fake = fake_with(PoolOptions {
        credentials_seconds: 20,
        ..PoolOptions::default()
    });
    let daemon = TestDaemon::start(&fake.config_toml_with_identity_pool());
    // Used up to 10 s before its expiry: a few seconds of life here.
    let token = fake.oidc_token("short-lived", 14);
    let mut events = daemon.ctl_background(&["--json", "events"], &[]);
    std::thread::sleep(Duration::from_millis(300));
    let federate = daemon.ctl_stdin(&["federate", "--provider", PROVIDER], &token);
    assert_eq!(federate.code, 0, "{federate:?}");
    // The token can no longer be used, but the credentials it got are served until they
    // expire; nothing is fetched with the lapsed token.
    let fetches = fake.calls("GetCredentialsForIdentity");
    std::thread::sleep(Duration::from_secs(6));
    let process = daemon.ctl(&["credential-process"]);
    assert_eq!(process.code, 0, "{process:?}");
    assert_eq!(
        json_of(&daemon.ctl(&["--json", "status"]))["state"],
        "federated"
    );
    wait_until(25, "the end of the federated session", || {
        json_of(&daemon.ctl(&["--json", "status"]))["state"] == "signedOut"
    });
    assert_eq!(fake.calls("GetCredentialsForIdentity"), fetches);
    let process = daemon.ctl(&["credential-process"]);
    assert_eq!(process.code, 1, "{process:?}");
    assert!(
        process.stderr.contains("cognitoctl federate"),
        "{process:?}"
    );
    let status = json_of(&daemon.ctl(&["--json", "status"]));
    assert!(
        status["lastSignOut"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("token expired")),
        "{status}"
    );
    let types = event_types(&mut events);
    let expired = types.iter().position(|t| t == "sessionExpired");
    let signed_out = types.iter().position(|t| t == "signedOut");
    assert!(
        expired.is_some() && expired < signed_out,
        "sessionExpired, then signedOut: {types:?}"
    );
}

/// A daemon whose `[federation] token_command` is `command`.
fn with_command(fake: &FakeCognito, command: &[String]) -> TestDaemon {
    let argv: Vec<Value> = command.iter().map(|a| json!(a)).collect();
    TestDaemon::start(&format!(
        "{}[federation]\nprovider = \"{PROVIDER}\"\ntoken_command = {}\n",
        fake.config_toml_with_identity_pool(),
        Value::Array(argv)
    ))
}

#[test]
fn the_token_command_renews_ahead_of_expiry_once_for_all_clients() {
    let fake = fake_with(PoolOptions {
        credentials_seconds: 10,
        ..PoolOptions::default()
    });
    // Tokens of 24 s: renewed about half-way, used up 10 s before they expire.
    let url = format!("{}/testoidc/token?sub=ci-job&seconds=24", fake.endpoint);
    let daemon = with_command(&fake, &["curl".into(), "-sf".into(), url]);
    let federate = daemon.ctl_stdin(&["--json", "federate"], "");
    assert_eq!(federate.code, 0, "{federate:?}");
    assert_eq!(fake.calls("testoidc/token"), 1);
    let first = fake.calls("GetCredentialsForIdentity");

    // Clients keep asking from several threads through the renewal.
    let deadline = Instant::now() + Duration::from_secs(16);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while Instant::now() < deadline {
                    let process = daemon.ctl(&["credential-process"]);
                    assert_eq!(process.code, 0, "{process:?}");
                    std::thread::sleep(Duration::from_millis(250));
                }
            });
        }
    });
    // One run at 0 s, one renewal about 12 s later: never one per client.
    // (A third run would need a second renewal, not due before about 21 s.)
    let runs = fake.calls("testoidc/token");
    assert!((2..=3).contains(&runs), "{runs} runs:\n{}", daemon.log());
    assert_eq!(
        json_of(&daemon.ctl(&["--json", "status"]))["state"],
        "federated"
    );
    assert!(
        daemon
            .log()
            .contains("token_command gave a new provider token")
    );
    // Credentials of 10 s were fetched again and again meanwhile, with the token of the day.
    assert!(fake.calls("GetCredentialsForIdentity") >= first + 2);
}

#[test]
fn a_failing_token_command_backs_off_and_says_why() {
    let fake = fake();
    let dir = tempfile::tempdir().expect("a folder");
    let first = dir.path().join("first-token");
    std::fs::write(&first, fake.oidc_token("flaky", 16)).expect("token written");
    // The first run prints the token; every later one fails, saying why on stderr.
    let script = format!(
        "if [ -e '{0}' ]; then cat '{0}'; rm '{0}'; else echo 'the IdP is unavailable' >&2; exit 7; fi",
        first.display()
    );
    let daemon = with_command(&fake, &["sh".into(), "-c".into(), script]);
    let mut events = daemon.ctl_background(&["--json", "events"], &[]);
    std::thread::sleep(Duration::from_millis(300));
    let federate = daemon.ctl_stdin(&["federate"], "");
    assert_eq!(federate.code, 0, "{federate:?}");
    // Renewal is due after about 8 s; failures back off (1 s, 2 s, 4 s, ... with jitter).
    std::thread::sleep(Duration::from_secs(16));
    let events = events_of(&mut events);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let failures: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tokenRefresh_failure")
        .collect();
    // What the command said is in the log only, never in an event every client reads.
    for failure in &failures {
        let error = failure["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("exit status: 7") && !error.contains("IdP"),
            "{failure}"
        );
    }
    let failures = failures.len();
    // Backing off: a handful, never one per timer tick or per client.
    assert!((2..=10).contains(&failures), "{types:?}");
    assert!(types.contains(&"sessionExpired"), "{types:?}");
    let log = daemon.log();
    assert!(log.contains("the IdP is unavailable"), "{log}");
    assert!(log.contains("exit status: 7"), "{log}");
    // The session stays (the command may recover); the credentials obtained are served.
    assert_eq!(
        json_of(&daemon.ctl(&["--json", "status"]))["state"],
        "federated"
    );
}

#[test]
fn a_command_that_gives_the_same_token_again_is_not_run_back_to_back() {
    let fake = fake();
    let dir = tempfile::tempdir().expect("a folder");
    let token = dir.path().join("token");
    let runs = dir.path().join("runs");
    // Tokens of 22 s: renewal due after about 11 s. The command hands out a cached token.
    std::fs::write(&token, fake.oidc_token("cached", 22)).expect("token written");
    let script = format!(
        "echo run >> '{}'; cat '{}'",
        runs.display(),
        token.display()
    );
    let daemon = with_command(&fake, &["sh".into(), "-c".into(), script]);
    let federate = daemon.ctl_stdin(&["federate"], "");
    assert_eq!(federate.code, 0, "{federate:?}");
    std::thread::sleep(Duration::from_secs(18));
    let count = std::fs::read_to_string(&runs)
        .expect("the command ran")
        .lines()
        .count();
    // One run to federate, then a handful of backed-off retries: never a tight loop.
    assert!((2..=9).contains(&count), "{count} runs:\n{}", daemon.log());
    assert!(
        daemon.log().contains("no fresher token"),
        "{}",
        daemon.log()
    );
}
