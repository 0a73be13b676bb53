//! `sweep DIR`: the secret sweep. Every secret the fake Cognito saw during a test run
//! (`secrets-*.txt`, one per line) is looked for in every log, standard error and test output
//! in DIR (`*.log`). Prints what it searched and exits 1 on any hit, naming the file and the
//! secret's kind and length, never the secret.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use aho_corasick::AhoCorasick;

/// Secrets shorter than this are left out: 6-digit codes and the like match by chance.
const SHORTEST: usize = 12;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: sweep DIR");
        return ExitCode::from(2);
    };
    let report = sweep(Path::new(&dir));
    for hit in &report.hits {
        eprintln!("{hit}");
    }
    println!(
        "secret sweep: {} secrets searched for in {} logs ({:.1} MiB, {} daemon logs at trace \
         level): {} found",
        report.secrets,
        report.logs,
        report.bytes as f64 / (1024.0 * 1024.0),
        report.trace_logs,
        report.hits.len()
    );
    if report.secrets == 0 || report.trace_logs == 0 {
        eprintln!("nothing to sweep: was COGNITOD_TEST_SECRET_SWEEP set for the tests?");
        return ExitCode::from(2);
    }
    if report.hits.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[derive(Debug, Default)]
struct Report {
    secrets: usize,
    logs: usize,
    trace_logs: usize,
    bytes: usize,
    /// Where a secret was found: file, offset, the secret's kind and length (never itself).
    hits: Vec<String>,
}

fn sweep(dir: &Path) -> Report {
    let mut secrets = BTreeSet::new();
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the sweep folder") {
        let path = entry.expect("a folder entry").path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with("secrets-") {
            let text = std::fs::read_to_string(&path).expect("a secrets file");
            secrets.extend(
                text.lines()
                    .filter(|s| s.len() >= SHORTEST)
                    .map(str::to_owned),
            );
        } else if name.ends_with(".log") {
            logs.push(path);
        }
    }
    let secrets: Vec<String> = secrets.into_iter().collect();
    let matcher = AhoCorasick::new(&secrets).expect("a matcher over the secrets");
    let mut report = Report {
        secrets: secrets.len(),
        logs: logs.len(),
        ..Report::default()
    };
    for log in &logs {
        let text = std::fs::read(log).expect("a log");
        report.bytes += text.len();
        if text.windows(7).any(|w| w == b" TRACE ") {
            report.trace_logs += 1;
        }
        for found in matcher.find_iter(&text) {
            let secret = &secrets[found.pattern().as_usize()];
            report.hits.push(format!(
                "{}: a secret ({} bytes, {}) at byte {}",
                log.display(),
                secret.len(),
                kind(secret),
                found.start()
            ));
        }
    }
    report
}

fn kind(secret: &str) -> &'static str {
    match secret.split('.').count() {
        3 if secret.starts_with("eyJ") => "a JWT",
        _ if secret.len() > 300 => "a session token or challenge session",
        _ => "a password, key, signature or refresh token",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_secret_is_found_and_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQ";
        std::fs::write(
            dir.path().join("secrets-1.txt"),
            format!("{secret}\n123456\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("cognitod-1.log"),
            "x TRACE y\nall clear 123456\n",
        )
        .unwrap();
        let clean = sweep(dir.path());
        assert_eq!((clean.secrets, clean.logs, clean.trace_logs), (1, 1, 1));
        assert!(
            clean.hits.is_empty(),
            "short codes are not searched: {:?}",
            clean.hits
        );

        std::fs::write(
            dir.path().join("cognitoctl-2.log"),
            format!("error: {secret}\n"),
        )
        .unwrap();
        let dirty = sweep(dir.path());
        assert_eq!(dirty.hits.len(), 1);
        assert!(dirty.hits[0].contains("a JWT"), "{:?}", dirty.hits);
        assert!(!dirty.hits[0].contains(secret));
    }
}
