//! Signing in: the calls to Cognito run on tasks of their own and come back to the owner as
//! [`AuthDone`], so its timers and other commands go on while Cognito answers. A newer
//! sign-in makes an older one's answer moot (the generation tells).

use std::sync::Arc;

use cognitod_proto::{
    AuthFlowType, ConfirmSignInRequest, NextStep, Secret, SignInRequest, SignInResponse,
    SignInStep, UpstreamHealth,
};
use tracing::{info, warn};

use super::devices::StoredDevice;
use super::owner::{Owner, upstream_after};
use super::{Reply, SessionError, challenge};
use crate::cognito::UserPool;
use crate::cognito::auth::{self, AuthOutcome, Challenge, VerifiedTokens};
use crate::cognito::jwt::Verifier;

/// A sign-in in progress: the challenge Cognito asked, for whom, and how it started.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    /// Cognito's challenge, with the canonical username every answer carries.
    pub(super) challenge: Challenge,
    pub(super) login_id: String,
    pub(super) flow: AuthFlowType,
    /// The session to answer with when a call after the challenge issued a new one
    /// (AssociateSoftwareToken during `MFA_SETUP`).
    pub(super) session: Option<Secret>,
    pub(super) next_step: NextStep,
    /// `SELECT_CHALLENGE` answered with `PASSWORD` or `PASSWORD_SRP`: the password is asked
    /// next, and sent with that choice.
    pub(super) first_factor: Option<String>,
    /// This machine as the user's device: its key goes with every answer, and it proves
    /// itself when Cognito asks.
    pub(super) device: Option<crate::cognito::devices::DeviceCreds>,
}

/// `USER_AUTH`'s first factors cognitod can take (passkeys need a browser).
const FIRST_FACTORS: [&str; 4] = ["PASSWORD", "PASSWORD_SRP", "EMAIL_OTP", "SMS_OTP"];

/// The first factor `answer` names (`EMAIL_OTP`, `email-otp`, `srp`, ...), if one of these.
fn first_factor(answer: &str) -> Result<&'static str, SessionError> {
    let wanted = answer.trim().to_ascii_uppercase().replace('-', "_");
    let wanted = match wanted.as_str() {
        "SRP" => "PASSWORD_SRP",
        other => other,
    };
    if wanted == "WEB_AUTHN" {
        return Err(SessionError::BadAnswer(
            "passkeys need the browser sign-in: `cognitoctl login --browser`".to_owned(),
        ));
    }
    FIRST_FACTORS
        .into_iter()
        .find(|f| *f == wanted)
        .ok_or_else(|| {
            // Never quoted: a password typed at the wrong step would be shown.
            SessionError::BadAnswer(format!(
                "that is not a first factor; answer one of {}",
                FIRST_FACTORS.join(", ")
            ))
        })
}

/// Where Cognito's answers left a sign-in, ready to apply without another call.
#[derive(Debug)]
pub(super) enum Prepared {
    /// Tokens, and this machine confirmed as the user's new device (if the pool tracks
    /// devices).
    SignedIn(Box<VerifiedTokens>, Option<Box<StoredDevice>>),
    Step(Box<Pending>),
    /// The sign-in ended short of tokens with something the user must do elsewhere first
    /// (reset the password, confirm the account).
    Stopped(NextStep),
}

/// The step a sign-in refusal means: `RESET_PASSWORD` for `PasswordResetRequiredException`,
/// `CONFIRM_SIGN_UP` for `UserNotConfirmedException`.
fn stopped_step(error: &crate::cognito::CognitoError) -> Option<NextStep> {
    stopped_kind(error.service_kind()?)
}

/// [`stopped_step`] for an answer's error.
fn stopped_step_of(error: &SessionError) -> Option<NextStep> {
    match error {
        SessionError::Refused { kind, .. } => stopped_kind(kind),
        _ => None,
    }
}

fn stopped_kind(kind: &str) -> Option<NextStep> {
    match kind {
        "PasswordResetRequiredException" => Some(NextStep::new(SignInStep::ResetPassword)),
        "UserNotConfirmedException" => Some(NextStep::new(SignInStep::ConfirmSignUp)),
        _ => None,
    }
}

