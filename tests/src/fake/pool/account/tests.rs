//! The account calls' unit tests, and helpers the other account modules' tests share.

use super::super::{Grant, PoolOptions};
use super::*;

pub(in super::super) const NOW: i64 = 1_800_000_000;
pub(in super::super) const PASSWORD: &str = "Correct-Horse-9";
const NEW_PASSWORD: &str = "Battery-Staple-7";

pub(in super::super) fn pool(options: PoolOptions) -> PoolState {
    PoolState::new(options)
}

pub(in super::super) fn password_sign_in(
    pool: &mut PoolState,
    username: &str,
    password: &str,
    now: i64,
) -> Answer {
    let body = json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": pool.options.client_id,
                      "AuthParameters": {"USERNAME": username, "PASSWORD": password}});
    pool.initiate_auth(&body, now)
}

/// The access token of a sign-in without MFA.
pub(in super::super) fn access_token(pool: &mut PoolState, username: &str, now: i64) -> String {
    let password = pool.password(username).expect("a user");
    let answer = password_sign_in(pool, username, &password, now).expect("signed in");
    answer["AuthenticationResult"]["AccessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("tokens at once: {answer}"))
        .to_owned()
}

pub(in super::super) fn kind(answer: Answer) -> (&'static str, String) {
    let fault = answer.expect_err("refused");
    (fault.kind, fault.message)
}

fn sign_up(pool: &mut PoolState, username: &str, email: &str) -> Answer {
    let body = json!({"ClientId": pool.options.client_id, "Username": username,
        "Password": PASSWORD, "UserAttributes": [{"Name": "email", "Value": email}]});
    pool.sign_up(&body, NOW)
}

fn confirm(pool: &mut PoolState, username: &str, code: &str, session: &Value, now: i64) -> Answer {
    let mut body = json!({"ClientId": pool.options.client_id, "Username": username,
                          "ConfirmationCode": code});
    if !session.is_null() {
        body["Session"] = session.clone();
    }
    pool.confirm_sign_up(&body, now)
}

fn user_auth_with_session(pool: &mut PoolState, username: &str, session: &Value) -> Answer {
    let body = json!({"AuthFlow": "USER_AUTH", "ClientId": pool.options.client_id,
                      "AuthParameters": {"USERNAME": username}, "Session": session});
    pool.initiate_auth(&body, NOW + 10)
}

/// A code that is not `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().expect("digits");
    format!("{:06}", (n + 1) % 1_000_000)
}

#[test]
fn sign_up_confirm_and_sign_in_with_the_session() {
    let mut pool = pool(PoolOptions {
        user_auth: true,
        ..PoolOptions::default()
    });
    let answer = sign_up(&mut pool, "nina", "nina@example.com").expect("signed up");
    assert_eq!(answer["UserConfirmed"], false);
    assert_eq!(
        answer["CodeDeliveryDetails"],
        json!({"Destination": "n***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"})
    );
    assert_eq!(
        answer["UserSub"].as_str(),
        pool.user_attributes("nina").get("sub").map(String::as_str)
    );
    let session = answer["Session"].clone();
    assert!(session.is_string());
    assert_eq!(pool.user_attributes("nina")["email_verified"], "false");
    // Not confirmed: the right password gets no further.
    let early = password_sign_in(&mut pool, "nina", PASSWORD, NOW);
    assert_eq!(kind(early).0, "UserNotConfirmedException");

    let code = pool
        .account_code("nina", CodePurpose::SignUp)
        .expect("a code");
    assert_eq!(code.len(), 6);
    let (kind_of, message) = kind(confirm(&mut pool, "nina", &wrong(&code), &session, NOW));
    assert_eq!(kind_of, "CodeMismatchException");
    assert_eq!(
        message,
        "Invalid verification code provided, please try again."
    );
    let confirmed = confirm(&mut pool, "nina", &code, &session, NOW + 5).expect("confirmed");
    let session = confirmed["Session"].clone();
    assert!(session.is_string(), "{confirmed}");
    assert_eq!(pool.user_attributes("nina")["email_verified"], "true");

    let tokens = user_auth_with_session(&mut pool, "nina", &session).expect("tokens");
    assert!(tokens["AuthenticationResult"]["AccessToken"].is_string());
    assert!(tokens["AuthenticationResult"]["RefreshToken"].is_string());
    // Single use.
    let again = user_auth_with_session(&mut pool, "nina", &session);
    assert_eq!(kind(again).0, "NotAuthorizedException");

    let (kind_of, message) = kind(confirm(&mut pool, "nina", &code, &Value::Null, NOW));
    assert_eq!(kind_of, "NotAuthorizedException");
    assert_eq!(
        message,
        "User cannot be confirmed. Current status is CONFIRMED"
    );
    let resend = json!({"ClientId": pool.options.client_id, "Username": "nina"});
    let (kind_of, message) = kind(pool.resend_confirmation_code(&resend, NOW));
    assert_eq!(kind_of, "InvalidParameterException");
    assert_eq!(message, "User is already confirmed.");
    assert!(password_sign_in(&mut pool, "nina", PASSWORD, NOW).is_ok());
}

