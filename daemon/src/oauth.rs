//! Browser sign-in through the pool's managed login (OAuth 2.0 authorization code with PKCE):
//! an attempt's secrets (`state`, the PKCE verifier, the `nonce`), the authorize and logout
//! URLs, and the reading of the URL the browser came back to. No I/O: the token endpoint is
//! called through [`crate::cognito::UserPool`], the flow is driven by the session.

use base64::Engine as _;
use cognitod_proto::Secret;
use reqwest::Url;
use sha2::{Digest, Sha256};

use crate::config::{OAuthConfig, cognito_provider_name};

/// How long a browser sign-in may take from its start.
pub const ATTEMPT_MS: i64 = 10 * 60 * 1000;

/// One browser sign-in's secrets, which never leave the daemon but in the authorize URL (the
/// `state` and the verifier's hash).
#[derive(Debug, Clone)]
pub struct Attempt {
    /// 256 random bits, base64url: ties the browser's callback to this attempt.
    pub state: Secret,
    /// RFC 7636 `code_verifier`: 256 random bits, base64url (43 characters).
    pub verifier: Secret,
    /// Bound into the id token: it proves the tokens were issued for this attempt.
    pub nonce: Secret,
    /// Cognito's name of the provider asked for, if one was.
    pub provider: Option<String>,
    /// When the attempt lapses (local ms).
    pub expires_at_ms: i64,
}

impl Attempt {
    /// A new attempt started at `now_ms`.
    pub fn new(now_ms: i64, provider: Option<String>) -> Result<Self, getrandom::Error> {
        Ok(Self {
            state: random_token()?,
            verifier: random_token()?,
            nonce: random_token()?,
            provider,
            expires_at_ms: now_ms + ATTEMPT_MS,
        })
    }

    /// The managed login's `/oauth2/authorize` URL for this attempt.
    pub fn authorize_url(&self, oauth: &OAuthConfig, client_id: &str) -> Secret {
        let mut url = Url::parse(&format!("{}/oauth2/authorize", oauth.endpoint))
            .expect("the endpoint was validated as a URL");
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", client_id)
                .append_pair("redirect_uri", &oauth.redirect_uri)
                .append_pair("scope", &oauth.scopes.join(" "))
                .append_pair("state", self.state.expose())
                .append_pair("code_challenge", &code_challenge(&self.verifier))
                .append_pair("code_challenge_method", "S256")
                .append_pair("nonce", self.nonce.expose());
            if let Some(provider) = &self.provider {
                query.append_pair("identity_provider", provider);
            }
        }
        Secret::new(String::from(url))
    }

    /// Whether `state` is this attempt's, compared in constant time.
    pub fn state_matches(&self, state: &str) -> bool {
        crate::same_secret(state.as_bytes(), self.state.expose().as_bytes())
    }

    /// Whether an id token's `nonce` is this attempt's, compared in constant time.
    pub fn nonce_matches(&self, nonce: Option<&str>) -> bool {
        nonce.is_some_and(|n| crate::same_secret(n.as_bytes(), self.nonce.expose().as_bytes()))
    }
}

/// RFC 7636 S256: `BASE64URL(SHA256(verifier))`.
pub fn code_challenge(verifier: &Secret) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.expose().as_bytes()))
}

fn random_token() -> Result<Secret, getrandom::Error> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *bytes)?;
    Ok(Secret::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*bytes),
    ))
}

/// What the browser brought back.
#[derive(Debug)]
pub enum Callback {
    /// `?code=...&state=...`.
    Code { code: Secret, state: Option<String> },
    /// `?error=...&error_description=...&state=...`.
    Error {
        error: String,
        description: Option<String>,
        state: Option<String>,
    },
}

impl Callback {
    pub fn state(&self) -> Option<&str> {
        match self {
            Self::Code { state, .. } | Self::Error { state, .. } => state.as_deref(),
        }
    }
}

