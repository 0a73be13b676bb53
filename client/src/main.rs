//! `cognitoctl`: the command-line client of cognitod.

mod account_cli;
mod browser;
mod exec;
mod failure;
mod manual;
mod output;
mod profiles;
mod signin;
mod tty;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use cognitod_client::{Client, StreamEnd};
use cognitod_proto::{AuthFlowType, ErrorBody, Timestamp};

use failure::exit;

/// What `cognitoctl --help` ends with.
const AFTER_HELP: &str = "\
The socket: --socket, else --profile NAME's, else $COGNITOD_SOCKET, else $COGNITOD_PROFILE's,
else $XDG_RUNTIME_DIR/cognitod/socket, else /tmp/cognitod-<uid>/socket. Profile NAME's socket
is $XDG_RUNTIME_DIR/cognitod/profiles/NAME/socket (or /run/cognitod/profiles/NAME/socket for a
profile not configured in ~/.config/cognitod/profiles/).

Examples:
  cognitoctl login alice                  sign in (the password is asked without echo)
  cognitoctl token access | xargs -I{} curl -H 'Authorization: Bearer {}' https://api.example.com/
  eval \"$(cognitoctl env)\"                AWS credentials in the shell's environment
  credential_process = cognitoctl credential-process      (in ~/.aws/config)

Exit status: 0 ok; 1 the answer was no (not signed in, sign-in refused); 2 usage error or the
daemon cannot be reached; 3 a sign-in step is pending; 4 Cognito cannot be reached or is
throttling (try again later). `exec` exits with its command's status (126 when it cannot be
run, 127 when it is not found).";

