//! The account calls of the pool's public API: SignUp and its confirmation (and the sign-in
//! right after it: `USER_AUTH` with ConfirmSignUp's `Session`), forgotten and changed
//! passwords, and DeleteUser; the user's attributes are in attributes.rs, TOTP with the
//! access token and the MFA preferences in mfa.rs.
//!
//! Codes are "sent" where tests read them ([`PoolState::account_code`]). Each is valid
//! `PoolOptions::code_seconds` and used once; after `PoolOptions::code_attempts` wrong tries
//! the purpose is locked for a while (`LimitExceededException`), a new code or not. The calls
//! that take an access token want a live one with the `aws.cognito.signin.user.admin` scope,
//! of a user that still exists.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use super::attributes::{attribute_list, valid_email};
use super::{
    Answer, CognitoFault, PoolState, SESSION_SECONDS, User, UserSpec, fault, mask_email,
    not_authorized, password_policy, random_array, random_bytes, srp,
};

/// How long too many wrong codes lock a purpose.
const LOCKOUT_SECONDS: i64 = 900;

/// The scope an access token needs for the account calls.
const ADMIN_SCOPE: &str = "aws.cognito.signin.user.admin";

/// What a code the account calls send is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CodePurpose {
    /// SignUp and ResendConfirmationCode, for ConfirmSignUp.
    SignUp,
    /// ForgotPassword, for ConfirmForgotPassword.
    ForgotPassword,
    /// UpdateUserAttributes and GetUserAttributeVerificationCode, for VerifyUserAttribute:
    /// the attribute's name (`email`, `phone_number`).
    Attribute(String),
}

/// The last code sent for a user and purpose.
#[derive(Debug, Clone)]
pub(super) struct PendingCode {
    code: String,
    /// Where it went (`email` or `phone_number`): a right code verifies it.
    attribute: String,
    expires_at: i64,
    used: bool,
    /// Wrong tries, kept across new codes until a right one or the end of a lockout.
    failures: u32,
    locked_until: Option<i64>,
}

/// A SignUp session (before the confirmation) or a ConfirmSignUp one (for the sign-in).
#[derive(Debug, Clone)]
pub(super) struct AccountSession {
    username: String,
    confirmed: bool,
    expires_at: i64,
}

pub(super) fn invalid(message: impl Into<String>) -> CognitoFault {
    fault("InvalidParameterException", message)
}

/// A member's name as Cognito's validation errors spell it (camelCase).
fn camel(member: &str) -> String {
    let mut chars = member.chars();
    chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Cognito's request validation error for a (sensitive, so unquoted) member's value.
pub(super) fn validation(member: &str, constraint: &str) -> CognitoFault {
    invalid(format!(
        "1 validation error detected: Value at '{}' failed to satisfy constraint: {constraint}",
        camel(member)
    ))
}

/// Cognito's request validation error for a missing required member.
pub(super) fn null_member(member: &str) -> CognitoFault {
    invalid(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        camel(member)
    ))
}

/// A required string member of the request.
pub(super) fn member<'a>(body: &'a Value, name: &str) -> Result<&'a str, CognitoFault> {
    body[name].as_str().ok_or_else(|| null_member(name))
}

/// A confirmation code member: required, `[\S]+`.
pub(super) fn code_member<'a>(body: &'a Value, name: &str) -> Result<&'a str, CognitoFault> {
    let code = member(body, name)?;
    if code.is_empty() || code.chars().any(char::is_whitespace) {
        return Err(validation(
            name,
            "Member must satisfy regular expression pattern: [\\S]+",
        ));
    }
    Ok(code)
}

fn code_mismatch() -> CognitoFault {
    fault(
        "CodeMismatchException",
        "Invalid verification code provided, please try again.",
    )
}

fn code_expired() -> CognitoFault {
    fault(
        "ExpiredCodeException",
        "Invalid code provided, please request a code again.",
    )
}

fn attempt_limit() -> CognitoFault {
    fault(
        "LimitExceededException",
        "Attempt limit exceeded, please try after some time.",
    )
}

/// The unauthenticated account calls' unknown user.
fn no_such_user() -> CognitoFault {
    fault(
        "UserNotFoundException",
        "Username/client id combination not found.",
    )
}

fn new_password(password: &str) -> Result<(), CognitoFault> {
    password_policy(password).map_err(|why| {
        fault(
            "InvalidPasswordException",
            format!("Password does not conform to policy: {why}"),
        )
    })
}

/// `+*******0100`: the last four digits.
fn mask_phone(phone: &str) -> String {
    let digits = phone.len().saturating_sub(1);
    let shown = &phone[phone.len().saturating_sub(4)..];
    format!("+{}{shown}", "*".repeat(digits.saturating_sub(4)))
}

