//! Human-readable output of cognitoctl; `--json` prints the API's JSON instead.

use std::io::{self, Write};

use cognitod_proto::{
    CredentialsResponse, NextStep, Session, SessionState, SignInStep, Status, Timestamp,
    UpstreamHealth,
};
use serde::Serialize;

/// A line on stderr (messages, prompts' companions); a closed stderr is no reason to fail.
pub fn say(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// A prompt on stderr, without a newline.
pub fn say_inline(text: &str) {
    let mut stderr = io::stderr().lock();
    let _ = write!(stderr, "{text}");
    let _ = stderr.flush();
}

/// Colour for a terminal: only when stdout is one and `NO_COLOR` is unset or empty
/// (<https://no-color.org>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// No colour.
    #[cfg(test)]
    pub const PLAIN: Style = Style { colour: false };

    pub fn for_stdout() -> Style {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            colour: !no_color && io::stdout().is_terminal(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn good(self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn bad(self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// `value` as one line of JSON.
pub fn json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

pub fn status(
    out: &mut impl Write,
    status: &Status,
    now: Timestamp,
    style: Style,
) -> io::Result<()> {
    match (status.state, &status.username) {
        (SessionState::SignedIn, Some(username)) => {
            writeln!(out, "{}", style.good(&format!("signed in as {username}")))?;
        }
        (SessionState::SignedIn, None) => writeln!(out, "{}", style.good("signed in"))?,
        (SessionState::SigningIn, username) => {
            let whom = username
                .as_deref()
                .map_or_else(String::new, |u| format!(" for {u}"));
            let line = format!("signing in{whom}: a sign-in step is pending");
            writeln!(out, "{}", style.warn(&line))?;
            if let Some(step) = &status.next_step {
                writeln!(out, "pending: {}", step_text(step.sign_in_step))?;
            }
            writeln!(out, "answer it with `cognitoctl confirm`")?;
        }
        (SessionState::SignedOut, _) => writeln!(out, "{}", style.bad("signed out"))?,
        (SessionState::Federated, provider) => writeln!(
            out,
            "federated through {} (an identity pool identity, no user-pool user)",
            provider.as_deref().unwrap_or("an external provider")
        )?,
    }
    if let Some(at) = status.tokens_expire_at {
        writeln!(out, "tokens {}", expiry(at, now))?;
    }
    if let Some(at) = status.credentials_expire_at {
        writeln!(out, "AWS credentials {}", expiry(at, now))?;
    }
    if let Some(at) = status.next_refresh_at {
        if at.unix() < now.unix() {
            writeln!(out, "refresh overdue by {}", span(now.unix() - at.unix()))?;
        } else {
            writeln!(out, "refreshes {}", relative(at, now))?;
        }
    }
    if let Some(last) = &status.last_refresh {
        match &last.error {
            None => writeln!(out, "last refresh {}: ok", relative(last.at, now))?,
            Some(error) => writeln!(
                out,
                "last refresh {}: failed: {error}",
                relative(last.at, now)
            )?,
        }
    }
    if let (SessionState::SignedOut, Some(ended)) = (status.state, &status.last_sign_out) {
        let why = ended
            .reason
            .as_deref()
            .map_or("signed out", without_exception_name);
        writeln!(
            out,
            "last session ({}) ended {}: {why}",
            ended.username,
            relative(ended.at, now)
        )?;
    }
    let upstream = match status.upstream {
        UpstreamHealth::Ok => style.good("ok"),
        UpstreamHealth::Degraded => style.warn("degraded"),
        UpstreamHealth::Unreachable => style.bad("unreachable"),
    };
    if status.consecutive_failures > 0 {
        writeln!(
            out,
            "Cognito: {upstream} ({} failures in a row)",
            status.consecutive_failures
        )?;
    } else {
        writeln!(out, "Cognito: {upstream}")?;
    }
    if let Some(ecs) = &status.ecs {
        writeln!(out, "container endpoint: {}", ecs.url)?;
    }
    if let Some(error) = &status.ecs_error {
        writeln!(out, "container endpoint: not served ({error})")?;
    }
    if let Some(error) = &status.state_file_error {
        writeln!(
            out,
            "state file: not written ({error}); the session is kept in memory"
        )?;
    }
    writeln!(
        out,
        "cognitod {} (API v{})",
        status.version, status.api_version
    )
}

pub fn session(out: &mut impl Write, session: &Session, now: Timestamp) -> io::Result<()> {
    match (&session.username, &session.user_sub) {
        _ if !session.is_signed_in => writeln!(out, "not signed in")?,
        _ if session.federated_provider.is_some() => writeln!(
            out,
            "federated through {}",
            session.federated_provider.as_deref().unwrap_or_default()
        )?,
        (Some(username), Some(sub)) => writeln!(out, "signed in as {username} (user sub {sub})")?,
        (Some(username), None) => writeln!(out, "signed in as {username}")?,
        (None, Some(sub)) => writeln!(out, "signed in, user sub {sub}")?,
        (None, None) => writeln!(out, "signed in")?,
    }
    if let Some(tokens) = &session.tokens {
        writeln!(out, "tokens {}", expiry(tokens.expires_at, now))?;
    }
    if let Some(identity) = &session.identity_id {
        writeln!(out, "identity {identity}")?;
    }
    if let Some(credentials) = &session.credentials {
        writeln!(
            out,
            "AWS credentials {} {}",
            credentials.access_key_id,
            expiry(credentials.expiration, now)
        )?;
    }
    Ok(())
}

pub fn credentials(
    out: &mut impl Write,
    credentials: &CredentialsResponse,
    now: Timestamp,
) -> io::Result<()> {
    writeln!(out, "access key {}", credentials.access_key_id)?;
    writeln!(
        out,
        "expires {}",
        expiry(credentials.expiration, now).trim_start_matches("expire ")
    )?;
    writeln!(out, "identity {}", credentials.identity_id)
}

/// "NotAuthorizedException: Refresh Token has been revoked" as a person reads it: the message.
fn without_exception_name(text: &str) -> &str {
    match text.split_once(": ") {
        Some((name, message)) if name.ends_with("Exception") => message,
        _ => text,
    }
}

/// `value` in single quotes for a POSIX shell.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// One event as a line: its time, its type and its details.
pub fn event_line(kind: &str, data: &str) -> String {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_str(data) else {
        return format!("{kind} {data}");
    };
    let at = fields
        .remove("at")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    fields.remove("type");
    fields.remove("id");
    let details: Vec<String> = fields
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    format!("{at} {kind} {}", details.join(" "))
        .trim_end()
        .to_owned()
}

/// What a step asks for, in words.
pub fn step_text(step: SignInStep) -> &'static str {
    match step {
        SignInStep::Done => "nothing: signed in",
        SignInStep::ConfirmSignInWithNewPasswordRequired => "a new password",
        SignInStep::ConfirmSignInWithTotpCode => "the code from your authenticator app",
        SignInStep::ConfirmSignInWithSmsCode => "the code sent by SMS",
        SignInStep::ConfirmSignInWithEmailCode => "the code sent by email",
        SignInStep::ContinueSignInWithMfaSelection => "a choice of MFA method",
        SignInStep::ContinueSignInWithTotpSetup => "setting up an authenticator app",
        SignInStep::ConfirmSignInWithCustomChallenge => "the answer to the pool's challenge",
        SignInStep::ContinueSignInWithFirstFactorSelection => "a choice of how to sign in",
        SignInStep::ConfirmSignInWithPassword => "the password",
        SignInStep::ContinueSignInWithMfaSetupSelection => "a choice of MFA method to set up",
        SignInStep::Unknown => {
            "a step this cognitoctl does not know (a newer cognitod: update cognitoctl)"
        }
        SignInStep::ContinueSignInWithEmailSetup => {
            "an email address for MFA codes (the account must set up MFA)"
        }
        SignInStep::ResetPassword => "a password reset (the password must be reset first)",
        SignInStep::ConfirmSignUp => "confirming the account (it is not confirmed yet)",
    }
}

/// What the pending step asks for; `with_hint` adds how to answer it.
pub fn next_step(out: &mut impl Write, step: &NextStep, with_hint: bool) -> io::Result<()> {
    writeln!(
        out,
        "sign-in step pending: {}",
        step_text(step.sign_in_step)
    )?;
    if let Some(types) = &step.allowed_mfa_types {
        writeln!(out, "allowed MFA types: {}", types.join(", "))?;
    }
    if let Some(attributes) = &step.missing_attributes {
        writeln!(out, "required attributes: {}", attributes.join(", "))?;
    }
    if let Some(details) = &step.code_delivery_details
        && let (Some(medium), Some(destination)) = (&details.delivery_medium, &details.destination)
    {
        writeln!(out, "code sent by {medium} to {destination}")?;
    }
    if let Some(uri) = &step.totp_setup_uri {
        writeln!(out, "add this to your authenticator app: {}", uri.expose())?;
    }
    if let Some(offered) = &step.available_challenges {
        writeln!(out, "ways to sign in: {}", offered.join(", "))?;
    }
    for (name, value) in step.additional_info.iter().flatten() {
        // The pool's trigger wrote these: no control characters reach the terminal.
        let clean = |text: &str| -> String { text.chars().filter(|c| !c.is_control()).collect() };
        writeln!(out, "{}: {}", clean(name), clean(value))?;
    }
    if matches!(
        step.sign_in_step,
        SignInStep::ResetPassword | SignInStep::ConfirmSignUp
    ) {
        // Not answered with `confirm`: the account needs it first, elsewhere.
        return Ok(());
    }
    if with_hint {
        writeln!(
            out,
            "answer it with `cognitoctl confirm` (the answer on the terminal or stdin)"
        )?;
    }
    Ok(())
}

pub fn expiry(at: Timestamp, now: Timestamp) -> String {
    if at > now {
        format!("expire {} ({at})", relative(at, now))
    } else {
        format!("expired {} ({at})", relative(at, now))
    }
}

/// "in 41 min", "3 s ago".
pub fn relative(at: Timestamp, now: Timestamp) -> String {
    let delta = at.unix() - now.unix();
    let text = span(delta);
    if delta >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// The length of `seconds` (either sign): "6 s", "41 min", "3 h 2 min", "2 d 1 h".
fn span(seconds: i64) -> String {
    let span = seconds.unsigned_abs();
    if span < 60 {
        format!("{span} s")
    } else if span < 3600 {
        format!("{} min", span / 60)
    } else if span < 86_400 {
        format!("{} h {} min", span / 3600, span % 3600 / 60)
    } else {
        format!("{} d {} h", span / 86_400, span % 86_400 / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("abc"), "'abc'");
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }

    #[test]
    fn an_overdue_refresh_reads_as_overdue() {
        let now = Timestamp::from_unix(1_000_000);
        let status = Status {
            version: "0".into(),
            api_version: 1,
            state: SessionState::SignedIn,
            guest: false,
            username: Some("alice".into()),
            tokens_expire_at: None,
            credentials_expire_at: None,
            next_refresh_at: Some(Timestamp::from_unix(1_000_000 - 6)),
            last_refresh: None,
            consecutive_failures: 0,
            upstream: UpstreamHealth::Ok,
            ecs: None,
            ecs_error: None,
            state_file_error: None,
            next_step: None,
            last_sign_out: None,
        };
        let mut text = Vec::new();
        super::status(&mut text, &status, now, Style::PLAIN).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("refresh overdue by 6 s"), "{text}");
        assert!(!text.contains("ago"), "{text}");
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = Timestamp::from_unix(1_000_000);
        let at = |delta: i64| relative(Timestamp::from_unix(1_000_000 + delta), now);
        assert_eq!(at(0), "in 0 s");
        assert_eq!(at(41 * 60 + 5), "in 41 min");
        assert_eq!(at(-3), "3 s ago");
        assert_eq!(at(3 * 3600 + 120), "in 3 h 2 min");
        assert_eq!(at(-2 * 86_400 - 3600), "2 d 1 h ago");
    }
}
