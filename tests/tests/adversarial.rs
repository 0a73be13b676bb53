//! The finished daemon attacked on purpose: hostile bytes on the socket, crowds of slow
//! clients, `kill -9` at random points of many sign-in / refresh / sign-out cycles, upstream
//! fault bursts under load, and wall-clock jumps. The real binaries against the fake Cognito.
//! Figures are printed (`--nocapture`); timings are not asserted beyond what tells a behavior
//! apart.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::{PASSWORD, raw_request, sign_in_alice, signed_in_daemon, signed_in_with};

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

/// What a cognitoctl command did, as its caller knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    SignIn,
    Refresh,
    SignOut,
}

/// `kill -9` of the daemon at a random moment of a random operation, over and over, with the
/// fake sometimes holding back its answer after it acted (a rotation the daemon may never
/// hear of). After each restart: the state file parses, the session is what the last
/// acknowledged operation left, and a signed-in session still refreshes (its refresh token
/// was not lost). `COGNITOD_KILL_CYCLES` sets the count (`scripts/chaos.sh` runs 200).
#[test]
fn kill_9_at_random_points_loses_no_session() {
    use cognitod_tests::fake::Fault;
    let cycles: usize = std::env::var("COGNITOD_KILL_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let fake = FakeCognito::start(PoolOptions {
        refresh_token_rotation: true,
        rotation_grace_seconds: 60,
        ..PoolOptions::default()
    });
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let config = format!("{}refresh_token_rotation = true\n", fake.config_toml());
    let mut daemon = TestDaemon::start(&config);
    let seed = 0x0ddb_a11b_u64 ^ cycles as u64;
    let mut random = XorShift(seed);
    let mut signed_in = false;
    let (mut lost, mut killed_mid_op, mut acknowledged) = (0, 0, 0);
    let started = Instant::now();
    for cycle in 0..cycles {
        let op = match (signed_in, random.next() % 3) {
            (false, _) => Op::SignIn,
            (true, 0) => Op::SignOut,
            (true, _) => Op::Refresh,
        };
        if random.next().is_multiple_of(3) {
            let action = match op {
                Op::SignIn => "RespondToAuthChallenge",
                Op::Refresh => "GetTokensFromRefreshToken",
                Op::SignOut => "RevokeToken",
            };
            let hold = Duration::from_millis(random.next() % 40);
            fake.fail_next(action, Fault::DelayAnswer(hold), 1);
        }
        let (args, stdin): (&[&str], &str) = match op {
            Op::SignIn => (
                &["login", "alice", "--password-stdin"],
                &format!("{PASSWORD}\n"),
            ),
            Op::Refresh => (&["session", "--force-refresh"], ""),
            Op::SignOut => (&["logout"], ""),
        };
        let mut ctl = daemon.ctl_spawn(args, stdin);
        // Often inside the operation, else after it.
        let wait = random.next()
            % if random.next().is_multiple_of(2) {
                30
            } else {
                400
            };
        std::thread::sleep(Duration::from_millis(wait));
        daemon.kill();
        let done = ctl.wait().unwrap().success();
        if done {
            acknowledged += 1;
            signed_in = op != Op::SignOut;
        } else {
            killed_mid_op += 1;
        }

        let stored = std::fs::read_to_string(daemon.state_dir().join("session.json"));
        if let Ok(text) = &stored {
            let file: serde_json::Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("cycle {cycle}: state file does not parse: {e}"));
            assert_eq!(file["version"], 1, "cycle {cycle}");
        }
        daemon.restart();
        let now_signed_in = daemon.ctl(&["whoami"]).code == 0;
        if done && now_signed_in != signed_in {
            lost += 1;
            println!("cycle {cycle}: {op:?} was acknowledged, yet signed in = {now_signed_in}");
        }
        if now_signed_in {
            // The refresh token the daemon kept still works: nothing rotated away.
            let refresh = daemon.ctl(&["session", "--force-refresh"]);
            if refresh.code != 0 {
                lost += 1;
                println!("cycle {cycle}: after {op:?} the session does not refresh: {refresh:?}");
            }
        }
        signed_in = now_signed_in;
    }
    println!(
        "{cycles} kill -9 cycles in {:?} (seed {seed:#x}): {acknowledged} operations acknowledged, \
         {killed_mid_op} killed before their answer, {lost} sessions lost; upstream calls: \
         {} sign-ins, {} refreshes, {} revocations",
        started.elapsed(),
        fake.calls("InitiateAuth"),
        fake.calls("GetTokensFromRefreshToken"),
        fake.calls("RevokeToken"),
    );
    assert_eq!(lost, 0);
}

