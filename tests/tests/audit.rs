//! Every hand-out is in the daemon's log with its peer, under load too: the audit counts
//! hand-outs on the request path and writes them off it, a line per peer and kind a second
//! with their count.

use std::io::Write;
use std::os::unix::net::UnixStream;

use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::{PASSWORD, read_response, sign_in_alice};

const CONNECTIONS: usize = 8;
const REQUESTS: usize = 250;
const PROCESSES: usize = 12;

#[test]
fn every_hand_out_under_load_is_logged_with_its_peer_and_count() {
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let daemon = TestDaemon::start(&fake.config_toml_with_identity_pool());
    sign_in_alice(&daemon);
    // Credentials first, so that every session answer below carries them too.
    assert_eq!(daemon.ctl(&["credentials"]).code, 0);
    daemon.wait_for_handouts("AWS credentials handed out", "", 1);
    let before = daemon.handouts("AWS credentials handed out", "");

    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let socket = daemon.socket.clone();
            std::thread::spawn(move || {
                let mut stream = UnixStream::connect(&socket).expect("connect");
                let mut buffer = vec![0u8; 16 * 1024];
                (0..REQUESTS)
                    .filter(|_| get_session(&mut stream, &mut buffer) == 200)
                    .count()
            })
        })
        .collect();
    let served: usize = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    assert_eq!(served, CONNECTIONS * REQUESTS);
    for _ in 0..PROCESSES {
        assert_eq!(daemon.ctl(&["credential-process"]).code, 0);
    }

    let tokens = u64::try_from(served).expect("a count");
    let credentials = tokens + PROCESSES as u64;
    daemon.wait_for_handouts("session tokens handed out", "", tokens);
    daemon.wait_for_handouts("AWS credentials handed out", "", before + credentials);
    // Nothing counted twice: a second and a half later (past the next line's due time), the
    // sums are still exact.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(daemon.handouts("session tokens handed out", ""), tokens);
    assert_eq!(
        daemon.handouts("AWS credentials handed out", ""),
        before + credentials
    );

    let log = daemon.log();
    let lines = |message: &str| {
        log.lines()
            .filter(|line| line.contains(message))
            .collect::<Vec<_>>()
    };
    // The 2,000 session answers went to this process: a few lines, not one a request.
    let ours = format!("pid={} ", std::process::id());
    let session_lines = lines("session tokens handed out");
    assert!(
        (1..=10).contains(&session_lines.len())
            && session_lines
                .iter()
                .all(|l| l.contains(&ours) && l.contains("username=alice")),
        "{session_lines:#?}"
    );
    // Each credential-process run is its own peer, with its own line.
    let process_lines = lines("AWS credentials handed out")
        .into_iter()
        .filter(|l| !l.contains(&ours))
        .count();
    assert!(
        process_lines > PROCESSES,
        "one line per cognitoctl process (and the first `credentials`): {process_lines}"
    );
}

/// `GET /v1/session` on a kept-alive connection: the answer's status.
fn get_session(stream: &mut UnixStream, buffer: &mut [u8]) -> u16 {
    stream
        .write_all(b"GET /v1/session HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("request sent");
    read_response(stream, buffer)
}
