//! Configuration: loaded from TOML once, validated, and passed down.
//!
//! The Cognito keys use the names of the `auth` section of Amplify's `amplify_outputs.json`;
//! `amplify_outputs = "path"` reads that file, and explicit keys override it.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cognitod_proto::Secret;
use serde::Deserialize;

use crate::paths::Environment;

mod federation;
pub mod keys;
mod oauth;
pub use federation::FederationConfig;
pub use oauth::{OAuthConfig, cognito_provider_name};

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    pub aws_region: String,
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    pub identity_pool_id: Option<String>,
    pub unauthenticated_identities_enabled: bool,
    pub refresh_token_rotation: bool,
    /// The user pool's endpoint: the configured override or the regional AWS one.
    pub user_pool_endpoint: String,
    pub identity_pool_endpoint: String,
    /// The `iss` every token must carry.
    pub issuer: String,
    /// Where the pool's signing keys are fetched from.
    pub jwks_url: String,
    pub ca_file: Option<PathBuf>,
    pub daemon: DaemonConfig,
    pub ecs: EcsConfig,
    /// Browser sign-in, when configured.
    pub oauth: Option<OAuthConfig>,
    /// Identity pool federation with an external provider, when configured.
    pub federation: Option<FederationConfig>,
    /// `[devices] name`: this machine's name as a remembered device (default: the host name).
    pub device_name: Option<String>,
}

/// The `[daemon]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub persist: bool,
    pub allowed_uids: Vec<u32>,
    pub max_connections: usize,
    pub log_level: String,
}

/// The `[ecs]` section: the container credentials endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
}

/// Why the configuration cannot be used. Each names the file or key involved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no configuration file at {}\nCreate it (see the README's Configuration section) or pass --config PATH.",
        .0.display()
    )]
    Missing(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    amplify_outputs: Option<PathBuf>,
    aws_region: Option<String>,
    user_pool_id: Option<String>,
    user_pool_client_id: Option<String>,
    identity_pool_id: Option<String>,
    unauthenticated_identities_enabled: Option<bool>,
    client_secret_file: Option<PathBuf>,
    refresh_token_rotation: Option<bool>,
    user_pool_endpoint: Option<String>,
    identity_pool_endpoint: Option<String>,
    issuer: Option<String>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    daemon: DaemonSection,
    #[serde(default)]
    ecs: EcsSection,
    oauth: Option<oauth::OAuthSection>,
    federation: Option<federation::FederationSection>,
    #[serde(default)]
    devices: DevicesSection,
}

/// The `[devices]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevicesSection {
    name: Option<String>,
}

/// The keys shared with `amplify_outputs.json`'s `auth` section.
#[derive(Debug, Default, Deserialize)]
struct AuthKeys {
    aws_region: Option<String>,
    user_pool_id: Option<String>,
    user_pool_client_id: Option<String>,
    identity_pool_id: Option<String>,
    unauthenticated_identities_enabled: Option<bool>,
}