/// Reads the URL the browser was sent to, which must be `redirect_uri` with a query.
/// Messages never quote the URL (it may hold a code).
pub fn read_callback(callback_url: &str, redirect_uri: &str) -> Result<Callback, String> {
    let url = Url::parse(callback_url.trim())
        .map_err(|e| format!("the callback is not a URL ({e}); paste the whole address"))?;
    let expected = Url::parse(redirect_uri).map_err(|e| format!("redirect_uri: {e}"))?;
    let same_place = url.scheme() == expected.scheme()
        && url.host_str() == expected.host_str()
        && url.port_or_known_default() == expected.port_or_known_default()
        && url.path() == expected.path();
    if !same_place {
        return Err(format!(
            "the callback is not an address under the redirect URI {redirect_uri}"
        ));
    }
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for (key, value) in url.query_pairs() {
        let slot = match &*key {
            "code" => &mut code,
            "state" => &mut state,
            "error" => &mut error,
            "error_description" => &mut description,
            _ => continue,
        };
        if slot.is_some() {
            return Err(format!("the callback names {key} twice"));
        }
        *slot = Some(value.into_owned());
    }
    match (code, error) {
        (_, Some(error)) => Ok(Callback::Error {
            error,
            description,
            state,
        }),
        (Some(code), None) if !code.is_empty() => Ok(Callback::Code {
            code: Secret::new(code),
            state,
        }),
        _ => Err("the callback has neither a code nor an error".to_owned()),
    }
}

/// What the managed login's `error` means to the user.
pub fn describe_error(error: &str, description: Option<&str>) -> String {
    let detail = description
        .filter(|d| !d.trim().is_empty())
        .map(|d| format!(" ({})", d.chars().take(200).collect::<String>()))
        .unwrap_or_default();
    match error {
        "access_denied" => format!("the sign-in was cancelled{detail}"),
        "invalid_request"
        | "unauthorized_client"
        | "invalid_scope"
        | "unsupported_response_type" => {
            format!(
                "the managed login refused the request: {error}{detail}; check [oauth] and the app client's settings"
            )
        }
        other => format!(
            "the managed login refused the sign-in: {}{detail}",
            other.chars().take(64).collect::<String>()
        ),
    }
}

/// The managed login's `/logout` URL: back to `logout_uri` when one is configured, else to
/// the sign-in page (Cognito's other form of `/logout`).
pub fn logout_url(oauth: &OAuthConfig, client_id: &str) -> String {
    let mut url = Url::parse(&format!("{}/logout", oauth.endpoint))
        .expect("the endpoint was validated as a URL");
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("client_id", client_id);
        match &oauth.logout_uri {
            Some(uri) => {
                query.append_pair("logout_uri", uri);
            }
            None => {
                query
                    .append_pair("response_type", "code")
                    .append_pair("redirect_uri", &oauth.redirect_uri)
                    .append_pair("scope", &oauth.scopes.join(" "));
            }
        }
    }
    url.into()
}

