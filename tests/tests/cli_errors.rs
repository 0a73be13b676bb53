//! What a new user met at the command line, through the real binaries: closed pipes, empty
//! answers, mistyped log levels, the end of the event stream, configuration errors told apart
//! from outages, an honest sign-out, and messages that say the cause first and the fix last.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cognitod_tests::daemon::{CtlOutput, TestDaemon, ctl, run_briefly};
use cognitod_tests::fake::{FakeCognito, Fault, PoolOptions, UserSpec};
use cognitod_tests::terminal::Terminal;
use cognitod_tests::{PASSWORD, binary, free_port, signed_in_daemon};

fn unreachable_cognito() -> String {
    format!(
        "user_pool_id = \"us-east-1_Unreachable1\"\nuser_pool_client_id = \"client\"\nuser_pool_endpoint = \"http://127.0.0.1:{}\"\n",
        free_port()
    )
}

/// A standard output whose reader is already gone: every write fails with `EPIPE`.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(reader);
    Stdio::from(std::os::fd::OwnedFd::from(writer))
}

fn ctl_without_terminal(daemon: &TestDaemon, args: &[&str]) -> CtlOutput {
    // A new session has no controlling terminal: /dev/tty cannot be opened.
    let output = Command::new("setsid")
        .arg("--wait")
        .arg(binary("cognitoctl"))
        .arg("--socket")
        .arg(&daemon.socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    CtlOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let (_fake, daemon) = signed_in_daemon("");
    let socket = daemon.socket.to_str().unwrap();
    let commands: [&[&str]; 7] = [
        &["status"],
        &["session"],
        &["--json", "session"],
        &["whoami"],
        &["token", "id"],
        &["--help"],
        &["--version"],
    ];
    for args in commands {
        let output = Command::new(binary("cognitoctl"))
            .arg("--socket")
            .arg(socket)
            .args(args)
            .stdin(Stdio::null())
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.is_empty() && output.status.code() == Some(0),
            "cognitoctl {args:?}: {:?} {stderr}",
            output.status
        );
    }
    let check = Command::new(binary("cognitod"))
        .arg("--config")
        .arg(&daemon.config_path)
        .arg("--check-config")
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        check.stderr.is_empty() && check.status.code() == Some(0),
        "{check:?}"
    );
}

#[test]
fn ctrl_d_or_an_empty_answer_sends_nothing() {
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    fake.add_user(UserSpec {
        totp_secret: Some(b"totp-secret-for-tess".to_vec()),
        ..UserSpec::new("tess", PASSWORD)
    });
    let daemon = TestDaemon::start(&fake.config_toml());
    let socket = daemon.socket.to_str().unwrap().to_owned();
    let cognitoctl = binary("cognitoctl");

    let mut terminal = Terminal::spawn(&cognitoctl, &["--socket", &socket, "login", "alice"]);
    terminal.expect("Password: ");
    terminal.end_of_input();
    let (code, screen) = terminal.finish();
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("nothing was sent"), "{screen}");

    let mut terminal = Terminal::spawn(&cognitoctl, &["--socket", &socket, "login", "alice"]);
    terminal.expect("Password: ");
    terminal.type_line("");
    let (code, screen) = terminal.finish();
    assert_eq!(code, 2, "{screen}");

    for stdin in ["", "\n"] {
        let empty = daemon.ctl_stdin(&["login", "alice", "--password-stdin"], stdin);
        assert_eq!(empty.code, 2, "{empty:?}");
    }
    let no_name = daemon.ctl_stdin(&["login", " ", "--password-stdin"], "pw\n");
    assert_eq!(no_name.code, 2, "{no_name:?}");
    assert!(no_name.stderr.contains("username is empty"), "{no_name:?}");
    assert_eq!(fake.calls("InitiateAuth"), 0, "nothing reached Cognito");

    // Ctrl-D at the new-password prompt, then at a code prompt: no answer is sent.
    fake.add_user(UserSpec {
        force_change_password: true,
        ..UserSpec::new("nina", PASSWORD)
    });
    let mut terminal = Terminal::spawn(&cognitoctl, &["--socket", &socket, "login", "nina"]);
    terminal.expect("Password: ");
    terminal.type_line(PASSWORD);
    terminal.expect("New password: ");
    terminal.end_of_input();
    let (code, screen) = terminal.finish();
    assert_eq!(code, 2, "{screen}");
    assert_eq!(
        fake.calls("RespondToAuthChallenge"),
        1,
        "only the password verifier was answered"
    );
    assert_eq!(daemon.ctl(&["logout"]).code, 0, "ends the pending sign-in");

    let mut terminal = Terminal::spawn(&cognitoctl, &["--socket", &socket, "login", "tess"]);
    terminal.expect("Password: ");
    terminal.type_line(PASSWORD);
    terminal.expect("TOTP code from your authenticator: ");
    terminal.end_of_input();
    let (code, screen) = terminal.finish();
    assert_eq!(code, 2, "{screen}");
    assert_eq!(
        fake.calls("RespondToAuthChallenge"),
        2,
        "only the password verifiers were answered"
    );
}

