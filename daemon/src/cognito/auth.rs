//! The sign-in conversation with a user pool: `USER_SRP_AUTH` (the SRP exchange and its
//! `PASSWORD_VERIFIER` answer) and `USER_PASSWORD_AUTH`, ending in verified tokens or in a
//! challenge for the user.

use std::collections::BTreeMap;

use cognitod_proto::{AuthFlowType, Secret};
use time::OffsetDateTime;

use super::jwt::{Claims, TokenUse, Verifier};
use super::srp::{self, PasswordVerifierChallenge, SrpClient};
use super::wire::SecretParameters;
use super::{
    AuthResponse, AuthenticationResult, CognitoError, InitiateAuthRequest,
    RespondToAuthChallengeRequest, UserPool,
};

/// Tokens that passed verification, with their claims.
#[derive(Debug, Clone)]
pub struct VerifiedTokens {
    pub id_token: Secret,
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub id_claims: Claims,
    pub access_claims: Claims,
    /// A pool with device tracking announced this machine as a new device.
    pub new_device: Option<super::wire::NewDeviceMetadata>,
}

impl VerifiedTokens {
    /// The canonical username the tokens carry (`cognito:username`, else the access token's
    /// `username`), else `fallback`.
    pub fn username_or(&self, fallback: &str) -> String {
        self.id_claims
            .cognito_username
            .clone()
            .or_else(|| self.access_claims.username.clone())
            .unwrap_or_else(|| fallback.to_owned())
    }
}

/// A challenge Cognito asks the user to answer.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub name: String,
    pub session: Option<Secret>,
    pub parameters: BTreeMap<String, String>,
    /// The canonical username every answer carries as `USERNAME` and hashes into
    /// `SECRET_HASH`: the challenge's `USERNAME`, else its `USER_ID_FOR_SRP` (follow-up
    /// challenges carry only that), else the one the previous answer carried. For email or
    /// alias sign-in it is not what the user typed.
    pub username: String,
    /// `SELECT_CHALLENGE`: the first factors offered.
    pub available_challenges: Vec<String>,
}

/// The canonical username in a challenge's parameters, else `previous`.
fn canonical_username<'a>(parameters: &'a BTreeMap<String, String>, previous: &'a str) -> &'a str {
    parameters
        .get("USERNAME")
        .or_else(|| parameters.get("USER_ID_FOR_SRP"))
        .map_or(previous, String::as_str)
}

/// Where a sign-in call left things.
#[derive(Debug)]
pub enum AuthOutcome {
    SignedIn(Box<VerifiedTokens>),
    Challenge(Challenge),
}

/// What a sign-in starts with.
#[derive(Debug, Clone, Copy)]
pub struct SignInArgs<'a> {
    pub user_pool_id: &'a str,
    pub username: &'a str,
    /// Empty where the flow needs none.
    pub password: &'a Secret,
    pub flow: AuthFlowType,
    /// Goes to the pool's Lambda triggers with every call.
    pub client_metadata: Option<&'a BTreeMap<String, String>>,
    /// `USER_AUTH`: the first factor wanted (`PASSWORD`, `PASSWORD_SRP`, `EMAIL_OTP`,
    /// `SMS_OTP`).
    pub preferred: Option<&'a str>,
    /// This machine as the user's remembered device: its key goes with the sign-in, and it
    /// proves itself when Cognito asks (instead of MFA).
    pub device: Option<&'a super::devices::DeviceCreds>,
    /// A confirmed sign-up's session: `USER_AUTH` signs in with it alone.
    pub session: Option<&'a Secret>,
}

