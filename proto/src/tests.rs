use serde_json::json;

use super::*;

#[test]
fn timestamps_are_rfc3339_utc_whole_seconds() {
    let t = Timestamp::from_unix(1_795_719_909);
    assert_eq!(t.to_string(), "2026-11-26T19:05:09Z");
    assert_eq!(
        serde_json::to_value(t).unwrap(),
        json!("2026-11-26T19:05:09Z")
    );
    assert_eq!(Timestamp::parse("2026-11-26T19:05:09Z").unwrap(), t);
    assert_eq!(Timestamp::parse("2026-11-26T20:05:09.75+01:00").unwrap(), t);
    assert!(Timestamp::parse("yesterday").is_err());
}

#[test]
fn secrets_are_redacted_in_debug_but_sent_on_the_wire() {
    let request = SignInRequest {
        username: "alice".into(),
        password: Secret::new("hunter2-Long-Pass"),
        auth_flow_type: None,
        client_metadata: None,
        preferred_challenge: None,
    };
    let debug = format!("{request:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("<redacted>"));
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({"username": "alice", "password": "hunter2-Long-Pass"})
    );
}

#[test]
fn sign_in_request_accepts_unknown_fields_and_flow_names() {
    let request: SignInRequest = serde_json::from_value(json!({
        "username": "alice", "password": "pw", "authFlowType": "USER_PASSWORD_AUTH", "extra": 1
    }))
    .unwrap();
    assert_eq!(request.auth_flow_type, Some(AuthFlowType::UserPasswordAuth));
    // No password: CUSTOM_WITHOUT_SRP needs none (the daemon refuses it for other flows).
    let custom: SignInRequest = serde_json::from_value(json!({
        "username": "alice", "authFlowType": "CUSTOM_WITHOUT_SRP",
        "clientMetadata": {"source": "cli"}
    }))
    .unwrap();
    assert!(custom.password.is_empty());
    assert_eq!(custom.auth_flow_type, Some(AuthFlowType::CustomWithoutSrp));
    assert_eq!(
        serde_json::to_value(&custom).unwrap(),
        json!({"username": "alice", "authFlowType": "CUSTOM_WITHOUT_SRP",
               "clientMetadata": {"source": "cli"}})
    );
}

#[test]
fn session_golden_json() {
    let signed_in = Session {
        is_signed_in: true,
        username: Some("alice".into()),
        user_sub: Some("sub-1".into()),
        tokens: Some(Tokens {
            id_token: Secret::new("id.jwt"),
            access_token: Secret::new("access.jwt"),
            expires_at: Timestamp::from_unix(0),
        }),
        identity_id: None,
        credentials: None,
        federated_provider: None,
    };
    assert_eq!(
        serde_json::to_value(&signed_in).unwrap(),
        json!({"isSignedIn": true, "username": "alice", "userSub": "sub-1", "tokens": {
            "idToken": "id.jwt", "accessToken": "access.jwt", "expiresAt": "1970-01-01T00:00:00Z"}})
    );
    let signed_out = Session {
        is_signed_in: false,
        username: None,
        user_sub: None,
        tokens: None,
        identity_id: None,
        credentials: None,
        federated_provider: None,
    };
    assert_eq!(
        serde_json::to_value(&signed_out).unwrap(),
        json!({"isSignedIn": false})
    );
    let event = Event {
        id: 7,
        at: Timestamp::from_unix(0),
        kind: EventKind::SignedIn {
            username: "accounts.google.com".into(),
            federated_provider: Some("accounts.google.com".into()),
        },
    };
    assert_eq!(
        serde_json::to_value(&event).unwrap(),
        json!({"id": 7, "at": "1970-01-01T00:00:00Z", "type": "signedIn",
               "username": "accounts.google.com", "federatedProvider": "accounts.google.com"})
    );
}

#[test]
fn status_golden_json_round_trips() {
    let text = json!({
        "version": "0.1.0", "apiVersion": 1, "state": "signedIn", "guest": false,
        "username": "alice", "tokensExpireAt": "2026-11-26T19:05:09Z",
        "lastRefresh": {"at": "2026-11-26T18:05:09Z", "ok": true},
        "consecutiveFailures": 0, "upstream": "ok", "someFutureField": [1, 2],
        "lastSignOut": {"at": "2026-11-26T17:05:09Z", "username": "bob", "reason": "revoked"},
        "nextStep": {"signInStep": "CONFIRM_SIGN_IN_WITH_TOTP_CODE"}
    });
    let status: Status = serde_json::from_value(text.clone()).unwrap();
    assert_eq!(status.state, SessionState::SignedIn);
    let mut expected = text;
    expected.as_object_mut().unwrap().remove("someFutureField");
    assert_eq!(serde_json::to_value(&status).unwrap(), expected);
}

#[test]
fn next_step_names_follow_amplify() {
    let response = SignInResponse {
        is_signed_in: false,
        next_step: NextStep {
            allowed_mfa_types: Some(vec!["TOTP".into()]),
            ..NextStep::new(SignInStep::ContinueSignInWithMfaSelection)
        },
    };
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"isSignedIn": false, "nextStep": {
            "signInStep": "CONTINUE_SIGN_IN_WITH_MFA_SELECTION", "allowedMFATypes": ["TOTP"]}})
    );
    assert_eq!(
        serde_json::to_value(SignInStep::ConfirmSignInWithTotpCode).unwrap(),
        json!("CONFIRM_SIGN_IN_WITH_TOTP_CODE")
    );
}

