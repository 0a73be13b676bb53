use std::path::Path;

use super::*;

fn env() -> Environment {
    Environment {
        xdg_runtime_dir: Some("/run/user/1000".into()),
        home: Some("/home/alice".into()),
        uid: 1000,
        ..Environment::default()
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/cognitod/config.toml"), &env())
}

const MINIMAL: &str = r#"
user_pool_id = "eu-west-1_AbCdEf123"
user_pool_client_id = "1example23456789"
"#;

#[test]
fn minimal_config_gets_aws_defaults() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.aws_region, "eu-west-1");
    assert_eq!(
        config.user_pool_endpoint,
        "https://cognito-idp.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        config.issuer,
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    );
    assert_eq!(
        config.jwks_url,
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/jwks.json"
    );
    assert_eq!(
        config.daemon.socket,
        Path::new("/run/user/1000/cognitod/socket")
    );
    assert_eq!(
        config.daemon.state_dir,
        Path::new("/home/alice/.local/state/cognitod")
    );
    assert!(config.daemon.persist);
    assert_eq!(config.daemon.max_connections, 2048);
    assert!(!config.ecs.enabled);
    assert!(config.client_secret.is_none());
}

#[test]
fn endpoint_override_moves_jwks_but_not_the_issuer() {
    let config = parse(&format!(
        "{MINIMAL}user_pool_endpoint = \"http://127.0.0.1:5000/\"\n"
    ))
    .unwrap();
    assert_eq!(config.user_pool_endpoint, "http://127.0.0.1:5000");
    assert_eq!(
        config.jwks_url,
        "http://127.0.0.1:5000/eu-west-1_AbCdEf123/.well-known/jwks.json"
    );
    assert_eq!(
        config.issuer,
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    );
    let config = parse(&format!(
        "{MINIMAL}user_pool_endpoint = \"http://127.0.0.1:5000\"\nissuer = \"http://127.0.0.1:5000/eu-west-1_AbCdEf123\"\n"
    ))
    .unwrap();
    assert_eq!(config.issuer, "http://127.0.0.1:5000/eu-west-1_AbCdEf123");
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    let err = parse(&format!("{MINIMAL}user_pool_clientid = \"x\"\n")).unwrap_err();
    assert!(err.to_string().contains("user_pool_clientid"), "{err}");
    let err = parse(&format!("{MINIMAL}[daemon]\nsockets = \"/x\"\n")).unwrap_err();
    assert!(err.to_string().contains("sockets"), "{err}");
    let err = parse(&format!("{MINIMAL}[ecs]\nport = 1\n")).unwrap_err();
    assert!(err.to_string().contains("port"), "{err}");
}

#[test]
fn invalid_values_name_their_key() {
    let cases = [
        ("user_pool_client_id = \"x\"\n", "user_pool_id"),
        (
            "user_pool_id = \"eu-west-1_AbCdEf123\"\n",
            "user_pool_client_id",
        ),
        (
            "user_pool_id = \"nounderscore\"\nuser_pool_client_id = \"x\"\n",
            "user_pool_id",
        ),
        (
            "aws_region = \"us-east-1\"\nuser_pool_id = \"eu-west-1_Ab\"\nuser_pool_client_id = \"x\"\n",
            "user_pool_id",
        ),
        ("user_pool_endpoint = \"ftp://x\"\n", "user_pool_endpoint"),
        ("user_pool_endpoint = \"not a url\"\n", "user_pool_endpoint"),
        ("identity_pool_id = \"nocolon\"\n", "identity_pool_id"),
        (
            "unauthenticated_identities_enabled = true\n",
            "unauthenticated_identities_enabled",
        ),
        ("[daemon]\nmax_connections = 0\n", "daemon.max_connections"),
        ("[daemon]\nlog_level = \"loud[\"\n", "daemon.log_level"),
        ("[ecs]\nlisten = \"0.0.0.0:80\"\n", "ecs.listen"),
    ];
    for (extra, key) in cases {
        let text = if extra.contains("user_pool_id") || extra.contains("user_pool_client_id") {
            extra.to_owned()
        } else {
            format!("{MINIMAL}{extra}")
        };
        let err = parse(&text).expect_err(extra);
        assert!(err.to_string().starts_with(key), "{extra:?} gave {err}");
    }
}

#[test]
fn amplify_outputs_supply_auth_and_explicit_keys_win() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("amplify_outputs.json"),
        r#"{"version": "1.3", "auth": {"aws_region": "us-east-1",
            "user_pool_id": "us-east-1_Pool1", "user_pool_client_id": "client-from-file",
            "identity_pool_id": "us-east-1:1234", "unauthenticated_identities_enabled": true,
            "password_policy": {"min_length": 8}, "mfa_methods": []},
           "data": {"url": "https://x"}}"#,
    )
    .unwrap();
    let config_path = dir.path().join("config.toml");
    let text = "amplify_outputs = \"amplify_outputs.json\"\nuser_pool_client_id = \"explicit\"\n";
    let config = Config::parse(text, &config_path, &env()).unwrap();
    assert_eq!(config.user_pool_id, "us-east-1_Pool1");
    assert_eq!(config.user_pool_client_id, "explicit");
    assert_eq!(config.identity_pool_id.as_deref(), Some("us-east-1:1234"));
    assert!(config.unauthenticated_identities_enabled);

    std::fs::write(
        dir.path().join("amplify_outputs.json"),
        r#"{"version": "2", "auth": {}}"#,
    )
    .unwrap();
    let err = Config::parse(text, &config_path, &env()).unwrap_err();
    assert!(err.to_string().contains("version"), "{err}");
}

