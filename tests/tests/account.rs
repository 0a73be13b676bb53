//! The account: sign-up, password reset and change, attributes, MFA settings, TOTP setup and
//! deleting the account. The real binaries against the fake, through the socket API and
//! through `cognitoctl` on a terminal and with stdin.

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{CodePurpose, FakeCognito, PoolOptions, UserSpec, totp};
use cognitod_tests::terminal::Terminal;
use cognitod_tests::{PASSWORD, RawResponse, binary, jwt_claims, now_ms, raw_request};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "Battery-Staple-42";

/// A pool that signs users in right after a confirmed sign-up (`USER_AUTH`), with `alice`.
fn setup() -> (FakeCognito, TestDaemon) {
    setup_with(PoolOptions {
        user_auth: true,
        ..PoolOptions::default()
    })
}

fn setup_with(options: PoolOptions) -> (FakeCognito, TestDaemon) {
    let fake = FakeCognito::start(options);
    fake.add_user(UserSpec {
        email: Some("alice@example.com".into()),
        ..UserSpec::new("alice", PASSWORD)
    });
    let daemon = TestDaemon::start(&fake.config_toml());
    (fake, daemon)
}

fn call(daemon: &TestDaemon, method: &str, path: &str, body: &Value) -> RawResponse {
    raw_request(&daemon.socket, method, path, body.to_string().as_bytes())
}

fn post(daemon: &TestDaemon, path: &str, body: &Value) -> RawResponse {
    call(daemon, "POST", path, body)
}

fn get(daemon: &TestDaemon, path: &str) -> RawResponse {
    raw_request(&daemon.socket, "GET", path, b"")
}

fn ok(response: &RawResponse) -> Value {
    assert_eq!(response.status, 200, "{response:?}");
    response.json()
}

fn sign_in(daemon: &TestDaemon, username: &str, password: &str) -> Value {
    ok(&post(
        daemon,
        "/v1/sign-in",
        &json!({"username": username, "password": password}),
    ))
}

fn id_claims(daemon: &TestDaemon) -> Value {
    let session = ok(&get(daemon, "/v1/session"));
    jwt_claims(session["tokens"]["idToken"].as_str().expect("an id token"))
}

