//! cognitod: a local session daemon for Amazon Cognito.
//!
//! Modules depend one way: `api` → `session` → `cognito`, with `config`, `paths` and `socket`
//! below them. [`run`] wires them together; `main` only parses arguments.

pub mod api;
pub mod cognito;
pub mod config;
pub mod dirs;
pub mod ecs;
pub mod paths;
pub mod server;
pub mod session;
pub mod socket;
pub mod store;

use std::future::Future;

use crate::cognito::HttpUserPool;
use crate::cognito::jwt::{Rules, Verifier};
use crate::config::Config;
use crate::paths::Environment;

/// Serves the socket API for `config` until `shutdown` completes.
pub async fn run(
    config: Config,
    env: &Environment,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let http = cognito::http_client(config.ca_file.as_deref()).map_err(anyhow::Error::msg)?;
    let pool = HttpUserPool::new(http.clone(), &config);
    let verifier = Verifier::new(
        http,
        config.jwks_url.clone(),
        Rules {
            issuer: config.issuer.clone(),
            client_id: config.user_pool_client_id.clone(),
        },
    );
    let store = if config.daemon.persist {
        dirs::ensure_private_dir(&config.daemon.state_dir, env.uid, "[daemon] state_dir")?;
        Some(store::Store::new(&config.daemon.state_dir))
    } else {
        None
    };
    let session = session::spawn(
        pool,
        verifier,
        session::SessionConfig {
            user_pool_id: config.user_pool_id.clone(),
            refresh_token_rotation: config.refresh_token_rotation,
            store,
            identity: config
                .identity_pool_id
                .as_ref()
                .map(|_| session::IdentityConfig {
                    logins_key: format!(
                        "cognito-idp.{}.amazonaws.com/{}",
                        config.aws_region, config.user_pool_id
                    ),
                    unauthenticated: config.unauthenticated_identities_enabled,
                }),
        },
        std::sync::Arc::new(session::SystemClock),
    );

    let socket_path = config.daemon.socket.clone();
    let listener = socket::bind(&socket_path, env.uid)?;
    tracing::info!(
        socket = %socket_path.display(),
        user_pool = %config.user_pool_id,
        endpoint = %config.user_pool_endpoint,
        "cognitod {} serving",
        env!("CARGO_PKG_VERSION")
    );

    let access = server::Access {
        own_uid: env.uid,
        allowed_uids: config.daemon.allowed_uids.clone(),
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let ecs = if config.ecs.enabled {
        let token_dir = socket_path.parent().unwrap_or(std::path::Path::new("."));
        let endpoint = ecs::Endpoint::bind(config.ecs.listen, token_dir, session.clone()).await?;
        let info = endpoint.info.clone();
        let mut stopping = stopping.clone();
        tokio::spawn(endpoint.serve(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }));
        Some(info)
    } else {
        None
    };
    server::serve(
        listener,
        api::router(session, stopping, ecs.clone()),
        access,
        config.daemon.max_connections,
        async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop.send(true);
        },
    )
    .await;
    socket::remove(&socket_path);
    if let Some(info) = &ecs {
        let _ = std::fs::remove_file(&info.token_file);
    }
    Ok(())
}

/// Makes the process not dumpable (no core files, no ptrace or `/proc/<pid>/mem` by other
/// processes of the same user): it holds tokens in memory.
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
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
pub async fn termination_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
