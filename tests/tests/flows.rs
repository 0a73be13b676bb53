//! Sign-in flows beyond SRP and password: the pool's custom challenges (with and without an
//! SRP password check), `clientMetadata` for its Lambda triggers, and the accounts that must
//! do something elsewhere first (`RESET_PASSWORD`, `CONFIRM_SIGN_UP`). The real binaries
//! against the fake, over the socket API and on a terminal.

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::terminal::Terminal;
use cognitod_tests::{PASSWORD, binary, raw_request};
use serde_json::{Value, json};

/// A pool with two rounds of custom challenges, and users in several states.
fn setup() -> (FakeCognito, TestDaemon) {
    let fake = FakeCognito::start(PoolOptions {
        custom_challenges: vec![
            ("What is 2 + 3?".into(), "5".into()),
            ("Name the fake's provider".into(), "TestIdP".into()),
        ],
        ..PoolOptions::default()
    });
    fake.add_user(UserSpec::new("alice", PASSWORD));
    fake.add_user(UserSpec {
        reset_required: true,
        ..UserSpec::new("rita", PASSWORD)
    });
    fake.add_user(UserSpec {
        unconfirmed: true,
        ..UserSpec::new("uma", PASSWORD)
    });
    let daemon = TestDaemon::start(&fake.config_toml());
    (fake, daemon)
}

fn post(daemon: &TestDaemon, path: &str, body: &Value) -> cognitod_tests::RawResponse {
    raw_request(&daemon.socket, "POST", path, body.to_string().as_bytes())
}

/// Answers the pending step with `answer`.
fn confirm(daemon: &TestDaemon, answer: Value) -> cognitod_tests::RawResponse {
    post(
        daemon,
        "/v1/sign-in/confirm",
        &json!({ "challengeResponse": answer }),
    )
}

#[test]
fn custom_challenges_without_a_password_take_as_many_rounds_as_the_pool_asks() {
    let (fake, daemon) = setup();
    let started = post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "alice", "authFlowType": "CUSTOM_WITHOUT_SRP",
                "clientMetadata": {"source": "tests"}}),
    );
    assert_eq!(started.status, 200, "{started:?}");
    assert_eq!(
        started.json()["nextStep"],
        json!({"signInStep": "CONFIRM_SIGN_IN_WITH_CUSTOM_CHALLENGE",
               "additionalInfo": {"question": "What is 2 + 3?", "round": "1"}})
    );
    // The Lambda triggers get the client's metadata.
    assert_eq!(
        fake.client_metadata("InitiateAuth"),
        Some(json!({"source": "tests"}))
    );
    let round = post(
        &daemon,
        "/v1/sign-in/confirm",
        &json!({"challengeResponse": "5", "clientMetadata": {"round": "one"}}),
    );
    assert_eq!(round.status, 200, "{round:?}");
    assert_eq!(
        round.json()["nextStep"]["additionalInfo"]["question"],
        "Name the fake's provider"
    );
    assert_eq!(
        fake.client_metadata("RespondToAuthChallenge"),
        Some(json!({"round": "one"}))
    );
    let done = confirm(&daemon, json!("TestIdP"));
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.json()["isSignedIn"], true);
    // Metadata goes with the call that carries it, not the next.
    assert_eq!(fake.client_metadata("RespondToAuthChallenge"), None);
    let user = raw_request(&daemon.socket, "GET", "/v1/user", b"").json();
    assert_eq!(
        user["signInDetails"],
        json!({"loginId": "alice", "authFlowType": "CUSTOM_WITHOUT_SRP"})
    );

    // A wrong answer: the pool fails the sign-in, and nothing is pending after.
    assert_eq!(post(&daemon, "/v1/sign-out", &json!({})).status, 200);
    post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "alice", "authFlowType": "CUSTOM_WITHOUT_SRP"}),
    );
    let wrong = confirm(&daemon, json!("6"));
    assert_eq!(
        (wrong.status, wrong.error_code().as_str()),
        (401, "NotAuthorizedException")
    );
    let after = confirm(&daemon, json!("5"));
    assert_eq!(after.error_code(), "NoPendingSignInStep");
}

