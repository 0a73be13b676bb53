//! The client checks the server before it sends anything: a socket another user set up first
//! (the `/tmp/cognitod-<uid>` fallback), or one served by another user, gets no password and
//! no request. Real second uids, as root (CI runs as root); a squatter that counts every byte
//! it receives.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cognitod_tests::binary;

const SQUATTER_UID: u32 = 2101;

fn can_switch_uid() -> bool {
    cognitod_tests::can_run(cognitod_tests::is_root(), "root, to run a second uid")
}

/// A listener run by `SQUATTER_UID` at `socket` (in a directory it can write), which writes
/// how many bytes it was ever sent to `socket.received`.
struct Squatter {
    child: Child,
    received: PathBuf,
}

impl Squatter {
    fn start(socket: &Path) -> Squatter {
        let received = socket.with_extension("received");
        let script = r#"
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o666)  # a trap: anyone may connect
s.listen(16)
open(out, "w").write("0")
total = 0
while True:
    c, _ = s.accept()
    c.settimeout(2)
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            total += len(d)
            open(out, "w").write(str(total))
    except OSError:
        pass
    c.close()
"#;
        let child = Command::new("setpriv")
            .arg(format!("--reuid={SQUATTER_UID}"))
            .arg(format!("--regid={SQUATTER_UID}"))
            .arg("--clear-groups")
            .args(["/usr/bin/python3", "-c", script])
            .arg(socket)
            .arg(&received)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !received.exists() {
            assert!(Instant::now() < deadline, "the squatter did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Squatter { child, received }
    }

    fn bytes_received(&self) -> String {
        // Give a client that did connect time to send.
        std::thread::sleep(Duration::from_millis(300));
        std::fs::read_to_string(&self.received).unwrap()
    }
}

impl Drop for Squatter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory owned by `uid`, mode 0755.
fn dir_of(path: &Path, uid: u32) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    rustix::fs::chown(
        path,
        Some(rustix::process::Uid::from_raw(uid)),
        Some(rustix::process::Gid::from_raw(uid)),
    )
    .unwrap();
}

/// `cognitoctl ARGS` with `stdin`, as root; its exit code and stderr.
fn ctl(args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = Command::new(binary("cognitoctl"))
        .args(args)
        .env_remove("COGNITOD_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_socket_in_another_users_directory_gets_nothing() {
    if !can_switch_uid() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let trap = tmp.path().join("trap");
    dir_of(&trap, SQUATTER_UID);
    let socket = trap.join("socket");
    let squatter = Squatter::start(&socket);
    let path = socket.to_str().unwrap();

    let (code, stderr) = ctl(
        &["--socket", path, "login", "alice", "--password-stdin"],
        "Correct-Horse-9\n",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("refusing to use") && stderr.contains(&format!("uid {SQUATTER_UID}")),
        "{stderr}"
    );
    let (code, stderr) = ctl(&["--socket", path, "credential-process"], "");
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(squatter.bytes_received(), "0", "nothing was sent");
}

#[test]
fn a_socket_served_by_another_user_gets_nothing() {
    if !can_switch_uid() {
        return;
    }
    // The squatter listens in a directory of its own; the socket is then moved into one of
    // root's and given to root, so only the server's credentials give it away.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let own = tmp.path().join("own");
    dir_of(&own, SQUATTER_UID);
    let squatter = Squatter::start(&own.join("socket"));
    let trusted = tmp.path().join("trusted");
    std::fs::create_dir(&trusted).unwrap();
    std::fs::set_permissions(&trusted, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = trusted.join("socket");
    std::fs::rename(own.join("socket"), &socket).unwrap();
    rustix::fs::chown(
        &socket,
        Some(rustix::process::Uid::ROOT),
        Some(rustix::process::Gid::ROOT),
    )
    .unwrap();

    let (code, stderr) = ctl(
        &[
            "--socket",
            socket.to_str().unwrap(),
            "login",
            "alice",
            "--password-stdin",
        ],
        "Correct-Horse-9\n",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("served by uid {SQUATTER_UID}")),
        "{stderr}"
    );
    assert_eq!(squatter.bytes_received(), "0", "nothing was sent");
}

#[test]
fn the_tmp_fallback_taken_first_by_another_user_is_refused() {
    if !can_switch_uid() {
        return;
    }
    let victim = 2200 + std::process::id() % 500;
    let fallback = PathBuf::from(format!("/tmp/cognitod-{victim}"));
    let _ = std::fs::remove_dir_all(&fallback);
    dir_of(&fallback, SQUATTER_UID);
    let squatter = Squatter::start(&fallback.join("socket"));

    // The victim's own copy of cognitoctl, with no XDG_RUNTIME_DIR (cron, su, ssh without a
    // session).
    let bin = tempfile::tempdir().unwrap();
    std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cognitoctl = bin.path().join("cognitoctl");
    std::fs::copy(binary("cognitoctl"), &cognitoctl).unwrap();
    let mut child = Command::new("setpriv")
        .arg(format!("--reuid={victim}"))
        .arg(format!("--regid={victim}"))
        .arg("--clear-groups")
        .arg(&cognitoctl)
        .args(["login", "victim", "--password-stdin"])
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("COGNITOD_SOCKET")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"Victims-Pass-1\n");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let received = squatter.bytes_received();
    drop(squatter);
    let _ = std::fs::remove_dir_all(&fallback);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("/tmp/cognitod-{victim}")) && stderr.contains("XDG_RUNTIME_DIR"),
        "{stderr}"
    );
    assert_eq!(received, "0", "the password never reached the squatter");
}

#[test]
fn a_symbolic_link_another_user_made_is_refused() {
    if !can_switch_uid() {
        return;
    }
    // A shared daemon's socket in a directory of root's, and a world-writable sticky
    // directory (like /tmp) where another user made a link to it.
    let (_fake, daemon) = cognitod_tests::signed_in_daemon("");
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let link = shared.path().join("cognitod-link");
    let made = Command::new("setpriv")
        .arg(format!("--reuid={SQUATTER_UID}"))
        .arg(format!("--regid={SQUATTER_UID}"))
        .arg("--clear-groups")
        .arg("ln")
        .arg("-s")
        .arg(daemon.socket.parent().unwrap())
        .arg(&link)
        .status()
        .unwrap();
    assert!(made.success());
    let (code, stderr) = ctl(
        &["--socket", link.join("socket").to_str().unwrap(), "whoami"],
        "",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("symbolic link of uid {SQUATTER_UID}")),
        "{stderr}"
    );
}
