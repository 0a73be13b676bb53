//! `cognitoctl profiles` (every configured profile and how its daemon is doing) and
//! `cognitoctl aws-config` (the `~/.aws/config` lines for a profile). The client never reads
//! the daemon's config files: a profile is configured when its file is there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cognitod_client::Client;
use cognitod_proto::{SessionState, Status, Timestamp};
use serde::Serialize;

use crate::failure::exit;
use crate::output;

/// How long `profiles` waits for each daemon.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// One profile as `profiles --json` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileState {
    /// `null` for the unnamed profile.
    pub profile: Option<String>,
    pub socket: PathBuf,
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Why the daemon could not be asked, when it is not running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The folders profiles are configured in: the user's, then the system's.
fn config_dirs() -> Vec<PathBuf> {
    cognitod_client::user_config_dir()
        .into_iter()
        .chain([PathBuf::from("/etc/cognitod")])
        .collect()
}

/// The configured profiles' names, sorted, each once; and whether the unnamed one is.
fn configured() -> (bool, Vec<String>) {
    let mut unnamed = false;
    let mut names = Vec::new();
    for dir in config_dirs() {
        unnamed |= dir.join("config.toml").is_file();
        let Ok(entries) = std::fs::read_dir(dir.join("profiles")) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(name) = Path::new(&file)
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|_| Path::new(&file).extension().is_some_and(|e| e == "toml"))
            else {
                continue;
            };
            if cognitod_proto::is_profile_name(name) {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    (unnamed, names)
}

/// Asks the daemon at `socket` for its status, briefly.
async fn state_of(profile: Option<String>, socket: PathBuf) -> ProfileState {
    let client = Client::new(&socket);
    let asked = tokio::time::timeout(STATUS_TIMEOUT, client.status()).await;
    let (status, error) = match asked {
        Ok(Ok(status)) => (Some(status), None),
        Ok(Err(error)) => (None, Some(crate::failure::one_line(&error))),
        Err(_) => (None, Some("no answer in time".to_owned())),
    };
    ProfileState {
        profile,
        socket,
        running: status.is_some(),
        status,
        error,
    }
}

/// `cognitoctl profiles`.
pub async fn list(json: bool) -> anyhow::Result<u8> {
    let (unnamed, names) = configured();
    let default_socket = cognitod_client::unnamed_socket();
    let mut asked = Vec::new();
    if unnamed || default_socket.exists() {
        asked.push(tokio::spawn(state_of(None, default_socket)));
    }
    for name in names {
        let socket = cognitod_client::profile_socket(&name);
        asked.push(tokio::spawn(state_of(Some(name), socket)));
    }
    // All at once: a listing waits for the slowest daemon, not for their sum.
    let mut states = Vec::new();
    for state in asked {
        states.push(state.await?);
    }
    let out = &mut std::io::stdout();
    if json {
        output::json(out, &states)?;
        return Ok(exit::OK);
    }
    if states.is_empty() {
        writeln!(
            out,
            "no profiles: write ~/.config/cognitod/profiles/NAME.toml (or config.toml for the unnamed one)"
        )?;
        return Ok(exit::OK);
    }
    let now = Timestamp::now();
    let style = output::Style::for_stdout();
    let width = states
        .iter()
        .map(|s| s.profile.as_deref().unwrap_or("(default)").len())
        .max()
        .unwrap_or(0);
    for state in &states {
        let name = state.profile.as_deref().unwrap_or("(default)");
        let line = match (&state.status, &state.error) {
            (Some(status), _) => summary(status, now, style),
            // The first line of the reason: "not running", or why it was not asked (a socket
            // that is not the user's, another API version).
            (None, Some(error)) if !error.starts_with("cognitod is not running") => {
                style.bad(error.lines().next().unwrap_or(error))
            }
            (None, _) => style.dim("not running"),
        };
        writeln!(out, "{name:width$}  {line}")?;
    }
    Ok(exit::OK)
}

/// "signed in as alice, tokens expire in 52 min, credentials in 48 min".
fn summary(status: &Status, now: Timestamp, style: output::Style) -> String {
    let who = status.username.as_deref().unwrap_or("?");
    let mut text = match status.state {
        SessionState::SignedIn => style.good(&format!("signed in as {who}")),
        SessionState::Federated => style.good(&format!("federated through {who}")),
        SessionState::SigningIn => style.warn(&format!("signing in as {who}")),
        SessionState::SignedOut => style.bad("signed out"),
    };
    if let Some(at) = status.tokens_expire_at {
        text.push_str(&format!(", tokens {}", output::expiry(at, now)));
    }
    if let Some(at) = status.credentials_expire_at {
        text.push_str(&format!(", credentials {}", output::expiry(at, now)));
    }
    text
}

/// `cognitoctl aws-config`: a `[profile cognitod-P]` block whose `credential_process` is this
/// cognitoctl with the profile; printed, never written to the file.
pub fn aws_config(profile: Option<&str>) -> anyhow::Result<u8> {
    // Named as it was run: by its path when run by one (a symbolic link stays one, so an
    // upgrade that moves the real file keeps working), else by name, found on the PATH.
    let program = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .filter(|p| p.components().count() > 1)
        .and_then(|p| std::path::absolute(p).ok())
        .unwrap_or_else(|| PathBuf::from("cognitoctl"));
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", aws_config_block(&program, profile))?;
    Ok(exit::OK)
}

fn aws_config_block(program: &Path, profile: Option<&str>) -> String {
    let program = program.display().to_string();
    // The AWS CLI splits the line like a shell, other SDKs run it with `sh -c`: anything but
    // plain path characters is single-quoted.
    let plain = program
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+@%:,".contains(c));
    let program = if plain {
        program
    } else {
        crate::output::shell_quote(&program)
    };
    match profile {
        Some(name) => format!(
            "[profile cognitod-{name}]\ncredential_process = {program} credential-process --profile {name}"
        ),
        None => format!("[profile cognitod]\ncredential_process = {program} credential-process"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_config_names_the_profile_twice() {
        assert_eq!(
            aws_config_block(Path::new("/usr/bin/cognitoctl"), Some("staging")),
            "[profile cognitod-staging]\ncredential_process = /usr/bin/cognitoctl credential-process --profile staging"
        );
        assert_eq!(
            aws_config_block(Path::new("/opt/my tools/cognitoctl"), None),
            "[profile cognitod]\ncredential_process = '/opt/my tools/cognitoctl' credential-process"
        );
        assert_eq!(
            aws_config_block(Path::new("/opt/it's $HOME/cognitoctl"), None),
            "[profile cognitod]\ncredential_process = '/opt/it'\\''s $HOME/cognitoctl' credential-process"
        );
    }
}
