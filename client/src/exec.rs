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

/// What the command's environment gets: variables to set (the AWS secret among them), and to
/// remove.
#[derive(Default)]
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
    // Signed in, by a user or a federated identity: a guest's credentials are no answer here.
    let status = client.status().await?;
    if !matches!(
        status.state,
        cognitod_proto::SessionState::SignedIn | cognitod_proto::SessionState::Federated
    ) {
        return Err(failure::no(
            cognitod_proto::codes::USER_UNAUTHENTICATED,
            "not signed in; the command was not run",
            "Sign in with `cognitoctl login` (add --profile NAME for a profile).",
        ));
    }
    let mut env = Environment {
        remove: CONFLICTING.to_vec(),
        ..Environment::default()
    };
    if ecs {
        let Some(endpoint) = status.ecs else {
            return Err(failure::no(
                "EcsDisabled",
                "the container credentials endpoint is off",
                "Enable it with `[ecs] enabled = true` in the daemon's configuration, or leave out --ecs.",
            ));
        };
        // Checked now, not when the SDK first asks: the credentials, and a token file this
        // user can read (a system-wide daemon's may not be).
        client.credentials(false).await?;
        if let Err(error) = std::fs::File::open(&endpoint.token_file) {
            return Err(failure::no(
                "EcsTokenUnreadable",
                &format!(
                    "the container endpoint's token file {} cannot be read: {error}",
                    endpoint.token_file
                ),
                "Leave out --ecs to pass the credentials in the environment.",
            ));
        }
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
    let socket = std::path::absolute(client.socket()).unwrap_or_else(|_| client.socket().into());
    env.set.push(("COGNITOD_SOCKET", socket.into_os_string()));
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
