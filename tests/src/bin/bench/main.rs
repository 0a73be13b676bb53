//! `bench [--quick] [--hold]`: the performance figures of cognitod, each with its goal, ratios
//! measured against a floor or a ceiling in the same run. Run it through `scripts/bench.sh`
//! (release build). Against the fake Cognito in this process; the daemon and cognitoctl are
//! the real binaries, the daemon at its default log level (info), so every hand-out is logged.
//!
//! It prints one markdown table, `figure | result | goal | holds`, and exits non-zero when a
//! goal fails the run:
//!
//! - Ratio goals (`credential-process` ≤ 1.2x the exec floor, socket throughput ≥ 70% of the
//!   ceiling at 1, 16 and 64 connections) fail the run only when they miss by more than the
//!   run's own noise, measured by measuring the reference twice: the floor runs twice in each
//!   round of the alternation (floor A, cognitoctl, floor B), noise = |median(A)/median(B) − 1|,
//!   and "≤ 1.2x" fails only above 1.2 × (1 + noise); the ceiling runs before and after the
//!   daemon at each connection count, noise = |a/b − 1|, and "≥ 70%" fails only below
//!   0.70 × (1 − noise). A miss within the noise shows as `within noise`.
//! - Absolute goals fail the run on any miss: startup to first answer ≤ 20 ms; daemon RSS
//!   signed in ≤ 10 MiB, growing ≤ 1 MiB over the load runs (10^6 requests per run, 10^5
//!   with `--quick`; from after a warm-up at 64 connections) and still ≤ 10 MiB after them; no context switch of the idle
//!   daemon (a window starting 70 s after its last request, see [`SETTLE`]); refresh calls
//!   the same for 1, 100 and 1000 clients (±1, where the window falls) and no more than the
//!   schedule allows (see the economy's comment: with 4 s tokens refreshes are at least 0.8 s
//!   apart, not 2 s, since `iat` is in whole seconds); every `/v1/session` answered 200 logged
//!   as a hand-out (the `count=N` of aggregated lines summed); and exactly as many AWS
//!   credential hand-outs logged as answers that carried them.
//! - p99 latency at 16 connections (< 1 ms) is a ratio goal too: it fails the run beyond
//!   1 ms × (1 + noise), the noise being how far apart the two ceiling runs' p99 are.
//!
//! Figures without a goal (`—`) are there to compare by hand: the Python helper, the AWS CLI
//! end to end, botocore's resolution, the client library's calls per second.
//!
//! `--hold` signs a daemon in, prints its socket and pid, and keeps it until stdin closes (for
//! profiling by hand).

mod aws;
mod exec;
mod goals;
mod load;

use std::io::Read;
use std::time::{Duration, Instant};

use cognitod_tests::daemon::{TestDaemon, handouts_in};
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::raw_request;

use crate::goals::{Holds, Table, median, noise, stats};
use crate::load::{cpu_seconds, load, rss_kib, start_ceiling, switches, wakeups};

const PASSWORD: &str = "Correct-Horse-9";

/// How long after its last request the daemon is left before its idle window: each request
/// arms a 60 s timeout, and tokio's timer wakes the runtime once at the deadline of the last
/// one armed even though it was cancelled (up to a wheel slot late: 4.1 s at that range). That
/// is the last request's tail, not being idle.
const SETTLE: Duration = Duration::from_secs(70);

#[derive(Debug)]
struct Settings {
    /// Rounds of the exec'd alternation (floor, cognitoctl, floor, cognitoctl exiting at once).
    rounds: usize,
    /// `GET /v1/session` requests per load run.
    requests: usize,
    /// How long the client library calls.
    seconds: u64,
    idle_seconds: u64,
    aws_runs: usize,
    /// Lifetimes of the 4 s tokens the economy clients poll for.
    lifetimes: u64,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let settings = if quick {
        Settings {
            rounds: 30,
            requests: 100_000,
            seconds: 1,
            idle_seconds: 2,
            aws_runs: 3,
            lifetimes: 1,
        }
    } else {
        Settings {
            rounds: 300,
            requests: 1_000_000,
            seconds: 3,
            idle_seconds: 20,
            aws_runs: 25,
            lifetimes: 2,
        }
    };
    let hold = std::env::args().any(|a| a == "--hold");
    if let Some(table) = run(&settings, hold)
        && !table.print()
    {
        std::process::exit(1);
    }
}

