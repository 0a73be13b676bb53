//! Remembered devices through the real binaries: a pool with device tracking makes this
//! machine the user's device after a sign-in with MFA; the next sign-ins prove the device
//! (device SRP) instead of asking for the second factor, across sign-outs and restarts; its
//! refreshes carry the device key; a device Cognito forgot is dropped without locking the user
//! out.

use cognitod_tests::PASSWORD;
use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{DeviceTracking, FakeCognito, PoolOptions, UserSpec, totp};

const SECRET: &[u8] = b"totp-secret-for-dora";

fn now() -> i64 {
    cognitod_proto::Timestamp::now().unix()
}

/// A pool with `tracking` (and choice-based sign-in when `user_auth`), and dora with TOTP MFA.
fn pool_with_dora(tracking: DeviceTracking, user_auth: bool) -> FakeCognito {
    let fake = FakeCognito::start(PoolOptions {
        device_tracking: tracking,
        user_auth,
        ..PoolOptions::default()
    });
    fake.add_user(UserSpec {
        totp_secret: Some(SECRET.to_vec()),
        ..UserSpec::new("dora", PASSWORD)
    });
    fake
}

/// Signs dora in with her password and, when asked, her TOTP code; whether the code was asked.
fn sign_in(daemon: &TestDaemon) -> bool {
    let login = daemon.ctl_stdin(
        &["login", "dora", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    match login.code {
        0 => false,
        3 => {
            assert!(login.stdout.contains("authenticator"), "{login:?}");
            let code = totp::code(SECRET, now());
            let confirm = daemon.ctl_stdin(&["confirm"], &format!("{code}\n"));
            assert_eq!(confirm.code, 0, "{confirm:?}");
            true
        }
        _ => panic!("{login:?}"),
    }
}

#[test]
fn a_remembered_device_skips_mfa_across_sign_outs_and_restarts() {
    let fake = pool_with_dora(DeviceTracking::Always, false);
    let mut daemon = TestDaemon::start(&fake.config_toml());

    // The first sign-in asks for the code, and this machine becomes dora's device.
    assert!(
        sign_in(&daemon),
        "the first sign-in asks for the second factor"
    );
    assert_eq!(fake.calls("ConfirmDevice"), 1);
    let devices = fake.with_pool(|pool| pool.devices_of("dora"));
    assert_eq!(devices.len(), 1, "{devices:?}");
    let (key, device) = &devices[0];
    assert!(device.confirmed && device.remembered, "{device:?}");
    assert!(device.name.as_deref().is_some_and(|n| !n.is_empty()));

    // Its refresh token is the device's: refreshed with the key (the fake refuses it without).
    let refreshed = daemon.ctl(&["session", "--force-refresh"]);
    assert_eq!(refreshed.code, 0, "{refreshed:?}");

    // Signed out and in again: the device proves itself, no code is asked.
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    let before = fake.calls("RespondToAuthChallenge");
    assert!(!sign_in(&daemon), "a remembered device skips MFA");
    // PASSWORD_VERIFIER, DEVICE_SRP_AUTH, DEVICE_PASSWORD_VERIFIER.
    assert_eq!(fake.calls("RespondToAuthChallenge"), before + 3);
    assert_eq!(fake.calls("ConfirmDevice"), 1, "the same device");

    // It is in the state file (its password a secret there) and survives a restart.
    let state = std::fs::read_to_string(daemon.state_dir().join("session.json")).expect("state");
    assert!(state.contains(key.as_str()), "the device is kept");
    let stored: serde_json::Value = serde_json::from_str(&state).expect("JSON");
    let password = stored["devices"][0]["devicePassword"]
        .as_str()
        .expect("the device password is kept")
        .to_owned();
    assert_eq!(password.len(), 56, "base64 of 40 random bytes");
    assert!(
        !daemon.log().contains(&password),
        "the device password is never logged"
    );
    daemon.stop();
    daemon.restart();
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    assert!(!sign_in(&daemon), "still remembered after a restart");

    // Forgotten at Cognito: the sign-in goes on without it (the code is asked again) and
    // this machine becomes a new device.
    fake.with_pool(|pool| pool.admin_forget_device(key));
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    assert!(
        sign_in(&daemon),
        "a forgotten device means the second factor again"
    );
    assert!(
        daemon
            .log()
            .contains("no longer knows this machine's device")
    );
    let devices = fake.with_pool(|pool| pool.devices_of("dora"));
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_ne!(&devices[0].0, key, "a new device");
}

#[test]
fn devices_are_listed_remembered_on_request_and_forgotten() {
    let fake = pool_with_dora(DeviceTracking::UserOptIn, false);
    let daemon = TestDaemon::start(&format!(
        "{}[devices]\nname = \"dora's laptop\"\n",
        fake.config_toml()
    ));
    assert!(sign_in(&daemon));
    // Confirmed, but this pool lets the user choose: not remembered yet.
    let listed = daemon.ctl(&["--json", "devices"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let devices: serde_json::Value = serde_json::from_str(&listed.stdout).expect("JSON");
    assert_eq!(devices.as_array().map(Vec::len), Some(1), "{devices}");
    assert_eq!(devices[0]["current"], true);
    assert_eq!(devices[0]["remembered"], false);
    assert!(
        devices[0]["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{devices}"
    );
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    assert!(sign_in(&daemon), "not remembered: MFA still");
    assert_eq!(
        fake.calls("ConfirmDevice"),
        1,
        "the same device, not a new one"
    );

    let remember = daemon.ctl(&["device", "remember"]);
    assert_eq!(remember.code, 0, "{remember:?}");
    let human = daemon.ctl(&["devices"]);
    assert!(
        human.stdout.contains("remembered  (this machine)"),
        "{human:?}"
    );
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    assert!(!sign_in(&daemon), "remembered: no MFA");

    // Signed out forgetting it: gone here and at Cognito, and MFA comes back.
    let logout = daemon.ctl(&["logout", "--forget-device"]);
    assert_eq!(logout.code, 0, "{logout:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !fake.with_pool(|pool| pool.devices_of("dora")).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "Cognito still has the device"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(sign_in(&daemon), "a forgotten device means MFA again");
    let not_a_device = daemon.ctl(&["--json", "device", "remember"]);
    assert_eq!(
        not_a_device.code, 0,
        "a new device to remember: {not_a_device:?}"
    );
    let forget = daemon.ctl(&["device", "forget"]);
    assert_eq!(forget.code, 0, "{forget:?}");
    let nothing = daemon.ctl(&["--json", "device", "forget"]);
    assert_eq!(nothing.error_code(), "NotFound", "{nothing:?}");
}

#[test]
fn a_remembered_device_proves_itself_after_a_password_chosen_at_confirm() {
    use cognitod_tests::raw_request;
    use serde_json::{Value, json};
    let fake = pool_with_dora(DeviceTracking::Always, true);
    let daemon = TestDaemon::start(&fake.config_toml());
    let post = |path: &str, body: Value| {
        raw_request(&daemon.socket, "POST", path, body.to_string().as_bytes())
    };
    // USER_AUTH, the password chosen at the first step: a step answered with `confirm`.
    let user_auth = || {
        post(
            "/v1/sign-in",
            json!({"username": "dora", "authFlowType": "USER_AUTH"}),
        );
        post(
            "/v1/sign-in/confirm",
            json!({"challengeResponse": "PASSWORD_SRP"}),
        );
        post(
            "/v1/sign-in/confirm",
            json!({"challengeResponse": PASSWORD}),
        )
        .json()
    };
    let first = user_auth();
    assert_eq!(
        first["nextStep"]["signInStep"], "CONFIRM_SIGN_IN_WITH_TOTP_CODE",
        "{first}"
    );
    let done = post(
        "/v1/sign-in/confirm",
        json!({"challengeResponse": totp::code(SECRET, now())}),
    );
    assert_eq!(done.json()["isSignedIn"], true, "{done:?}");
    assert_eq!(fake.calls("ConfirmDevice"), 1);
    assert_eq!(daemon.ctl(&["logout"]).code, 0);
    // Now the device proves itself there too: no second factor.
    let again = user_auth();
    assert_eq!(again["isSignedIn"], true, "{again}");
}

#[test]
fn a_device_forgotten_elsewhere_ends_the_session_at_its_next_refresh() {
    let fake = pool_with_dora(DeviceTracking::Always, false);
    let daemon = TestDaemon::start(&fake.config_toml());
    assert!(sign_in(&daemon));
    let (key, _) = fake.with_pool(|pool| pool.devices_of("dora")).remove(0);
    // Forgotten from another machine: its refresh token dies with it, as in Cognito.
    fake.with_pool(|pool| pool.admin_forget_device(&key));
    let refresh = daemon.ctl(&["session", "--force-refresh"]);
    assert_ne!(refresh.code, 0, "{refresh:?}");
    let status = daemon.ctl(&["--json", "status"]);
    assert!(status.stdout.contains("\"signedOut\""), "{status:?}");
}