impl User {
    /// The user's status as Cognito names it.
    fn status(&self) -> &'static str {
        if self.unconfirmed {
            "UNCONFIRMED"
        } else if self.identities.is_some() {
            "EXTERNAL_PROVIDER"
        } else if self.reset_required {
            "RESET_REQUIRED"
        } else if self.force_change_password {
            "FORCE_CHANGE_PASSWORD"
        } else {
            "CONFIRMED"
        }
    }
}

impl PoolState {
    /// The last code the account calls sent a user (canonical name or sign-in alias) for
    /// `purpose`, used or not.
    pub fn account_code(&self, username_or_alias: &str, purpose: CodePurpose) -> Option<String> {
        let index = self.find_user(username_or_alias)?;
        let key = (self.users[index].username.clone(), purpose);
        self.account_codes.get(&key).map(|c| c.code.clone())
    }

    /// Whether a user (canonical name or sign-in alias) exists.
    pub fn user_exists(&self, username_or_alias: &str) -> bool {
        self.find_user(username_or_alias).is_some()
    }

    /// The user an account call's `AccessToken` belongs to.
    pub(super) fn account_user(&self, body: &Value, now: i64) -> Result<usize, CognitoFault> {
        let token = member(body, "AccessToken")?;
        let claims = self.verify_access_token(token, now)?;
        let admin = claims["scope"]
            .as_str()
            .is_some_and(|s| s.split(' ').any(|s| s == ADMIN_SCOPE));
        if !admin {
            return Err(not_authorized("Access Token does not have required scopes"));
        }
        self.user_or_fail(claims["username"].as_str().unwrap_or_default())
    }

    /// The user an unauthenticated account call names, its `SecretHash` checked.
    fn named_user(&self, body: &Value) -> Result<usize, CognitoFault> {
        self.check_client(body)?;
        let username = member(body, "Username")?;
        self.check_secret_hash(body["SecretHash"].as_str(), username)?;
        self.find_user(username).ok_or_else(no_such_user)
    }

    /// A new password, with a new salt and SRP verifier.
    fn set_password(&mut self, index: usize, password: &str) {
        let salt_hex = data_encoding::HEXLOWER.encode(&random_bytes(16));
        let verifier = srp::verifier(
            self.pool_name(),
            &self.users[index].username,
            password,
            &salt_hex,
        );
        let user = &mut self.users[index];
        user.password = password.to_owned();
        user.salt_hex = salt_hex;
        user.verifier = verifier;
    }

    /// Refuses while too many wrong codes lock `purpose`; lifts a lockout that is over.
    pub(super) fn check_not_locked(
        &mut self,
        index: usize,
        purpose: &CodePurpose,
        now: i64,
    ) -> Result<(), CognitoFault> {
        let key = (self.users[index].username.clone(), purpose.clone());
        if let Some(pending) = self.account_codes.get_mut(&key) {
            match pending.locked_until {
                Some(until) if now < until => return Err(attempt_limit()),
                Some(_) => {
                    pending.locked_until = None;
                    pending.failures = 0;
                }
                None => {}
            }
        }
        Ok(())
    }

    /// A new code for `purpose` "sent" to the user's `attribute` (`email`, `phone_number`),
    /// replacing the last; the delivery details Cognito answers with.
    pub(super) fn send_code(
        &mut self,
        index: usize,
        purpose: CodePurpose,
        attribute: &str,
        now: i64,
    ) -> Value {
        let code = format!("{:06}", u32::from_be_bytes(random_array()) % 1_000_000);
        let key = (self.users[index].username.clone(), purpose);
        let (failures, locked_until) = self
            .account_codes
            .get(&key)
            .map_or((0, None), |c| (c.failures, c.locked_until));
        let pending = PendingCode {
            code,
            attribute: attribute.to_owned(),
            expires_at: now + self.options.code_seconds,
            used: false,
            failures,
            locked_until,
        };
        self.account_codes.insert(key, pending);
        let value = self.users[index]
            .attributes
            .get(attribute)
            .map_or("", String::as_str);
        let (medium, destination) = if attribute == "phone_number" {
            ("SMS", mask_phone(value))
        } else {
            ("EMAIL", mask_email(value))
        };
        json!({"Destination": destination, "DeliveryMedium": medium, "AttributeName": attribute})
    }

