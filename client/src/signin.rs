//! `login` and `confirm`: start a sign-in and answer its steps, asking on the terminal (secrets
//! without echo) or reading stdin; nothing is sent for an empty answer.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context as _;
use cognitod_client::{Client, ClientError};
use cognitod_proto::{
    ApiError, AuthFlowType, ConfirmSignInRequest, NextStep, Secret, SessionState, SignInRequest,
    SignInResponse, SignInStep, codes,
};

use crate::failure::{self, Usage, exit};
use crate::output;

/// `cognitoctl login`.
pub async fn login(
    client: &Client,
    username: Option<String>,
    password_stdin: bool,
    flow: AuthFlowType,
    preferred: Option<&'static str>,
    client_metadata: Vec<(String, String)>,
    json: bool,
) -> anyhow::Result<u8> {
    let needs_password = match flow {
        AuthFlowType::CustomWithoutSrp => false,
        AuthFlowType::UserAuth => matches!(preferred, Some("PASSWORD" | "PASSWORD_SRP")),
        _ => true,
    };
    if password_stdin && !needs_password {
        return Err(Usage(
            "this sign-in asks for no password up front, so --password-stdin has nothing to read\nLeave it out (a password step is answered with `cognitoctl confirm`).".into(),
        )
        .into());
    }
    if username.as_deref().is_some_and(|u| u.trim().is_empty()) {
        return Err(
            Usage("the username is empty\nPass it: cognitoctl login USERNAME".into()).into(),
        );
    }
    // Before asking for anything: a password typed for nothing is a surprise.
    refuse_if_signed_in(client).await?;
    let username = match username {
        Some(username) => username.trim().to_owned(),
        None => prompt_line(
            "Username: ",
            "no username given and no terminal to ask on\nPass it: cognitoctl login USERNAME",
        )?,
    };
    let password = if !needs_password {
        // The pool's challenges, or a first factor chosen later: no password now.
        Secret::default()
    } else if password_stdin {
        read_stdin_line("the password")?
    } else {
        read_secret(
            "Password: ",
            "the password",
            "Pass it on stdin with --password-stdin.",
        )?
    };
    let request = SignInRequest {
        username,
        password,
        auth_flow_type: Some(flow),
        client_metadata: metadata(client_metadata),
        preferred_challenge: preferred.map(str::to_owned),
    };
    let client_metadata = request.client_metadata.clone();
    let response = client.sign_in(&request).await?;
    let interactive = !password_stdin && std::io::stdin().is_terminal();
    finish(client, response, json, interactive, client_metadata).await
}

/// Refuses to start a sign-in while one user is signed in (as the daemon would, but before
/// anything is asked or opened).
pub async fn refuse_if_signed_in(client: &Client) -> anyhow::Result<()> {
    let status = client.status().await?;
    if matches!(
        status.state,
        SessionState::SignedIn | SessionState::Federated
    ) {
        let who = status.username.unwrap_or_default();
        return Err(ClientError::Api {
            status: 409,
            error: ApiError {
                code: codes::USER_ALREADY_AUTHENTICATED.into(),
                message: format!("already signed in as {who}"),
                recovery_suggestion: Some("Sign out first with `cognitoctl logout`.".into()),
            },
        }
        .into());
    }
    Ok(())
}

/// `cognitoctl confirm`: on a terminal, asks for the pending step by name; otherwise reads the
/// answer from the first line of stdin.
pub async fn confirm(
    client: &Client,
    attributes: Vec<(String, String)>,
    client_metadata: Vec<(String, String)>,
    json: bool,
) -> anyhow::Result<u8> {
    let client_metadata = metadata(client_metadata);
    let interactive = std::io::stdin().is_terminal();
    let request = if interactive {
        let status = client.status().await?;
        let Some(step) = status.next_step else {
            return Err(ClientError::Api {
                status: 409,
                error: ApiError {
                    code: codes::NO_PENDING_SIGN_IN_STEP.into(),
                    message: "no sign-in step is pending".into(),
                    recovery_suggestion: Some("Start a sign-in with `cognitoctl login`.".into()),
                },
            }
            .into());
        };
        output::next_step(&mut std::io::stderr(), &step, false)?;
        loop {
            let mut request = ask_for_step(&step, &attributes)?;
            request.client_metadata.clone_from(&client_metadata);
            match client.confirm_sign_in(&request).await {
                Ok(response) => {
                    return finish(client, response, json, true, client_metadata).await;
                }
                Err(ClientError::Api { status: 400, error }) => step_still_open(&error),
                Err(error) => return Err(error.into()),
            }
        }
    } else {
        ConfirmSignInRequest {
            challenge_response: read_stdin_line("the answer")?,
            user_attributes: (!attributes.is_empty()).then(|| attributes.into_iter().collect()),
            client_metadata: client_metadata.clone(),
        }
    };
    let response = client.confirm_sign_in(&request).await?;
    finish(client, response, json, interactive, client_metadata).await
}

