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

/// A fake Cognito with `alice`, and a booted container whose `/exp/config.toml` is the fake's
/// configuration (with the identity pool) and `config_tail`; `None` when the test may skip.
fn booted(config_tail: &str) -> Option<(FakeCognito, tempfile::TempDir, Container)> {
    let root = Container::root();
    if !cognitod_tests::can_run(
        root.is_some(),
        "a container root (scripts/test.sh builds one when it runs as root)",
    ) {
        return None;
    }
    let fake = FakeCognito::start(PoolOptions::default());
    fake.add_user(UserSpec::new("alice", PASSWORD));
    let exp = tempfile::tempdir().unwrap();
    std::fs::write(
        exp.path().join("config.toml"),
        format!("{}{config_tail}", fake.config_toml_with_identity_pool()),
    )
    .unwrap();
    let container = Container::boot(&root?, exp.path());
    Some((fake, exp, container))
}

#[test]
fn the_system_unit_serves_its_group_and_its_allowed_uids_and_keeps_its_watchdog() {
    let Some((_fake, _exp, container)) = booted(
        "[daemon]\nsocket = \"/run/cognitod/socket\"\nallowed_uids = [1001]\n[ecs]\nenabled = true\n",
    ) else {
        return;
    };
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
    // The completions and manual pages, where bash-completion, zsh, fish and man look; bash
    // loads its script.
    container.must(
        "set -e
        cd /usr/local/share
        for f in bash-completion/completions/cognitoctl zsh/site-functions/_cognitoctl \
            fish/vendor_completions.d/cognitoctl.fish man/man1/cognitoctl.1 \
            man/man5/cognitod.toml.5 man/man8/cognitod.8; do test -s \"$f\"; done
        bash -c 'source bash-completion/completions/cognitoctl && complete -p cognitoctl'",
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
        !journal(&container).contains("not pinging the watchdog"),
        "{}",
        journal(&container)
    );

    // The container endpoint under the unit's sandbox: its token where the unit lets the
    // daemon write (RuntimeDirectory=), served to whoever may read it (root here).
    let status: serde_json::Value = serde_json::from_str(
        &container
            .must("cognitoctl --socket /run/cognitod/socket --json status")
            .stdout,
    )
    .unwrap();
    let url = status["ecs"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{status}"));
    let token_file = status["ecs"]["tokenFile"].as_str().unwrap();
    assert!(token_file.starts_with("/run/cognitod-ecs/"), "{status}");
    let token = container.must(&format!("cat {token_file}")).stdout;
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let (code, body) =
        cognitod_tests::tcp_request(url, &[("Host", host), ("Authorization", &token)]);
    assert_eq!(code, 200, "{body}");
    assert!(body["AccessKeyId"].is_string(), "{body}");

    // The session survives a restart, in the state directory the unit gives it.
    container.must("systemctl restart cognitod.service");
    let (code, text) = as_user(&container, "alice", "whoami", None);
    assert_eq!((code, text.trim()), (0, "alice"), "{}", journal(&container));

    a_profile_gets_its_own_socket_and_directories(&container);
}

/// The template units as systemd runs them, beside the plain ones: a profile's socket starts
/// only with its config, at its own path with the plain socket's modes, and its service gets a
/// state and a runtime directory of its own. The service runs a shell in place of the daemon
/// (a drop-in), which reports what systemd handed it.
fn a_profile_gets_its_own_socket_and_directories(container: &Container) {
    // No config, no socket; and "." and ".." never point a socket outside profiles/ (systemd
    // refuses a ".." instance itself).
    for (instance, refusal) in [
        ("demo", "Assertion failed"),
        (".", "Assertion failed"),
        ("..", "Access denied"),
    ] {
        let refused = container.run(
            &format!("systemctl start 'cognitod@{instance}.socket'"),
            None,
        );
        assert!(
            refused.code != 0 && refused.stderr.contains(refusal),
            "{instance}: {refused:?}"
        );
    }
    container.must(
        "set -e
        install -m 0640 -o root -g cognitod /exp/config.toml /etc/cognitod/profiles/demo.toml
        systemctl enable --now cognitod@demo.socket",
    );
    let modes = container.must(
        "stat -c '%a %U:%G %n' /etc/cognitod/profiles /run/cognitod/profiles/demo \
         /run/cognitod/profiles/demo/socket /var/lib/cognitod/profiles",
    );
    assert_eq!(
        modes.stdout,
        "750 root:cognitod /etc/cognitod/profiles\n\
         755 root:root /run/cognitod/profiles/demo\n\
         660 cognitod:cognitod /run/cognitod/profiles/demo/socket\n\
         700 cognitod:cognitod /var/lib/cognitod/profiles\n"
    );
    container.must(
        r#"set -e
        mkdir -p /etc/systemd/system/cognitod@demo.service.d
        cat >/etc/systemd/system/cognitod@demo.service.d/probe.conf <<'END'
[Service]
Type=oneshot
ExecStart=
ExecStart=/bin/sh -c 'echo "probe: uid=$$(id -u) state=$$STATE_DIRECTORY runtime=$$RUNTIME_DIRECTORY"'
END
        systemctl daemon-reload
        systemctl start cognitod@demo.service"#,
    );
    let uid = container.must("id -u cognitod").stdout;
    let probe = container
        .must("journalctl -u cognitod@demo.service -o cat --no-pager | grep '^probe: '")
        .stdout;
    assert_eq!(
        probe,
        format!(
            "probe: uid={} state=/var/lib/cognitod/profiles/demo runtime=/run/cognitod-ecs-demo\n",
            uid.trim()
        )
    );
    let state = container.must("stat -c '%a %U:%G' /var/lib/cognitod/profiles/demo");
    assert_eq!(state.stdout, "700 cognitod:cognitod\n");
    // The plain unit serves on, at its own socket.
    let (code, text) = as_user(container, "alice", "whoami", None);
    assert_eq!((code, text.trim()), (0, "alice"), "{}", journal(container));

    // The daemon itself under the template (the probe gone): alice, in allowed_uids, finds the
    // profile's system-wide socket by its name (she has no profile of her own) and signs in;
    // the session is kept in the profile's state directory.
    container.must(
        "set -e
        rm -r /etc/systemd/system/cognitod@demo.service.d
        systemctl daemon-reload",
    );
    let as_alice = |args: &str, stdin: Option<&str>| {
        container.run(
            &format!("setpriv --reuid=alice --regid=alice --init-groups env -u XDG_RUNTIME_DIR HOME=/home/alice cognitoctl --profile demo {args}"),
            stdin,
        )
    };
    let login = as_alice(
        "login alice --password-stdin",
        Some(&format!("{PASSWORD}\n")),
    );
    let profile_journal = || {
        container
            .run(
                "journalctl -u cognitod@demo.service -o cat --no-pager",
                None,
            )
            .stdout
    };
    assert_eq!(login.code, 0, "{login:?}\n{}", profile_journal());
    let whoami = as_alice("whoami", None);
    assert_eq!(whoami.stdout.trim(), "alice", "{whoami:?}");
    container.must("test -s /var/lib/cognitod/profiles/demo/session.json");
    assert!(
        profile_journal().contains("serving"),
        "the real daemon serves the profile: {}",
        profile_journal()
    );
}

fn journal(container: &Container) -> String {
    container
        .run("journalctl -u cognitod.service -o cat --no-pager", None)
        .stdout
}

#[test]
fn the_user_unit_serves_its_user_with_the_container_endpoint_on() {
    let Some((_fake, _exp, container)) = booted("[ecs]\nenabled = true\n") else {
        return;
    };
    // systemd-nspawn mounts a FIFO over /proc/kmsg, which a user manager's sandbox cannot
    // hide (ProtectKernelLogs=); a host has no such mount.
    container.must(
        "set -e
        umount /proc/kmsg || true
        useradd -u 1001 -m alice
        loginctl enable-linger alice
        for i in $(seq 100); do [ -S /run/user/1001/bus ] && break; sleep 0.1; done
        install -d -o alice -g alice -m 0755 /home/alice/.config
        install -d -o alice -g alice -m 0700 /home/alice/.config/cognitod
        install -o alice -g alice -m 0600 /exp/config.toml /home/alice/.config/cognitod/config.toml",
    );
    let as_alice = |script: &str| {
        container.run(
            &format!(
                "cd /src && setpriv --reuid=alice --regid=alice --init-groups env HOME=/home/alice \
                 XDG_RUNTIME_DIR=/run/user/1001 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1001/bus \
                 PATH=/home/alice/.local/bin:/usr/bin:/bin bash -c '{script}'"
            ),
            Some(&format!("{PASSWORD}\n")),
        )
    };
    let install = as_alice(
        "set -e; COGNITOD_BIN_DIR=/cognitod-bin bash systemd/install.sh --user >/dev/null; \
         systemctl --user daemon-reload; systemctl --user enable --now cognitod.socket",
    );
    assert_eq!(install.code, 0, "{install:?}");
    let login = as_alice("cognitoctl login alice --password-stdin");
    assert_eq!(
        login.code,
        0,
        "{login:?}\n{}",
        container
            .run("journalctl --no-pager -o cat _UID=1001 | tail -30", None)
            .stdout
    );
    let status = as_alice("cognitoctl --json status");
    let status: serde_json::Value =
        serde_json::from_str(&status.stdout).unwrap_or_else(|e| panic!("{e}: {status:?}"));
    assert_eq!(status["state"], "signedIn", "{status}");
    let token_file = status["ecs"]["tokenFile"]
        .as_str()
        .unwrap_or_else(|| panic!("the endpoint serves under the user unit: {status}"));
    assert!(
        token_file.starts_with("/run/user/1001/cognitod-ecs/"),
        "{status}"
    );
    let credentials = as_alice(
        "eval \"$(cognitoctl env --ecs)\"; cat \"$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE\" >/dev/null && echo readable",
    );
    assert_eq!(credentials.stdout.trim(), "readable", "{credentials:?}");

    // A profile's socket (install.sh put the templates beside the plain units), once the
    // profile has a config: at its own path, with the plain socket's modes.
    let profile = as_alice(
        "set -e; cp ~/.config/cognitod/config.toml ~/.config/cognitod/profiles/demo.toml; \
         systemctl --user enable --now cognitod@demo.socket; \
         stat -c \"%a %U:%G %n\" $XDG_RUNTIME_DIR/cognitod/profiles/demo \
         $XDG_RUNTIME_DIR/cognitod/profiles/demo/socket",
    );
    assert_eq!(
        profile.stdout,
        "700 alice:alice /run/user/1001/cognitod/profiles/demo\n\
         600 alice:alice /run/user/1001/cognitod/profiles/demo/socket\n",
        "{profile:?}"
    );
    // The daemon itself under the template: a session of the profile's own, beside the
    // plain unit's.
    let login = as_alice("cognitoctl --profile demo login alice --password-stdin");
    assert_eq!(
        login.code,
        0,
        "{login:?}\n{}",
        container
            .run("journalctl --no-pager -o cat _UID=1001 | tail -30", None)
            .stdout
    );
    let whoami = as_alice("COGNITOD_PROFILE=demo cognitoctl whoami");
    assert_eq!(whoami.stdout.trim(), "alice", "{whoami:?}");
    let own = as_alice("cognitoctl logout >/dev/null; cognitoctl --profile demo --json status");
    let own: serde_json::Value =
        serde_json::from_str(&own.stdout).unwrap_or_else(|e| panic!("{e}: {own:?}"));
    assert_eq!(
        own["state"], "signedIn",
        "signing out of the plain unit leaves the profile: {own}"
    );
}
