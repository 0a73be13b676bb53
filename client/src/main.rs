//! `cognitoctl`: the command-line client of cognitod.

mod output;
mod tty;

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use cognitod_client::{Client, ClientError};
use cognitod_proto::{
    AuthFlowType, ConfirmSignInRequest, NextStep, Secret, SignInRequest, SignInResponse, SignInStep,
};

/// Exit statuses, as documented.
mod exit {
    pub const OK: u8 = 0;
    /// The answer was no: not signed in, sign-in refused.
    pub const NO: u8 = 1;
    /// Usage error, or the daemon cannot be reached.
    pub const UNREACHABLE: u8 = 2;
    /// A sign-in step is pending.
    pub const PENDING: u8 = 3;
}

/// Talk to cognitod, the shared Amazon Cognito session of this machine.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    /// The daemon's socket (default: $COGNITOD_SOCKET, else $XDG_RUNTIME_DIR/cognitod/socket).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The daemon's state, user and expiries.
    Status,
    /// Sign in (the password is read without echo, or from stdin).
    Login {
        /// The username or alias (asked for on the terminal when left out).
        username: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        /// The authentication flow.
        #[arg(long, value_enum, default_value_t = Flow::Srp)]
        flow: Flow,
    },
    /// Answer the pending sign-in step (from the terminal, or the first line of stdin).
    Confirm {
        /// A user attribute the new-password step asks for, as NAME=VALUE (repeatable).
        #[arg(long = "attribute", value_name = "NAME=VALUE", value_parser = parse_attribute)]
        attributes: Vec<(String, String)>,
    },
    /// Sign out.
    Logout {
        /// Sign out of every device (revokes all of the user's refresh tokens).
        #[arg(long)]
        global: bool,
    },
    /// The signed-in username.
    Whoami,
    /// The session summary (`--json`: the whole session, tokens included).
    Session {
        /// Refresh the tokens now.
        #[arg(long)]
        force_refresh: bool,
    },
    /// The AWS credentials (`--json`: all of them, secret included).
    Credentials {
        /// Fetch new credentials now.
        #[arg(long)]
        force_refresh: bool,
    },
    /// `export AWS_...='...'` lines for `eval "$(cognitoctl env)"`.
    Env {
        /// The two `AWS_CONTAINER_*` lines of the container credentials endpoint instead.
        #[arg(long)]
        ecs: bool,
    },
    /// The identity pool identity id.
    IdentityId,
    /// The AWS `credential_process` helper: the credentials as JSON on stdout.
    CredentialProcess,
    /// Follow the session's events (sign-in, refreshes, failures, sign-out) as they happen.
    Events,
    /// Print a raw JWT, for pipes.
    Token {
        #[arg(value_enum)]
        kind: TokenKind,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Flow {
    /// USER_SRP_AUTH: the password never leaves the machine.
    Srp,
    /// USER_PASSWORD_AUTH: the password is sent to Cognito over TLS.
    Password,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TokenKind {
    Id,
    Access,
}

fn main() -> ExitCode {
    // The hot path of every AWS CLI command: no argument parser, no async runtime, one
    // request. Anything but the plain forms goes through clap below.
    if let Some(socket) = credential_process_args(std::env::args_os().skip(1)) {
        return credential_process(&socket.unwrap_or_else(cognitod_client::default_socket));
    }
    let cli = Cli::parse();
    if matches!(cli.command, Command::CredentialProcess) {
        let socket = cli.socket.unwrap_or_else(cognitod_client::default_socket);
        return credential_process(&socket);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cognitoctl: cannot start: {error}");
            return ExitCode::from(exit::UNREACHABLE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let code = match error.downcast_ref::<ClientError>() {
                Some(ClientError::Api { .. }) => exit::NO,
                _ => exit::UNREACHABLE,
            };
            eprintln!("cognitoctl: {error:#}");
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let client = Client::new(cli.socket.unwrap_or_else(cognitod_client::default_socket));
    let json = cli.json;
    match cli.command {
        Command::Status => {
            let status = client.status().await?;
            if json {
                output::json(&status)?;
            } else {
                output::status(&status);
            }
            Ok(exit::OK)
        }
        Command::Login {
            username,
            password_stdin,
            flow,
        } => login(&client, username, password_stdin, flow, json).await,
        Command::Confirm { attributes } => {
            let interactive = std::io::stdin().is_terminal();
            let answer = if interactive {
                read_secret("Answer: ")?
            } else {
                read_stdin_line().context("cannot read the answer from stdin")?
            };
            let request = ConfirmSignInRequest {
                challenge_response: answer,
                user_attributes: (!attributes.is_empty()).then(|| attributes.into_iter().collect()),
            };
            let response = client.confirm_sign_in(&request).await?;
            finish_sign_in(&client, response, json, interactive).await
        }
        Command::Logout { global } => {
            client.sign_out(global).await?;
            if json {
                output::json(&serde_json::json!({"isSignedIn": false}))?;
            } else {
                println!("signed out{}", if global { " everywhere" } else { "" });
            }
            Ok(exit::OK)
        }
        Command::Whoami => {
            let user = client.user().await?;
            if json {
                output::json(&user)?;
            } else if user.sign_in_details.login_id != user.username {
                println!(
                    "{} (signed in as {})",
                    user.username, user.sign_in_details.login_id
                );
            } else {
                println!("{}", user.username);
            }
            Ok(exit::OK)
        }
        Command::Session { force_refresh } => {
            let session = client.session(force_refresh).await?;
            if json {
                output::json(&session)?;
            } else {
                output::session(&session);
            }
            Ok(if session.is_signed_in {
                exit::OK
            } else {
                exit::NO
            })
        }
        Command::Credentials { force_refresh } => {
            let credentials = client.credentials(force_refresh).await?;
            if json {
                output::json(&credentials)?;
            } else {
                output::credentials(&credentials);
            }
            Ok(exit::OK)
        }
        Command::Env { ecs: true } => {
            let status = client.status().await?;
            let Some(ecs) = status.ecs else {
                eprintln!(
                    "cognitoctl: the container credentials endpoint is off\nEnable it with `[ecs] enabled = true` in the daemon's configuration."
                );
                return Ok(exit::NO);
            };
            println!(
                "export AWS_CONTAINER_CREDENTIALS_FULL_URI={}",
                output::shell_quote(&ecs.url)
            );
            println!(
                "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}",
                output::shell_quote(&ecs.token_file)
            );
            Ok(exit::OK)
        }
        Command::Env { ecs: false } => {
            let credentials = client.credentials(false).await?;
            let lines = [
                ("AWS_ACCESS_KEY_ID", credentials.access_key_id.as_str()),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    credentials.secret_access_key.expose(),
                ),
                ("AWS_SESSION_TOKEN", credentials.session_token.expose()),
                (
                    "AWS_CREDENTIAL_EXPIRATION",
                    &credentials.expiration.to_string(),
                ),
            ];
            let mut stdout = std::io::stdout().lock();
            for (name, value) in lines {
                writeln!(stdout, "export {name}={}", output::shell_quote(value))
                    .context("cannot write to stdout")?;
            }
            Ok(exit::OK)
        }
        Command::IdentityId => {
            let credentials = client.credentials(false).await?;
            println!("{}", credentials.identity_id);
            Ok(exit::OK)
        }
        Command::CredentialProcess => unreachable!("handled before the runtime starts"),
        Command::Events => {
            let mut write_failed = false;
            client
                .events(|kind, data| {
                    let line = if json {
                        data.to_owned()
                    } else {
                        output::event_line(kind, data)
                    };
                    let mut stdout = std::io::stdout().lock();
                    write_failed = writeln!(stdout, "{line}")
                        .and_then(|()| stdout.flush())
                        .is_err();
                    !write_failed
                })
                .await?;
            Ok(exit::OK)
        }
        Command::Token { kind } => {
            let session = client.session(false).await?;
            let Some(tokens) = session.tokens else {
                eprintln!("cognitoctl: not signed in\nSign in with `cognitoctl login`.");
                return Ok(exit::NO);
            };
            let token = match kind {
                TokenKind::Id => &tokens.id_token,
                TokenKind::Access => &tokens.access_token,
            };
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", token.expose()).context("cannot write to stdout")?;
            Ok(exit::OK)
        }
    }
}

async fn login(
    client: &Client,
    username: Option<String>,
    password_stdin: bool,
    flow: Flow,
    json: bool,
) -> anyhow::Result<u8> {
    let username = match username {
        Some(username) => username,
        None => prompt_line("Username: ")?,
    };
    let password = if password_stdin {
        read_stdin_line().context("cannot read the password from stdin")?
    } else {
        read_secret("Password: ")?
    };
    let request = SignInRequest {
        username,
        password,
        auth_flow_type: Some(match flow {
            Flow::Srp => AuthFlowType::UserSrpAuth,
            Flow::Password => AuthFlowType::UserPasswordAuth,
        }),
    };
    let response = client.sign_in(&request).await?;
    let interactive = !password_stdin && std::io::stdin().is_terminal();
    finish_sign_in(client, response, json, interactive).await
}

/// Reports the sign-in's outcome. On a terminal, asks for each pending step until signed in
/// (a wrong answer is asked again); otherwise prints the pending step and exits 3.
async fn finish_sign_in(
    client: &Client,
    mut response: SignInResponse,
    json: bool,
    interactive: bool,
) -> anyhow::Result<u8> {
    loop {
        if response.next_step.sign_in_step == SignInStep::Done {
            if json {
                output::json(&response)?;
            } else {
                let user = client.user().await?;
                println!("signed in as {}", user.username);
            }
            return Ok(exit::OK);
        }
        if !interactive {
            if json {
                output::json(&response)?;
            } else {
                output::next_step(&response.next_step, true);
            }
            return Ok(exit::PENDING);
        }
        output::next_step(&response.next_step, false);
        let request = ask_for_step(&response.next_step)?;
        match client.confirm_sign_in(&request).await {
            Ok(next) => response = next,
            Err(ClientError::Api { status: 400, error }) => {
                eprintln!("{}: {}; try again", error.code, error.message);
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Asks on the terminal for the answer to `step`: secrets without echo.
fn ask_for_step(step: &NextStep) -> anyhow::Result<ConfirmSignInRequest> {
    let mut user_attributes = BTreeMap::new();
    let answer = match step.sign_in_step {
        SignInStep::ConfirmSignInWithNewPasswordRequired => {
            let password = read_secret("New password: ")?;
            for name in step.missing_attributes.iter().flatten() {
                user_attributes.insert(name.clone(), prompt_line(&format!("{name}: "))?);
            }
            password
        }
        SignInStep::ContinueSignInWithMfaSelection => {
            let allowed = step
                .allowed_mfa_types
                .clone()
                .unwrap_or_default()
                .join(", ");
            Secret::new(prompt_line(&format!("MFA type ({allowed}): "))?)
        }
        SignInStep::ContinueSignInWithTotpSetup => {
            read_secret("Code from the authenticator app: ")?
        }
        _ => read_secret("Code: ")?,
    };
    Ok(ConfirmSignInRequest {
        challenge_response: answer,
        user_attributes: (!user_attributes.is_empty()).then_some(user_attributes),
    })
}

fn parse_attribute(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

fn prompt_line(prompt: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "no username given and no terminal to ask on\nPass it: cognitoctl login USERNAME"
        );
    }
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read from the terminal")?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        anyhow::bail!("nothing entered");
    }
    Ok(line)
}

/// A secret from the terminal without echo.
fn read_secret(prompt: &str) -> anyhow::Result<Secret> {
    tty::read_secret(prompt).context(
        "no terminal to ask for the password on\nUse --password-stdin to pass it on stdin.",
    )
}

fn read_stdin_line() -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let secret = Secret::new(line.trim_end_matches(['\r', '\n']));
    drop(Secret::new(line));
    if secret.is_empty() {
        anyhow::bail!("stdin is empty");
    }
    Ok(secret)
}

/// `credential-process` with at most `--socket PATH` (or `--socket=PATH`) before or after it:
/// `Some(socket)`; any other command line: `None`.
fn credential_process_args(
    args: impl Iterator<Item = std::ffi::OsString>,
) -> Option<Option<PathBuf>> {
    let mut socket = None;
    let mut command = false;
    let mut args = args;
    while let Some(arg) = args.next() {
        if arg == "credential-process" && !command {
            command = true;
        } else if arg == "--socket" && socket.is_none() {
            socket = Some(PathBuf::from(args.next()?));
        } else if let Some(path) = arg
            .to_str()
            .and_then(|a| a.strip_prefix("--socket="))
            .filter(|_| socket.is_none())
        {
            socket = Some(PathBuf::from(path));
        } else {
            return None;
        }
    }
    command.then_some(socket)
}

/// `credential_process`: exactly `{"Version":1,...}` on stdout, or nothing there and one line
/// on stderr saying what to do.
fn credential_process(socket: &std::path::Path) -> ExitCode {
    let credentials: cognitod_proto::CredentialsResponse =
        match cognitod_client::blocking::get(socket, "/v1/credentials") {
            Ok(credentials) => credentials,
            Err(error) => {
                let text = error.to_string().replace('\n', " ");
                eprintln!("cognitoctl credential-process: {text}");
                return ExitCode::from(if error.is_unreachable() {
                    exit::UNREACHABLE
                } else {
                    exit::NO
                });
            }
        };
    let output = serde_json::to_string(&ProcessCredentials {
        version: 1,
        access_key_id: &credentials.access_key_id,
        secret_access_key: credentials.secret_access_key.expose(),
        session_token: credentials.session_token.expose(),
        expiration: credentials.expiration.to_string(),
    })
    .unwrap_or_default();
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{output}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cognitoctl credential-process: cannot write to stdout: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What the AWS SDKs read from a `credential_process`, in the order AWS documents it.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessCredentials<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Option<Option<PathBuf>> {
        credential_process_args(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn the_fast_path_takes_only_the_plain_forms() {
        assert_eq!(parse(&["credential-process"]), Some(None));
        assert_eq!(
            parse(&["--socket", "/s", "credential-process"]),
            Some(Some(PathBuf::from("/s")))
        );
        assert_eq!(
            parse(&["credential-process", "--socket=/s"]),
            Some(Some(PathBuf::from("/s")))
        );
        assert_eq!(parse(&["credential-process", "--json"]), None);
        assert_eq!(parse(&["credential-process", "credential-process"]), None);
        assert_eq!(parse(&["--socket"]), None);
        assert_eq!(parse(&["status"]), None);
        assert_eq!(parse(&["--socket", "/s"]), None);
    }
}
