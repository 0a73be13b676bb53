//! The binaries on their own: configuration checks, the socket's files, the API's error
//! contract and the client's exit codes. Cognito here is a closed port, so every upstream
//! call fails the way an unreachable Cognito does.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use cognitod_tests::daemon::{TestDaemon, ctl};
use cognitod_tests::{binary, free_port, raw_request};

fn unreachable_cognito() -> String {
    format!(
        "user_pool_id = \"us-east-1_Unreachable1\"\nuser_pool_client_id = \"client\"\nuser_pool_endpoint = \"http://127.0.0.1:{}\"\n",
        free_port()
    )
}

fn check_config(text: &str, files: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    std::fs::write(dir.path().join("config.toml"), text).unwrap();
    Command::new(binary("cognitod"))
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .arg("--check-config")
        .output()
        .unwrap()
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_redacted() {
    let text = "amplify_outputs = \"amplify_outputs.json\"\nclient_secret_file = \"secret\"\n[daemon]\nsocket = \"/tmp/x/socket\"\n";
    let output = check_config(
        text,
        &[
            ("secret", "very-secret-value\n"),
            (
                "amplify_outputs.json",
                r#"{"version": "1.4", "auth": {"aws_region": "eu-west-1",
                    "user_pool_id": "eu-west-1_Amplify1", "user_pool_client_id": "amplifyclient"}}"#,
            ),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.contains("user_pool_id = \"eu-west-1_Amplify1\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("client_secret = \"<redacted>\""),
        "{stdout}"
    );
    assert!(!stdout.contains("very-secret-value"), "{stdout}");
    assert!(stdout.contains("socket = \"/tmp/x/socket\""), "{stdout}");
}

