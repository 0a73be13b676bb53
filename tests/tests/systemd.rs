//! Running under systemd, without a running systemd: the units checked offline, socket
//! activation through `systemd-socket-activate`, the notify protocol on a datagram socket the
//! test binds, SIGHUP reloads and SIGTERM during a burst.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, Fault, PoolOptions, UserSpec};
use cognitod_tests::{binary, raw_request, workspace_root};

const PASSWORD: &str = "Correct-Horse-9";

/// The units, with `ExecStart` pointing at the built daemon (verify fails on a missing one).
fn units_in(dir: &Path, kind: &str) -> Vec<std::path::PathBuf> {
    let target = dir.join(kind);
    std::fs::create_dir_all(&target).unwrap();
    ["cognitod.service", "cognitod.socket"]
        .iter()
        .map(|name| {
            let text =
                std::fs::read_to_string(workspace_root().join("systemd").join(kind).join(name))
                    .unwrap();
            let daemon = binary("cognitod");
            let text = text
                .lines()
                .map(|line| match line.strip_prefix("ExecStart=") {
                    Some(rest) => {
                        let args = rest.split_once(' ').map_or("", |(_, a)| a);
                        format!("ExecStart={} {args}", daemon.display())
                    }
                    None => line.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n");
            let path = target.join(name);
            std::fs::write(&path, text + "\n").unwrap();
            path
        })
        .collect()
}

fn analyze(user: bool, runtime: &Path, args: &[&str]) -> (bool, String) {
    let mut command = Command::new("systemd-analyze");
    if user {
        command.arg("--user");
    }
    let output = command
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime)
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/test.sh installs it)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn the_units_verify_and_meet_the_sandbox_scores() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    for (kind, user, threshold) in [("system", false, "15"), ("user", true, "20")] {
        let units = units_in(dir.path(), kind);
        // The system unit's peers are other users: inside PrivateUsers= they would all read as
        // 65534. (The user unit's only peer is its user, whom its namespace maps.)
        for unit in units.iter().filter(|_| kind == "system") {
            let text = std::fs::read_to_string(unit).unwrap();
            assert!(
                !text
                    .lines()
                    .any(|l| l.trim_start().starts_with("PrivateUsers=")),
                "{}: PrivateUsers= hides every peer's uid from the peer check",
                unit.display()
            );
        }
        let paths: Vec<&str> = units.iter().map(|p| p.to_str().unwrap()).collect();
        let mut verify = vec!["verify"];
        verify.extend(&paths);
        let (ok, text) = analyze(user, &runtime, &verify);
        assert!(ok, "{kind} units do not verify:\n{text}");
        let threshold = format!("--threshold={threshold}");
        let (ok, text) = analyze(
            user,
            &runtime,
            &["security", "--offline=yes", &threshold, paths[0]],
        );
        let score = text
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or("no score")
            .to_owned();
        println!("{kind} unit: {score}");
        assert!(ok, "{kind} unit over the threshold {threshold}:\n{text}");
    }
}

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`.
struct Notifications {
    socket: UnixDatagram,
}

impl Notifications {
    fn bind(path: &Path) -> Self {
        let socket = UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Notifications { socket }
    }

    /// Messages until one has a line starting with `wanted`, at most 20 s.
    fn until(&self, wanted: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buffer) {
                let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
                let found = message.lines().any(|l| l.starts_with(wanted));
                seen.push(message);
                if found {
                    return seen;
                }
            }
        }
        panic!("no {wanted} within 20 s; got {seen:?}");
    }
}

#[test]
fn socket_activation_readiness_watchdog_and_stopping() {
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let dir = tempfile::tempdir().unwrap();
    // A directory the daemon's own checks would refuse: an inherited socket is systemd's.
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = run.join("socket");
    let notify = dir.path().join("notify");
    let notifications = Notifications::bind(&notify);
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "{}[daemon]\nsocket = \"{}\"\nstate_dir = \"{}\"\n",
            fake.config_toml(),
            socket.display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let mut activator = Command::new("systemd-socket-activate")
        .arg("--listen")
        .arg(&socket)
        .arg(format!("--setenv=NOTIFY_SOCKET={}", notify.display()))
        .arg("--setenv=WATCHDOG_USEC=2000000")
        .arg(binary("cognitod"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first client is queued by the socket until the daemon starts and answers it.
    let login = cognitod_tests::daemon::ctl(
        &[
            "--socket",
            socket.to_str().unwrap(),
            "login",
            "alice",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert_eq!(login.code, 0, "{login:?}");

    let first = notifications.until("READY=1");
    assert!(
        first
            .last()
            .unwrap()
            .lines()
            .any(|l| l.starts_with("STATUS=")),
        "{first:?}"
    );
    notifications.until("STATUS=signed in as alice, refresh in ");
    notifications.until("WATCHDOG=1");

    let pid = rustix::process::Pid::from_raw(i32::try_from(activator.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    notifications.until("STOPPING=1");
    let status = activator.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mode = std::fs::metadata(&run).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o755,
        "the inherited socket's directory is left alone"
    );
}

#[test]
fn sighup_reloads_a_good_config_and_keeps_the_old_one_for_a_bad_one() {
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    // An explicit level: the secret sweep's RUST_LOG=trace would override it.
    let daemon = TestDaemon::start_with(&fake.config_toml(), "log_level = \"debug\"\n");
    let hup = || {
        let pid = rustix::process::Pid::from_raw(i32::try_from(daemon.pid()).unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(daemon.ctl(&["status"]).code, 0);
    assert!(daemon.log().contains("DEBUG"));

    let original = std::fs::read_to_string(&daemon.config_path).unwrap();
    std::fs::write(
        &daemon.config_path,
        original.replace("log_level = \"debug\"", "log_level = \"warn\""),
    )
    .unwrap();
    hup();
    assert!(daemon.log().contains("configuration reloaded"));
    let before = daemon.log().len();
    assert_eq!(daemon.ctl(&["status"]).code, 0);
    let login = daemon.ctl_stdin(
        &["login", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0);
    let after = daemon.log();
    assert!(
        !after[before..].contains("signed in"),
        "info lines are off now:\n{}",
        &after[before..]
    );

    std::fs::write(
        &daemon.config_path,
        format!("{original}\nno_such_key = 1\n"),
    )
    .unwrap();
    let before = daemon.log().len();
    hup();
    let after = daemon.log();
    assert!(
        after[before..].contains("was not reloaded"),
        "{}",
        &after[before..]
    );
    assert!(
        after[before..].contains("no_such_key"),
        "{}",
        &after[before..]
    );
    assert_eq!(
        daemon.ctl(&["whoami"]).stdout.trim(),
        "alice",
        "still serving"
    );
}

#[test]
fn sigterm_during_a_burst_answers_every_accepted_request() {
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let mut daemon = TestDaemon::start(&fake.config_toml());
    let login = daemon.ctl_stdin(
        &["login", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0);
    fake.fail_next("InitiateAuth", Fault::Delay(Duration::from_secs(2)), 1);
    let socket = daemon.socket.clone();
    let burst: Vec<_> = (0..20)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                raw_request(&socket, "GET", "/v1/session?forceRefresh=true", b"").status
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemon.stop().success(), "exit 0 after SIGTERM");
    for request in burst {
        assert_eq!(
            request.join().unwrap(),
            200,
            "an accepted request was answered"
        );
    }
    daemon.restart();
    assert_eq!(
        daemon.ctl(&["whoami"]).stdout.trim(),
        "alice",
        "still signed in"
    );
}

#[test]
fn sighup_moves_the_endpoints() {
    let first = FakeCognito::start(PoolOptions::default());
    let second = FakeCognito::start(PoolOptions::default());
    for fake in [&first, &second] {
        fake.add_user(UserSpec::new("alice", PASSWORD));
    }
    let daemon = TestDaemon::start(&first.config_toml());
    let text = std::fs::read_to_string(&daemon.config_path).unwrap();
    std::fs::write(
        &daemon.config_path,
        text.replace(&first.endpoint, &second.endpoint),
    )
    .unwrap();
    let pid = rustix::process::Pid::from_raw(i32::try_from(daemon.pid()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let login = daemon.ctl_stdin(
        &["login", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
    assert_eq!(first.calls("InitiateAuth"), 0);
    assert_eq!(
        second.calls("InitiateAuth"),
        1,
        "the sign-in went to the new endpoint"
    );
}