/// A sign-in call that came back.
#[derive(Debug)]
pub(super) struct AuthDone {
    /// The sign-in it belongs to: moot when a newer one started.
    pub(super) generation: u64,
    pub(super) login_id: String,
    pub(super) flow: AuthFlowType,
    pub(super) started_ms: i64,
    /// Cognito's health after the call (`None`: it was not asked).
    pub(super) upstream: Option<UpstreamHealth>,
    pub(super) result: Result<Prepared, SessionError>,
    pub(super) reply: Reply<SignInResponse>,
    /// An answer to a pending step (not a new sign-in).
    pub(super) confirm: bool,
    /// Cognito took the answer (its session is used up) even if what came after failed.
    pub(super) step_used: bool,
    /// Cognito no longer knows the device this sign-in named: it is dropped here.
    pub(super) device_gone: bool,
}

impl<P: UserPool> Owner<P> {
    /// Starts a sign-in; one already pending is replaced.
    pub(super) fn sign_in(&mut self, request: SignInRequest, reply: Reply<SignInResponse>) {
        self.start_sign_in(request, None, reply);
    }

    /// [`Owner::sign_in`]; with `session` (a confirmed sign-up's), `USER_AUTH` without a
    /// factor.
    pub(super) fn start_sign_in(
        &mut self,
        request: SignInRequest,
        session: Option<Secret>,
        reply: Reply<SignInResponse>,
    ) {
        if let Some(who) = self.signed_in_as() {
            let _ = reply.send(Err(SessionError::AlreadySignedIn(who)));
            return;
        }
        let username = request.username.trim().to_owned();
        if username.is_empty() {
            let _ = reply.send(Err(SessionError::BadAnswer("username is empty".to_owned())));
            return;
        }
        let flow = request.auth_flow_type.unwrap_or_default();
        if flow == AuthFlowType::Unknown {
            let _ = reply.send(Err(SessionError::BadAnswer(
                "authFlowType is not one this daemon knows (USER_SRP_AUTH, USER_PASSWORD_AUTH, USER_AUTH, CUSTOM_WITH_SRP, CUSTOM_WITHOUT_SRP)".to_owned(),
            )));
            return;
        }
        if flow == AuthFlowType::Redirect {
            let _ = reply.send(Err(SessionError::BadAnswer(
                "REDIRECT is the browser sign-in: POST /v1/sign-in/redirect (cognitoctl login --browser)".to_owned(),
            )));
            return;
        }
        let preferred = match (&request.preferred_challenge, flow) {
            (None, _) => None,
            (Some(wanted), AuthFlowType::UserAuth) => match first_factor(wanted) {
                Ok(factor) => Some(factor),
                Err(error) => {
                    let _ = reply.send(Err(error));
                    return;
                }
            },
            (Some(_), _) => {
                let _ = reply.send(Err(SessionError::BadAnswer(
                    "preferredChallenge goes with authFlowType USER_AUTH".to_owned(),
                )));
                return;
            }
        };
        let needs_password = match flow {
            _ if session.is_some() => false,
            AuthFlowType::CustomWithoutSrp => false,
            AuthFlowType::UserAuth => matches!(preferred, Some("PASSWORD" | "PASSWORD_SRP")),
            _ => true,
        };
        if !request.password.is_empty() && !needs_password {
            // Never silently dropped: the caller meant something else.
            let _ = reply.send(Err(SessionError::BadAnswer(format!(
                "{} takes no password here (USER_AUTH takes one with preferredChallenge PASSWORD or PASSWORD_SRP)",
                flow.as_str()
            ))));
            return;
        }
        if request.password.is_empty() && needs_password {
            let _ = reply.send(Err(SessionError::BadAnswer(format!(
                "{} needs the password",
                flow.as_str()
            ))));
            return;
        }
        self.set_pending(None);
        self.redirect = None;
        self.answering = false;
        let generation = self.next_auth_generation();
        let started_ms = self.clock.now_ms();
        let (pool, verifier, done) = self.auth_parts();
        let user_pool_id = self.config.user_pool_id.clone();
        let device = self.device_of(&username).map(|d| d.creds.clone());
        let device_name = self.config.device_name.clone();
        tokio::spawn(async move {
            let mut args = auth::SignInArgs {
                user_pool_id: &user_pool_id,
                username: &username,
                password: &request.password,
                flow,
                client_metadata: request.client_metadata.as_ref(),
                preferred,
                device: device.as_ref(),
                session: session.as_ref(),
            };
            let mut outcome = auth::sign_in(&*pool, &verifier, args).await;
            // A device Cognito no longer knows (forgotten elsewhere) never locks the user out:
            // the sign-in goes on without it, and it is dropped here.
            let device_gone = args.device.is_some()
                && outcome.as_ref().err().is_some_and(|error| {
                    matches!(error,
                    crate::cognito::CognitoError::Service { kind, message, .. }
                        if kind == "ResourceNotFoundException" && message.contains("Device"))
                });
            if device_gone {
                info!(
                    username,
                    "Cognito no longer knows this machine's device; signing in without it"
                );
                args.device = None;
                outcome = auth::sign_in(&*pool, &verifier, args).await;
            }
            let upstream = Some(upstream_after(outcome.as_ref().err()));
            let used_device = args.device.cloned();
            let result = match outcome {
                Ok(outcome) => prepare(&*pool, outcome, (&username, flow), device_name)
                    .await
                    .map(|prepared| with_device(prepared, used_device)),
                Err(error) => match stopped_step(&error) {
                    // Not a refusal: what the user does next (Amplify's steps).
                    Some(step) => {
                        info!(username, %error, "sign-in stopped: the account needs a step first");
                        Ok(Prepared::Stopped(step))
                    }
                    None => {
                        info!(username, %error, "sign-in refused");
                        Err(error.into())
                    }
                },
            };
            let _ = done.send(AuthDone {
                generation,
                login_id: username,
                flow,
                started_ms,
                upstream,
                result,
                reply,
                confirm: false,
                step_used: false,
                device_gone,
            });
        });
    }