/// Signs in as `args` say.
pub async fn sign_in<P: UserPool>(
    pool: &P,
    verifier: &Verifier,
    args: SignInArgs<'_>,
) -> Result<AuthOutcome, CognitoError> {
    let SignInArgs {
        user_pool_id,
        username,
        password,
        flow,
        client_metadata,
        preferred,
        device,
        session,
    } = args;
    let mut parameters = SecretParameters::new();
    parameters.insert("USERNAME".into(), Secret::new(username));
    if let Some(hash) = pool.secret_hash(username) {
        parameters.insert("SECRET_HASH".into(), hash);
    }
    if let Some(device) = device {
        parameters.insert("DEVICE_KEY".into(), Secret::new(device.key.as_str()));
    }
    let srp_client = || {
        SrpClient::new()
            .map_err(|e| CognitoError::Protocol(format!("no randomness for SRP from the OS: {e}")))
    };
    // The flow Cognito is asked for, and the SRP exchange when a password proof follows.
    let (auth_flow, srp) = match flow {
        AuthFlowType::Redirect | AuthFlowType::Unknown => {
            return Err(CognitoError::Protocol(format!(
                "{} is not a flow cognitod signs in with here",
                flow.as_str()
            )));
        }
        AuthFlowType::UserPasswordAuth => {
            parameters.insert("PASSWORD".into(), password.clone());
            ("USER_PASSWORD_AUTH", None)
        }
        AuthFlowType::UserSrpAuth => {
            let srp = srp_client()?;
            parameters.insert("SRP_A".into(), Secret::new(srp.public_hex()));
            ("USER_SRP_AUTH", Some(srp))
        }
        AuthFlowType::CustomWithSrp => {
            let srp = srp_client()?;
            parameters.insert("CHALLENGE_NAME".into(), Secret::new("SRP_A"));
            parameters.insert("SRP_A".into(), Secret::new(srp.public_hex()));
            ("CUSTOM_AUTH", Some(srp))
        }
        AuthFlowType::CustomWithoutSrp => ("CUSTOM_AUTH", None),
        AuthFlowType::UserAuth => {
            let mut srp = None;
            if let Some(preferred) = preferred {
                parameters.insert("PREFERRED_CHALLENGE".into(), Secret::new(preferred));
                match preferred {
                    "PASSWORD" => {
                        parameters.insert("PASSWORD".into(), password.clone());
                    }
                    "PASSWORD_SRP" => {
                        let client = srp_client()?;
                        parameters.insert("SRP_A".into(), Secret::new(client.public_hex()));
                        srp = Some(client);
                    }
                    _ => {}
                }
            }
            ("USER_AUTH", srp)
        }
    };
    let response = pool
        .initiate_auth(InitiateAuthRequest {
            auth_flow,
            client_id: pool.client_id().to_owned(),
            auth_parameters: parameters,
            client_metadata: client_metadata.cloned(),
            session: session.cloned(),
        })
        .await?;
    if let Some(srp) = srp
        && response.challenge_name.as_deref() == Some("PASSWORD_VERIFIER")
    {
        let who = (user_pool_id, username, password);
        let extras = (client_metadata.cloned(), device);
        let outcome = send_password_proof(pool, verifier, &srp, who, response, extras).await?;
        return prove_device(pool, verifier, outcome, device).await;
    }
    let outcome = outcome(verifier, response, username).await?;
    prove_device(pool, verifier, outcome, device).await
}

/// Answers `DEVICE_SRP_AUTH` and `DEVICE_PASSWORD_VERIFIER` for a remembered device (the
/// user is not asked); any other outcome as it is.
pub async fn prove_device<P: UserPool>(
    pool: &P,
    verifier: &Verifier,
    result: AuthOutcome,
    device: Option<&super::devices::DeviceCreds>,
) -> Result<AuthOutcome, CognitoError> {
    let (AuthOutcome::Challenge(challenge), Some(device)) = (&result, device) else {
        return Ok(result);
    };
    if challenge.name != "DEVICE_SRP_AUTH" {
        return Ok(result);
    }
    let srp = SrpClient::new()
        .map_err(|e| CognitoError::Protocol(format!("no randomness for SRP from the OS: {e}")))?;
    let mut responses = SecretParameters::new();
    responses.insert("DEVICE_KEY".into(), Secret::new(device.key.as_str()));
    responses.insert("SRP_A".into(), Secret::new(srp.public_hex()));
    let response = send_answer(pool, challenge, responses, None, None).await?;
    if response.challenge_name.as_deref() != Some("DEVICE_PASSWORD_VERIFIER") {
        return outcome(verifier, response, &challenge.username).await;
    }
    let params = &response.challenge_parameters;
    let param = |name: &'static str| {
        params.get(name).map(String::as_str).ok_or_else(|| {
            CognitoError::Protocol(format!("DEVICE_PASSWORD_VERIFIER challenge without {name}"))
        })
    };
    let secret_block = param("SECRET_BLOCK")?;
    let device_challenge = super::devices::challenge(
        &device.group_key,
        &device.key,
        param("SALT")?,
        param("SRP_B")?,
        secret_block,
    );
    let timestamp = srp::timestamp(OffsetDateTime::now_utc());
    let signature =
        srp.password_signature(&device_challenge, device.password.expose(), &timestamp)?;
    let mut proof = SecretParameters::new();
    proof.insert("DEVICE_KEY".into(), Secret::new(device.key.as_str()));
    proof.insert(
        "PASSWORD_CLAIM_SECRET_BLOCK".into(),
        Secret::new(secret_block),
    );
    proof.insert("PASSWORD_CLAIM_SIGNATURE".into(), Secret::new(signature));
    proof.insert("TIMESTAMP".into(), Secret::new(timestamp));
    let next = Challenge {
        name: "DEVICE_PASSWORD_VERIFIER".to_owned(),
        session: response.session.clone(),
        parameters: response.challenge_parameters.clone(),
        username: challenge.username.clone(),
        available_challenges: Vec::new(),
    };
    respond(pool, verifier, &next, proof, None, None).await
}

