//! The account: sign-up, password reset and change, attributes, MFA settings, TOTP setup and
//! deleting the account. Each call runs on a task of its own with what the owner gave it (the
//! signed-in user's access token, a sign-up's session) and comes back as [`AccountDone`],
//! so what it changes here (a session to sign in with after a sign-up, a deleted user's
//! session) is applied by the owner.

use std::collections::BTreeMap;
use std::sync::Arc;

use cognitod_proto::{
    AuthFlowType, CodeSent, ConfirmResetPasswordRequest, ConfirmSignUpRequest, DeleteUserRequest,
    MfaPreference, MfaSetting, ResetPasswordNextStep, ResetPasswordResponse, ResetPasswordStep,
    Secret, SignInRequest, SignInResponse, SignUpNextStep, SignUpRequest, SignUpResponse,
    SignUpStep, TotpSetup, UpdateAttributeNextStep, UpdateAttributeResult, UpdateAttributeStep,
    UpdateAttributesRequest, UpdateMfaRequest, UsernameRequest,
};
use serde::Serialize;
use tracing::info;

use super::owner::Owner;
use super::{Reply, SessionError};
use crate::cognito::account::{self as call, Attribute, ClientUser, MfaSettings};
use crate::cognito::{CognitoError, UserPool};

/// What a client asks of the account.
#[derive(Debug)]
pub enum AccountOp {
    SignUp(SignUpRequest),
    ConfirmSignUp(ConfirmSignUpRequest),
    ResendSignUpCode(UsernameRequest),
    ResetPassword(UsernameRequest),
    ConfirmResetPassword(ConfirmResetPasswordRequest),
    UpdatePassword(cognitod_proto::UpdatePasswordRequest),
    FetchAttributes,
    UpdateAttributes(UpdateAttributesRequest),
    ConfirmAttribute(cognitod_proto::ConfirmAttributeRequest),
    SendAttributeCode(cognitod_proto::SendAttributeCodeRequest),
    DeleteAttributes(cognitod_proto::DeleteAttributesRequest),
    FetchMfa,
    UpdateMfa(UpdateMfaRequest),
    SetUpTotp,
    VerifyTotp(cognitod_proto::VerifyTotpRequest),
    DeleteUser(DeleteUserRequest),
}

impl AccountOp {
    /// Whether the call is made as the signed-in user (with their access token).
    pub fn needs_user(&self) -> bool {
        !matches!(
            self,
            Self::SignUp(_)
                | Self::ConfirmSignUp(_)
                | Self::ResendSignUpCode(_)
                | Self::ResetPassword(_)
                | Self::ConfirmResetPassword(_)
        )
    }

    /// What the call is, for the log (never its codes or passwords).
    pub fn name(&self) -> &'static str {
        match self {
            Self::SignUp(_) => "sign-up",
            Self::ConfirmSignUp(_) => "sign-up confirmation",
            Self::ResendSignUpCode(_) => "sign-up code resend",
            Self::ResetPassword(_) => "password reset",
            Self::ConfirmResetPassword(_) => "password reset confirmation",
            Self::UpdatePassword(_) => "password change",
            Self::FetchAttributes => "attributes read",
            Self::UpdateAttributes(_) => "attributes change",
            Self::ConfirmAttribute(_) => "attribute verification",
            Self::SendAttributeCode(_) => "attribute code resend",
            Self::DeleteAttributes(_) => "attributes deletion",
            Self::FetchMfa => "MFA preference read",
            Self::UpdateMfa(_) => "MFA preference change",
            Self::SetUpTotp => "TOTP setup",
            Self::VerifyTotp(_) => "TOTP setup verification",
            Self::DeleteUser(_) => "account deletion",
        }
    }

    /// How to get a new code, for a call that takes one.
    pub fn new_code_hint(&self) -> Option<&'static str> {
        match self {
            Self::ConfirmSignUp(_) => {
                Some("Check the code; `cognitoctl resend-code USERNAME` sends a new one.")
            }
            Self::ConfirmResetPassword(_) => {
                Some("Check the code; `cognitoctl reset-password USERNAME` sends a new one.")
            }
            Self::ConfirmAttribute(_) => Some(
                "Check the code; `cognitoctl attributes verify NAME --resend` sends a new one.",
            ),
            Self::VerifyTotp(_) => {
                Some("Check the authenticator's clock and enter its current code.")
            }
            _ => None,
        }
    }

    /// Whether the id token's claims are stale after the call succeeds.
    pub fn changes_claims(&self) -> bool {
        matches!(
            self,
            Self::UpdateAttributes(_) | Self::ConfirmAttribute(_) | Self::DeleteAttributes(_)
        )
    }

    /// The user a tokenless call is about.
    fn username(&self) -> Option<&str> {
        match self {
            Self::SignUp(r) => Some(&r.username),
            Self::ConfirmSignUp(r) => Some(&r.username),
            Self::ResendSignUpCode(r) | Self::ResetPassword(r) => Some(&r.username),
            Self::ConfirmResetPassword(r) => Some(&r.username),
            _ => None,
        }
    }
}