impl AuthKeys {
    /// `self`, with keys it lacks taken from `base`.
    fn or(self, base: AuthKeys) -> AuthKeys {
        AuthKeys {
            aws_region: self.aws_region.or(base.aws_region),
            user_pool_id: self.user_pool_id.or(base.user_pool_id),
            user_pool_client_id: self.user_pool_client_id.or(base.user_pool_client_id),
            identity_pool_id: self.identity_pool_id.or(base.identity_pool_id),
            unauthenticated_identities_enabled: self
                .unauthenticated_identities_enabled
                .or(base.unauthenticated_identities_enabled),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DaemonSection {
    socket: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    persist: Option<bool>,
    allowed_uids: Option<Vec<Uid>>,
    max_connections: Option<usize>,
    log_level: Option<String>,
}

/// A uid in `allowed_uids`, with a message that says what a uid is.
#[derive(Debug)]
struct Uid(u32);

impl<'de> Deserialize<'de> for Uid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = i64::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("a uid is a number from 0 to 4294967295"))?;
        u32::try_from(number).map(Uid).map_err(|_| {
            serde::de::Error::custom(format!(
                "{number} is not a uid: a uid is a number from 0 to 4294967295"
            ))
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EcsSection {
    enabled: Option<bool>,
    listen: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AmplifyOutputs {
    version: String,
    auth: Option<AmplifyAuth>,
}

/// `amplify_outputs.json`'s `auth` section.
#[derive(Debug, Deserialize)]
struct AmplifyAuth {
    #[serde(flatten)]
    keys: AuthKeys,
    oauth: Option<oauth::AmplifyOAuth>,
}

impl Config {
    /// Loads the file `--config` names, else `$COGNITOD_CONFIG`, else the XDG default.
    pub fn load(explicit: Option<&Path>, env: &Environment) -> Result<Config, ConfigError> {
        let path = explicit
            .map(Path::to_path_buf)
            .unwrap_or_else(|| env.config_file());
        // Messages name the file by its absolute path, whatever the working directory was.
        let path = std::path::absolute(&path).unwrap_or(path);
        let text = std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::Missing(path.clone())
            } else {
                ConfigError::Read {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        let mut config = Self::parse(&text, &path, env)?;
        config.source = Some(path);
        Ok(config)
    }

    /// Parses and validates the text of a config file found at `path` (relative paths in it
    /// are taken from that file's folder).
    pub fn parse(text: &str, path: &Path, env: &Environment) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: match did_you_mean(e.message()) {
                Some((unknown, near)) => format!(
                    "unknown key `{unknown}`{}; did you mean `{near}`?",
                    line_of(text, e.span())
                ),
                None => e.message().to_owned() + &line_of(text, e.span()),
            },
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: PathBuf| {
            if p.is_absolute() { p } else { base_dir.join(p) }
        };

        let explicit = AuthKeys {
            aws_region: file.aws_region,
            user_pool_id: file.user_pool_id,
            user_pool_client_id: file.user_pool_client_id,
            identity_pool_id: file.identity_pool_id,
            unauthenticated_identities_enabled: file.unauthenticated_identities_enabled,
        };
        let (auth, amplify_oauth) = match &file.amplify_outputs {
            Some(outputs) => {
                let outputs = read_amplify_outputs(&resolve(outputs.clone()))?;
                (explicit.or(outputs.keys), outputs.oauth)
            }
            None => (explicit, None),
        };
        let oauth = oauth::resolve(file.oauth, amplify_oauth)?;
        let federation = federation::resolve(file.federation, auth.identity_pool_id.is_some())?;
        let device_name = file.devices.name.map(|n| n.trim().to_owned());
        if let Some(name) = &device_name
            && (name.is_empty()
                || name.chars().count() > 1024
                || name.chars().any(char::is_control))
        {
            return Err(invalid(
                "devices.name",
                "must be 1 to 1024 characters without control characters",
            ));
        }

        let user_pool_id = auth
            .user_pool_id
            .ok_or_else(|| invalid("user_pool_id", "is required (e.g. \"eu-west-1_AbCdEf123\")"))?;
        let (pool_region, pool_name) = user_pool_id.split_once('_').ok_or_else(|| {
            invalid(
                "user_pool_id",
                format!("{user_pool_id:?} is not of the form <region>_<id>"),
            )
        })?;
        if pool_name.is_empty() || !pool_name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(
                "user_pool_id",
                format!("{user_pool_id:?} is not of the form <region>_<id>"),
            ));
        }
        let aws_region = auth.aws_region.unwrap_or_else(|| pool_region.to_owned());
        if !is_region(&aws_region) {
            return Err(invalid(
                "aws_region",
                format!("{aws_region:?} is not an AWS region name"),
            ));
        }
        if pool_region != aws_region {
            return Err(invalid(
                "user_pool_id",
                format!("{user_pool_id:?} is not in aws_region {aws_region:?}"),
            ));
        }
        let user_pool_client_id = auth
            .user_pool_client_id
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| invalid("user_pool_client_id", "is required"))?;

        let client_secret_file = file.client_secret_file.map(&resolve);
        let client_secret = client_secret_file
            .as_deref()
            .map(read_client_secret)
            .transpose()?;

        if let Some(id) = &auth.identity_pool_id {
            let valid = id
                .split_once(':')
                .is_some_and(|(region, rest)| is_region(region) && !rest.is_empty());
            if !valid {
                return Err(invalid(
                    "identity_pool_id",
                    format!("{id:?} is not of the form <region>:<uuid>"),
                ));
            }
        }
        let unauthenticated_identities_enabled =
            auth.unauthenticated_identities_enabled.unwrap_or(false);
        if unauthenticated_identities_enabled && auth.identity_pool_id.is_none() {
            return Err(invalid(
                "unauthenticated_identities_enabled",
                "needs identity_pool_id",
            ));
        }

        let endpoint_override = file
            .user_pool_endpoint
            .map(|e| endpoint("user_pool_endpoint", e))
            .transpose()?;
        let user_pool_endpoint = endpoint_override
            .clone()
            .unwrap_or_else(|| format!("https://cognito-idp.{aws_region}.amazonaws.com"));
        // The identity pool's own region (its id starts with it), which may differ from the
        // user pool's.
        let identity_region = auth
            .identity_pool_id
            .as_deref()
            .and_then(|id| id.split_once(':'))
            .map_or(aws_region.as_str(), |(region, _)| region);
        let identity_pool_endpoint = file
            .identity_pool_endpoint
            .map(|e| endpoint("identity_pool_endpoint", e))
            .transpose()?
            .unwrap_or_else(|| format!("https://cognito-identity.{identity_region}.amazonaws.com"));
        let issuer = match file.issuer {
            Some(issuer) => endpoint("issuer", issuer)?,
            None => format!("https://cognito-idp.{aws_region}.amazonaws.com/{user_pool_id}"),
        };
        let jwks_url = match &endpoint_override {
            Some(endpoint) => format!("{endpoint}/{user_pool_id}/.well-known/jwks.json"),
            None => format!("{issuer}/.well-known/jwks.json"),
        };

        let daemon = DaemonConfig {
            socket: file
                .daemon
                .socket
                .map(&resolve)
                .unwrap_or_else(|| env.default_socket()),
            state_dir: file
                .daemon
                .state_dir
                .map(&resolve)
                .unwrap_or_else(|| env.default_state_dir()),
            persist: file.daemon.persist.unwrap_or(true),
            allowed_uids: file
                .daemon
                .allowed_uids
                .unwrap_or_default()
                .into_iter()
                .map(|Uid(uid)| uid)
                .collect(),
            max_connections: file.daemon.max_connections.unwrap_or(2048),
            log_level: crate::logging::parse_filter(
                file.daemon.log_level.as_deref().unwrap_or("info"),
            )
            .map_err(|e| invalid("daemon.log_level", e))?,
        };
        if daemon.max_connections == 0 {
            return Err(invalid("daemon.max_connections", "must be at least 1"));
        }

        let listen_text = file.ecs.listen.as_deref().unwrap_or("127.0.0.1:0");
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid(
                "ecs.listen",
                format!("{listen_text:?} is not an address:port"),
            )
        })?;
        if !listen.ip().is_loopback() {
            return Err(invalid(
                "ecs.listen",
                format!("{listen} is not a loopback address; the endpoint serves 127.0.0.1 only"),
            ));
        }

        Ok(Config {
            source: None,
            aws_region,
            user_pool_id,
            user_pool_client_id,
            client_secret,
            client_secret_file,
            identity_pool_id: auth.identity_pool_id,
            unauthenticated_identities_enabled,
            refresh_token_rotation: file.refresh_token_rotation.unwrap_or(false),
            user_pool_endpoint,
            identity_pool_endpoint,
            issuer,
            jwks_url,
            ca_file: file.ca_file.map(&resolve),
            daemon,
            ecs: EcsConfig {
                enabled: file.ecs.enabled.unwrap_or(false),
                listen,
            },
            oauth,
            federation,
            device_name,
        })
    }
}

