//! The real binaries against the strict fake Cognito: SRP that is really verified, every
//! sign-in challenge, secrets, aliases and revocation.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use cognitod_tests::daemon::{CtlOutput, TestDaemon};
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use serde_json::Value;

const PASSWORD: &str = "Correct-Horse-9";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn start(options: PoolOptions, users: Vec<UserSpec>) -> (FakeCognito, TestDaemon) {
    let fake = FakeCognito::start(options);
    for user in users {
        fake.add_user(user);
    }
    let daemon = TestDaemon::start(&fake.config_toml());
    (fake, daemon)
}

fn login(daemon: &TestDaemon, username: &str, password: &str, extra: &[&str]) -> CtlOutput {
    let mut args = vec!["login", username, "--password-stdin"];
    args.extend_from_slice(extra);
    daemon.ctl_stdin(&args, &format!("{password}\n"))
}

fn state(daemon: &TestDaemon) -> String {
    json(&daemon.ctl(&["status", "--json"]).stdout)["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn srp_sign_in_is_verified_and_a_wrong_password_fails() {
    let (fake, daemon) = start(
        PoolOptions::default(),
        vec![UserSpec::new("alice", PASSWORD)],
    );
    let wrong = login(&daemon, "alice", "Wrong-Horse-9", &[]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("NotAuthorizedException"), "{wrong:?}");
    assert_eq!(state(&daemon), "signedOut");

    let right = login(&daemon, "alice", PASSWORD, &[]);
    assert_eq!(right.code, 0, "{right:?}");
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "alice");
    assert_eq!(fake.calls("RespondToAuthChallenge"), 2);
    assert!(!daemon.log().contains(PASSWORD));
}

#[test]
fn password_flow_and_unknown_users() {
    let (_fake, daemon) = start(PoolOptions::default(), vec![UserSpec::new("bob", PASSWORD)]);
    let wrong = login(&daemon, "bob", "nope", &["--flow", "password"]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("NotAuthorizedException"), "{wrong:?}");
    let unknown = login(&daemon, "nobody", PASSWORD, &[]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(
        unknown.stderr.contains("UserNotFoundException"),
        "{unknown:?}"
    );
    let right = login(&daemon, "bob", PASSWORD, &["--flow", "password"]);
    assert_eq!(right.code, 0, "{right:?}");
    let user = json(&daemon.ctl(&["whoami", "--json"]).stdout);
    assert_eq!(user["signInDetails"]["authFlowType"], "USER_PASSWORD_AUTH");
}

#[test]
fn a_client_with_a_secret_sends_secret_hash() {
    let options = PoolOptions {
        client_secret: Some("client-secret-value-1234567890".into()),
        ..PoolOptions::default()
    };
    let (fake, daemon) = start(options, vec![UserSpec::new("carol", PASSWORD)]);
    for flow in ["srp", "password"] {
        let login = login(&daemon, "carol", PASSWORD, &["--flow", flow]);
        assert_eq!(login.code, 0, "{flow}: {login:?}");
        assert_eq!(daemon.ctl(&["logout"]).code, 0);
    }
    let tokens = fake.with_pool(|pool| pool.refresh_tokens("carol"));
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens.iter().all(|(_, record)| record.revoked),
        "RevokeToken took the secret"
    );
    assert!(!daemon.log().contains("client-secret-value"));
}

#[test]
fn email_sign_in_answers_with_the_canonical_username() {
    let options = PoolOptions {
        email_sign_in: true,
        client_secret: Some("another-secret".into()),
        ..PoolOptions::default()
    };
    let fake = FakeCognito::start(options);
    let canonical = fake.add_user(UserSpec::new("dana@example.com", PASSWORD));
    let daemon = TestDaemon::start(&fake.config_toml());
    let login = login(&daemon, "dana@example.com", PASSWORD, &[]);
    assert_eq!(login.code, 0, "{login:?}");
    let user = json(&daemon.ctl(&["whoami", "--json"]).stdout);
    assert_eq!(user["username"], canonical.as_str());
    assert_eq!(user["signInDetails"]["loginId"], "dana@example.com");
    let whoami = daemon.ctl(&["whoami"]).stdout;
    assert!(
        whoami.contains("dana@example.com") && whoami.contains(&canonical),
        "{whoami}"
    );
}

#[test]
fn local_and_global_sign_out_leave_the_refresh_token_unusable() {
    let (fake, daemon) = start(
        PoolOptions::default(),
        vec![UserSpec::new("erin", PASSWORD)],
    );

    assert_eq!(login(&daemon, "erin", PASSWORD, &[]).code, 0);
    let (local_token, _) = fake.with_pool(|p| p.refresh_tokens("erin")).pop().unwrap();
    assert!(
        fake.refresh_with(&local_token, "erin").is_ok(),
        "usable while signed in"
    );
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    assert_eq!(fake.calls("RevokeToken"), 1);
    assert_eq!(
        fake.refresh_with(&local_token, "erin"),
        Err("NotAuthorizedException".into())
    );

    assert_eq!(login(&daemon, "erin", PASSWORD, &[]).code, 0);
    let live: Vec<String> = fake
        .with_pool(|p| p.refresh_tokens("erin"))
        .into_iter()
        .filter(|(_, r)| !r.revoked)
        .map(|(t, _)| t)
        .collect();
    assert_eq!(live.len(), 1);
    let global = daemon.ctl(&["logout", "--global"]);
    assert_eq!(global.code, 0, "{global:?}");
    assert_eq!(fake.calls("GlobalSignOut"), 1);
    assert_eq!(
        fake.refresh_with(&live[0], "erin"),
        Err("NotAuthorizedException".into())
    );
    assert_eq!(state(&daemon), "signedOut");
}

#[test]
fn sign_out_clears_local_state_even_when_cognito_fails() {
    use cognitod_tests::fake::Fault;
    let (fake, daemon) = start(PoolOptions::default(), vec![UserSpec::new("fay", PASSWORD)]);
    assert_eq!(login(&daemon, "fay", PASSWORD, &[]).code, 0);
    fake.fail_next("RevokeToken", Fault::Internal, 1);
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    assert_eq!(state(&daemon), "signedOut");
}

#[test]
fn hostile_requests_get_clean_errors_and_the_daemon_keeps_answering() {
    use cognitod_tests::raw_request;
    let (_fake, daemon) = start(PoolOptions::default(), vec![UserSpec::new("gus", PASSWORD)]);
    let socket = &daemon.socket;
    let malformed = raw_request(socket, "POST", "/v1/sign-in", b"{not json");
    assert_eq!(
        (malformed.status, malformed.error_code()),
        (400, "InvalidRequest".into())
    );
    let huge = vec![b' '; 1024 * 1024];
    let too_large = raw_request(socket, "POST", "/v1/sign-in", &huge);
    assert_eq!(
        (too_large.status, too_large.error_code()),
        (413, "PayloadTooLarge".into())
    );
    let unknown = raw_request(socket, "GET", "/v1/secrets", b"");
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, "NotFound".into())
    );
    assert_eq!(
        login(&daemon, "gus", PASSWORD, &[]).code,
        0,
        "still serving"
    );
}