/// cognitoctl: the command-line client of cognitod, the shared Amazon Cognito sign-in of this
/// machine. It signs in and out, shows the user and the session, and hands tokens and AWS
/// credentials to other programs.
#[derive(Debug, Parser)]
#[command(name = "cognitoctl", version, after_help = AFTER_HELP)]
struct Cli {
    /// Print machine-readable JSON (errors too: {"error": {...}} on stdout).
    #[arg(long, global = true)]
    json: bool,
    /// The daemon's socket (default: see below).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The profile: its daemon's socket (else $COGNITOD_PROFILE); --socket still wins.
    #[arg(long, global = true, value_name = "NAME", value_parser = profile_name)]
    profile: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The daemon's state, user, expiries and any pending sign-in step.
    Status,
    /// Sign in (the password is read without echo, or from stdin), or with --browser through
    /// the pool's managed login.
    Login {
        /// The username or alias (asked for on the terminal when left out).
        #[arg(conflicts_with = "browser")]
        username: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long, conflicts_with = "browser")]
        password_stdin: bool,
        /// The authentication flow.
        #[arg(long, value_enum, default_value_t = Flow::Srp)]
        flow: Flow,
        /// With --flow user-auth: the first factor (else Cognito offers a choice).
        #[arg(long, value_enum)]
        preferred: Option<Preferred>,
        /// A key-value pair for the pool's Lambda triggers, as NAME=VALUE (repeatable).
        #[arg(long = "client-metadata", value_name = "NAME=VALUE", value_parser = signin::parse_attribute)]
        client_metadata: Vec<(String, String)>,
        /// Sign in in a browser, through the managed login (social and enterprise providers,
        /// passkeys, the pool's login page).
        #[arg(long)]
        browser: bool,
        /// Go straight to this identity provider (e.g. Google, or a SAML/OIDC provider's name).
        #[arg(long, value_name = "NAME", requires = "browser")]
        provider: Option<String>,
        /// Do not open a browser: print the address, and read the one the browser was sent
        /// back to (pasted from its address bar).
        #[arg(long, requires = "browser")]
        no_browser: bool,
    },
    /// Become an identity pool identity with an external provider's token (Google, Apple, an
    /// OIDC issuer, SAML, another user pool): read from stdin or --token-file, never argv;
    /// without either (on a terminal) the daemon runs its [federation] token_command.
    Federate {
        /// The identity pool's name for the provider (e.g. accounts.google.com,
        /// token.actions.githubusercontent.com); default: [federation] provider.
        #[arg(long, value_name = "NAME")]
        provider: Option<String>,
        /// Read the token from this file.
        #[arg(long, value_name = "PATH")]
        token_file: Option<PathBuf>,
    },
    /// Answer the pending sign-in step (asked by name on a terminal, else the first line of
    /// stdin).
    Confirm {
        /// A user attribute the new-password step asks for, as NAME=VALUE (repeatable).
        #[arg(long = "attribute", value_name = "NAME=VALUE", value_parser = signin::parse_attribute)]
        attributes: Vec<(String, String)>,
        /// A key-value pair for the pool's Lambda triggers, as NAME=VALUE (repeatable).
        #[arg(long = "client-metadata", value_name = "NAME=VALUE", value_parser = signin::parse_attribute)]
        client_metadata: Vec<(String, String)>,
    },
    /// Sign out (and revoke the refresh token at Cognito).
    Logout {
        /// Sign out of every device (revokes all of the user's refresh tokens).
        #[arg(long)]
        global: bool,
        /// After a browser sign-in: print the managed login's logout address instead of
        /// opening it.
        #[arg(long)]
        no_browser: bool,
        /// Forget this machine as the user's remembered device too (MFA is asked again).
        #[arg(long)]
        forget_device: bool,
    },
    /// The user's remembered devices (this machine marked).
    Devices,
    /// Remember this machine (it then skips MFA), or forget it or another device.
    Device {
        #[command(subcommand)]
        action: DeviceAction,
    },
    /// The signed-in username.
    Whoami,
    /// Who is signed in and when the tokens expire (`--json`: the whole session, tokens
    /// included).
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
    /// Create an account: the password is asked twice without echo (or read from stdin), then
    /// the code sent to confirm it; signs in when the pool allows it.
    SignUp {
        username: String,
        /// A user attribute, as NAME=VALUE (repeatable; e.g. email=alice@example.com).
        #[arg(long = "attribute", value_name = "NAME=VALUE", value_parser = signin::parse_attribute)]
        attributes: Vec<(String, String)>,
        /// Do not sign in once the sign-up is confirmed.
        #[arg(long)]
        no_sign_in: bool,
    },
    /// Confirm a sign-up with the code sent (asked on the terminal, else stdin); signs in when
    /// the pool allows it.
    ConfirmSignUp { username: String },
    /// Send the sign-up confirmation code again.
    ResendCode { username: String },
    /// Reset a forgotten password: a code is sent, then the code and the new password are
    /// asked on the terminal (from a script: `--confirm` reads them from stdin, a line each).
    ResetPassword {
        username: String,
        /// Send no code: read the one sent and the new password (terminal, else stdin).
        #[arg(long)]
        confirm: bool,
    },
    /// Change the signed-in user's password (the current and the new one are asked without
    /// echo, or read from stdin, a line each).
    ChangePassword,
    /// The signed-in user's attributes: show (default), set, verify, delete.
    Attributes {
        #[command(subcommand)]
        action: Option<account_cli::AttributesAction>,
    },
    /// The signed-in user's MFA: show (default), or set each factor.
    Mfa {
        #[command(subcommand)]
        action: Option<account_cli::MfaAction>,
    },
    /// An authenticator app (TOTP) for the signed-in user.
    Totp {
        #[command(subcommand)]
        action: account_cli::TotpAction,
    },
    /// Delete the signed-in user's account at Cognito, and sign out (the username is asked to
    /// confirm).
    DeleteAccount {
        /// The username, to confirm without a terminal.
        #[arg(long, value_name = "USERNAME")]
        confirm: Option<String>,
    },
    /// Run COMMAND with the profile's AWS credentials in its environment (or, with --ecs, the
    /// container endpoint's variables), in cognitoctl's place: its exit status, signals and
    /// terminal are its own.
    Exec {
        /// Set AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
        /// instead: the SDK renews the credentials from the daemon for as long as it runs.
        #[arg(long)]
        ecs: bool,
        /// The command and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
        command: Vec<std::ffi::OsString>,
    },
    /// Every configured profile and its daemon's state (signed in as whom, expiries, or not
    /// running).
    Profiles,
    /// The ~/.aws/config lines for the profile: a [profile cognitod-NAME] block whose
    /// credential_process is this cognitoctl (printed, never written to the file).
    AwsConfig,
    /// Print a raw JWT (id or access), for pipes.
    Token {
        #[arg(value_enum)]
        kind: TokenKind,
        /// Refresh the tokens first.
        #[arg(long)]
        force_refresh: bool,
    },
    #[command(flatten)]
    Manual(manual::Manual),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Flow {
    /// USER_SRP_AUTH: the password never leaves the machine.
    Srp,
    /// USER_PASSWORD_AUTH: the password is sent to Cognito over TLS.
    Password,
    /// CUSTOM_WITH_SRP: an SRP password check, then the pool's custom challenges.
    CustomSrp,
    /// CUSTOM_WITHOUT_SRP: the pool's custom challenges only (no password).
    Custom,
    /// USER_AUTH: choice-based sign-in (a code by email or SMS, a password, SRP).
    UserAuth,
}

