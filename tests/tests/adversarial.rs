//! The finished daemon attacked on purpose: hostile bytes on the socket, crowds of slow
//! clients, and a crash at random points of many sign-in / refresh / sign-out cycles. The
//! real binaries against the fake Cognito. Figures are printed (`--nocapture`), not asserted
//! as timings.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::raw_request;

const PASSWORD: &str = "Correct-Horse-9";

fn signed_in_daemon(daemon_lines: &str) -> (FakeCognito, TestDaemon) {
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let daemon = TestDaemon::start_with(&fake.config_toml(), daemon_lines);
    let login = daemon.ctl_stdin(
        &["login", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
    (fake, daemon)
}

/// Sends `bytes` as they are, then reads until the daemon closes; the status of its answer,
/// or None when it closed without one.
fn send_raw(socket: &Path, bytes: &[u8]) -> Option<u16> {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The daemon may answer and close before it has read everything.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn request(method: &str, path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Every kind of bad request this suite sends, by name.
fn hostile_requests() -> Vec<(&'static str, Vec<u8>)> {
    let json = "content-type: application/json\r\n";
    let nested = |depth: usize| {
        let mut bomb = "[".repeat(depth).into_bytes();
        bomb.extend(std::iter::repeat_n(b']', depth));
        bomb
    };
    let mut header_flood = b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for i in 0..10_000 {
        header_flood.extend_from_slice(format!("x-flood-{i}: {i}\r\n").as_bytes());
    }
    header_flood.extend_from_slice(b"\r\n");
    let mut long_header = b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nx-long: ".to_vec();
    long_header.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    long_header.extend_from_slice(b"\r\n\r\n");
    vec![
        ("body over 1 MiB", request("POST", "/v1/sign-in", json, &vec![b' '; 1024 * 1024 + 1])),
        (
            "declared body of 1 TB",
            b"POST /v1/sign-in HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000000\r\n\r\n{".to_vec(),
        ),
        ("10,000 headers", header_flood),
        ("a 1 MiB header", long_header),
        (
            "invalid UTF-8 in the JSON body",
            request("POST", "/v1/sign-in", json, b"{\"username\":\"\xff\xfe\",\"password\":\"x\"}"),
        ),
        (
            "invalid UTF-8 in the path",
            b"GET /v1/\xc3\x28 HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        ),
        ("JSON nested 30,000 deep", request("POST", "/v1/sign-in", json, &nested(30_000))),
        ("JSON nested 200 deep", request("POST", "/v1/sign-in/confirm", json, &nested(200))),
        (
            "JSON of the wrong shape",
            request("POST", "/v1/sign-in", json, b"{\"username\":[1,2],\"password\":{}}"),
        ),
        ("truncated JSON", request("POST", "/v1/sign-out", json, b"{\"global\":")),
        ("no Content-Type", request("POST", "/v1/sign-in", "", b"{}")),
        ("unknown method", request("BREW", "/v1/status", "", b"")),
        ("unknown path", request("GET", "/v1/../../etc/passwd", "", b"")),
        ("NUL bytes", b"GET /v1/status\0 HTTP/1.1\r\n\0\r\n\r\n".to_vec()),
        ("not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec()),
        (
            "two Content-Lengths",
            b"POST /v1/sign-out HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(),
        ),
        (
            "a broken chunked body",
            b"POST /v1/sign-in HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec(),
        ),
        (
            "negative Content-Length",
            b"POST /v1/sign-out HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n".to_vec(),
        ),
        ("a query bomb", request("GET", &format!("/v1/session?{}", "forceRefresh=x&".repeat(20_000)), "", b"")),
    ]
}

#[test]
fn hostile_bytes_get_a_4xx_and_the_daemon_keeps_answering() {
    let (_fake, daemon) = signed_in_daemon("");
    for (name, bytes) in hostile_requests() {
        let started = Instant::now();
        let status = send_raw(&daemon.socket, &bytes);
        println!("{name}: {status:?} in {:?}", started.elapsed());
        assert!(
            status.is_some_and(|s| (400..500).contains(&s)),
            "{name}: answered {status:?}"
        );
        let normal = raw_request(&daemon.socket, "GET", "/v1/status", b"");
        assert_eq!(normal.status, 200, "after {name}");
    }
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "alice");
    let log = daemon.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// A small deterministic generator, so a failing run can be repeated.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn ten_thousand_malformed_requests_in_a_row() {
    let (_fake, daemon) = signed_in_daemon("");
    let kinds = hostile_requests();
    let mut random = XorShift(0x5eed_cafe_f00d_d00d);
    // Blank lines alone are no request (RFC 9112 lets a server skip them): each starts with
    // something.
    let prefixes: [&[u8]; 4] = [
        b"\x00",
        b"GET /v1/\x7fstatus HTTP/1.1\r\n",
        b"POST /v1/sign-in HTTP/1.1\r\nContent-Length: 20\r\n\r\n",
        b"GET /v1/",
    ];
    let started = Instant::now();
    let mut answered = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..10_000 {
        let bytes = if i % 2 == 0 {
            kinds[i / 2 % kinds.len()].1.clone()
        } else {
            let mut bytes = prefixes[i / 2 % prefixes.len()].to_vec();
            let len = (random.next() % 300) as usize;
            bytes.extend(random.bytes(len));
            // Random bytes rarely end a head: end it, so each one is answered.
            bytes.extend_from_slice(b"\r\n\r\n");
            bytes
        };
        let status = send_raw(&daemon.socket, &bytes);
        assert!(
            status.is_some_and(|s| (400..500).contains(&s)),
            "request {i} ({:?}): answered {status:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        );
        *answered.entry(status.unwrap_or(0)).or_default() += 1;
    }
    println!(
        "10,000 malformed requests in {:?}: {answered:?}",
        started.elapsed()
    );
    assert_eq!(daemon.ctl(&["whoami"]).stdout.trim(), "alice");
    let log = daemon.log();
    assert!(!log.contains("panicked"), "{log}");
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn five_hundred_slow_clients_neither_lock_out_a_working_one_nor_pile_up() {
    const CAP: usize = 100;
    let (_fake, daemon) = signed_in_daemon(&format!("max_connections = {CAP}\n"));
    let baseline = open_fds(daemon.pid());
    // 500 clients send the start of a request, then one more byte every 100 ms.
    let mut slow: Vec<Option<UnixStream>> = (0..500)
        .map(|_| {
            let mut stream = UnixStream::connect(&daemon.socket).unwrap();
            stream
                .write_all(b"GET /v1/status HTTP/1.1\r\nx-slow: ")
                .unwrap();
            Some(stream)
        })
        .collect();
    let mut latencies = Vec::new();
    let mut most_fds = 0;
    for _ in 0..20 {
        for stream in &mut slow {
            if stream.as_mut().is_some_and(|s| s.write_all(b"a").is_err()) {
                *stream = None;
            }
        }
        let started = Instant::now();
        let answer = raw_request(&daemon.socket, "GET", "/v1/session", b"");
        latencies.push(started.elapsed());
        assert_eq!(answer.status, 200, "{answer:?}");
        most_fds = most_fds.max(open_fds(daemon.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    latencies.sort();
    let still_open = slow.iter().filter(|s| s.is_some()).count();
    println!(
        "500 slow clients, max_connections {CAP}: a normal request took {:?} (median) / {:?} (max); \
         daemon fds {baseline} at rest, at most {most_fds}; slow clients still connected: {still_open}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(
        most_fds <= baseline + CAP + 1,
        "open connections stay at the cap: {most_fds} fds (baseline {baseline})"
    );
    // Without room made at the cap, each request would wait for the 5 s header timeout.
    assert!(
        latencies[latencies.len() - 1] < Duration::from_secs(3),
        "{latencies:?}"
    );
    assert!(
        still_open <= CAP,
        "{still_open} slow clients kept a connection"
    );
    let log = daemon.log();
    assert!(!log.contains("panicked"), "{log}");
}