#[test]
fn client_secret_is_read_and_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "s3cr3t-value\n").unwrap();
    let text = format!("{MINIMAL}client_secret_file = \"secret\"\n");
    let config = Config::parse(&text, &dir.path().join("config.toml"), &env()).unwrap();
    assert_eq!(
        config.client_secret.as_ref().map(Secret::expose),
        Some("s3cr3t-value")
    );
    let shown = config.to_string();
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(!format!("{config:?}").contains("s3cr3t"));

    let missing = format!("{MINIMAL}client_secret_file = \"nope\"\n");
    let err = Config::parse(&missing, &dir.path().join("config.toml"), &env()).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn effective_config_round_trips_through_toml() {
    let shown = parse(MINIMAL).unwrap().to_string();
    let table: toml::Table = toml::from_str(&shown).unwrap();
    assert_eq!(table["user_pool_id"].as_str(), Some("eu-west-1_AbCdEf123"));
    assert_eq!(table["daemon"]["persist"].as_bool(), Some(true));
}

#[test]
fn default_paths_follow_xdg_and_systemd() {
    let bare = Environment {
        uid: 42,
        ..Environment::default()
    };
    assert_eq!(bare.default_socket(), Path::new("/tmp/cognitod-42/socket"));
    let systemd = Environment {
        state_directory: Some("/var/lib/cognitod".into()),
        ..env()
    };
    assert_eq!(systemd.default_state_dir(), Path::new("/var/lib/cognitod"));
    assert_eq!(
        env().config_file(),
        Path::new("/home/alice/.config/cognitod/config.toml")
    );
}

#[test]
fn a_profile_has_its_own_config_socket_and_state() {
    let staging = Environment {
        profile: Some("staging".into()),
        cognitod_config: Some("/elsewhere.toml".into()),
        ..env()
    };
    assert_eq!(
        staging.config_file(),
        Path::new("/home/alice/.config/cognitod/profiles/staging.toml")
    );
    assert_eq!(
        staging.default_socket(),
        Path::new("/run/user/1000/cognitod/profiles/staging/socket")
    );
    assert_eq!(
        staging.default_state_dir(),
        Path::new("/home/alice/.local/state/cognitod/profiles/staging")
    );
    let system = Environment {
        profile: Some("prod".into()),
        uid: 999,
        ..Environment::default()
    };
    assert_eq!(
        system.config_file(),
        Path::new("/etc/cognitod/profiles/prod.toml")
    );
    assert_eq!(
        system.default_state_dir(),
        Path::new("/var/lib/cognitod/profiles/prod")
    );
    let unit = Environment {
        state_directory: Some("/var/lib/cognitod/profiles/prod".into()),
        ..system
    };
    assert_eq!(
        unit.default_state_dir(),
        Path::new("/var/lib/cognitod/profiles/prod")
    );
}

/// Found by the `config` fuzz target: `--check-config` printed `jwks_url` and
/// `client_secret` as keys, which the parser refuses.
#[test]
fn the_printed_config_is_a_config_that_prints_the_same() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "s3cret\n").unwrap();
    let text = format!(
        "{MINIMAL}client_secret_file = \"secret\"\nidentity_pool_id = \"eu-west-1:1\"\nuser_pool_endpoint = \"http://127.0.0.1:9\"\n[daemon]\nallowed_uids = [7]\n[ecs]\nenabled = true\n"
    );
    let path = dir.path().join("config.toml");
    let config = Config::parse(&text, &path, &env()).unwrap();
    let printed = config.to_string();
    assert!(
        printed.contains("# jwks_url (derived) = \"http://127.0.0.1:9/"),
        "{printed}"
    );
    let again = Config::parse(&printed, &path, &env()).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(again.to_string(), printed);
}

#[test]
fn the_identity_pool_is_reached_in_its_own_region() {
    let config = parse(&format!(
        "{MINIMAL}identity_pool_id = \"us-east-2:0f4c9a2e-0000-4000-a000-000000000001\"\n"
    ))
    .unwrap();
    assert_eq!(
        config.identity_pool_endpoint,
        "https://cognito-identity.us-east-2.amazonaws.com"
    );
    assert_eq!(
        config.user_pool_endpoint,
        "https://cognito-idp.eu-west-1.amazonaws.com"
    );
}