/// `USER_AUTH`'s first factors.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Preferred {
    /// A one-time code by email.
    EmailOtp,
    /// A one-time code by SMS.
    SmsOtp,
    /// The password, sent over TLS.
    Password,
    /// The password, proven by SRP.
    Srp,
}

#[derive(Debug, Subcommand)]
enum DeviceAction {
    /// Remember this machine (a pool that lets users opt in).
    Remember,
    /// Forget this machine, or the device KEY (from `cognitoctl devices`).
    Forget { key: Option<String> },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TokenKind {
    /// The id token (who the user is).
    Id,
    /// The access token (for APIs).
    Access,
}

fn main() -> ExitCode {
    if let Err(error) = cognitod_client::check_env_profile() {
        output::say(&format!("cognitoctl: {error}"));
        return ExitCode::from(exit::USAGE);
    }
    // The hot path of every AWS CLI command: no argument parser, no async runtime, one
    // request. Anything but the plain forms goes through clap below.
    if let Some((socket, profile)) = credential_process_args(std::env::args_os().skip(1)) {
        return credential_process(&socket_for(socket, profile.as_deref()));
    }
    let cli = Cli::parse();
    if matches!(cli.command, Command::CredentialProcess) {
        return credential_process(&socket_for(cli.socket, cli.profile.as_deref()));
    }
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output::say(&format!("cognitoctl: cannot start: {error}"));
            return ExitCode::from(exit::USAGE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`| head -1`): nothing more to say to anyone.
        Err(error) if failure::is_broken_pipe(&error) => ExitCode::from(exit::OK),
        Err(error) => {
            if json {
                let body = ErrorBody {
                    error: failure::as_api_error(&error),
                };
                let _ = output::json(&mut std::io::stdout(), &body);
            } else {
                output::say(&format!("cognitoctl: {}", failure::human(&error)));
            }
            ExitCode::from(failure::exit_code(&error))
        }
    }
}

/// The socket: `--socket`, else `--profile`'s, else the default (`$COGNITOD_SOCKET`, else
/// `$COGNITOD_PROFILE`'s, else the unnamed profile's).
fn socket_for(socket: Option<PathBuf>, profile: Option<&str>) -> PathBuf {
    socket
        .or_else(|| profile.map(cognitod_client::profile_socket))
        .unwrap_or_else(cognitod_client::default_socket)
}

