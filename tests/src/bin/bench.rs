//! `bench [--quick]`: the performance figures of cognitod, each a pair or a ratio measured in
//! the same run, medians with min and max. Run it through `scripts/bench.sh` (release build).
//! Against the fake Cognito in this process; the daemon and cognitoctl are the real binaries.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::{binary, raw_request};

const PASSWORD: &str = "Correct-Horse-9";

struct Settings {
    runs: usize,
    seconds: u64,
    idle_seconds: u64,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let settings = if quick {
        Settings {
            runs: 30,
            seconds: 1,
            idle_seconds: 2,
        }
    } else {
        Settings {
            runs: 300,
            seconds: 3,
            idle_seconds: 20,
        }
    };
    let mut table = Vec::<(String, String)>::new();

    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let mut daemon = TestDaemon::start_with(
        &fake.config_toml_with_identity_pool(),
        "log_level = \"warn\"\n",
    );
    let rss_start = rss_kib(daemon.pid());
    let login = daemon.ctl_stdin(
        &["login", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
    assert_eq!(daemon.ctl(&["credentials"]).code, 0);
    let rss_signed_in = rss_kib(daemon.pid());
    if std::env::args().any(|a| a == "--hold") {
        // For profiling by hand: the signed-in daemon's socket and pid, until stdin closes.
        println!("socket {} pid {}", daemon.socket.display(), daemon.pid());
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        return;
    }

    // 5. Startup with a persisted session.
    assert!(daemon.stop().success());
    let startups: Vec<f64> = (0..settings.runs.min(30))
        .map(|_| startup_ms(&daemon.config_path, &daemon.socket))
        .collect();
    daemon.restart();
    table.push((
        "startup to first /v1/status (session loaded)".into(),
        stats(&startups, "ms"),
    ));

    // 1. credential_process.
    let socket = daemon.socket.to_str().expect("utf-8").to_owned();
    let cognitoctl = binary("cognitoctl");
    let sample = Command::new(&cognitoctl)
        .args(["--socket", &socket, "credential-process"])
        .output()
        .expect("credential-process runs");
    assert!(sample.status.success());
    let size = sample.stdout.len();
    let floor = time_runs(settings.runs, || {
        Command::new(binary("bench-floor"))
            .arg(size.to_string())
            .output()
    });
    let ours = time_runs(settings.runs, || {
        Command::new(&cognitoctl)
            .args(["--socket", &socket, "credential-process"])
            .output()
    });
    let dir = tempfile::tempdir().expect("temporary folder");
    let cache = dir.path().join("credentials.json");
    std::fs::write(&cache, &sample.stdout).expect("cache written");
    let script = dir.path().join("credential_process.py");
    std::fs::write(
        &script,
        "import json, sys\nwith open(sys.argv[1]) as f:\n    print(json.dumps(json.load(f)))\n",
    )
    .expect("script written");
    let python = python();
    let by_hand = time_runs((settings.runs / 3).max(3), || {
        Command::new(&python).arg(&script).arg(&cache).output()
    });
    table.push((
        "exec of a trivial binary (floor)".into(),
        stats(&floor, "ms"),
    ));
    table.push(("cognitoctl credential-process".into(), stats(&ours, "ms")));
    table.push((
        "Python script reading a JSON cache".into(),
        stats(&by_hand, "ms"),
    ));
    table.push((
        "credential-process / floor, / Python".into(),
        format!(
            "{:.2}x, {:.2}x",
            median(&ours) / median(&floor),
            median(&ours) / median(&by_hand)
        ),
    ));

    // 3. Throughput and latency, against a minimal server answering the same bytes.
    let body = raw_request(&daemon.socket, "GET", "/v1/session", b"").body;
    let ceiling_socket = dir.path().join("ceiling.sock");
    start_ceiling(&ceiling_socket, body.clone());
    let mut requests = 0;
    for connections in [1, 16, 64] {
        let ours = load(&daemon.socket, connections, settings.seconds);
        let ceiling = load(&ceiling_socket, connections, settings.seconds);
        requests += ours.requests;
        table.push((
            format!("GET /v1/session, {connections} connections"),
            format!(
                "{:.0} req/s ({:.0}% of {:.0}), p50 {:.3} ms, p99 {:.3} ms",
                ours.per_second(),
                100.0 * ours.per_second() / ceiling.per_second(),
                ceiling.per_second(),
                ours.percentile(0.50),
                ours.percentile(0.99)
            ),
        ));
    }
    let rss_after = rss_kib(daemon.pid());
    table.push((
        format!("daemon RSS: start / signed in / after {requests} requests"),
        format!(
            "{:.1} / {:.1} / {:.1} MiB",
            rss_start / 1024.0,
            rss_signed_in / 1024.0,
            rss_after / 1024.0
        ),
    ));

    // 4. Idle cost.
    let (cpu_before, switches_before) = cpu_and_switches(daemon.pid());
    std::thread::sleep(Duration::from_secs(settings.idle_seconds));
    let (cpu_after, switches_after) = cpu_and_switches(daemon.pid());
    table.push((
        format!("idle {} s signed in: CPU, wake-ups", settings.idle_seconds),
        format!(
            "{:.3} s CPU, {} context switches",
            cpu_after - cpu_before,
            switches_after - switches_before
        ),
    ));
    // 2. The AWS CLI end to end: moto answers STS, the daemon serves the fake's one-hour
    // credentials (as Cognito's are). The floor profile runs `bench-floor` as its
    // credential_process: what the AWS CLI's process provider costs whatever the helper.
    let cli = aws_cli(&daemon, size, if quick { 3 } else { 25 });
    // The async client library: one Client making calls one after another.
    let per_second = library_calls(&daemon.socket, settings.seconds);
    drop(daemon);
    table.push((
        "client library: sequential GET /v1/status on one Client".into(),
        format!("{per_second:.0} calls/s"),
    ));
    table.push((
        "aws sts get-caller-identity, keys in env".into(),
        stats(&cli.env, "ms"),
    ));
    table.push((
        "aws sts get-caller-identity, credential_process = floor".into(),
        stats(&cli.floor, "ms"),
    ));
    table.push((
        "aws sts get-caller-identity, credential_process = cognitoctl".into(),
        stats(&cli.ours, "ms"),
    ));
    let env = median(&cli.env);
    let added = median(&cli.ours) - env;
    table.push((
        "added by credential_process end to end (whole-command noise)".into(),
        format!("{added:.1} ms ({:.1}%)", 100.0 * added / env),
    ));
    let resolve = |name: &str| cli.resolve[name].as_f64().unwrap_or(f64::NAN);
    let resolve_added = resolve("cognitod") - resolve("env");
    table.push((
        "botocore credential resolution: env / floor / cognitoctl".into(),
        format!(
            "{:.2} / {:.2} / {:.2} ms: cognitoctl adds {resolve_added:.2} ms = {:.2}% of the command",
            resolve("env"),
            resolve("floor"),
            resolve("cognitod"),
            100.0 * resolve_added / env
        ),
    ));

    // 6. Upstream economy: 4 s tokens, clients polling for two lifetimes.
    for clients in [1, 100, 1000] {
        let (lifetimes, refreshes, served) = economy(clients, if quick { 1 } else { 2 });
        table.push((
            format!(
                "4 s tokens, {clients} clients polling for {} s",
                4 * lifetimes
            ),
            format!("{refreshes} refresh calls, {served} requests served"),
        ));
    }

    let width = table.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("\n| {:width$} | result |", "figure");
    println!("|{}|--------|", "-".repeat(width + 2));
    for (figure, result) in &table {
        println!("| {figure:width$} | {result} |");
    }
}

/// Wall times of `aws sts get-caller-identity`, in alternating runs so that drift in the
/// machine's load hits all three alike.
struct AwsCli {
    env: Vec<f64>,
    floor: Vec<f64>,
    ours: Vec<f64>,
    /// Median milliseconds botocore takes to resolve the credentials, in one warm process:
    /// `env`, `floor`, `cognitod` (the part of the commands above that differs).
    resolve: serde_json::Value,
}

/// Times botocore's credential resolution alone (a new session each time, as each AWS CLI
/// command has): the noise of a whole command (about +-20%) hides a few milliseconds.
const RESOLVE_PY: &str = r#"
import json, os, statistics, sys, time
import botocore.session
keys = json.load(sys.stdin)
def resolve(profile):
    if profile is None:
        os.environ.update(keys)
    try:
        session = botocore.session.Session(profile=profile)
        started = time.perf_counter()
        session.get_credentials().get_frozen_credentials()
        return (time.perf_counter() - started) * 1000
    finally:
        for name in keys:
            os.environ.pop(name, None)
times = {"env": [], "floor": [], "cognitod": []}
for _ in range(int(sys.argv[1])):
    for name in times:
        times[name].append(resolve(None if name == "env" else name))
print(json.dumps({name: statistics.median(t) for name, t in times.items()}))
"#;

fn aws_cli(daemon: &TestDaemon, size: usize, runs: usize) -> AwsCli {
    use cognitod_tests::moto::Moto;
    let moto = Moto::shared_or_start();
    let region = "us-east-1";
    let credentials: serde_json::Value =
        serde_json::from_str(&daemon.ctl(&["credentials", "--json"]).stdout).expect("credentials");
    let aws_config = daemon.aws_profile(region);
    let mut profiles = std::fs::read_to_string(&aws_config).expect("AWS config");
    profiles.push_str(&format!(
        "[profile floor]\nregion = {region}\ncredential_process = {} {size}\n",
        binary("bench-floor").display()
    ));
    std::fs::write(&aws_config, profiles).expect("AWS config written");
    let aws = cognitod_tests::venv().join("bin/aws");
    let key = |name: &str| credentials[name].as_str().unwrap_or("").to_owned();
    let run = |profile: Option<&str>| {
        let mut command = Command::new(&aws);
        command
            .args(["sts", "get-caller-identity"])
            .args(["--endpoint-url", &moto.endpoint])
            .env("AWS_CONFIG_FILE", &aws_config)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_DEFAULT_REGION", region);
        match profile {
            Some(profile) => {
                command.args(["--profile", profile]);
            }
            // The environment's keys win over a profile: none is named.
            None => {
                command
                    .env("AWS_ACCESS_KEY_ID", key("accessKeyId"))
                    .env("AWS_SECRET_ACCESS_KEY", key("secretAccessKey"))
                    .env("AWS_SESSION_TOKEN", key("sessionToken"));
            }
        }
        command.output()
    };
    let keys = serde_json::json!({
        "AWS_ACCESS_KEY_ID": key("accessKeyId"),
        "AWS_SECRET_ACCESS_KEY": key("secretAccessKey"),
        "AWS_SESSION_TOKEN": key("sessionToken"),
    });
    // The keys go in on standard input: never in a command line.
    let mut resolver = Command::new(python())
        .args(["-c", RESOLVE_PY, &(runs * 4).to_string()])
        .env("AWS_CONFIG_FILE", &aws_config)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_DEFAULT_REGION", region)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    resolver
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(keys.to_string().as_bytes())
        .expect("keys written");
    let resolve = resolver.wait_with_output().expect("python runs");
    assert!(resolve.status.success(), "{resolve:?}");
    let mut cli = AwsCli {
        env: Vec::new(),
        floor: Vec::new(),
        ours: Vec::new(),
        resolve: serde_json::from_slice(&resolve.stdout).expect("timings"),
    };
    for _ in 0..runs {
        cli.ours.extend(time_runs(1, || run(Some("cognitod"))));
        cli.env.extend(time_runs(1, || run(None)));
        cli.floor.extend(time_runs(1, || run(Some("floor"))));
    }
    cli
}

fn python() -> PathBuf {
    let venv = cognitod_tests::venv().join("bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn time_runs(
    runs: usize,
    mut run: impl FnMut() -> std::io::Result<std::process::Output>,
) -> Vec<f64> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            let output = run().expect("the command runs");
            assert!(output.status.success(), "{output:?}");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn stats(values: &[f64], unit: &str) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!(
        "median {:.2} {unit} (min {min:.2}, max {max:.2}, n={})",
        median(values),
        values.len()
    )
}

fn startup_ms(config: &Path, socket: &Path) -> f64 {
    let started = Instant::now();
    let mut child = Command::new(binary("cognitod"))
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cognitod starts");
    let elapsed = loop {
        if UnixStream::connect(socket).is_ok()
            && raw_request(socket, "GET", "/v1/status", b"").status == 200
        {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "cognitod did not start"
        );
        std::thread::sleep(Duration::from_micros(500));
    };
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid")).expect("pid");
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let _ = child.wait();
    elapsed.as_secs_f64() * 1000.0
}

fn start_ceiling(path: &Path, body: String) {
    let path = path.to_path_buf();
    let (ready, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::UnixListener::bind(&path).expect("ceiling socket");
            ready.send(()).expect("waiting");
            let router = axum::Router::new().route(
                "/v1/session",
                axum::routing::get(move || {
                    let body = body.clone();
                    async move { ([("content-type", "application/json")], body) }
                }),
            );
            axum::serve(listener, router).await.expect("ceiling serves");
        });
    });
    wait.recv().expect("the ceiling starts");
}

