//! `cognitoctl exec -- COMMAND`: the command runs with the profile's AWS credentials in its
//! environment (or the container endpoint's variables, with `--ecs`), in cognitoctl's place.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;

use cognitod_client::Client;

use crate::failure::{self, exit};

/// Variables that would make an SDK pick other credentials than the ones given: named
/// profiles, the older key names, the container endpoint, web identity.
const CONFLICTING: [&str; 12] = [
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_SECURITY_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
];

/// The variables the credentials themselves go in.
const KEYS: [&str; 4] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
];

/// What the command's environment gets: variables to set, and to remove.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Environment {
    pub set: Vec<(&'static str, OsString)>,
    pub remove: Vec<&'static str>,
}

/// The environment for `exec`: the credentials, or with `ecs` the container endpoint's two
/// variables (the SDK then renews from the daemon for as long as the command runs); the
/// profile and socket so nested `cognitoctl` calls reach the same daemon.
pub async fn environment(
    client: &Client,
    profile: Option<&str>,
    ecs: bool,
) -> anyhow::Result<Environment> {
    let mut env = Environment {
        remove: CONFLICTING.to_vec(),
        ..Environment::default()
    };
    if ecs {
        let status = client.status().await?;
        let Some(endpoint) = status.ecs else {
            return Err(failure::no(
                "EcsDisabled",
                "the container credentials endpoint is off",
                "Enable it with `[ecs] enabled = true` in the daemon's configuration, or leave out --ecs.",
            ));
        };
        // Checked now, so a signed-out session is said before the command starts.
        client.credentials(false).await?;
        env.remove.retain(|name| {
            !matches!(
                *name,
                "AWS_CONTAINER_CREDENTIALS_FULL_URI" | "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
            )
        });
        env.remove.extend(KEYS);
        env.set
            .push(("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url.into()));
        env.set.push((
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            endpoint.token_file.into(),
        ));
    } else {
        let credentials = client.credentials(false).await?;
        env.set.extend([
            (KEYS[0], credentials.access_key_id.clone().into()),
            (KEYS[1], credentials.secret_access_key.expose().into()),
            (KEYS[2], credentials.session_token.expose().into()),
            (KEYS[3], credentials.expiration.to_string().into()),
        ]);
    }
    if let Some(profile) = profile {
        env.set.push(("COGNITOD_PROFILE", profile.into()));
    }
    env.set
        .push(("COGNITOD_SOCKET", client.socket().as_os_str().to_owned()));
    Ok(env)
}

/// Replaces this process with `command` in `env`; returns only when that fails: the shell's
/// message and status (127 not found, 126 not runnable).
pub fn replace_with(command: &[OsString], env: Environment) -> u8 {
    let Some((program, args)) = command.split_first() else {
        return exit::USAGE;
    };
    let mut process = std::process::Command::new(program);
    process.args(args);
    for name in env.remove {
        process.env_remove(name);
    }
    process.envs(env.set);
    let error = process.exec();
    let name = Path::new(program).display();
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            crate::output::say(&format!("cognitoctl: {name}: command not found"));
            127
        }
        _ => {
            crate::output::say(&format!("cognitoctl: {name}: {error}"));
            126
        }
    }
}