fn profile_name(text: &str) -> Result<String, String> {
    if cognitod_proto::is_profile_name(text) {
        Ok(text.to_owned())
    } else {
        Err(cognitod_proto::PROFILE_NAME_RULE.to_owned())
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let profile = cli.profile.clone().or_else(cognitod_client::env_profile);
    let client = Client::new(socket_for(cli.socket, cli.profile.as_deref()));
    let json = cli.json;
    let out = &mut std::io::stdout();
    match cli.command {
        Command::Status => {
            let status = client.status().await?;
            if json {
                output::json(out, &status)?;
            } else {
                output::status(out, &status, Timestamp::now(), output::Style::for_stdout())?;
            }
            Ok(exit::OK)
        }
        Command::Login {
            browser: true,
            provider,
            no_browser,
            ..
        } => browser::login(&client, provider, no_browser, json).await,
        Command::Login {
            username,
            password_stdin,
            flow,
            preferred,
            client_metadata,
            ..
        } => {
            let flow = match flow {
                Flow::Srp => AuthFlowType::UserSrpAuth,
                Flow::Password => AuthFlowType::UserPasswordAuth,
                Flow::CustomSrp => AuthFlowType::CustomWithSrp,
                Flow::Custom => AuthFlowType::CustomWithoutSrp,
                Flow::UserAuth => AuthFlowType::UserAuth,
            };
            if preferred.is_some() && flow != AuthFlowType::UserAuth {
                return Err(failure::Usage("--preferred goes with --flow user-auth".into()).into());
            }
            let preferred = preferred.map(|p| match p {
                Preferred::EmailOtp => "EMAIL_OTP",
                Preferred::SmsOtp => "SMS_OTP",
                Preferred::Password => "PASSWORD",
                Preferred::Srp => "PASSWORD_SRP",
            });
            let metadata = client_metadata;
            signin::login(
                &client,
                username,
                password_stdin,
                flow,
                preferred,
                metadata,
                json,
            )
            .await
        }
        Command::Federate {
            provider,
            token_file,
        } => federate(&client, provider, token_file, json).await,
        Command::Confirm {
            attributes,
            client_metadata,
        } => signin::confirm(&client, attributes, client_metadata, json).await,
        Command::Logout {
            global,
            no_browser,
            forget_device,
        } => logout(&client, global, forget_device, no_browser, json).await,
        Command::Devices => {
            let devices = client.devices().await?;
            if json {
                output::json(out, &devices)?;
            } else if devices.is_empty() {
                writeln!(out, "no remembered devices")?;
            }
            for device in devices.iter().filter(|_| !json) {
                writeln!(
                    out,
                    "{}  {}  {}{}",
                    device.id,
                    device.name.as_deref().unwrap_or("(no name)"),
                    if device.remembered {
                        "remembered"
                    } else {
                        "not remembered"
                    },
                    if device.current {
                        "  (this machine)"
                    } else {
                        ""
                    }
                )?;
            }
            Ok(exit::OK)
        }
        Command::Device { action } => {
            let said = match action {
                DeviceAction::Remember => {
                    client.remember_device().await?;
                    "this machine is remembered: it skips MFA at the next sign-ins"
                }
                DeviceAction::Forget { key } => {
                    client.forget_device(key.as_deref()).await?;
                    "forgotten"
                }
            };
            if !json {
                writeln!(out, "{said}")?;
            }
            Ok(exit::OK)
        }
        Command::Whoami => {
            let user = client.user().await?;
            if json {
                output::json(out, &user)?;
            } else if user.sign_in_details.login_id != user.username {
                writeln!(
                    out,
                    "{} (signed in as {})",
                    user.username, user.sign_in_details.login_id
                )?;
            } else {
                writeln!(out, "{}", user.username)?;
            }
            Ok(exit::OK)
        }
        Command::Session { force_refresh } => {
            let session = client.session(force_refresh).await?;
            if json {
                output::json(out, &session)?;
            } else {
                output::session(out, &session, Timestamp::now())?;
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
                output::json(out, &credentials)?;
            } else {
                output::credentials(out, &credentials, Timestamp::now())?;
            }
            Ok(exit::OK)
        }
        Command::Env { ecs: true } => {
            let status = client.status().await?;
            let Some(ecs) = status.ecs else {
                return Err(failure::no(
                    "EcsDisabled",
                    "the container credentials endpoint is off",
                    "Enable it with `[ecs] enabled = true` in the daemon's configuration.",
                ));
            };
            if json {
                output::json(
                    out,
                    &serde_json::json!({
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI": ecs.url,
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": ecs.token_file,
                    }),
                )?;
                return Ok(exit::OK);
            }
            writeln!(
                out,
                "export AWS_CONTAINER_CREDENTIALS_FULL_URI={}",
                output::shell_quote(&ecs.url)
            )?;
            writeln!(
                out,
                "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}",
                output::shell_quote(&ecs.token_file)
            )?;
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
            if json {
                let map: serde_json::Map<String, serde_json::Value> = lines
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), (*value).into()))
                    .collect();
                output::json(out, &map)?;
                return Ok(exit::OK);
            }
            let mut out = out.lock();
            for (name, value) in lines {
                writeln!(out, "export {name}={}", output::shell_quote(value))?;
            }
            Ok(exit::OK)
        }
        Command::IdentityId => {
            let credentials = client.credentials(false).await?;
            if json {
                output::json(
                    out,
                    &serde_json::json!({"identityId": credentials.identity_id}),
                )?;
            } else {
                writeln!(out, "{}", credentials.identity_id)?;
            }
            Ok(exit::OK)
        }
        Command::CredentialProcess => unreachable!("handled before the runtime starts"),
        Command::Events => events(&client, json).await,
        Command::Exec { ecs, command } => {
            let env = exec::environment(&client, profile.as_deref(), ecs).await?;
            Ok(exec::replace_with(&command, env))
        }
        Command::Profiles => profiles::list(json).await,
        Command::AwsConfig => profiles::aws_config(profile.as_deref()),
        Command::SignUp {
            username,
            attributes,
            no_sign_in,
        } => account_cli::sign_up(&client, username, attributes, !no_sign_in, json).await,
        Command::ConfirmSignUp { username } => {
            account_cli::confirm_sign_up(&client, username, json).await
        }
        Command::ResendCode { username } => account_cli::resend_code(&client, username, json).await,
        Command::ResetPassword { username, confirm } => {
            account_cli::reset_password(&client, username, confirm, json).await
        }
        Command::ChangePassword => account_cli::change_password(&client, json).await,
        Command::Attributes { action } => account_cli::attributes(&client, action, json).await,
        Command::Mfa { action } => account_cli::mfa(&client, action, json).await,
        Command::Totp {
            action: account_cli::TotpAction::Setup { device_name },
        } => account_cli::totp_setup(&client, device_name, json).await,
        Command::Totp {
            action: account_cli::TotpAction::Verify { device_name },
        } => account_cli::totp_verify(&client, device_name, json).await,
        Command::DeleteAccount { confirm } => {
            account_cli::delete_account(&client, confirm, json).await
        }
        Command::Token {
            kind,
            force_refresh,
        } => {
            let session = client.session(force_refresh).await?;
            let Some(tokens) = session.tokens else {
                if let Some(provider) = &session.federated_provider {
                    return Err(failure::no(
                        cognitod_proto::codes::USER_UNAUTHENTICATED,
                        &format!(
                            "federated through {provider}: a federated identity has no user-pool tokens"
                        ),
                        "Its AWS credentials are in `cognitoctl credentials`; sign in with `cognitoctl login` for a user's tokens.",
                    ));
                }
                return Err(failure::no(
                    cognitod_proto::codes::USER_UNAUTHENTICATED,
                    "not signed in",
                    "Sign in with `cognitoctl login`.",
                ));
            };
            let token = match kind {
                TokenKind::Id => &tokens.id_token,
                TokenKind::Access => &tokens.access_token,
            };
            if json {
                output::json(
                    out,
                    &serde_json::json!({"token": token, "expiresAt": tokens.expires_at}),
                )?;
            } else {
                writeln!(out, "{}", token.expose())?;
            }
            Ok(exit::OK)
        }
        Command::Manual(what) => manual::print(what, Cli::command()),
    }
}