#[test]
fn custom_challenges_after_srp_on_a_terminal() {
    let (fake, daemon) = setup();
    let socket = daemon.socket.to_str().expect("utf-8").to_owned();
    let mut terminal = Terminal::spawn(
        &binary("cognitoctl"),
        &[
            "--socket",
            &socket,
            "login",
            "alice",
            "--flow",
            "custom-srp",
            "--client-metadata",
            "app=cli",
        ],
    );
    terminal.expect("Password: ");
    terminal.type_line(PASSWORD);
    terminal.expect("question: What is 2 + 3?");
    terminal.expect("Answer: ");
    terminal.type_line("5");
    terminal.expect("question: Name the fake's provider");
    terminal.expect("Answer: ");
    terminal.type_line("TestIdP");
    let (code, screen) = terminal.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("signed in as alice"), "{screen}");
    // Neither the password nor the answers were echoed.
    assert!(!screen.contains(PASSWORD), "{screen}");
    assert!(!screen.contains("TestIdP\r"), "{screen}");
    assert_eq!(fake.calls("InitiateAuth"), 1);
    assert_eq!(
        fake.client_metadata("InitiateAuth"),
        Some(json!({"app": "cli"}))
    );
    // And with each answer, the last custom round's too (the challenge triggers see it).
    assert_eq!(
        fake.client_metadata("RespondToAuthChallenge"),
        Some(json!({"app": "cli"}))
    );
    // SRP first: the PASSWORD_VERIFIER answer, then the two rounds.
    assert_eq!(fake.calls("RespondToAuthChallenge"), 3);
    let user = raw_request(&daemon.socket, "GET", "/v1/user", b"").json();
    assert_eq!(user["signInDetails"]["authFlowType"], "CUSTOM_WITH_SRP");

    // A wrong password never reaches the custom rounds.
    let logout = daemon.ctl(&["logout"]);
    assert_eq!(logout.code, 0, "{logout:?}");
    let wrong = daemon.ctl_stdin(
        &[
            "--json",
            "login",
            "alice",
            "--flow",
            "custom-srp",
            "--password-stdin",
        ],
        "Wrong-Horse-1\n",
    );
    assert_eq!(wrong.error_code(), "NotAuthorizedException", "{wrong:?}");
}

#[test]
fn accounts_that_need_a_step_first_say_which() {
    let (fake, daemon) = setup();
    for (user, step, code) in [
        ("rita", "RESET_PASSWORD", "PasswordResetRequiredException"),
        ("uma", "CONFIRM_SIGN_UP", "UserNotConfirmedException"),
    ] {
        // The socket API answers Amplify's step, not a bare 401.
        let answer = post(
            &daemon,
            "/v1/sign-in",
            &json!({"username": user, "password": PASSWORD, "authFlowType": "USER_PASSWORD_AUTH"}),
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(
            answer.json(),
            json!({"isSignedIn": false, "nextStep": {"signInStep": step}})
        );
        // Nothing is pending: `confirm` has nothing to answer.
        let status = daemon.ctl(&["--json", "status"]);
        assert!(status.stdout.contains("\"signedOut\""), "{status:?}");

        // cognitoctl says what to do, and exits 1 (by SRP too: the fake, like Cognito, says
        // so at InitiateAuth for a reset and after the proof for an unconfirmed account).
        let login = daemon.ctl_stdin(
            &["login", user, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        );
        assert_eq!(login.code, 1, "{login:?}");
        assert!(login.stderr.contains("not signed in"), "{login:?}");
        let json = daemon.ctl_stdin(
            &["--json", "login", user, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        );
        assert_eq!(json.code, 1, "{json:?}");
        let printed: Value = serde_json::from_str(&json.stdout).expect("JSON");
        assert_eq!(printed["nextStep"]["signInStep"], step, "{code}");
    }
    // A password where the flow takes none is refused, not dropped.
    let unused = post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "alice", "password": PASSWORD, "authFlowType": "CUSTOM_WITHOUT_SRP"}),
    );
    assert_eq!(unused.status, 400, "{unused:?}");
    // Flows that need a password refuse a sign-in without one, before asking Cognito.
    let before = fake.calls("InitiateAuth");
    let no_password = post(&daemon, "/v1/sign-in", &json!({"username": "alice"}));
    assert_eq!(
        (no_password.status, no_password.error_code().as_str()),
        (400, "InvalidRequest")
    );
    assert_eq!(fake.calls("InitiateAuth"), before);
}