    /// Answers the pending step. A wrong answer keeps the step open for another try.
    pub(super) fn confirm(&mut self, request: ConfirmSignInRequest, reply: Reply<SignInResponse>) {
        let Some(pending) = self.pending.clone() else {
            let _ = reply.send(Err(SessionError::NoPendingStep));
            return;
        };
        // One answer at a time: Cognito's session for the step is good for one.
        if self.answering {
            let _ = reply.send(Err(SessionError::BadAnswer(
                "another answer to this step is being checked; wait for it".to_owned(),
            )));
            return;
        }
        self.answering = true;
        let generation = self.auth_generation;
        let started_ms = self.clock.now_ms();
        let (pool, verifier, done) = self.auth_parts();
        let user_pool_id = self.config.user_pool_id.clone();
        let device_name = self.config.device_name.clone();
        tokio::spawn(async move {
            let answered = answer(&*pool, &verifier, &user_pool_id, &pending, &request).await;
            let upstream = match &answered {
                Err(SessionError::Unavailable(_)) => Some(UpstreamHealth::Unreachable),
                Err(SessionError::Throttled { .. }) => Some(UpstreamHealth::Degraded),
                Err(SessionError::BadAnswer(_)) => None,
                Ok(Answered::Local(next)) if next.session.is_none() => None,
                _ => Some(UpstreamHealth::Ok),
            };
            // A password proof by SRP takes two calls: once the first went through, Cognito's
            // session for the step is spent, whatever became of the second.
            let srp_spent = pending.first_factor.as_deref() == Some("PASSWORD_SRP")
                && !matches!(answered, Err(SessionError::BadAnswer(_)));
            let step_used = matches!(answered, Ok(Answered::Outcome(_))) || srp_spent;
            let result = match answered {
                Ok(Answered::Outcome(outcome)) => {
                    let login = (pending.login_id.as_str(), pending.flow);
                    prepare(&*pool, outcome, login, device_name)
                        .await
                        .map(|prepared| with_device(prepared, pending.device.clone()))
                }
                Ok(Answered::Local(next)) => Ok(Prepared::Step(next)),
                Err(error) => match stopped_step_of(&error) {
                    // As at sign-in: what the user must do elsewhere first.
                    Some(step) => Ok(Prepared::Stopped(step)),
                    None => Err(error),
                },
            };
            let _ = done.send(AuthDone {
                generation,
                login_id: pending.login_id,
                flow: pending.flow,
                started_ms,
                upstream,
                result,
                reply,
                confirm: true,
                step_used,
                device_gone: false,
            });
        });
    }