/// `cognitoctl logout`: signed out here in any case; says so, with a status of its own, when
/// Cognito did not revoke the tokens.
async fn logout(
    client: &Client,
    global: bool,
    forget_device: bool,
    no_browser: bool,
    json: bool,
) -> anyhow::Result<u8> {
    let request = cognitod_proto::SignOutRequest {
        global,
        forget_device,
    };
    let outcome = client.sign_out_request(&request).await?;
    let out = &mut std::io::stdout();
    if json {
        output::json(out, &outcome)?;
    }
    if let Some(url) = outcome.logout_url.as_deref().filter(|_| !json) {
        browser::logout(url, no_browser).await;
    }
    let Some(error) = &outcome.revoke_error else {
        if !json {
            writeln!(out, "signed out{}", if global { " everywhere" } else { "" })?;
        }
        return Ok(exit::OK);
    };
    let transient = failure::is_transient_code(&error.code);
    let what = if global {
        "the other devices stay signed in"
    } else {
        "the refresh token was not revoked"
    };
    let text = if transient {
        format!("signed out here; Cognito could not be reached, {what}")
    } else {
        format!(
            "signed out here; Cognito refused ({}), {what}",
            error.message
        )
    };
    let (text, fix) = if outcome.retrying {
        (
            format!("{text}; cognitod keeps trying on its own"),
            "It tries for about an hour; its log says when the sign-out gets through.",
        )
    } else {
        (text, fix_for(global))
    };
    if !json {
        output::say(&format!("cognitoctl: {text}\n{fix}"));
    }
    Ok(if transient { exit::TRANSIENT } else { exit::NO })
}

