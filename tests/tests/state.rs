//! The state directory and reloads: one daemon per state directory, a stored session of
//! another pool set aside (and removed at sign-out), reloads that never half apply a change of
//! pool or client, and a uid a reload removes loses its open connections.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::{PASSWORD, sign_in_alice, signed_in_daemon};

fn hangup(daemon: &TestDaemon) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(daemon.pid()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
}

#[test]
fn two_daemons_never_share_a_state_directory() {
    let (_fake, daemon) = signed_in_daemon("");
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(&daemon.config_path)
        .unwrap()
        .replace(
            &daemon.socket.display().to_string(),
            &dir.path().join("other/socket").display().to_string(),
        );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let (code, text) = cognitod_tests::daemon::cognitod_refuses(&path);
    assert_ne!(code, 0);
    assert!(
        text.contains("another cognitod uses the state directory"),
        "{text}"
    );
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "alice");
}

#[test]
fn a_stored_session_of_another_pool_is_set_aside_and_removed_at_sign_out() {
    let (_fake, mut daemon) = signed_in_daemon("");
    daemon.stop();
    let other = FakeCognito::start(PoolOptions {
        pool_id: "us-east-1_OtherPool2".into(),
        client_id: "otherclient1234567890abc".into(),
        ..PoolOptions::default()
    });
    other.add_user(UserSpec::new("alice", PASSWORD));
    let config = std::fs::read_to_string(&daemon.config_path).unwrap();
    let daemon_section = config.split_once("[daemon]").unwrap().1;
    std::fs::write(
        &daemon.config_path,
        format!("{}\n[daemon]{daemon_section}", other.config_toml()),
    )
    .unwrap();
    daemon.restart();
    assert_eq!(
        daemon.ctl(&["whoami"]).code,
        1,
        "not served for the new pool"
    );
    let set_aside = || {
        std::fs::read_dir(daemon.state_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("session.json."))
            .count()
    };
    assert_eq!(set_aside(), 1, "{}", daemon.log());
    sign_in_alice(&daemon);
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    assert_eq!(set_aside(), 0, "removed at sign-out");
}

#[test]
fn a_reload_that_changes_the_client_applies_none_of_it() {
    let (_fake, daemon) = signed_in_daemon("");
    let config = std::fs::read_to_string(&daemon.config_path).unwrap();
    std::fs::write(
        &daemon.config_path,
        config.replace(
            "user_pool_client_id = \"fakeclient1234567890abcdef\"",
            "user_pool_client_id = \"anotherclient0987654321\"",
        ),
    )
    .unwrap();
    hangup(&daemon);
    daemon.wait_for_log("take effect only after a restart", 1);
    let refreshed = daemon.ctl(&["session", "--force-refresh"]);
    assert_eq!(
        refreshed.code, 0,
        "tokens of the running client are still accepted: {refreshed:?}"
    );
}

#[test]
fn a_uid_removed_at_reload_loses_its_open_connections() {
    if !cognitod_tests::can_run(cognitod_tests::is_root(), "root, to run a second uid") {
        return;
    }
    let uid = 2301;
    let (_fake, daemon) = signed_in_daemon(&format!("allowed_uids = [{uid}]\n"));
    // Let the second uid reach the socket; the peer check is the gate.
    use std::os::unix::fs::PermissionsExt;
    for path in [daemon.socket.parent().unwrap(), daemon.dir.path()] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&daemon.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    // An event stream of that uid (a request that never ends): it waits for the close.
    let script = r#"
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
print("answered" if s.recv(65536).startswith(b"HTTP/1.1 200") else "refused", flush=True)
s.settimeout(30)
started = time.time()
while s.recv(65536):
    pass
print("closed after %.1f s" % (time.time() - started), flush=True)
"#;
    let mut client = std::process::Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
        ])
        .args(["/usr/bin/python3", "-c", script])
        .arg(&daemon.socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(client.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "answered");
    let config = std::fs::read_to_string(&daemon.config_path).unwrap();
    std::fs::write(
        &daemon.config_path,
        config.replace(&format!("allowed_uids = [{uid}]"), "allowed_uids = []"),
    )
    .unwrap();
    hangup(&daemon);
    let closed = lines.next().unwrap().unwrap();
    assert!(closed.starts_with("closed after"), "{closed}");
    let seconds: f64 = closed
        .trim_start_matches("closed after ")
        .trim_end_matches(" s")
        .parse()
        .unwrap();
    assert!(seconds < 4.0, "{closed}");
    client.wait().unwrap();
}