    /// Applies a sign-in call that came back: signed in, a new pending step, or the error
    /// (which ends the sign-in unless the step stays open for another answer).
    pub(super) fn finish_auth(&mut self, done: AuthDone) {
        if let Some(health) = done.upstream {
            self.set_upstream(health);
        }
        if done.confirm && done.generation == self.auth_generation {
            self.answering = false;
        }
        if done.device_gone {
            self.drop_device(&done.login_id);
            self.persist_current();
        }
        // A device Cognito confirmed is this user's on this machine, whatever became of the
        // sign-in (replaced, refused here): kept, or Cognito would hold a device nobody can
        // prove.
        if let Ok(Prepared::SignedIn(_, Some(device))) = &done.result {
            self.keep_device((**device).clone());
            self.persist_current();
        }
        if done.generation != self.auth_generation {
            if let Ok(Prepared::SignedIn(tokens, _)) = &done.result {
                self.revoke_unused(tokens);
            }
            let _ = done.reply.send(Err(SessionError::BadAnswer(
                "a newer sign-in replaced this one".to_owned(),
            )));
            return;
        }
        let answer = match done.result {
            Ok(Prepared::SignedIn(tokens, _)) => {
                self.set_pending(None);
                self.next_auth_generation();
                if let Some(who) = self.signed_in_as() {
                    self.revoke_unused(&tokens);
                    Err(SessionError::AlreadySignedIn(who))
                } else if tokens.refresh_token.is_none() {
                    // Nothing could keep such a session fresh; refused rather than served
                    // until it silently ends.
                    warn!("Cognito signed in without a refresh token; the sign-in is refused");
                    Err(SessionError::NoRefreshToken)
                } else {
                    self.install(*tokens, &done.login_id, done.flow, done.started_ms);
                    Ok(SignInResponse {
                        is_signed_in: true,
                        next_step: NextStep::new(SignInStep::Done),
                    })
                }
            }
            Ok(Prepared::Stopped(next_step)) => {
                self.set_pending(None);
                self.next_auth_generation();
                Ok(SignInResponse {
                    is_signed_in: false,
                    next_step,
                })
            }
            Ok(Prepared::Step(pending)) => {
                let pending = *pending;
                info!(username = %pending.challenge.username, challenge = %pending.challenge.name, "sign-in step pending");
                let next_step = pending.next_step.clone();
                self.set_pending(Some(pending));
                self.next_auth_generation();
                Ok(SignInResponse {
                    is_signed_in: false,
                    next_step,
                })
            }
            Err(error) => {
                // A step Cognito took is used up, whatever failed after it.
                if self.pending.is_some() && (done.step_used || !error.keeps_step_open()) {
                    info!(%error, "the pending sign-in step was refused; sign in again");
                    self.set_pending(None);
                    self.next_auth_generation();
                }
                Err(error)
            }
        };
        let _ = done.reply.send(answer);
    }

    /// Tokens Cognito issued for a sign-in that no longer counts (replaced, or someone signed
    /// in meanwhile): their refresh token is revoked rather than left valid for 30 days.
    fn revoke_unused(&self, tokens: &VerifiedTokens) {
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return;
        };
        let pool = Arc::clone(&self.pool);
        tokio::spawn(async move {
            match pool.revoke_token(&refresh_token).await {
                Ok(()) => info!("the tokens of a sign-in that no longer counts were revoked"),
                Err(error) => {
                    warn!(%error, "the tokens of a sign-in that no longer counts were not revoked");
                }
            }
        });
    }

    pub(super) fn auth_parts(
        &self,
    ) -> (
        Arc<P>,
        Arc<Verifier>,
        tokio::sync::mpsc::UnboundedSender<AuthDone>,
    ) {
        (
            Arc::clone(&self.pool),
            Arc::clone(&self.verifier),
            self.auth_done.clone(),
        )
    }

    /// A new sign-in generation: answers for older ones are moot.
    pub(super) fn next_auth_generation(&mut self) -> u64 {
        self.auth_generation += 1;
        self.auth_generation
    }
}

/// The answer to the pending step, sent to Cognito (with the authenticator's verification
/// first during `MFA_SETUP`).
/// A pending step keeps the device its sign-in uses.
fn with_device(
    prepared: Prepared,
    device: Option<crate::cognito::devices::DeviceCreds>,
) -> Prepared {
    match prepared {
        Prepared::Step(mut pending) => {
            pending.device = device;
            Prepared::Step(pending)
        }
        other => other,
    }
}