#[test]
fn log_levels_are_read_in_any_case_and_typos_are_refused() {
    let daemon = TestDaemon::start_with(&unreachable_cognito(), "log_level = \"Info\"\n");
    // At info level: the start is logged (the socket answers a moment before the line lands).
    daemon.wait_for_log("serving", 1);
    let config = daemon.config_path.to_str().unwrap();

    for (args, env) in [
        (vec!["--config", config, "--log-level", "debg"], vec![]),
        (
            vec!["--config", config],
            vec![("RUST_LOG", "cognitod=loud")],
        ),
    ] {
        let (code, text) = run_briefly("cognitod", &args, &env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {text}");
        assert!(
            text.contains("off, error, warn, info, debug, trace"),
            "{text}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!("{}[daemon]\nlog_level = \"loud\"\n", unreachable_cognito()),
    )
    .unwrap();
    let (code, text) = run_briefly(
        "cognitod",
        &["--config", path.to_str().unwrap(), "--check-config"],
        &[],
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("\"loud\" is not a log level"), "{text}");
}

#[test]
fn the_end_of_the_event_stream_is_said_and_is_not_success() {
    let mut daemon = TestDaemon::start(&unreachable_cognito());
    let events = Command::new(binary("cognitoctl"))
        .arg("--socket")
        .arg(&daemon.socket)
        .arg("events")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its stream is open (not only its connection accepted): a stop before the request
    // arrives closes an idle connection, which is not what this test is about.
    daemon.wait_for_log(
        &format!(
            "event stream opened uid={} pid={}\n",
            rustix::process::getuid().as_raw(),
            events.id()
        ),
        1,
    );
    daemon.stop();
    let output = events.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("event stream ended"),
        "{output:?}"
    );
}

#[test]
fn an_identity_pool_refusal_names_the_setting_and_is_not_retried_as_an_outage() {
    let fake = FakeCognito::start(PoolOptions::default());
    let config = fake.config_toml_with_identity_pool().replace(
        "unauthenticated_identities_enabled = false",
        "unauthenticated_identities_enabled = true",
    );
    let daemon = TestDaemon::start(&config);
    let json = daemon.ctl(&["--json", "credentials"]);
    assert_eq!(json.code, 1, "{json:?}");
    assert_eq!(json.error_code(), "NotAuthorizedException");
    let human = daemon.ctl(&["credentials"]);
    assert_eq!(human.code, 1, "{human:?}");
    assert!(
        human.stderr.contains("unauthenticated_identities_enabled"),
        "{human:?}"
    );
    assert!(
        !human.stderr.contains("retries on its own") && !human.stderr.contains("network"),
        "{human:?}"
    );
    let calls = fake.calls("GetId");
    for _ in 0..3 {
        assert_eq!(daemon.ctl(&["credentials"]).code, 1);
    }
    assert_eq!(
        fake.calls("GetId"),
        calls,
        "the refusal is answered without asking again"
    );
}

#[test]
fn a_failed_sign_in_updates_the_health_and_says_nothing_retries() {
    let daemon = TestDaemon::start(&unreachable_cognito());
    let login = daemon.ctl_stdin(&["login", "alice", "--password-stdin"], "Long-Pass-123\n");
    assert_eq!(login.code, 4, "{login:?}");
    assert!(!login.stderr.contains("retries on its own"), "{login:?}");
    assert!(
        !login.stderr.contains("error sending request"),
        "the useful part only: {login:?}"
    );
    let status = daemon.ctl(&["status"]);
    assert!(status.stdout.contains("Cognito: unreachable"), "{status:?}");
}

