//! Browser sign-in through the managed login: the real `cognitoctl login --browser` and
//! `cognitod` against the fake's managed login, in a real Chromium driven over WebDriver,
//! and by a scripted HTTP agent for what no person can click (forged or replayed callbacks).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use cognitod_tests::browser::{BrowserHook, Chromium, HttpAgent, chromium_available};
use cognitod_tests::daemon::TestDaemon;
use cognitod_tests::fake::{FakeCognito, PoolOptions, UserSpec};
use cognitod_tests::{PASSWORD, can_run, free_port, jwt_claims, raw_request, workspace_root};
use serde_json::{Value, json};

/// A fake pool whose app client has a loopback callback (and sign-out) URL, user `alice`
/// (email `alice@example.com`), and a daemon configured for it.
struct Setup {
    fake: FakeCognito,
    daemon: TestDaemon,
    redirect_uri: String,
    logout_uri: String,
}

fn setup(options: PoolOptions) -> Setup {
    let port = free_port();
    let redirect_uri = format!("http://localhost:{port}/callback");
    let logout_uri = format!("http://localhost:{port}/signed-out");
    let fake = FakeCognito::start(PoolOptions {
        callback_urls: vec![redirect_uri.clone()],
        logout_urls: vec![logout_uri.clone()],
        ..options
    });
    fake.add_user(UserSpec {
        email: Some("alice@example.com".into()),
        ..UserSpec::new("alice", PASSWORD)
    });
    let config = format!(
        "{}{}",
        fake.config_toml_with_identity_pool(),
        fake.oauth_toml(&redirect_uri, Some(&logout_uri))
    );
    let daemon = TestDaemon::start(&config);
    Setup {
        fake,
        daemon,
        redirect_uri,
        logout_uri,
    }
}

/// The setup, a Chromium and a `$BROWSER` hook, when Chromium is installed (else the test
/// says it is skipped, or fails under `COGNITOD_TEST_STRICT`).
fn in_chromium() -> Option<(Setup, Chromium, BrowserHook)> {
    if !can_run(chromium_available(), "chromium and chromium-driver") {
        return None;
    }
    Some((
        setup(PoolOptions::default()),
        Chromium::start(),
        BrowserHook::new(),
    ))
}

/// Signs alice in on the managed login's form.
fn fill_login_form(chromium: &Chromium) {
    chromium.type_into("#username", "alice");
    chromium.type_into("#password", PASSWORD);
    chromium.click("#signin");
}

fn browser_env(hook: &BrowserHook) -> Vec<(&'static str, std::ffi::OsString)> {
    vec![("BROWSER", hook.command().into_os_string())]
}