/// An account call's answer, in Amplify's shape; serialized as the inner value.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AccountAnswer {
    SignUp(SignUpResponse),
    CodeSent(CodeSent),
    ResetPassword(ResetPasswordResponse),
    Attributes(BTreeMap<String, String>),
    Updated(cognitod_proto::UpdateAttributesResponse),
    Mfa(MfaPreference),
    Totp(TotpSetup),
    /// `{}`.
    Done(Empty),
}

#[derive(Debug, Serialize)]
pub struct Empty {}

/// A sign-up's session, kept for its next step.
#[derive(Debug)]
pub(super) struct SignUpSession {
    username: String,
    session: Secret,
    phase: Phase,
}

/// Which call a sign-up's session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `SignUp`'s, for `ConfirmSignUp`.
    Confirm,
    /// `ConfirmSignUp`'s (or an auto-confirmed `SignUp`'s), for `InitiateAuth USER_AUTH`.
    SignIn,
}

impl SignUpSession {
    fn is(&self, username: &str, phase: Phase) -> bool {
        self.username == username.trim() && self.phase == phase
    }
}

/// What a finished call changes here.
#[derive(Debug)]
enum Followup {
    None,
    /// A sign-up's session for its next step (or back, when that step failed and may be
    /// tried again).
    Keep(SignUpSession),
    /// The signed-in user deleted their account.
    Deleted {
        username: String,
        user_id: String,
    },
}

/// An account call that came back.
#[derive(Debug)]
pub(super) struct AccountDone {
    result: Result<AccountAnswer, SessionError>,
    followup: Followup,
    reply: Reply<AccountAnswer>,
}

/// The signed-in user a call is made as.
#[derive(Debug, Clone)]
struct UserContext {
    access_token: Secret,
    username: String,
    user_id: String,
    /// What they signed in as (the email, with email sign-in): the TOTP label.
    login_id: String,
}

/// What the task needs besides the request.
struct Context {
    client_id: String,
    user: Option<UserContext>,
    /// `SignUp`'s session, for `ConfirmSignUp`.
    sign_up_session: Option<Secret>,
}

impl Context {
    fn user(&self) -> Result<&UserContext, CognitoError> {
        self.user
            .as_ref()
            .ok_or_else(|| CognitoError::Protocol("the call needs a signed-in user".to_owned()))
    }

    fn access(&self) -> Result<Secret, CognitoError> {
        self.user().map(|user| user.access_token.clone())
    }
}

