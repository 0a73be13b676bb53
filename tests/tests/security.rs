//! Persistence across restarts and crashes, private files and directories, the peer check,
//! a non-dumpable process, and logs without secrets. The real binaries against the fake.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use cognitod_tests::daemon::{TestDaemon, cognitod_refuses};
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::{PASSWORD, binary, raw_request, signed_in_daemon};
use serde_json::Value;
const NOBODY: u32 = 65534;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o777
}

#[test]
fn a_restart_and_a_kill_9_keep_the_session_without_a_new_sign_in() {
    let (fake, mut daemon) = signed_in_daemon("");
    let before = json(&daemon.ctl(&["session", "--json"]).stdout);
    let sign_ins = fake.calls("InitiateAuth");

    assert!(daemon.stop().success());
    daemon.restart();
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "alice");
    assert_eq!(json(&daemon.ctl(&["session", "--json"]).stdout), before);

    daemon.kill();
    assert!(daemon.socket.exists(), "kill -9 leaves the socket behind");
    daemon.restart();
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "alice");
    let user = json(&daemon.ctl(&["whoami", "--json"]).stdout);
    assert_eq!(user["signInDetails"]["authFlowType"], "USER_SRP_AUTH");
    assert_eq!(
        fake.calls("InitiateAuth"),
        sign_ins,
        "no new sign-in, no refresh"
    );

    // The restored refresh token still works.
    let refreshed = daemon.ctl(&["session", "--force-refresh", "--json"]);
    assert_eq!(refreshed.code, 0, "{refreshed:?}");
    assert_eq!(fake.calls("InitiateAuth"), sign_ins + 1);
}

#[test]
fn the_state_file_is_private_and_sign_out_empties_it() {
    let (_fake, daemon) = signed_in_daemon("");
    let state_dir = daemon.state_dir();
    let file = state_dir.join("session.json");
    assert_eq!(mode(&state_dir), 0o700);
    assert_eq!(mode(&file), 0o600);
    let stored = json(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(stored["version"], 1);
    assert_eq!(stored["user"]["username"], "alice");

    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    let stored = json(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(stored, serde_json::json!({"version": 1}));
    let mut names: Vec<String> = std::fs::read_dir(&state_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["lock", "session.json"],
        "no temporary files are left (the lock is the daemon's)"
    );
    assert_eq!(mode(&state_dir.join("lock")), 0o600);
}

#[test]
fn persist_false_writes_nothing() {
    let (_fake, mut daemon) = signed_in_daemon("persist = false\n");
    assert!(!daemon.state_dir().exists());
    assert!(daemon.stop().success());
    daemon.restart();
    assert_eq!(
        daemon.ctl(&["whoami"]).code,
        1,
        "signed out after a restart"
    );
}

#[test]
fn a_corrupt_state_file_is_moved_aside_and_the_daemon_starts_signed_out() {
    let (_fake, mut daemon) = signed_in_daemon("");
    assert!(daemon.stop().success());
    let file = daemon.state_dir().join("session.json");
    std::fs::write(&file, "{\"version\": 1, \"user\": {\"username\": ").unwrap();
    daemon.restart();
    assert_eq!(daemon.ctl(&["whoami"]).code, 1);
    let aside: Vec<_> = std::fs::read_dir(daemon.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("session.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(
        daemon.log().contains("the state file is unusable"),
        "{}",
        daemon.log()
    );
    assert_eq!(
        daemon
            .ctl_stdin(
                &["login", "alice", "--password-stdin"],
                &format!("{PASSWORD}\n")
            )
            .code,
        0,
        "a new sign-in works"
    );
}

#[test]
fn unsafe_state_and_socket_directories_stop_the_daemon_with_the_fix() {
    let fake = FakeCognito::start(PoolOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o770)).unwrap();
    let run = dir.path().join("run");

    let cases = [
        (
            format!("state_dir = \"{}\"", link.display()),
            "symbolic link",
            link.clone(),
        ),
        (
            format!("state_dir = \"{}\"", open.display()),
            "chmod 700",
            open.clone(),
        ),
        (
            format!(
                "state_dir = \"{}\"\nsocket = \"{}/socket\"",
                real.display(),
                open.display()
            ),
            "chmod 700",
            open.clone(),
        ),
    ];
    for (daemon_lines, fix, named) in cases {
        let socket_line = if daemon_lines.contains("socket") {
            String::new()
        } else {
            format!("socket = \"{}/socket\"\n", run.display())
        };
        let config = format!(
            "{}[daemon]\n{socket_line}{daemon_lines}\n",
            fake.config_toml()
        );
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).unwrap();
        let (code, output) = cognitod_refuses(&path);
        assert_ne!(code, 0);
        assert!(output.contains(fix), "{daemon_lines}: {output}");
        assert!(
            output.contains(named.to_str().unwrap()),
            "{daemon_lines}: {output}"
        );
    }

    if cognitod_tests::is_root() {
        let foreign = dir.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&foreign, Some(NOBODY), Some(NOBODY)).unwrap();
        let config = format!(
            "{}[daemon]\nsocket = \"{}/socket\"\nstate_dir = \"{}\"\n",
            fake.config_toml(),
            foreign.display(),
            real.display()
        );
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).unwrap();
        let (_, output) = cognitod_refuses(&path);
        assert!(output.contains("owned by uid 65534"), "{output}");
    }
}