/// Every figure, in a table; none with `hold`.
fn run(settings: &Settings, hold: bool) -> Option<Table> {
    let mut table = Table::default();
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    // info is the daemon's default level.
    let mut daemon = TestDaemon::start_with(
        &fake.config_toml_with_identity_pool(),
        "log_level = \"info\"\n",
    );
    let rss_start = rss_kib(daemon.pid());
    let login = daemon.ctl_stdin(
        &["login", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(login.code, 0, "{login:?}");
    assert_eq!(daemon.ctl(&["credentials"]).code, 0);
    let rss_signed_in = rss_kib(daemon.pid());
    if hold {
        println!("socket {} pid {}", daemon.socket.display(), daemon.pid());
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        return None;
    }

    // Startup with a persisted session.
    assert!(daemon.stop().success());
    let startups: Vec<f64> = (0..30)
        .map(|_| exec::startup_ms(&daemon.config_path, &daemon.socket))
        .collect();
    daemon.restart();
    table.check(
        "startup to first /v1/status (session loaded)",
        stats(&startups, "ms"),
        "≤ 20 ms",
        Holds::absolute(median(&startups) <= 20.0),
    );

    // credential_process, against the floor, and where its time goes. The ceiling answers
    // what the daemon answers (credentials first, so that the session's answer carries them,
    // as under load).
    let credentials = raw_request(&daemon.socket, "GET", "/v1/credentials/process", b"");
    let session = raw_request(&daemon.socket, "GET", "/v1/session", b"");
    assert_eq!((session.status, credentials.status), (200, 200));
    let dir = tempfile::tempdir().expect("temporary folder");
    let ceiling = dir.path().join("ceiling.sock");
    start_ceiling(&ceiling, session.body, credentials.body);
    let sample = daemon.ctl(&["credential-process"]);
    assert_eq!(sample.code, 0, "{sample:?}");
    let python = aws::python_helper(dir.path(), &sample.stdout, settings.rounds / 3);
    let runs = exec::credential_process(
        &daemon.socket,
        &ceiling,
        sample.stdout.len(),
        settings.rounds,
    );
    runs.report(&mut table, &python);
    // Each cognitoctl run and in-process request is one hand-out of AWS credentials, as are
    // the ceiling's sample and `sample`.
    let credential_requests = 2 + runs.ours.len() + runs.get.len();

    // Throughput and latency, against the ceiling run before and after at each count. RSS is
    // measured from after a warm-up at the most connections: what grows after that grows
    // with the requests.
    let warm_up = load(&daemon.socket, 64, 64 * 100);
    // `session` above, and the warm-up's.
    let mut sessions_served = 1 + warm_up.ok;
    let rss_before = rss_kib(daemon.pid());
    for connections in [1, 16, 64] {
        let ceiling_a = load(&ceiling, connections, settings.requests);
        let ours = load(&daemon.socket, connections, settings.requests);
        let ceiling_b = load(&ceiling, connections, settings.requests);
        sessions_served += ours.ok;
        let (a, b) = (ceiling_a.per_second(), ceiling_b.per_second());
        let share = 2.0 * ours.per_second() / (a + b);
        table.check(
            format!(
                "GET /v1/session, {}",
                counted(connections, "connection")
            ),
            format!(
                "{:.0} req/s = {:.0}% of the ceiling ({a:.0} / {b:.0} req/s: noise {:.1}%), p50 {:.3} ms, p99 {:.3} ms",
                ours.per_second(),
                100.0 * share,
                100.0 * noise(a, b),
                ours.percentile(0.50),
                ours.percentile(0.99)
            ),
            "≥ 70% of the ceiling",
            Holds::at_least(share, 0.70, noise(a, b)),
        );
        if connections == 16 {
            let p99 = ours.percentile(0.99);
            let (p99_a, p99_b) = (ceiling_a.percentile(0.99), ceiling_b.percentile(0.99));
            table.check(
                "p99 latency of GET /v1/session, 16 connections",
                format!(
                    "{p99:.3} ms (the ceiling's {p99_a:.3} / {p99_b:.3} ms: noise {:.1}%)",
                    100.0 * noise(p99_a, p99_b)
                ),
                "< 1 ms",
                Holds::at_most(p99, 1.0, noise(p99_a, p99_b)),
            );
        }
    }
    let rss_after = rss_kib(daemon.pid());
    let mib = |kib: f64| kib / 1024.0;
    table.check(
        "daemon RSS: start / signed in",
        format!("{:.1} / {:.1} MiB", mib(rss_start), mib(rss_signed_in)),
        "signed in ≤ 10 MiB",
        Holds::absolute(mib(rss_signed_in) <= 10.0),
    );
    table.check(
        format!(
            "daemon RSS after a warm-up / after {} more requests",
            3 * settings.requests
        ),
        format!(
            "{:.1} / {:.1} MiB ({:+.2} MiB)",
            mib(rss_before),
            mib(rss_after),
            mib(rss_after - rss_before)
        ),
        "growth ≤ 1 MiB, ≤ 10 MiB",
        Holds::absolute(mib(rss_after - rss_before) <= 1.0 && mib(rss_after) <= 10.0),
    );

    // Every hand-out logged, once the daemon wrote what it aggregates.
    let (sessions_logged, credentials_logged) = logged_handouts(&daemon);
    table.check(
        "session hand-outs logged / /v1/session answered",
        format!("{sessions_logged} / {sessions_served}"),
        "equal",
        Holds::absolute(sessions_logged == sessions_served as u64),
    );
    // And the `credentials` call after signing in.
    let carried_credentials = sessions_served + credential_requests + 1;
    table.check(
        "AWS credential hand-outs logged / answers with them",
        format!("{credentials_logged} / {carried_credentials}"),
        "equal",
        Holds::absolute(credentials_logged == carried_credentials as u64),
    );

    // The AWS CLI end to end: moto answers STS, the daemon serves the fake's one-hour
    // credentials (as Cognito's are).
    aws::aws_cli(&mut table, &daemon, sample.stdout.len(), settings.aws_runs);
    table.info(
        "client library: sequential GET /v1/status on one Client",
        format!(
            "{:.0} calls/s",
            library_calls(&daemon.socket, settings.seconds)
        ),
    );
    let last_request = Instant::now();
    let in_use = switches(daemon.pid());

    // Upstream economy (other daemons, while this one settles): 4 s tokens, clients polling.
    // The daemon refreshes half-way through a token's life as its claims say: from `iat`,
    // whole seconds (so up to 1 s before the token was issued), and up to 10% of the 2 s lead
    // early (jitter). Refreshes are thus at least 2 − 1 − 0.2 = 0.8 s apart: at most
    // window / 0.8 s + 1 in the window.
    let window = 4 * settings.lifetimes;
    let most = window * 1000 / 800 + 1;
    let refreshes = [1, 100, 1000].map(|clients| {
        let (refreshes, served) = economy(clients, settings.lifetimes);
        table.info(
            format!(
                "4 s tokens, {} polling for {window} s",
                counted(clients, "client")
            ),
            format!("{refreshes} refresh calls, {served} requests served"),
        );
        refreshes
    });
    let (fewest, most_made) = (
        refreshes.iter().min().copied().unwrap_or(0),
        refreshes.iter().max().copied().unwrap_or(0),
    );
    table.check(
        "refresh calls for 1 / 100 / 1000 clients",
        format!("{} / {} / {}", refreshes[0], refreshes[1], refreshes[2]),
        format!("same (±1), ≤ {window} s / 0.8 s + 1 = {most}"),
        Holds::absolute(most_made - fewest <= 1 && most_made <= most),
    );

    // Idle cost, once the last request's timers ran out.
    std::thread::sleep(SETTLE.saturating_sub(last_request.elapsed()));
    let (cpu_before, settled) = (cpu_seconds(daemon.pid()), switches(daemon.pid()));
    table.info(
        format!(
            "after the last request: wake-ups in {} s of settling",
            SETTLE.as_secs()
        ),
        format!("{} context switches", wakeups(&in_use, &settled)),
    );
    std::thread::sleep(Duration::from_secs(settings.idle_seconds));
    let idle = wakeups(&settled, &switches(daemon.pid()));
    table.check(
        format!("idle {} s signed in: CPU, wake-ups", settings.idle_seconds),
        format!(
            "{:.3} s CPU, {idle} context switches",
            cpu_seconds(daemon.pid()) - cpu_before
        ),
        "0 context switches",
        Holds::absolute(idle == 0),
    );
    Some(table)
}

/// `n` `thing`s, in words.
fn counted(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// The hand-outs the daemon logged: (session tokens, AWS credentials). It writes what it
/// aggregates within about 1 s: read after 1.5 s, and again until the sums stop growing (at
/// most 5 s).
fn logged_handouts(daemon: &TestDaemon) -> (u64, u64) {
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let count = || {
        let log = daemon.log();
        (
            handouts_in(&log, "session tokens handed out", ""),
            handouts_in(&log, "AWS credentials handed out", ""),
        )
    };
    let mut counts = count();
    while started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(500));
        let again = count();
        if again == counts {
            break;
        }
        counts = again;
    }
    counts
}

/// `clients` polling `/v1/session` every 200 ms for `lifetimes` lifetimes of 4 s tokens:
/// (refresh calls, requests served). The calls must not depend on `clients`.
fn economy(clients: usize, lifetimes: u64) -> (u64, usize) {
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
    (fake.calls("InitiateAuth") - before, served)
}

/// Calls per second through the async client library: one `Client`, `GET /v1/status` one
/// after another for `seconds`.
fn library_calls(socket: &std::path::Path, seconds: u64) -> f64 {
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
