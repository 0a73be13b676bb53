//! The model check's tests, against botocore's real models (skipped without them).

use serde_json::json;

use super::*;

/// Whether the models are there (else the test is skipped, or fails under
/// `COGNITOD_TEST_STRICT`).
fn loaded() -> bool {
    crate::can_run(
        MODELS.is_ok(),
        "botocore's service models (COGNITOD_VENV or COGNITOD_BOTOCORE_DATA)",
    )
}

fn invalid(service: &str, action: &str, request: Value) -> String {
    let fault = validate(service, action, &request).expect_err("the request is invalid");
    assert_eq!(fault.kind, "InvalidParameterException", "{fault:?}");
    assert_eq!(fault.status, 400);
    fault.message
}

const SRP_A: &str = "0a1b2c3d";

#[test]
fn a_valid_initiate_auth_passes() {
    if !loaded() {
        return;
    }
    let request = json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": "3n4b5urk1ft4fl3mg5e62d9ado",
                         "AuthParameters": {"USERNAME": "alice", "SRP_A": SRP_A},
                         "ClientMetadata": {"app": "cognitod"}, "Unmodeled": 1});
    assert_eq!(
        validate(IDENTITY_PROVIDER, "InitiateAuth", &request),
        Ok(())
    );
}

#[test]
fn a_missing_required_member_is_named() {
    if !loaded() {
        return;
    }
    let message = invalid(
        IDENTITY_PROVIDER,
        "InitiateAuth",
        json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": null}),
    );
    assert_eq!(
        message,
        "1 validation error detected: Value null at 'clientId' failed to satisfy \
         constraint: Member must not be null"
    );
}

#[test]
fn a_too_long_string_fails_and_length_counts_characters() {
    if !loaded() {
        return;
    }
    let device = |name: String| {
        json!({"AccessToken": "a.b.c", "DeviceKey": "eu-west-1_0f1e2d3c-aaaa",
               "DeviceName": name})
    };
    let message = invalid(IDENTITY_PROVIDER, "ConfirmDevice", device("x".repeat(1025)));
    assert!(
        message.starts_with("1 validation error detected: Value 'xxx")
            && message.ends_with(
                "' at 'deviceName' failed to satisfy constraint: Member must have length \
                 less than or equal to 1024"
            ),
        "{message}"
    );
    let request = device("é".repeat(1024));
    assert_eq!(
        validate(IDENTITY_PROVIDER, "ConfirmDevice", &request),
        Ok(())
    );
}

#[test]
fn a_pattern_mismatch_fails_and_sensitive_values_stay_out() {
    if !loaded() {
        return;
    }
    let message = invalid(IDENTITY, "GetId", json!({"IdentityPoolId": "no-colon"}));
    assert_eq!(
        message,
        "1 validation error detected: Value 'no-colon' at 'identityPoolId' failed to \
         satisfy constraint: Member must satisfy regular expression pattern: \
         [\\w-]+:[0-9a-f-]+"
    );
    // Java's \w is ASCII; the client ID is sensitive, so its value is not shown.
    let request = json!({"Token": "a.b.c", "ClientId": "clïent"});
    let message = invalid(IDENTITY_PROVIDER, "RevokeToken", request);
    assert_eq!(
        message,
        "1 validation error detected: Value at 'clientId' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [\\w+]+"
    );
}

#[test]
fn a_value_outside_the_enum_fails() {
    if !loaded() {
        return;
    }
    let request = json!({"AccessToken": "a.b.c", "DeviceKey": "eu-west-1_0f1e",
                         "DeviceRememberedStatus": "REMEMBERED"});
    let message = invalid(IDENTITY_PROVIDER, "UpdateDeviceStatus", request);
    assert_eq!(
        message,
        "1 validation error detected: Value 'REMEMBERED' at 'deviceRememberedStatus' failed \
         to satisfy constraint: Member must satisfy enum value set: [remembered, \
         not_remembered]"
    );
}

#[test]
fn a_structure_in_a_list_is_checked_by_its_path() {
    if !loaded() {
        return;
    }
    let request = json!({"ClientId": "client", "Username": "alice", "UserAttributes": [
        {"Name": "email", "Value": "alice@example.com"},
        {"Value": "x"},
        {"Name": "", "Value": "y"},
    ]});
    let message = invalid(IDENTITY_PROVIDER, "SignUp", request);
    assert_eq!(
        message,
        "3 validation errors detected: Value null at 'userAttributes.2.member.name' failed \
         to satisfy constraint: Member must not be null; Value '' at \
         'userAttributes.3.member.name' failed to satisfy constraint: Member must have \
         length greater than or equal to 1; Value '' at 'userAttributes.3.member.name' \
         failed to satisfy constraint: Member must satisfy regular expression pattern: \
         [\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}\\t\\n\\r ]+"
    );
}

