//! The exec'd figures: `cognitoctl credential-process` against the floor, where its time goes,
//! and the daemon's startup.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cognitod_tests::{binary, raw_request};

use crate::goals::{Holds, Table, median, noise, stats};

/// Milliseconds of each kind of run, from one loop that alternates them all, so that drift in
/// the machine's load hits each alike.
#[derive(Debug, Default)]
pub struct CredentialProcess {
    /// `bench-floor`, run twice per round (before and after `cognitoctl`): the two halves
    /// measure the run's own noise.
    pub floor_a: Vec<f64>,
    pub floor_b: Vec<f64>,
    /// `cognitoctl credential-process` on the daemon.
    pub ours: Vec<f64>,
    /// `cognitoctl credential-process` with `COGNITOD_PROFILE=/`: it exits with status 2
    /// before any work, so this is its exec, dynamic loading and start.
    pub noop: Vec<f64>,
    /// In this process: `blocking::get_body` of `/v1/credentials/process` on the daemon
    /// (connect, the socket checks, request, the daemon's handling, reading the answer).
    pub get: Vec<f64>,
    /// The same on the minimal axum server answering the same bytes.
    pub get_ceiling: Vec<f64>,
    /// `UnixStream::connect` to the daemon alone.
    pub connect: Vec<f64>,
    /// `bench-floor-static` (the floor linked statically, as cognitoctl's release build is),
    /// when `scripts/bench.sh` made it.
    pub floor_static: Vec<f64>,
}

impl CredentialProcess {
    /// The rows: the ratio to the floor (and to `python`, the usual helper's runs) and the
    /// breakdown, each a median: 1 the floor's exec (exec, dynamic loading, printing); 2
    /// cognitoctl's own exec, loading and start (`COGNITOD_PROFILE=/` makes it exit with
    /// status 2 before any work); 3 the request without an exec (connect, the client's socket
    /// checks, request, the daemon's handling, reading the answer); 4 the same on the ceiling
    /// (the transport and hyper: 3 − 4 is the daemon's own handling); 5 the connect alone;
    /// and what total − 2 − 3 leaves (parsing the answer and printing it).
    pub fn report(&self, table: &mut Table, python: &[f64]) {
        let linking = |name: &str| {
            if is_static(&binary(name)) {
                "static"
            } else {
                "dynamic"
            }
        };
        table.info(
            "cognitoctl / bench-floor linked",
            format!("{} / {}", linking("cognitoctl"), linking("bench-floor")),
        );
        let floor = [self.floor_a.as_slice(), &self.floor_b].concat();
        table.info("exec of a trivial binary (floor)", stats(&floor, "ms"));
        table.info("cognitoctl credential-process", stats(&self.ours, "ms"));
        table.info("Python script reading a JSON cache", stats(python, "ms"));
        let total = median(&self.ours);
        let (a, b) = (median(&self.floor_a), median(&self.floor_b));
        let ratio = total / median(&floor);
        table.check(
            "credential-process / floor",
            format!(
                "{ratio:.2}x (floor halves {a:.3} / {b:.3} ms: noise {:.1}%)",
                100.0 * noise(a, b)
            ),
            "≤ 1.2x",
            Holds::at_most(ratio, 1.2, noise(a, b)),
        );
        if !self.floor_static.is_empty() {
            table.info(
                "exec of the floor linked statically",
                stats(&self.floor_static, "ms"),
            );
            table.info(
                "credential-process / the floor linked statically",
                format!("{:.2}x", total / median(&self.floor_static)),
            );
        }
        table.info(
            "credential-process / Python",
            format!("{:.2}x", total / median(python)),
        );
        let ms = |runs: &[f64]| format!("{:.3} ms", median(runs));
        table.info("breakdown 1: exec of the floor binary", ms(&floor));
        table.info(
            "breakdown 2: exec of cognitoctl exiting at once",
            ms(&self.noop),
        );
        table.info(
            "breakdown 3: blocking::get_body /v1/credentials/process, in process",
            ms(&self.get),
        );
        table.info(
            "breakdown 4: the same on the ceiling",
            ms(&self.get_ceiling),
        );
        table.info("breakdown 5: UnixStream::connect alone", ms(&self.connect));
        table.info(
            "breakdown 3 − 4: the daemon's own handling",
            format!("{:.3} ms", median(&self.get) - median(&self.get_ceiling)),
        );
        let accounted = median(&self.noop) + median(&self.get);
        table.info(
            "breakdown 2 + 3 of the total",
            format!(
                "{accounted:.3} of {total:.3} ms, {:.3} ms unaccounted",
                total - accounted
            ),
        );
    }
}