impl<P: UserPool> Owner<P> {
    /// Runs `op` on a task; its answer comes back through [`Owner::finish_account`].
    pub(super) fn account_command(&mut self, op: AccountOp, reply: Reply<AccountAnswer>) {
        let user = if op.needs_user() {
            let Some(current) = self.current() else {
                let _ = reply.send(Err(if self.federation.is_some() {
                    SessionError::FederatedNoUser
                } else {
                    SessionError::NotSignedIn
                }));
                return;
            };
            if let AccountOp::DeleteUser(request) = &op {
                let typed = request.confirm.trim();
                if typed != current.username && typed != current.sign_in_details.login_id {
                    let _ = reply.send(Err(SessionError::BadAnswer(
                        "to delete the account, `confirm` must be the signed-in user's username"
                            .to_owned(),
                    )));
                    return;
                }
            }
            Some(UserContext {
                access_token: current.tokens.access_token.clone(),
                username: current.username.clone(),
                user_id: current.user_id.clone(),
                login_id: current.sign_in_details.login_id.clone(),
            })
        } else {
            match op.username().map(str::trim) {
                Some("") | None => {
                    let _ =
                        reply.send(Err(SessionError::BadAnswer("username is empty".to_owned())));
                    return;
                }
                Some(_) => None,
            }
        };
        let kept = match &op {
            AccountOp::ConfirmSignUp(request) => self
                .sign_up
                .take_if(|kept| kept.is(&request.username, Phase::Confirm)),
            _ => None,
        };
        let context = Context {
            client_id: self.config.client_id.clone(),
            user,
            sign_up_session: kept.as_ref().map(|kept| kept.session.clone()),
        };
        let pool = Arc::clone(&self.pool);
        let done = self.account_done.clone();
        tokio::spawn(async move {
            let (result, followup) = match run(&*pool, op, context).await {
                Ok((answer, followup)) => (Ok(answer), followup),
                Err(error) => {
                    // A wrong code, or Cognito out of reach: the sign-up's session stays for
                    // the next try. A refusal of the confirmation itself spends it.
                    let followup = match kept {
                        Some(kept) if error.service_kind() != Some("NotAuthorizedException") => {
                            Followup::Keep(kept)
                        }
                        _ => Followup::None,
                    };
                    (Err(error.into()), followup)
                }
            };
            let _ = done.send(AccountDone {
                result,
                followup,
                reply,
            });
        });
    }

    /// Applies what an account call changed, then answers it.
    pub(super) fn finish_account(&mut self, done: AccountDone) {
        match done.followup {
            Followup::None => {}
            Followup::Keep(session) => self.sign_up = Some(session),
            Followup::Deleted { username, user_id } => {
                // Its device is gone at Cognito with it, whatever became of the session
                // meanwhile (a refresh refused for the deleted user may have ended it).
                self.drop_device(&username);
                self.persist_current();
                if self.current().is_some_and(|c| c.user_id == user_id) {
                    info!(%username, "the account was deleted; signed out");
                    self.set_pending(None);
                    self.end_session(Some("the account was deleted".to_owned()));
                }
            }
        }
        let _ = done.reply.send(done.result);
    }

    /// Signs in the user whose sign-up was just confirmed, with the session the confirmation
    /// gave (no password).
    pub(super) fn auto_sign_in(&mut self, request: UsernameRequest, reply: Reply<SignInResponse>) {
        // Checked before the session is taken: it stays for after the sign-out.
        if let Some(who) = self.signed_in_as() {
            let _ = reply.send(Err(SessionError::AlreadySignedIn(who)));
            return;
        }
        let username = request.username.trim().to_owned();
        let Some(kept) = self
            .sign_up
            .take_if(|kept| kept.is(&username, Phase::SignIn))
        else {
            let _ = reply.send(Err(SessionError::BadAnswer(format!(
                "no confirmed sign-up of {username} to sign in with; sign in with `cognitoctl login {username}`"
            ))));
            return;
        };
        let request = SignInRequest {
            username,
            password: Secret::default(),
            auth_flow_type: Some(AuthFlowType::UserAuth),
            client_metadata: request.client_metadata,
            preferred_challenge: None,
        };
        self.start_sign_in(request, Some(kept.session), reply);
    }
}