    /// Uses the code for `purpose`: the attribute it went to, once right.
    pub(super) fn use_code(
        &mut self,
        index: usize,
        purpose: CodePurpose,
        given: &str,
        now: i64,
    ) -> Result<String, CognitoFault> {
        self.check_not_locked(index, &purpose, now)?;
        let limit = self.options.code_attempts;
        let key = (self.users[index].username.clone(), purpose);
        let pending = self.account_codes.get_mut(&key).ok_or_else(code_expired)?;
        if pending.used || pending.expires_at <= now {
            return Err(code_expired());
        }
        if pending.code != given {
            pending.failures += 1;
            if pending.failures >= limit {
                pending.locked_until = Some(now + LOCKOUT_SECONDS);
            }
            return Err(code_mismatch());
        }
        pending.used = true;
        pending.failures = 0;
        Ok(pending.attribute.clone())
    }

    fn open_account_session(&mut self, username: String, confirmed: bool, now: i64) -> String {
        let id = base64::engine::general_purpose::STANDARD.encode(random_bytes(48));
        let session = AccountSession {
            username,
            confirmed,
            expires_at: now + SESSION_SECONDS,
        };
        self.account_sessions.insert(id.clone(), session);
        id
    }

    /// Takes (single use) a live session of `username` in the given state.
    fn take_account_session(
        &mut self,
        id: &str,
        username: &str,
        confirmed: bool,
        now: i64,
    ) -> bool {
        self.account_sessions.remove(id).is_some_and(|s| {
            s.username == username && s.confirmed == confirmed && s.expires_at > now
        })
    }