/// A pool with choice-based sign-in, and alice with an email address.
fn user_auth_setup() -> (FakeCognito, TestDaemon) {
    let fake = FakeCognito::start(PoolOptions {
        user_auth: true,
        ..PoolOptions::default()
    });
    fake.add_user(UserSpec {
        email: Some("alice@example.com".into()),
        ..UserSpec::new("alice", PASSWORD)
    });
    fake.add_user(UserSpec {
        sms_mfa: true,
        ..UserSpec::new("sam", PASSWORD)
    });
    let daemon = TestDaemon::start(&fake.config_toml());
    (fake, daemon)
}

fn step_of(answer: &cognitod_tests::RawResponse) -> Value {
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()["nextStep"].clone()
}

#[test]
fn user_auth_offers_first_factors_and_takes_a_code_or_a_password() {
    let (fake, daemon) = user_auth_setup();
    // No preference: the choice, then a code by email.
    let choice = step_of(&post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "alice", "authFlowType": "USER_AUTH"}),
    ));
    assert_eq!(
        choice,
        json!({"signInStep": "CONTINUE_SIGN_IN_WITH_FIRST_FACTOR_SELECTION",
               "availableChallenges": ["PASSWORD", "PASSWORD_SRP", "EMAIL_OTP"]})
    );
    let code_step = step_of(&confirm(&daemon, json!("EMAIL_OTP")));
    assert_eq!(code_step["signInStep"], "CONFIRM_SIGN_IN_WITH_EMAIL_CODE");
    assert_eq!(code_step["codeDeliveryDetails"]["deliveryMedium"], "EMAIL");
    let code = fake.sent_code("alice").expect("a code was sent");
    let done = confirm(&daemon, json!(code));
    assert_eq!(done.json()["isSignedIn"], true, "{done:?}");
    let user = raw_request(&daemon.socket, "GET", "/v1/user", b"").json();
    assert_eq!(user["signInDetails"]["authFlowType"], "USER_AUTH");
    assert_eq!(post(&daemon, "/v1/sign-out", &json!({})).status, 200);

    // Choosing SRP asks for the password next, which never leaves the machine.
    post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "alice", "authFlowType": "USER_AUTH"}),
    );
    let password_step = step_of(&confirm(&daemon, json!("PASSWORD_SRP")));
    assert_eq!(password_step["signInStep"], "CONFIRM_SIGN_IN_WITH_PASSWORD");
    let before = fake.calls("RespondToAuthChallenge");
    let done = confirm(&daemon, json!(PASSWORD));
    assert_eq!(done.json()["isSignedIn"], true, "{done:?}");
    // SELECT_CHALLENGE with SRP_A, then the PASSWORD_VERIFIER proof.
    assert_eq!(fake.calls("RespondToAuthChallenge"), before + 2);
    assert_eq!(post(&daemon, "/v1/sign-out", &json!({})).status, 200);

    // A preference up front: the password at once; an SMS code for sam.
    let direct = post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "alice", "password": PASSWORD, "authFlowType": "USER_AUTH",
                "preferredChallenge": "PASSWORD"}),
    );
    assert_eq!(direct.json()["isSignedIn"], true, "{direct:?}");
    assert_eq!(post(&daemon, "/v1/sign-out", &json!({})).status, 200);
    let sms = step_of(&post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "sam", "authFlowType": "USER_AUTH", "preferredChallenge": "SMS_OTP"}),
    ));
    assert_eq!(sms["signInStep"], "CONFIRM_SIGN_IN_WITH_SMS_CODE");
    let wrong = confirm(&daemon, json!("000000"));
    assert_eq!(wrong.error_code(), "CodeMismatchException", "{wrong:?}");
    let code = fake.sent_code("sam").expect("a code was sent");
    let done = confirm(&daemon, json!(code));
    assert_eq!(done.json()["isSignedIn"], true, "{done:?}");

    // Passkeys and unknown factors are refused before Cognito is asked.
    assert_eq!(post(&daemon, "/v1/sign-out", &json!({})).status, 200);
    let passkey = post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "alice", "authFlowType": "USER_AUTH", "preferredChallenge": "WEB_AUTHN"}),
    );
    assert_eq!(passkey.status, 400, "{passkey:?}");
    assert!(
        passkey.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cognitoctl login --browser"),
        "{passkey:?}"
    );
}