#[test]
fn log_levels_in_the_config_are_read_in_any_case() {
    let config = parse(&format!("{MINIMAL}[daemon]\nlog_level = \"DEBUG\"\n")).unwrap();
    assert_eq!(config.daemon.log_level, "debug");
    assert!(parse(&format!("{MINIMAL}[daemon]\nlog_level = \"loud\"\n")).is_err());
}

#[test]
fn oauth_comes_from_amplify_outputs_and_the_section_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("amplify_outputs.json"),
        r#"{"version": "1.4", "auth": {"aws_region": "us-east-1",
            "user_pool_id": "us-east-1_Pool1", "user_pool_client_id": "client1",
            "oauth": {"domain": "example.auth.us-east-1.amazoncognito.com",
              "scopes": ["openid", "email"], "response_type": "code",
              "identity_providers": ["GOOGLE", "MyOidc"],
              "redirect_sign_in_uri": ["https://app.example.com/", "myapp://callback/",
                                       "http://localhost:8976/callback"],
              "redirect_sign_out_uri": ["https://app.example.com/", "http://localhost:8976/signed-out"]}}}"#,
    )
    .unwrap();
    let path = dir.path().join("config.toml");
    let config = Config::parse(
        "amplify_outputs = \"amplify_outputs.json\"\n",
        &path,
        &env(),
    )
    .unwrap();
    let oauth = config.oauth.expect("oauth from the outputs");
    assert_eq!(oauth.domain, "example.auth.us-east-1.amazoncognito.com");
    assert_eq!(
        oauth.endpoint,
        "https://example.auth.us-east-1.amazoncognito.com"
    );
    assert_eq!(oauth.scopes, ["openid", "email"]);
    assert_eq!(oauth.redirect_uri, "http://localhost:8976/callback");
    assert_eq!(
        oauth.logout_uri.as_deref(),
        Some("http://localhost:8976/signed-out")
    );
    assert_eq!(oauth.identity_providers, ["Google", "MyOidc"]);

    let text = "amplify_outputs = \"amplify_outputs.json\"\n[oauth]\nredirect_uri = \"http://127.0.0.1:9000/cb\"\nendpoint = \"http://127.0.0.1:5000\"\n";
    let oauth = Config::parse(text, &path, &env()).unwrap().oauth.unwrap();
    assert_eq!(oauth.redirect_uri, "http://127.0.0.1:9000/cb");
    assert_eq!(oauth.endpoint, "http://127.0.0.1:5000");
    // What --check-config prints parses again to the same.
    let printed = Config::parse(text, &path, &env()).unwrap().to_string();
    assert!(printed.contains("[oauth]"), "{printed}");
}

#[test]
fn oauth_without_a_loopback_redirect_or_openid_is_refused_with_the_fix() {
    let cases = [
        (
            "[oauth]\ndomain = \"x.auth.eu-west-1.amazoncognito.com\"\n",
            "register one such as",
        ),
        (
            "[oauth]\ndomain = \"x.example.com\"\nredirect_uri = \"https://app.example.com/cb\"\n",
            "not a loopback URI",
        ),
        (
            "[oauth]\ndomain = \"x.example.com\"\nredirect_uri = \"http://localhost/cb\"\n",
            "has no port",
        ),
        (
            "[oauth]\ndomain = \"x.example.com\"\nredirect_uri = \"http://localhost:8976/cb\"\nscopes = [\"email\"]\n",
            "must include \"openid\"",
        ),
        (
            "[oauth]\nredirect_uri = \"http://localhost:8976/cb\"\n",
            "oauth.domain",
        ),
        (
            "[oauth]\ndomain = \"x.example.com\"\nredirect_uri = \"http://localhost:8976/cb\"\nscope = []\n",
            "did you mean `scopes`",
        ),
    ];
    for (section, expected) in cases {
        let err = parse(&format!("{MINIMAL}{section}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{section}: {err}");
    }
    assert!(parse(MINIMAL).unwrap().oauth.is_none());
}

#[test]
fn federation_needs_a_provider_a_program_and_an_identity_pool() {
    let pool = "identity_pool_id = \"eu-west-1:1234\"\n";
    let config = parse(&format!(
        "{MINIMAL}{pool}[federation]\nprovider = \"token.actions.githubusercontent.com\"\ntoken_command = [\"/usr/bin/print-token\", \"--aud\", \"x\"]\n"
    ))
    .unwrap();
    let federation = config.federation.expect("federation");
    assert_eq!(federation.provider, "token.actions.githubusercontent.com");
    assert_eq!(
        federation.token_command.as_deref(),
        Some(
            &[
                "/usr/bin/print-token".to_owned(),
                "--aud".into(),
                "x".into()
            ][..]
        )
    );
    for (text, expected) in [
        (
            format!("{MINIMAL}{pool}[federation]\n"),
            "federation.provider",
        ),
        (
            format!("{MINIMAL}{pool}[federation]\nprovider = \"p\"\ntoken_command = []\n"),
            "must name a program",
        ),
        (
            format!("{MINIMAL}[federation]\nprovider = \"p\"\n"),
            "needs identity_pool_id",
        ),
    ] {
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}
