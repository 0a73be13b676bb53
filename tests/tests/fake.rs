//! The real binaries against the strict fake Cognito: SRP that is really verified, every
//! sign-in challenge, secrets, aliases and revocation.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::time::{Duration, Instant};

use cognitod_tests::daemon::{CtlOutput, TestDaemon};
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::jwt_claims;
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
    let wrong = login(&daemon, "alice", "Wrong-Horse-9", &["--json"]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.error_code() == "NotAuthorizedException", "{wrong:?}");
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
    let wrong = login(&daemon, "bob", "nope", &["--json", "--flow", "password"]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.error_code() == "NotAuthorizedException", "{wrong:?}");
    let unknown = login(&daemon, "nobody", PASSWORD, &["--json"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(
        unknown.error_code() == "UserNotFoundException",
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
        client_secret: Some("clientsecretvalue1234567890abcdef".into()),
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
    assert!(!daemon.log().contains("clientsecretvalue"));
}

#[test]
fn email_sign_in_answers_with_the_canonical_username() {
    let options = PoolOptions {
        email_sign_in: true,
        client_secret: Some("anothersecret0123456789abcdef".into()),
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
    let logout = daemon.ctl(&["logout"]);
    assert_eq!(logout.code, 4, "not revoked is not success: {logout:?}");
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

fn now() -> i64 {
    cognitod_proto::Timestamp::now().unix()
}

/// A 6-digit code that is not valid for `secret` around now.
fn wrong_totp(secret: &[u8]) -> String {
    let valid: Vec<String> = [-60, -30, 0, 30, 60]
        .iter()
        .map(|d| totp::code(secret, now() + d))
        .collect();
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !valid.contains(c))
        .unwrap()
}

fn step_of(output: &CtlOutput) -> Value {
    assert_eq!(output.code, 3, "a step is pending: {output:?}");
    json(&output.stdout)["nextStep"].clone()
}

use cognitod_tests::fake::totp;

#[test]
fn new_password_required_with_policy_and_missing_attributes() {
    let user = UserSpec {
        force_change_password: true,
        required_attributes: vec!["name".into()],
        ..UserSpec::new("hana", "Temporary-Passw0rd!")
    };
    let (fake, daemon) = start(PoolOptions::default(), vec![user]);
    let human = login(&daemon, "hana", "Temporary-Passw0rd!", &[]);
    assert_eq!(human.code, 3, "{human:?}");
    assert!(human.stdout.contains("a new password"), "{human:?}");
    assert!(human.stdout.contains("cognitoctl confirm"), "{human:?}");

    let step = step_of(&login(&daemon, "hana", "Temporary-Passw0rd!", &["--json"]));
    assert_eq!(
        step["signInStep"],
        "CONFIRM_SIGN_IN_WITH_NEW_PASSWORD_REQUIRED"
    );
    assert_eq!(step["missingAttributes"], serde_json::json!(["name"]));
    assert_eq!(state(&daemon), "signingIn");

    let weak = daemon.ctl_stdin(&["--json", "confirm", "--attribute", "name=Hana"], "weak\n");
    assert_eq!(weak.code, 1, "{weak:?}");
    assert!(weak.error_code() == "InvalidPasswordException", "{weak:?}");
    assert_eq!(
        state(&daemon),
        "signingIn",
        "a refused answer keeps the step open"
    );

    let no_name = daemon.ctl_stdin(&["--json", "confirm"], "N3w-Passw0rd!\n");
    assert_eq!(no_name.code, 1, "{no_name:?}");
    assert!(
        no_name.error_code() == "InvalidParameterException",
        "{no_name:?}"
    );

    let done = daemon.ctl_stdin(&["confirm", "--attribute", "name=Hana"], "N3w-Passw0rd!\n");
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(done.stdout.trim(), "signed in as hana");
    assert_eq!(
        fake.with_pool(|p| p.password("hana")).as_deref(),
        Some("N3w-Passw0rd!")
    );
    let id = daemon.ctl(&["token", "id"]).stdout;
    let claims = jwt_claims(&id);
    assert_eq!(claims["name"], "Hana");
    assert!(!daemon.log().contains("N3w-Passw0rd!"));

    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    assert_eq!(
        login(&daemon, "hana", "N3w-Passw0rd!", &[]).code,
        0,
        "the new password works"
    );
}

#[test]
fn totp_mfa_takes_a_wrong_code_then_the_right_one() {
    let secret = b"totp-secret-for-ivan!".to_vec();
    let user = UserSpec {
        totp_secret: Some(secret.clone()),
        ..UserSpec::new("ivan", PASSWORD)
    };
    let (_fake, daemon) = start(PoolOptions::default(), vec![user]);
    let step = step_of(&login(&daemon, "ivan", PASSWORD, &["--json"]));
    assert_eq!(step["signInStep"], "CONFIRM_SIGN_IN_WITH_TOTP_CODE");

    let wrong = daemon.ctl_stdin(
        &["--json", "confirm"],
        &format!("{}\n", wrong_totp(&secret)),
    );
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.error_code() == "CodeMismatchException", "{wrong:?}");
    assert_eq!(state(&daemon), "signingIn");

    let right = daemon.ctl_stdin(&["confirm"], &format!("{}\n", totp::code(&secret, now())));
    assert_eq!(right.code, 0, "{right:?}");
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "ivan");
}

#[test]
fn sms_and_email_codes() {
    let sms = UserSpec {
        sms_mfa: true,
        ..UserSpec::new("jack", PASSWORD)
    };
    let email = UserSpec {
        email_mfa: true,
        email: Some("kate@example.com".into()),
        ..UserSpec::new("kate", PASSWORD)
    };
    let (fake, daemon) = start(PoolOptions::default(), vec![sms, email]);

    let step = step_of(&login(&daemon, "jack", PASSWORD, &["--json"]));
    assert_eq!(step["signInStep"], "CONFIRM_SIGN_IN_WITH_SMS_CODE");
    assert_eq!(step["codeDeliveryDetails"]["deliveryMedium"], "SMS");
    let wrong = daemon.ctl_stdin(&["confirm"], "1234567\n");
    assert_eq!(wrong.code, 1, "{wrong:?}");
    let code = fake.sent_code("jack").unwrap();
    assert_eq!(daemon.ctl_stdin(&["confirm"], &format!("{code}\n")).code, 0);
    assert_eq!(daemon.ctl(&["logout"]).code, 0);

    let step = step_of(&login(&daemon, "kate", PASSWORD, &["--json"]));
    assert_eq!(step["signInStep"], "CONFIRM_SIGN_IN_WITH_EMAIL_CODE");
    assert_eq!(step["codeDeliveryDetails"]["destination"], "k***@e***");
    let code = fake.sent_code("kate").unwrap();
    let done = daemon.ctl_stdin(&["confirm", "--json"], &format!("{code}\n"));
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(json(&done.stdout)["nextStep"]["signInStep"], "DONE");
}

#[test]
fn mfa_selection_then_totp() {
    let secret = b"totp-secret-for-liam!".to_vec();
    let user = UserSpec {
        totp_secret: Some(secret.clone()),
        sms_mfa: true,
        ..UserSpec::new("liam", PASSWORD)
    };
    let (_fake, daemon) = start(PoolOptions::default(), vec![user]);
    let step = step_of(&login(&daemon, "liam", PASSWORD, &["--json"]));
    assert_eq!(step["signInStep"], "CONTINUE_SIGN_IN_WITH_MFA_SELECTION");
    assert_eq!(step["allowedMFATypes"], serde_json::json!(["TOTP", "SMS"]));

    let bad = daemon.ctl_stdin(&["--json", "confirm"], "PUSH\n");
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.error_code() == "InvalidRequest", "{bad:?}");
    assert_eq!(state(&daemon), "signingIn");

    let step = step_of(&daemon.ctl_stdin(&["confirm", "--json"], "TOTP\n"));
    assert_eq!(step["signInStep"], "CONFIRM_SIGN_IN_WITH_TOTP_CODE");
    let done = daemon.ctl_stdin(&["confirm"], &format!("{}\n", totp::code(&secret, now())));
    assert_eq!(done.code, 0, "{done:?}");
}