/// 64 clients poll `/v1/session` through several 4 s token lifetimes while the fake fails
/// refreshes in random bursts (500s, throttling, 5 s delays, dropped connections). No client
/// gets an error while a valid token exists, none gets an expired token, one refresh at most is
/// in flight, and the session recovers after the last burst.
#[test]
fn upstream_fault_bursts_under_load_never_fail_a_client_holding_a_valid_token() {
    use cognitod_tests::fake::Fault;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

    let (fake, daemon) = signed_in_with(
        PoolOptions {
            access_token_seconds: 4,
            id_token_seconds: 4,
            ..PoolOptions::default()
        },
        "",
        "",
    );
    let sign_in_calls = fake.calls("InitiateAuth");

    let seconds = 16;
    let stop = Arc::new(AtomicBool::new(false));
    let newest_exp_ms = Arc::new(AtomicI64::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let errors_with_valid_token = Arc::new(AtomicUsize::new(0));
    let errors_without = Arc::new(AtomicUsize::new(0));
    let expired_served = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..64)
        .map(|_| {
            let socket = daemon.socket.clone();
            let stop = Arc::clone(&stop);
            let newest = Arc::clone(&newest_exp_ms);
            let served = Arc::clone(&served);
            let with_valid = Arc::clone(&errors_with_valid_token);
            let without = Arc::clone(&errors_without);
            let expired = Arc::clone(&expired_served);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let asked = cognitod_tests::now_ms();
                    let answer = raw_request(&socket, "GET", "/v1/session", b"");
                    if answer.status == 200 {
                        let token = answer.json()["tokens"]["accessToken"]
                            .as_str()
                            .unwrap()
                            .to_owned();
                        let exp_ms =
                            cognitod_tests::jwt_claims(&token)["exp"].as_i64().unwrap() * 1000;
                        if exp_ms <= cognitod_tests::now_ms() {
                            expired.fetch_add(1, Ordering::Relaxed);
                        }
                        newest.fetch_max(exp_ms, Ordering::Relaxed);
                        served.fetch_add(1, Ordering::Relaxed);
                    } else if asked + 1500 < newest.load(Ordering::Relaxed) {
                        println!("error while a token was valid: {answer:?}");
                        with_valid.fetch_add(1, Ordering::Relaxed);
                    } else {
                        without.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
            })
        })
        .collect();

    let mut random = XorShift(0x000f_a017_5eed);
    let mut bursts = Vec::new();
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    while Instant::now() + Duration::from_secs(3) < end {
        std::thread::sleep(Duration::from_millis(500 + random.next() % 1000));
        let fault = match random.next() % 4 {
            0 => Fault::Internal,
            1 => Fault::Throttle,
            2 => Fault::Delay(Duration::from_secs(5)),
            _ => Fault::Drop,
        };
        let length = Duration::from_millis(500 + random.next() % 1500);
        fake.fail_for("InitiateAuth", fault.clone(), length);
        bursts.push(format!("{fault:?} for {length:?}"));
        std::thread::sleep(length);
    }
    // Recovery: the last burst is over; within a few seconds clients are served again.
    let last_burst_over = Instant::now();
    let served_then = served.load(Ordering::Relaxed);
    let deadline = last_burst_over + Duration::from_secs(8);
    while served.load(Ordering::Relaxed) == served_then
        || newest_exp_ms.load(Ordering::Relaxed) < cognitod_tests::now_ms()
    {
        assert!(
            Instant::now() < deadline,
            "no recovery after the last burst"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let recovered_in = last_burst_over.elapsed();
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    println!(
        "64 clients for {:?}: {} requests served, {} errors while a valid token existed, {} \
         errors with none, {} expired tokens served; {} fault bursts ({}); {} refresh calls, at \
         most {} at once; recovered {:?} after the last burst",
        started.elapsed(),
        served.load(Ordering::Relaxed),
        errors_with_valid_token.load(Ordering::Relaxed),
        errors_without.load(Ordering::Relaxed),
        expired_served.load(Ordering::Relaxed),
        bursts.len(),
        bursts.join(", "),
        fake.calls("InitiateAuth") - sign_in_calls,
        fake.max_in_flight("InitiateAuth"),
        recovered_in,
    );
    assert_eq!(errors_with_valid_token.load(Ordering::Relaxed), 0);
    assert_eq!(expired_served.load(Ordering::Relaxed), 0);
    assert_eq!(fake.max_in_flight("InitiateAuth"), 1);
    assert!(served.load(Ordering::Relaxed) > 1000);
    let log = daemon.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// Found by the kill -9 cycles: the daemon revoked the refresh token, was killed before it
/// stored the sign-out, and came back signed in, serving the tokens of a user who had signed
/// out (until the next refresh failed). The sign-out is now stored before Cognito is told.
#[test]
fn a_sign_out_cut_short_by_kill_9_stays_signed_out() {
    use cognitod_tests::fake::Fault;
    let (fake, mut daemon) = signed_in_daemon("");
    fake.fail_next("RevokeToken", Fault::DelayAnswer(Duration::from_secs(5)), 1);
    let mut ctl = daemon.ctl_spawn(&["logout"], "");
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.calls("RevokeToken") == 0 {
        assert!(Instant::now() < deadline, "no RevokeToken call");
        std::thread::sleep(Duration::from_millis(10));
    }
    daemon.kill();
    assert!(
        !ctl.wait().unwrap().success(),
        "the sign-out was never answered"
    );
    daemon.restart();
    let whoami = daemon.ctl(&["whoami"]);
    assert_ne!(whoami.code, 0, "signed out after the restart: {whoami:?}");
    assert_eq!(daemon.ctl(&["session"]).code, 1, "no tokens served");
}

/// libfaketime (Debian's `faketime`, installed by `scripts/test.sh`).
fn libfaketime() -> std::path::PathBuf {
    std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path().join("faketime/libfaketime.so.1");
            path.exists().then_some(path)
        })
        .next()
        .expect("libfaketime is installed (scripts/test.sh installs Debian's faketime)")
}