/// The tokenless calls' first members.
fn client_user<P: UserPool>(pool: &P, context: &Context, username: &str) -> ClientUser {
    let username = username.trim().to_owned();
    ClientUser {
        client_id: context.client_id.clone(),
        secret_hash: pool.secret_hash(&username),
        username,
    }
}

/// Amplify's names of Cognito's MFA kinds.
fn mfa_name(cognito: &str) -> String {
    match cognito {
        "SOFTWARE_TOKEN_MFA" => "TOTP".to_owned(),
        "SMS_MFA" => "SMS".to_owned(),
        "EMAIL_OTP" => "EMAIL".to_owned(),
        other => other.to_owned(),
    }
}

/// Cognito's settings for Amplify's `ENABLED`, `DISABLED`, `PREFERRED`, `NOT_PREFERRED`.
fn mfa_settings(setting: Option<MfaSetting>) -> Option<MfaSettings> {
    setting.map(|setting| match setting {
        MfaSetting::Enabled => MfaSettings {
            enabled: true,
            preferred_mfa: None,
        },
        MfaSetting::Disabled => MfaSettings {
            enabled: false,
            preferred_mfa: None,
        },
        MfaSetting::Preferred => MfaSettings {
            enabled: true,
            preferred_mfa: Some(true),
        },
        MfaSetting::NotPreferred => MfaSettings {
            enabled: true,
            preferred_mfa: Some(false),
        },
    })
}

fn done() -> (AccountAnswer, Followup) {
    (AccountAnswer::Done(Empty {}), Followup::None)
}

fn bad(message: &str) -> CognitoError {
    CognitoError::Service {
        kind: "InvalidParameterException".to_owned(),
        message: message.to_owned(),
        status: 400,
    }
}