/// Reports the sign-in's outcome. On a terminal, asks for each pending step until signed in
/// (a wrong answer is asked again); otherwise prints the pending step and exits 3.
/// `client_metadata` goes with every answer (the pool's challenge triggers see it there).
pub async fn finish(
    client: &Client,
    mut response: SignInResponse,
    json: bool,
    interactive: bool,
    client_metadata: Option<BTreeMap<String, String>>,
) -> anyhow::Result<u8> {
    let mut out = std::io::stdout();
    loop {
        if let Some((code, fix)) = stopped(response.next_step.sign_in_step) {
            // Not a step `confirm` answers: the account needs it first.
            if json {
                output::json(&mut out, &response)?;
                return Ok(exit::NO);
            }
            return Err(failure::no(
                code,
                &format!(
                    "not signed in: {}",
                    output::step_text(response.next_step.sign_in_step)
                ),
                fix,
            ));
        }
        if response.next_step.sign_in_step == SignInStep::Done {
            if json {
                output::json(&mut out, &response)?;
            } else {
                let user = client.user().await?;
                writeln!(out, "signed in as {}", user.username)?;
            }
            return Ok(exit::OK);
        }
        if !interactive {
            if json {
                output::json(&mut out, &response)?;
            } else {
                output::next_step(&mut out, &response.next_step, true)?;
            }
            return Ok(exit::PENDING);
        }
        output::next_step(&mut std::io::stderr(), &response.next_step, false)?;
        let mut request = ask_for_step(&response.next_step, &[])?;
        request.client_metadata.clone_from(&client_metadata);
        match client.confirm_sign_in(&request).await {
            Ok(next) => response = next,
            Err(ClientError::Api { status: 400, error }) => step_still_open(&error),
            Err(error) => return Err(error.into()),
        }
    }
}

/// A wrong answer on the terminal: what was wrong, and that the step is asked again.
fn step_still_open(error: &ApiError) {
    output::say(&format!(
        "{}\nThe sign-in step is still open; try again.",
        error.message
    ));
}

/// Asks on the terminal for the answer to `step`, naming it; secrets without echo.
/// `given` attributes (`--attribute`) are sent as they are, not asked for.
fn ask_for_step(
    step: &NextStep,
    given: &[(String, String)],
) -> anyhow::Result<ConfirmSignInRequest> {
    let mut user_attributes: BTreeMap<String, String> = given.iter().cloned().collect();
    let answer = match step.sign_in_step {
        SignInStep::ConfirmSignInWithNewPasswordRequired => {
            let password = new_password()?;
            let missing: Vec<&String> = step
                .missing_attributes
                .iter()
                .flatten()
                .filter(|name| !user_attributes.contains_key(*name))
                .collect();
            for name in missing {
                let value = prompt_line(&format!("{name}: "), "no terminal to ask on")?;
                user_attributes.insert(name.clone(), value);
            }
            password
        }
        SignInStep::ContinueSignInWithMfaSelection => {
            let allowed = step
                .allowed_mfa_types
                .clone()
                .unwrap_or_default()
                .join(", ");
            Secret::new(prompt_line(
                &format!("MFA type ({allowed}): "),
                "no terminal to ask on",
            )?)
        }
        SignInStep::ContinueSignInWithTotpSetup => code("Code from your authenticator app: ")?,
        SignInStep::ConfirmSignInWithTotpCode => code("TOTP code from your authenticator: ")?,
        SignInStep::ConfirmSignInWithSmsCode => code("Code sent by SMS: ")?,
        SignInStep::ConfirmSignInWithEmailCode => code("Code sent by email: ")?,
        SignInStep::ContinueSignInWithFirstFactorSelection => {
            let offered = step.available_challenges.clone().unwrap_or_default();
            Secret::new(prompt_line(
                &format!("Sign in with ({}): ", offered.join(", ")),
                "no terminal to ask on\nAnswer on stdin: echo EMAIL_OTP | cognitoctl confirm",
            )?)
        }
        SignInStep::ContinueSignInWithMfaSetupSelection => {
            let allowed = step.allowed_mfa_types.clone().unwrap_or_default();
            Secret::new(prompt_line(
                &format!("Set up MFA with ({}): ", allowed.join(", ")),
                "no terminal to ask on\nAnswer on stdin: echo EMAIL | cognitoctl confirm",
            )?)
        }
        SignInStep::ContinueSignInWithEmailSetup => Secret::new(prompt_line(
            "Email address for sign-in codes: ",
            "no terminal to ask on\nAnswer on stdin: echo you@example.com | cognitoctl confirm",
        )?),
        SignInStep::ConfirmSignInWithPassword => read_secret(
            "Password: ",
            "the password",
            "Pass it on stdin: cognitoctl confirm < password-file",
        )?,
        // Read without echo: a custom challenge's answer may well be a secret.
        SignInStep::ConfirmSignInWithCustomChallenge => read_secret(
            "Answer: ",
            "the answer",
            "Pass it on stdin: echo ANSWER | cognitoctl confirm",
        )?,
        SignInStep::Done | SignInStep::ResetPassword | SignInStep::ConfirmSignUp => {
            anyhow::bail!("nothing is pending")
        }
        SignInStep::Unknown => {
            return Err(Usage(
                "the pending step is one this cognitoctl does not know (the daemon is newer)\nUpdate cognitoctl, or answer on stdin: echo ANSWER | cognitoctl confirm".into(),
            )
            .into());
        }
    };
    Ok(ConfirmSignInRequest {
        challenge_response: answer,
        user_attributes: (!user_attributes.is_empty()).then_some(user_attributes),
        client_metadata: None,
    })
}