#[test]
fn mfa_setup_with_an_authenticator_app() {
    let options = PoolOptions {
        mfa_required: true,
        ..PoolOptions::default()
    };
    let (fake, daemon) = start(options, vec![UserSpec::new("mia", PASSWORD)]);
    let step = step_of(&login(&daemon, "mia", PASSWORD, &["--json"]));
    assert_eq!(step["signInStep"], "CONTINUE_SIGN_IN_WITH_TOTP_SETUP");
    let uri = step["totpSetupUri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/AWSCognito%3Amia?secret="),
        "{uri}"
    );
    let encoded = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let secret = totp::from_base32(encoded).unwrap();
    let status = daemon.ctl(&["--json", "status"]).stdout;
    assert!(
        status.contains("CONTINUE_SIGN_IN_WITH_TOTP_SETUP") && !status.contains(encoded),
        "the status names the step, never its secret: {status}"
    );

    // Five digits: Cognito's model wants six, and its answer leaves the step open.
    let short = daemon.ctl_stdin(&["--json", "confirm"], "12345\n");
    assert_eq!(short.code, 1, "{short:?}");
    assert_eq!(short.error_code(), "InvalidParameterException", "{short:?}");
    assert!(short.stdout.contains("'userCode'"), "{short:?}");
    let status = daemon.ctl(&["--json", "status"]).stdout;
    assert!(
        status.contains("CONTINUE_SIGN_IN_WITH_TOTP_SETUP"),
        "{status}"
    );
    let wrong = daemon.ctl_stdin(
        &["--json", "confirm"],
        &format!("{}\n", wrong_totp(&secret)),
    );
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.error_code() == "CodeMismatchException", "{wrong:?}");
    let done = daemon.ctl_stdin(&["confirm"], &format!("{}\n", totp::code(&secret, now())));
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(
        fake.with_pool(|p| p.totp_secret("mia")),
        Some(secret.clone())
    );
    assert!(
        !daemon.log().contains(encoded),
        "the TOTP secret is not logged"
    );

    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    let step = step_of(&login(&daemon, "mia", PASSWORD, &["--json"]));
    assert_eq!(
        step["signInStep"], "CONFIRM_SIGN_IN_WITH_TOTP_CODE",
        "the app is now the factor"
    );
}