/// The TOTP code of the `otpauth://` URI's secret, `step` 30-second steps from now (the pool
/// takes one step either way; distinct steps keep a code from being used twice).
fn totp_code_at(uri: &str, step: i64) -> String {
    let secret = uri
        .split("secret=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("the URI holds the secret");
    totp::code(
        &totp::from_base32(secret).expect("base32"),
        now_ms() / 1000 + step * 30,
    )
}

fn totp_code(uri: &str) -> String {
    totp_code_at(uri, 0)
}

/// The whole life of an account, through the socket: sign-up → confirm → signed in at once →
/// attribute change → verify → TOTP setup → MFA preference → sign-out → sign-in with TOTP →
/// password reset → sign-in with the new password → deleting the account.
#[test]
fn an_account_from_sign_up_to_deletion() {
    let (fake, daemon) = setup();
    let signed_up = ok(&post(
        &daemon,
        "/v1/sign-up",
        &json!({"username": "bob", "password": PASSWORD,
                "userAttributes": {"email": "bob@example.com", "name": "Bob"}}),
    ));
    assert_eq!(signed_up["isSignUpComplete"], false, "{signed_up}");
    assert_eq!(signed_up["nextStep"]["signUpStep"], "CONFIRM_SIGN_UP");
    assert_eq!(
        signed_up["nextStep"]["codeDeliveryDetails"]["deliveryMedium"],
        "EMAIL"
    );
    assert!(
        signed_up["userId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    // Unconfirmed: the password alone does not sign in.
    let refused = sign_in(&daemon, "bob", PASSWORD);
    assert_eq!(refused["nextStep"]["signInStep"], "CONFIRM_SIGN_UP");

    let code = fake
        .account_code("bob", CodePurpose::SignUp)
        .expect("a code");
    // A mistyped code first: the sign-up's session stays for the right one.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mistyped = post(
        &daemon,
        "/v1/sign-up/confirm",
        &json!({"username": "bob", "confirmationCode": wrong}),
    );
    assert_eq!(
        mistyped.error_code(),
        "CodeMismatchException",
        "{mistyped:?}"
    );
    let confirmed = ok(&post(
        &daemon,
        "/v1/sign-up/confirm",
        &json!({"username": "bob", "confirmationCode": code}),
    ));
    assert_eq!(confirmed["isSignUpComplete"], true);
    assert_eq!(confirmed["nextStep"]["signUpStep"], "COMPLETE_AUTO_SIGN_IN");
    // Someone else signed in: refused, and the sign-up's session waits for the sign-out.
    sign_in(&daemon, "alice", PASSWORD);
    let busy = post(
        &daemon,
        "/v1/sign-up/auto-sign-in",
        &json!({"username": "bob"}),
    );
    assert_eq!(busy.status, 409, "{busy:?}");
    ok(&post(&daemon, "/v1/sign-out", &json!({})));
    let signed_in = ok(&post(
        &daemon,
        "/v1/sign-up/auto-sign-in",
        &json!({"username": "bob"}),
    ));
    assert_eq!(signed_in["isSignedIn"], true, "{signed_in}");
    let user = ok(&get(&daemon, "/v1/user"));
    assert_eq!(user["username"], "bob");
    assert_eq!(user["signInDetails"]["authFlowType"], "USER_AUTH");

    // Attributes: read, change (the new email needs its code), and the session shows them.
    let attributes = ok(&get(&daemon, "/v1/user/attributes"));
    assert_eq!(attributes["email"], "bob@example.com");
    assert_eq!(attributes["email_verified"], "true");
    assert_eq!(attributes["name"], "Bob");
    let changed = ok(&post(
        &daemon,
        "/v1/user/attributes",
        &json!({"userAttributes": {"email": "robert@example.com", "name": "Robert"}}),
    ));
    assert_eq!(changed["name"]["isUpdated"], true, "{changed}");
    assert_eq!(changed["name"]["nextStep"]["updateAttributeStep"], "DONE");
    assert_eq!(changed["email"]["isUpdated"], false);
    assert_eq!(
        changed["email"]["nextStep"]["updateAttributeStep"],
        "CONFIRM_ATTRIBUTE_WITH_CODE"
    );
    assert_eq!(
        changed["email"]["nextStep"]["codeDeliveryDetails"]["attributeName"],
        "email"
    );
    // The daemon refreshed: the id token carries the new name at once.
    assert_eq!(id_claims(&daemon)["name"], "Robert");
    let code = fake
        .account_code("bob", CodePurpose::Attribute("email".into()))
        .expect("a code for the new email");
    ok(&post(
        &daemon,
        "/v1/user/attributes/confirm",
        &json!({"attributeKey": "email", "confirmationCode": code}),
    ));
    let claims = id_claims(&daemon);
    assert_eq!(claims["email"], "robert@example.com");
    assert_eq!(claims["email_verified"], true);

    // An authenticator, then TOTP as the preferred factor.
    let setup = ok(&post(&daemon, "/v1/user/totp", &json!({})));
    let uri = setup["setupUri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(setup["sharedSecret"].as_str().unwrap()));
    ok(&post(
        &daemon,
        "/v1/user/totp/verify",
        &json!({"code": totp_code_at(&uri, -1), "friendlyDeviceName": "phone"}),
    ));
    assert_eq!(
        ok(&get(&daemon, "/v1/user/mfa")),
        json!({}),
        "a verified authenticator is not used until it is enabled"
    );
    ok(&call(
        &daemon,
        "PUT",
        "/v1/user/mfa",
        &json!({"totp": "PREFERRED"}),
    ));
    assert_eq!(
        ok(&get(&daemon, "/v1/user/mfa")),
        json!({"enabled": ["TOTP"], "preferred": "TOTP"})
    );

    // Signed out, the next sign-in asks for the authenticator's code.
    ok(&post(&daemon, "/v1/sign-out", &json!({})));
    let step = sign_in(&daemon, "bob", PASSWORD);
    assert_eq!(
        step["nextStep"]["signInStep"],
        "CONFIRM_SIGN_IN_WITH_TOTP_CODE"
    );
    let done = ok(&post(
        &daemon,
        "/v1/sign-in/confirm",
        &json!({"challengeResponse": totp_code(&uri)}),
    ));
    assert_eq!(done["isSignedIn"], true);
    ok(&post(&daemon, "/v1/sign-out", &json!({})));

    // A forgotten password: a code, a new password, and the old one no longer works.
    let reset = ok(&post(
        &daemon,
        "/v1/password/reset",
        &json!({"username": "bob"}),
    ));
    assert_eq!(
        reset["nextStep"]["resetPasswordStep"],
        "CONFIRM_RESET_PASSWORD_WITH_CODE"
    );
    let code = fake
        .account_code("bob", CodePurpose::ForgotPassword)
        .expect("a reset code");
    let confirmed = ok(&post(
        &daemon,
        "/v1/password/reset/confirm",
        &json!({"username": "bob", "confirmationCode": code, "newPassword": NEW_PASSWORD}),
    ));
    assert_eq!(confirmed["isPasswordReset"], true);
    let refused = post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "bob", "password": PASSWORD}),
    );
    assert_eq!(refused.status, 401, "{refused:?}");
    let step = sign_in(&daemon, "bob", NEW_PASSWORD);
    assert_eq!(
        step["nextStep"]["signInStep"],
        "CONFIRM_SIGN_IN_WITH_TOTP_CODE"
    );
    ok(&post(
        &daemon,
        "/v1/sign-in/confirm",
        &json!({"challengeResponse": totp_code_at(&uri, 1)}),
    ));

    // Deleting the account needs its name, then signs out.
    let wrong = call(&daemon, "DELETE", "/v1/user", &json!({"confirm": "alice"}));
    assert_eq!(wrong.status, 400, "{wrong:?}");
    assert!(fake.user_exists("bob"));
    ok(&call(
        &daemon,
        "DELETE",
        "/v1/user",
        &json!({"confirm": "bob"}),
    ));
    assert!(!fake.user_exists("bob"));
    let status = ok(&get(&daemon, "/v1/status"));
    assert_eq!(status["state"], "signedOut");
    assert_eq!(status["lastSignOut"]["reason"], "the account was deleted");
    let gone = post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "bob", "password": NEW_PASSWORD}),
    );
    assert_eq!(gone.status, 401, "{gone:?}");
    assert_eq!(gone.error_code(), "UserNotFoundException");
    let log = daemon.log();
    let secrets = [
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        code,
        setup["sharedSecret"].as_str().unwrap().to_owned(),
    ];
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret in the log: {log}");
    }
    for what in [
        "sign-up",
        "password reset",
        "attributes change",
        "account deletion",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("account call") && l.contains(what) && l.contains("uid=")),
            "{what} is logged with the caller: {log}"
        );
    }
}

