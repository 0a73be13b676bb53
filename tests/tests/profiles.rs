//! Profiles: one daemon per profile, each with its own config, socket and state, found by
//! name; `cognitoctl exec` running a command with a profile's credentials; `profiles` and
//! `aws-config`. Two pools at once, the real binaries.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cognitod_tests::daemon::{ProfileHome, TestDaemon};
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::{PASSWORD, binary};
use serde_json::Value;

/// A pool of its own (ids that differ from the default one's) with `user`.
fn pool(n: u32, user: &str, options: PoolOptions) -> FakeCognito {
    let fake = FakeCognito::start(PoolOptions {
        pool_id: format!("us-east-1_FakePool{n}"),
        client_id: format!("fakeclient{n}abcdefghijklmnop"),
        identity_pool_id: format!("us-east-1:0f4c9a2e-0000-4000-a000-00000000000{n}"),
        ..options
    });
    fake.add_user(UserSpec::new(user, PASSWORD));
    fake
}

fn sign_in(home: &ProfileHome, profile: &str, user: &str) {
    let login = home.ctl(
        &["--profile", profile, "login", user, "--password-stdin"],
        &[],
        Some(&format!("{PASSWORD}\n")),
    );
    assert_eq!(login.code, 0, "{login:?}");
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// The `KEY=VALUE` lines of `env`'s output, as a map.
fn env_of(output: &str) -> std::collections::BTreeMap<String, String> {
    output
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn two_profiles_on_two_pools_stay_apart() {
    let home = ProfileHome::new();
    let dev_pool = pool(2, "alice", PoolOptions::default());
    let prod_pool = pool(3, "bob", PoolOptions::default());
    let _dev = TestDaemon::start_profile(&home, "dev", &dev_pool.config_toml_with_identity_pool());
    let _prod =
        TestDaemon::start_profile(&home, "prod", &prod_pool.config_toml_with_identity_pool());
    assert!(home.socket("dev").exists() && home.socket("prod").exists());
    assert!(home.state.join("cognitod/profiles/dev").is_dir());
    sign_in(&home, "dev", "alice");
    sign_in(&home, "prod", "bob");

    let whoami = |args: &[&str], env: &[(&str, &str)]| {
        let out = home.ctl(args, env, None);
        assert_eq!(out.code, 0, "{out:?}");
        out.stdout.trim().to_owned()
    };
    assert_eq!(whoami(&["--profile", "dev", "whoami"], &[]), "alice");
    assert_eq!(whoami(&["whoami", "--profile=prod"], &[]), "bob");
    assert_eq!(whoami(&["whoami"], &[("COGNITOD_PROFILE", "prod")]), "bob");
    // An explicit socket wins over the profile.
    let dev_socket = home.socket("dev").display().to_string();
    assert_eq!(
        whoami(
            &["--profile", "prod", "--socket", &dev_socket, "whoami"],
            &[]
        ),
        "alice"
    );

    // credential_process, on its fast path, per profile.
    let dev_keys = json(
        &home
            .ctl(&["credential-process", "--profile", "dev"], &[], None)
            .stdout,
    );
    let prod_keys = json(
        &home
            .ctl(&["--profile=prod", "credential-process"], &[], None)
            .stdout,
    );
    assert_eq!(dev_keys["Version"], 1);
    assert_ne!(dev_keys["AccessKeyId"], prod_keys["AccessKeyId"]);
    let issued_by = |fake: &FakeCognito, key: &Value| {
        fake.with_pool(|p| {
            p.issued_credentials
                .iter()
                .any(|(id, _)| Some(id.as_str()) == key.as_str())
        })
    };
    assert!(issued_by(&dev_pool, &dev_keys["AccessKeyId"]));
    assert!(issued_by(&prod_pool, &prod_keys["AccessKeyId"]));

    // exec: the profile's credentials, the profile for nested calls, no conflicting variables.
    let ran = home.ctl(
        &["--profile", "dev", "exec", "--", "env"],
        &[
            ("AWS_PROFILE", "someone-else"),
            ("AWS_SECURITY_TOKEN", "old"),
        ],
        None,
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    let env = env_of(&ran.stdout);
    assert_eq!(
        env["AWS_ACCESS_KEY_ID"],
        dev_keys["AccessKeyId"].as_str().unwrap()
    );
    assert_eq!(
        env["AWS_SECRET_ACCESS_KEY"],
        dev_keys["SecretAccessKey"].as_str().unwrap()
    );
    assert!(env.contains_key("AWS_SESSION_TOKEN") && env.contains_key("AWS_CREDENTIAL_EXPIRATION"));
    assert_eq!(env["COGNITOD_PROFILE"], "dev");
    assert!(!env.contains_key("AWS_PROFILE") && !env.contains_key("AWS_SECURITY_TOKEN"));
    let nested = home.ctl(
        &[
            "--profile",
            "prod",
            "exec",
            "--",
            binary("cognitoctl").to_str().unwrap(),
            "whoami",
        ],
        &[],
        None,
    );
    assert_eq!(nested.stdout.trim(), "bob", "{nested:?}");

    // profiles lists both; aws-config names the profile.
    let listed = json(&home.ctl(&["profiles", "--json"], &[], None).stdout);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["profile"].as_str())
        .collect();
    assert_eq!(names, ["dev", "prod"], "{listed}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["running"] == true)
    );
    let text = home.ctl(&["profiles"], &[("NO_COLOR", "1")], None);
    assert!(text.stdout.contains("signed in as alice"), "{text:?}");
    assert!(
        !text.stdout.contains('\x1b'),
        "no colour off a terminal: {text:?}"
    );
    let config = home.ctl(&["--profile", "dev", "aws-config"], &[], None);
    assert!(
        config.stdout.starts_with("[profile cognitod-dev]\n"),
        "{config:?}"
    );
    assert!(
        config.stdout.contains(" credential-process --profile dev"),
        "{config:?}"
    );

    // Signing out of one leaves the other.
    let out = home.ctl(&["--profile", "dev", "logout"], &[], None);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(home.ctl(&["--profile", "dev", "whoami"], &[], None).code, 1);
    assert_eq!(whoami(&["--profile", "prod", "whoami"], &[]), "bob");
    let listed = json(&home.ctl(&["profiles", "--json"], &[], None).stdout);
    assert_eq!(listed[0]["status"]["state"], "signedOut", "{listed}");
    assert_eq!(listed[1]["status"]["state"], "signedIn", "{listed}");
}

#[test]
fn exec_hands_over_the_exit_status_and_signals_and_runs_nothing_signed_out() {
    let home = ProfileHome::new();
    let fake = pool(4, "alice", PoolOptions::default());
    let _daemon = TestDaemon::start_profile(&home, "work", &fake.config_toml_with_identity_pool());
    let marker = home.root.path().join("ran");
    let touch = format!("touch {}", marker.display());
    // Signed out: said, exit 1, and the command never runs.
    let refused = home.ctl(
        &["--profile", "work", "exec", "--", "sh", "-c", &touch],
        &[],
        None,
    );
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("not signed in") || refused.stderr.contains("sign in"),
        "{refused:?}"
    );
    assert!(!marker.exists());

    sign_in(&home, "work", "alice");
    let status = home.ctl(
        &["--profile", "work", "exec", "--", "sh", "-c", "exit 7"],
        &[],
        None,
    );
    assert_eq!(status.code, 7, "{status:?}");
    let missing = home.ctl(
        &["--profile", "work", "exec", "--", "no-such-command-here"],
        &[],
        None,
    );
    assert_eq!(missing.code, 127, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("no-such-command-here: command not found"),
        "{missing:?}"
    );

    // The command is cognitoctl's process itself: a signal to that pid reaches it.
    let mut child = Command::new(binary("cognitoctl"))
        .args(["--profile", "work", "exec", "--", "sleep", "30"])
        .env_remove("COGNITOD_SOCKET")
        .envs(home.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        != "sleep"
    {
        assert!(
            Instant::now() < deadline,
            "exec never replaced cognitoctl with sleep"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(15), "{status:?}");
}

/// With `--ecs` the command gets the container endpoint, and an SDK in it renews from the
/// daemon as the short-lived credentials turn over.
#[test]
fn exec_with_the_container_endpoint_sees_renewed_credentials() {
    let python = cognitod_tests::venv().join("bin/python");
    if !cognitod_tests::can_run(python.exists(), "the test venv's python with boto3") {
        return;
    }
    let home = ProfileHome::new();
    let fake = pool(
        5,
        "alice",
        PoolOptions {
            credentials_seconds: 12,
            ..PoolOptions::default()
        },
    );
    let config = format!(
        "{}[ecs]\nenabled = true\n",
        fake.config_toml_with_identity_pool()
    );
    let _daemon = TestDaemon::start_profile(&home, "ci", &config);
    sign_in(&home, "ci", "alice");
    // One session's credentials, resolved once: the SDK itself must renew them from the
    // endpoint as they near expiry.
    let script = "import boto3, time\n\
                  credentials = boto3.Session().get_credentials()\n\
                  keys = []\n\
                  for _ in range(40):\n\
                  \x20   keys.append(credentials.get_frozen_credentials().access_key)\n\
                  \x20   time.sleep(0.5)\n\
                  print(len(set(keys)))\n";
    let ran = home.ctl(
        &[
            "--profile",
            "ci",
            "exec",
            "--ecs",
            "--",
            python.to_str().unwrap(),
            "-c",
            script,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIASTALE"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        None,
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    let distinct: usize = ran.stdout.trim().parse().unwrap();
    assert!(
        distinct >= 2,
        "the SDK saw the credentials renewed: {ran:?}"
    );
    let ecs_env = home.ctl(
        &["--profile", "ci", "exec", "--ecs", "--", "env"],
        &[],
        None,
    );
    let env = env_of(&ecs_env.stdout);
    assert!(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].starts_with("http://127.0.0.1:"));
    assert!(env.contains_key("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
    assert!(!env.contains_key("AWS_ACCESS_KEY_ID"), "{env:?}");
}

/// Which daemon a client picks: `--socket`, then `--profile`, then `$COGNITOD_SOCKET`, then
/// `$COGNITOD_PROFILE`; a `$COGNITOD_PROFILE` that names no profile is an error, never the
/// unnamed profile; and `exec` runs nothing on a guest's credentials.
#[test]
fn the_profile_precedence_and_exec_without_a_user() {
    let home = ProfileHome::new();
    let one = pool(6, "alice", PoolOptions::default());
    let two = pool(
        7,
        "bob",
        PoolOptions {
            allow_unauthenticated: true,
            ..PoolOptions::default()
        },
    );
    let _one = TestDaemon::start_profile(&home, "one", &one.config_toml_with_identity_pool());
    let _two = TestDaemon::start_profile(&home, "two", &two.config_toml_with_identity_pool());
    sign_in(&home, "one", "alice");
    let two_socket = home.socket("two").display().to_string();
    let one_socket = home.socket("one").display().to_string();

    let who = |args: &[&str], env: &[(&str, &str)]| home.ctl(args, env, None);
    // --profile over $COGNITOD_SOCKET; $COGNITOD_SOCKET over $COGNITOD_PROFILE.
    let picked = who(
        &["--profile", "one", "whoami"],
        &[("COGNITOD_SOCKET", &two_socket)],
    );
    assert_eq!(picked.stdout.trim(), "alice", "{picked:?}");
    let picked = who(
        &["whoami"],
        &[
            ("COGNITOD_SOCKET", &one_socket),
            ("COGNITOD_PROFILE", "two"),
        ],
    );
    assert_eq!(picked.stdout.trim(), "alice", "{picked:?}");
    // On the fast path too.
    let keys = who(&["credential-process"], &[("COGNITOD_PROFILE", "one")]);
    assert_eq!(json(&keys.stdout)["Version"], 1, "{keys:?}");
    for bad in ["One", "../one", "a b"] {
        for args in [&["whoami"][..], &["credential-process"]] {
            let refused = who(args, &[("COGNITOD_PROFILE", bad)]);
            assert_eq!(refused.code, 2, "{bad:?} {args:?}: {refused:?}");
            assert!(
                refused.stderr.contains("is not a profile name"),
                "{refused:?}"
            );
            assert!(refused.stdout.is_empty(), "{refused:?}");
        }
    }

    // Profile two is signed out but serves guests: exec still runs nothing.
    let guest = who(&["--profile", "two", "credentials", "--json"], &[]);
    assert_eq!(
        guest.code, 0,
        "the profile hands out guest credentials: {guest:?}"
    );
    let marker = home.root.path().join("ran");
    let touch = format!("touch {}", marker.display());
    let refused = who(&["--profile", "two", "exec", "--", "sh", "-c", &touch], &[]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("not signed in"), "{refused:?}");
    assert!(!marker.exists());
    // --ecs without the endpoint: said, nothing run; a typo in exec's options is a usage error.
    let no_ecs = who(
        &[
            "--profile",
            "one",
            "exec",
            "--ecs",
            "--",
            "sh",
            "-c",
            &touch,
        ],
        &[],
    );
    assert_eq!(no_ecs.code, 1, "{no_ecs:?}");
    assert!(
        no_ecs
            .stderr
            .contains("container credentials endpoint is off"),
        "{no_ecs:?}"
    );
    assert!(!marker.exists());
    let typo = who(&["--profile", "one", "exec", "--ecss", "--", "true"], &[]);
    assert_eq!(typo.code, 2, "{typo:?}");
    // A file that is there but cannot be run: 126.
    let not_runnable = home.root.path().join("not-runnable");
    std::fs::write(&not_runnable, "#!/bin/sh\n").unwrap();
    let ran = who(
        &[
            "--profile",
            "one",
            "exec",
            "--",
            not_runnable.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(ran.code, 126, "{ran:?}");
}