#[test]
fn the_sign_up_session_is_for_user_auth_pools_and_expires() {
    // Without choice-based sign-in the session is refused like USER_AUTH itself.
    let mut plain = pool(PoolOptions::default());
    let answer = sign_up(&mut plain, "omar", "omar@example.com").expect("signed up");
    let code = plain
        .account_code("omar", CodePurpose::SignUp)
        .expect("a code");
    let confirmed = confirm(&mut plain, "omar", &code, &answer["Session"], NOW).expect("ok");
    let refused = user_auth_with_session(&mut plain, "omar", &confirmed["Session"]);
    assert_eq!(kind(refused).0, "InvalidParameterException");

    // ConfirmSignUp after the SignUp session expired: confirmed, but no session.
    let mut pool = pool(PoolOptions {
        user_auth: true,
        ..PoolOptions::default()
    });
    let answer = sign_up(&mut pool, "pia", "pia@example.com").expect("signed up");
    let code = pool
        .account_code("pia", CodePurpose::SignUp)
        .expect("a code");
    let late = NOW + SESSION_SECONDS + 1;
    let confirmed = confirm(&mut pool, "pia", &code, &answer["Session"], late).expect("ok");
    assert_eq!(confirmed, json!({}));
    // And the confirmation's session expires too.
    let answer = sign_up(&mut pool, "quin", "quin@example.com").expect("signed up");
    let code = pool
        .account_code("quin", CodePurpose::SignUp)
        .expect("a code");
    let confirmed = confirm(&mut pool, "quin", &code, &answer["Session"], NOW).expect("ok");
    let body = json!({"AuthFlow": "USER_AUTH", "ClientId": pool.options.client_id,
        "AuthParameters": {"USERNAME": "quin"}, "Session": confirmed["Session"]});
    let expired = pool.initiate_auth(&body, NOW + SESSION_SECONDS);
    assert_eq!(kind(expired).0, "NotAuthorizedException");
}