#[test]
fn cognitos_refusals_keep_their_names() {
    let (fake, daemon) = setup_with(PoolOptions {
        user_auth: true,
        code_seconds: 2,
        code_attempts: 3,
        ..PoolOptions::default()
    });
    let sign_up = |name: &str, password: &str| {
        post(
            &daemon,
            "/v1/sign-up",
            &json!({"username": name, "password": password,
                    "userAttributes": {"email": format!("{name}@example.com")}}),
        )
    };
    let weak = sign_up("carol", "short");
    assert_eq!(weak.status, 400, "{weak:?}");
    assert_eq!(weak.error_code(), "InvalidPasswordException");
    assert!(
        weak.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Password did not conform with policy"),
        "{weak:?}"
    );
    let taken = sign_up("alice", PASSWORD);
    assert_eq!(taken.error_code(), "UsernameExistsException", "{taken:?}");
    ok(&sign_up("carol", PASSWORD));

    let confirm = |code: &str| {
        post(
            &daemon,
            "/v1/sign-up/confirm",
            &json!({"username": "carol", "confirmationCode": code}),
        )
    };
    let right = fake.account_code("carol", CodePurpose::SignUp).unwrap();
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mismatch = confirm(wrong);
    assert_eq!(mismatch.status, 400, "{mismatch:?}");
    assert_eq!(mismatch.error_code(), "CodeMismatchException");
    assert!(
        mismatch.json()["error"]["recoverySuggestion"]
            .as_str()
            .is_some_and(|s| s.contains("cognitoctl resend-code")),
        "{mismatch:?}"
    );
    // The code lapses.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let expired = confirm(&right);
    assert_eq!(expired.error_code(), "ExpiredCodeException", "{expired:?}");
    // A new one, then too many wrong tries.
    let resent = ok(&post(
        &daemon,
        "/v1/sign-up/resend-code",
        &json!({"username": "carol"}),
    ));
    assert_eq!(resent["codeDeliveryDetails"]["deliveryMedium"], "EMAIL");
    // Three wrong tries in all (one before the code lapsed), then the lock.
    let answers: Vec<String> = (0..2).map(|_| confirm(wrong).error_code()).collect();
    assert!(
        answers.iter().all(|a| a == "CodeMismatchException"),
        "{answers:?}"
    );
    let limited = confirm(wrong);
    assert_eq!(limited.status, 429, "{limited:?}");
    assert_eq!(limited.error_code(), "LimitExceededException");
    // Locked: the right code is refused too until the lock lapses.
    let locked = confirm(&fake.account_code("carol", CodePurpose::SignUp).unwrap());
    assert_eq!(locked.error_code(), "LimitExceededException", "{locked:?}");

    // Calls as the user need one; nothing reaches Cognito signed out.
    let calls = fake.calls("GetUser");
    let signed_out = get(&daemon, "/v1/user/attributes");
    assert_eq!(signed_out.status, 401, "{signed_out:?}");
    assert_eq!(signed_out.error_code(), "UserUnAuthenticatedException");
    assert_eq!(fake.calls("GetUser"), calls);

    // A wrong current password.
    sign_in(&daemon, "alice", PASSWORD);
    let wrong_old = post(
        &daemon,
        "/v1/user/password",
        &json!({"oldPassword": "Not-The-Password-1", "newPassword": NEW_PASSWORD}),
    );
    assert_eq!(
        wrong_old.error_code(),
        "NotAuthorizedException",
        "{wrong_old:?}"
    );
    let weak_new = post(
        &daemon,
        "/v1/user/password",
        &json!({"oldPassword": PASSWORD, "newPassword": "weak"}),
    );
    assert_eq!(weak_new.error_code(), "InvalidPasswordException");
    ok(&post(
        &daemon,
        "/v1/user/password",
        &json!({"oldPassword": PASSWORD, "newPassword": NEW_PASSWORD}),
    ));
    // Malformed requests say what is wrong, and never echo the body.
    let malformed = post(
        &daemon,
        "/v1/user/password",
        &json!({"oldPassword": PASSWORD}),
    );
    assert_eq!(malformed.status, 400);
    assert!(!format!("{malformed:?}").contains(PASSWORD));
    let bad_mfa = call(&daemon, "PUT", "/v1/user/mfa", &json!({"totp": "ALWAYS"}));
    assert_eq!(bad_mfa.status, 400, "{bad_mfa:?}");
    let no_totp = call(&daemon, "PUT", "/v1/user/mfa", &json!({"totp": "ENABLED"}));
    assert_eq!(
        no_totp.error_code(),
        "InvalidParameterException",
        "{no_totp:?}"
    );
}