    /// Where a sign-up's code goes: the email, else the phone number.
    fn sign_up_delivery(&self, index: usize) -> Option<&'static str> {
        let attributes = &self.users[index].attributes;
        ["email", "phone_number"]
            .into_iter()
            .find(|name| attributes.contains_key(*name))
    }

    /// `SignUp`: a new UNCONFIRMED user, a confirmation code sent.
    pub fn sign_up(&mut self, body: &Value, now: i64) -> Answer {
        self.check_client(body)?;
        let username = member(body, "Username")?;
        self.check_secret_hash(body["SecretHash"].as_str(), username)?;
        // Passwordless sign-up is not modelled: every user of the fake has a password.
        let password = member(body, "Password")?;
        let given = match body.get("UserAttributes") {
            None | Some(Value::Null) => Vec::new(),
            Some(_) => attribute_list(body, "UserAttributes")?,
        };
        let mut attributes = BTreeMap::new();
        for (name, value) in given {
            self.check_attribute(None, &name, &value)?;
            if !value.is_empty() {
                attributes.insert(name, value);
            }
        }
        if self.options.email_sign_in {
            if !valid_email(username) {
                return Err(invalid("Username should be an email."));
            }
            if attributes.get("email").is_some_and(|e| e != username) {
                return Err(invalid(
                    "Attributes did not conform to the schema: email: The attribute must be the username",
                ));
            }
            if self.find_user(username).is_some() {
                return Err(fault(
                    "UsernameExistsException",
                    "An account with the given email already exists.",
                ));
            }
            attributes.insert("email".to_owned(), username.to_owned());
        } else if self
            .users
            .iter()
            .any(|u| !u.deleted && u.username == username)
        {
            return Err(fault("UsernameExistsException", "User already exists"));
        }
        let missing: Vec<String> = (self.options.required_attributes.iter())
            .filter(|name| !attributes.contains_key(*name))
            .map(|name| format!("{name}: The attribute is required"))
            .collect();
        if !missing.is_empty() {
            return Err(invalid(format!(
                "Attributes did not conform to the schema: {}",
                missing.join("\n")
            )));
        }
        password_policy(password).map_err(|why| {
            fault(
                "InvalidPasswordException",
                format!("Password did not conform with policy: {why}"),
            )
        })?;
        let canonical = self.add_user(UserSpec {
            username: username.to_owned(),
            password: password.to_owned(),
            email: attributes.get("email").cloned(),
            unconfirmed: true,
            ..UserSpec::default()
        });
        let index = self.user_or_fail(&canonical)?;
        self.users[index].attributes.extend(attributes);
        self.users[index].verified.clear();
        let delivery = self
            .sign_up_delivery(index)
            .map(|attribute| self.send_code(index, CodePurpose::SignUp, attribute, now));
        let sub = self.users[index].sub.clone();
        let session = self.open_account_session(canonical, false, now);
        let mut answer = json!({"UserConfirmed": false, "UserSub": sub, "Session": session});
        if let Some(delivery) = delivery {
            answer["CodeDeliveryDetails"] = delivery;
        }
        Ok(answer)
    }

    /// `ConfirmSignUp`: the code confirms the user and verifies where it went; with SignUp's
    /// `Session`, a session for the sign-in right after.
    pub fn confirm_sign_up(&mut self, body: &Value, now: i64) -> Answer {
        let code = code_member(body, "ConfirmationCode")?;
        let index = self.named_user(body)?;
        if !self.users[index].unconfirmed {
            return Err(not_authorized(&format!(
                "User cannot be confirmed. Current status is {}",
                self.users[index].status()
            )));
        }
        let attribute = self.use_code(index, CodePurpose::SignUp, code, now)?;
        let user = &mut self.users[index];
        user.unconfirmed = false;
        user.verified.insert(attribute);
        let canonical = user.username.clone();
        let signed_up = body["Session"]
            .as_str()
            .is_some_and(|id| self.take_account_session(id, &canonical, false, now));
        if !signed_up {
            return Ok(json!({}));
        }
        Ok(json!({ "Session": self.open_account_session(canonical, true, now) }))
    }

    /// `InitiateAuth USER_AUTH` with ConfirmSignUp's `Session`: the confirmation code was the
    /// first factor, so tokens at once. The session is single use.
    pub(super) fn sign_in_after_sign_up(
        &mut self,
        index: usize,
        session: &str,
        now: i64,
    ) -> Answer {
        let username = self.users[index].username.clone();
        if !self.take_account_session(session, &username, true, now) {
            return Err(not_authorized(
                "Invalid session for the user, session is expired.",
            ));
        }
        Ok(self.signed_in(index, now))
    }

    /// `ResendConfirmationCode`: a new code replaces the last.
    pub fn resend_confirmation_code(&mut self, body: &Value, now: i64) -> Answer {
        let index = self.named_user(body)?;
        if !self.users[index].unconfirmed {
            return Err(invalid("User is already confirmed."));
        }
        let attribute = self
            .sign_up_delivery(index)
            .ok_or_else(|| invalid("Cannot resend codes. Auto verification not turned on."))?;
        self.check_not_locked(index, &CodePurpose::SignUp, now)?;
        let delivery = self.send_code(index, CodePurpose::SignUp, attribute, now);
        Ok(json!({ "CodeDeliveryDetails": delivery }))
    }

    /// `ForgotPassword`: a code to a verified email or phone number.
    pub fn forgot_password(&mut self, body: &Value, now: i64) -> Answer {
        let index = self.named_user(body)?;
        let user = &self.users[index];
        let attribute = ["email", "phone_number"]
            .into_iter()
            .find(|name| user.verified.contains(*name) && user.attributes.contains_key(*name))
            .ok_or_else(|| {
                invalid(
                    "Cannot reset password for the user as there is no registered/verified email or phone_number",
                )
            })?;
        self.check_not_locked(index, &CodePurpose::ForgotPassword, now)?;
        let delivery = self.send_code(index, CodePurpose::ForgotPassword, attribute, now);
        Ok(json!({ "CodeDeliveryDetails": delivery }))
    }

    /// `ConfirmForgotPassword`: the code and a new password.
    pub fn confirm_forgot_password(&mut self, body: &Value, now: i64) -> Answer {
        let code = code_member(body, "ConfirmationCode")?;
        let password = member(body, "Password")?;
        let index = self.named_user(body)?;
        new_password(password)?;
        self.use_code(index, CodePurpose::ForgotPassword, code, now)?;
        self.set_password(index, password);
        self.users[index].reset_required = false;
        Ok(json!({}))
    }

    /// `ChangePassword`.
    pub fn change_password(&mut self, body: &Value, now: i64) -> Answer {
        let index = self.account_user(body, now)?;
        let proposed = member(body, "ProposedPassword")?;
        // Optional for passwordless users only; the fake's users all have a password.
        let previous = member(body, "PreviousPassword")?;
        if previous != self.users[index].password {
            return Err(not_authorized("Incorrect username or password."));
        }
        new_password(proposed)?;
        self.set_password(index, proposed);
        Ok(json!({}))
    }

    /// `DeleteUser`: the user is gone with everything of theirs; their tokens then get
    /// `UserNotFoundException`. Cognito answers with an empty body (`Value::Null` here).
    pub fn delete_user(&mut self, body: &Value, now: i64) -> Answer {
        let index = self.account_user(body, now)?;
        let username = self.users[index].username.clone();
        self.users[index].deleted = true;
        self.sessions.retain(|_, s| s.username != username);
        self.srp.retain(|_, p| p.username != username);
        self.account_codes.retain(|(user, _), _| *user != username);
        self.account_sessions.retain(|_, s| s.username != username);
        self.sent_codes.remove(&username);
        self.devices.retain(|_, d| d.username != username);
        self.signing_in_device.remove(&username);
        self.end_managed_logins(index);
        Ok(Value::Null)
    }
}

#[cfg(test)]
pub(super) mod tests;