fn spawn_ctl(
    daemon: &TestDaemon,
    args: &[&str],
    env: &[(&'static str, std::ffi::OsString)],
) -> Child {
    let env: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    daemon.ctl_background(args, &env)
}

/// Waits (up to 30 s) for a background cognitoctl to end.
fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("cognitoctl is reaped");
    keep_for_sweep(&output);
    output
}

/// Under the secret sweep, cognitoctl's output is kept with the other logs.
fn keep_for_sweep(output: &Output) {
    if let Some(dir) = cognitod_tests::sweep_dir() {
        let name = format!("cognitoctl-{}.log", cognitod_tests::unique_name());
        let mut text = output.stdout.clone();
        text.extend_from_slice(&output.stderr);
        let _ = std::fs::write(dir.join(name), text);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn user_json(daemon: &TestDaemon) -> Value {
    let whoami = daemon.ctl(&["--json", "whoami"]);
    assert_eq!(whoami.code, 0, "{whoami:?}");
    serde_json::from_str(&whoami.stdout).expect("JSON")
}

fn artifact(name: &str) -> std::path::PathBuf {
    workspace_root().join("target/test-artifacts").join(name)
}

#[test]
fn browser_sign_in_with_the_login_form_then_logout_clears_the_cookie() {
    let Some((setup, chromium, mut hook)) = in_chromium() else {
        return;
    };
    let daemon = &setup.daemon;

    let login = spawn_ctl(daemon, &["login", "--browser"], &browser_env(&hook));
    // What is opened (and shows in the browser's argv) is a page only this user can read
    // that sends the browser on to the managed login, not the URL with the attempt's state.
    let url = hook.next_url();
    let path = std::path::PathBuf::from(url.strip_prefix("file://").expect("a file URL"));
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(p).expect("exists").permissions(),
        ) & 0o777
    };
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().expect("a folder")), 0o700);
    assert!(!url.contains("state"), "{url}");
    chromium.open(&url);
    let authorize = chromium.current_url();
    assert!(
        authorize.starts_with(&format!("{}/oauth2/authorize?", setup.fake.endpoint)),
        "{authorize}"
    );
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    assert!(!authorize.contains("code_verifier"), "{authorize}");
    fill_login_form(&chromium);
    let title = chromium.wait_for_text("#title", "Signed in");
    assert_eq!(title, "Signed in as alice.");
    assert!(chromium.current_url().starts_with(&setup.redirect_uri));
    chromium.screenshot(&artifact("browser-signed-in.png"));
    let output = finish(login);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(text(&output.stdout), "signed in as alice\n");
    assert!(!path.exists() && !path.parent().expect("a folder").exists());

    // A session like any other: the user, tokens with this attempt's nonce, AWS credentials.
    let user = user_json(daemon);
    assert_eq!(user["username"], "alice");
    assert_eq!(
        user["signInDetails"],
        json!({"loginId": "alice@example.com", "authFlowType": "REDIRECT"})
    );
    let session = daemon.ctl(&["--json", "session"]);
    let session: Value = serde_json::from_str(&session.stdout).expect("JSON");
    let id_claims = jwt_claims(session["tokens"]["idToken"].as_str().expect("id token"));
    let sent_nonce = reqwest::Url::parse(&authorize)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == "nonce")
        .map(|(_, v)| v.into_owned());
    assert_eq!(id_claims["nonce"].as_str(), sent_nonce.as_deref());
    let credentials = daemon.ctl(&["credential-process"]);
    assert_eq!(credentials.code, 0, "{credentials:?}");
    assert_eq!(setup.fake.codes_redeemed(), 1);

    // Signed out here only (the browser keeps its Cognito cookie): the next browser sign-in
    // goes through without a form.
    let logout = daemon.ctl(&["logout", "--no-browser"]);
    assert_eq!(logout.code, 0, "{logout:?}");
    assert!(logout.stderr.contains("/logout?client_id="), "{logout:?}");
    let login = spawn_ctl(daemon, &["login", "--browser"], &browser_env(&hook));
    chromium.open(&hook.next_url());
    chromium.wait_for_text("#title", "Signed in as alice.");
    assert_eq!(finish(login).status.code(), Some(0));

    // A logout that opens the managed login's /logout ends the cookie too.
    let logout = spawn_ctl(daemon, &["logout"], &browser_env(&hook));
    let logout_url = hook.next_url();
    assert!(logout_url.contains("logout_uri="), "{logout_url}");
    chromium.open(&logout_url);
    chromium.wait_for_text("#title", "Signed out.");
    assert!(chromium.current_url().starts_with(&setup.logout_uri));
    let output = finish(logout);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let login = spawn_ctl(daemon, &["login", "--browser"], &browser_env(&hook));
    chromium.open(&hook.next_url());
    chromium.element("#username");
    assert!(!chromium.has("#title"));
    fill_login_form(&chromium);
    chromium.wait_for_text("#title", "Signed in as alice.");
    assert_eq!(finish(login).status.code(), Some(0));
}

#[test]
fn browser_sign_in_through_an_external_provider_names_it() {
    let Some((setup, chromium, mut hook)) = in_chromium() else {
        return;
    };
    let daemon = &setup.daemon;

    let login = spawn_ctl(daemon, &["login", "--browser"], &browser_env(&hook));
    chromium.open(&hook.next_url());
    chromium.click("#testidp");
    chromium.type_into("#idp_user", "12345");
    chromium.click("#idp_continue");
    chromium.wait_for_text("#title", "Signed in as TestIdP_12345.");
    let output = finish(login);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let user = user_json(daemon);
    assert_eq!(user["username"], "TestIdP_12345");
    assert_eq!(
        user["signInDetails"],
        json!({"loginId": "12345@testidp.example", "authFlowType": "REDIRECT",
               "provider": "TestIdP"})
    );

    // Straight to the provider with --provider; it survives a restart.
    let logout = daemon.ctl(&["logout", "--no-browser"]);
    assert_eq!(logout.code, 0, "{logout:?}");
    let login = spawn_ctl(
        daemon,
        &["login", "--browser", "--provider", "TestIdP"],
        &browser_env(&hook),
    );
    chromium.open(&hook.next_url());
    // Straight to TestIdP's page, not the managed login's.
    assert!(
        chromium.current_url().contains("identity_provider=TestIdP"),
        "{}",
        chromium.current_url()
    );
    assert!(chromium.has("#idp_user") && !chromium.has("#username"));
    chromium.type_into("#idp_user", "777");
    chromium.click("#idp_continue");
    chromium.wait_for_text("#title", "Signed in as TestIdP_777.");
    assert_eq!(finish(login).status.code(), Some(0));
    let mut daemon = setup.daemon;
    daemon.stop();
    daemon.restart();
    assert_eq!(user_json(&daemon)["signInDetails"]["provider"], "TestIdP");
}

