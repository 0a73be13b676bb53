//! `testbed provision ENDPOINT DIR USERNAME...`: creates a user pool, an app client, an
//! identity pool and the users in the Cognito emulator at ENDPOINT (one password for all, read from stdin, never
//! argv), and writes DIR/config.toml for cognitod. Used by scripts/demo.sh.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use cognitod_tests::moto::Moto;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [command, endpoint, dir, users @ ..] = args.as_slice() else {
        eprintln!("usage: testbed provision ENDPOINT DIR USERNAME... < password");
        return ExitCode::from(2);
    };
    if command != "provision" || users.is_empty() {
        eprintln!("usage: testbed provision ENDPOINT DIR USERNAME... < password");
        return ExitCode::from(2);
    }
    let mut password = String::new();
    if std::io::stdin().lock().read_line(&mut password).is_err() || password.trim().is_empty() {
        eprintln!("testbed: give the users' password on stdin");
        return ExitCode::from(2);
    }
    let password = password.trim_end_matches(['\r', '\n']);
    let moto = Moto::external(endpoint);
    let users: Vec<(&str, &str)> = users.iter().map(|u| (u.as_str(), password)).collect();
    let pool = moto.provision(&users);
    let identity_pool = moto.create_identity_pool(&pool);
    let dir = PathBuf::from(dir);
    let config = format!(
        "{}identity_pool_id = \"{identity_pool}\"\nidentity_pool_endpoint = \"{}\"\n\n[daemon]\nsocket = \"{}\"\nstate_dir = \"{}\"\n",
        pool.config_toml(),
        moto.endpoint,
        dir.join("run/socket").display(),
        dir.join("state").display()
    );
    if let Err(error) = std::fs::write(dir.join("config.toml"), config) {
        eprintln!(
            "testbed: cannot write {}: {error}",
            dir.join("config.toml").display()
        );
        return ExitCode::FAILURE;
    }
    println!(
        "user pool {} with app client {}",
        pool.pool_id, pool.client_id
    );
    ExitCode::SUCCESS
}