#[test]
fn several_errors_are_counted() {
    if !loaded() {
        return;
    }
    let message = invalid(
        IDENTITY_PROVIDER,
        "InitiateAuth",
        json!({"AuthFlow": "PASSWORD_AUTH", "Session": "short"}),
    );
    assert!(
        message.starts_with(
            "3 validation errors detected: Value 'PASSWORD_AUTH' at 'authFlow' failed to \
             satisfy constraint: Member must satisfy enum value set: [USER_SRP_AUTH, "
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "; Value null at 'clientId' failed to satisfy constraint: Member must not be null"
        ) && message.ends_with(
            "; Value at 'session' failed to satisfy constraint: Member must have length \
             greater than or equal to 20"
        ),
        "{message}"
    );
}

#[test]
fn list_elements_map_values_and_counts_are_checked_together() {
    if !loaded() {
        return;
    }
    let logins: serde_json::Map<String, Value> = (0..11)
        .map(|i| (format!("provider{i}"), json!("token")))
        .collect();
    let request = json!({"IdentityPoolId": "eu-west-1:0f1e", "Logins": logins});
    let message = invalid(IDENTITY, "GetId", request);
    assert!(
        message.starts_with("1 validation error detected: Value at 'logins'")
            && message.ends_with("Member must have length less than or equal to 10"),
        "{message}"
    );
    let request = json!({"IdentityPoolId": "eu-west-1:0f1e", "Logins": {"provider": ""}});
    let message = invalid(IDENTITY, "GetId", request);
    assert_eq!(
        message,
        "1 validation error detected: Value at 'logins' failed to satisfy constraint: Map \
         value must satisfy constraint: [Member must have length less than or equal to \
         50000, Member must have length greater than or equal to 1]"
    );
}

#[test]
fn a_wrong_type_is_a_serialization_exception() {
    if !loaded() {
        return;
    }
    let cases = [
        (
            json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": 7}),
            "NUMBER_VALUE can not be converted to a String",
        ),
        (
            json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": "c", "AuthParameters": []}),
            "Start of list found where not expected",
        ),
        (
            json!({"AuthFlow": ["USER_SRP_AUTH"], "ClientId": null}),
            "Start of list found where not expected",
        ),
        (json!([]), "Start of list found where not expected"),
    ];
    for (request, message) in cases {
        let fault =
            validate(IDENTITY_PROVIDER, "InitiateAuth", &request).expect_err("a type error");
        assert_eq!(
            (fault.kind, fault.message.as_str()),
            ("SerializationException", message)
        );
    }
    let request = json!({"AccessToken": "a.b.c", "Limit": "60"});
    let fault = validate(IDENTITY_PROVIDER, "ListDevices", &request).expect_err("a type error");
    assert_eq!(
        fault.message,
        "STRING_VALUE can not be converted to an Integer"
    );
    let request = json!({"AccessToken": "a.b.c", "Limit": 61});
    let message = invalid(IDENTITY_PROVIDER, "ListDevices", request);
    assert!(
        message.ends_with("Member must have value less than or equal to 60"),
        "{message}"
    );
}

#[test]
fn an_action_of_the_other_service_is_unknown() {
    if !loaded() {
        return;
    }
    let request = json!({"IdentityPoolId": "eu-west-1:0f1e"});
    let fault = validate(IDENTITY_PROVIDER, "GetId", &request).expect_err("not cognito-idp's");
    assert_eq!(fault.kind, "UnknownOperationException");
}

#[test]
fn only_the_look_behind_pattern_is_skipped() {
    if !loaded() {
        return;
    }
    let models = MODELS.as_ref().expect("loaded");
    let mut skipped: Vec<&str> = models
        .values()
        .flat_map(|service| service.shapes.values())
        .filter_map(|shape| match &shape.pattern {
            Some((java, None)) => Some(java.as_str()),
            _ => None,
        })
        .collect();
    skipped.sort_unstable();
    skipped.dedup();
    assert_eq!(skipped, [r"^[0-9A-Za-z\.\-_]*(?<!\.)$"]);
}

#[test]
fn java_classes_become_ascii_classes() {
    let regex = Regex::new(&translate(r"[\w-]+_[\S]+\d")).expect("compiles");
    assert!(regex.is_match("eu-west-1_a+b/c9"));
    assert!(!regex.is_match("é_x1"));
    assert!(!regex.is_match("a_b c1"));
    assert!(!regex.is_match("xa_b1y\n"));
}
