//! The account commands: `sign-up`, `confirm-sign-up`, `resend-code`, `reset-password`,
//! `change-password`, `attributes`, `mfa`, `totp setup` and `delete-account`. Passwords and
//! codes are asked on the terminal without echo, or read from stdin (one per line), never
//! from argv.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use clap::Subcommand;
use cognitod_client::{Client, ClientError};
use cognitod_proto::{
    CodeDeliveryDetails, MfaSetting, Secret, SignUpStep, UpdateAttributeStep, UpdateMfaRequest,
};

use crate::failure::{self, Usage, exit};
use crate::{output, signin};

#[derive(Debug, Subcommand)]
pub enum AttributesAction {
    /// Show every attribute (the default).
    Get,
    /// Change attributes, as NAME=VALUE; a changed email or phone number is verified with a
    /// code (asked for on a terminal).
    Set {
        #[arg(required = true, value_name = "NAME=VALUE", value_parser = signin::parse_attribute)]
        attributes: Vec<(String, String)>,
    },
    /// Verify an attribute with the code sent to it (asked on the terminal, else stdin).
    Verify {
        name: String,
        /// Send a new code first.
        #[arg(long)]
        resend: bool,
    },
    /// Delete attributes.
    Delete {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MfaAction {
    /// The factors enabled and the one preferred (the default).
    Show,
    /// Set factors, as KIND=SETTING: KIND is totp, sms or email; SETTING is enabled,
    /// disabled, preferred or not-preferred (e.g. `totp=preferred sms=disabled`).
    Set {
        #[arg(required = true, value_name = "KIND=SETTING", value_parser = parse_mfa)]
        settings: Vec<(String, MfaSetting)>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TotpAction {
    /// Set up an authenticator app: shows the secret (as a QR code on a terminal), then asks
    /// for its first code; without a terminal it only shows the secret (`totp verify` goes
    /// on).
    Setup {
        /// A name for the authenticator, shown in the account's MFA settings.
        #[arg(long, value_name = "NAME")]
        device_name: Option<String>,
    },
    /// Verify the authenticator `totp setup` showed, with its current code (asked on the
    /// terminal, else the first line of stdin).
    Verify {
        /// A name for the authenticator, shown in the account's MFA settings.
        #[arg(long, value_name = "NAME")]
        device_name: Option<String>,
    },
}

/// `totp=preferred`.
fn parse_mfa(text: &str) -> Result<(String, MfaSetting), String> {
    let (kind, setting) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KIND=SETTING (e.g. totp=preferred)"))?;
    let kind = kind.trim().to_ascii_lowercase();
    if !matches!(kind.as_str(), "totp" | "sms" | "email") {
        return Err(format!("{kind:?} is not totp, sms or email"));
    }
    let setting = MfaSetting::parse(setting).ok_or_else(|| {
        format!("{setting:?} is not enabled, disabled, preferred or not-preferred")
    })?;
    Ok((kind, setting))
}

fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// A secret from the terminal without echo, else the next line of stdin.
fn secret(prompt: &str, what: &str) -> anyhow::Result<Secret> {
    if interactive() {
        signin::read_secret(prompt, what, "")
    } else {
        signin::read_stdin_line(what)
    }
}

/// A new password: typed twice on the terminal, else the next line of stdin.
fn new_password() -> anyhow::Result<Secret> {
    if interactive() {
        signin::new_password()
    } else {
        signin::read_stdin_line("the new password")
    }
}

/// "a code by email was sent to a***@e***"; "a code was sent" when Cognito said no more.
fn sent_to(details: Option<&CodeDeliveryDetails>) -> String {
    let Some(details) = details else {
        return "a code was sent".to_owned();
    };
    let medium = details
        .delivery_medium
        .as_deref()
        .map_or("a code".to_owned(), |m| {
            format!("a code by {}", m.to_ascii_lowercase())
        });
    match &details.destination {
        Some(destination) => format!("{medium} was sent to {destination}"),
        None => format!("{medium} was sent"),
    }
}

/// Sends what `attempt` asks for; on a terminal, asks again while Cognito refuses the answer
/// with one of `retry_on` (a mistyped code, a password the policy refuses). Elsewhere the
/// first refusal is the answer.
async fn until_taken<T, F, Fut>(retry_on: &[&str], mut attempt: F) -> anyhow::Result<T>
where
    F: FnMut() -> anyhow::Result<Fut>,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    loop {
        match attempt()?.await {
            Err(ClientError::Api { status: 400, error })
                if interactive() && retry_on.contains(&error.code.as_str()) =>
            {
                output::say(&format!("{}; try again", error.message));
            }
            other => return Ok(other?),
        }
    }
}

const WRONG_CODE: &str = "CodeMismatchException";
const WEAK_PASSWORD: &str = "InvalidPasswordException";

/// `cognitoctl sign-up USERNAME`.
pub async fn sign_up(
    client: &Client,
    username: String,
    attributes: Vec<(String, String)>,
    auto_sign_in: bool,
    json: bool,
) -> anyhow::Result<u8> {
    let username = non_empty(username)?;
    let password = if interactive() {
        signin::new_password()?
    } else {
        signin::read_stdin_line("the password")?
    };
    let request = cognitod_proto::SignUpRequest {
        username: username.clone(),
        password,
        user_attributes: attributes.into_iter().collect(),
        client_metadata: None,
        auto_sign_in: Some(auto_sign_in),
    };
    let answer = client.sign_up(&request).await?;
    let out = &mut std::io::stdout();
    if json {
        output::json(out, &answer)?;
        return Ok(exit::OK);
    }
    match answer.next_step.sign_up_step {
        SignUpStep::ConfirmSignUp => {}
        // Confirmed at once by the pool.
        SignUpStep::CompleteAutoSignIn => {
            output::say(&format!("signed up as {username}; signing in"));
            return sign_in_after_sign_up(client, &username, &answer, json).await;
        }
        _ => {
            writeln!(
                out,
                "signed up as {username}; sign in with `cognitoctl login {username}`"
            )?;
            return Ok(exit::OK);
        }
    }
    let sent = sent_to(answer.next_step.code_delivery_details.as_ref());
    if !interactive() {
        writeln!(
            out,
            "signed up as {username}; {sent}\nConfirm with: cognitoctl confirm-sign-up {username}"
        )?;
        return Ok(exit::OK);
    }
    output::say(&format!("signed up as {username}; {sent}"));
    confirm_sign_up(client, username, json).await
}

/// `cognitoctl confirm-sign-up USERNAME`: the code, then the sign-in when the pool allows it.
pub async fn confirm_sign_up(client: &Client, username: String, json: bool) -> anyhow::Result<u8> {
    let username = non_empty(username)?;
    let answer = until_taken(&[WRONG_CODE], || {
        let request = cognitod_proto::ConfirmSignUpRequest {
            username: username.clone(),
            confirmation_code: secret("Confirmation code: ", "the confirmation code")?,
            client_metadata: None,
        };
        Ok(async move { client.confirm_sign_up(&request).await })
    })
    .await?;
    let out = &mut std::io::stdout();
    if answer.next_step.sign_up_step != SignUpStep::CompleteAutoSignIn {
        if json {
            output::json(out, &answer)?;
        } else {
            writeln!(out, "confirmed; sign in with `cognitoctl login {username}`")?;
        }
        return Ok(exit::OK);
    }
    if !json {
        output::say("confirmed; signing in");
    }
    sign_in_after_sign_up(client, &username, &answer, json).await
}

/// Signs in the user whose sign-up `answer` completed, without the password.
async fn sign_in_after_sign_up(
    client: &Client,
    username: &str,
    answer: &cognitod_proto::SignUpResponse,
    json: bool,
) -> anyhow::Result<u8> {
    let out = &mut std::io::stdout();
    match client.auto_sign_in(username).await {
        Ok(response) => signin::finish(client, response, json, interactive(), None).await,
        // The app client may not allow it (no USER_AUTH), or someone is signed in: the account
        // is confirmed all the same, and the password signs in.
        Err(ClientError::Api { status, error }) if !failure::is_transient(status, &error) => {
            if json {
                let mut answer = answer.clone();
                answer.next_step.sign_up_step = SignUpStep::Done;
                let mut value = serde_json::to_value(&answer)?;
                value["autoSignInError"] = serde_json::to_value(&error)?;
                output::json(out, &value)?;
            } else {
                writeln!(
                    out,
                    "confirmed; sign in with `cognitoctl login {username}` (signing in without the password was refused: {})",
                    error.message
                )?;
            }
            Ok(exit::OK)
        }
        Err(error) => Err(error.into()),
    }
}

/// `cognitoctl resend-code USERNAME`.
pub async fn resend_code(client: &Client, username: String, json: bool) -> anyhow::Result<u8> {
    let username = non_empty(username)?;
    let answer = client.resend_sign_up_code(&username).await?;
    let out = &mut std::io::stdout();
    if json {
        output::json(out, &answer)?;
    } else {
        writeln!(out, "{}", sent_to(Some(&answer.code_delivery_details)))?;
    }
    Ok(exit::OK)
}

/// `cognitoctl reset-password USERNAME [--confirm]`: a code is sent, then (on a terminal,
/// or with `--confirm` from stdin) the code and the new password.
pub async fn reset_password(
    client: &Client,
    username: String,
    confirm_only: bool,
    json: bool,
) -> anyhow::Result<u8> {
    let username = non_empty(username)?;
    let out = &mut std::io::stdout();
    if !confirm_only {
        let answer = client.reset_password(&username).await?;
        let sent = sent_to(answer.next_step.code_delivery_details.as_ref());
        if !interactive() {
            if json {
                output::json(out, &answer)?;
            } else {
                writeln!(
                    out,
                    "{sent}\nFinish with: cognitoctl reset-password {username} --confirm (the code and the new password on stdin, a line each)"
                )?;
            }
            return Ok(exit::OK);
        }
        output::say(&sent);
    }
    let done = until_taken(&[WRONG_CODE, WEAK_PASSWORD], || {
        let request = cognitod_proto::ConfirmResetPasswordRequest {
            username: username.clone(),
            confirmation_code: secret("Code: ", "the code")?,
            new_password: new_password()?,
            client_metadata: None,
        };
        Ok(async move { client.confirm_reset_password(&request).await })
    })
    .await?;
    if json {
        output::json(out, &done)?;
    } else {
        writeln!(
            out,
            "the password was reset; sign in with `cognitoctl login {username}`"
        )?;
    }
    Ok(exit::OK)
}

/// `cognitoctl change-password`.
pub async fn change_password(client: &Client, json: bool) -> anyhow::Result<u8> {
    // Signed in? Asked before any password is typed for nothing.
    client.user().await?;
    until_taken(&[WEAK_PASSWORD], || {
        let old = secret("Current password: ", "the current password")?;
        let new = new_password()?;
        Ok(client.update_password(old, new))
    })
    .await?;
    if !json {
        writeln!(std::io::stdout(), "the password was changed")?;
    } else {
        output::json(&mut std::io::stdout(), &serde_json::json!({}))?;
    }
    Ok(exit::OK)
}

/// `cognitoctl attributes ...`.
pub async fn attributes(
    client: &Client,
    action: Option<AttributesAction>,
    json: bool,
) -> anyhow::Result<u8> {
    let out = &mut std::io::stdout();
    match action.unwrap_or(AttributesAction::Get) {
        AttributesAction::Get => {
            let attributes = client.attributes().await?;
            if json {
                output::json(out, &attributes)?;
            } else {
                for (name, value) in &attributes {
                    writeln!(out, "{name}={value}")?;
                }
            }
        }
        AttributesAction::Set { attributes } => {
            let changes: BTreeMap<String, String> = attributes.into_iter().collect();
            let results = client.update_attributes(changes).await?;
            if json {
                output::json(out, &results)?;
                return Ok(exit::OK);
            }
            for (name, result) in &results {
                match (
                    &result.next_step.update_attribute_step,
                    &result.next_step.code_delivery_details,
                ) {
                    (UpdateAttributeStep::ConfirmAttributeWithCode, details) => {
                        let sent = sent_to(details.as_ref());
                        writeln!(out, "{name}: changed; {sent} to verify it")?;
                        if interactive() {
                            verify(client, name).await?;
                        } else {
                            writeln!(out, "Verify with: cognitoctl attributes verify {name}")?;
                        }
                    }
                    _ => writeln!(out, "{name}: changed")?,
                }
            }
        }
        AttributesAction::Verify { name, resend } => {
            if resend {
                let sent = client.send_attribute_code(&name).await?;
                output::say(&sent_to(Some(&sent.code_delivery_details)));
            }
            verify(client, &name).await?;
            if json {
                output::json(out, &serde_json::json!({}))?;
            }
        }
        AttributesAction::Delete { names } => {
            client.delete_attributes(names.clone()).await?;
            if json {
                output::json(out, &serde_json::json!({}))?;
            } else {
                writeln!(out, "deleted {}", names.join(", "))?;
            }
        }
    }
    Ok(exit::OK)
}

/// Verifies `name` with the code sent to it.
async fn verify(client: &Client, name: &str) -> anyhow::Result<()> {
    until_taken(&[WRONG_CODE], || {
        let code = secret(&format!("Code for {name}: "), "the code")?;
        Ok(client.confirm_attribute(name, code))
    })
    .await?;
    output::say(&format!("{name}: verified"));
    Ok(())
}

/// `cognitoctl mfa ...`.
pub async fn mfa(client: &Client, action: Option<MfaAction>, json: bool) -> anyhow::Result<u8> {
    let out = &mut std::io::stdout();
    if let Some(MfaAction::Set { settings }) = action {
        let mut request = UpdateMfaRequest::default();
        for (kind, setting) in settings {
            let slot = match kind.as_str() {
                "totp" => &mut request.totp,
                "sms" => &mut request.sms,
                _ => &mut request.email,
            };
            *slot = Some(setting);
        }
        client.update_mfa(&request).await?;
    }
    let preference = client.mfa().await?;
    if json {
        output::json(out, &preference)?;
        return Ok(exit::OK);
    }
    if preference.enabled.is_empty() {
        writeln!(out, "MFA: none enabled")?;
    } else {
        writeln!(out, "MFA enabled: {}", preference.enabled.join(", "))?;
    }
    if let Some(preferred) = &preference.preferred {
        writeln!(out, "preferred: {preferred}")?;
    }
    Ok(exit::OK)
}

/// `cognitoctl totp setup`.
pub async fn totp_setup(
    client: &Client,
    device_name: Option<String>,
    json: bool,
) -> anyhow::Result<u8> {
    let setup = client.set_up_totp().await?;
    let out = &mut std::io::stdout();
    if json {
        // The secret for a program to show; `totp verify` goes on.
        output::json(out, &setup)?;
        return Ok(exit::OK);
    }
    let uri = setup.setup_uri.expose();
    if std::io::stdout().is_terminal()
        && let Some(code) = qr_text(uri)
    {
        writeln!(out, "{code}")?;
    }
    writeln!(out, "Add this to the authenticator app:\n{uri}")?;
    writeln!(out, "(secret: {})", setup.shared_secret.expose())?;
    out.flush()?;
    if !interactive() {
        writeln!(
            out,
            "Then verify it with its current code: cognitoctl totp verify"
        )?;
        return Ok(exit::OK);
    }
    totp_verify(client, device_name, json).await
}

/// `cognitoctl totp verify`: the authenticator's current code.
pub async fn totp_verify(
    client: &Client,
    device_name: Option<String>,
    json: bool,
) -> anyhow::Result<u8> {
    until_taken(
        &[
            "EnableSoftwareTokenMFAException",
            WRONG_CODE,
            "InvalidParameterException",
        ],
        || {
            let code = secret("Code from the app: ", "the authenticator's code")?;
            Ok(client.verify_totp(code, device_name.clone()))
        },
    )
    .await?;
    let out = &mut std::io::stdout();
    if json {
        output::json(out, &serde_json::json!({}))?;
    } else {
        writeln!(
            out,
            "the authenticator is set up; turn it on for sign-in with `cognitoctl mfa set totp=preferred`"
        )?;
    }
    Ok(exit::OK)
}

/// `text` as a QR code in block characters (two rows a line), light on dark as terminals
/// usually are.
fn qr_text(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// `cognitoctl delete-account`: the username typed (or `--confirm USERNAME`) must match.
pub async fn delete_account(
    client: &Client,
    confirm: Option<String>,
    json: bool,
) -> anyhow::Result<u8> {
    let user = client.user().await?;
    let typed = match confirm {
        Some(name) => name,
        None if interactive() => {
            output::say(&format!(
                "This deletes the account {} at Cognito for good, and signs out.",
                user.sign_in_details.login_id
            ));
            signin::prompt_line(
                "Type the username to confirm: ",
                "no terminal to confirm on\nPass it: cognitoctl delete-account --confirm USERNAME",
            )?
        }
        None => {
            return Err(Usage(
                "no terminal to confirm on\nPass it: cognitoctl delete-account --confirm USERNAME"
                    .into(),
            )
            .into());
        }
    };
    let typed = typed.trim();
    if typed != user.username && typed != user.sign_in_details.login_id {
        return Err(Usage(format!(
            "that is not the signed-in user ({}); nothing was deleted",
            user.sign_in_details.login_id
        ))
        .into());
    }
    client.delete_user(typed).await?;
    let out = &mut std::io::stdout();
    if json {
        output::json(out, &serde_json::json!({}))?;
    } else {
        writeln!(out, "the account {typed} was deleted; signed out")?;
    }
    Ok(exit::OK)
}

fn non_empty(username: String) -> anyhow::Result<String> {
    let username = username.trim().to_owned();
    if username.is_empty() {
        return Err(Usage("the username is empty".into()).into());
    }
    Ok(username)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mfa_settings_parse_as_kind_and_setting() {
        assert_eq!(
            parse_mfa("totp=preferred"),
            Ok(("totp".to_owned(), MfaSetting::Preferred))
        );
        assert_eq!(
            parse_mfa("SMS=not-preferred"),
            Ok(("sms".to_owned(), MfaSetting::NotPreferred))
        );
        assert!(parse_mfa("voice=enabled").is_err());
        assert!(parse_mfa("totp=maybe").is_err());
        assert!(parse_mfa("totp").is_err());
    }

    #[test]
    fn a_qr_code_is_drawn_in_block_characters() {
        let code = qr_text("otpauth://totp/AWSCognito:alice?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert!(code.lines().count() > 10);
        assert!(code.chars().any(|c| matches!(c, '█' | '▀' | '▄')));
    }
}