struct Load {
    requests: usize,
    seconds: f64,
    latencies_ms: Vec<f64>,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[((sorted.len() - 1) as f64 * p) as usize]
    }
}

/// `connections` keep-alive clients sending `GET /v1/session` for `seconds`.
fn load(socket: &Path, connections: usize, seconds: u64) -> Load {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let socket = socket.to_path_buf();
            std::thread::spawn(move || {
                let mut stream = UnixStream::connect(&socket).expect("connect");
                let mut latencies = Vec::new();
                let mut buffer = vec![0u8; 16 * 1024];
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    stream
                        .write_all(b"GET /v1/session HTTP/1.1\r\nHost: localhost\r\n\r\n")
                        .expect("request sent");
                    read_response(&mut stream, &mut buffer);
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            })
        })
        .collect();
    let mut latencies_ms = Vec::new();
    for worker in workers {
        latencies_ms.extend(worker.join().expect("worker"));
    }
    Load {
        requests: latencies_ms.len(),
        seconds: started.elapsed().as_secs_f64(),
        latencies_ms,
    }
}

/// Reads one response with a Content-Length body off a keep-alive connection.
fn read_response(stream: &mut UnixStream, buffer: &mut [u8]) {
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
                return;
            }
        }
    }
}

fn rss_kib(pid: u32) -> f64 {
    status_field(pid, "VmRSS:")
}