#[test]
fn a_stale_socket_is_replaced_and_a_foreign_file_is_not() {
    let fake = FakeCognito::start(PoolOptions::default());
    let mut daemon = TestDaemon::start(&fake.config_toml());
    daemon.kill();
    assert!(daemon.socket.exists());
    daemon.restart();
    assert_eq!(daemon.ctl(&["status"]).code, 0);
    assert!(daemon.stop().success());

    std::fs::write(&daemon.socket, "not a socket").unwrap();
    let (_, output) = cognitod_refuses(&daemon.config_path);
    assert!(output.contains("is not a socket"), "{output}");
    assert_eq!(
        std::fs::read_to_string(&daemon.socket).unwrap(),
        "not a socket"
    );
}

/// A copy of a binary that `nobody` can run wherever the checkout lives.
fn binary_for_nobody(name: &str, dir: &Path) -> std::path::PathBuf {
    let copy = dir.join(name);
    std::fs::copy(binary(name), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// Runs `cognitoctl` as `nobody`.
fn ctl_as_nobody(socket: &Path, args: &[&str]) -> std::process::Output {
    let dir = socket.parent().unwrap();
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(binary_for_nobody("cognitoctl", dir))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

/// Opens the socket and its directories to everyone, so only the peer check stands between
/// another user and the daemon.
fn open_up(socket: &Path) {
    let mut dir = socket.parent().unwrap().to_path_buf();
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    while dir != Path::new("/tmp") && dir.parent().is_some() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir.pop();
    }
}

#[test]
fn another_user_is_refused_by_the_peer_check_unless_allowed() {
    if !cognitod_tests::can_run(cognitod_tests::is_root(), "root (switching to another uid)") {
        return;
    }
    let (_fake, refusing) = signed_in_daemon("");
    open_up(&refusing.socket);
    let refused = ctl_as_nobody(&refusing.socket, &["session"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("may not use this cognitod"), "{stderr}");
    assert!(refused.stdout.is_empty());
    let refused = ctl_as_nobody(&refusing.socket, &["session", "--json"]);
    let answer: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(refused.status.code(), Some(1), "{answer}");
    assert_eq!(answer["error"]["code"], "Forbidden", "{answer}");
    assert!(answer.get("tokens").is_none(), "{answer}");
    let log = refusing.log();
    assert!(log.contains("refused a connection"), "{log}");
    assert!(log.contains("uid=65534"), "{log}");

    let (_fake, allowing) = signed_in_daemon("allowed_uids = [65534]\n");
    open_up(&allowing.socket);
    let allowed = ctl_as_nobody(&allowing.socket, &["whoami"]);
    assert_eq!(
        allowed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&allowed.stdout).trim(), "alice");
    let session = ctl_as_nobody(&allowing.socket, &["session", "--json"]);
    assert_eq!(session.status.code(), Some(0));
    // Tokens handed out are logged with the peer.
    allowing.wait_for_handouts("session tokens handed out", "uid=65534", 1);
}

/// In system-wide mode another allowed user reads the session but may not change the account:
/// 403 for every account call (the daemon's uid and root only), logged with their uid, and
/// the account is untouched.
#[test]
fn another_allowed_user_may_not_change_the_account() {
    if !cognitod_tests::can_run(cognitod_tests::is_root(), "root (switching to another uid)") {
        return;
    }
    let (fake, daemon) = signed_in_daemon(&format!("allowed_uids = [{NOBODY}]\n"));
    open_up(&daemon.socket);
    let whoami = ctl_as_nobody(&daemon.socket, &["whoami"]);
    assert_eq!(whoami.status.code(), Some(0), "{whoami:?}");
    for args in [
        &["attributes", "--json"][..],
        &["delete-account", "--confirm", "alice", "--json"],
        &["mfa", "set", "totp=enabled", "--json"],
        &["resend-code", "alice", "--json"],
    ] {
        let refused = ctl_as_nobody(&daemon.socket, args);
        let answer = json(&String::from_utf8_lossy(&refused.stdout));
        assert_eq!(answer["error"]["code"], "Forbidden", "{args:?}: {answer}");
        assert_eq!(refused.status.code(), Some(1), "{args:?}: {answer}");
    }
    assert!(fake.user_exists("alice"));
    assert_eq!(fake.calls("GetUser") + fake.calls("DeleteUser"), 0);
    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.contains("account call refused") && l.contains("uid=65534")),
        "{log}"
    );
    // The daemon's own uid (root here) may.
    let own = daemon.ctl(&["attributes"]);
    assert_eq!(own.code, 0, "{own:?}");
}

