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

/// A stand-in daemon on a socket of the test's: it answers the first request on each
/// connection with `{}` and keeps the connection; the second request on a connection is read
/// whole and the connection closed unanswered (a daemon that died with it in hand). Counts
/// the requests it read, by request line.
fn half_answering_server(
    socket: &std::path::Path,
) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let log = std::sync::Arc::clone(&log);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                for answered in [true, false] {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(value) =
                            line.to_ascii_lowercase().strip_prefix("content-length:")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    log.lock().unwrap().push(request_line.trim().to_owned());
                    if !answered {
                        return;
                    }
                    stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncognitod-api-version: 1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
                        .unwrap();
                }
            });
        }
    });
    seen
}

/// A daemon that read a request and closed without answering may have acted on it: a POST is
/// never sent again; a GET (a read) is, once, on a new connection.
#[test]
fn a_request_the_daemon_may_have_seen_is_resent_only_when_it_is_a_read() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        // POST: answered on a fresh connection, then dropped on the kept one: an error, and
        // the daemon saw it once.
        let socket = dir.path().join("post");
        let seen = half_answering_server(&socket);
        let client = Client::new(&socket);
        client.remember_device().await.unwrap();
        let dropped = client.remember_device().await;
        assert!(dropped.is_err(), "{dropped:?}");
        assert_eq!(
            *seen.lock().unwrap(),
            ["POST /v1/devices/current/remember HTTP/1.1"; 2],
            "each POST was sent once"
        );

        // GET: the dropped one is asked again on a new connection, and answered.
        let socket = dir.path().join("get");
        let seen = half_answering_server(&socket);
        let client = Client::new(&socket);
        client.attributes().await.unwrap();
        client.attributes().await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            ["GET /v1/user/attributes HTTP/1.1"; 3],
            "the second GET was sent twice"
        );
    });
}