#[test]
fn alias_sign_in_with_a_secret_through_an_mfa_step() {
    let options = PoolOptions {
        email_sign_in: true,
        client_secret: Some("aliasclientsecret0123456789ab".into()),
        ..PoolOptions::default()
    };
    let fake = FakeCognito::start(options);
    let canonical = fake.add_user(UserSpec {
        sms_mfa: true,
        ..UserSpec::new("nora@example.com", PASSWORD)
    });
    let daemon = TestDaemon::start(&fake.config_toml());
    step_of(&login(&daemon, "nora@example.com", PASSWORD, &["--json"]));
    let code = fake.sent_code(&canonical).unwrap();
    let done = daemon.ctl_stdin(&["confirm"], &format!("{code}\n"));
    assert_eq!(
        done.code, 0,
        "USERNAME and SECRET_HASH use the canonical name: {done:?}"
    );
    let user = json(&daemon.ctl(&["whoami", "--json"]).stdout);
    assert_eq!(user["username"], canonical.as_str());
}

#[test]
fn email_sign_in_with_a_secret_through_totp_and_a_new_password() {
    let options = PoolOptions {
        email_sign_in: true,
        client_secret: Some("emailclientsecret0123456789ab".into()),
        ..PoolOptions::default()
    };
    let fake = FakeCognito::start(options);
    let secret = b"totp-secret-for-uma!".to_vec();
    let totp_user = fake.add_user(UserSpec {
        totp_secret: Some(secret.clone()),
        ..UserSpec::new("uma@example.com", PASSWORD)
    });
    let new_password_user = fake.add_user(UserSpec {
        force_change_password: true,
        ..UserSpec::new("vera@example.com", PASSWORD)
    });
    let daemon = TestDaemon::start(&fake.config_toml());

    let step = step_of(&login(&daemon, "uma@example.com", PASSWORD, &["--json"]));
    assert_eq!(step["signInStep"], "CONFIRM_SIGN_IN_WITH_TOTP_CODE");
    let done = daemon.ctl_stdin(&["confirm"], &format!("{}\n", totp::code(&secret, now())));
    assert_eq!(
        done.code, 0,
        "USERNAME and SECRET_HASH use USER_ID_FOR_SRP, not the email: {done:?}"
    );
    assert_eq!(
        json(&daemon.ctl(&["whoami", "--json"]).stdout)["username"],
        totp_user.as_str()
    );
    assert_eq!(daemon.ctl(&["logout"]).code, 0);

    let step = step_of(&login(&daemon, "vera@example.com", PASSWORD, &["--json"]));
    assert_eq!(
        step["signInStep"],
        "CONFIRM_SIGN_IN_WITH_NEW_PASSWORD_REQUIRED"
    );
    let done = daemon.ctl_stdin(&["confirm"], "Fresh-Passw0rd!\n");
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(
        json(&daemon.ctl(&["whoami", "--json"]).stdout)["username"],
        new_password_user.as_str()
    );
}