#[test]
fn user_auth_on_a_terminal() {
    let (fake, daemon) = user_auth_setup();
    let socket = daemon.socket.to_str().expect("utf-8").to_owned();
    let cognitoctl = binary("cognitoctl");
    let mut terminal = Terminal::spawn(
        &cognitoctl,
        &["--socket", &socket, "login", "alice", "--flow", "user-auth"],
    );
    terminal.expect("ways to sign in: PASSWORD, PASSWORD_SRP, EMAIL_OTP");
    terminal.expect("Sign in with (PASSWORD, PASSWORD_SRP, EMAIL_OTP): ");
    terminal.type_line("password");
    terminal.expect("Password: ");
    terminal.type_line(PASSWORD);
    let (code, screen) = terminal.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("signed in as alice"), "{screen}");
    assert!(!screen.contains(PASSWORD), "{screen}");
    assert_eq!(daemon.ctl(&["logout"]).code, 0);

    let mut terminal = Terminal::spawn(
        &cognitoctl,
        &[
            "--socket",
            &socket,
            "login",
            "alice",
            "--flow",
            "user-auth",
            "--preferred",
            "email-otp",
        ],
    );
    terminal.expect("Code sent by email: ");
    terminal.type_line(&fake.sent_code("alice").expect("a code was sent"));
    let (code, screen) = terminal.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains("Password"),
        "no password was asked: {screen}"
    );
}

#[test]
fn email_mfa_is_set_up_during_sign_in() {
    use cognitod_tests::fake::Mfa;
    let fake = FakeCognito::start(PoolOptions {
        mfa_required: true,
        mfa_setup: vec![Mfa::Email],
        ..PoolOptions::default()
    });
    fake.add_user(UserSpec::new("ed", PASSWORD));
    fake.add_user(UserSpec::new("eve", PASSWORD));
    let daemon = TestDaemon::start(&fake.config_toml());

    // Over the socket: the address, then the code sent there.
    let setup = step_of(&post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "ed", "password": PASSWORD}),
    ));
    assert_eq!(
        setup,
        json!({"signInStep": "CONTINUE_SIGN_IN_WITH_EMAIL_SETUP"})
    );
    let not_an_address = confirm(&daemon, json!("ed-at-example"));
    assert_eq!(not_an_address.status, 400, "{not_an_address:?}");
    let code_step = step_of(&confirm(&daemon, json!("ed@example.com")));
    assert_eq!(code_step["signInStep"], "CONFIRM_SIGN_IN_WITH_EMAIL_CODE");
    assert_eq!(code_step["codeDeliveryDetails"]["destination"], "e***@e***");
    let code = fake.sent_code("ed").expect("a code was sent");
    let done = confirm(&daemon, json!(code));
    assert_eq!(done.json()["isSignedIn"], true, "{done:?}");
    assert_eq!(daemon.ctl(&["logout"]).code, 0);

    // On a terminal, as a person sees it.
    let socket = daemon.socket.to_str().expect("utf-8").to_owned();
    let mut terminal = Terminal::spawn(
        &binary("cognitoctl"),
        &["--socket", &socket, "login", "eve"],
    );
    terminal.expect("Password: ");
    terminal.type_line(PASSWORD);
    terminal.expect("Email address for sign-in codes: ");
    terminal.type_line("eve@example.com");
    terminal.expect("Code sent by email: ");
    terminal.type_line(&fake.sent_code("eve").expect("a code was sent"));
    let (code, screen) = terminal.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("signed in as eve"), "{screen}");
}