#[test]
fn sign_up_checks_what_cognito_checks() {
    let mut pool = pool(PoolOptions {
        client_secret: Some("client-secret".into()),
        ..PoolOptions::default()
    });
    let client = pool.options.client_id.clone();
    let hash = super::super::secret_hash("client-secret", "rita", &client);
    let body = |extra: Value| {
        let mut body = json!({"ClientId": client, "Username": "rita", "Password": PASSWORD,
            "SecretHash": hash, "UserAttributes": [{"Name": "email", "Value": "r@example.com"}]});
        for (key, value) in extra.as_object().expect("an object") {
            body[key] = value.clone();
        }
        body
    };
    let no_hash = body(json!({"SecretHash": null}));
    assert_eq!(
        kind(pool.sign_up(&no_hash, NOW)).0,
        "NotAuthorizedException"
    );
    let other_client = body(json!({"ClientId": "nope"}));
    assert_eq!(
        kind(pool.sign_up(&other_client, NOW)).0,
        "ResourceNotFoundException"
    );
    let weak = body(json!({"Password": "weakpass"}));
    assert_eq!(
        kind(pool.sign_up(&weak, NOW)),
        (
            "InvalidPasswordException",
            "Password did not conform with policy: Password must have uppercase characters"
                .to_owned()
        )
    );
    let no_email = body(json!({"UserAttributes": [{"Name": "name", "Value": "Rita"}]}));
    assert_eq!(
        kind(pool.sign_up(&no_email, NOW)),
        (
            "InvalidParameterException",
            "Attributes did not conform to the schema: email: The attribute is required".to_owned()
        )
    );
    let sub = body(json!({"UserAttributes": [{"Name": "sub", "Value": "x"}]}));
    assert_eq!(kind(pool.sign_up(&sub, NOW)).0, "InvalidParameterException");
    let no_username = body(json!({"Username": null}));
    assert_eq!(
        kind(pool.sign_up(&no_username, NOW)).1,
        "1 validation error detected: Value null at 'username' failed to satisfy constraint: Member must not be null"
    );
    pool.sign_up(&body(json!({})), NOW).expect("signed up");
    assert_eq!(
        kind(pool.sign_up(&body(json!({})), NOW)),
        ("UsernameExistsException", "User already exists".to_owned())
    );
}

#[test]
fn email_sign_in_signs_up_with_the_email_and_a_generated_username() {
    let mut pool = pool(PoolOptions {
        email_sign_in: true,
        ..PoolOptions::default()
    });
    let client = pool.options.client_id.clone();
    let not_email = json!({"ClientId": client, "Username": "sam", "Password": PASSWORD});
    assert_eq!(
        kind(pool.sign_up(&not_email, NOW)),
        (
            "InvalidParameterException",
            "Username should be an email.".to_owned()
        )
    );
    let body = json!({"ClientId": client, "Username": "sam@example.com", "Password": PASSWORD});
    let answer = pool.sign_up(&body, NOW).expect("the username is the email");
    let sub = answer["UserSub"].as_str().expect("a sub");
    assert!(pool.user_exists(sub), "the sub is the canonical username");
    assert_eq!(
        pool.user_attributes("sam@example.com")["email"],
        "sam@example.com"
    );
    assert_eq!(
        kind(pool.sign_up(&body, NOW)),
        (
            "UsernameExistsException",
            "An account with the given email already exists.".to_owned()
        )
    );
    let code = pool
        .account_code("sam@example.com", CodePurpose::SignUp)
        .expect("a code");
    confirm(&mut pool, "sam@example.com", &code, &Value::Null, NOW).expect("by the email");
    assert!(password_sign_in(&mut pool, "sam@example.com", PASSWORD, NOW).is_ok());
}

