use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use cognitod::config::Config;
use cognitod::paths::Environment;

/// cognitod: keeps one Amazon Cognito sign-in fresh and serves it on a Unix socket.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Config file (else $COGNITOD_CONFIG, else $XDG_CONFIG_HOME/cognitod/config.toml).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Validate the configuration, print it (secrets redacted) and exit.
    #[arg(long)]
    check_config: bool,
    /// Log filter (overrides RUST_LOG and the config's log_level), e.g. `debug`.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    if let Err(error) = cognitod::harden_process() {
        eprintln!("cognitod: cannot make the process non-dumpable: {error}");
        return ExitCode::FAILURE;
    }
    let args = Args::parse();
    let env = Environment::from_process();
    let config = match Config::load(args.config.as_deref(), &env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("cognitod: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        print!("{config}");
        return ExitCode::SUCCESS;
    }
    if let Err(error) = init_logging(&args, &config) {
        eprintln!("cognitod: {error}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cognitod: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cognitod::run(config, &env, cognitod::termination_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("cognitod: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(args: &Args, config: &Config) -> Result<(), String> {
    let filter = match (&args.log_level, std::env::var("RUST_LOG")) {
        (Some(level), _) => level.clone(),
        (None, Ok(env)) if !env.is_empty() => env,
        _ => config.daemon.log_level.clone(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| format!("invalid log level {filter:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}