async fn run<P: UserPool>(
    pool: &P,
    op: AccountOp,
    context: Context,
) -> Result<(AccountAnswer, Followup), CognitoError> {
    Ok(match op {
        AccountOp::SignUp(request) => {
            if request.password.is_empty() {
                return Err(bad("the password is empty"));
            }
            let who = client_user(pool, &context, &request.username);
            let username = who.username.clone();
            let answer = pool
                .account(&call::SignUp {
                    who,
                    password: request.password,
                    user_attributes: Attribute::list(&request.user_attributes),
                    client_metadata: request.client_metadata,
                })
                .await?;
            let auto = request.auto_sign_in != Some(false);
            let (step, followup) = match (answer.user_confirmed, answer.session) {
                // Confirmed at once (a pre-sign-up trigger): its session signs in.
                (true, Some(session)) if auto => (
                    SignUpStep::CompleteAutoSignIn,
                    Followup::Keep(SignUpSession {
                        username,
                        session,
                        phase: Phase::SignIn,
                    }),
                ),
                (true, _) => (SignUpStep::Done, Followup::None),
                (false, Some(session)) if auto => (
                    SignUpStep::ConfirmSignUp,
                    Followup::Keep(SignUpSession {
                        username,
                        session,
                        phase: Phase::Confirm,
                    }),
                ),
                (false, _) => (SignUpStep::ConfirmSignUp, Followup::None),
            };
            let response = SignUpResponse {
                is_sign_up_complete: answer.user_confirmed,
                user_id: Some(answer.user_sub),
                next_step: SignUpNextStep {
                    sign_up_step: step,
                    code_delivery_details: answer.code_delivery_details.map(Into::into),
                },
            };
            (AccountAnswer::SignUp(response), followup)
        }
        AccountOp::ConfirmSignUp(request) => {
            let who = client_user(pool, &context, &request.username);
            let username = who.username.clone();
            let answer = pool
                .account(&call::ConfirmSignUp {
                    who,
                    confirmation_code: request.confirmation_code,
                    session: context.sign_up_session.clone(),
                    client_metadata: request.client_metadata,
                })
                .await?;
            let (step, followup) = match answer.session {
                Some(session) if context.sign_up_session.is_some() => (
                    SignUpStep::CompleteAutoSignIn,
                    Followup::Keep(SignUpSession {
                        username,
                        session,
                        phase: Phase::SignIn,
                    }),
                ),
                _ => (SignUpStep::Done, Followup::None),
            };
            let response = SignUpResponse {
                is_sign_up_complete: true,
                user_id: None,
                next_step: SignUpNextStep {
                    sign_up_step: step,
                    code_delivery_details: None,
                },
            };
            (AccountAnswer::SignUp(response), followup)
        }
        AccountOp::ResendSignUpCode(request) => {
            let answer = pool
                .account(&call::ResendConfirmationCode {
                    who: client_user(pool, &context, &request.username),
                    client_metadata: request.client_metadata,
                })
                .await?;
            code_sent(answer)?
        }
        AccountOp::ResetPassword(request) => {
            let answer = pool
                .account(&call::ForgotPassword {
                    who: client_user(pool, &context, &request.username),
                    client_metadata: request.client_metadata,
                })
                .await?;
            let response = ResetPasswordResponse {
                is_password_reset: false,
                next_step: ResetPasswordNextStep {
                    reset_password_step: ResetPasswordStep::ConfirmResetPasswordWithCode,
                    code_delivery_details: answer.code_delivery_details.map(Into::into),
                },
            };
            (AccountAnswer::ResetPassword(response), Followup::None)
        }
        AccountOp::ConfirmResetPassword(request) => {
            if request.new_password.is_empty() {
                return Err(bad("the new password is empty"));
            }
            pool.account(&call::ConfirmForgotPassword {
                who: client_user(pool, &context, &request.username),
                confirmation_code: request.confirmation_code,
                password: request.new_password,
                client_metadata: request.client_metadata,
            })
            .await?;
            let response = ResetPasswordResponse {
                is_password_reset: true,
                next_step: ResetPasswordNextStep {
                    reset_password_step: ResetPasswordStep::Done,
                    code_delivery_details: None,
                },
            };
            (AccountAnswer::ResetPassword(response), Followup::None)
        }
        AccountOp::UpdatePassword(request) => {
            if request.new_password.is_empty() {
                return Err(bad("the new password is empty"));
            }
            pool.account(&call::ChangePassword {
                previous_password: request.old_password,
                proposed_password: request.new_password,
                access_token: context.access()?,
            })
            .await?;
            done()
        }
        AccountOp::FetchAttributes => {
            let user = pool
                .account(&call::GetUser {
                    access_token: context.access()?,
                })
                .await?;
            let attributes = user
                .user_attributes
                .into_iter()
                .filter_map(|a| Some((a.name, a.value?)))
                .collect();
            (AccountAnswer::Attributes(attributes), Followup::None)
        }
        AccountOp::UpdateAttributes(request) => {
            if request.user_attributes.is_empty() {
                return Err(bad("name at least one attribute to change"));
            }
            let answer = pool
                .account(&call::UpdateUserAttributes {
                    user_attributes: Attribute::list(&request.user_attributes),
                    access_token: context.access()?,
                    client_metadata: request.client_metadata,
                })
                .await?;
            let mut pending: BTreeMap<String, call::CodeDelivery> = answer
                .code_delivery_details_list
                .unwrap_or_default()
                .into_iter()
                .filter_map(|d| Some((d.attribute_name.clone()?, d)))
                .collect();
            let results = request
                .user_attributes
                .into_keys()
                .map(|name| {
                    let result = match pending.remove(&name) {
                        Some(details) => UpdateAttributeResult {
                            is_updated: false,
                            next_step: UpdateAttributeNextStep {
                                update_attribute_step:
                                    UpdateAttributeStep::ConfirmAttributeWithCode,
                                code_delivery_details: Some(details.into()),
                            },
                        },
                        None => UpdateAttributeResult {
                            is_updated: true,
                            next_step: UpdateAttributeNextStep {
                                update_attribute_step: UpdateAttributeStep::Done,
                                code_delivery_details: None,
                            },
                        },
                    };
                    (name, result)
                })
                .collect();
            (AccountAnswer::Updated(results), Followup::None)
        }
        AccountOp::ConfirmAttribute(request) => {
            pool.account(&call::VerifyUserAttribute {
                access_token: context.access()?,
                attribute_name: request.attribute_key,
                code: request.confirmation_code,
            })
            .await?;
            done()
        }
        AccountOp::SendAttributeCode(request) => {
            let answer = pool
                .account(&call::GetUserAttributeVerificationCode {
                    access_token: context.access()?,
                    attribute_name: request.attribute_key,
                    client_metadata: request.client_metadata,
                })
                .await?;
            code_sent(answer)?
        }
        AccountOp::DeleteAttributes(request) => {
            if request.attribute_keys.is_empty() {
                return Err(bad("name at least one attribute to delete"));
            }
            pool.account(&call::DeleteUserAttributes {
                user_attribute_names: request.attribute_keys,
                access_token: context.access()?,
            })
            .await?;
            done()
        }
        AccountOp::FetchMfa => {
            let user = pool
                .account(&call::GetUser {
                    access_token: context.access()?,
                })
                .await?;
            let preference = MfaPreference {
                enabled: user
                    .user_mfa_setting_list
                    .unwrap_or_default()
                    .iter()
                    .map(|kind| mfa_name(kind))
                    .collect(),
                preferred: user.preferred_mfa_setting.as_deref().map(mfa_name),
            };
            (AccountAnswer::Mfa(preference), Followup::None)
        }
        AccountOp::UpdateMfa(request) => {
            if request.totp.is_none() && request.sms.is_none() && request.email.is_none() {
                return Err(bad("name at least one of totp, sms, email"));
            }
            pool.account(&call::SetUserMfaPreference {
                sms_mfa_settings: mfa_settings(request.sms),
                software_token_mfa_settings: mfa_settings(request.totp),
                email_mfa_settings: mfa_settings(request.email),
                access_token: context.access()?,
            })
            .await?;
            done()
        }
        AccountOp::SetUpTotp => {
            let answer = pool
                .account(&call::AssociateSoftwareToken {
                    access_token: context.access()?,
                })
                .await?;
            let label = &context.user()?.login_id;
            let setup = TotpSetup {
                setup_uri: super::challenge::totp_uri(&answer.secret_code, label),
                shared_secret: answer.secret_code,
            };
            (AccountAnswer::Totp(setup), Followup::None)
        }
        AccountOp::VerifyTotp(request) => {
            let answer = pool
                .account(&call::VerifySoftwareToken {
                    access_token: context.access()?,
                    user_code: request.code,
                    friendly_device_name: request.friendly_device_name,
                })
                .await?;
            if answer.status.as_deref().is_some_and(|s| s != "SUCCESS") {
                return Err(CognitoError::Service {
                    kind: "EnableSoftwareTokenMFAException".to_owned(),
                    message: "the authenticator's code was not accepted".to_owned(),
                    status: 400,
                });
            }
            done()
        }
        AccountOp::DeleteUser(_) => {
            pool.account(&call::DeleteUser {
                access_token: context.access()?,
            })
            .await?;
            let user = context.user()?;
            let (answer, _) = done();
            let followup = Followup::Deleted {
                username: user.username.clone(),
                user_id: user.user_id.clone(),
            };
            (answer, followup)
        }
    })
}

fn code_sent(answer: call::CodeAnswer) -> Result<(AccountAnswer, Followup), CognitoError> {
    let details = answer
        .code_delivery_details
        .ok_or_else(|| CognitoError::Protocol("no CodeDeliveryDetails in the answer".to_owned()))?;
    Ok((
        AccountAnswer::CodeSent(CodeSent {
            code_delivery_details: details.into(),
        }),
        Followup::None,
    ))
}