/// The answer to `PASSWORD_VERIFIER`: the SRP proof, for the challenge's `USERNAME` (for alias
/// sign-in that is the canonical username, not what was typed), with `SECRET_HASH` over it.
fn password_verifier<P: UserPool>(
    pool: &P,
    srp: &SrpClient,
    user_pool_id: &str,
    typed_username: &str,
    password: &Secret,
    response: AuthResponse,
) -> Result<RespondToAuthChallengeRequest, CognitoError> {
    let params = &response.challenge_parameters;
    let param = |name: &'static str| {
        params.get(name).map(String::as_str).ok_or_else(|| {
            CognitoError::Protocol(format!("PASSWORD_VERIFIER challenge without {name}"))
        })
    };
    let username = canonical_username(params, typed_username);
    let user_id_for_srp = params
        .get("USER_ID_FOR_SRP")
        .map_or(username, String::as_str);
    let secret_block = param("SECRET_BLOCK")?;
    let challenge = PasswordVerifierChallenge {
        pool_name: srp::pool_name(user_pool_id),
        user_id_for_srp,
        salt_hex: param("SALT")?,
        srp_b_hex: param("SRP_B")?,
        secret_block,
    };
    let timestamp = srp::timestamp(OffsetDateTime::now_utc());
    let signature = srp.password_signature(&challenge, password.expose(), &timestamp)?;

    let mut responses = SecretParameters::new();
    responses.insert("USERNAME".into(), Secret::new(username));
    responses.insert(
        "PASSWORD_CLAIM_SECRET_BLOCK".into(),
        Secret::new(secret_block),
    );
    responses.insert("PASSWORD_CLAIM_SIGNATURE".into(), Secret::new(signature));
    responses.insert("TIMESTAMP".into(), Secret::new(timestamp));
    if let Some(hash) = pool.secret_hash(username) {
        responses.insert("SECRET_HASH".into(), hash);
    }
    Ok(RespondToAuthChallengeRequest {
        challenge_name: "PASSWORD_VERIFIER".to_owned(),
        client_id: pool.client_id().to_owned(),
        challenge_responses: responses,
        session: response.session,
        client_metadata: None,
    })
}

/// Answers `challenge` with `responses`, adding its canonical `USERNAME` and `SECRET_HASH`
/// over it; `session` is the challenge's unless a call in between issued a new one.
pub async fn respond<P: UserPool>(
    pool: &P,
    verifier: &Verifier,
    challenge: &Challenge,
    responses: SecretParameters,
    session: Option<Secret>,
    client_metadata: Option<BTreeMap<String, String>>,
) -> Result<AuthOutcome, CognitoError> {
    let response = send_answer(pool, challenge, responses, session, client_metadata).await?;
    outcome(verifier, response, &challenge.username).await
}

/// Sends `responses` for `challenge`, with its canonical `USERNAME` and `SECRET_HASH` over it;
/// Cognito's answer as it is.
async fn send_answer<P: UserPool>(
    pool: &P,
    challenge: &Challenge,
    mut responses: SecretParameters,
    session: Option<Secret>,
    client_metadata: Option<BTreeMap<String, String>>,
) -> Result<AuthResponse, CognitoError> {
    let username = challenge.username.as_str();
    responses.insert("USERNAME".into(), Secret::new(username));
    if let Some(hash) = pool.secret_hash(username) {
        responses.insert("SECRET_HASH".into(), hash);
    }
    pool.respond_to_auth_challenge(RespondToAuthChallengeRequest {
        challenge_name: challenge.name.clone(),
        client_id: pool.client_id().to_owned(),
        challenge_responses: responses,
        session: session.or_else(|| challenge.session.clone()),
        client_metadata,
    })
    .await
}