/// `--client-metadata` pairs for the request (none: no member).
fn metadata(pairs: Vec<(String, String)>) -> Option<BTreeMap<String, String>> {
    (!pairs.is_empty()).then(|| pairs.into_iter().collect())
}

/// A sign-in that ended with something to do elsewhere first: its error code and the fix.
fn stopped(step: SignInStep) -> Option<(&'static str, &'static str)> {
    match step {
        SignInStep::ResetPassword => Some((
            "PasswordResetRequiredException",
            "The password must be reset first: `cognitoctl reset-password USERNAME` sends a code and sets a new one; then sign in again.",
        )),
        SignInStep::ConfirmSignUp => Some((
            "UserNotConfirmedException",
            "The account must be confirmed first: `cognitoctl confirm-sign-up USERNAME` with the code sent at sign-up (`cognitoctl resend-code USERNAME` sends a new one).",
        )),
        _ => None,
    }
}

/// A new password, typed twice until both agree.
pub fn new_password() -> anyhow::Result<Secret> {
    loop {
        let first = read_secret("New password: ", "the new password", "")?;
        let second = read_secret("New password again: ", "the new password", "")?;
        if first == second {
            return Ok(first);
        }
        output::say("the two passwords differ; try again");
    }
}

fn code(prompt: &str) -> anyhow::Result<Secret> {
    read_secret(prompt, "the code", "")
}

/// One line from the terminal; `no_terminal` is the error when stdin is not one.
pub fn prompt_line(prompt: &str, no_terminal: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(Usage(no_terminal.to_owned()).into());
    }
    output::say_inline(prompt);
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read from the terminal")?;
    if read == 0 {
        output::say("");
        return Err(Usage("no answer (end of input); nothing was sent".into()).into());
    }
    let line = line.trim().to_owned();
    if line.is_empty() {
        return Err(Usage("nothing entered; nothing was sent".into()).into());
    }
    Ok(line)
}

/// `what` from the terminal without echo; `fix` says how else to give it when there is no
/// terminal. Empty answers and Ctrl-D end the command: nothing is sent.
pub fn read_secret(prompt: &str, what: &str, fix: &str) -> anyhow::Result<Secret> {
    let secret = crate::tty::read_secret(prompt).map_err(|error| {
        let fix = if fix.is_empty() {
            String::new()
        } else {
            format!("\n{fix}")
        };
        Usage(format!("no terminal to ask for {what} on ({error}){fix}"))
    })?;
    match secret {
        Some(secret) if !secret.is_empty() => Ok(secret),
        Some(_) => Err(Usage(format!("{what} is empty; nothing was sent")).into()),
        None => Err(Usage(format!(
            "{what} was not entered (end of input); nothing was sent"
        ))
        .into()),
    }
}

/// `what` from the first line of stdin; an empty one is refused before anything is sent.
pub fn read_stdin_line(what: &str) -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read {what} from stdin"))?;
    let secret = Secret::new(line.trim_end_matches(['\r', '\n']));
    drop(Secret::new(line));
    if secret.is_empty() {
        return Err(Usage(format!("{what} on stdin is empty; nothing was sent")).into());
    }
    Ok(secret)
}

/// `--attribute NAME=VALUE`.
pub fn parse_attribute(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}
