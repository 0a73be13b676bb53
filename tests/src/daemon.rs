//! A real `cognitod` process on a private socket, and `cognitoctl` pointed at it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running `cognitod` with its own config, socket and state folder. Its log is printed when
/// a test panics while it runs.
#[derive(Debug)]
pub struct TestDaemon {
    pub dir: TempDir,
    pub socket: PathBuf,
    pub config_path: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    /// Runs with `RUST_LOG=trace` (the secret sweep).
    trace: bool,
    /// More environment for the next start ([`TestDaemon::set_env`]).
    env: Vec<(String, std::ffi::OsString)>,
    /// Started as `--profile NAME` (its config, socket and state found by the profile's
    /// paths), not with `--config`.
    profile: Option<String>,
}

/// What one `cognitoctl` run did.
#[derive(Debug)]
pub struct CtlOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CtlOutput {
    /// The `error.code` of a failed `cognitoctl --json` run (its stdout).
    pub fn error_code(&self) -> String {
        let value: serde_json::Value = serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"));
        value["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {self:?}"))
            .to_owned()
    }
}

impl TestDaemon {
    /// Starts `cognitod` with `cognito_toml` (the Cognito keys) plus a `[daemon]` section of
    /// its own, and waits until the socket answers.
    pub fn start(cognito_toml: &str) -> TestDaemon {
        Self::start_with(cognito_toml, "")
    }

