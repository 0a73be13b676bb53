//! The real binaries against moto, a third-party Cognito emulator: the wire format of the
//! happy path (moto verifies neither SRP signatures nor lifetimes; the fake Cognito does).

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::jwt_claims;
use cognitod_tests::moto::{Moto, Pool};
use serde_json::Value;

const PASSWORD: &str = "Correct-Horse-9";

fn daemon_for(moto: &Moto, users: &[&str]) -> (Pool, TestDaemon) {
    let users: Vec<(&str, &str)> = users.iter().map(|u| (*u, PASSWORD)).collect();
    let pool = moto.provision(&users);
    let daemon = TestDaemon::start(&pool.config_toml());
    (pool, daemon)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

#[test]
fn srp_sign_in_serves_user_session_and_tokens_until_sign_out() {
    let moto = Moto::shared_or_start();
    let (pool, daemon) = daemon_for(&moto, &["alice"]);

    let status = daemon.ctl(&["status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(json(&status.stdout)["state"], "signedOut");

    let login = daemon.ctl_stdin(
        &["login", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
    assert_eq!(login.stdout.trim(), "signed in as alice");

    let whoami = daemon.ctl(&["whoami"]);
    assert_eq!(
        (whoami.code, whoami.stdout.trim()),
        (0, "alice"),
        "{whoami:?}"
    );

    let user = json(&daemon.ctl(&["whoami", "--json"]).stdout);
    assert_eq!(user["username"], "alice");
    assert_eq!(user["signInDetails"]["loginId"], "alice");
    assert_eq!(user["signInDetails"]["authFlowType"], "USER_SRP_AUTH");
    let user_id = user["userId"].as_str().expect("userId").to_owned();

    let session = daemon.ctl(&["session", "--json"]);
    assert_eq!(session.code, 0, "{session:?}");
    let session = json(&session.stdout);
    assert_eq!(session["isSignedIn"], true);
    assert_eq!(session["userSub"], user_id.as_str());
    let id_claims = jwt_claims(session["tokens"]["idToken"].as_str().expect("idToken"));
    assert_eq!(id_claims["cognito:username"], "alice");
    assert_eq!(id_claims["aud"], pool.client_id.as_str());
    let expires_at = session["tokens"]["expiresAt"].as_str().expect("expiresAt");
    assert!(
        expires_at.ends_with('Z') && expires_at.len() == 20,
        "{expires_at}"
    );

    let access = daemon.ctl(&["token", "access"]);
    assert_eq!(access.code, 0, "{access:?}");
    assert_eq!(access.stdout.lines().count(), 1, "one token, one line");
    let access_claims = jwt_claims(&access.stdout);
    assert_eq!(access_claims["token_use"], "access");
    assert_eq!(access_claims["sub"], user_id.as_str());
    assert_eq!(access.stdout.trim(), session["tokens"]["accessToken"]);
    let id = daemon.ctl(&["token", "id"]);
    assert_eq!(id.stdout.trim(), session["tokens"]["idToken"]);

    let status = json(&daemon.ctl(&["status", "--json"]).stdout);
    assert_eq!(status["state"], "signedIn");
    assert_eq!(status["username"], "alice");
    assert_eq!(status["tokensExpireAt"], expires_at);

    // moto has GlobalSignOut but no RevokeToken: a plain sign-out would be reported as not
    // revoked (exit 4), as it should.
    let logout = daemon.ctl(&["logout", "--global"]);
    assert_eq!(logout.code, 0, "{logout:?}");
    let whoami = daemon.ctl(&["--json", "whoami"]);
    assert_eq!(whoami.code, 1, "{whoami:?}");
    assert!(
        whoami.error_code() == "UserUnAuthenticatedException",
        "{whoami:?}"
    );
    let session = daemon.ctl(&["session", "--json"]);
    assert_eq!(
        json(&session.stdout),
        serde_json::json!({"isSignedIn": false})
    );
    let token = daemon.ctl(&["token", "id"]);
    assert_eq!((token.code, token.stdout.as_str()), (1, ""), "{token:?}");

    let log = daemon.log();
    for secret in [PASSWORD, id.stdout.trim(), access.stdout.trim()] {
        assert!(!log.contains(secret), "the daemon log holds a secret");
    }
}

#[test]
fn password_flow_refuses_a_wrong_password_then_signs_in() {
    let moto = Moto::shared_or_start();
    let (_pool, daemon) = daemon_for(&moto, &["bob"]);

    let wrong = daemon.ctl_stdin(
        &[
            "--json",
            "login",
            "bob",
            "--password-stdin",
            "--flow",
            "password",
        ],
        "not-the-password\n",
    );
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.error_code() == "NotAuthorizedException", "{wrong:?}");
    assert!(
        !wrong.stderr.contains("not-the-password") && !wrong.stdout.contains("not-the-password")
    );
    assert_eq!(
        json(&daemon.ctl(&["status", "--json"]).stdout)["state"],
        "signedOut"
    );

    let right = daemon.ctl_stdin(
        &["login", "bob", "--password-stdin", "--flow", "password"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(right.code, 0, "{right:?}");
    let user = json(&daemon.ctl(&["whoami", "--json"]).stdout);
    assert_eq!(user["signInDetails"]["authFlowType"], "USER_PASSWORD_AUTH");
    assert!(!daemon.log().contains(PASSWORD));
}

#[test]
fn a_second_sign_in_is_refused_until_sign_out() {
    let moto = Moto::shared_or_start();
    let (_pool, daemon) = daemon_for(&moto, &["carol", "dave"]);
    let input = format!("{PASSWORD}\n");
    assert_eq!(
        daemon
            .ctl_stdin(&["login", "carol", "--password-stdin"], &input)
            .code,
        0
    );

    let again = daemon.ctl_stdin(&["--json", "login", "dave", "--password-stdin"], &input);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(
        again.error_code() == "UserAlreadyAuthenticatedException",
        "{again:?}"
    );
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "carol");

    assert_eq!(daemon.ctl(&["logout", "--global"]).code, 0);
    assert_eq!(
        daemon
            .ctl_stdin(&["login", "dave", "--password-stdin"], &input)
            .code,
        0
    );
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "dave");
}

#[test]
fn unknown_users_are_refused() {
    let moto = Moto::shared_or_start();
    let (_pool, daemon) = daemon_for(&moto, &[]);
    let login = daemon.ctl_stdin(
        &["--json", "login", "nobody", "--password-stdin"],
        "whatever\n",
    );
    assert_eq!(login.code, 1, "{login:?}");
    assert!(
        login.error_code() == "UserNotFoundException"
            || login.error_code() == "NotAuthorizedException",
        "{login:?}"
    );
}

#[test]
fn force_refresh_renews_the_tokens_for_the_same_user() {
    let moto = Moto::shared_or_start();
    let (_pool, daemon) = daemon_for(&moto, &["erin"]);
    let input = format!("{PASSWORD}\n");
    assert_eq!(
        daemon
            .ctl_stdin(&["login", "erin", "--password-stdin"], &input)
            .code,
        0
    );
    let before = json(&daemon.ctl(&["session", "--json"]).stdout);

    let refreshed = daemon.ctl(&["session", "--force-refresh", "--json"]);
    assert_eq!(refreshed.code, 0, "{refreshed:?}");
    let after = json(&refreshed.stdout);
    assert_eq!(after["isSignedIn"], true);
    assert_eq!(after["userSub"], before["userSub"]);
    let status = json(&daemon.ctl(&["status", "--json"]).stdout);
    assert_eq!(status["lastRefresh"]["ok"], true, "{status}");
    assert!(daemon.log().contains("tokens refreshed"));
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "erin");
}

#[test]
fn tokens_from_an_unexpected_issuer_are_refused() {
    let moto = Moto::shared_or_start();
    let pool = moto.provision(&[("frank", PASSWORD)]);
    let config = format!(
        "{}issuer = \"https://cognito-idp.{}.amazonaws.com/{}_Other\"\n",
        pool.config_toml(),
        pool.region,
        pool.region
    );
    let daemon = TestDaemon::start(&config);
    let login = daemon.ctl_stdin(
        &["--json", "login", "frank", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 1, "{login:?}");
    assert!(login.error_code() == "InvalidTokenException", "{login:?}");
    assert!(login.stdout.contains("InvalidIssuer"), "{login:?}");
    assert_eq!(
        json(&daemon.ctl(&["status", "--json"]).stdout)["state"],
        "signedOut"
    );
}

#[test]
fn a_global_sign_out_elsewhere_makes_the_next_refresh_fail_and_end_the_session() {
    let moto = Moto::shared_or_start();
    let (_pool, daemon) = daemon_for(&moto, &["hank"]);
    let login = daemon.ctl_stdin(
        &["login", "hank", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
    let access = daemon.ctl(&["token", "access"]).stdout.trim().to_owned();
    // Another device signs the user out everywhere, straight at Cognito.
    moto.global_sign_out(&access);
    let refresh = daemon.ctl(&["--json", "session", "--force-refresh"]);
    assert_eq!(refresh.code, 1, "{refresh:?}");
    assert!(
        refresh.error_code() == "UserUnAuthenticatedException",
        "{refresh:?}"
    );
    assert_eq!(daemon.ctl(&["whoami"]).code, 1, "signed out");
    let status = json(&daemon.ctl(&["status", "--json"]).stdout);
    assert_eq!(status["state"], "signedOut");
}

#[test]
fn identity_pool_credentials_load_in_the_aws_cli_through_credential_process() {
    let moto = Moto::shared_or_start();
    let pool = moto.provision(&[("ivy", PASSWORD)]);
    let config = moto.config_with_identity_pool(&pool);
    let daemon = TestDaemon::start(&config);
    let login = daemon.ctl_stdin(
        &["login", "ivy", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
    let credentials = daemon.ctl(&["credentials", "--json"]);
    assert_eq!(credentials.code, 0, "{credentials:?}\n{}", daemon.log());
    let credentials = json(&credentials.stdout);
    assert!(
        credentials["identityId"]
            .as_str()
            .unwrap()
            .starts_with(&pool.region)
    );

    daemon.wait_for_handouts("AWS credentials handed out", "", 1);
    let before = daemon.handouts("AWS credentials handed out", "");
    let aws_config = daemon.aws_profile(&pool.region);
    let aws = cognitod_tests::venv().join("bin/aws");
    let output = std::process::Command::new(aws)
        .args([
            "sts",
            "get-caller-identity",
            "--profile",
            "cognitod",
            "--output",
            "json",
        ])
        .args(["--endpoint-url", &moto.endpoint])
        .env("AWS_CONFIG_FILE", &aws_config)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "aws failed: {stderr}");
    let identity = json(&String::from_utf8_lossy(&output.stdout));
    assert!(identity["Account"].is_string(), "{identity}");
    // The AWS CLI went through the daemon.
    daemon.wait_for_handouts("AWS credentials handed out", "", before + 1);
}