fn status_field(pid: u32, name: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// CPU seconds used so far and context switches (voluntary + involuntary) of all threads.
fn cpu_and_switches(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let mut switches = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            for line in status.lines() {
                if let Some(v) = line
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    switches += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
    }
    (ticks / 100.0, switches)
}

/// `clients` polling `/v1/session` every 200 ms for `lifetimes` lifetimes of 4 s tokens:
/// (lifetimes, refresh calls, requests served). The calls must not depend on `clients`.
fn economy(clients: usize, lifetimes: u64) -> (u64, u64, usize) {
    let fake = FakeCognito::start(PoolOptions {
        access_token_seconds: 4,
        id_token_seconds: 4,
        ..PoolOptions::default()
    });
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let daemon = TestDaemon::start_with(&fake.config_toml(), "log_level = \"warn\"\n");
    let login = daemon.ctl_stdin(
        &["login", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0);
    let before = fake.calls("InitiateAuth");
    let deadline = Instant::now() + Duration::from_secs(4 * lifetimes);
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let socket = daemon.socket.clone();
            std::thread::spawn(move || {
                let mut served = 0;
                while Instant::now() < deadline {
                    if raw_request(&socket, "GET", "/v1/session", b"").status == 200 {
                        served += 1;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                served
            })
        })
        .collect();
    let served = workers.into_iter().map(|w| w.join().expect("client")).sum();
    (lifetimes, fake.calls("InitiateAuth") - before, served)
}

/// Calls per second through the async client library: one `Client`, `GET /v1/status` one
/// after another for `seconds`.
fn library_calls(socket: &Path, seconds: u64) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let client = cognitod_client::Client::new(socket);
        client.status().await.expect("the daemon answers");
        let started = Instant::now();
        let mut calls = 0u64;
        while started.elapsed() < Duration::from_secs(seconds) {
            client.status().await.expect("the daemon answers");
            calls += 1;
        }
        calls as f64 / started.elapsed().as_secs_f64()
    })
}