#[test]
fn mfa_setup_offers_a_choice_when_the_pool_allows_several() {
    use cognitod_tests::fake::Mfa;
    let fake = FakeCognito::start(PoolOptions {
        mfa_required: true,
        mfa_setup: vec![Mfa::Totp, Mfa::Email],
        ..PoolOptions::default()
    });
    fake.add_user(UserSpec::new("ivy", PASSWORD));
    fake.add_user(UserSpec::new("tom", PASSWORD));
    let daemon = TestDaemon::start(&fake.config_toml());
    let choice = step_of(&post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "ivy", "password": PASSWORD}),
    ));
    assert_eq!(
        choice,
        json!({"signInStep": "CONTINUE_SIGN_IN_WITH_MFA_SETUP_SELECTION",
               "allowedMFATypes": ["EMAIL", "TOTP"]})
    );
    let bad = confirm(&daemon, json!("SMS"));
    assert_eq!(bad.status, 400, "{bad:?}");
    let email = step_of(&confirm(&daemon, json!("EMAIL")));
    assert_eq!(email["signInStep"], "CONTINUE_SIGN_IN_WITH_EMAIL_SETUP");
    step_of(&confirm(&daemon, json!("ivy@example.com")));
    let code = fake.sent_code("ivy").expect("a code was sent");
    let done = confirm(&daemon, json!(code));
    assert_eq!(done.json()["isSignedIn"], true, "{done:?}");
    assert_eq!(post(&daemon, "/v1/sign-out", &json!({})).status, 200);

    // TOTP instead: the authenticator's secret comes for the same sign-in.
    post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "tom", "password": PASSWORD}),
    );
    let totp = step_of(&confirm(&daemon, json!("totp")));
    assert_eq!(totp["signInStep"], "CONTINUE_SIGN_IN_WITH_TOTP_SETUP");
    assert!(
        totp["totpSetupUri"]
            .as_str()
            .is_some_and(|uri| uri.starts_with("otpauth://totp/")),
        "{totp}"
    );
}

#[test]
fn a_step_after_a_password_choice_can_end_as_confirm_sign_up() {
    let fake = FakeCognito::start(PoolOptions {
        user_auth: true,
        ..PoolOptions::default()
    });
    fake.add_user(UserSpec {
        unconfirmed: true,
        email: Some("uma@example.com".into()),
        ..UserSpec::new("uma", PASSWORD)
    });
    let daemon = TestDaemon::start(&fake.config_toml());
    post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "uma", "authFlowType": "USER_AUTH"}),
    );
    confirm(&daemon, json!("PASSWORD"));
    let answer = confirm(&daemon, json!(PASSWORD));
    assert_eq!(
        answer.json(),
        json!({"isSignedIn": false, "nextStep": {"signInStep": "CONFIRM_SIGN_UP"}}),
        "{answer:?}"
    );
    let status = daemon.ctl(&["--json", "status"]);
    assert!(status.stdout.contains("\"signedOut\""), "{status:?}");
    // Passwordless gets no further either.
    let code = post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "uma", "authFlowType": "USER_AUTH", "preferredChallenge": "EMAIL_OTP"}),
    );
    assert_eq!(
        code.json()["nextStep"]["signInStep"],
        "CONFIRM_SIGN_UP",
        "{code:?}"
    );
    assert_eq!(fake.sent_code("uma"), None, "no code was sent");
}