/// What an answer to the pending step came to.
enum Answered {
    /// Cognito's answer.
    Outcome(AuthOutcome),
    /// A choice made here (a first factor, an MFA kind to set up): the step that follows,
    /// for the same Cognito session.
    Local(Box<Pending>),
}

async fn answer<P: UserPool>(
    pool: &P,
    verifier: &Verifier,
    user_pool_id: &str,
    pending: &Pending,
    request: &ConfirmSignInRequest,
) -> Result<Answered, SessionError> {
    let challenge = &pending.challenge;
    let answer = &request.challenge_response;
    let metadata = request.client_metadata.clone();
    if challenge.name == "SELECT_CHALLENGE" || pending.first_factor.is_some() {
        if let Some(factor) = &pending.first_factor {
            if answer.is_empty() {
                return Err(SessionError::BadAnswer("the password is empty".to_owned()));
            }
            let outcome = auth::answer_with_password(
                pool,
                verifier,
                user_pool_id,
                challenge,
                (factor, answer),
                metadata,
                pending.device.as_ref(),
            )
            .await?;
            let outcome =
                auth::prove_device(pool, verifier, outcome, pending.device.as_ref()).await?;
            return Ok(Answered::Outcome(outcome));
        }
        let factor = first_factor(answer.expose())?;
        let offered = &challenge.available_challenges;
        if !offered.is_empty() && !offered.iter().any(|c| c == factor) {
            return Err(SessionError::BadAnswer(format!(
                "{factor} is not offered here ({})",
                offered.join(", ")
            )));
        }
        if matches!(factor, "PASSWORD" | "PASSWORD_SRP") {
            // The password is asked next, and sent with this choice.
            return Ok(Answered::Local(Box::new(Pending {
                first_factor: Some(factor.to_owned()),
                next_step: NextStep::new(SignInStep::ConfirmSignInWithPassword),
                ..pending.clone()
            })));
        }
        let mut responses = crate::cognito::wire::SecretParameters::new();
        responses.insert("ANSWER".into(), Secret::new(factor));
        let outcome = auth::respond(pool, verifier, challenge, responses, None, metadata).await?;
        return Ok(Answered::Outcome(outcome));
    }
    if pending.next_step.sign_in_step == SignInStep::ContinueSignInWithMfaSetupSelection {
        let next = match answer.expose().trim().to_ascii_uppercase().as_str() {
            "EMAIL" | "EMAIL_OTP" => Pending {
                next_step: NextStep::new(SignInStep::ContinueSignInWithEmailSetup),
                ..pending.clone()
            },
            "TOTP" | "SOFTWARE_TOKEN_MFA" => {
                let session = challenge
                    .session
                    .as_ref()
                    .ok_or_else(|| SessionError::Internal("MFA_SETUP without a session".into()))?;
                let associated = pool.associate_software_token(session).await?;
                Pending {
                    next_step: challenge::totp_setup_step(
                        &associated.secret_code,
                        &pending.login_id,
                    ),
                    session: associated.session,
                    ..pending.clone()
                }
            }
            _ => {
                return Err(SessionError::BadAnswer(
                    "that is not one of the MFA types to set up (EMAIL, TOTP)".to_owned(),
                ));
            }
        };
        return Ok(Answered::Local(Box::new(next)));
    }
    if pending.next_step.sign_in_step == SignInStep::ContinueSignInWithEmailSetup {
        let email = answer.expose().trim();
        if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
            return Err(SessionError::BadAnswer(
                "that is not an email address".to_owned(),
            ));
        }
        let mut responses = crate::cognito::wire::SecretParameters::new();
        responses.insert("EMAIL".into(), Secret::new(email));
        let outcome = auth::respond(pool, verifier, challenge, responses, None, metadata).await?;
        return Ok(Answered::Outcome(outcome));
    }
    let mut responses = challenge::responses(challenge, answer, request.user_attributes.as_ref())?;
    if let Some(device) = &pending.device {
        responses.insert("DEVICE_KEY".into(), Secret::new(device.key.as_str()));
    }
    let mut session = pending.session.clone();
    if challenge.name == "MFA_SETUP" {
        let current = session
            .as_ref()
            .or(challenge.session.as_ref())
            .ok_or_else(|| SessionError::Internal("MFA_SETUP without a session".into()))?;
        let code = challenge::code(answer)?;
        let verified = pool.verify_software_token(current, &code).await?;
        if verified.status.as_deref().is_some_and(|s| s != "SUCCESS") {
            return Err(SessionError::Refused {
                kind: "EnableSoftwareTokenMFAException".into(),
                message: "the authenticator code was not accepted".into(),
            });
        }
        session = verified.session.or(session);
    }
    let outcome = auth::respond(pool, verifier, challenge, responses, session, metadata).await?;
    Ok(Answered::Outcome(
        auth::prove_device(pool, verifier, outcome, pending.device.as_ref()).await?,
    ))
}

