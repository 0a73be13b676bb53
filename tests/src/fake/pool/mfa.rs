//! A signed-in user's second factors: an authenticator app set up with the access token
//! (AssociateSoftwareToken, VerifySoftwareToken; the `MFA_SETUP` challenge's way with a
//! `Session` is in pool.rs) and the MFA preferences (SetUserMFAPreference). As in Cognito, a
//! verified authenticator is asked for at sign-in only once SetUserMFAPreference enables it.

use serde_json::{Value, json};

use super::account::member;
use super::{Answer, CognitoFault, Mfa, PoolState, User, fault, random_bytes, totp};

/// A user's MFA settings, for tests to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaSettings {
    /// The factors sign-ins ask for.
    pub enabled: Vec<Mfa>,
    pub preferred: Option<Mfa>,
    /// An authenticator was verified (enabled or not).
    pub totp_verified: bool,
}

fn invalid(message: impl Into<String>) -> CognitoFault {
    fault("InvalidParameterException", message)
}

/// `UserCode`: six digits.
fn user_code(body: &Value) -> Result<&str, CognitoFault> {
    let code = member(body, "UserCode")?;
    let constraint = match code.chars().count() {
        n if n < 6 => Some("Member must have length greater than or equal to 6"),
        n if n > 6 => Some("Member must have length less than or equal to 6"),
        _ if !code.chars().all(|c| c.is_ascii_digit()) => {
            Some("Member must satisfy regular expression pattern: [0-9]+")
        }
        _ => None,
    };
    match constraint {
        Some(constraint) => Err(invalid(format!(
            "1 validation error detected: Value at 'userCode' failed to satisfy constraint: {constraint}"
        ))),
        None => Ok(code),
    }
}

/// Which of `AccessToken` and `Session` a software-token call carries: exactly one.
fn by_access_token(body: &Value) -> Result<bool, CognitoFault> {
    let present = |name: &str| body.get(name).is_some_and(|v| !v.is_null());
    match (present("AccessToken"), present("Session")) {
        (true, false) => Ok(true),
        (false, true) => Ok(false),
        (true, true) => Err(invalid("Only one of AccessToken and Session may be given.")),
        (false, false) => Err(invalid("Either AccessToken or Session is required.")),
    }
}

impl User {
    /// The second factors sign-ins ask for.
    pub(super) fn mfa_enabled(&self) -> Vec<Mfa> {
        let mut factors = Vec::new();
        if self.totp_enabled && self.totp_secret.is_some() {
            factors.push(Mfa::Totp);
        }
        if self.sms_mfa {
            factors.push(Mfa::Sms);
        }
        if self.email_mfa {
            factors.push(Mfa::Email);
        }
        factors
    }
}

impl PoolState {
    /// A user's MFA settings (canonical name or sign-in alias).
    pub fn mfa_settings(&self, username_or_alias: &str) -> Option<MfaSettings> {
        let user = &self.users[self.find_user(username_or_alias)?];
        let enabled = user.mfa_enabled();
        Some(MfaSettings {
            preferred: user.preferred_mfa.filter(|p| enabled.contains(p)),
            enabled,
            totp_verified: user.totp_secret.is_some(),
        })
    }

    /// `AssociateSoftwareToken`: a new authenticator secret, for the access token's user or
    /// the `MFA_SETUP` challenge's session.
    pub fn associate_software_token(&mut self, body: &Value, now: i64) -> Answer {
        if !by_access_token(body)? {
            return self.associate_software_token_in_session(body, now);
        }
        let index = self.account_user(body, now)?;
        let secret = random_bytes(20);
        self.users[index].pending_totp = Some(secret.clone());
        Ok(json!({ "SecretCode": totp::base32(&secret) }))
    }

    /// `VerifySoftwareToken`: with the access token, the associated secret becomes the user's
    /// verified authenticator (not yet asked for at sign-in).
    pub fn verify_software_token(&mut self, body: &Value, now: i64) -> Answer {
        let access = by_access_token(body)?;
        let code = user_code(body)?;
        if !access {
            return self.verify_software_token_in_session(body, now);
        }
        let index = self.account_user(body, now)?;
        let secret = self.users[index].pending_totp.clone().ok_or_else(|| {
            fault(
                "SoftwareTokenMFANotFoundException",
                "Software Token MFA has not been associated with the user.",
            )
        })?;
        if !totp::verify(&secret, code, now) {
            return Err(fault(
                "EnableSoftwareTokenMFAException",
                "Code mismatch and fail enable Software Token MFA",
            ));
        }
        let user = &mut self.users[index];
        user.totp_secret = Some(secret);
        user.pending_totp = None;
        Ok(json!({ "Status": "SUCCESS" }))
    }