/// `rounds` rounds of: floor, cognitoctl, floor, cognitoctl exiting at once, then the
/// in-process requests. `size` is the length of cognitoctl's answer (the floor prints as much).
pub fn credential_process(
    socket: &Path,
    ceiling: &Path,
    size: usize,
    rounds: usize,
) -> CredentialProcess {
    let cognitoctl = binary("cognitoctl");
    let floor = binary("bench-floor");
    let floor_static = Some(floor.with_file_name("bench-floor-static")).filter(|p| p.exists());
    let size = size.to_string();
    let ctl = |profile: Option<&str>| {
        let mut command = Command::new(&cognitoctl);
        command
            .arg("--socket")
            .arg(socket)
            .arg("credential-process");
        match profile {
            Some(profile) => command.env("COGNITOD_PROFILE", profile),
            None => command.env_remove("COGNITOD_PROFILE"),
        };
        command
    };
    let get = |socket: &Path| {
        cognitod_client::blocking::get_body(socket, "/v1/credentials/process")
            .expect("the credentials");
    };
    let mut runs = CredentialProcess::default();
    for _ in 0..rounds {
        runs.floor_a
            .push(exec_ms(Command::new(&floor).arg(&size), 0));
        runs.ours.push(exec_ms(&mut ctl(None), 0));
        runs.floor_b
            .push(exec_ms(Command::new(&floor).arg(&size), 0));
        runs.noop.push(exec_ms(&mut ctl(Some("/")), 2));
        if let Some(floor_static) = &floor_static {
            runs.floor_static
                .push(exec_ms(Command::new(floor_static).arg(&size), 0));
        }
        runs.get.push(elapsed_ms(|| get(socket)));
        runs.get_ceiling.push(elapsed_ms(|| get(ceiling)));
        runs.connect.push(elapsed_ms(|| {
            UnixStream::connect(socket).expect("connect");
        }));
    }
    runs
}

/// Milliseconds `command` takes to run to its end (its output collected), checking its exit
/// status is `code`.
pub fn exec_ms(command: &mut Command, code: i32) -> f64 {
    let started = Instant::now();
    let output = command.output().expect("the command runs");
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(code), "{command:?}: {output:?}");
    elapsed.as_secs_f64() * 1000.0
}

fn elapsed_ms(run: impl FnOnce()) -> f64 {
    let started = Instant::now();
    run();
    started.elapsed().as_secs_f64() * 1000.0
}

/// Whether the ELF executable at `path` is statically linked: it names no dynamic loader (no
/// `PT_INTERP` program header).
fn is_static(path: &Path) -> bool {
    const PT_INTERP: usize = 3;
    let elf = std::fs::read(path).expect("the executable is read");
    assert!(
        elf.starts_with(b"\x7fELF\x02\x01"),
        "{} is not a 64-bit little-endian ELF file",
        path.display()
    );
    let number = |at: usize, bytes: usize| {
        elf[at..at + bytes]
            .iter()
            .rev()
            .fold(0, |n, &byte| n << 8 | usize::from(byte))
    };
    let (table, entry_size, entries) = (number(0x20, 8), number(0x36, 2), number(0x38, 2));
    (0..entries).all(|i| number(table + i * entry_size, 4) != PT_INTERP)
}

/// Milliseconds from exec of `cognitod` (its session persisted) to its first answer.
pub fn startup_ms(config: &Path, socket: &Path) -> f64 {
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
