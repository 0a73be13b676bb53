//! Choice-based sign-in (`USER_AUTH`): a first factor named up front
//! (`PREFERRED_CHALLENGE`), or chosen in `SELECT_CHALLENGE` among those the user can use
//! (`AvailableChallenges`: a password, SRP, a code by email when the user has an email, by
//! SMS when a phone). One-time codes are "sent" where tests can read them
//! ([`PoolState::sent_codes`]); passwordless sign-ins get no MFA, as in Cognito. Right after
//! ConfirmSignUp, its `Session` signs the user in at once (the confirmation code was the
//! first factor).

use serde_json::{Value, json};

use super::{Answer, Mfa, PoolState, SrpFlow, fault, missing, not_authorized, random_array};

impl PoolState {
    /// `InitiateAuth` with `AuthFlow = USER_AUTH`.
    pub(super) fn initiate_user_auth(&mut self, body: &Value, now: i64) -> Answer {
        if !self.options.user_auth {
            return Err(fault(
                "InvalidParameterException",
                "USER_AUTH flow not enabled for this client",
            ));
        }
        let params = &body["AuthParameters"];
        let param = |name: &str| params[name].as_str();
        let typed = param("USERNAME").ok_or_else(|| missing("USERNAME"))?;
        self.check_secret_hash(param("SECRET_HASH"), typed)?;
        let index = self.signing_in_user(typed)?;
        self.note_device(index, param("DEVICE_KEY"))?;
        if let Some(session) = body["Session"].as_str() {
            return self.sign_in_after_sign_up(index, session, now);
        }
        match param("PREFERRED_CHALLENGE") {
            Some(factor) => {
                self.first_factor(index, factor, param("PASSWORD"), param("SRP_A"), now)
            }
            None => {
                let offered = self.first_factors(index);
                let mut answer = self.challenge(index, "SELECT_CHALLENGE", json!({}), now, |_| {});
                answer["AvailableChallenges"] = json!(offered);
                Ok(answer)
            }
        }
    }

    /// The first factors the user can sign in with.
    fn first_factors(&self, index: usize) -> Vec<&'static str> {
        let user = &self.users[index];
        let mut factors = vec!["PASSWORD", "PASSWORD_SRP"];
        if user.email.is_some() {
            factors.push("EMAIL_OTP");
        }
        if user.sms_mfa {
            factors.push("SMS_OTP");
        }
        factors
    }

    /// Signing in with `factor`: the password checked, the SRP exchange started, or a code
    /// sent.
    pub(super) fn first_factor(
        &mut self,
        index: usize,
        factor: &str,
        password: Option<&str>,
        srp_a: Option<&str>,
        now: i64,
    ) -> Answer {
        // Passwordless or not, an unconfirmed account gets no further.
        if self.users[index].unconfirmed && matches!(factor, "EMAIL_OTP" | "SMS_OTP") {
            return Err(fault("UserNotConfirmedException", "User is not confirmed."));
        }
        if !self.first_factors(index).contains(&factor) {
            return Err(fault(
                "InvalidParameterException",
                format!("{factor} is not an available challenge for this user"),
            ));
        }
        match factor {
            "PASSWORD" => {
                let password = password.ok_or_else(|| missing("PASSWORD"))?;
                if self.users[index].password != password {
                    return Err(not_authorized("Incorrect username or password."));
                }
                self.after_password(index, now)
            }
            "PASSWORD_SRP" => {
                let srp_a = srp_a.ok_or_else(|| missing("SRP_A"))?;
                Ok(self.start_srp(index, srp_a, SrpFlow::UserAuth))
            }
            "EMAIL_OTP" => Ok(self.mfa_challenge(index, Mfa::Email, now)),
            _ => {
                let code = format!("{:06}", u32::from_be_bytes(random_array()) % 1_000_000);
                let username = self.users[index].username.clone();
                self.sent_codes.insert(username, code.clone());
                let params = json!({
                    "CODE_DELIVERY_DELIVERY_MEDIUM": "SMS",
                    "CODE_DELIVERY_DESTINATION": "+*******0100",
                });
                Ok(self.challenge(index, "SMS_OTP", params, now, |s| s.code = Some(code)))
            }
        }
    }
}