    /// `SetUserMFAPreference`: which factors are enabled, and the one preferred.
    pub fn set_user_mfa_preference(&mut self, body: &Value, now: i64) -> Answer {
        let index = self.account_user(body, now)?;
        let settings: Vec<(Mfa, bool, bool)> = [
            ("SMSMfaSettings", Mfa::Sms),
            ("SoftwareTokenMfaSettings", Mfa::Totp),
            ("EmailMfaSettings", Mfa::Email),
        ]
        .into_iter()
        .filter_map(|(name, mfa)| {
            let setting = body.get(name).filter(|s| s.is_object())?;
            let flag = |key: &str| setting[key].as_bool().unwrap_or(false);
            Some((mfa, flag("Enabled"), flag("PreferredMfa")))
        })
        .collect();
        if body["WebAuthnMfaSettings"]["Enabled"] == true {
            return Err(invalid("The user has no passkey to turn on WEB_AUTHN MFA."));
        }
        if settings
            .iter()
            .filter(|(_, _, preferred)| *preferred)
            .count()
            > 1
        {
            return Err(invalid("Only one MFA method can be preferred."));
        }
        let user = &self.users[index];
        for &(mfa, enabled, preferred) in &settings {
            if preferred && !enabled {
                return Err(invalid(format!(
                    "{} cannot be preferred without being enabled.",
                    mfa.challenge()
                )));
            }
            let usable = match mfa {
                Mfa::Totp => user.totp_secret.is_some(),
                Mfa::Sms => user.sms_mfa || user.attributes.contains_key("phone_number"),
                Mfa::Email => user.email_mfa || user.email.is_some(),
            };
            if enabled && !usable {
                return Err(invalid(match mfa {
                    Mfa::Totp => "User has not verified software token mfa".to_owned(),
                    other => format!(
                        "User does not have delivery config set to turn on {}",
                        other.challenge()
                    ),
                }));
            }
        }
        let user = &mut self.users[index];
        for (mfa, enabled, preferred) in settings {
            match mfa {
                Mfa::Totp => user.totp_enabled = enabled,
                Mfa::Sms => user.sms_mfa = enabled,
                Mfa::Email => user.email_mfa = enabled,
            }
            if preferred {
                user.preferred_mfa = Some(mfa);
            } else if user.preferred_mfa == Some(mfa) {
                user.preferred_mfa = None;
            }
        }
        Ok(json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::super::account::tests::{NOW, PASSWORD, access_token, kind, password_sign_in, pool};
    use super::super::{PoolOptions, UserSpec};
    use super::*;

    fn preference(token: &str, totp: Value) -> Value {
        json!({"AccessToken": token, "SoftwareTokenMfaSettings": totp})
    }

    #[test]
    fn an_authenticator_set_up_with_the_access_token_is_asked_for_once_enabled() {
        let mut pool = pool(PoolOptions::default());
        pool.add_user(UserSpec::new("abby", PASSWORD));
        let token = access_token(&mut pool, "abby", NOW);
        let enable = preference(&token, json!({"Enabled": true, "PreferredMfa": true}));
        assert_eq!(
            kind(pool.set_user_mfa_preference(&enable, NOW)),
            (
                "InvalidParameterException",
                "User has not verified software token mfa".to_owned()
            )
        );

        let associated = pool
            .associate_software_token(&json!({"AccessToken": token}), NOW)
            .expect("a secret");
        let secret_code = associated["SecretCode"].as_str().expect("a secret code");
        assert!(associated.get("Session").is_none(), "{associated}");
        let secret = totp::from_base32(secret_code).expect("base32");
        let verify = |code: &str| json!({"AccessToken": token, "UserCode": code});
        let right = totp::code(&secret, NOW);
        let wrong = if right == "000000" {
            "000001"
        } else {
            "000000"
        };
        assert_eq!(
            kind(pool.verify_software_token(&verify(wrong), NOW)),
            (
                "EnableSoftwareTokenMFAException",
                "Code mismatch and fail enable Software Token MFA".to_owned()
            )
        );
        assert_eq!(
            kind(pool.verify_software_token(&verify("12345"), NOW)).0,
            "InvalidParameterException"
        );
        let both = json!({"AccessToken": token, "Session": "x".repeat(40), "UserCode": right});
        assert_eq!(
            kind(pool.verify_software_token(&both, NOW)).0,
            "InvalidParameterException"
        );
        assert_eq!(
            pool.verify_software_token(&verify(&right), NOW),
            Ok(json!({"Status": "SUCCESS"}))
        );
        assert_eq!(pool.totp_secret("abby"), Some(secret.clone()));
        // Verified, not enabled: sign-ins still go without it.
        let settings = pool.mfa_settings("abby").expect("a user");
        assert!(settings.totp_verified && settings.enabled.is_empty());
        access_token(&mut pool, "abby", NOW);

        // Preferring a factor that is not enabled, or two at once, is refused.
        let not_enabled = preference(&token, json!({"Enabled": false, "PreferredMfa": true}));
        assert!(pool.set_user_mfa_preference(&not_enabled, NOW).is_err());
        let two = json!({"AccessToken": token,
            "SoftwareTokenMfaSettings": {"Enabled": true, "PreferredMfa": true},
            "EmailMfaSettings": {"Enabled": true, "PreferredMfa": true}});
        assert!(pool.set_user_mfa_preference(&two, NOW).is_err());
        let no_phone = json!({"AccessToken": token, "SMSMfaSettings": {"Enabled": true}});
        assert_eq!(
            kind(pool.set_user_mfa_preference(&no_phone, NOW)).1,
            "User does not have delivery config set to turn on SMS_MFA"
        );

        assert_eq!(pool.set_user_mfa_preference(&enable, NOW), Ok(json!({})));
        let user = pool
            .get_user(&json!({"AccessToken": token}), NOW)
            .expect("the user");
        assert_eq!(user["PreferredMfaSetting"], "SOFTWARE_TOKEN_MFA");
        assert_eq!(user["UserMFASettingList"], json!(["SOFTWARE_TOKEN_MFA"]));
        let challenge = password_sign_in(&mut pool, "abby", PASSWORD, NOW).expect("a challenge");
        assert_eq!(challenge["ChallengeName"], "SOFTWARE_TOKEN_MFA");
        let done = pool
            .respond_to_auth_challenge(
                &json!({"ChallengeName": "SOFTWARE_TOKEN_MFA", "ClientId": pool.options.client_id,
                        "Session": challenge["Session"],
                        "ChallengeResponses": {"USERNAME": "abby",
                                               "SOFTWARE_TOKEN_MFA_CODE": right}}),
                NOW,
            )
            .expect("the right code");
        assert!(done["AuthenticationResult"]["AccessToken"].is_string());

        // Turned off again: no more challenge.
        let disable = preference(&token, json!({"Enabled": false}));
        pool.set_user_mfa_preference(&disable, NOW)
            .expect("disabled");
        assert_eq!(
            pool.mfa_settings("abby"),
            Some(MfaSettings {
                enabled: Vec::new(),
                preferred: None,
                totp_verified: true
            })
        );
        access_token(&mut pool, "abby", NOW);
    }

    #[test]
    fn several_enabled_factors_follow_the_preference() {
        let mut pool = pool(PoolOptions::default());
        pool.add_user(UserSpec {
            email: Some("ben@example.com".into()),
            totp_secret: Some(b"ben-totp-secret".to_vec()),
            ..UserSpec::new("ben", PASSWORD)
        });
        let totp_code = totp::code(b"ben-totp-secret", NOW);
        let first = password_sign_in(&mut pool, "ben", PASSWORD, NOW).expect("a challenge");
        let token = pool
            .respond_to_auth_challenge(
                &json!({"ChallengeName": "SOFTWARE_TOKEN_MFA", "ClientId": pool.options.client_id,
                        "Session": first["Session"],
                        "ChallengeResponses": {"USERNAME": "ben",
                                               "SOFTWARE_TOKEN_MFA_CODE": totp_code}}),
                NOW,
            )
            .expect("signed in")["AuthenticationResult"]["AccessToken"]
            .as_str()
            .expect("a token")
            .to_owned();
        let email_preferred = json!({"AccessToken": token,
            "EmailMfaSettings": {"Enabled": true, "PreferredMfa": true}});
        pool.set_user_mfa_preference(&email_preferred, NOW)
            .expect("set");
        let next = password_sign_in(&mut pool, "ben", PASSWORD, NOW).expect("a challenge");
        assert_eq!(next["ChallengeName"], "EMAIL_OTP");
        // No preference: the user chooses.
        let none = json!({"AccessToken": token,
            "EmailMfaSettings": {"Enabled": true, "PreferredMfa": false}});
        pool.set_user_mfa_preference(&none, NOW).expect("set");
        let next = password_sign_in(&mut pool, "ben", PASSWORD, NOW).expect("a challenge");
        assert_eq!(next["ChallengeName"], "SELECT_MFA_TYPE");
    }
}