#[test]
fn codes_expire_are_replaced_and_lock_after_too_many_wrong_tries() {
    let mut pool = pool(PoolOptions {
        code_seconds: 600,
        ..PoolOptions::default()
    });
    sign_up(&mut pool, "tara", "tara@example.com").expect("signed up");
    let first = pool
        .account_code("tara", CodePurpose::SignUp)
        .expect("a code");
    let expired = confirm(&mut pool, "tara", &first, &Value::Null, NOW + 600);
    assert_eq!(
        kind(expired),
        (
            "ExpiredCodeException",
            "Invalid code provided, please request a code again.".to_owned()
        )
    );
    let resend = json!({"ClientId": pool.options.client_id, "Username": "tara"});
    let answer = pool
        .resend_confirmation_code(&resend, NOW + 600)
        .expect("resent");
    assert_eq!(answer["CodeDeliveryDetails"]["DeliveryMedium"], "EMAIL");
    let code = pool
        .account_code("tara", CodePurpose::SignUp)
        .expect("a code");
    for _ in 0..5 {
        let refused = confirm(&mut pool, "tara", &wrong(&code), &Value::Null, NOW + 601);
        assert_eq!(kind(refused).0, "CodeMismatchException");
    }
    let locked = confirm(&mut pool, "tara", &code, &Value::Null, NOW + 602);
    assert_eq!(
        kind(locked),
        (
            "LimitExceededException",
            "Attempt limit exceeded, please try after some time.".to_owned()
        )
    );
    // A new code does not lift the lock.
    assert_eq!(
        kind(pool.resend_confirmation_code(&resend, NOW + 603)).0,
        "LimitExceededException"
    );
    // After the lockout (and this code's expiry), a new code works.
    let later = NOW + 602 + LOCKOUT_SECONDS;
    let expired = confirm(&mut pool, "tara", &code, &Value::Null, later);
    assert_eq!(kind(expired).0, "ExpiredCodeException");
    pool.resend_confirmation_code(&resend, later)
        .expect("resent");
    let code = pool
        .account_code("tara", CodePurpose::SignUp)
        .expect("a code");
    confirm(&mut pool, "tara", &code, &Value::Null, later).expect("after the lockout");
    // Used once.
    let reused = confirm(&mut pool, "tara", &code, &Value::Null, later);
    assert_eq!(kind(reused).0, "NotAuthorizedException");
}

#[test]
fn a_forgotten_password_is_replaced_with_a_code() {
    let mut pool = pool(PoolOptions::default());
    pool.add_user(UserSpec {
        email: Some("uma@example.com".into()),
        reset_required: true,
        ..UserSpec::new("uma", PASSWORD)
    });
    pool.add_user(UserSpec::new("vic", PASSWORD));
    let client = pool.options.client_id.clone();
    let forgot = |name: &str| json!({"ClientId": client, "Username": name});
    assert_eq!(
        kind(pool.forgot_password(&forgot("nobody"), NOW)),
        (
            "UserNotFoundException",
            "Username/client id combination not found.".to_owned()
        )
    );
    assert_eq!(
        kind(pool.forgot_password(&forgot("vic"), NOW)).0,
        "InvalidParameterException",
        "no verified email"
    );
    let sent = pool.forgot_password(&forgot("uma"), NOW).expect("a code");
    assert_eq!(sent["CodeDeliveryDetails"]["Destination"], "u***@e***");
    let code = pool
        .account_code("uma", CodePurpose::ForgotPassword)
        .expect("a code");
    let confirm = |code: &str, password: &str| {
        json!({"ClientId": client, "Username": "uma", "ConfirmationCode": code,
               "Password": password})
    };
    let weak = pool.confirm_forgot_password(&confirm(&code, "Sh0rt!"), NOW);
    assert_eq!(
        kind(weak),
        (
            "InvalidPasswordException",
            "Password does not conform to policy: Password not long enough".to_owned()
        )
    );
    let mismatch = pool.confirm_forgot_password(&confirm(&wrong(&code), NEW_PASSWORD), NOW);
    assert_eq!(kind(mismatch).0, "CodeMismatchException");
    let salt_before = pool.users[pool.find_user("uma").expect("uma")]
        .salt_hex
        .clone();
    pool.confirm_forgot_password(&confirm(&code, NEW_PASSWORD), NOW)
        .expect("a new password");

    assert_eq!(pool.password("uma").as_deref(), Some(NEW_PASSWORD));
    let user = &pool.users[pool.find_user("uma").expect("uma")];
    assert_ne!(user.salt_hex, salt_before, "a new salt");
    assert_eq!(
        user.verifier,
        srp::verifier(pool.pool_name(), "uma", NEW_PASSWORD, &user.salt_hex),
        "SRP sign-ins take the new password"
    );
    assert!(!user.reset_required);
    assert_eq!(
        kind(password_sign_in(&mut pool, "uma", PASSWORD, NOW)).0,
        "NotAuthorizedException"
    );
    assert!(password_sign_in(&mut pool, "uma", NEW_PASSWORD, NOW).is_ok());
    let reused = pool.confirm_forgot_password(&confirm(&code, NEW_PASSWORD), NOW);
    assert_eq!(kind(reused).0, "ExpiredCodeException");
}

