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

/// A sign-up's session, kept for the next step: `ConfirmSignUp` takes the one `SignUp`
/// gave, and `InitiateAuth USER_AUTH` the one `ConfirmSignUp` gave.
#[derive(Debug)]
pub(super) struct SignUpSession {
    username: String,
    session: Secret,
}

/// What a finished call changes here.
#[derive(Debug)]
enum Followup {
    None,
    /// `SignUp` gave a session for its confirmation.
    Confirmable(SignUpSession),
    /// `ConfirmSignUp` gave a session to sign in with.
    SignInReady(SignUpSession),
    /// The signed-in user deleted their account.
    Deleted(String),
}

/// An account call that came back.
#[derive(Debug)]
pub(super) struct AccountDone {
    result: Result<AccountAnswer, SessionError>,
    followup: Followup,
    reply: Reply<AccountAnswer>,
}

/// What the task needs besides the request.
struct Context {
    client_id: String,
    /// The signed-in user's access token and the name they signed in with.
    user: Option<(Secret, String)>,
    /// `SignUp`'s session, for `ConfirmSignUp`.
    sign_up_session: Option<Secret>,
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
            Some((
                current.tokens.access_token.clone(),
                current.sign_in_details.login_id.clone(),
            ))
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
        let sign_up_session = match &op {
            AccountOp::ConfirmSignUp(request) => self
                .sign_up
                .take_if(|kept| kept.username == request.username.trim())
                .map(|kept| kept.session),
            _ => None,
        };
        let context = Context {
            client_id: self.config.client_id.clone(),
            user,
            sign_up_session,
        };
        let pool = Arc::clone(&self.pool);
        let done = self.account_done.clone();
        tokio::spawn(async move {
            let (result, followup) = match run(&*pool, op, context).await {
                Ok((answer, followup)) => (Ok(answer), followup),
                Err(error) => (Err(error.into()), Followup::None),
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
            Followup::Confirmable(session) => self.sign_up = Some(session),
            Followup::SignInReady(session) => self.sign_up = Some(session),
            Followup::Deleted(login_id) => {
                if let Some(current) = self
                    .current()
                    .filter(|c| c.sign_in_details.login_id == login_id)
                {
                    info!(username = %current.username, "the account was deleted; signed out");
                    self.set_pending(None);
                    self.drop_device(&current.username);
                    self.end_session(Some("the account was deleted".to_owned()));
                }
            }
        }
        let _ = done.reply.send(done.result);
    }

    /// Signs in the user whose sign-up was just confirmed, with the session the confirmation
    /// gave (no password).
    pub(super) fn auto_sign_in(&mut self, request: UsernameRequest, reply: Reply<SignInResponse>) {
        let username = request.username.trim().to_owned();
        let Some(kept) = self.sign_up.take_if(|kept| kept.username == username) else {
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

fn code_details(
    details: Option<call::CodeDelivery>,
) -> Option<cognitod_proto::CodeDeliveryDetails> {
    details.map(Into::into)
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

/// Whether Cognito refused a call for the session it carried (an expired sign-up session).
fn session_refused(error: &CognitoError) -> bool {
    matches!(error, CognitoError::Service { kind, message, .. }
        if kind == "NotAuthorizedException" && message.to_ascii_lowercase().contains("session"))
}

async fn run<P: UserPool>(
    pool: &P,
    op: AccountOp,
    context: Context,
) -> Result<(AccountAnswer, Followup), CognitoError> {
    let (access, login_id) = context.user.clone().unzip();
    let access = || {
        access
            .clone()
            .expect("checked: the call needs a signed-in user")
    };
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
            let (step, followup) = match (answer.user_confirmed, answer.session) {
                (true, _) => (SignUpStep::Done, Followup::None),
                (false, Some(session)) if request.auto_sign_in != Some(false) => (
                    SignUpStep::ConfirmSignUp,
                    Followup::Confirmable(SignUpSession { username, session }),
                ),
                (false, _) => (SignUpStep::ConfirmSignUp, Followup::None),
            };
            let response = SignUpResponse {
                is_sign_up_complete: answer.user_confirmed,
                user_id: Some(answer.user_sub),
                next_step: SignUpNextStep {
                    sign_up_step: step,
                    code_delivery_details: code_details(answer.code_delivery_details),
                },
            };
            (AccountAnswer::SignUp(response), followup)
        }
        AccountOp::ConfirmSignUp(request) => {
            let who = client_user(pool, &context, &request.username);
            let username = who.username.clone();
            let confirm = |session| call::ConfirmSignUp {
                who: who.clone(),
                confirmation_code: request.confirmation_code.clone(),
                session,
                client_metadata: request.client_metadata.clone(),
            };
            let answer = match pool
                .account(&confirm(context.sign_up_session.clone()))
                .await
            {
                // The sign-up's session lapsed while the code was on its way: confirmed
                // without it, and the user signs in with the password.
                Err(error) if context.sign_up_session.is_some() && session_refused(&error) => {
                    info!(%error, "the sign-up's session is no longer valid; confirming without it");
                    pool.account(&confirm(None)).await?
                }
                other => other?,
            };
            let (step, followup) = match answer.session {
                Some(session) if context.sign_up_session.is_some() => (
                    SignUpStep::CompleteAutoSignIn,
                    Followup::SignInReady(SignUpSession { username, session }),
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
                    code_delivery_details: code_details(answer.code_delivery_details),
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
                access_token: access(),
            })
            .await?;
            done()
        }
        AccountOp::FetchAttributes => {
            let user = pool
                .account(&call::GetUser {
                    access_token: access(),
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
                    access_token: access(),
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
                access_token: access(),
                attribute_name: request.attribute_key,
                code: request.confirmation_code,
            })
            .await?;
            done()
        }
        AccountOp::SendAttributeCode(request) => {
            let answer = pool
                .account(&call::GetUserAttributeVerificationCode {
                    access_token: access(),
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
                access_token: access(),
            })
            .await?;
            done()
        }
        AccountOp::FetchMfa => {
            let user = pool
                .account(&call::GetUser {
                    access_token: access(),
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
                access_token: access(),
            })
            .await?;
            done()
        }
        AccountOp::SetUpTotp => {
            let answer = pool
                .account(&call::AssociateSoftwareToken {
                    access_token: access(),
                })
                .await?;
            let label = login_id.as_deref().unwrap_or_default();
            let setup = TotpSetup {
                setup_uri: super::challenge::totp_uri(&answer.secret_code, label),
                shared_secret: answer.secret_code,
            };
            (AccountAnswer::Totp(setup), Followup::None)
        }
        AccountOp::VerifyTotp(request) => {
            let answer = pool
                .account(&call::VerifySoftwareToken {
                    access_token: access(),
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
                access_token: access(),
            })
            .await?;
            let (answer, _) = done();
            (answer, Followup::Deleted(login_id.unwrap_or_default()))
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