#[test]
fn error_body_golden_json() {
    let body = ErrorBody {
        error: ApiError {
            code: codes::USER_UNAUTHENTICATED.into(),
            message: "not signed in".into(),
            recovery_suggestion: None,
        },
    };
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"error": {"code": "UserUnAuthenticatedException", "message": "not signed in"}})
    );
    let sign_out: SignOutRequest = serde_json::from_str("{}").unwrap();
    assert!(!sign_out.global);
}

#[test]
fn events_golden_json() {
    let event = Event {
        id: 7,
        at: Timestamp::from_unix(0),
        kind: EventKind::TokenRefresh {
            expires_at: Timestamp::from_unix(3600),
        },
    };
    assert_eq!(
        serde_json::to_value(&event).unwrap(),
        json!({"id": 7, "type": "tokenRefresh", "at": "1970-01-01T00:00:00Z", "expiresAt": "1970-01-01T01:00:00Z"})
    );
    let failure: Event = serde_json::from_value(json!({
        "type": "tokenRefresh_failure", "at": "1970-01-01T00:00:00Z", "error": "x"
    }))
    .unwrap();
    assert_eq!(failure.kind.name(), "tokenRefresh_failure");
    let expired = Event {
        id: 0,
        at: Timestamp::from_unix(0),
        kind: EventKind::SessionExpired {},
    };
    assert_eq!(
        serde_json::to_value(&expired).unwrap(),
        json!({"type": "sessionExpired", "at": "1970-01-01T00:00:00Z"})
    );
}

#[test]
fn sign_out_golden_json() {
    let response = SignOutResponse {
        is_signed_in: false,
        revoked: false,
        revoke_error: Some(ApiError {
            code: codes::UPSTREAM_UNAVAILABLE.into(),
            message: "m".into(),
            recovery_suggestion: None,
        }),
        retrying: false,
        logout_url: None,
    };
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"isSignedIn": false, "revoked": false,
               "revokeError": {"code": "UpstreamUnavailable", "message": "m"}})
    );
}

#[test]
fn redirect_golden_json() {
    let details: SignInDetails = serde_json::from_value(
        json!({"loginId": "TestIdP_1", "authFlowType": "REDIRECT", "provider": "TestIdP"}),
    )
    .unwrap();
    assert_eq!(details.auth_flow_type, AuthFlowType::Redirect);
    assert_eq!(details.provider.as_deref(), Some("TestIdP"));
    // Recorded before browser sign-in existed: no provider.
    let old: SignInDetails =
        serde_json::from_value(json!({"loginId": "alice", "authFlowType": "USER_SRP_AUTH"}))
            .unwrap();
    assert_eq!(
        serde_json::to_value(&old).unwrap(),
        json!({"loginId": "alice", "authFlowType": "USER_SRP_AUTH"})
    );
    let request: CompleteRedirectRequest =
        serde_json::from_value(json!({"callbackUrl": "http://localhost:1/cb?code=c&state=s"}))
            .unwrap();
    assert_eq!(
        request.callback_url.expose(),
        "http://localhost:1/cb?code=c&state=s"
    );
    let empty: RedirectSignInRequest = serde_json::from_value(json!({})).unwrap();
    assert_eq!(empty.provider, None);
}

#[test]
fn newer_flows_and_steps_parse_as_unknown() {
    let user: User = serde_json::from_value(json!({
        "username": "alice", "userId": "sub-1",
        "signInDetails": {"loginId": "alice", "authFlowType": "SOME_FUTURE_FLOW"}
    }))
    .unwrap();
    assert_eq!(user.sign_in_details.auth_flow_type, AuthFlowType::Unknown);
    let step: NextStep =
        serde_json::from_value(json!({"signInStep": "CONFIRM_SIGN_IN_WITH_SOMETHING_NEW"}))
            .unwrap();
    assert_eq!(step.sign_in_step, SignInStep::Unknown);
}

#[test]
fn profile_names_are_safe_in_paths() {
    for good in [
        "staging",
        "prod-eu",
        "a",
        "dev_2",
        "0admin",
        &"x".repeat(32),
    ] {
        assert!(is_profile_name(good), "{good}");
    }
    for bad in [
        "",
        "Prod",
        "-x",
        "_x",
        "a/b",
        "..",
        "a.b",
        "a b",
        &"x".repeat(33),
    ] {
        assert!(!is_profile_name(bad), "{bad}");
    }
    assert_eq!(
        profile_socket_path(
            Some(std::path::Path::new("/run/user/1000")),
            1000,
            "staging"
        ),
        std::path::PathBuf::from("/run/user/1000/cognitod/profiles/staging/socket")
    );
    assert_eq!(
        profile_socket_path(None, 1000, "dev"),
        std::path::PathBuf::from("/tmp/cognitod-1000/profiles/dev/socket")
    );
}
