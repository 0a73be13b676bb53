//! The system-wide units under a real systemd, booted in a container of its own: installed by
//! `systemd/install.sh --system`, started by their socket, used by the users systemd and the
//! peer check let in, and kept alive by the watchdog.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::time::Duration;

use cognitod_tests::PASSWORD;
use cognitod_tests::container::Container;
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};

/// `cognitoctl ARGS` as `user` (with their groups), on the system socket.
fn as_user(container: &Container, user: &str, args: &str, stdin: Option<&str>) -> (i32, String) {
    let ran = container.run(
        &format!(
            "setpriv --reuid={user} --regid={user} --init-groups cognitoctl --socket /run/cognitod/socket {args}"
        ),
        stdin,
    );
    (ran.code, ran.stdout + &ran.stderr)
}

#[test]
fn the_system_unit_serves_its_group_and_its_allowed_uids_and_keeps_its_watchdog() {
    let Some(root) = Container::root() else {
        println!("skipped: no container root (scripts/test.sh builds one when it runs as root)");
        return;
    };
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let exp = tempfile::tempdir().unwrap();
    std::fs::write(
        exp.path().join("config.toml"),
        format!(
            "{}[daemon]\nsocket = \"/run/cognitod/socket\"\nallowed_uids = [1001]\n",
            fake.config_toml()
        ),
    )
    .unwrap();

    let container = Container::boot(&root, exp.path());
    container.must(
        "set -e
        cd /src && COGNITOD_BIN_DIR=/cognitod-bin bash systemd/install.sh --system >/dev/null
        install -m 0640 -o root -g cognitod /exp/config.toml /etc/cognitod/config.toml
        useradd -u 1001 -m alice; useradd -u 1002 -m bob; useradd -u 1003 -m carol
        usermod -aG cognitod alice; usermod -aG cognitod bob
        # A short watchdog, so a failing probe would show within the test.
        mkdir -p /etc/systemd/system/cognitod.service.d
        printf '[Service]\\nWatchdogSec=3\\n' >/etc/systemd/system/cognitod.service.d/watchdog.conf
        systemctl daemon-reload
        systemctl enable --now cognitod.socket",
    );
    // alice is in the group and in allowed_uids: she signs in for the host (the socket starts
    // the service).
    let (code, text) = as_user(
        &container,
        "alice",
        "login alice --password-stdin",
        Some(&format!("{PASSWORD}\n")),
    );
    assert_eq!(code, 0, "{text}\n{}", journal(&container));
    for user in ["alice", "root", "cognitod"] {
        let (code, text) = as_user(&container, user, "whoami", None);
        assert_eq!((code, text.trim()), (0, "alice"), "{user}");
    }
    // bob reaches the socket (group) but not the daemon (peer check); carol not even the
    // socket.
    let (code, text) = as_user(&container, "bob", "whoami", None);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("may not use this cognitod"), "{text}");
    let (code, text) = as_user(&container, "carol", "whoami", None);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("permission denied"), "{text}");
    let log = journal(&container);
    assert!(log.contains("uid=1002"), "bob is seen as himself:\n{log}");
    let modes = container.must("stat -c '%a %U:%G' /run/cognitod /run/cognitod/socket");
    assert_eq!(
        modes.stdout, "755 root:root\n660 cognitod:cognitod\n",
        "the directory as the socket unit makes it"
    );

    // Three watchdog periods later: pinged, never restarted.
    std::thread::sleep(Duration::from_secs(9));
    let show = container.must(
        "systemctl show cognitod.service -p NRestarts -p ActiveState -p WatchdogTimestampMonotonic",
    );
    assert!(
        show.stdout.contains("NRestarts=0") && show.stdout.contains("ActiveState=active"),
        "{show:?}\n{}",
        journal(&container)
    );
    assert!(
        !show.stdout.contains("WatchdogTimestampMonotonic=0\n"),
        "the watchdog was pinged: {show:?}"
    );
    assert!(
        !journal(&container).contains("probe"),
        "{}",
        journal(&container)
    );

    // The session survives a restart, in the state directory the unit gives it.
    container.must("systemctl restart cognitod.service");
    let (code, text) = as_user(&container, "alice", "whoami", None);
    assert_eq!((code, text.trim()), (0, "alice"), "{}", journal(&container));
}

fn journal(container: &Container) -> String {
    container
        .run("journalctl -u cognitod.service -o cat --no-pager", None)
        .stdout
}