/// The effective configuration as TOML, for `cognitod --check-config`; the client secret is
/// shown as `<redacted>`.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use toml::Value;
        let mut top = toml::Table::new();
        let put = |table: &mut toml::Table, key: &str, value: Value| {
            table.insert(key.to_owned(), value);
        };
        let path = |p: &Path| Value::String(p.display().to_string());
        put(&mut top, "aws_region", self.aws_region.clone().into());
        put(&mut top, "user_pool_id", self.user_pool_id.clone().into());
        put(
            &mut top,
            "user_pool_client_id",
            self.user_pool_client_id.clone().into(),
        );
        if let Some(file) = &self.client_secret_file {
            put(&mut top, "client_secret_file", path(file));
        }
        if let Some(id) = &self.identity_pool_id {
            put(&mut top, "identity_pool_id", id.clone().into());
        }
        put(
            &mut top,
            "unauthenticated_identities_enabled",
            self.unauthenticated_identities_enabled.into(),
        );
        put(
            &mut top,
            "refresh_token_rotation",
            self.refresh_token_rotation.into(),
        );
        put(
            &mut top,
            "user_pool_endpoint",
            self.user_pool_endpoint.clone().into(),
        );
        put(
            &mut top,
            "identity_pool_endpoint",
            self.identity_pool_endpoint.clone().into(),
        );
        put(&mut top, "issuer", self.issuer.clone().into());
        if let Some(ca) = &self.ca_file {
            put(&mut top, "ca_file", path(ca));
        }
        let mut daemon = toml::Table::new();
        put(&mut daemon, "socket", path(&self.daemon.socket));
        put(&mut daemon, "state_dir", path(&self.daemon.state_dir));
        put(&mut daemon, "persist", self.daemon.persist.into());
        put(
            &mut daemon,
            "allowed_uids",
            Value::Array(
                self.daemon
                    .allowed_uids
                    .iter()
                    .map(|&uid| Value::Integer(uid.into()))
                    .collect(),
            ),
        );
        put(
            &mut daemon,
            "max_connections",
            Value::Integer(i64::try_from(self.daemon.max_connections).unwrap_or(i64::MAX)),
        );
        put(
            &mut daemon,
            "log_level",
            self.daemon.log_level.clone().into(),
        );
        put(&mut top, "daemon", Value::Table(daemon));
        let mut ecs = toml::Table::new();
        put(&mut ecs, "enabled", self.ecs.enabled.into());
        put(&mut ecs, "listen", self.ecs.listen.to_string().into());
        put(&mut top, "ecs", Value::Table(ecs));
        if let Some(oauth) = &self.oauth {
            put(&mut top, "oauth", Value::Table(oauth.to_toml()));
        }
        if let Some(federation) = &self.federation {
            put(&mut top, "federation", Value::Table(federation.to_toml()));
        }
        if let Some(name) = &self.device_name {
            let mut devices = toml::Table::new();
            put(&mut devices, "name", name.clone().into());
            put(&mut top, "devices", Value::Table(devices));
        }
        // Comments: what is derived or secret stays out of the keys, so the output is itself a
        // valid config file.
        if let Some(source) = &self.source {
            writeln!(f, "# effective configuration from {}", source.display())?;
        }
        writeln!(f, "# jwks_url (derived) = {:?}", self.jwks_url)?;
        if self.client_secret_file.is_some() {
            writeln!(
                f,
                "# client_secret = \"<redacted>\" (read from client_secret_file)"
            )?;
        }
        write!(f, "{}", toml::to_string(&top).map_err(|_| fmt::Error)?)
    }
}

