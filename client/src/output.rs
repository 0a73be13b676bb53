//! Human-readable output of cognitoctl; `--json` prints the API's JSON instead.

use std::io::Write;

use anyhow::Context as _;
use cognitod_proto::{NextStep, Session, SessionState, SignInStep, Status, Timestamp};
use serde::Serialize;

pub fn json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, value).context("cannot write to stdout")?;
    writeln!(stdout).context("cannot write to stdout")
}

pub fn status(status: &Status) {
    let now = Timestamp::now();
    match (status.state, &status.username) {
        (SessionState::SignedIn, Some(username)) => println!("signed in as {username}"),
        (SessionState::SignedIn, None) => println!("signed in"),
        (SessionState::SigningIn, _) => println!("signing in: a sign-in step is pending"),
        (SessionState::SignedOut, _) => println!("signed out"),
    }
    if let Some(at) = status.tokens_expire_at {
        println!("tokens {}", expiry(at, now));
    }
    if let Some(at) = status.credentials_expire_at {
        println!("AWS credentials {}", expiry(at, now));
    }
    if let Some(at) = status.next_refresh_at {
        println!("refreshes {}", relative(at, now));
    }
    if let Some(last) = &status.last_refresh {
        match &last.error {
            None => println!("last refresh {}: ok", relative(last.at, now)),
            Some(error) => println!("last refresh {}: failed: {error}", relative(last.at, now)),
        }
    }
    let upstream = match status.upstream {
        cognitod_proto::UpstreamHealth::Ok => "ok",
        cognitod_proto::UpstreamHealth::Degraded => "degraded",
        cognitod_proto::UpstreamHealth::Unreachable => "unreachable",
    };
    if status.consecutive_failures > 0 {
        println!(
            "Cognito: {upstream} ({} failures in a row)",
            status.consecutive_failures
        );
    } else {
        println!("Cognito: {upstream}");
    }
    if let Some(error) = &status.state_file_error {
        println!("state file: not written ({error}); the session is kept in memory");
    }
    println!("cognitod {} (API v{})", status.version, status.api_version);
}

pub fn session(session: &Session) {
    if !session.is_signed_in {
        println!("not signed in");
    }
    if let Some(sub) = &session.user_sub {
        println!("signed in, user sub {sub}");
    }
    if let Some(tokens) = &session.tokens {
        println!("tokens {}", expiry(tokens.expires_at, Timestamp::now()));
    }
    if let Some(identity) = &session.identity_id {
        println!("identity {identity}");
    }
    if let Some(credentials) = &session.credentials {
        println!(
            "AWS credentials {} {}",
            credentials.access_key_id,
            expiry(credentials.expiration, Timestamp::now())
        );
    }
}

pub fn credentials(credentials: &cognitod_proto::CredentialsResponse) {
    println!("access key {}", credentials.access_key_id);
    println!(
        "expires {}",
        expiry(credentials.expiration, Timestamp::now()).trim_start_matches("expire ")
    );
    println!("identity {}", credentials.identity_id);
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

/// What the pending step asks for; `with_hint` adds how to answer it.
pub fn next_step(step: &NextStep, with_hint: bool) {
    let what = match step.sign_in_step {
        SignInStep::Done => "nothing: signed in",
        SignInStep::ConfirmSignInWithNewPasswordRequired => "a new password",
        SignInStep::ConfirmSignInWithTotpCode => "the code from your authenticator app",
        SignInStep::ConfirmSignInWithSmsCode => "the code sent by SMS",
        SignInStep::ConfirmSignInWithEmailCode => "the code sent by email",
        SignInStep::ContinueSignInWithMfaSelection => "a choice of MFA method",
        SignInStep::ContinueSignInWithTotpSetup => "setting up an authenticator app",
    };
    println!("sign-in step pending: {what}");
    if let Some(types) = &step.allowed_mfa_types {
        println!("allowed MFA types: {}", types.join(", "));
    }
    if let Some(attributes) = &step.missing_attributes {
        println!("required attributes: {}", attributes.join(", "));
    }
    if let Some(details) = &step.code_delivery_details {
        if let (Some(medium), Some(destination)) = (&details.delivery_medium, &details.destination)
        {
            println!("code sent by {medium} to {destination}");
        }
    }
    if let Some(uri) = &step.totp_setup_uri {
        println!("add this to your authenticator app: {uri}");
    }
    if with_hint {
        println!("answer it with `cognitoctl confirm` (the answer on the terminal or stdin)");
    }
}

fn expiry(at: Timestamp, now: Timestamp) -> String {
    if at > now {
        format!("expire {} ({at})", relative(at, now))
    } else {
        format!("expired {} ({at})", relative(at, now))
    }
}

/// "in 41 min", "3 s ago".
pub fn relative(at: Timestamp, now: Timestamp) -> String {
    let delta = at.unix() - now.unix();
    let span = delta.unsigned_abs();
    let text = if span < 60 {
        format!("{span} s")
    } else if span < 3600 {
        format!("{} min", span / 60)
    } else if span < 86_400 {
        format!("{} h {} min", span / 3600, span % 3600 / 60)
    } else {
        format!("{} d {} h", span / 86_400, span % 86_400 / 3600)
    };
    if delta >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
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