/// Twenty-five users at once, four requests each, against one daemon configured as a
/// system-wide one (socket open to all, `allowed_uids`): the four allowed users get their
/// answers, the other 21 get 403 and not a byte of the session.
#[test]
fn many_uids_at_once_only_allowed_ones_get_answers() {
    if !cognitod_tests::can_run(cognitod_tests::is_root(), "root (switching to other uids)") {
        return;
    }
    let allowed = [2003_u32, 2010, 2017, 2024];
    let (_fake, daemon) = signed_in_daemon(&format!("allowed_uids = {allowed:?}\n"));
    open_up(&daemon.socket);
    let dir = daemon.socket.parent().unwrap();
    let cognitoctl = binary_for_nobody("cognitoctl", dir);
    let commands: [&[&str]; 4] = [
        &["whoami"],
        &["session", "--json"],
        &["token", "access"],
        &["status", "--json"],
    ];
    let runs: Vec<_> = (2000..2025_u32)
        .flat_map(|uid| commands.iter().map(move |args| (uid, *args)))
        .map(|(uid, args)| {
            let child = Command::new("setpriv")
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={uid}"))
                .arg("--clear-groups")
                .arg(&cognitoctl)
                .arg("--socket")
                .arg(&daemon.socket)
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (uid, args, child)
        })
        .collect();
    let (mut answered, mut refused) = (0, 0);
    for (uid, args, child) in runs {
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if allowed.contains(&uid) {
            assert_eq!(
                output.status.code(),
                Some(0),
                "uid {uid} {args:?}: {stderr}"
            );
            assert!(!output.stdout.is_empty());
            answered += 1;
        } else {
            assert_eq!(
                output.status.code(),
                Some(1),
                "uid {uid} {args:?}: {stderr}"
            );
            let stdout = String::from_utf8_lossy(&output.stdout);
            if args.contains(&"--json") {
                let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                assert_eq!(answer["error"]["code"], "Forbidden", "uid {uid} {args:?}");
            } else {
                assert!(
                    stderr.contains("may not use this cognitod"),
                    "uid {uid} {args:?}: {stderr}"
                );
                assert!(stdout.is_empty(), "uid {uid} {args:?}");
            }
            refused += 1;
        }
    }
    println!("25 uids at once: {answered} requests answered, {refused} refused");
    assert_eq!((answered, refused), (16, 84));
    let log = daemon.log();
    assert!(log.contains("uid=2001"), "refusals are logged with the uid");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn the_daemon_is_not_dumpable() {
    if !cognitod_tests::can_run(
        cognitod_tests::is_root(),
        "root (starting the daemon as another uid)",
    ) {
        return;
    }
    let fake = FakeCognito::start(PoolOptions::default());
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.path().join("nobody");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&home, Some(NOBODY), Some(NOBODY)).unwrap();
    let config = home.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "{}[daemon]\nsocket = \"{}/run/socket\"\nstate_dir = \"{}/state\"\n",
            fake.config_toml(),
            home.display(),
            home.display()
        ),
    )
    .unwrap();
    std::os::unix::fs::chown(&config, Some(NOBODY), Some(NOBODY)).unwrap();
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(binary_for_nobody("cognitod", dir.path()))
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let socket = home.join("run/socket");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !socket.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let proc = Path::new("/proc").join(child.id().to_string());
    let environ_owner = std::fs::metadata(proc.join("environ")).map(|m| m.uid());
    let limits = std::fs::read_to_string(proc.join("limits")).unwrap_or_default();
    let answered = socket.exists() && raw_request(&socket, "GET", "/v1/status", b"").status == 200;
    let _ = child.kill();
    let _ = child.wait();
    assert!(answered, "the daemon served as nobody");
    assert_eq!(
        environ_owner.unwrap(),
        0,
        "a non-dumpable process's /proc files belong to root"
    );
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert!(core.split_whitespace().nth(4) == Some("0"), "{core}");
}

