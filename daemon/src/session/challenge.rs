//! Cognito's sign-in challenges in Amplify's terms: which `nextStep` each one is, and how the
//! user's answer becomes `ChallengeResponses`. Pure functions.

use std::collections::BTreeMap;

use cognitod_proto::{CodeDeliveryDetails, NextStep, Secret, SignInStep};

use crate::cognito::auth::Challenge;
use crate::cognito::wire::SecretParameters;

/// Why an answer or a challenge cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum ChallengeError {
    /// The challenge is one cognitod cannot take the user through.
    Unsupported(String),
    /// The user's answer does not fit the step.
    BadAnswer(String),
}

/// What a passkey challenge is called in refusals.
const PASSKEYS: &str =
    "WEB_AUTHN (passkeys need the browser sign-in: `cognitoctl login --browser`)";

/// The issuer shown in authenticator apps for TOTP setup.
pub const TOTP_ISSUER: &str = "AWSCognito";

/// The step the user sees for `challenge`. `MFA_SETUP` is not here: it needs
/// AssociateSoftwareToken first (see [`totp_setup_step`]).
pub fn next_step(challenge: &Challenge) -> Result<NextStep, ChallengeError> {
    let params = &challenge.parameters;
    let step = match challenge.name.as_str() {
        "NEW_PASSWORD_REQUIRED" => {
            let required = json_list(params.get("requiredAttributes"));
            let missing: Vec<String> = required
                .iter()
                .map(|a| a.strip_prefix("userAttributes.").unwrap_or(a).to_owned())
                .collect();
            NextStep {
                missing_attributes: (!missing.is_empty()).then_some(missing),
                ..NextStep::new(SignInStep::ConfirmSignInWithNewPasswordRequired)
            }
        }
        "SOFTWARE_TOKEN_MFA" => NextStep::new(SignInStep::ConfirmSignInWithTotpCode),
        "SMS_MFA" | "EMAIL_OTP" | "SMS_OTP" => {
            let step = if challenge.name != "EMAIL_OTP" {
                SignInStep::ConfirmSignInWithSmsCode
            } else {
                SignInStep::ConfirmSignInWithEmailCode
            };
            NextStep {
                code_delivery_details: Some(CodeDeliveryDetails {
                    delivery_medium: params.get("CODE_DELIVERY_DELIVERY_MEDIUM").cloned(),
                    destination: params.get("CODE_DELIVERY_DESTINATION").cloned(),
                    attribute_name: None,
                }),
                ..NextStep::new(step)
            }
        }
        "SELECT_MFA_TYPE" => {
            let allowed: Vec<String> = json_list(params.get("MFAS_CAN_CHOOSE"))
                .iter()
                .filter_map(|name| amplify_mfa_name(name))
                .map(str::to_owned)
                .collect();
            NextStep {
                allowed_mfa_types: Some(allowed),
                ..NextStep::new(SignInStep::ContinueSignInWithMfaSelection)
            }
        }
        "SELECT_CHALLENGE" => {
            // USER_AUTH: the first factors offered that cognitod can take (passkeys need a
            // browser).
            let available: Vec<String> = challenge
                .available_challenges
                .iter()
                .filter(|c| c.as_str() != "WEB_AUTHN")
                .cloned()
                .collect();
            if available.is_empty() {
                return Err(ChallengeError::Unsupported(PASSKEYS.to_owned()));
            }
            NextStep {
                available_challenges: Some(available),
                ..NextStep::new(SignInStep::ContinueSignInWithFirstFactorSelection)
            }
        }
        "WEB_AUTHN" => return Err(ChallengeError::Unsupported(PASSKEYS.to_owned())),
        "CUSTOM_CHALLENGE" => {
            // The trigger's public parameters, without the ones naming the user.
            let info: BTreeMap<String, String> = params
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "USERNAME" | "USER_ID_FOR_SRP"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            NextStep {
                additional_info: Some(info),
                ..NextStep::new(SignInStep::ConfirmSignInWithCustomChallenge)
            }
        }
        other => return Err(ChallengeError::Unsupported(other.to_owned())),
    };
    Ok(step)
}

/// Whether an `MFA_SETUP` challenge can be met with an authenticator app.
pub fn can_set_up_totp(challenge: &Challenge) -> bool {
    json_list(challenge.parameters.get("MFAS_CAN_SETUP"))
        .iter()
        .any(|name| name == "SOFTWARE_TOKEN_MFA")
}

/// Whether an `MFA_SETUP` challenge can be met with email codes.
pub fn can_set_up_email(challenge: &Challenge) -> bool {
    json_list(challenge.parameters.get("MFAS_CAN_SETUP"))
        .iter()
        .any(|name| name == "EMAIL_OTP")
}