fn read_amplify_outputs(path: &Path) -> Result<AmplifyAuth, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let outputs: AmplifyOutputs = serde_json::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if outputs.version.split('.').next() != Some("1") {
        return Err(ConfigError::Syntax {
            path: path.to_path_buf(),
            message: format!("version {:?} is not supported (only 1.x)", outputs.version),
        });
    }
    outputs.auth.ok_or_else(|| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: "has no \"auth\" section".to_owned(),
    })
}

fn read_client_secret(path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let secret = Secret::new(text.trim_end_matches(['\r', '\n']));
    drop(Secret::new(text));
    if secret.is_empty() {
        return Err(invalid(
            "client_secret_file",
            format!("{} is empty", path.display()),
        ));
    }
    Ok(secret)
}

/// An `http://` or `https://` URL without a trailing slash.
fn endpoint(key: &'static str, value: String) -> Result<String, ConfigError> {
    let url = reqwest::Url::parse(&value)
        .map_err(|e| invalid(key, format!("{value:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            key,
            format!("{value:?} must be an http:// or https:// URL"),
        ));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

fn is_region(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// For serde's "unknown field `x`, expected one of `a`, `b`": the unknown key and the nearest
/// known one, if one is near.
fn did_you_mean(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|key| (strsim::levenshtein(unknown, key), key))
        .filter(|(distance, _)| *distance <= (unknown.len() / 3).max(1))
        .min()
        .map(|(_, key)| (unknown, key))
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    span.map(|span| {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        format!(" (line {line})")
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests;
