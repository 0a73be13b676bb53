//! cognitod: a local session daemon for Amazon Cognito.
//!
//! Modules depend one way: `api` → `session` → `cognito`, with `config`, `paths` and `socket`
//! below them. [`run`] wires them together; `main` only parses arguments.

pub mod api;
pub mod cognito;
pub mod config;
pub mod paths;
pub mod session;
pub mod socket;

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;

use crate::cognito::HttpUserPool;
use crate::cognito::jwt::{Rules, Verifier};
use crate::config::Config;
use crate::paths::Environment;

/// How long shutdown waits for requests already accepted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    let session = session::spawn(pool, verifier, config.user_pool_id.clone());

    let socket_path = config.daemon.socket.clone();
    let listener = socket::bind(&socket_path, env.uid)?;
    tracing::info!(
        socket = %socket_path.display(),
        user_pool = %config.user_pool_id,
        endpoint = %config.user_pool_endpoint,
        "cognitod {} serving",
        env!("CARGO_PKG_VERSION")
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut graceful_rx = stop_rx.clone();
    let server = axum::serve(listener, api::router(session)).with_graceful_shutdown(async move {
        let _ = graceful_rx.wait_for(|stop| *stop).await;
    });
    let server = tokio::spawn(server.into_future());
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(joined) => joined
            .context("the server task failed")?
            .context("serving the socket failed")?,
        Err(_) => tracing::warn!(
            "requests still open after {} s; closing them",
            SHUTDOWN_GRACE.as_secs()
        ),
    }
    drop(stop_rx);
    socket::remove(&socket_path);
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
