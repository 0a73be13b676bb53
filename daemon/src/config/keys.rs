//! Every key of the config file with its type, default and meaning: the one list the manual
//! page `cognitod.toml(5)` is made from. The tests compare it with the keys the parser
//! accepts, so a key cannot be added to the file's structs without being documented here.

/// One key of the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Its section: `""` for the top level, else the table's name (`daemon`, `oauth`, ...).
    pub section: &'static str,
    pub name: &'static str,
    /// The TOML type of its value.
    pub kind: &'static str,
    /// What it is when left out.
    pub default: &'static str,
    /// What it does, in a line or two.
    pub about: &'static str,
}

/// The sections in the order the manual shows them, each with what it is for (`""`: the top
/// level, before any table).
pub const SECTIONS: &[(&str, &str)] = &[
    (
        "",
        "The user pool, its app client and the identity pool. The Cognito keys use the names of \
         the auth section of Amplify's amplify_outputs.json.",
    ),
    ("daemon", "The socket, the state and who may connect."),
    (
        "ecs",
        "The container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI), on loopback.",
    ),
    (
        "oauth",
        "Browser sign-in through the pool's managed login (cognitoctl login --browser); \
         amplify_outputs.json's auth.oauth fills what the section does not say.",
    ),
    ("devices", "This machine as a remembered device."),
    (
        "federation",
        "Identity pool federation with an external identity provider (cognitoctl federate); \
         needs identity_pool_id.",
    ),
];

const fn key(
    section: &'static str,
    name: &'static str,
    kind: &'static str,
    default: &'static str,
    about: &'static str,
) -> Key {
    Key {
        section,
        name,
        kind,
        default,
        about,
    }
}

