//! The demo's test bed (scripts/demo.sh):
//!
//! - `testbed provision ENDPOINT DIR USERNAME...`: creates a user pool, an app client, an
//!   identity pool and the users in the Cognito emulator at ENDPOINT (one password for all,
//!   read from stdin, never argv), and writes DIR/config.toml for cognitod.
//! - `testbed managed-login DIR`: runs the project's fake Cognito with a managed login (moto
//!   has none) until stdin closes, and writes DIR/config.toml with its `[oauth]` section.
//! - `testbed browse URL`: a headless Chromium opens URL (as `$BROWSER`) and signs in through
//!   the fake's external provider, TestIdP, as `demo-user`; what it does goes to the file
//!   `$TESTBED_BROWSER_LOG` (cognitoctl gives a browser no terminal).

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cognitod_tests::browser::Chromium;
use cognitod_tests::fake::{FakeCognito, PoolOptions};
use cognitod_tests::moto::Moto;

const USAGE: &str = "usage: testbed provision ENDPOINT DIR USERNAME... < password\n       testbed managed-login DIR\n       testbed browse URL";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [command, endpoint, dir, users @ ..] if command == "provision" && !users.is_empty() => {
            provision(endpoint, Path::new(dir), users)
        }
        [command, dir] if command == "managed-login" => managed_login(Path::new(dir)),
        [command, url] if command == "browse" => browse(url),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("testbed: {why}");
            ExitCode::from(2)
        }
    }
}

fn daemon_section(dir: &Path) -> String {
    format!(
        "\n[daemon]\nsocket = \"{}\"\nstate_dir = \"{}\"\n",
        dir.join("run/socket").display(),
        dir.join("state").display()
    )
}

fn provision(endpoint: &str, dir: &Path, users: &[String]) -> Result<(), String> {
    let mut password = String::new();
    if std::io::stdin().lock().read_line(&mut password).is_err() || password.trim().is_empty() {
        return Err("give the users' password on stdin".to_owned());
    }
    let password = password.trim_end_matches(['\r', '\n']);
    let moto = Moto::external(endpoint);
    let users: Vec<(&str, &str)> = users.iter().map(|u| (u.as_str(), password)).collect();
    let pool = moto.provision(&users);
    let identity_pool = moto.create_identity_pool(&pool);
    let config = format!(
        "{}identity_pool_id = \"{identity_pool}\"\nidentity_pool_endpoint = \"{}\"\n{}",
        pool.config_toml(),
        moto.endpoint,
        daemon_section(dir)
    );
    write_config(dir, &config)?;
    println!(
        "user pool {} with app client {}",
        pool.pool_id, pool.client_id
    );
    Ok(())
}

fn managed_login(dir: &Path) -> Result<(), String> {
    let port = cognitod_tests::free_port();
    let redirect_uri = format!("http://localhost:{port}/callback");
    let logout_uri = format!("http://localhost:{port}/signed-out");
    let fake = FakeCognito::start(PoolOptions {
        callback_urls: vec![redirect_uri.clone()],
        logout_urls: vec![logout_uri.clone()],
        ..PoolOptions::default()
    });
    let config = format!(
        "{}{}{}",
        fake.config_toml_with_identity_pool(),
        fake.oauth_toml(&redirect_uri, Some(&logout_uri)),
        daemon_section(dir)
    );
    write_config(dir, &config)?;
    println!("managed login at {}", fake.endpoint);
    let _ = std::io::stdout().flush();
    // Until whoever started this closes stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

fn browse(url: &str) -> Result<(), String> {
    let log_path = std::env::var_os("TESTBED_BROWSER_LOG").map(PathBuf::from);
    let log = |line: &str| {
        if let Some(path) = &log_path
            && let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            let _ = writeln!(file, "browser: {line}");
        }
    };
    let chromium = Chromium::start();
    let shown = match url.split_once('?') {
        Some((base, _)) => format!("{base}?..."),
        None => url.to_owned(),
    };
    log(&format!("headless Chromium opens {shown}"));
    chromium.open(url);
    if chromium.has("#testidp") {
        log("the managed login's page; it clicks \"Sign in with TestIdP\"");
        chromium.click("#testidp");
        chromium.type_into("#idp_user", "demo-user");
        log("TestIdP's page; it continues as demo-user");
        chromium.click("#idp_continue");
    }
    let title = chromium.text("#title");
    let title = if title.is_empty() {
        chromium.wait_for_text("#title", ".")
    } else {
        title
    };
    log(&format!("the tab now says: {title}"));
    Ok(())
}

fn write_config(dir: &Path, config: &str) -> Result<(), String> {
    std::fs::write(dir.join("config.toml"), config)
        .map_err(|e| format!("cannot write {}: {e}", dir.join("config.toml").display()))
}
