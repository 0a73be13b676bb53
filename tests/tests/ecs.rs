//! The container credentials endpoint's life: a token tied to its port (a restart never hands
//! the new token to the old port), an endpoint that cannot start leaves the socket served,
//! IPv6 loopback, and the socket's limits on its connections.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::io::Read;
use std::time::{Duration, Instant};

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::{PASSWORD, sign_in_alice, tcp_request};
use serde_json::Value;

fn status(daemon: &TestDaemon) -> Value {
    serde_json::from_str(&daemon.ctl(&["--json", "status"]).stdout).unwrap()
}

/// The endpoint's URL and token file, from the status.
fn endpoint(daemon: &TestDaemon) -> (String, String) {
    let status = status(daemon);
    let ecs = &status["ecs"];
    (
        ecs["url"]
            .as_str()
            .unwrap_or_else(|| panic!("{status}"))
            .to_owned(),
        ecs["tokenFile"].as_str().unwrap().to_owned(),
    )
}

fn host_of(url: &str) -> &str {
    url.trim_start_matches("http://").trim_end_matches('/')
}

fn daemon_with(ecs_lines: &str) -> (FakeCognito, TestDaemon) {
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let config = format!(
        "{}[ecs]\nenabled = true\n{ecs_lines}",
        fake.config_toml_with_identity_pool()
    );
    let daemon = TestDaemon::start(&config);
    sign_in_alice(&daemon);
    (fake, daemon)
}

#[test]
fn a_restart_never_hands_the_new_token_to_the_old_port() {
    let (_fake, mut daemon) = daemon_with("");
    let (old_url, old_file) = endpoint(&daemon);
    let old_port = host_of(&old_url).rsplit(':').next().unwrap().to_owned();
    assert!(
        old_file.ends_with(&format!("ecs-token-{old_port}")),
        "the token file names its port: {old_file}"
    );
    let old_token = std::fs::read_to_string(&old_file).unwrap();

    daemon.stop();
    assert!(!std::path::Path::new(&old_file).exists(), "removed at stop");
    daemon.restart();
    let (new_url, new_file) = endpoint(&daemon);
    assert!(
        !std::path::Path::new(&old_file).exists() || new_url == old_url,
        "a shell that kept the old URL finds no token for it"
    );
    let new_token = std::fs::read_to_string(&new_file).unwrap();
    assert_ne!(new_token, old_token);

    // Killed: its file stays behind until the next start removes it.
    daemon.kill();
    assert!(std::path::Path::new(&new_file).exists());
    daemon.restart();
    let (_, newest_file) = endpoint(&daemon);
    let left: Vec<_> = std::fs::read_dir(std::path::Path::new(&newest_file).parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ecs-token"))
        .collect();
    assert_eq!(left.len(), 1, "only the live endpoint's token: {left:?}");
}

#[test]
fn ipv6_loopback_builds_the_url_and_the_host_check_from_the_bound_address() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        println!("skipped: no IPv6 loopback on this machine");
        return;
    }
    let (_fake, daemon) = daemon_with("listen = \"[::1]:0\"\n");
    let (url, file) = endpoint(&daemon);
    assert!(url.starts_with("http://[::1]:"), "{url}");
    let token = std::fs::read_to_string(file).unwrap();
    let (code, body) = tcp_request(&url, &[("Host", host_of(&url)), ("Authorization", &token)]);
    assert_eq!(code, 200, "{body}");
    assert!(body["AccessKeyId"].is_string(), "{body}");
}

#[test]
fn an_endpoint_that_cannot_start_leaves_the_socket_served() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (_fake, daemon) = daemon_with(&format!("listen = \"127.0.0.1:{port}\"\n"));
    let status = status(&daemon);
    assert_eq!(status["state"], "signedIn", "{status}");
    assert!(status["ecs"].is_null(), "{status}");
    assert!(
        status["ecsError"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{status}"
    );
    let human = daemon.ctl(&["status"]).stdout;
    assert!(human.contains("container endpoint: not served"), "{human}");
    assert_eq!(
        daemon.ctl(&["credentials"]).code,
        0,
        "the socket still serves"
    );
}

#[test]
fn idle_connections_cannot_exhaust_the_endpoint() {
    let (_fake, daemon) = daemon_with("");
    let (url, file) = endpoint(&daemon);
    let token = std::fs::read_to_string(file).unwrap();
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", daemon.pid()))
            .unwrap()
            .count()
    };
    let before = fds();
    let idle: Vec<_> = (0..300)
        .map(|_| std::net::TcpStream::connect(host_of(&url)).unwrap())
        .collect();
    // A working client still gets its answer: the oldest idle connection makes room.
    let (code, body) = tcp_request(&url, &[("Host", host_of(&url)), ("Authorization", &token)]);
    assert_eq!(code, 200, "{body}");
    std::thread::sleep(Duration::from_millis(500));
    let during = fds();
    assert!(
        during < before + 100,
        "{} idle connections held {} descriptors",
        idle.len(),
        during - before
    );
    // Those still open are closed when they send no request within the header timeout.
    let mut last = idle.into_iter().last().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    let read = last.read(&mut buffer);
    assert!(
        matches!(read, Ok(0)) || read.is_err() && started.elapsed() < Duration::from_secs(15),
        "{read:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