#[test]
fn confirm_without_a_step_and_a_new_sign_in_replacing_a_pending_one() {
    let secret = b"totp-secret-for-olga!".to_vec();
    let users = vec![
        UserSpec {
            totp_secret: Some(secret),
            ..UserSpec::new("olga", PASSWORD)
        },
        UserSpec::new("pete", PASSWORD),
    ];
    let (_fake, daemon) = start(PoolOptions::default(), users);
    let nothing = daemon.ctl_stdin(&["--json", "confirm"], "123456\n");
    assert_eq!(nothing.code, 1, "{nothing:?}");
    assert!(nothing.error_code() == "NoPendingSignInStep", "{nothing:?}");

    step_of(&login(&daemon, "olga", PASSWORD, &["--json"]));
    let replaced = login(&daemon, "pete", PASSWORD, &[]);
    assert_eq!(replaced.code, 0, "{replaced:?}");
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "pete");
    let after = daemon.ctl_stdin(&["--json", "confirm"], "123456\n");
    assert_eq!(after.code, 1);
    assert!(after.error_code() == "NoPendingSignInStep", "{after:?}");
}

#[test]
fn ca_file_adds_a_trust_root_for_an_https_pool() {
    let (fake, ca_file) = FakeCognito::start_https(PoolOptions::default());
    fake.add_user(UserSpec::new("quinn", PASSWORD));
    assert!(fake.endpoint.starts_with("https://"));

    let untrusted = TestDaemon::start(&fake.config_toml());
    let refused = login(&untrusted, "quinn", PASSWORD, &["--json"]);
    assert_eq!(refused.code, 4, "{refused:?}");
    assert!(refused.error_code() == "UpstreamUnavailable", "{refused:?}");

    let config = format!(
        "{}ca_file = \"{}\"\n",
        fake.config_toml(),
        ca_file.display()
    );
    let trusted = TestDaemon::start(&config);
    let signed_in = login(&trusted, "quinn", PASSWORD, &[]);
    assert_eq!(signed_in.code, 0, "{signed_in:?}");
}

#[test]
fn upstream_faults_are_reported_without_losing_the_daemon() {
    use cognitod_tests::fake::Fault;
    let (fake, daemon) = start(
        PoolOptions::default(),
        vec![UserSpec::new("rita", PASSWORD)],
    );
    for (fault, code) in [
        (Fault::Internal, "UpstreamUnavailable"),
        (Fault::Throttle, "TooManyRequestsException"),
        (Fault::Drop, "UpstreamUnavailable"),
    ] {
        fake.fail_next("InitiateAuth", fault.clone(), 1);
        let failed = login(&daemon, "rita", PASSWORD, &["--json"]);
        assert_eq!(failed.code, 4, "{fault:?}: {failed:?}");
        assert_eq!(failed.error_code(), code, "{fault:?}: {failed:?}");
        assert_eq!(state(&daemon), "signedOut");
    }
    fake.fail_next("InitiateAuth", Fault::Throttle, 1);
    let throttled = cognitod_tests::raw_request(
        &daemon.socket,
        "POST",
        "/v1/sign-in",
        format!(r#"{{"username": "rita", "password": "{PASSWORD}"}}"#).as_bytes(),
    );
    assert_eq!(throttled.status, 429, "{throttled:?}");
    assert!(
        throttled.head.to_lowercase().contains("retry-after: 5"),
        "{throttled:?}"
    );
    let no_refresh = FakeCognito::start(PoolOptions {
        omit_refresh_token: true,
        ..PoolOptions::default()
    });
    no_refresh.add_user(UserSpec::new("sol", PASSWORD));
    let refused = TestDaemon::start(&no_refresh.config_toml());
    let no_token = login(&refused, "sol", PASSWORD, &["--json"]);
    assert_eq!(no_token.code, 1, "{no_token:?}");
    assert_eq!(no_token.error_code(), "NoRefreshToken");
    assert_eq!(
        state(&refused),
        "signedOut",
        "refused, not served until it ends"
    );
    assert_eq!(login(&daemon, "rita", PASSWORD, &[]).code, 0);
    assert_eq!(fake.calls("InitiateAuth"), 5);
}

#[test]
fn login_on_a_terminal_asks_for_each_step_without_echo() {
    use cognitod_tests::terminal::Terminal;
    let secret = b"totp-secret-for-sam!!".to_vec();
    let user = UserSpec {
        force_change_password: true,
        totp_secret: Some(secret.clone()),
        ..UserSpec::new("sam", "Temporary-Passw0rd!")
    };
    let (_fake, daemon) = start(PoolOptions::default(), vec![user]);
    let socket = daemon.socket.to_str().unwrap().to_owned();
    let mut terminal = Terminal::spawn(
        &cognitod_tests::binary("cognitoctl"),
        &["--socket", &socket, "login"],
    );
    terminal.expect("Username: ");
    terminal.type_line("sam");
    terminal.expect("Password: ");
    terminal.type_line("Temporary-Passw0rd!");
    terminal.expect("New password: ");
    terminal.type_line("weak");
    terminal.expect("New password again: ");
    terminal.type_line("weak");
    terminal.expect("still open");
    terminal.expect("New password: ");
    terminal.type_line("Fresh-Passw0rd!");
    terminal.expect("New password again: ");
    terminal.type_line("Fresh-Passw0rd!");
    terminal.expect("TOTP code from your authenticator: ");
    let wrong = wrong_totp(&secret);
    terminal.type_line(&wrong);
    terminal.expect("still open");
    terminal.expect("TOTP code from your authenticator: ");
    let right = totp::code(&secret, now());
    terminal.type_line(&right);
    terminal.expect("signed in as sam");
    let (code, screen) = terminal.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("sam"), "the username is echoed: {screen}");
    for secret in [
        "Temporary-Passw0rd!",
        "Fresh-Passw0rd!",
        "weak",
        &wrong,
        &right,
    ] {
        assert!(!screen.contains(secret), "{secret:?} was echoed:\n{screen}");
    }
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "sam");
}

