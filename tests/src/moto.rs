//! moto's server, and provisioning a user pool in it through the same JSON 1.1 protocol
//! cognitod speaks.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A moto server to use: the one the test script started (`COGNITOD_TEST_MOTO`), or one this
/// process starts and stops.
#[derive(Debug)]
pub struct Moto {
    pub endpoint: String,
    child: Option<Child>,
}

impl Moto {
    pub fn shared_or_start() -> Moto {
        match std::env::var("COGNITOD_TEST_MOTO") {
            Ok(endpoint) if !endpoint.is_empty() => Moto::external(&endpoint),
            _ => Moto::start(),
        }
    }

    /// A moto server someone else started and stops.
    pub fn external(endpoint: &str) -> Moto {
        Moto {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            child: None,
        }
    }

    /// Starts `moto_server` on a free loopback port and waits until it answers.
    pub fn start() -> Moto {
        let program = moto_server();
        let port = crate::free_port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        moto.wait_ready();
        moto
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            if http
                .get(format!("{}/moto-api/", self.endpoint))
                .send()
                .is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto at {} did not answer within 30 s", self.endpoint);
    }

    /// A new user pool with an app client (SRP, password and refresh flows allowed) and the
    /// given confirmed users.
    pub fn provision(&self, users: &[(&str, &str)]) -> Pool {
        let pool: Value = self.call(
            "CreateUserPool",
            json!({"PoolName": format!("cognitod-test-{}", crate::free_port())}),
        );
        let pool_id = pool["UserPool"]["Id"]
            .as_str()
            .expect("CreateUserPool returns an id")
            .to_owned();
        let client: Value = self.call(
            "CreateUserPoolClient",
            json!({"UserPoolId": pool_id, "ClientName": "cognitod",
                   "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH",
                                         "ALLOW_REFRESH_TOKEN_AUTH"]}),
        );
        let client_id = client["UserPoolClient"]["ClientId"]
            .as_str()
            .expect("CreateUserPoolClient returns an id")
            .to_owned();
        for (username, password) in users {
            self.call(
                "AdminCreateUser",
                json!({"UserPoolId": pool_id, "Username": username,
                       "TemporaryPassword": "Temporary-Passw0rd!", "MessageAction": "SUPPRESS",
                       "UserAttributes": [{"Name": "email", "Value": format!("{username}@example.com")}]}),
            );
            self.call(
                "AdminSetUserPassword",
                json!({"UserPoolId": pool_id, "Username": username, "Password": password,
                       "Permanent": true}),
            );
        }
        Pool {
            endpoint: self.endpoint.clone(),
            region: pool_id
                .split_once('_')
                .map(|(region, _)| region.to_owned())
                .expect("pool ids are <region>_<id>"),
            pool_id,
            client_id,
        }
    }

    /// An identity pool trusting `pool`'s app client; returns its id.
    pub fn create_identity_pool(&self, pool: &Pool) -> String {
        let body = json!({
            "IdentityPoolName": format!("cognitod_test_{}", crate::free_port()),
            "AllowUnauthenticatedIdentities": true,
            "CognitoIdentityProviders": [{
                "ProviderName": format!("cognito-idp.{}.amazonaws.com/{}", pool.region, pool.pool_id),
                "ClientId": pool.client_id,
            }],
        });
        let answer = self.call_service("AWSCognitoIdentityService", "CreateIdentityPool", body);
        answer["IdentityPoolId"]
            .as_str()
            .expect("CreateIdentityPool returns an id")
            .to_owned()
    }

    /// The daemon's config for `pool` with a new identity pool beside it (AWS credentials).
    pub fn config_with_identity_pool(&self, pool: &Pool) -> String {
        let identity_pool = self.create_identity_pool(pool);
        format!(
            "{}identity_pool_id = \"{identity_pool}\"\nidentity_pool_endpoint = \"{}\"\n",
            pool.config_toml(),
            self.endpoint
        )
    }

    /// GlobalSignOut with a user's access token, as another device of theirs would.
    pub fn global_sign_out(&self, access_token: &str) {
        self.call("GlobalSignOut", json!({"AccessToken": access_token}));
    }

    fn call(&self, action: &str, body: Value) -> Value {
        self.call_service("AWSCognitoIdentityProviderService", action, body)
    }

    fn call_service(&self, service: &str, action: &str, body: Value) -> Value {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("{service}.{action}"))
            .body(body.to_string())
            .send()
            .unwrap_or_else(|e| panic!("{action} against moto: {e}"));
        let status = response.status();
        let text = response.text().unwrap_or_default();
        assert!(status.is_success(), "{action} failed: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A provisioned user pool and app client.
#[derive(Debug, Clone)]
pub struct Pool {
    pub endpoint: String,
    pub region: String,
    pub pool_id: String,
    pub client_id: String,
}

impl Pool {
    /// The Cognito part of a cognitod config file for this pool.
    pub fn config_toml(&self) -> String {
        format!(
            "aws_region = \"{}\"\nuser_pool_id = \"{}\"\nuser_pool_client_id = \"{}\"\nuser_pool_endpoint = \"{}\"\n",
            self.region, self.pool_id, self.client_id, self.endpoint
        )
    }
}

/// `moto_server`: `$MOTO_SERVER`, else the project's venv ([`crate::venv`]).
fn moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let path = crate::venv().join("bin/moto_server");
    assert!(
        path.exists(),
        "moto is not installed at {}: run scripts/test.sh, which installs it",
        path.display()
    );
    path
}