#[test]
fn change_password_wants_the_previous_one_and_the_admin_scope() {
    let mut pool = pool(PoolOptions::default());
    pool.add_user(UserSpec::new("walt", PASSWORD));
    let token = access_token(&mut pool, "walt", NOW);
    let change = |previous: &str, proposed: &str| json!({"AccessToken": token, "PreviousPassword": previous, "ProposedPassword": proposed});
    assert_eq!(
        kind(pool.change_password(&change("Wrong-Horse-9", NEW_PASSWORD), NOW)),
        (
            "NotAuthorizedException",
            "Incorrect username or password.".to_owned()
        )
    );
    assert_eq!(
        kind(pool.change_password(&change(PASSWORD, "alllowercase1!"), NOW)).0,
        "InvalidPasswordException"
    );
    pool.change_password(&change(PASSWORD, NEW_PASSWORD), NOW)
        .expect("changed");
    assert!(password_sign_in(&mut pool, "walt", NEW_PASSWORD, NOW).is_ok());
    let user = &pool.users[pool.find_user("walt").expect("walt")];
    assert_eq!(
        user.verifier,
        srp::verifier(pool.pool_name(), "walt", NEW_PASSWORD, &user.salt_hex)
    );

    // A managed login's token without aws.cognito.signin.user.admin.
    let index = pool.find_user("walt").expect("walt");
    let grant = Grant {
        scope: Some("openid email".into()),
        nonce: None,
    };
    let narrow = pool.mint(index, NOW, None, &grant)["AccessToken"].clone();
    let body = json!({"AccessToken": narrow, "PreviousPassword": NEW_PASSWORD,
                      "ProposedPassword": PASSWORD});
    assert_eq!(
        kind(pool.change_password(&body, NOW)),
        (
            "NotAuthorizedException",
            "Access Token does not have required scopes".to_owned()
        )
    );
}

#[test]
fn a_deleted_user_is_gone_with_their_tokens() {
    let mut pool = pool(PoolOptions::default());
    pool.add_user(UserSpec {
        email: Some("xena@example.com".into()),
        ..UserSpec::new("xena", PASSWORD)
    });
    let answer = password_sign_in(&mut pool, "xena", PASSWORD, NOW).expect("signed in");
    let result = &answer["AuthenticationResult"];
    let access = result["AccessToken"].clone();
    let refresh = result["RefreshToken"].clone();
    let deleted = pool.delete_user(&json!({"AccessToken": access}), NOW);
    assert_eq!(deleted, Ok(Value::Null), "an empty body");
    assert!(!pool.user_exists("xena"));
    assert_eq!(
        kind(pool.get_user(&json!({"AccessToken": access}), NOW)),
        ("UserNotFoundException", "User does not exist.".to_owned())
    );
    let refresh_body = json!({"AuthFlow": "REFRESH_TOKEN_AUTH",
        "ClientId": pool.options.client_id, "AuthParameters": {"REFRESH_TOKEN": refresh}});
    assert_eq!(
        kind(pool.initiate_auth(&refresh_body, NOW)).0,
        "UserNotFoundException"
    );
    // The name taken again: the old tokens stay refused.
    sign_up(&mut pool, "xena", "xena@example.com").expect("the name is free");
    assert_eq!(
        kind(pool.get_user(&json!({"AccessToken": access}), NOW)).0,
        "UserNotFoundException"
    );
    assert_eq!(
        kind(pool.initiate_auth(&refresh_body, NOW)).0,
        "UserNotFoundException"
    );
}