/// `cognitoctl federate`: the token from --token-file, else from stdin when it is not a
/// terminal, else none (the daemon's token_command).
async fn federate(
    client: &Client,
    provider: Option<String>,
    token_file: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<u8> {
    use std::io::{IsTerminal, Read};
    let token = match token_file {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                failure::Usage(format!(
                    "cannot read the token file {}: {e}",
                    path.display()
                ))
            })?;
            Some(text)
        }
        None if !std::io::stdin().is_terminal() => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| failure::Usage(format!("cannot read the token from stdin: {e}")))?;
            Some(text)
        }
        None => None,
    };
    let token = token
        .map(|text| cognitod_proto::Secret::new(text.trim()))
        .filter(|t| !t.expose().is_empty());
    let answer = client
        .federate(&cognitod_proto::FederateRequest { provider, token })
        .await?;
    let out = &mut std::io::stdout();
    if json {
        output::json(out, &answer)?;
    } else {
        writeln!(
            out,
            "federated through {} as identity {}",
            answer.federated_provider, answer.identity_id
        )?;
        writeln!(
            out,
            "AWS credentials {} {}",
            answer.credentials.access_key_id,
            output::expiry(answer.credentials.expiration, Timestamp::now())
        )?;
    }
    Ok(exit::OK)
}

/// How to end a session Cognito did not revoke.
fn fix_for(global: bool) -> &'static str {
    if global {
        "Sign in again and run `cognitoctl logout --global` when Cognito can be reached."
    } else {
        "It stays valid until it expires; to end it sooner, sign in again and run `cognitoctl logout --global` (every device) when Cognito can be reached."
    }
}

/// `cognitoctl events`: one line per event until the reader or the daemon goes away; the
/// daemon going away is said, and is not success.
async fn events(client: &Client, json: bool) -> anyhow::Result<u8> {
    let mut write_failed = false;
    let end = client
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
    if end == StreamEnd::Closed {
        return Err(failure::StreamEnded.into());
    }
    Ok(exit::OK)
}

