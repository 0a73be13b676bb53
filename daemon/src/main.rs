use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, ValueEnum};
use cognitod::config::Config;
use cognitod::logging::parse_filter;
use cognitod::paths::Environment;

/// cognitod: keeps one Amazon Cognito sign-in fresh and serves it on a Unix socket.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Config file (else the profile's, else $COGNITOD_CONFIG, else
    /// $XDG_CONFIG_HOME/cognitod/config.toml).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Serve this profile: config $XDG_CONFIG_HOME/cognitod/profiles/NAME.toml, socket
    /// $XDG_RUNTIME_DIR/cognitod/profiles/NAME/socket, state $XDG_STATE_HOME/cognitod/profiles/NAME
    /// (an explicit --config, or socket and state_dir in the config, still win).
    #[arg(long, env = "COGNITOD_PROFILE", value_name = "NAME", value_parser = profile_name)]
    profile: Option<String>,
    /// Validate the configuration, print it (secrets redacted) and exit.
    #[arg(long)]
    check_config: bool,
    /// Log level (off, error, warn, info, debug, trace) or TARGET=LEVEL directives; overrides
    /// RUST_LOG and the config's log_level.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Print the manual page cognitod(8) (roff) and exit.
    #[arg(long, hide = true)]
    man: bool,
    /// Print the manual page cognitod.toml(5) (roff) and exit.
    #[arg(long, hide = true)]
    man_config: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    if let Err(error) = cognitod::harden_process() {
        say(&format!("cannot make the process non-dumpable: {error}"));
        return ExitCode::FAILURE;
    }
    let args = Args::parse();
    if args.man || args.man_config {
        let out = &mut std::io::stdout().lock();
        let written = if args.man {
            cognitod::manual::write_daemon_page(Args::command(), out)
        } else {
            cognitod::manual::write_config_page(out)
        };
        // A reader that stops early (`| head`) ends the output quietly.
        return match written.and_then(|()| out.flush()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(error) => {
                say(&format!("cannot write the manual page: {error}"));
                ExitCode::FAILURE
            }
        };
    }
    let env = Environment {
        profile: args.profile.clone(),
        ..Environment::from_process()
    };
    let config = match Config::load(args.config.as_deref(), &env) {
        Ok(config) => config,
        Err(error) => {
            say(&format!("invalid configuration: {error}"));
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        let found = cognitod::preflight(&config, &env);
        for warning in &found.warnings {
            say(&format!("warning: {warning}"));
        }
        if !found.problems.is_empty() {
            for problem in &found.problems {
                say(problem);
            }
            return ExitCode::from(2);
        }
        // A reader that stops early (`| head`) ends the output quietly.
        let _ = write!(std::io::stdout().lock(), "{config}");
        return ExitCode::SUCCESS;
    }
    let set_log_level = match init_logging(&args, &config) {
        Ok(set) => set,
        Err(error) => {
            say(&error);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            say(&format!("cannot start the runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let reload = cognitod::reload_signals();
        cognitod::run(
            config,
            &env,
            cognitod::termination_signal(),
            reload,
            set_log_level,
        )
        .await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Once: in the log when it shows errors, else on stderr.
            if tracing::enabled!(tracing::Level::ERROR) {
                tracing::error!("{error:#}");
            } else {
                say(&format!("{error:#}"));
            }
            ExitCode::FAILURE
        }
    }
}

fn profile_name(text: &str) -> Result<String, String> {
    if cognitod_proto::is_profile_name(text) {
        Ok(text.to_owned())
    } else {
        Err(cognitod_proto::PROFILE_NAME_RULE.to_owned())
    }
}

/// One message on stderr, prefixed with the program's name; a closed stderr is no reason to
/// panic.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "cognitod: {text}");
}

/// Logs to stderr: text (without timestamps under journald, which adds its own), or JSON.
/// The level comes from `--log-level`, else `RUST_LOG`, else the config's `log_level`; only the
/// last can change on reload, so only then is a setter returned.
fn init_logging(args: &Args, config: &Config) -> Result<Option<cognitod::SetLogLevel>, String> {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, fmt, reload};

    let (filter, fixed) = match (&args.log_level, std::env::var("RUST_LOG")) {
        (Some(level), _) => (
            parse_filter(level).map_err(|e| format!("--log-level: {e}"))?,
            true,
        ),
        (None, Ok(env)) if !env.is_empty() => (
            parse_filter(&env).map_err(|e| format!("RUST_LOG: {e}"))?,
            true,
        ),
        // Checked when the configuration was loaded.
        _ => (config.daemon.log_level.clone(), false),
    };
    let filter = EnvFilter::try_new(&filter).map_err(|e| format!("log level {filter:?}: {e}"))?;
    let (filter, handle) = reload::Layer::new(filter);
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let output = match (args.log_format, journal) {
        (LogFormat::Json, _) => fmt::layer().json().with_writer(std::io::stderr).boxed(),
        (LogFormat::Text, true) => fmt::layer()
            .without_time()
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .boxed(),
        (LogFormat::Text, false) => fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .init();
    let set: cognitod::SetLogLevel = Box::new(move |level: &str| {
        let filter = EnvFilter::try_new(parse_filter(level)?).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    });
    Ok((!fixed).then_some(set))
}