/// `CONTINUE_SIGN_IN_WITH_TOTP_SETUP` with the `otpauth://` URI for the secret.
pub fn totp_setup_step(secret_code: &Secret, username: &str) -> NextStep {
    NextStep {
        totp_setup_uri: Some(totp_uri(secret_code, username)),
        ..NextStep::new(SignInStep::ContinueSignInWithTotpSetup)
    }
}

/// The `otpauth://` URI an authenticator app reads the secret `secret_code` of `username`
/// from.
pub fn totp_uri(secret_code: &Secret, username: &str) -> Secret {
    let label = percent_encode(&format!("{TOTP_ISSUER}:{username}"));
    Secret::new(format!(
        "otpauth://totp/{label}?secret={}&issuer={}",
        secret_code.expose(),
        percent_encode(TOTP_ISSUER)
    ))
}

/// `ChallengeResponses` (without `USERNAME` and `SECRET_HASH`) answering `challenge` with the
/// user's `answer`.
pub fn responses(
    challenge: &Challenge,
    answer: &Secret,
    user_attributes: Option<&BTreeMap<String, String>>,
) -> Result<SecretParameters, ChallengeError> {
    let mut responses = SecretParameters::new();
    match challenge.name.as_str() {
        "NEW_PASSWORD_REQUIRED" => {
            responses.insert("NEW_PASSWORD".into(), answer.clone());
            for (name, value) in user_attributes.into_iter().flatten() {
                responses.insert(format!("userAttributes.{name}"), Secret::new(value.clone()));
            }
        }
        "SOFTWARE_TOKEN_MFA" => {
            responses.insert("SOFTWARE_TOKEN_MFA_CODE".into(), code(answer)?);
        }
        "SMS_MFA" => {
            responses.insert("SMS_MFA_CODE".into(), code(answer)?);
        }
        "EMAIL_OTP" => {
            responses.insert("EMAIL_OTP_CODE".into(), code(answer)?);
        }
        "SMS_OTP" => {
            responses.insert("SMS_OTP_CODE".into(), code(answer)?);
        }
        "SELECT_MFA_TYPE" => {
            let offered = json_list(challenge.parameters.get("MFAS_CAN_CHOOSE"));
            let wanted = answer.expose().trim();
            let chosen = offered
                .iter()
                .find(|name| {
                    amplify_mfa_name(name).is_some_and(|a| a.eq_ignore_ascii_case(wanted))
                        || name.eq_ignore_ascii_case(wanted)
                })
                .ok_or_else(|| {
                    let allowed: Vec<&str> =
                        offered.iter().filter_map(|n| amplify_mfa_name(n)).collect();
                    ChallengeError::BadAnswer(format!(
                        "{wanted:?} is not one of the offered MFA types ({})",
                        allowed.join(", ")
                    ))
                })?;
            responses.insert("ANSWER".into(), Secret::new(chosen.clone()));
        }
        "MFA_SETUP" => {}
        "CUSTOM_CHALLENGE" => {
            // Whatever the pool's trigger expects, as typed.
            if answer.is_empty() {
                return Err(ChallengeError::BadAnswer("the answer is empty".to_owned()));
            }
            responses.insert("ANSWER".into(), answer.clone());
        }
        other => return Err(ChallengeError::Unsupported(other.to_owned())),
    }
    Ok(responses)
}

/// A one-time code: digits only, surrounding space dropped.
pub fn code(answer: &Secret) -> Result<Secret, ChallengeError> {
    let code = answer.expose().trim();
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(ChallengeError::BadAnswer(
            "the code must be digits only".to_owned(),
        ));
    }
    Ok(Secret::new(code))
}

/// Amplify's names for Cognito's MFA types.
fn amplify_mfa_name(cognito: &str) -> Option<&'static str> {
    match cognito {
        "SOFTWARE_TOKEN_MFA" => Some("TOTP"),
        "SMS_MFA" => Some("SMS"),
        "EMAIL_OTP" => Some("EMAIL"),
        _ => None,
    }
}