#[test]
fn a_slow_sign_in_holds_up_no_other_command() {
    use cognitod_tests::fake::Fault;
    let (fake, daemon) = start(PoolOptions::default(), vec![UserSpec::new("tom", PASSWORD)]);
    fake.fail_next("InitiateAuth", Fault::Delay(Duration::from_secs(6)), 1);
    let mut slow = daemon.ctl_spawn(
        &["login", "tom", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.calls("InitiateAuth") == 0 {
        assert!(
            Instant::now() < deadline,
            "the sign-in never reached the fake"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The owner answers another command while Cognito takes its time.
    let started = Instant::now();
    let other = cognitod_tests::raw_request(
        &daemon.socket,
        "POST",
        "/v1/sign-in/confirm",
        br#"{"challengeResponse": "123456"}"#,
    );
    assert_eq!(other.error_code(), "NoPendingSignInStep");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?} for the sign-in",
        started.elapsed()
    );
    assert!(slow.wait().unwrap().success());
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "tom");
}

#[test]
fn one_answer_to_a_step_at_a_time() {
    use cognitod_tests::fake::Fault;
    let secret = b"totp-secret-for-una!".to_vec();
    let user = UserSpec {
        totp_secret: Some(secret.clone()),
        ..UserSpec::new("una", PASSWORD)
    };
    let (fake, daemon) = start(PoolOptions::default(), vec![user]);
    let step = step_of(&login(&daemon, "una", PASSWORD, &["--json"]));
    assert_eq!(step["signInStep"], "CONFIRM_SIGN_IN_WITH_TOTP_CODE");
    let before = fake.calls("RespondToAuthChallenge");
    fake.fail_next(
        "RespondToAuthChallenge",
        Fault::Delay(Duration::from_secs(3)),
        1,
    );
    let mut first = daemon.ctl_spawn(&["confirm"], &format!("{}\n", totp::code(&secret, now())));
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.calls("RespondToAuthChallenge") == before {
        assert!(
            Instant::now() < deadline,
            "the answer never reached the fake"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second answer meanwhile (a double submit) is not sent: Cognito's session for the step
    // is good for one.
    let second = daemon.ctl_stdin(&["--json", "confirm"], "000000\n");
    assert_eq!(second.code, 1, "{second:?}");
    assert!(second.stdout.contains("being checked"), "{second:?}");
    assert!(first.wait().unwrap().success());
    assert_eq!(fake.calls("RespondToAuthChallenge"), before + 1);
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "una");
}