#[test]
fn a_forged_callback_is_refused_and_cancel_ends_the_sign_in() {
    let Some((setup, chromium, mut hook)) = in_chromium() else {
        return;
    };
    let daemon = &setup.daemon;

    let login = spawn_ctl(daemon, &["login", "--browser"], &browser_env(&hook));
    chromium.open(&hook.next_url());
    chromium.element("#username");
    // Another local program races the browser with a callback of its own.
    let agent = HttpAgent::new();
    let forged = agent.get(&format!(
        "{}?code=forged&state=not-the-state",
        setup.redirect_uri
    ));
    assert_eq!(forged.status, 400, "{forged:?}");
    assert!(forged.body.contains("not for the sign-in"), "{forged:?}");
    let elsewhere = agent.get(&setup.redirect_uri.replace("/callback", "/favicon.ico"));
    assert_eq!(elsewhere.status, 404);
    assert_eq!(setup.fake.calls("oauth2/token"), 0);

    chromium.click("#cancel");
    let title = chromium.wait_for_text("#title", "failed");
    assert!(title.contains("cancelled"), "{title}");
    let output = finish(login);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("the sign-in was cancelled"), "{stderr}");
    assert!(stderr.contains("still waiting"), "{stderr}");
    let status = daemon.ctl(&["--json", "status"]);
    assert!(status.stdout.contains("\"signedOut\""), "{status:?}");
    // The attempt is used up.
    let again = raw_request(
        &daemon.socket,
        "POST",
        "/v1/sign-in/redirect/complete",
        json!({"callbackUrl": format!("{}?error=access_denied&state=x", setup.redirect_uri)})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(again.status, 409, "{again:?}");
}

#[test]
fn no_browser_reads_the_address_pasted_from_the_browser() {
    let Some((setup, chromium, hook)) = in_chromium() else {
        return;
    };
    let daemon = &setup.daemon;

    let mut login = spawn_ctl(
        daemon,
        &["login", "--browser", "--no-browser"],
        &browser_env(&hook),
    );
    let mut stderr = BufReader::new(login.stderr.take().expect("piped"));
    let url = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "no URL printed"
        );
        if let Some(url) = line.trim().strip_prefix("http") {
            break format!("http{url}");
        }
    };
    chromium.open(&url);
    fill_login_form(&chromium);
    // Nothing listens on the redirect URI: the browser shows an error there, and its address
    // bar has the callback.
    let deadline = Instant::now() + Duration::from_secs(15);
    let callback = loop {
        let current = chromium.current_url();
        if current.starts_with(&setup.redirect_uri) {
            break current;
        }
        assert!(
            Instant::now() < deadline,
            "the browser never came back: {current}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    login
        .stdin
        .take()
        .expect("piped")
        .write_all(format!("{callback}\n").as_bytes())
        .expect("pasted");
    let output = finish(login);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(text(&output.stdout), "signed in as alice\n");
    assert!(std::fs::read_to_string(hook.command().with_file_name("urls")).is_err());
}

/// Starts an attempt over the socket; the authorize URL.
fn start_attempt(daemon: &TestDaemon) -> String {
    let started = raw_request(&daemon.socket, "POST", "/v1/sign-in/redirect", b"{}");
    assert_eq!(started.status, 200, "{started:?}");
    started.json()["authorizeUrl"]
        .as_str()
        .expect("authorizeUrl")
        .to_owned()
}

/// Signs alice in through the login form; the callback URL, unvisited.
fn form_callback(agent: &HttpAgent, setup: &Setup, authorize_url: &str) -> String {
    let form = agent.get(authorize_url);
    assert_eq!(form.status, 200, "{form:?}");
    let query = authorize_url.split_once('?').expect("a query").1;
    let posted = agent.post_form(
        &format!("{}/login?{query}", setup.fake.endpoint),
        &[
            ("username", "alice"),
            ("password", PASSWORD),
            ("action", "signin"),
        ],
    );
    agent
        .follow_until(posted, &setup.redirect_uri)
        .unwrap_or_else(|page| panic!("no callback: {page:?}"))
}

fn json_session(daemon: &TestDaemon) -> Value {
    serde_json::from_str(&daemon.ctl(&["--json", "session"]).stdout).expect("JSON")
}

fn complete(daemon: &TestDaemon, callback: &str) -> cognitod_tests::RawResponse {
    raw_request(
        &daemon.socket,
        "POST",
        "/v1/sign-in/redirect/complete",
        json!({ "callbackUrl": callback }).to_string().as_bytes(),
    )
}

fn state_of(authorize_url: &str) -> String {
    reqwest::Url::parse(authorize_url)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state")
}

fn with_state(callback: &str, state: &str) -> String {
    let mut url = reqwest::Url::parse(callback).expect("a URL");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "state")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("state", state);
    url.to_string()
}

