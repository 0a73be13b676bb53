//! Test support: the real `cognitod` and `cognitoctl` binaries, moto (a third-party Cognito
//! emulator) and helpers to provision it. Used by the integration tests and by `testbed`,
//! which the demo script runs.

pub mod browser;
pub mod container;
pub mod daemon;
pub mod fake;
pub mod moto;
pub mod terminal;

use std::path::{Path, PathBuf};

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The Python venv with moto, botocore and the AWS CLI: `COGNITOD_VENV`, else `.venv` in the
/// workspace (where `scripts/lib.sh` makes it, honouring the same variable).
pub fn venv() -> PathBuf {
    std::env::var_os("COGNITOD_VENV")
        .filter(|v| !v.is_empty())
        .map_or_else(|| workspace_root().join(".venv"), PathBuf::from)
}

/// A binary of the workspace, built beside the running executable (`cargo build --bins` runs
/// before the tests).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let mut dir = exe
        .parent()
        .expect("executables live in a folder")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` before the tests (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Where the secret sweep collects logs and secrets (`COGNITOD_TEST_SECRET_SWEEP`, set by
/// `scripts/test.sh`): daemons then log at trace level and leave their logs there, cognitoctl's
/// standard error is kept there, and each fake Cognito writes every secret it saw. The `sweep`
/// binary then looks for each secret in each log.
pub fn sweep_dir() -> Option<PathBuf> {
    std::env::var_os("COGNITOD_TEST_SECRET_SWEEP")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Whether a test that needs `needs` may run; when it may not, says it is skipped, or fails
/// under `COGNITOD_TEST_STRICT` (CI sets it: there, a skip would hide what is not tested).
pub fn can_run(possible: bool, needs: &str) -> bool {
    if possible {
        return true;
    }
    assert!(
        std::env::var_os("COGNITOD_TEST_STRICT").is_none(),
        "this test needs {needs}, and COGNITOD_TEST_STRICT forbids skipping it"
    );
    println!("skipped: this test needs {needs}");
    false
}

/// Whether this runs as root (tests with a second uid need it).
pub fn is_root() -> bool {
    rustix::process::getuid().is_root()
}

/// A file name no other test process or thread uses.
pub fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The password of the users the tests sign in.
pub const PASSWORD: &str = "Correct-Horse-9";

/// A fake Cognito with user `alice` and a daemon signed in as her, with `daemon_lines` in its
/// `[daemon]` section.
pub fn signed_in_daemon(daemon_lines: &str) -> (fake::FakeCognito, daemon::TestDaemon) {
    signed_in_with(fake::PoolOptions::default(), daemon_lines, "")
}

/// [`signed_in_daemon`] with the pool's `options`, and `extra_config` after the Cognito keys.
pub fn signed_in_with(
    options: fake::PoolOptions,
    daemon_lines: &str,
    extra_config: &str,
) -> (fake::FakeCognito, daemon::TestDaemon) {
    let fake = fake::FakeCognito::start(options);
    fake.add_user(fake::UserSpec::new("alice", PASSWORD));
    let config = format!("{}{extra_config}", fake.config_toml());
    let daemon = daemon::TestDaemon::start_with(&config, daemon_lines);
    sign_in_alice(&daemon);
    (fake, daemon)
}

/// Signs `alice` in with [`PASSWORD`]; panics if that fails.
pub fn sign_in_alice(daemon: &daemon::TestDaemon) {
    let login = daemon.ctl_stdin(
        &["login", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
}

/// A free TCP port on 127.0.0.1 (free when this returns; good enough for test servers).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// An HTTP answer read off the socket by [`raw_request`].
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawResponse {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The `error.code` of an error answer.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {:?}", self.body))
            .to_owned()
    }
}

/// Reads one response with a Content-Length body off a keep-alive connection into `buffer`
/// (big enough for it): its status.
pub fn read_response(stream: &mut std::os::unix::net::UnixStream, buffer: &mut [u8]) -> u16 {
    use std::io::Read;
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buffer[filled..]).expect("answer read");
        assert!(n > 0, "the connection closed");
        filled += n;
        let text = &buffer[..filled];
        if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&text[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if filled >= end + 4 + length {
                return head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|code| code.parse().ok())
                    .expect("a status");
            }
        }
    }
}

/// Sends one HTTP/1.1 request with exactly these bytes of body over the Unix socket, without
/// any client library in between, and reads the whole answer.
pub fn raw_request(socket: &Path, method: &str, path: &str, body: &[u8]) -> RawResponse {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("daemon socket");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout set");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .expect("request head sent");
    // The daemon may answer 413 and close before reading the whole body.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {head:?}"));
    RawResponse {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// The claims of a JWT, decoded without verification (the daemon verified it).
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token
        .trim()
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("not a JWT: {token:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The wall clock in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `GET` on a loopback HTTP `url` (`http://127.0.0.1:PORT/path`) with exactly `headers`
/// (and `Connection: close`); the status and the body as JSON (`Null` when it is not).
pub fn tcp_request(url: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (address, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = std::net::TcpStream::connect(address).expect("the endpoint accepts");
    let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("request sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}
