//! The AWS CLI end to end, and botocore's credential resolution alone.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cognitod_tests::binary;
use cognitod_tests::daemon::TestDaemon;

use crate::exec::exec_ms;
use crate::goals::{Table, median, stats};

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

/// `runs` alternating runs of `aws sts get-caller-identity` with the keys in the environment,
/// `credential_process = bench-floor` (printing `size` bytes) and `= cognitoctl`: their rows.
pub fn aws_cli(table: &mut Table, daemon: &TestDaemon, size: usize, runs: usize) {
    let cli = measure(daemon, size, runs);
    table.info(
        "aws sts get-caller-identity, keys in env",
        stats(&cli.env, "ms"),
    );
    table.info(
        "aws sts get-caller-identity, credential_process = floor",
        stats(&cli.floor, "ms"),
    );
    table.info(
        "aws sts get-caller-identity, credential_process = cognitoctl",
        stats(&cli.ours, "ms"),
    );
    let env = median(&cli.env);
    let added = median(&cli.ours) - env;
    table.info(
        "added by credential_process end to end (whole-command noise)",
        format!("{added:.1} ms ({:.1}%)", 100.0 * added / env),
    );
    let resolve = |name: &str| cli.resolve[name].as_f64().unwrap_or(f64::NAN);
    let resolve_added = resolve("cognitod") - resolve("env");
    table.info(
        "botocore credential resolution: env / floor / cognitoctl",
        format!(
            "{:.2} / {:.2} / {:.2} ms: cognitoctl adds {resolve_added:.2} ms = {:.2}% of the command",
            resolve("env"),
            resolve("floor"),
            resolve("cognitod"),
            100.0 * resolve_added / env
        ),
    );
}

fn measure(daemon: &TestDaemon, size: usize, runs: usize) -> AwsCli {
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
        command
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
        cli.ours.push(exec_ms(&mut run(Some("cognitod")), 0));
        cli.env.push(exec_ms(&mut run(None), 0));
        cli.floor.push(exec_ms(&mut run(Some("floor")), 0));
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

/// Milliseconds of `runs` runs of the usual hand-written helper: a Python script printing a
/// JSON cache of the credentials (`answer`, written in `dir`).
pub fn python_helper(dir: &Path, answer: &str, runs: usize) -> Vec<f64> {
    let cache = dir.join("credentials.json");
    std::fs::write(&cache, answer).expect("cache written");
    let script = dir.join("credential_process.py");
    std::fs::write(
        &script,
        "import json, sys\nwith open(sys.argv[1]) as f:\n    print(json.dumps(json.load(f)))\n",
    )
    .expect("script written");
    let python = python();
    (0..runs.max(3))
        .map(|_| exec_ms(Command::new(&python).arg(&script).arg(&cache), 0))
        .collect()
}