/// Every key, by section in the order of [`SECTIONS`].
pub const KEYS: &[Key] = &[
    key(
        "",
        "amplify_outputs",
        "path",
        "none",
        "Amplify's amplify_outputs.json (relative paths from this file's folder): its auth \
         section fills the Cognito keys and [oauth]; keys set here win.",
    ),
    key(
        "",
        "aws_region",
        "string",
        "the region in user_pool_id",
        "The user pool's AWS region.",
    ),
    key(
        "",
        "user_pool_id",
        "string",
        "required",
        "The user pool, as <region>_<id> (e.g. eu-west-1_AbCdEf123).",
    ),
    key(
        "",
        "user_pool_client_id",
        "string",
        "required",
        "The app client's id.",
    ),
    key(
        "",
        "client_secret_file",
        "path",
        "none",
        "A file holding the app client's secret (app clients with a secret only); \
         --check-config shows it redacted.",
    ),
    key(
        "",
        "identity_pool_id",
        "string",
        "none",
        "The identity pool, as <region>:<uuid>, for AWS credentials.",
    ),
    key(
        "",
        "unauthenticated_identities_enabled",
        "boolean",
        "false",
        "Guest AWS credentials while nobody is signed in (needs identity_pool_id).",
    ),
    key(
        "",
        "refresh_token_rotation",
        "boolean",
        "false",
        "The app client rotates refresh tokens: refresh with GetTokensFromRefreshToken.",
    ),
    key(
        "",
        "user_pool_endpoint",
        "URL",
        "https://cognito-idp.<aws_region>.amazonaws.com",
        "The user pool's endpoint (emulators, VPC endpoints); the signing keys then come from \
         <endpoint>/<user_pool_id>/.well-known/jwks.json.",
    ),
    key(
        "",
        "identity_pool_endpoint",
        "URL",
        "https://cognito-identity.<region of identity_pool_id>.amazonaws.com",
        "The identity pool's endpoint (emulators, VPC endpoints).",
    ),
    key(
        "",
        "issuer",
        "URL",
        "https://cognito-idp.<aws_region>.amazonaws.com/<user_pool_id>",
        "The iss claim every token must carry.",
    ),
    key(
        "",
        "ca_file",
        "path",
        "none",
        "Extra trust roots (PEM) for the HTTPS connections to Cognito.",
    ),
    key(
        "daemon",
        "socket",
        "path",
        "$XDG_RUNTIME_DIR/cognitod/socket, else /tmp/cognitod-<uid>/socket",
        "The Unix socket the daemon serves (a socket systemd passes is used as it is).",
    ),
    key(
        "daemon",
        "state_dir",
        "path",
        "$STATE_DIRECTORY, else $XDG_STATE_HOME/cognitod (~/.local/state/cognitod)",
        "Where the session is kept across restarts (a private folder: mode 0700, the \
         daemon's own).",
    ),
    key(
        "daemon",
        "persist",
        "boolean",
        "true",
        "false: the session lives in memory only.",
    ),
    key(
        "daemon",
        "allowed_uids",
        "array of integers",
        "[]",
        "The uids that may connect besides the daemon's own and root (0 to 4294967295).",
    ),
    key(
        "daemon",
        "max_connections",
        "integer",
        "2048",
        "The most connections at once; at the cap the oldest idle one is closed.",
    ),
    key(
        "daemon",
        "log_level",
        "string",
        "\"info\"",
        "off, error, warn, info, debug, trace (any case) or TARGET=LEVEL directives; RUST_LOG \
         and --log-level override it.",
    ),
    key(
        "ecs",
        "enabled",
        "boolean",
        "false",
        "Serve the container credentials endpoint (see cognitoctl env --ecs).",
    ),
    key(
        "ecs",
        "listen",
        "address:port",
        "\"127.0.0.1:0\"",
        "Where it listens: a loopback address; port 0 takes any free port.",
    ),
    key(
        "oauth",
        "domain",
        "string",
        "required in [oauth]",
        "The managed login's domain (<prefix>.auth.<region>.amazoncognito.com, or the pool's \
         custom domain).",
    ),
    key(
        "oauth",
        "redirect_uri",
        "URL",
        "the first loopback redirect_sign_in_uri of amplify_outputs.json",
        "A loopback http://localhost:PORT/... (or 127.0.0.1, [::1]) URI registered on the app \
         client, where cognitoctl receives the browser.",
    ),
    key(
        "oauth",
        "logout_uri",
        "URL",
        "the first loopback redirect_sign_out_uri of amplify_outputs.json, else none",
        "A sign-out URL registered on the app client, where the managed login's /logout sends \
         the browser.",
    ),
    key(
        "oauth",
        "scopes",
        "array of strings",
        "[\"openid\", \"email\", \"profile\"]",
        "The scopes asked for; openid is required.",
    ),
    key(
        "oauth",
        "identity_providers",
        "array of strings",
        "[] (any)",
        "The providers cognitoctl login --browser --provider may name (Amplify's GOOGLE, \
         FACEBOOK, AMAZON, APPLE are taken as Cognito's names).",
    ),
    key(
        "oauth",
        "endpoint",
        "URL",
        "https://<domain>",
        "Where /oauth2/... and /logout are (emulators).",
    ),
    key(
        "devices",
        "name",
        "string",
        "the host name",
        "This machine's name as a remembered device (1 to 1024 characters).",
    ),
    key(
        "federation",
        "provider",
        "string",
        "required in [federation]",
        "The identity pool's name for the provider (e.g. accounts.google.com, \
         token.actions.githubusercontent.com).",
    ),
    key(
        "federation",
        "token_command",
        "array of strings",
        "none",
        "A program and its arguments (no shell) that prints a fresh provider token; the daemon \
         runs it as its own user for the first token and ahead of each token's expiry.",
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{KEYS, SECTIONS};

    const UNKNOWN: &str = "no_such_key_here";

    /// The keys serde names in its "unknown field" error for the table at `path` (`[]` for
    /// the top level); `None` when what is at `path` is not a table.
    fn fields_of(path: &[&str]) -> Option<Vec<String>> {
        let text = if path.is_empty() {
            format!("{UNKNOWN} = 0\n")
        } else {
            format!("[{}]\n{UNKNOWN} = 0\n", path.join("."))
        };
        let error = toml::from_str::<super::super::ConfigFile>(&text)
            .err()
            .unwrap_or_else(|| panic!("{text:?} was accepted"));
        let message = error.message();
        // "unknown field `x`, expected `a`", "... expected `a` or `b`",
        // "... expected one of `a`, `b`, `c`", "... there are no fields".
        let expected = message.strip_prefix(&format!("unknown field `{UNKNOWN}`, "))?;
        Some(
            expected
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Every key the parser accepts, as (section, key), found by asking it: each table's
    /// fields, and whether each field is itself a table.
    fn accepted() -> BTreeSet<(String, String)> {
        fn walk(path: &mut Vec<String>, found: &mut BTreeSet<(String, String)>) {
            let here: Vec<&str> = path.iter().map(String::as_str).collect();
            let fields = fields_of(&here).expect("a table names its fields");
            for field in fields {
                path.push(field.clone());
                let inner: Vec<&str> = path.iter().map(String::as_str).collect();
                if fields_of(&inner).is_some() {
                    walk(path, found);
                } else {
                    let section = path[..path.len() - 1].join(".");
                    found.insert((section, field));
                }
                path.pop();
            }
        }
        let mut found = BTreeSet::new();
        walk(&mut Vec::new(), &mut found);
        found
    }

    #[test]
    fn the_table_documents_exactly_the_keys_the_parser_accepts() {
        let accepted = accepted();
        assert!(
            accepted.contains(&("".into(), "user_pool_id".into()))
                && accepted.contains(&("daemon".into(), "socket".into())),
            "the parser's keys are found: {accepted:?}"
        );
        let documented: BTreeSet<(String, String)> = KEYS
            .iter()
            .map(|k| (k.section.to_owned(), k.name.to_owned()))
            .collect();
        let undocumented: Vec<_> = accepted.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "keys the config file takes but config/keys.rs does not document: {undocumented:?}"
        );
        let unknown: Vec<_> = documented.difference(&accepted).collect();
        assert!(
            unknown.is_empty(),
            "keys config/keys.rs documents but the config file does not take: {unknown:?}"
        );
        assert_eq!(documented.len(), KEYS.len(), "each key once");
    }

    #[test]
    fn sections_are_listed_once_and_keys_come_in_their_order() {
        let names: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let order: Vec<usize> = KEYS
            .iter()
            .map(|k| {
                names
                    .iter()
                    .position(|s| *s == k.section)
                    .unwrap_or_else(|| panic!("{}: section not in SECTIONS", k.name))
            })
            .collect();
        assert!(order.is_sorted(), "KEYS follow SECTIONS: {order:?}");
        for (index, (name, _)) in SECTIONS.iter().enumerate() {
            assert!(order.contains(&index), "[{name}] has no keys");
        }
        for key in KEYS {
            assert!(
                !key.about.is_empty() && !key.kind.is_empty() && !key.default.is_empty(),
                "{key:?}"
            );
        }
    }

    #[test]
    fn the_display_of_a_full_config_shows_only_documented_keys() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").expect("the secret is written");
        let text = format!(
            r#"
user_pool_id = "eu-west-1_AbCdEf123"
user_pool_client_id = "1example23456789"
client_secret_file = "{}"
identity_pool_id = "eu-west-1:0000"
ca_file = "/etc/ssl/ca.pem"
[oauth]
domain = "example.auth.eu-west-1.amazoncognito.com"
redirect_uri = "http://localhost:8976/callback"
logout_uri = "http://localhost:8976/out"
[devices]
name = "laptop"
[federation]
provider = "accounts.google.com"
token_command = ["/bin/true"]
"#,
            secret.display()
        );
        let config = crate::config::Config::parse(
            &text,
            &dir.path().join("config.toml"),
            &crate::paths::Environment::default(),
        )
        .expect("the config parses");
        let shown: toml::Table = toml::from_str(&config.to_string()).expect("the output is TOML");
        let mut keys = Vec::new();
        for (name, value) in &shown {
            match value {
                toml::Value::Table(table) => {
                    keys.extend(table.keys().map(|key| (name.as_str(), key.as_str())));
                }
                _ => keys.push(("", name.as_str())),
            }
        }
        assert!(keys.len() > 25, "{keys:?}");
        for (section, name) in keys {
            assert!(
                KEYS.iter().any(|k| k.section == section && k.name == name),
                "--check-config shows [{section}] {name}, which config/keys.rs does not document"
            );
        }
    }
}