#[test]
fn user_auth_and_custom_rounds_with_a_client_secret_and_email_sign_in() {
    // The canonical username (a UUID here) and SECRET_HASH over it in every answer: the fake
    // refuses anything else.
    let fake = FakeCognito::start(PoolOptions {
        user_auth: true,
        email_sign_in: true,
        client_secret: Some("fakeclientsecret0123456789abcdef".into()),
        custom_challenges: vec![("What is 2 + 3?".into(), "5".into())],
        ..PoolOptions::default()
    });
    fake.add_user(UserSpec::new("alice@example.com", PASSWORD));
    let daemon = TestDaemon::start(&fake.config_toml());
    let srp = daemon.ctl_stdin(
        &[
            "login",
            "alice@example.com",
            "--flow",
            "user-auth",
            "--preferred",
            "srp",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(srp.code, 0, "{srp:?}");
    assert_eq!(
        fake.calls("RespondToAuthChallenge"),
        1,
        "the PASSWORD_VERIFIER proof"
    );
    assert_eq!(daemon.ctl(&["logout"]).code, 0);

    post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "alice@example.com", "authFlowType": "USER_AUTH"}),
    );
    step_of(&confirm(&daemon, json!("PASSWORD_SRP")));
    let wrong = confirm(&daemon, json!("Wrong-Horse-1"));
    assert_eq!(wrong.error_code(), "NotAuthorizedException", "{wrong:?}");
    post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "alice@example.com", "authFlowType": "USER_AUTH"}),
    );
    step_of(&confirm(&daemon, json!("PASSWORD")));
    let done = confirm(&daemon, json!(PASSWORD));
    assert_eq!(done.json()["isSignedIn"], true, "{done:?}");
    assert_eq!(daemon.ctl(&["logout"]).code, 0);

    let custom = step_of(&post(
        &daemon,
        "/v1/sign-in",
        &json!({"username": "alice@example.com", "authFlowType": "CUSTOM_WITHOUT_SRP"}),
    ));
    assert_eq!(
        custom["signInStep"],
        "CONFIRM_SIGN_IN_WITH_CUSTOM_CHALLENGE"
    );
    let done = confirm(&daemon, json!("5"));
    assert_eq!(done.json()["isSignedIn"], true, "{done:?}");
}

#[test]
fn custom_rounds_without_a_password_and_a_reset_on_a_terminal() {
    let (fake, daemon) = setup();
    let socket = daemon.socket.to_str().expect("utf-8").to_owned();
    let cognitoctl = binary("cognitoctl");
    // No password is asked: the pool's challenges only.
    let mut terminal = Terminal::spawn(
        &cognitoctl,
        &["--socket", &socket, "login", "alice", "--flow", "custom"],
    );
    terminal.expect("question: What is 2 + 3?");
    terminal.expect("Answer: ");
    terminal.type_line("5");
    terminal.expect("Answer: ");
    terminal.type_line("TestIdP");
    let (code, screen) = terminal.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("Password"), "{screen}");
    assert_eq!(fake.calls("RespondToAuthChallenge"), 2);
    assert_eq!(daemon.ctl(&["logout"]).code, 0);

    // An account that must reset its password: said on the terminal, exit 1.
    let mut terminal = Terminal::spawn(&cognitoctl, &["--socket", &socket, "login", "rita"]);
    terminal.expect("Password: ");
    terminal.type_line(PASSWORD);
    let (code, screen) = terminal.finish();
    assert_eq!(code, 1, "{screen}");
    assert!(
        screen.contains("the password must be reset first"),
        "{screen}"
    );
}