#[test]
fn a_sign_up_without_user_auth_says_to_sign_in() {
    let (fake, daemon) = setup_with(PoolOptions::default());
    let ctl = daemon.ctl_stdin(
        &["sign-up", "dave", "--attribute", "email=dave@example.com"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(ctl.code, 0, "{ctl:?}");
    assert!(
        ctl.stdout.contains("cognitoctl confirm-sign-up dave"),
        "{ctl:?}"
    );
    let code = fake.account_code("dave", CodePurpose::SignUp).unwrap();
    let confirmed = daemon.ctl_stdin(&["confirm-sign-up", "dave"], &format!("{code}\n"));
    assert_eq!(confirmed.code, 0, "{confirmed:?}");
    assert!(
        confirmed
            .stdout
            .contains("sign in with `cognitoctl login dave`"),
        "{confirmed:?}"
    );
    let status = ok(&get(&daemon, "/v1/status"));
    assert_eq!(status["state"], "signedOut");
    let login = daemon.ctl_stdin(
        &["login", "dave", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
}

/// `cognitoctl` on a terminal: sign-up with the password twice and the code, signed in at
/// once; an attribute change verified with its code; an authenticator set up from the QR
/// code's secret; MFA turned on; the password changed; the account deleted.
#[test]
fn the_account_commands_on_a_terminal() {
    let (fake, daemon) = setup();
    let socket = daemon.socket.display().to_string();
    let ctl = binary("cognitoctl");
    let run = |args: &[&str]| {
        let mut all = vec!["--socket", socket.as_str()];
        all.extend_from_slice(args);
        Terminal::spawn(&ctl, &all)
    };

    let mut screen = run(&["sign-up", "erin", "--attribute", "email=erin@example.com"]);
    screen.expect("New password: ");
    screen.type_line(PASSWORD);
    screen.expect("New password again: ");
    screen.type_line(PASSWORD);
    screen.expect("Confirmation code: ");
    let code = fake.account_code("erin", CodePurpose::SignUp).unwrap();
    screen.type_line(&code);
    let (status, text) = screen.finish();
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("signed in as erin"), "{text}");
    assert!(
        !text.contains(PASSWORD),
        "the password is not echoed: {text}"
    );

    let mut screen = run(&["attributes", "set", "email=erin2@example.com"]);
    screen.expect("Code for email: ");
    let code = fake
        .account_code("erin", CodePurpose::Attribute("email".into()))
        .unwrap();
    // A mistyped code is asked again.
    screen.type_line(if code == "000000" { "111111" } else { "000000" });
    screen.expect("try again");
    screen.expect("Code for email: ");
    screen.type_line(&code);
    let (status, text) = screen.finish();
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("email: verified"), "{text}");
    let shown = daemon.ctl(&["attributes"]);
    assert!(
        shown.stdout.contains("email=erin2@example.com"),
        "{shown:?}"
    );
    assert!(shown.stdout.contains("email_verified=true"), "{shown:?}");

    let mut screen = run(&["totp", "setup", "--device-name", "phone"]);
    screen.expect("Code from the app: ");
    let uri = screen
        .screen
        .lines()
        .find(|l| l.starts_with("otpauth://"))
        .expect("the URI is shown")
        .trim()
        .to_owned();
    assert!(
        screen.screen.contains('█') || screen.screen.contains('▀'),
        "a QR code is drawn: {}",
        screen.screen
    );
    screen.type_line(&totp_code(&uri));
    let (status, text) = screen.finish();
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("cognitoctl mfa set totp=preferred"), "{text}");
    let set = daemon.ctl(&["mfa", "set", "totp=preferred"]);
    assert_eq!(set.code, 0, "{set:?}");
    assert!(set.stdout.contains("MFA enabled: TOTP"), "{set:?}");
    assert!(set.stdout.contains("preferred: TOTP"), "{set:?}");

    let mut screen = run(&["change-password"]);
    screen.expect("Current password: ");
    screen.type_line(PASSWORD);
    screen.expect("New password: ");
    screen.type_line(NEW_PASSWORD);
    screen.expect("New password again: ");
    screen.type_line(NEW_PASSWORD);
    let (status, text) = screen.finish();
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("the password was changed"), "{text}");
    assert_eq!(
        fake.with_pool(|p| p.password("erin")),
        Some(NEW_PASSWORD.to_owned())
    );

    let mut screen = run(&["delete-account"]);
    screen.expect("Type the username to confirm: ");
    screen.type_line("someone-else");
    let (status, text) = screen.finish();
    assert_eq!(status, 2, "{text}");
    assert!(fake.user_exists("erin"));
    let mut screen = run(&["delete-account"]);
    screen.expect("Type the username to confirm: ");
    screen.type_line("erin");
    let (status, text) = screen.finish();
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("was deleted; signed out"), "{text}");
    assert!(!fake.user_exists("erin"));
    let whoami = daemon.ctl(&["whoami"]);
    assert_eq!(whoami.code, 1, "{whoami:?}");
}