/// `credential-process` with at most `--socket PATH` and `--profile NAME` (or `--socket=PATH`,
/// `--profile=NAME`) before or after it: `Some((socket, profile))`; any other command line:
/// `None`.
fn credential_process_args(
    args: impl Iterator<Item = std::ffi::OsString>,
) -> Option<(Option<PathBuf>, Option<String>)> {
    let mut socket = None;
    let mut profile = None;
    let mut command = false;
    let mut args = args;
    while let Some(arg) = args.next() {
        let text = arg.to_str();
        if arg == "credential-process" && !command {
            command = true;
        } else if arg == "--socket" && socket.is_none() {
            socket = Some(PathBuf::from(args.next()?));
        } else if let Some(path) = text
            .and_then(|a| a.strip_prefix("--socket="))
            .filter(|_| socket.is_none())
        {
            socket = Some(PathBuf::from(path));
        } else if arg == "--profile" && profile.is_none() {
            profile = Some(args.next()?.into_string().ok()?);
        } else if let Some(name) = text
            .and_then(|a| a.strip_prefix("--profile="))
            .filter(|_| profile.is_none())
        {
            profile = Some(name.to_owned());
        } else {
            return None;
        }
    }
    // A bad name goes to the full parser, which says what is wrong with it.
    if profile
        .as_deref()
        .is_some_and(|name| !cognitod_proto::is_profile_name(name))
    {
        return None;
    }
    command.then_some((socket, profile))
}

/// `credential_process`: exactly `{"Version":1,...}` on stdout, or nothing there and one line
/// on stderr saying what to do.
fn credential_process(socket: &std::path::Path) -> ExitCode {
    let output = match process_credentials(socket) {
        Ok(output) => output,
        Err(error) => {
            output::say(&format!(
                "cognitoctl credential-process: {}",
                failure::one_line(&error)
            ));
            return ExitCode::from(match &error {
                cognitod_client::ClientError::Api { status, error } => {
                    failure::api_exit_code(*status, error)
                }
                _ => exit::USAGE,
            });
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(&output)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            output::say(&format!(
                "cognitoctl credential-process: cannot write to stdout: {error}"
            ));
            ExitCode::FAILURE
        }
    }
}

/// What `credential_process` prints: the daemon's `/v1/credentials/process` as it comes; from
/// a daemon older than that route, `/v1/credentials` in that format.
fn process_credentials(
    socket: &std::path::Path,
) -> Result<zeroize::Zeroizing<Vec<u8>>, cognitod_client::ClientError> {
    use cognitod_client::{ClientError, blocking};
    match blocking::get_body(socket, "/v1/credentials/process") {
        Ok(body) if body.starts_with(b"{\"Version\":1,") => Ok(body),
        Ok(_) => Err(ClientError::Protocol(
            "the daemon's credentials are not in the credential_process format".into(),
        )),
        Err(ClientError::Api { status: 404, .. }) => {
            let credentials: cognitod_proto::CredentialsResponse =
                blocking::get(socket, "/v1/credentials")?;
            let credentials = cognitod_proto::ProcessCredentials::from(credentials);
            Ok(zeroize::Zeroizing::new(
                serde_json::to_vec(&credentials).unwrap_or_default(),
            ))
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Option<Option<PathBuf>> {
        credential_process_args(args.iter().map(std::ffi::OsString::from)).map(|(socket, _)| socket)
    }

    fn parse_profile(args: &[&str]) -> Option<Option<String>> {
        credential_process_args(args.iter().map(std::ffi::OsString::from))
            .map(|(_, profile)| profile)
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
        assert_eq!(
            parse_profile(&["credential-process", "--profile", "staging"]),
            Some(Some("staging".to_owned()))
        );
        assert_eq!(
            parse_profile(&["--profile=dev", "credential-process"]),
            Some(Some("dev".to_owned()))
        );
        assert_eq!(
            parse_profile(&["credential-process", "--profile", "Bad/Name"]),
            None
        );
        assert_eq!(parse_profile(&["credential-process", "--profile"]), None);
        assert_eq!(parse(&["--socket", "/s"]), None);
    }
}