#[test]
fn the_daemon_refuses_forged_replayed_and_foreign_callbacks() {
    let setup = setup(PoolOptions {
        client_secret: Some("fakeclientsecret0123456789abcdef".into()),
        access_token_seconds: 6,
        id_token_seconds: 6,
        ..PoolOptions::default()
    });
    let daemon = &setup.daemon;
    // A code is bound to its attempt's verifier: attempt 1's code with attempt 2's state is
    // refused at the token endpoint (the state alone would let it through).
    let unused = form_callback(&HttpAgent::new(), &setup, &start_attempt(daemon));
    let second = start_attempt(daemon);
    let refused = complete(daemon, &with_state(&unused, &state_of(&second)));
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(setup.fake.calls("oauth2/token"), 1);
    assert_eq!(setup.fake.codes_redeemed(), 0);
    // The client secret goes by HTTP Basic: without it the endpoint refuses.
    let client_id = setup.fake.options().client_id;
    let basicless = reqwest::blocking::Client::new()
        .post(format!("{}/oauth2/token", setup.fake.endpoint))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .expect("an answer");
    assert_eq!(basicless.status().as_u16(), 400);
    assert_eq!(
        basicless.json::<Value>().expect("JSON"),
        json!({"error": "invalid_client"})
    );

    let agent = HttpAgent::new();
    let first = start_attempt(daemon);
    let callback = form_callback(&agent, &setup, &first);

    // Another state, no state, another address: refused, and the attempt stays.
    let forged = complete(daemon, &with_state(&callback, "forged"));
    assert_eq!(
        (forged.status, forged.error_code().as_str()),
        (401, "NotAuthorizedException")
    );
    let stateless = complete(daemon, &callback.replace("state=", "x="));
    assert_eq!(stateless.status, 401, "{stateless:?}");
    let elsewhere = complete(daemon, &callback.replace("/callback", "/other"));
    assert_eq!(elsewhere.status, 400, "{elsewhere:?}");
    assert_eq!(setup.fake.calls("oauth2/token"), 2);

    let done = complete(daemon, &callback);
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.json()["isSignedIn"], true);
    // The same callback again: nothing is pending.
    assert_eq!(complete(daemon, &callback).status, 409);

    // Refreshed ahead of expiry like any session (the client secret by SECRET_HASH).
    let id_token = || json_session(daemon)["tokens"]["idToken"].clone();
    let before = id_token();
    let deadline = Instant::now() + Duration::from_secs(15);
    while id_token() == before {
        assert!(Instant::now() < deadline, "no refresh:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        user_json(daemon)["signInDetails"]["authFlowType"],
        "REDIRECT"
    );

    // A global sign-out needs the admin scope, which this sign-in was not granted: the
    // global part is refused, and this device's refresh token is revoked instead.
    let global = daemon.ctl(&["logout", "--global", "--no-browser"]);
    assert_eq!(global.code, 1, "{global:?}");
    assert!(
        global.stderr.contains("aws.cognito.signin.user.admin"),
        "{global:?}"
    );
    let tokens = setup.fake.with_pool(|pool| pool.refresh_tokens("alice"));
    let live: Vec<_> = tokens.iter().filter(|(_, r)| !r.revoked).collect();
    assert!(live.is_empty(), "{tokens:?}");

    // Sign-out revokes and names the managed login's /logout.
    let callback = form_callback(&HttpAgent::new(), &setup, &start_attempt(daemon));
    assert_eq!(complete(daemon, &callback).status, 200);
    let out = raw_request(&daemon.socket, "POST", "/v1/sign-out", b"{}");
    assert_eq!(out.status, 200, "{out:?}");
    let logout_url = out.json()["logoutUrl"]
        .as_str()
        .expect("logoutUrl")
        .to_owned();
    assert!(logout_url.starts_with(&format!("{}/logout?client_id=", setup.fake.endpoint)));
    assert_eq!(out.json()["revoked"], true);

    // A new attempt: the old callback's state is not its own; its code with the new state is
    // used up at the token endpoint.
    let third = start_attempt(daemon);
    assert_eq!(complete(daemon, &callback).status, 401);
    let replayed = complete(daemon, &with_state(&callback, &state_of(&third)));
    assert_eq!(replayed.status, 401, "{replayed:?}");
    assert!(
        replayed.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("authorization code was refused"),
        "{replayed:?}"
    );
}

