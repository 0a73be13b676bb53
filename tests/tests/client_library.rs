//! The async client library (`cognitod_client::Client`) against the real daemon: calls share
//! one keep-alive connection, a restarted daemon is reconnected to, and a stopped one is said
//! to be not running.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use cognitod_client::{Client, ClientError};
use cognitod_tests::signed_in_daemon;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn calls_share_one_connection_and_survive_a_restart() {
    let (_fake, mut daemon) = signed_in_daemon("");
    let accepted = |daemon: &cognitod_tests::daemon::TestDaemon| {
        daemon.log().matches("connection accepted").count()
    };
    runtime().block_on(async {
        let client = Client::new(&daemon.socket);
        let before = accepted(&daemon);
        for _ in 0..50 {
            assert_eq!(client.user().await.unwrap().username, "alice");
        }
        let session = client.session(false).await.unwrap();
        assert!(session.is_signed_in);
        // The log line is written as the daemon accepts; give it a moment to land.
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(accepted(&daemon) - before, 1, "51 calls on one connection");

        daemon.stop();
        match client.status().await {
            Err(error @ ClientError::NotRunning { .. }) => {
                assert!(error.to_string().contains("not running"), "{error}");
            }
            other => panic!("a stopped daemon is not running: {other:?}"),
        }
        daemon.restart();
        assert_eq!(client.user().await.unwrap().username, "alice");
    });
}