#[test]
fn a_sign_out_cognito_did_not_confirm_is_said() {
    let (fake, daemon) = signed_in_daemon("");
    fake.fail_next("RevokeToken", Fault::Drop, 1);
    let logout = daemon.ctl(&["logout"]);
    assert_eq!(logout.code, 4, "{logout:?}");
    assert!(
        logout.stderr.contains(
            "signed out here; Cognito could not be reached, the refresh token was not revoked"
        ),
        "{logout:?}"
    );
    assert!(logout.stdout.is_empty(), "{logout:?}");
    assert!(logout.stderr.contains("keeps trying"), "{logout:?}");
    assert_eq!(daemon.ctl(&["whoami"]).code, 1);
    // Tried again in the background until Cognito takes it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.calls("RevokeToken") < 2 {
        assert!(
            Instant::now() < deadline,
            "never retried:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = daemon.ctl(&["status"]);
    assert!(
        status.stdout.contains("last session (alice) ended"),
        "{status:?}"
    );

    cognitod_tests::sign_in_alice(&daemon);
    fake.fail_next("GlobalSignOut", Fault::Drop, 1);
    let global = daemon.ctl(&["--json", "logout", "--global"]);
    assert_eq!(global.code, 4, "{global:?}");
    let answer: serde_json::Value = serde_json::from_str(&global.stdout).unwrap();
    assert_eq!(answer["revoked"], false);
    assert_eq!(answer["revokeError"]["code"], "UpstreamUnavailable");

    cognitod_tests::sign_in_alice(&daemon);
    let clean = daemon.ctl(&["logout"]);
    assert_eq!(
        (clean.code, clean.stdout.trim()),
        (0, "signed out"),
        "{clean:?}"
    );
}

#[test]
fn messages_say_the_cause_then_the_fix() {
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let daemon = TestDaemon::start(&fake.config_toml_with_identity_pool());
    let process = daemon.ctl(&["credential-process"]);
    assert_eq!(process.code, 1, "{process:?}");
    assert_eq!(
        process.stderr,
        "cognitoctl credential-process: not signed in. Sign in with `cognitoctl login`.\n"
    );

    let login = ctl_without_terminal(&daemon, &["login", "alice"]);
    assert_eq!(login.code, 2, "{login:?}");
    let lines: Vec<&str> = login.stderr.lines().collect();
    assert!(
        lines[0].starts_with("cognitoctl: no terminal to ask for the password on"),
        "{login:?}"
    );
    assert_eq!(
        lines.last().copied(),
        Some("Pass it on stdin with --password-stdin."),
        "{login:?}"
    );
    assert_eq!(fake.calls("InitiateAuth"), 0);

    // Signed in: login says so before asking anything.
    cognitod_tests::sign_in_alice(&daemon);
    let again = ctl_without_terminal(&daemon, &["login", "alice"]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(
        again.stderr.contains("already signed in as alice")
            && again.stderr.contains("cognitoctl logout"),
        "{again:?}"
    );
}

#[test]
fn status_shows_the_pending_step_and_json_errors_are_json() {
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec {
        totp_secret: Some(b"totp-secret-for-ivan!".to_vec()),
        ..UserSpec::new("ivan", PASSWORD)
    });
    let daemon = TestDaemon::start(&fake.config_toml());
    let login = daemon.ctl_stdin(
        &["login", "ivan", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 3, "{login:?}");
    let status = daemon.ctl(&["status"]);
    for text in [
        "signing in for ivan",
        "the code from your authenticator app",
        "cognitoctl confirm",
    ] {
        assert!(status.stdout.contains(text), "{text:?}: {status:?}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&daemon.ctl(&["--json", "status"]).stdout).unwrap();
    assert_eq!(
        json["nextStep"]["signInStep"],
        "CONFIRM_SIGN_IN_WITH_TOTP_CODE"
    );
    assert_eq!(json["username"], "ivan");

    let wrong = daemon.ctl_stdin(&["confirm"], "000000\n");
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("still open"), "{wrong:?}");

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("socket");
    let nothing = ctl(
        &["--socket", socket.to_str().unwrap(), "--json", "status"],
        None,
    );
    assert_eq!(nothing.code, 2, "{nothing:?}");
    assert_eq!(nothing.error_code(), "DaemonNotRunning");
}

#[test]
fn session_names_the_user_and_token_can_force_a_refresh() {
    let (fake, daemon) = signed_in_daemon("");
    let session = daemon.ctl(&["session"]);
    assert!(
        session.stdout.starts_with("signed in as alice"),
        "{session:?}"
    );
    let before = fake.calls("InitiateAuth");
    let token = daemon.ctl(&["token", "access", "--force-refresh"]);
    assert_eq!(token.code, 0, "{token:?}");
    assert_eq!(token.stdout.matches('.').count(), 2, "a JWT: {token:?}");
    assert_eq!(fake.calls("InitiateAuth"), before + 1, "one refresh");
}

#[test]
fn help_and_version_say_what_cognitoctl_is() {
    let help = ctl(&["--help"], None);
    assert_eq!(help.code, 0);
    for text in [
        "cognitoctl: the command-line client of cognitod",
        "/tmp/cognitod-<uid>/socket",
        "Exit status",
        "Examples",
    ] {
        assert!(help.stdout.contains(text), "{text:?}: {}", help.stdout);
    }
    assert!(!help.stdout.contains("Client library"), "{}", help.stdout);
    let version = ctl(&["--version"], None);
    assert!(version.stdout.starts_with("cognitoctl "), "{version:?}");
}

#[test]
fn check_config_checks_what_the_daemon_checks_and_suggests_keys() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let write = |text: &str| {
        std::fs::write(dir.path().join("config.toml"), text).unwrap();
    };
    let check = || {
        let output = Command::new(binary("cognitod"))
            .current_dir(dir.path())
            .args(["--config", "config.toml", "--check-config"])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let base = "user_pool_id = \"eu-west-1_A1\"\nuser_pool_client_id = \"c\"\n";

    write(&format!("{base}user_pool_endpiont = \"http://x\"\n"));
    let (code, text) = check();
    assert_eq!(code, Some(2));
    assert!(
        text.contains("did you mean `user_pool_endpoint`?"),
        "{text}"
    );
    let absolute = dir.path().join("config.toml");
    assert!(text.contains(absolute.to_str().unwrap()), "{text}");

    write(&format!("{base}[daemon]\nallowed_uids = [-1]\n"));
    let (code, text) = check();
    assert_eq!(code, Some(2));
    assert!(
        text.contains("a uid is a number from 0 to 4294967295"),
        "{text}"
    );

    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("ca.pem"), "not a certificate\n").unwrap();
    write(&format!(
        "{base}ca_file = \"ca.pem\"\n[daemon]\nstate_dir = \"state\"\nsocket = \"{}\"\n",
        dir.path().join("run/socket").display()
    ));
    let (code, text) = check();
    assert_eq!(code, Some(2));
    assert!(text.contains("chmod 700"), "{text}");
    assert!(text.contains("holds no PEM certificate"), "{text}");

    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::remove_file(dir.path().join("ca.pem")).unwrap();
    write(&format!(
        "{base}[daemon]\nstate_dir = \"state\"\nsocket = \"{}\"\n",
        dir.path().join("run/socket").display()
    ));
    let (code, text) = check();
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn fatal_errors_print_once_and_reloads_warn_about_restart_only_settings() {
    let daemon = TestDaemon::start(&unreachable_cognito());
    let (code, text) = run_briefly(
        "cognitod",
        &["--config", daemon.config_path.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(text.matches("another cognitod").count(), 1, "{text}");

    let config = std::fs::read_to_string(&daemon.config_path).unwrap();
    std::fs::write(
        &daemon.config_path,
        format!("{config}\n[ecs]\nenabled = true\n"),
    )
    .unwrap();
    let pid = rustix::process::Pid::from_raw(i32::try_from(daemon.pid()).unwrap()).unwrap();
    for reloads in 1..=2 {
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
        daemon.wait_for_log("take effect only after a restart", reloads);
    }
    assert!(daemon.log().contains("[ecs]"), "{}", daemon.log());
}
