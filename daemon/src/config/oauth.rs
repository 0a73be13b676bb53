//! The `[oauth]` section: browser sign-in through the pool's managed login, filled from
//! `amplify_outputs.json`'s `auth.oauth` where the file does not say.

use serde::Deserialize;

use super::{ConfigError, endpoint, invalid};

/// Browser sign-in settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// The managed login's domain (`<prefix>.auth.<region>.amazoncognito.com` or a custom one).
    pub domain: String,
    pub scopes: Vec<String>,
    /// A loopback `http://localhost:PORT/...` (or 127.0.0.1, [::1]) URI registered on the app
    /// client: where the browser comes back to, and where `cognitoctl` listens.
    pub redirect_uri: String,
    /// A sign-out URL registered on the app client, where `/logout` sends the browser.
    pub logout_uri: Option<String>,
    /// Cognito's names of the providers `--provider` may name (`Google`, `LoginWithAmazon`, a
    /// SAML or OIDC provider's own name).
    pub identity_providers: Vec<String>,
    /// Where `/oauth2/...` and `/logout` are: `https://<domain>`, or the `endpoint` override.
    pub endpoint: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OAuthSection {
    domain: Option<String>,
    scopes: Option<Vec<String>>,
    redirect_uri: Option<String>,
    logout_uri: Option<String>,
    identity_providers: Option<Vec<String>>,
    endpoint: Option<String>,
}

/// `amplify_outputs.json`'s `auth.oauth`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AmplifyOAuth {
    domain: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    redirect_sign_in_uri: Vec<String>,
    #[serde(default)]
    redirect_sign_out_uri: Vec<String>,
    #[serde(default)]
    identity_providers: Vec<String>,
}

const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// The `[oauth]` settings from the file's section over `amplify_outputs.json`'s; `None` when
/// neither has any.
pub(super) fn resolve(
    section: Option<OAuthSection>,
    outputs: Option<AmplifyOAuth>,
) -> Result<Option<OAuthConfig>, ConfigError> {
    if section.is_none() && outputs.is_none() {
        return Ok(None);
    }
    let section = section.unwrap_or_default();
    let outputs = outputs.unwrap_or_default();

    let domain = section
        .domain
        .or(outputs.domain)
        .ok_or_else(|| invalid("oauth.domain", "is required (the managed login's domain, e.g. \"example.auth.eu-west-1.amazoncognito.com\")"))?;
    let domain = domain
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    let is_host = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    if !is_host {
        return Err(invalid(
            "oauth.domain",
            format!("{domain:?} is not a domain name"),
        ));
    }

    let scopes = section
        .scopes
        .or(outputs.scopes)
        .unwrap_or_else(|| DEFAULT_SCOPES.map(str::to_owned).to_vec());
    if let Some(bad) = scopes
        .iter()
        .find(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(invalid("oauth.scopes", format!("{bad:?} is not a scope")));
    }
    if !scopes.iter().any(|s| s == "openid") {
        return Err(invalid(
            "oauth.scopes",
            "must include \"openid\": without it Cognito issues no id token",
        ));
    }

    let redirect_uri = match section.redirect_uri {
        Some(uri) => loopback("oauth.redirect_uri", &uri)?,
        None => outputs
            .redirect_sign_in_uri
            .iter()
            .find_map(|uri| loopback("oauth.redirect_uri", uri).ok())
            .ok_or_else(|| {
                invalid(
                    "oauth.redirect_uri",
                    format!(
                        "no loopback redirect URI is configured{}; register one such as \
                         \"http://localhost:8976/callback\" among the app client's callback URLs \
                         and set it as [oauth] redirect_uri",
                        if outputs.redirect_sign_in_uri.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " (amplify_outputs.json lists {})",
                                outputs.redirect_sign_in_uri.join(", ")
                            )
                        }
                    ),
                )
            })?,
    };
    let logout_uri = match section.logout_uri {
        Some(uri) => Some(endpoint("oauth.logout_uri", uri)?),
        None => outputs
            .redirect_sign_out_uri
            .iter()
            .find_map(|uri| loopback("oauth.logout_uri", uri).ok()),
    };
    let identity_providers = section
        .identity_providers
        .unwrap_or(outputs.identity_providers)
        .iter()
        .map(|name| cognito_provider_name(name))
        .collect();
    let endpoint = match section.endpoint {
        Some(e) => endpoint("oauth.endpoint", e)?,
        None => format!("https://{domain}"),
    };
    Ok(Some(OAuthConfig {
        domain,
        scopes,
        redirect_uri,
        logout_uri,
        identity_providers,
        endpoint,
    }))
}

/// A loopback `http://` URI with an explicit port: `localhost`, `127.0.0.1` or `[::1]`.
fn loopback(key: &'static str, uri: &str) -> Result<String, ConfigError> {
    let url =
        reqwest::Url::parse(uri).map_err(|e| invalid(key, format!("{uri:?} is not a URL: {e}")))?;
    let host_ok = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "http" || !host_ok {
        return Err(invalid(
            key,
            format!(
                "{uri:?} is not a loopback URI: cognitoctl receives the browser on \
                 http://localhost:PORT/..., http://127.0.0.1:PORT/... or http://[::1]:PORT/..."
            ),
        ));
    }
    if url.port().is_none() {
        return Err(invalid(
            key,
            format!("{uri:?} has no port; give the one registered on the app client"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(
            key,
            format!("{uri:?} must not have a query, a fragment or a user name"),
        ));
    }
    Ok(uri.to_owned())
}

/// Cognito's name for an identity provider Amplify names otherwise (`GOOGLE` → `Google`);
/// other names (SAML, OIDC, Cognito's own) as they are.
pub fn cognito_provider_name(name: &str) -> String {
    match name.to_ascii_uppercase().as_str() {
        "GOOGLE" => "Google".to_owned(),
        "FACEBOOK" => "Facebook".to_owned(),
        "AMAZON" | "LOGINWITHAMAZON" => "LoginWithAmazon".to_owned(),
        "APPLE" | "SIGNINWITHAPPLE" => "SignInWithApple".to_owned(),
        "COGNITO" => "COGNITO".to_owned(),
        _ => name.to_owned(),
    }
}

impl OAuthConfig {
    /// The section as TOML, for `--check-config`.
    pub(super) fn to_toml(&self) -> toml::Table {
        let mut table = toml::Table::new();
        let strings = |items: &[String]| {
            toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect())
        };
        table.insert("domain".into(), self.domain.clone().into());
        table.insert("scopes".into(), strings(&self.scopes));
        table.insert("redirect_uri".into(), self.redirect_uri.clone().into());
        if let Some(uri) = &self.logout_uri {
            table.insert("logout_uri".into(), uri.clone().into());
        }
        table.insert(
            "identity_providers".into(),
            strings(&self.identity_providers),
        );
        table.insert("endpoint".into(), self.endpoint.clone().into());
        table
    }
}