    /// Like [`TestDaemon::start`], with more lines for the `[daemon]` section (a `log_level` or
    /// `state_dir` there replaces the test default). Without a `log_level` of the test's own,
    /// the secret sweep (see [`crate::sweep_dir`]) runs the daemon with `RUST_LOG=trace`.
    pub fn start_with(cognito_toml: &str, daemon_lines: &str) -> TestDaemon {
        let dir = tempfile::Builder::new()
            .prefix("cognitod-test")
            .tempdir()
            .expect("a temporary folder");
        let socket = dir.path().join("run/socket");
        let log_level = if daemon_lines.contains("log_level") {
            ""
        } else {
            "log_level = \"debug\"\n"
        };
        let state_dir = if daemon_lines.contains("state_dir") {
            String::new()
        } else {
            format!("state_dir = \"{}\"\n", dir.path().join("state").display())
        };
        let config = format!(
            "{cognito_toml}\n[daemon]\nsocket = \"{}\"\n{state_dir}{log_level}{daemon_lines}",
            socket.display(),
        );
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).expect("config written");
        let log_path = dir.path().join("cognitod.log");
        let mut daemon = TestDaemon {
            dir,
            socket,
            config_path,
            log_path,
            child: None,
            trace: !log_level.is_empty() && crate::sweep_dir().is_some(),
            env: Vec::new(),
            profile: None,
        };
        daemon.spawn();
        daemon
    }

    /// Starts `cognitod --profile PROFILE` in `home` (a [`ProfileHome`]'s XDG folders): its
    /// config is written to `home`'s `cognitod/profiles/PROFILE.toml`, with no socket or
    /// state_dir of its own, so the profile's default paths are used.
    pub fn start_profile(home: &ProfileHome, profile: &str, cognito_toml: &str) -> TestDaemon {
        let dir = tempfile::Builder::new()
            .prefix("cognitod-test")
            .tempdir()
            .expect("a temporary folder");
        let config_path = home
            .config
            .join("cognitod/profiles")
            .join(format!("{profile}.toml"));
        std::fs::create_dir_all(config_path.parent().expect("a parent")).expect("config folder");
        std::fs::write(
            &config_path,
            format!("{cognito_toml}\n[daemon]\nlog_level = \"debug\"\n"),
        )
        .expect("config written");
        let log_path = dir.path().join("cognitod.log");
        let mut daemon = TestDaemon {
            dir,
            socket: home.socket(profile),
            config_path,
            log_path,
            child: None,
            trace: crate::sweep_dir().is_some(),
            env: home.env(),
            profile: Some(profile.to_owned()),
        };
        daemon.spawn();
        daemon
    }

    /// The state directory (`session.json` lives here).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log file");
        let mut command = Command::new(crate::binary("cognitod"));
        // The test's own environment never picks the daemon's paths.
        for name in [
            "COGNITOD_PROFILE",
            "COGNITOD_CONFIG",
            "STATE_DIRECTORY",
            "RUNTIME_DIRECTORY",
        ] {
            command.env_remove(name);
        }
        match &self.profile {
            Some(profile) => command.arg("--profile").arg(profile),
            None => command.arg("--config").arg(&self.config_path),
        };
        if self.trace {
            command.env("RUST_LOG", "trace");
        } else {
            command.env_remove("RUST_LOG");
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("cognitod starts");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Sets an environment variable for the daemon's next start ([`TestDaemon::restart`]).
    pub fn set_env(&mut self, key: &str, value: impl Into<std::ffi::OsString>) {
        self.env.push((key.to_owned(), value.into()));
    }

    /// Starts the daemon again with the same config and state (after [`TestDaemon::stop`] or
    /// [`TestDaemon::kill`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the daemon first");
        self.spawn();
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the daemon runs");
        child.kill().expect("SIGKILL sent");
        child.wait().expect("cognitod is reaped");
    }

    /// An AWS config file with a profile `cognitod` whose `credential_process` is
    /// `cognitoctl credential-process` on this daemon; returns its path.
    pub fn aws_profile(&self, region: &str) -> PathBuf {
        let path = self.dir.path().join("aws-config");
        std::fs::write(
            &path,
            format!(
                "[profile cognitod]\nregion = {region}\ncredential_process = {} --socket {} credential-process\n",
                crate::binary("cognitoctl").display(),
                self.socket.display()
            ),
        )
        .expect("AWS config written");
        path
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the daemon runs").id()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "cognitod exited with {status} before serving:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "cognitod did not serve {} within 20 s:\n{}",
            self.socket.display(),
            self.log()
        );
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits (at most 20 s) until the daemon's log shows `text` `times` times.
    pub fn wait_for_log(&self, text: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.log().matches(text).count() < times {
            assert!(
                Instant::now() < deadline,
                "the log never showed {text:?} {times} times:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many hand-outs the daemon's audit lines with `message` and `field` (`uid=65534`, or
    /// "" for any) count: each line's `count`.
    pub fn handouts(&self, message: &str, field: &str) -> u64 {
        handouts_in(&self.log(), message, field)
    }

    /// Waits (at most 20 s) until the audit lines with `message` and `field` count at least
    /// `times` hand-outs (they are written off the request path, a moment later).
    pub fn wait_for_handouts(&self, message: &str, field: &str, times: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.handouts(message, field) < times {
            assert!(
                Instant::now() < deadline,
                "the log never counted {times} of {message:?} {field:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `cognitoctl --socket <this daemon's socket> ARGS`.
    pub fn ctl(&self, args: &[&str]) -> CtlOutput {
        self.ctl_with_stdin(args, None)
    }

    /// Runs `cognitoctl` with `stdin` as its standard input.
    pub fn ctl_stdin(&self, args: &[&str], stdin: &str) -> CtlOutput {
        self.ctl_with_stdin(args, Some(stdin))
    }

    fn ctl_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> CtlOutput {
        let mut all = vec!["--socket", self.socket.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        ctl(&all, stdin)
    }

    /// Starts `cognitoctl ARGS` against this daemon with `stdin` as its input, without waiting
    /// for it (its output is not kept; under the secret sweep its standard error is).
    pub fn ctl_spawn(&self, args: &[&str], stdin: &str) -> Child {
        let stderr = match crate::sweep_dir() {
            Some(dir) => {
                std::fs::File::create(dir.join(format!("cognitoctl-{}.log", crate::unique_name())))
                    .map_or_else(|_| Stdio::null(), Stdio::from)
            }
            None => Stdio::null(),
        };
        let mut child = Command::new(crate::binary("cognitoctl"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("COGNITOD_SOCKET")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("cognitoctl starts");
        // A command that does not read its input may have exited already.
        let _ = child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(stdin.as_bytes());
        child
    }

    /// Starts `cognitoctl ARGS` against this daemon with `env`, its stdin, stdout and stderr
    /// piped (for a test that talks to it while it runs).
    pub fn ctl_background(&self, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Child {
        Command::new(crate::binary("cognitoctl"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("COGNITOD_SOCKET")
            .env_remove("BROWSER")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cognitoctl starts")
    }

    /// SIGTERM, then the exit status (SIGKILL after 10 s).
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the daemon runs");
        let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"))
            .expect("pid is positive");
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let hung = matches!(child.try_wait(), Ok(None));
        if hung {
            let _ = child.kill();
        }
        let status = child.wait().expect("cognitod is reaped");
        assert!(
            !hung,
            "cognitod did not stop within 10 s of SIGTERM:\n{}",
            self.log()
        );
        status
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- cognitod log ----\n{}", self.log());
        }
        if let Some(dir) = crate::sweep_dir() {
            let kept = dir.join(format!("cognitod-{}.log", crate::unique_name()));
            let _ = std::fs::copy(&self.log_path, kept);
        }
    }
}

/// Runs `cognitoctl ARGS` (without a `--socket` of its own).
pub fn ctl(args: &[&str], stdin: Option<&str>) -> CtlOutput {
    let mut command = Command::new(crate::binary("cognitoctl"));
    command.args(args).env_remove("COGNITOD_SOCKET");
    run_ctl(command, stdin)
}

/// Runs `command` (a `cognitoctl`) to its end with `stdin` as its input; under the secret
/// sweep its standard error is kept.
fn run_ctl(mut command: Command, stdin: Option<&str>) -> CtlOutput {
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cognitoctl starts");
    if let Some(input) = stdin {
        let written = child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes());
        // A command that refuses before reading its input may have exited already.
        if let Err(error) = written {
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::BrokenPipe,
                "stdin written"
            );
        }
    }
    let output = child.wait_with_output().expect("cognitoctl finishes");
    if let Some(dir) = crate::sweep_dir() {
        let kept = dir.join(format!("cognitoctl-{}.log", crate::unique_name()));
        let _ = std::fs::write(kept, &output.stderr);
    }
    CtlOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs the workspace binary `program` with `args` and `env` (and no `RUST_LOG` of the
/// test's), killed if it still runs after 10 s: its exit code (`None` when it had to be
/// killed) and everything it printed.
pub fn run_briefly(program: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(crate::binary(program))
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = matches!(child.try_wait(), Ok(None));
    if running {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("the program is reaped");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    ((!running).then(|| output.status.code().unwrap_or(-1)), text)
}

/// Runs `cognitod --config CONFIG` expecting it to refuse to start; returns its exit code and
/// what it printed. Panics if it is still running after 10 s.
pub fn cognitod_refuses(config_path: &std::path::Path) -> (i32, String) {
    let config = config_path.to_str().expect("a UTF-8 path");
    let (code, text) = run_briefly("cognitod", &["--config", config], &[]);
    let code = code.unwrap_or_else(|| panic!("cognitod started although it should have refused"));
    (code, text)
}

/// A user's XDG folders (config, runtime, state) in a temporary folder, for daemons and
/// clients that find their paths by profile.
#[derive(Debug)]
pub struct ProfileHome {
    pub root: TempDir,
    pub config: PathBuf,
    pub runtime: PathBuf,
    pub state: PathBuf,
}

impl ProfileHome {
    pub fn new() -> ProfileHome {
        use std::os::unix::fs::DirBuilderExt;
        let root = tempfile::Builder::new()
            .prefix("cognitod-home")
            .tempdir()
            .expect("a temporary folder");
        let [config, runtime, state] =
            ["config", "run", "state"].map(|name| root.path().join(name));
        for dir in [&config, &runtime, &state] {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .expect("an XDG folder");
        }
        ProfileHome {
            root,
            config,
            runtime,
            state,
        }
    }

    /// `XDG_CONFIG_HOME`, `XDG_RUNTIME_DIR` and `XDG_STATE_HOME` pointing here.
    pub fn env(&self) -> Vec<(String, std::ffi::OsString)> {
        vec![
            ("XDG_CONFIG_HOME".into(), self.config.clone().into()),
            ("XDG_RUNTIME_DIR".into(), self.runtime.clone().into()),
            ("XDG_STATE_HOME".into(), self.state.clone().into()),
        ]
    }

    /// Where profile `profile`'s socket is.
    pub fn socket(&self, profile: &str) -> PathBuf {
        self.runtime
            .join("cognitod/profiles")
            .join(profile)
            .join("socket")
    }

    /// `cognitoctl ARGS` in this home (no `--socket`: the profile finds it), with `env` more.
    pub fn ctl(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> CtlOutput {
        let mut command = Command::new(crate::binary("cognitoctl"));
        command
            .args(args)
            .env_remove("COGNITOD_SOCKET")
            .env_remove("COGNITOD_PROFILE")
            .envs(self.env())
            .envs(env.iter().copied());
        run_ctl(command, stdin)
    }
}

impl Default for ProfileHome {
    fn default() -> Self {
        Self::new()
    }
}

/// How many hand-outs the audit lines of `log` (tracing's text format) with `message` and
/// `field` ("" for any) count: each line's `count`. A last line the daemon is still writing
/// (no newline yet) is left for the next look.
pub fn handouts_in(log: &str, message: &str, field: &str) -> u64 {
    log.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter(|line| line.contains(message) && line.contains(field))
        .map(|line| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix("count="))
                .and_then(|count| count.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("an audit line without its count: {line}"))
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::handouts_in;

    #[test]
    fn hand_outs_sum_the_counts_of_the_matching_audit_lines() {
        let log = "\
2025-01-01T00:00:01.000001Z  INFO cognitod::audit: session tokens handed out uid=0 pid=8 username=alice count=4711
2025-01-01T00:00:01.000002Z  INFO cognitod::audit: session tokens handed out uid=1000 pid=9 username=alice count=1
2025-01-01T00:00:01.000003Z  INFO cognitod::audit: AWS credentials handed out uid=0 pid=8 identity_id=x guest=false count=12
2025-01-01T00:00:01.000004Z  INFO cognitod::audit: AWS credentials handed out on the container endpoint identity_id=x guest=false count=3
2025-01-01T00:00:01.000005Z  INFO cognitod::audit: session tokens handed out uid=1000 pid=9 username=alice co";
        assert_eq!(handouts_in(log, "session tokens handed out", ""), 4712);
        assert_eq!(handouts_in(log, "session tokens handed out", "uid=1000"), 1);
        assert_eq!(handouts_in(log, "AWS credentials handed out", ""), 15);
    }
}