/// The daemon's wall clock (alone: not its monotonic timers, not the fake's) is set 55 s
/// forward, past the expiry of its 60 s tokens, through libfaketime. The next request
/// refreshes instead of serving the expired tokens, and the new tokens, whose `iat` is 55 s
/// behind the daemon's clock, are judged by the measured drift: served, not refreshed again.
#[test]
fn the_wall_clock_set_forward_past_expiry_refreshes_on_the_next_request() {
    let fake = FakeCognito::start(PoolOptions {
        access_token_seconds: 60,
        id_token_seconds: 60,
        ..PoolOptions::default()
    });
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let mut daemon = TestDaemon::start(&fake.config_toml());
    assert!(daemon.stop().success());
    let offset = daemon.dir.path().join("faketime");
    std::fs::write(&offset, "+0\n").unwrap();
    daemon.set_env("LD_PRELOAD", libfaketime());
    daemon.set_env("FAKETIME_TIMESTAMP_FILE", &offset);
    daemon.set_env("FAKETIME_NO_CACHE", "1");
    daemon.set_env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    daemon.restart();
    sign_in_alice(&daemon);
    let token = |daemon: &TestDaemon| {
        let session = daemon.ctl(&["session", "--json"]);
        assert_eq!(session.code, 0, "{session:?}");
        let json: serde_json::Value = serde_json::from_str(&session.stdout).unwrap();
        json["tokens"]["accessToken"].as_str().unwrap().to_owned()
    };
    let before = token(&daemon);
    let calls = fake.calls("InitiateAuth");

    std::fs::write(&offset, "+55\n").unwrap();
    let after = token(&daemon);
    assert_ne!(after, before, "expired tokens are not served");
    assert_eq!(fake.calls("InitiateAuth"), calls + 1, "one refresh");
    assert_eq!(
        token(&daemon),
        after,
        "the new tokens are served as they are"
    );
    assert_eq!(fake.calls("InitiateAuth"), calls + 1, "no second refresh");
    let status = daemon.ctl(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    println!("after a 55 s jump: {status}");
    assert_eq!(status["state"], "signedIn");
}

/// A machine whose clock is two hours ahead of Cognito's (a wrong time zone setting, a dead
/// RTC battery): fresh tokens are judged by Cognito's clock, so the sign-in works, and the
/// tokens are served by the measured drift, without a refresh per request.
#[test]
fn a_clock_hours_ahead_still_signs_in_and_serves() {
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let mut daemon = TestDaemon::start(&fake.config_toml());
    assert!(daemon.stop().success());
    daemon.set_env("LD_PRELOAD", libfaketime());
    daemon.set_env("FAKETIME", "+2h");
    daemon.set_env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    daemon.restart();
    // The password flow: SRP's TIMESTAMP would be refused that far from Cognito's clock.
    let login = daemon.ctl_stdin(
        &["login", "alice", "--password-stdin", "--flow", "password"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
    let calls = fake.calls("InitiateAuth");
    for _ in 0..3 {
        let session = daemon.ctl(&["session", "--json"]);
        assert_eq!(session.code, 0, "{session:?}");
    }
    assert_eq!(
        fake.calls("InitiateAuth"),
        calls,
        "no refresh: the tokens are fresh by Cognito's clock"
    );
}