/// Challenge parameters that hold a JSON list in a string (`"[\"SMS_MFA\"]"`).
fn json_list(value: Option<&String>) -> Vec<String> {
    value
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(name: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            name: name.to_owned(),
            username: "alice".to_owned(),
            available_challenges: Vec::new(),
            session: None,
            parameters: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn new_password_lists_missing_attributes_without_prefix() {
        let step = next_step(&challenge(
            "NEW_PASSWORD_REQUIRED",
            &[(
                "requiredAttributes",
                r#"["userAttributes.name","userAttributes.family_name"]"#,
            )],
        ))
        .unwrap();
        assert_eq!(
            step.sign_in_step,
            SignInStep::ConfirmSignInWithNewPasswordRequired
        );
        assert_eq!(
            step.missing_attributes,
            Some(vec!["name".to_owned(), "family_name".to_owned()])
        );
        let attributes = BTreeMap::from([("name".to_owned(), "Ann".to_owned())]);
        let answer = responses(
            &challenge("NEW_PASSWORD_REQUIRED", &[]),
            &Secret::new("N3w-Password"),
            Some(&attributes),
        )
        .unwrap();
        assert_eq!(answer["NEW_PASSWORD"].expose(), "N3w-Password");
        assert_eq!(answer["userAttributes.name"].expose(), "Ann");
    }

    #[test]
    fn mfa_codes_and_their_delivery() {
        let sms = next_step(&challenge(
            "SMS_MFA",
            &[
                ("CODE_DELIVERY_DELIVERY_MEDIUM", "SMS"),
                ("CODE_DELIVERY_DESTINATION", "+***0100"),
            ],
        ))
        .unwrap();
        assert_eq!(sms.sign_in_step, SignInStep::ConfirmSignInWithSmsCode);
        assert_eq!(
            sms.code_delivery_details.unwrap().destination.as_deref(),
            Some("+***0100")
        );
        let email = next_step(&challenge("EMAIL_OTP", &[])).unwrap();
        assert_eq!(email.sign_in_step, SignInStep::ConfirmSignInWithEmailCode);
        let totp = challenge("SOFTWARE_TOKEN_MFA", &[]);
        assert_eq!(
            next_step(&totp).unwrap().sign_in_step,
            SignInStep::ConfirmSignInWithTotpCode
        );
        let answer = responses(&totp, &Secret::new(" 123456\n"), None).unwrap();
        assert_eq!(answer["SOFTWARE_TOKEN_MFA_CODE"].expose(), "123456");
        assert!(matches!(
            responses(&totp, &Secret::new("12a456"), None),
            Err(ChallengeError::BadAnswer(_))
        ));
    }

    #[test]
    fn mfa_selection_speaks_amplify_names() {
        let select = challenge(
            "SELECT_MFA_TYPE",
            &[("MFAS_CAN_CHOOSE", r#"["SMS_MFA","SOFTWARE_TOKEN_MFA"]"#)],
        );
        assert_eq!(
            next_step(&select).unwrap().allowed_mfa_types,
            Some(vec!["SMS".to_owned(), "TOTP".to_owned()])
        );
        let answer = responses(&select, &Secret::new("totp"), None).unwrap();
        assert_eq!(answer["ANSWER"].expose(), "SOFTWARE_TOKEN_MFA");
        assert!(matches!(
            responses(&select, &Secret::new("EMAIL"), None),
            Err(ChallengeError::BadAnswer(_))
        ));
    }

    #[test]
    fn totp_setup_uri_is_an_otpauth_uri() {
        let step = totp_setup_step(&Secret::new("JBSWY3DPEHPK3PXP"), "ann@example.com");
        assert_eq!(
            step.totp_setup_uri.as_ref().map(Secret::expose),
            Some(
                "otpauth://totp/AWSCognito%3Aann%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=AWSCognito"
            )
        );
        assert!(can_set_up_totp(&challenge(
            "MFA_SETUP",
            &[("MFAS_CAN_SETUP", r#"["SOFTWARE_TOKEN_MFA"]"#)]
        )));
        assert!(!can_set_up_totp(&challenge(
            "MFA_SETUP",
            &[("MFAS_CAN_SETUP", r#"["EMAIL_OTP"]"#)]
        )));
    }

    #[test]
    fn unknown_challenges_are_unsupported() {
        assert_eq!(
            next_step(&challenge("SMS_MFA_SETUP_SOMEDAY", &[])),
            Err(ChallengeError::Unsupported("SMS_MFA_SETUP_SOMEDAY".into()))
        );
        // Passkeys: toward the browser sign-in, also when they are all that is offered.
        let Err(ChallengeError::Unsupported(passkey)) = next_step(&challenge("WEB_AUTHN", &[]))
        else {
            panic!("refused")
        };
        assert!(passkey.contains("cognitoctl login --browser"), "{passkey}");
        let mut only_passkeys = challenge("SELECT_CHALLENGE", &[]);
        only_passkeys.available_challenges = vec!["WEB_AUTHN".into()];
        assert!(next_step(&only_passkeys).is_err());
    }

    #[test]
    fn a_custom_challenge_shows_its_public_parameters_and_takes_the_answer_as_typed() {
        let custom = challenge(
            "CUSTOM_CHALLENGE",
            &[
                ("USERNAME", "alice"),
                ("question", "2 + 3?"),
                ("USER_ID_FOR_SRP", "alice"),
            ],
        );
        let step = next_step(&custom).unwrap();
        assert_eq!(
            step.sign_in_step,
            SignInStep::ConfirmSignInWithCustomChallenge
        );
        assert_eq!(
            step.additional_info,
            Some(BTreeMap::from([(
                "question".to_owned(),
                "2 + 3?".to_owned()
            )]))
        );
        let answer = responses(&custom, &Secret::new(" Five "), None).unwrap();
        assert_eq!(answer["ANSWER"].expose(), " Five ");
        assert!(responses(&custom, &Secret::new(""), None).is_err());
    }
}
