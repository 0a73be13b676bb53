//! cognitod: a local session daemon for Amazon Cognito.
//!
//! Modules depend one way: `api` → `session` → `cognito`, with `config`, `paths` and `socket`
//! below them. [`run`] wires them together; `main` only parses arguments.

pub mod api;
pub mod audit;
pub mod cognito;
pub mod config;
pub mod dirs;
pub mod ecs;
pub mod fuzzing;
mod json;
pub mod logging;
pub mod manual;
pub mod oauth;
pub mod paths;
pub mod server;
pub mod session;
pub mod socket;
pub mod store;
pub mod systemd;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use sd_notify::NotifyState;

use crate::cognito::HttpUserPool;
use crate::cognito::jwt::{Rules, Verifier};
use crate::config::Config;
use crate::paths::Environment;

/// Sets the log filter when the configuration is reloaded (`None` when `--log-level` or
/// `RUST_LOG` fixed it).
pub type SetLogLevel = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Serves the socket API for `config` until `shutdown` completes; each time `reload` fires,
/// the config file is read again (`log_level`, `allowed_uids`) and a bad one is rejected.
pub async fn run(
    config: Config,
    env: &Environment,
    shutdown: impl Future<Output = ()> + Send + 'static,
    reload: tokio::sync::mpsc::Receiver<()>,
    set_log_level: Option<SetLogLevel>,
) -> anyhow::Result<()> {
    // Held for the daemon's life: one daemon per state directory.
    let mut _state_lock = None;
    let store = if config.daemon.persist {
        dirs::ensure_private_dir(&config.daemon.state_dir, env.uid, "[daemon] state_dir")?;
        _state_lock = Some(store::lock(&config.daemon.state_dir)?);
        Some(store::Store::new(&config.daemon.state_dir))
    } else {
        None
    };
    let Upstream {
        session,
        pool,
        verifier,
    } = upstream(&config, store)?;

    let (listener, inherited) = match systemd::inherited_listener()? {
        Some(listener) => (listener, true),
        None => (socket::bind(&config.daemon.socket, env.uid)?, false),
    };
    let socket_path = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(PathBuf::from))
        .unwrap_or_else(|| config.daemon.socket.clone());
    tracing::info!(
        socket = %socket_path.display(),
        socket_activated = inherited,
        user_pool = %config.user_pool_id,
        endpoint = %config.user_pool_endpoint,
        "cognitod {} serving",
        env!("CARGO_PKG_VERSION")
    );

    let (access_tx, access) = tokio::sync::watch::channel(server::Access {
        own_uid: env.uid,
        allowed_uids: config.daemon.allowed_uids.clone(),
    });
    tokio::spawn(reloader(
        reload,
        config.clone(),
        env.clone(),
        Reloadable {
            access: access_tx,
            set_log_level,
            pool,
            verifier,
        },
    ));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let audit = audit::Audit::start();
    let ecs = if config.ecs.enabled {
        // Where the unit lets the daemon write ($RUNTIME_DIRECTORY), else beside the socket.
        let token_dir = env
            .runtime_directory
            .clone()
            .or_else(|| socket_path.parent().map(std::path::Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        // Optional: when it cannot start, the socket is served all the same.
        match ecs::Endpoint::bind(
            config.ecs.listen,
            &token_dir,
            session.clone(),
            audit.clone(),
        )
        .await
        {
            Ok(endpoint) => {
                let info = endpoint.info.clone();
                let mut stopping = stopping.clone();
                tokio::spawn(endpoint.serve(async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                }));
                api::Ecs::Serving(info)
            }
            Err(error) => {
                tracing::error!(%error, "the container credentials endpoint is not served; the socket is");
                api::Ecs::Failed(error.to_string())
            }
        }
    } else {
        api::Ecs::Off
    };
    let status = systemd::status_line(&session.snapshot(), session.now_ms());
    let (probes, probed) = tokio::sync::mpsc::channel(1);
    systemd::spawn_reporters(session.clone(), probes);
    systemd::notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
    server::serve(
        listener,
        api::router(session, audit.clone(), stopping, ecs.clone()),
        Some(access),
        config.daemon.max_connections,
        probed,
        async move {
            shutdown.await;
            tracing::info!("shutting down");
            systemd::notify(&[NotifyState::Stopping]);
            let _ = stop.send(true);
        },
    )
    .await;
    audit.flush();
    if !inherited {
        socket::remove(&socket_path);
    }
    if let api::Ecs::Serving(info) = &ecs {
        let _ = std::fs::remove_file(&info.token_file);
    }
    Ok(())
}

