//! A real systemd, booted with `systemd-nspawn` over a small Debian root of its own (never
//! this machine's root: its `systemd-tmpfiles` would empty `/tmp`), so units are tested the
//! way systemd runs them. The root is read-only (`--volatile=overlay`); the workspace and the
//! built binaries are bound read-only at `/src` and `/cognitod-bin`. The container shares the
//! host's network, so a fake Cognito on 127.0.0.1 is reachable from inside.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A booted container; shut down when dropped.
#[derive(Debug)]
pub struct Container {
    nspawn: Child,
    /// The container's pid 1, as the host sees it.
    leader: u32,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// What a command inside printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(output: Output) -> Self {
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Container {
    /// The Debian root `scripts/test.sh` built (`COGNITOD_TEST_CONTAINER_ROOT`), if any.
    pub fn root() -> Option<PathBuf> {
        std::env::var_os("COGNITOD_TEST_CONTAINER_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.join("lib/systemd/systemd").exists())
    }

    /// Boots `root` with `exp` bound read-only at `/exp`, and waits until systemd says the
    /// system is running.
    pub fn boot(root: &Path, exp: &Path) -> Container {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = dir.path().join("nspawn.log");
        let name = format!("cognitod-test-{}", crate::unique_name());
        let bin = crate::binary("cognitod")
            .parent()
            .expect("binaries live in a folder")
            .to_path_buf();
        let bind = |from: &Path, to: &str| format!("--bind-ro={}:{to}", from.display());
        let nspawn = Command::new("systemd-nspawn")
            .args(["--quiet", "--boot", "--register=no", "--keep-unit"])
            .args(["--volatile=overlay", "--console=pipe", "--machine", &name])
            .arg(format!("--directory={}", root.display()))
            .arg(bind(&crate::workspace_root(), "/src"))
            .arg(bind(&bin, "/cognitod-bin"))
            .arg(bind(exp, "/exp"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log file"))
            .stderr(std::fs::File::create(dir.path().join("nspawn.err")).expect("log file"))
            .spawn()
            .expect("systemd-nspawn (package systemd-container) starts");
        let mut container = Container {
            leader: 0,
            nspawn,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "the container did not boot within 60 s:\n{}",
                container.log()
            );
            if let Some(status) = container.nspawn.try_wait().expect("nspawn is ours") {
                panic!("systemd-nspawn exited with {status}:\n{}", container.log());
            }
            if let Some(leader) = child_of(container.nspawn.id()) {
                container.leader = leader;
                let running = container.run("systemctl is-system-running --wait", None);
                if matches!(running.stdout.trim(), "running" | "degraded") {
                    return container;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `script` with bash as root inside the container, `stdin` as its input.
    pub fn run(&self, script: &str, stdin: Option<&str>) -> Ran {
        let mut child = Command::new("nsenter")
            .arg(format!("--target={}", self.leader))
            .arg("--all")
            .args([
                "/usr/bin/env",
                "-i",
                "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            ])
            .args(["/bin/bash", "-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nsenter runs");
        let input = child.stdin.take().expect("piped stdin");
        if let Some(text) = stdin {
            let mut input = input;
            let _ = input.write_all(text.as_bytes());
        }
        child.wait_with_output().expect("nsenter finishes").into()
    }

    /// Runs `script` and panics unless it succeeds.
    pub fn must(&self, script: &str) -> Ran {
        let ran = self.run(script, None);
        assert_eq!(ran.code, 0, "{script}: {ran:?}");
        ran
    }

    /// What the container's console showed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let pid =
            rustix::process::Pid::from_raw(i32::try_from(self.nspawn.id()).expect("pid fits"))
                .expect("pid is positive");
        // SIGTERM: systemd-nspawn asks the container's systemd to power off.
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && matches!(self.nspawn.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

/// The first child of process `pid`.
fn child_of(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