/// Where `outcome` leaves the sign-in: tokens, or the next step (for `MFA_SETUP` after
/// asking Cognito for the new authenticator's secret).
async fn prepare<P: UserPool>(
    pool: &P,
    outcome: AuthOutcome,
    (login_id, flow): (&str, AuthFlowType),
    device_name: Option<String>,
) -> Result<Prepared, SessionError> {
    let challenge = match outcome {
        AuthOutcome::SignedIn(tokens) => {
            // A pool with device tracking: this machine becomes the user's device.
            let device = match &tokens.new_device {
                Some(metadata) => {
                    let username = tokens.username_or(login_id);
                    super::devices::confirm_new(
                        pool,
                        &tokens.access_token,
                        metadata,
                        (&username, login_id),
                        device_name,
                    )
                    .await
                    .map(Box::new)
                }
                None => None,
            };
            return Ok(Prepared::SignedIn(tokens, device));
        }
        AuthOutcome::Challenge(challenge) => challenge,
    };
    let (next_step, session) = if challenge.name == "MFA_SETUP" {
        if challenge::can_set_up_totp(&challenge) && challenge::can_set_up_email(&challenge) {
            // Both can be set up: the user chooses (Amplify's names).
            return Ok(Prepared::Step(Box::new(Pending {
                challenge,
                login_id: login_id.to_owned(),
                flow,
                session: None,
                next_step: NextStep {
                    allowed_mfa_types: Some(vec!["EMAIL".to_owned(), "TOTP".to_owned()]),
                    ..NextStep::new(SignInStep::ContinueSignInWithMfaSetupSelection)
                },
                first_factor: None,
                device: None,
            })));
        }
        if !challenge::can_set_up_totp(&challenge) {
            if challenge::can_set_up_email(&challenge) {
                // Email MFA: the address first; Cognito then sends a code there.
                return Ok(Prepared::Step(Box::new(Pending {
                    challenge,
                    login_id: login_id.to_owned(),
                    flow,
                    session: None,
                    next_step: NextStep::new(SignInStep::ContinueSignInWithEmailSetup),
                    first_factor: None,
                    device: None,
                })));
            }
            return Err(SessionError::UnsupportedChallenge(
                "MFA_SETUP without SOFTWARE_TOKEN_MFA or EMAIL_OTP".into(),
            ));
        }
        let session = challenge
            .session
            .as_ref()
            .ok_or_else(|| SessionError::Internal("MFA_SETUP without a session".into()))?;
        let associated = pool.associate_software_token(session).await?;
        (
            // Labelled with what the user signs in with (for email sign-in the canonical
            // name is a UUID).
            challenge::totp_setup_step(&associated.secret_code, login_id),
            associated.session,
        )
    } else if matches!(challenge.name.as_str(), "PASSWORD" | "PASSWORD_SRP") {
        // Cognito asks for the password as a challenge of its own (USER_AUTH).
        let factor = if challenge.name == "PASSWORD" {
            "PASSWORD"
        } else {
            "PASSWORD_SRP"
        };
        return Ok(Prepared::Step(Box::new(Pending {
            challenge,
            login_id: login_id.to_owned(),
            flow,
            session: None,
            next_step: NextStep::new(SignInStep::ConfirmSignInWithPassword),
            first_factor: Some(factor.to_owned()),
            device: None,
        })));
    } else {
        match challenge::next_step(&challenge) {
            Ok(step) => (step, None),
            Err(error) => {
                warn!(challenge = %challenge.name, "sign-in needs a challenge cognitod cannot answer");
                return Err(error.into());
            }
        }
    };
    Ok(Prepared::Step(Box::new(Pending {
        challenge,
        login_id: login_id.to_owned(),
        flow,
        session,
        next_step,
        first_factor: None,
        device: None,
    })))
}