/// What `--check-config` found beyond the file itself.
#[derive(Debug, Default)]
pub struct Preflight {
    /// What would stop the daemon at start.
    pub problems: Vec<String>,
    /// What would stop it unless systemd passes the socket (the daemon then leaves the
    /// socket's directory to systemd).
    pub warnings: Vec<String>,
}

/// What the daemon checks at start, checked without starting (for `--check-config`): the
/// state and socket directories when they exist (missing ones are created 0700 at start),
/// against the uid this runs as, and `ca_file`. Each names the fix.
pub fn preflight(config: &Config, env: &Environment) -> Preflight {
    let mut found = Preflight::default();
    let check = |dir: &std::path::Path, key: &'static str| {
        std::fs::symlink_metadata(dir).ok()?;
        dirs::check_private_dir(dir, env.uid, key)
            .err()
            .map(|error| {
                format!(
                    "{error}\n(checked as uid {}: run --check-config as the daemon's user)",
                    env.uid
                )
            })
    };
    if config.daemon.persist {
        found
            .problems
            .extend(check(&config.daemon.state_dir, "[daemon] state_dir"));
    }
    if let Some(dir) = config.daemon.socket.parent() {
        found.warnings.extend(
            check(dir, "[daemon] socket")
                .map(|text| format!("{text}\n(not checked when systemd passes the socket)")),
        );
    }
    if let Err(error) = cognito::http_client(config.ca_file.as_deref()) {
        found.problems.push(error);
    }
    found
}

fn rules(config: &Config) -> Rules {
    Rules {
        issuer: config.issuer.clone(),
        client_id: config.user_pool_client_id.clone(),
    }
}

/// What a reload can change while serving.
struct Reloadable {
    access: tokio::sync::watch::Sender<server::Access>,
    set_log_level: Option<SetLogLevel>,
    pool: Arc<HttpUserPool>,
    verifier: Arc<Verifier>,
}

/// Applies each reload request: the config file read and validated again; `log_level`,
/// `allowed_uids`, the endpoints and the issuer take effect at once. The pool and client ids
/// and the socket are read at start only; a change to them is reported as needing a restart.
async fn reloader(
    mut requests: tokio::sync::mpsc::Receiver<()>,
    running: Config,
    env: Environment,
    reloadable: Reloadable,
) {
    let path = running.source.clone();
    let Reloadable {
        access,
        set_log_level,
        pool,
        verifier,
    } = reloadable;
    while requests.recv().await.is_some() {
        systemd::notify(&[NotifyState::Reloading]);
        match Config::load(path.as_deref(), &env) {
            Ok(new) => {
                // Logged before the new level applies, so it is seen whatever the level.
                tracing::info!(log_level = %new.daemon.log_level, allowed_uids = ?new.daemon.allowed_uids, "configuration reloaded");
                if let Some(set) = &set_log_level
                    && let Err(error) = set(&new.daemon.log_level)
                {
                    tracing::error!(%error, "the new log_level is not usable; keeping the old one");
                }
                access.send_modify(|a| a.allowed_uids = new.daemon.allowed_uids.clone());
                // The endpoints and the issuer belong to the pools and the client: with those
                // changed they wait for the restart too, never half applied.
                let same_pools = new.user_pool_id == running.user_pool_id
                    && new.user_pool_client_id == running.user_pool_client_id
                    && new.identity_pool_id == running.identity_pool_id;
                if same_pools {
                    pool.set_endpoints(&new);
                    verifier.retarget(new.jwks_url.clone(), rules(&new));
                }
                let changed = restart_only_changes(&running, &new);
                if !changed.is_empty() {
                    tracing::warn!(
                        settings = %changed.join(", "),
                        "the new configuration changes settings that take effect only after a restart; until then the old values stay"
                    );
                }
            }
            Err(error) => {
                tracing::error!("the configuration was not reloaded, the old one stays: {error}");
            }
        }
        systemd::notify(&[NotifyState::Ready]);
    }
}

