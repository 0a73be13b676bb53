//! Socket load: keep-alive clients against the daemon or the ceiling (a minimal axum server
//! answering the same bytes), and what the daemon's process uses meanwhile.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Instant;

use cognitod_tests::read_response;

/// Serves `session` at `/v1/session` and `credentials` at `/v1/credentials/process` on `path`,
/// with the daemon's API version header: the same bytes as the daemon's answers, without the
/// daemon.
pub fn start_ceiling(path: &Path, session: String, credentials: String) {
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
            // Shared bytes and ready headers: no more work per request than the daemon does.
            let answer = |body: String| {
                let body = axum::body::Bytes::from(body);
                axum::routing::get(move || {
                    let headers = [
                        (
                            axum::http::header::CONTENT_TYPE,
                            axum::http::HeaderValue::from_static("application/json"),
                        ),
                        (
                            axum::http::HeaderName::from_static(cognitod_proto::API_VERSION_HEADER),
                            axum::http::HeaderValue::from(cognitod_proto::API_VERSION),
                        ),
                    ];
                    let body = body.clone();
                    async move { (headers, body) }
                })
            };
            let router = axum::Router::new()
                .route("/v1/session", answer(session))
                .route("/v1/credentials/process", answer(credentials));
            axum::serve(listener, router).await.expect("ceiling serves");
        });
    });
    wait.recv().expect("the ceiling starts");
}

#[derive(Debug)]
pub struct Load {
    /// Answers with status 200.
    pub ok: usize,
    seconds: f64,
    /// Each request's latency, sorted.
    latencies_ms: Vec<f64>,
}

impl Load {
    pub fn per_second(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.seconds
    }

    pub fn percentile(&self, p: f64) -> f64 {
        self.latencies_ms[((self.latencies_ms.len() - 1) as f64 * p) as usize]
    }
}

/// `connections` keep-alive clients sending `GET /v1/session` until they sent `requests`
/// between them.
pub fn load(socket: &Path, connections: usize, requests: usize) -> Load {
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let socket = socket.to_path_buf();
            // The first workers take one more when `requests` does not divide evenly.
            let mine = requests / connections + usize::from(worker < requests % connections);
            std::thread::spawn(move || {
                let mut stream = UnixStream::connect(&socket).expect("connect");
                let mut latencies = Vec::with_capacity(mine);
                let mut ok = 0;
                let mut buffer = vec![0u8; 16 * 1024];
                for _ in 0..mine {
                    let sent = Instant::now();
                    stream
                        .write_all(b"GET /v1/session HTTP/1.1\r\nHost: localhost\r\n\r\n")
                        .expect("request sent");
                    ok += usize::from(read_response(&mut stream, &mut buffer) == 200);
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                (ok, latencies)
            })
        })
        .collect();
    let mut ok = 0;
    let mut latencies_ms = Vec::with_capacity(requests);
    for worker in workers {
        let (done, latencies) = worker.join().expect("worker");
        ok += done;
        latencies_ms.extend(latencies);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies_ms.sort_by(f64::total_cmp);
    Load {
        ok,
        seconds,
        latencies_ms,
    }
}

pub fn rss_kib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// CPU seconds `pid` used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// The context switches (voluntary and involuntary) each thread of `pid` made so far.
pub fn switches(pid: u32) -> BTreeMap<String, u64> {
    let mut threads = BTreeMap::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            let switches = status
                .lines()
                .filter_map(|line| {
                    line.strip_prefix("voluntary_ctxt_switches:")
                        .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                })
                .map(|v| v.trim().parse::<u64>().unwrap_or(0))
                .sum();
            threads.insert(task.file_name().to_string_lossy().into_owned(), switches);
        }
    }
    threads
}

/// How often the threads ran between two [`switches`]: the switches each made, and one for
/// each thread that started or ended meanwhile (its count is not comparable).
pub fn wakeups(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> u64 {
    let ended = before.keys().filter(|t| !after.contains_key(*t)).count() as u64;
    ended
        + after
            .iter()
            .map(|(thread, n)| before.get(thread).map_or(1, |b| n.saturating_sub(*b)))
            .sum::<u64>()
}