/// Tokens (verified) or the next challenge, whose canonical username is `previous` when the
/// challenge names none.
pub async fn outcome(
    verifier: &Verifier,
    response: AuthResponse,
    previous: &str,
) -> Result<AuthOutcome, CognitoError> {
    if let Some(result) = response.authentication_result {
        return verify(verifier, result)
            .await
            .map(|tokens| AuthOutcome::SignedIn(Box::new(tokens)));
    }
    match response.challenge_name {
        Some(name) => Ok(AuthOutcome::Challenge(Challenge {
            username: canonical_username(&response.challenge_parameters, previous).to_owned(),
            name,
            session: response.session,
            parameters: response.challenge_parameters,
            available_challenges: response.available_challenges,
        })),
        None => Err(CognitoError::Protocol(
            "answer has neither tokens nor a challenge".to_owned(),
        )),
    }
}

/// Verifies both tokens of an authentication result; neither is used before this passes.
pub async fn verify(
    verifier: &Verifier,
    result: AuthenticationResult,
) -> Result<VerifiedTokens, CognitoError> {
    let id_token = result.id_token.ok_or_else(|| {
        CognitoError::Protocol("authentication result without IdToken".to_owned())
    })?;
    let id_claims = verifier.verify(&id_token, TokenUse::Id).await?;
    let access_claims = verifier
        .verify(&result.access_token, TokenUse::Access)
        .await?;
    if id_claims.sub != access_claims.sub {
        return Err(CognitoError::InvalidToken(
            "id and access tokens name different users".to_owned(),
        ));
    }
    Ok(VerifiedTokens {
        id_token,
        access_token: result.access_token,
        refresh_token: result.refresh_token,
        id_claims,
        access_claims,
        new_device: result.new_device_metadata,
    })
}

/// Answers `SELECT_CHALLENGE` (or Cognito's own `PASSWORD` / `PASSWORD_SRP` challenge) with
/// a password first factor: `PASSWORD` with the password, or `PASSWORD_SRP` with the SRP
/// exchange and its `PASSWORD_VERIFIER` proof.
pub async fn answer_with_password<P: UserPool>(
    pool: &P,
    verifier: &Verifier,
    user_pool_id: &str,
    challenge: &Challenge,
    (factor, password): (&str, &Secret),
    client_metadata: Option<BTreeMap<String, String>>,
    device: Option<&super::devices::DeviceCreds>,
) -> Result<AuthOutcome, CognitoError> {
    let mut responses = SecretParameters::new();
    if let Some(device) = device {
        responses.insert("DEVICE_KEY".into(), Secret::new(device.key.as_str()));
    }
    // The choice goes with SELECT_CHALLENGE; a PASSWORD(_SRP) challenge is its own answer.
    if challenge.name == "SELECT_CHALLENGE" {
        responses.insert("ANSWER".into(), Secret::new(factor));
    }
    if factor != "PASSWORD_SRP" {
        responses.insert("PASSWORD".into(), password.clone());
        return respond(pool, verifier, challenge, responses, None, client_metadata).await;
    }
    let srp = SrpClient::new()
        .map_err(|e| CognitoError::Protocol(format!("no randomness for SRP from the OS: {e}")))?;
    responses.insert("SRP_A".into(), Secret::new(srp.public_hex()));
    let username = challenge.username.as_str();
    let response = send_answer(pool, challenge, responses, None, client_metadata.clone()).await?;
    if response.challenge_name.as_deref() != Some("PASSWORD_VERIFIER") {
        return outcome(verifier, response, username).await;
    }
    let who = (user_pool_id, username, password);
    send_password_proof(
        pool,
        verifier,
        &srp,
        who,
        response,
        (client_metadata, device),
    )
    .await
}

/// Answers `PASSWORD_VERIFIER` with the SRP proof of `(user_pool_id, username, password)`,
/// with the client metadata and the device key when there are; the outcome.
async fn send_password_proof<P: UserPool>(
    pool: &P,
    verifier: &Verifier,
    srp: &SrpClient,
    (user_pool_id, username, password): (&str, &str, &Secret),
    response: AuthResponse,
    (client_metadata, device): (
        Option<BTreeMap<String, String>>,
        Option<&super::devices::DeviceCreds>,
    ),
) -> Result<AuthOutcome, CognitoError> {
    let mut answer = password_verifier(pool, srp, user_pool_id, username, password, response)?;
    answer.client_metadata = client_metadata;
    if let Some(device) = device {
        answer
            .challenge_responses
            .insert("DEVICE_KEY".into(), Secret::new(device.key.as_str()));
    }
    let canonical = answer
        .challenge_responses
        .get("USERNAME")
        .map(|u| u.expose().to_owned());
    let response = pool.respond_to_auth_challenge(answer).await?;
    outcome(verifier, response, canonical.as_deref().unwrap_or(username)).await
}