/// A forgotten password on a terminal, from the sign-in that said so.
#[test]
fn a_reset_password_on_a_terminal_leads_back_to_sign_in() {
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec {
        email: Some("rita@example.com".into()),
        reset_required: true,
        ..UserSpec::new("rita", PASSWORD)
    });
    let daemon = TestDaemon::start(&fake.config_toml());
    let login = daemon.ctl_stdin(
        &["login", "rita", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 1, "{login:?}");
    assert!(
        login.stderr.contains("cognitoctl reset-password"),
        "{login:?}"
    );

    let socket = daemon.socket.display().to_string();
    let mut screen = Terminal::spawn(
        &binary("cognitoctl"),
        &["--socket", &socket, "reset-password", "rita"],
    );
    screen.expect("Code: ");
    let code = fake
        .account_code("rita", CodePurpose::ForgotPassword)
        .unwrap();
    screen.type_line(&code);
    screen.expect("New password: ");
    screen.type_line(NEW_PASSWORD);
    screen.expect("New password again: ");
    screen.type_line(NEW_PASSWORD);
    let (status, text) = screen.finish();
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("cognitoctl login rita"), "{text}");
    let login = daemon.ctl_stdin(
        &["login", "rita", "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
}

/// The same commands from scripts: answers on stdin, one per line, and `--json`.
#[test]
fn the_account_commands_from_scripts() {
    let (fake, daemon) = setup();
    fake.add_user(UserSpec {
        email: Some("bob@example.com".into()),
        ..UserSpec::new("bob", PASSWORD)
    });
    cognitod_tests::sign_in_alice(&daemon);
    let attributes = daemon.ctl(&["attributes", "--json"]);
    assert_eq!(attributes.code, 0, "{attributes:?}");
    let map: Value = serde_json::from_str(&attributes.stdout).unwrap();
    assert_eq!(map["email"], "alice@example.com");

    let set = daemon.ctl(&["attributes", "set", "name=Alice", "--json"]);
    assert_eq!(set.code, 0, "{set:?}");
    let results: Value = serde_json::from_str(&set.stdout).unwrap();
    assert_eq!(results["name"]["isUpdated"], true);
    let deleted = daemon.ctl(&["attributes", "delete", "name"]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    assert!(!fake.user_attributes("alice").contains_key("name"));

    let changed = daemon.ctl_stdin(
        &["change-password"],
        &format!("{PASSWORD}\n{NEW_PASSWORD}\n"),
    );
    assert_eq!(changed.code, 0, "{changed:?}");
    let mfa = daemon.ctl(&["mfa", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&mfa.stdout).unwrap(),
        json!({})
    );
    let bad = daemon.ctl(&["mfa", "set", "totp=sometimes"]);
    assert_eq!(bad.code, 2, "{bad:?}");

    let no_terminal = daemon.ctl(&["delete-account"]);
    assert_eq!(no_terminal.code, 2, "{no_terminal:?}");
    assert!(no_terminal.stderr.contains("--confirm"), "{no_terminal:?}");
    let deleted = daemon.ctl(&["delete-account", "--confirm", "alice", "--json"]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    assert!(!fake.user_exists("alice"));
    daemon.wait_for_log("the account was deleted; signed out", 1);

    let reset = daemon.ctl(&["reset-password", "nobody-here"]);
    assert_eq!(reset.code, 1, "{reset:?}");

    // A reset in two steps: the code is sent, then it and the new password come on stdin.
    let sent = daemon.ctl(&["reset-password", "bob"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    assert!(
        sent.stdout.contains("reset-password bob --confirm"),
        "{sent:?}"
    );
    let code = fake
        .account_code("bob", CodePurpose::ForgotPassword)
        .unwrap();
    let done = daemon.ctl_stdin(
        &["reset-password", "bob", "--confirm"],
        &format!("{code}\n{NEW_PASSWORD}\n"),
    );
    assert_eq!(done.code, 0, "{done:?}");
    let login = daemon.ctl_stdin(
        &["login", "bob", "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");

    // An authenticator from a script: the secret, then its code on stdin.
    let setup = daemon.ctl(&["totp", "setup", "--json"]);
    assert_eq!(setup.code, 0, "{setup:?}");
    let uri = serde_json::from_str::<Value>(&setup.stdout).unwrap()["setupUri"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = daemon.ctl_stdin(&["totp", "verify"], "12345\n");
    assert_eq!(wrong.code, 1, "a five-digit code is refused: {wrong:?}");
    let verified = daemon.ctl_stdin(&["totp", "verify"], &format!("{}\n", totp_code(&uri)));
    assert_eq!(verified.code, 0, "{verified:?}");
    assert_eq!(
        fake.mfa_settings("bob").map(|m| m.totp_verified),
        Some(true)
    );
}