#[test]
fn the_managed_login_checks_pkce_the_redirect_uri_and_the_client() {
    let setup = setup(PoolOptions::default());
    let agent = HttpAgent::new();
    let token = |form: &[(&str, &str)]| {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/oauth2/token", setup.fake.endpoint))
            .form(form)
            .send()
            .expect("the token endpoint answers");
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap_or(Value::Null))
    };
    let client_id = setup.fake.options().client_id;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let authorize = |redirect: &str| {
        format!(
            "{}/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}&state=s1&scope=openid+email&code_challenge={challenge}&code_challenge_method=S256",
            setup.fake.endpoint,
            redirect.replace(':', "%3A").replace('/', "%2F"),
        )
    };
    // An unregistered redirect URI gets an error page, never a redirect.
    let mismatch = agent.get(&authorize("http://localhost:1/elsewhere"));
    assert_eq!((mismatch.status, mismatch.location.as_deref()), (400, None));

    let code_of = |callback: &str| {
        reqwest::Url::parse(callback)
            .expect("a URL")
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("a code")
    };
    // A wrong verifier: refused, and the code is used up.
    let code = code_of(&form_callback(
        &HttpAgent::new(),
        &setup,
        &authorize(&setup.redirect_uri),
    ));
    let base = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", setup.redirect_uri.as_str()),
    ];
    let wrong = [
        &base[..],
        &[("code_verifier", "wrong-verifier-wrong-verifier-wrong-verif")],
    ]
    .concat();
    assert_eq!(token(&wrong), (400, json!({"error": "invalid_grant"})));
    let right = [&base[..], &[("code_verifier", verifier)]].concat();
    assert_eq!(token(&right), (400, json!({"error": "invalid_grant"})));

    // The right verifier once; a replay is refused.
    let code = code_of(&form_callback(
        &HttpAgent::new(),
        &setup,
        &authorize(&setup.redirect_uri),
    ));
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", setup.redirect_uri.as_str()),
        ("code_verifier", verifier),
    ];
    let (status, tokens) = token(&form);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].is_string());
    assert_eq!(token(&form), (400, json!({"error": "invalid_grant"})));
    let other_client = [&form[..1], &[("client_id", "someone-else")], &form[2..]].concat();
    assert_eq!(
        token(&other_client),
        (400, json!({"error": "invalid_client"}))
    );
}

#[test]
fn a_redirect_port_in_use_is_a_clear_error() {
    let setup = setup(PoolOptions::default());
    let port: u16 = setup
        .redirect_uri
        .trim_start_matches("http://localhost:")
        .trim_end_matches("/callback")
        .parse()
        .expect("a port");
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    let hook = BrowserHook::new();
    let output = finish(spawn_ctl(
        &setup.daemon,
        &["login", "--browser"],
        &browser_env(&hook),
    ));
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("port {port} on 127.0.0.1 is in use")),
        "{stderr}"
    );
}

#[test]
fn a_password_sign_in_replaced_by_a_browser_sign_in_leaves_no_valid_tokens() {
    use cognitod_tests::fake::Fault;
    let setup = setup(PoolOptions::default());
    let daemon = &setup.daemon;
    // Cognito signs alice in, and its answer takes 8 s to arrive.
    setup.fake.fail_next(
        "InitiateAuth",
        Fault::DelayAnswer(Duration::from_secs(8)),
        1,
    );
    let login = spawn_ctl(
        daemon,
        &["login", "alice", "--password-stdin", "--flow", "password"],
        &[],
    );
    login
        .stdin
        .as_ref()
        .expect("piped")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("password written");
    let deadline = Instant::now() + Duration::from_secs(10);
    while setup.fake.calls("InitiateAuth") == 0 {
        assert!(
            Instant::now() < deadline,
            "the sign-in never reached the fake"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Meanwhile a browser sign-in starts: the password sign-in no longer counts.
    start_attempt(daemon);
    let output = finish(login);
    assert_ne!(output.status.code(), Some(0), "{output:?}");
    assert!(text(&output.stderr).contains("replaced"), "{output:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tokens = setup.fake.with_pool(|pool| pool.refresh_tokens("alice"));
        assert_eq!(tokens.len(), 1, "{tokens:?}");
        if tokens[0].1.revoked {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the unused refresh token stays valid"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        json_session(daemon)["isSignedIn"],
        false,
        "nobody is signed in"
    );
}