#[test]
fn check_config_names_what_is_wrong() {
    let output = check_config(
        "user_pool_id = \"eu-west-1_A1\"\nuser_pool_client_id = \"c\"\nuser_pool_secret = \"x\"\n",
        &[],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("user_pool_secret"), "{stderr}");

    let output = check_config("user_pool_client_id = \"c\"\n", &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("user_pool_id"));

    let missing = Command::new(binary("cognitod"))
        .args(["--config", "/nonexistent/cognitod.toml", "--check-config"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/cognitod.toml"));
}

#[test]
fn cognitoctl_says_when_no_daemon_runs() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("socket");
    let output = ctl(&["--socket", socket.to_str().unwrap(), "status"], None);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("not running"), "{output:?}");
    assert!(
        output.stderr.contains(socket.to_str().unwrap()),
        "{output:?}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn the_socket_is_private() {
    let daemon = TestDaemon::start(&unreachable_cognito());
    let dir_mode = std::fs::metadata(daemon.socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let socket_mode = std::fs::symlink_metadata(&daemon.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(socket_mode & 0o777, 0o600);
}

#[test]
fn api_errors_follow_the_contract() {
    let daemon = TestDaemon::start(&unreachable_cognito());
    let socket = &daemon.socket;

    let status = raw_request(socket, "GET", "/v1/status", b"");
    assert_eq!(status.status, 200);
    assert!(
        status
            .head
            .to_lowercase()
            .contains("cognitod-api-version: 1"),
        "{}",
        status.head
    );
    assert_eq!(status.json()["apiVersion"], 1);

    let not_found = raw_request(socket, "GET", "/v2/status", b"");
    assert_eq!(
        (not_found.status, not_found.error_code()),
        (404, "NotFound".into())
    );

    let malformed = raw_request(
        socket,
        "POST",
        "/v1/sign-in",
        b"{\"username\": \"a\", \"password\": ",
    );
    assert_eq!(
        (malformed.status, malformed.error_code()),
        (400, "InvalidRequest".into())
    );

    let wrong_type = raw_request(
        socket,
        "POST",
        "/v1/sign-in",
        br#"{"username": "a", "password": "pw-in-the-wrong-place", "authFlowType": "pw-in-the-wrong-place"}"#,
    );
    assert_eq!(wrong_type.status, 400);
    assert!(
        !wrong_type.body.contains("pw-in-the-wrong-place"),
        "{}",
        wrong_type.body
    );

    let missing = raw_request(socket, "POST", "/v1/sign-in", br#"{"username": "a"}"#);
    assert_eq!(missing.status, 400);
    assert!(
        missing.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("password")
    );

    let big = vec![b'a'; 70 * 1024];
    let too_large = raw_request(socket, "POST", "/v1/sign-in", &big);
    assert_eq!(
        (too_large.status, too_large.error_code()),
        (413, "PayloadTooLarge".into())
    );

    let bad_query = raw_request(socket, "GET", "/v1/session?forceRefresh=maybe", b"");
    assert_eq!(
        (bad_query.status, bad_query.error_code()),
        (400, "InvalidRequest".into())
    );

    let user = raw_request(socket, "GET", "/v1/user", b"");
    assert_eq!(
        (user.status, user.error_code()),
        (401, "UserUnAuthenticatedException".into())
    );

    let session = raw_request(socket, "GET", "/v1/session", b"");
    assert_eq!(
        (session.status, session.json()),
        (200, serde_json::json!({"isSignedIn": false}))
    );

    let confirm = raw_request(
        socket,
        "POST",
        "/v1/sign-in/confirm",
        br#"{"challengeResponse": "123456"}"#,
    );
    assert_eq!(
        (confirm.status, confirm.error_code()),
        (409, "NoPendingSignInStep".into())
    );

    let sign_out = raw_request(socket, "POST", "/v1/sign-out", b"");
    assert_eq!(
        (sign_out.status, sign_out.json()),
        (
            200,
            serde_json::json!({"isSignedIn": false, "revoked": false})
        ),
        "an empty body is {{}}; nobody was signed in, nothing was revoked"
    );

    let sign_in = raw_request(
        socket,
        "POST",
        "/v1/sign-in",
        br#"{"username": "alice", "password": "pw", "unknownField": true}"#,
    );
    assert_eq!(
        (sign_in.status, sign_in.error_code()),
        (503, "UpstreamUnavailable".into())
    );
    assert!(sign_in.json()["error"]["recoverySuggestion"].is_string());

    // Still serving, still signed out.
    let status = raw_request(socket, "GET", "/v1/status", b"");
    assert_eq!(status.json()["state"], "signedOut");
}

#[test]
fn an_unreachable_cognito_is_reported_by_cognitoctl() {
    let daemon = TestDaemon::start(&unreachable_cognito());
    let login = daemon.ctl_stdin(
        &["--json", "login", "alice", "--password-stdin"],
        "hunter2-Long-Pass\n",
    );
    assert_eq!(login.code, 4, "{login:?}");
    assert!(login.error_code() == "UpstreamUnavailable", "{login:?}");
    assert!(!login.stderr.contains("hunter2") && !login.stdout.contains("hunter2"));
    assert!(!daemon.log().contains("hunter2"));
}

#[test]
fn sigterm_stops_the_daemon_cleanly_and_a_second_daemon_is_refused() {
    let mut daemon = TestDaemon::start(&unreachable_cognito());

    let second = Command::new(binary("cognitod"))
        .arg("--config")
        .arg(&daemon.config_path)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another cognitod"),
        "{second:?}"
    );

    let status = daemon.stop();
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    assert!(!daemon.socket.exists(), "the socket is removed at exit");
}

#[test]
fn every_oversized_request_gets_its_413() {
    let daemon = TestDaemon::start(&unreachable_cognito());
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    std::fs::write(&body, vec![b'a'; 4 * 1024 * 1024]).unwrap();
    // curl stops at a failed send (exit 55) before it reads an answer: the daemon must take
    // the rest of the body while the 413 is on its way.
    let mut outcomes = std::collections::BTreeMap::new();
    for chunked in [false, true].into_iter().cycle().take(40) {
        let output = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--unix-socket",
            ])
            .arg(&daemon.socket)
            .args(["-H", "Content-Type: application/json"])
            .args(
                chunked
                    .then_some(["-H", "Transfer-Encoding: chunked"])
                    .into_iter()
                    .flatten(),
            )
            .arg("--data-binary")
            .arg(format!("@{}", body.display()))
            .arg("http://localhost/v1/sign-in")
            .output()
            .unwrap();
        let outcome = format!(
            "chunked {chunked}: exit {} HTTP {}",
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout)
        );
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    assert_eq!(
        outcomes.keys().collect::<Vec<_>>(),
        [
            "chunked false: exit 0 HTTP 413",
            "chunked true: exit 0 HTTP 413"
        ],
        "{outcomes:?}"
    );
}

#[test]
fn a_client_still_sending_an_oversized_body_reads_its_413() {
    use std::io::{Read, Write};
    let daemon = TestDaemon::start(&unreachable_cognito());
    for round in 0..20 {
        // Like curl: the whole body first, then the answer; the body is declared too large.
        let mut stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
        let body = vec![b'a'; 600 * 1024];
        let head = format!(
            "POST /v1/sign-in HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        let sent = stream.write_all(&body);
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        assert!(
            sent.is_ok() && read.is_ok(),
            "round {round}: send {sent:?}, read {read:?}"
        );
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 413"), "round {round}: {text}");
    }
}
