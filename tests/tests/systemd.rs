//! Running under systemd, without a running systemd: the units checked offline, socket
//! activation through `systemd-socket-activate`, the notify protocol on a datagram socket the
//! test binds, SIGHUP reloads and SIGTERM during a burst.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, Fault, PoolOptions, UserSpec};
use cognitod_tests::{binary, raw_request, workspace_root};

const PASSWORD: &str = "Correct-Horse-9";

/// The units of each kind: the plain pair and the profile templates.
const UNITS: [&str; 4] = [
    "cognitod.service",
    "cognitod.socket",
    "cognitod@.service",
    "cognitod@.socket",
];

/// The units of `kind` copied into `dir/kind`, with `ExecStart` pointing at the built daemon
/// (verify fails on a missing one).
fn units_in(dir: &Path, kind: &str) -> PathBuf {
    let target = dir.join(kind);
    std::fs::create_dir_all(&target).unwrap();
    let daemon = binary("cognitod");
    for name in UNITS {
        let text = unit_text(kind, name)
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
        std::fs::write(target.join(name), text + "\n").unwrap();
    }
    target
}

fn unit_text(kind: &str, name: &str) -> String {
    std::fs::read_to_string(workspace_root().join("systemd").join(kind).join(name)).unwrap()
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
        let target = units_in(dir.path(), kind);
        // The system units' peers are other users: inside PrivateUsers= they would all read as
        // 65534. (The user units' only peer is their user, whom their namespace maps.)
        for name in UNITS.iter().filter(|_| kind == "system") {
            let text = unit_text(kind, name);
            assert!(
                !text
                    .lines()
                    .any(|l| l.trim_start().starts_with("PrivateUsers=")),
                "{kind}/{name}: PrivateUsers= hides every peer's uid from the peer check"
            );
        }
        // A template is checked as an instance: systemd loads cognitod@test.service from
        // cognitod@.service, with the specifiers filled in.
        for (service, socket) in [
            ("cognitod.service", "cognitod.socket"),
            ("cognitod@test.service", "cognitod@test.socket"),
        ] {
            let service = target.join(service);
            let socket = target.join(socket);
            let paths = [service.to_str().unwrap(), socket.to_str().unwrap()];
            let mut verify = vec!["verify"];
            verify.extend(paths);
            let (ok, text) = analyze(user, &runtime, &verify);
            assert!(ok, "{kind} units {paths:?} do not verify:\n{text}");
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
            assert!(
                ok,
                "{kind} {} over the threshold {threshold}:\n{text}",
                paths[0]
            );
        }
    }
}

/// A unit file's settings as (section, key, value), comments and blank lines left out.
fn settings(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut found = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some((key, value)) = line.split_once('=') {
            found.push((section.clone(), key.to_owned(), value.to_owned()));
        }
    }
    found
}

/// The one value of `key` in `unit`.
fn value<'a>(unit: &'a [(String, String, String)], key: &str) -> &'a str {
    let values: Vec<&str> = unit
        .iter()
        .filter(|(_, k, _)| k == key)
        .map(|(_, _, v)| v.as_str())
        .collect();
    assert_eq!(values.len(), 1, "{key}= is set once: {values:?}");
    values[0]
}

/// What a template may set apart from its plain unit: everything that names the profile.
const PER_PROFILE: [&str; 10] = [
    "Description",
    "Requires",
    "After",
    "ExecStart",
    "StateDirectory",
    "RuntimeDirectory",
    "ConfigurationDirectory",
    "ConfigurationDirectoryMode",
    "AssertPathExists",
    "ListenStream",
];

#[test]
fn the_templates_give_each_profile_its_own_socket_state_and_daemon() {
    for (kind, socket_path, config) in [
        (
            "system",
            "/run/cognitod/profiles/%i/socket",
            "/etc/cognitod/profiles/%i.toml",
        ),
        (
            "user",
            "%t/cognitod/profiles/%i/socket",
            "%E/cognitod/profiles/%i.toml",
        ),
    ] {
        for (plain, template) in [
            ("cognitod.service", "cognitod@.service"),
            ("cognitod.socket", "cognitod@.socket"),
        ] {
            let template_settings = settings(&unit_text(kind, template));
            // %I unescapes the instance, turning a '-' in a profile name into a '/'.
            for (_, key, value) in &template_settings {
                assert!(!value.contains("%I"), "{kind}/{template}: {key}={value}");
            }
            // The same sandbox, modes and handling as the plain unit, line for line.
            let plain_settings = settings(&unit_text(kind, plain));
            let shared = |unit: &[(String, String, String)]| -> Vec<(String, String, String)> {
                unit.iter()
                    .filter(|(_, key, _)| !PER_PROFILE.contains(&key.as_str()))
                    .cloned()
                    .collect()
            };
            assert_eq!(
                shared(&template_settings),
                shared(&plain_settings),
                "{kind}/{template} differs from {kind}/{plain} beyond the profile's names"
            );
        }

        let service = settings(&unit_text(kind, "cognitod@.service"));
        let exec = value(&service, "ExecStart");
        assert!(exec.contains(" --profile %i"), "{kind}: ExecStart={exec}");
        if kind == "system" {
            assert!(exec.ends_with(&format!(" --config {config}")), "{exec}");
        }
        for key in ["Requires", "After"] {
            assert!(
                value(&service, key)
                    .split_whitespace()
                    .any(|unit| unit == "cognitod@%i.socket"),
                "{kind}: {key}= names the profile's own socket"
            );
        }
        // Profiles never share state or the container endpoint's token.
        for (key, wanted) in [
            ("StateDirectory", "cognitod/profiles/%i"),
            ("StateDirectoryMode", "0700"),
            ("RuntimeDirectory", "cognitod-ecs-%i"),
            ("RuntimeDirectoryMode", "0700"),
        ] {
            assert_eq!(value(&service, key), wanted, "{kind}/cognitod@.service");
        }

        let socket = settings(&unit_text(kind, "cognitod@.socket"));
        assert_eq!(value(&socket, "ListenStream"), socket_path, "{kind}");
        // A socket only for a profile with a config.
        assert_eq!(value(&socket, "AssertPathExists"), config, "{kind}");
        // Set, not left to systemd's defaults (0666 and 0755), and equal to the plain socket's
        // (compared above).
        for key in ["SocketMode", "DirectoryMode"] {
            assert!(!value(&socket, key).is_empty(), "{kind}: {key}=");
        }
        // systemd deletes a service's RuntimeDirectory= when it stops: the socket is not in
        // one.
        let runtime = format!("{}/", value(&service, "RuntimeDirectory"));
        let socket_dir = socket_path
            .trim_start_matches("%t/")
            .trim_start_matches("/run/");
        assert!(
            !socket_dir.starts_with(&runtime),
            "{socket_path} in {runtime}"
        );
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