/// The settings a reload cannot apply that differ between `old` and `new`, by their keys.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let checks: [(&'static str, bool); 15] = [
        ("user_pool_id", old.user_pool_id != new.user_pool_id),
        (
            "user_pool_client_id",
            old.user_pool_client_id != new.user_pool_client_id,
        ),
        ("client_secret_file", old.client_secret != new.client_secret),
        (
            "identity_pool_id",
            old.identity_pool_id != new.identity_pool_id,
        ),
        (
            "unauthenticated_identities_enabled",
            old.unauthenticated_identities_enabled != new.unauthenticated_identities_enabled,
        ),
        (
            "refresh_token_rotation",
            old.refresh_token_rotation != new.refresh_token_rotation,
        ),
        ("ca_file", old.ca_file != new.ca_file),
        ("[daemon] socket", old.daemon.socket != new.daemon.socket),
        (
            "[daemon] state_dir",
            old.daemon.state_dir != new.daemon.state_dir,
        ),
        ("[daemon] persist", old.daemon.persist != new.daemon.persist),
        (
            "[daemon] max_connections",
            old.daemon.max_connections != new.daemon.max_connections,
        ),
        ("[ecs]", old.ecs != new.ecs),
        ("[oauth]", old.oauth != new.oauth),
        ("[federation]", old.federation != new.federation),
        ("[devices] name", old.device_name != new.device_name),
    ];
    checks
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}

/// The session owner and what it talks to Cognito with.
#[derive(Debug)]
pub struct Upstream {
    pub session: session::SessionHandle,
    pub pool: Arc<HttpUserPool>,
    pub verifier: Arc<Verifier>,
}

/// Starts the session owner (inside a tokio runtime) for `config`, with the state in `store`.
pub fn upstream(config: &Config, store: Option<store::Store>) -> anyhow::Result<Upstream> {
    let http = cognito::http_client(config.ca_file.as_deref()).map_err(anyhow::Error::msg)?;
    let pool = Arc::new(HttpUserPool::new(http.clone(), config));
    let verifier = Arc::new(Verifier::new(http, config.jwks_url.clone(), rules(config)));
    let session = session::spawn(
        Arc::clone(&pool),
        Arc::clone(&verifier),
        session::SessionConfig {
            user_pool_id: config.user_pool_id.clone(),
            issuer: config.issuer.clone(),
            client_id: config.user_pool_client_id.clone(),
            refresh_token_rotation: config.refresh_token_rotation,
            store,
            identity: config
                .identity_pool_id
                .as_ref()
                .map(|id| session::IdentityConfig {
                    pool_id: id.clone(),
                    logins_key: format!(
                        "cognito-idp.{}.amazonaws.com/{}",
                        config.aws_region, config.user_pool_id
                    ),
                    unauthenticated: config.unauthenticated_identities_enabled,
                }),
            oauth: config.oauth.clone(),
            federation: config.federation.clone(),
            device_name: config.device_name.clone(),
        },
        Arc::new(session::SystemClock),
    );
    Ok(Upstream {
        session,
        pool,
        verifier,
    })
}

/// No core dumps, not dumpable (no ptrace by the same user, `/proc/<pid>/mem` and `environ`
/// owned by root), and the open-files limit raised to its hard maximum.
pub fn harden_process() -> std::io::Result<()> {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    // Room for max_connections and the refusals beside them: the soft limit on open files is
    // often 1024, the hard one far higher.
    let files = rustix::process::getrlimit(Resource::Nofile);
    if files.current < files.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: files.maximum,
                maximum: files.maximum,
            },
        );
    }
    Ok(())
}

/// Whether two secrets are equal, in time that depends on their lengths only (never on where
/// they differ).
pub(crate) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    given.ct_eq(expected).into()
}

/// Completes on SIGTERM or SIGINT. The handlers are installed when this is called (inside
/// the runtime), not when the future is first polled: a SIGTERM that arrives while the socket
/// is already answering, before the accept loop looked at the signal, is a clean stop, never
/// the default action's kill.
pub fn termination_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}

/// A reload request for each SIGHUP.
pub fn reload_signals() -> tokio::sync::mpsc::Receiver<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (send, receive) = tokio::sync::mpsc::channel(1);
    let mut hangups = signal(SignalKind::hangup()).expect("SIGHUP handler installs");
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let _ = send.try_send(());
        }
    });
    receive
}