#[test]
fn a_debug_log_of_a_whole_session_holds_no_secret() {
    let (fake, daemon) = signed_in_daemon("");
    let session = json(&daemon.ctl(&["session", "--json"]).stdout);
    let refreshed = json(&daemon.ctl(&["session", "--force-refresh", "--json"]).stdout);
    let refresh_tokens: Vec<String> = fake
        .with_pool(|p| p.refresh_tokens("alice"))
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    let log = daemon.log();
    assert!(log.contains("DEBUG"), "the log is at debug level");
    let mut secrets = vec![PASSWORD.to_owned()];
    for s in [&session, &refreshed] {
        for kind in ["idToken", "accessToken"] {
            let token = s["tokens"][kind].as_str().unwrap().to_owned();
            secrets.push(token.rsplit('.').next().unwrap().to_owned());
            secrets.push(token);
        }
    }
    secrets.extend(refresh_tokens);
    assert!(secrets.len() >= 6);
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret is in the log:\n{log}"
        );
    }
}

#[test]
fn a_stalled_client_is_cut_off_and_cannot_hold_shutdown() {
    use std::io::{Read, Write};
    let fake = FakeCognito::start(PoolOptions::default());
    let mut daemon = TestDaemon::start(&fake.config_toml());
    let mut stalled = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    stalled
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: local")
        .unwrap();
    stalled
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let _ = stalled.read_to_end(&mut answer);
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(4) && waited < std::time::Duration::from_secs(14),
        "closed after {waited:?}: the header-read timeout is 5 s"
    );

    let mut held = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    held.write_all(b"GET /v1/status HTTP/1.1\r\n").unwrap();
    assert!(
        daemon.stop().success(),
        "shutdown finished despite a half-sent request"
    );
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs");
        Tmpfs(path.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_keeps_the_old_state_reports_it_and_recovers() {
    if !cognitod_tests::can_run(cognitod_tests::is_root(), "root (mounting a small tmpfs)") {
        return;
    }
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let state = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&state.path().join("state"), "64k");
    let daemon = TestDaemon::start_with(
        &fake.config_toml(),
        &format!("state_dir = \"{}\"\n", disk.0.display()),
    );
    let login = daemon.ctl_stdin(
        &["login", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
    let file = disk.0.join("session.json");
    let before = std::fs::read_to_string(&file).unwrap();

    // Fill the disk, then make the daemon write.
    let filler = disk.0.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1k", "count=128"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    let refreshed = daemon.ctl(&["session", "--force-refresh", "--json"]);
    assert_eq!(refreshed.code, 0, "serving goes on: {refreshed:?}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "the old state is intact"
    );
    let status = json(&daemon.ctl(&["status", "--json"]).stdout);
    let error = status["stateFileError"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("session.json"), "{status}");
    assert!(
        daemon.log().contains("kept in memory only"),
        "{}",
        daemon.log()
    );
    assert!(
        daemon
            .ctl(&["status"])
            .stdout
            .contains("state file: not written")
    );

    // Space again: the next write lands and the error is gone.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(daemon.ctl(&["session", "--force-refresh"]).code, 0);
    let status = json(&daemon.ctl(&["status", "--json"]).stdout);
    assert!(status.get("stateFileError").is_none(), "{status}");
    assert_ne!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "persisting resumed"
    );
    drop(daemon);
}