/// Cognito's name of the provider a user asked for; when `identity_providers` is configured
/// it must be one of them (or `COGNITO`, the pool's own users).
pub fn provider(oauth: &OAuthConfig, requested: &str) -> Result<String, String> {
    let name = cognito_provider_name(requested.trim());
    if name.is_empty() {
        return Err("the provider name is empty".to_owned());
    }
    let known = oauth.identity_providers.is_empty()
        || name == "COGNITO"
        || oauth.identity_providers.iter().any(|p| p == &name);
    if known {
        Ok(name)
    } else {
        Err(format!(
            "{requested:?} is not among [oauth] identity_providers ({})",
            oauth.identity_providers.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OAuthConfig {
        OAuthConfig {
            domain: "example.auth.eu-west-1.amazoncognito.com".into(),
            scopes: vec!["openid".into(), "email".into()],
            redirect_uri: "http://localhost:8976/callback".into(),
            logout_uri: None,
            identity_providers: vec!["Google".into()],
            endpoint: "https://example.auth.eu-west-1.amazoncognito.com".into(),
        }
    }

    #[test]
    fn the_challenge_is_rfc_7636_s256() {
        // RFC 7636, appendix B.
        let verifier = Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            code_challenge(&verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn attempts_are_random_and_the_url_carries_them() {
        let a = Attempt::new(0, Some("Google".into())).unwrap();
        let b = Attempt::new(0, None).unwrap();
        assert_ne!(a.state.expose(), b.state.expose());
        assert_ne!(a.verifier.expose(), b.verifier.expose());
        assert_eq!(a.verifier.expose().len(), 43);
        let url = Url::parse(a.authorize_url(&config(), "client1").expose()).unwrap();
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.path(), "/oauth2/authorize");
        assert_eq!(query["state"], a.state.expose());
        assert_eq!(query["code_challenge"], code_challenge(&a.verifier));
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["nonce"], a.nonce.expose());
        assert_eq!(query["scope"], "openid email");
        assert_eq!(query["redirect_uri"], "http://localhost:8976/callback");
        assert_eq!(query["identity_provider"], "Google");
        assert!(!query.contains_key("code_verifier"));
        assert!(a.state_matches(a.state.expose()));
        assert!(!a.state_matches(b.state.expose()));
        assert!(!a.state_matches(""));
    }

    #[test]
    fn callbacks_must_come_to_the_redirect_uri() {
        let redirect = "http://localhost:8976/callback";
        let ok = read_callback("http://localhost:8976/callback?code=abc&state=s1", redirect);
        assert!(
            matches!(ok, Ok(Callback::Code { ref code, state: Some(ref s) }) if code.expose() == "abc" && s == "s1")
        );
        for wrong in [
            "http://localhost:8977/callback?code=abc&state=s1",
            "http://127.0.0.1:8976/callback?code=abc&state=s1",
            "http://localhost:8976/other?code=abc&state=s1",
            "https://localhost:8976/callback?code=abc&state=s1",
            "not a url",
        ] {
            let error = read_callback(wrong, redirect).unwrap_err();
            assert!(!error.contains("abc"), "{error}");
        }
        assert!(read_callback("http://localhost:8976/callback?state=s1", redirect).is_err());
        assert!(
            read_callback(
                "http://localhost:8976/callback?code=a&code=b&state=s1",
                redirect
            )
            .is_err()
        );
        let denied = read_callback(
            "http://localhost:8976/callback?error=access_denied&error_description=User+cancelled&state=s1",
            redirect,
        )
        .unwrap();
        let Callback::Error {
            error, description, ..
        } = denied
        else {
            panic!("an error callback")
        };
        assert_eq!(
            describe_error(&error, description.as_deref()),
            "the sign-in was cancelled (User cancelled)"
        );
    }

    #[test]
    fn logout_goes_back_to_the_logout_uri_or_the_sign_in_page() {
        let mut oauth = config();
        let url = logout_url(&oauth, "client1");
        assert!(url.starts_with("https://example.auth.eu-west-1.amazoncognito.com/logout?client_id=client1&response_type=code&redirect_uri="));
        oauth.logout_uri = Some("http://localhost:8976/signed-out".into());
        assert_eq!(
            logout_url(&oauth, "client1"),
            "https://example.auth.eu-west-1.amazoncognito.com/logout?client_id=client1&logout_uri=http%3A%2F%2Flocalhost%3A8976%2Fsigned-out"
        );
    }

    #[test]
    fn providers_use_cognito_names_and_the_configured_list() {
        let oauth = config();
        assert_eq!(provider(&oauth, "GOOGLE").unwrap(), "Google");
        assert_eq!(provider(&oauth, "COGNITO").unwrap(), "COGNITO");
        assert!(provider(&oauth, "Facebook").unwrap_err().contains("Google"));
    }
}
