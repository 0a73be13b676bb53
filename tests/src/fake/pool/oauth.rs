//! The pool's managed login (OAuth 2.0 authorization code with PKCE), strict where Cognito
//! is: exact callback and sign-out URLs, S256 only, single-use codes bound to their redirect
//! URI and verifier, client authentication by HTTP Basic for clients with a secret, a browser
//! cookie that signs the next authorize in silently until `/logout`. "TestIdP" is an external
//! OIDC provider whose users come back as `TestIdP_<id>` with an `identities` claim. No I/O:
//! the HTTP layer (`fake::login`) renders the pages.

use std::collections::HashMap;

use base64::Engine as _;
use reqwest::Url;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Grant, PoolState, UserSpec, random_bytes, uuid};

/// How long an authorization code lives.
const CODE_SECONDS: i64 = 300;
/// The scopes an app client may ask for.
const SCOPES: [&str; 5] = [
    "openid",
    "email",
    "profile",
    "phone",
    "aws.cognito.signin.user.admin",
];
/// The external provider the fake knows.
pub const TEST_IDP: &str = "TestIdP";

/// The managed login's state.
#[derive(Debug, Default)]
pub struct ManagedLogin {
    codes: HashMap<String, Code>,
    /// Browser cookie → the user it signed in.
    browsers: HashMap<String, usize>,
    /// TestIdP round trips: its `state` → the authorize request that went there.
    idp_trips: HashMap<String, Authorize>,
    /// TestIdP's codes → the external user id.
    idp_codes: HashMap<String, String>,
    /// Secrets that crossed the managed login, for the secret sweep.
    pub secrets: Vec<String>,
    /// Codes exchanged for tokens.
    pub codes_redeemed: u64,
}

#[derive(Debug, Clone)]
struct Code {
    user: usize,
    authorize: Authorize,
    expires_at: i64,
    used: bool,
}

/// A checked `/oauth2/authorize` request.
#[derive(Debug, Clone)]
pub struct Authorize {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub identity_provider: Option<String>,
    /// The request's query, for the login form to post back.
    pub query: String,
}

/// What the browser gets next.
#[derive(Debug)]
pub enum LoginAnswer {
    /// 302 to `location`; `cookie`: set this browser session cookie, `clear_cookie`: end it.
    Redirect {
        location: String,
        cookie: Option<String>,
        clear_cookie: bool,
    },
    /// The login form (again, with an error line).
    LoginPage {
        authorize: Box<Authorize>,
        error: Option<String>,
    },
    /// TestIdP's consent page for this round trip.
    IdpPage { idp_state: String },
    /// A 400 page.
    ErrorPage(String),
}

/// An OAuth error of the token and revoke endpoints (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub status: u16,
    pub error: &'static str,
}

fn token_error(error: &'static str) -> TokenError {
    TokenError { status: 400, error }
}

/// The pairs of a query or form body; a name given twice is refused.
pub fn pairs(text: &str) -> Result<HashMap<String, String>, String> {
    let url = Url::parse(&format!("http://x/?{text}")).map_err(|e| e.to_string())?;
    let mut map = HashMap::new();
    for (key, value) in url.query_pairs() {
        if map.insert(key.to_string(), value.into_owned()).is_some() {
            return Err(format!("{key} is given twice"));
        }
    }
    Ok(map)
}

fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(base).expect("a registered URL");
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in params {
            query.append_pair(key, value);
        }
    }
    url.into()
}

/// Back to the app's `redirect_uri` with an OAuth `error` (and the request's `state`).
fn error_redirect(
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> LoginAnswer {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    LoginAnswer::Redirect {
        location: with_query(redirect_uri, &params),
        cookie: None,
        clear_cookie: false,
    }
}

impl PoolState {
    /// A deleted user's browser sessions and unredeemed codes end with them.
    pub(super) fn end_managed_logins(&mut self, index: usize) {
        self.login.browsers.retain(|_, user| *user != index);
        self.login.codes.retain(|_, code| code.user != index);
    }

    /// Checks an authorize request as Cognito does; an unusable one gets an error page (a bad
    /// client or redirect URI) or goes back to the app with an error.
    fn check_authorize(&self, query: &str) -> Result<Authorize, LoginAnswer> {
        let params = pairs(query).map_err(LoginAnswer::ErrorPage)?;
        let get = |name: &str| params.get(name).cloned();
        if get("client_id").as_deref() != Some(self.options.client_id.as_str()) {
            return Err(LoginAnswer::ErrorPage(
                "invalid_request: unknown client_id".into(),
            ));
        }
        let redirect_uri = get("redirect_uri").unwrap_or_default();
        if !self.options.callback_urls.contains(&redirect_uri) {
            return Err(LoginAnswer::ErrorPage("redirect_mismatch".into()));
        }
        let state = get("state");
        let back = |error: &str, description: &str| {
            error_redirect(&redirect_uri, state.as_deref(), error, description)
        };
        if get("response_type").as_deref() != Some("code") {
            return Err(back(
                "unsupported_response_type",
                "response_type must be code",
            ));
        }
        let scope = get("scope").unwrap_or_else(|| SCOPES.join(" "));
        if scope.split(' ').any(|s| !SCOPES.contains(&s)) {
            return Err(back("invalid_scope", "invalid_scope"));
        }
        let code_challenge = get("code_challenge");
        match (
            code_challenge.as_deref(),
            get("code_challenge_method").as_deref(),
        ) {
            (None, None) | (Some(_), Some("S256")) => {}
            _ => {
                return Err(back(
                    "invalid_request",
                    "code_challenge_method must be S256",
                ));
            }
        }
        let identity_provider = get("identity_provider");
        if identity_provider
            .as_deref()
            .is_some_and(|p| p != "COGNITO" && p != TEST_IDP)
        {
            return Err(LoginAnswer::ErrorPage(
                "invalid_request: unknown identity_provider".into(),
            ));
        }
        Ok(Authorize {
            redirect_uri,
            state,
            scope,
            code_challenge,
            nonce: get("nonce"),
            identity_provider,
            query: query.to_owned(),
        })
    }

    /// `GET /oauth2/authorize`: signed in already in this browser → straight back with a
    /// code; TestIdP asked → its page; else the login form.
    pub fn authorize(&mut self, query: &str, cookie: Option<&str>, now: i64) -> LoginAnswer {
        let authorize = match self.check_authorize(query) {
            Ok(authorize) => authorize,
            Err(answer) => return answer,
        };
        if authorize.identity_provider.as_deref() == Some(TEST_IDP) {
            let idp_state = uuid();
            self.login.idp_trips.insert(idp_state.clone(), authorize);
            return LoginAnswer::IdpPage { idp_state };
        }
        if let Some(&user) = cookie.and_then(|c| self.login.browsers.get(c)) {
            return self.issue_code(user, authorize, None, now);
        }
        LoginAnswer::LoginPage {
            authorize: Box::new(authorize),
            error: None,
        }
    }

    /// `POST /login`: the form's username and password, or its cancel button.
    pub fn login(&mut self, query: &str, form: &HashMap<String, String>, now: i64) -> LoginAnswer {
        let authorize = match self.check_authorize(query) {
            Ok(authorize) => authorize,
            Err(answer) => return answer,
        };
        if form.get("action").map(String::as_str) == Some("cancel") {
            return self.back_with_error(&authorize, "access_denied", "User cancelled the sign-in");
        }
        let username = form.get("username").map(String::as_str).unwrap_or_default();
        let password = form.get("password").map(String::as_str).unwrap_or_default();
        self.login.secrets.push(password.to_owned());
        let user = self
            .find_user(username)
            .filter(|&i| self.users[i].password == password && self.users[i].identities.is_none());
        let Some(user) = user else {
            return LoginAnswer::LoginPage {
                authorize: Box::new(authorize),
                error: Some("Incorrect username or password.".into()),
            };
        };
        let u = &self.users[user];
        if u.force_change_password || !u.mfa_enabled().is_empty() {
            return LoginAnswer::ErrorPage(
                "this fake managed login has no new-password or MFA pages".into(),
            );
        }
        let cookie = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(32));
        self.login.browsers.insert(cookie.clone(), user);
        self.issue_code(user, authorize, Some(cookie), now)
    }

    /// TestIdP's consent form: continue as `user`, or deny. Sends the browser back to the
    /// pool's `/oauth2/idpresponse`.
    pub fn idp_submit(&mut self, form: &HashMap<String, String>) -> LoginAnswer {
        let idp_state = form.get("idp_state").cloned().unwrap_or_default();
        if !self.login.idp_trips.contains_key(&idp_state) {
            return LoginAnswer::ErrorPage("TestIdP: unknown state".into());
        }
        let base = "http://pool/oauth2/idpresponse";
        let location = if form.get("action").map(String::as_str) == Some("deny") {
            with_query(base, &[("error", "access_denied"), ("state", &idp_state)])
        } else {
            let user = form
                .get("user")
                .map(|u| u.trim().to_owned())
                .unwrap_or_default();
            if user.is_empty()
                || !user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return LoginAnswer::IdpPage { idp_state };
            }
            let code = uuid();
            self.login.idp_codes.insert(code.clone(), user);
            with_query(base, &[("code", &code), ("state", &idp_state)])
        };
        LoginAnswer::Redirect {
            // Relative to the pool's own origin.
            location: location.trim_start_matches("http://pool").to_owned(),
            cookie: None,
            clear_cookie: false,
        }
    }

    /// `GET /oauth2/idpresponse`: TestIdP sent the browser back; its user becomes (or is)
    /// the federated user `TestIdP_<id>`.
    pub fn idp_response(&mut self, query: &str, now: i64) -> LoginAnswer {
        let params = match pairs(query) {
            Ok(params) => params,
            Err(why) => return LoginAnswer::ErrorPage(why),
        };
        let Some(authorize) = params
            .get("state")
            .and_then(|s| self.login.idp_trips.remove(s))
        else {
            return LoginAnswer::ErrorPage("invalid_request: unknown state".into());
        };
        if params.contains_key("error") {
            return self.back_with_error(
                &authorize,
                "access_denied",
                "TestIdP: the user denied the sign-in",
            );
        }
        let Some(external) = params
            .get("code")
            .and_then(|c| self.login.idp_codes.remove(c))
        else {
            return self.back_with_error(
                &authorize,
                "invalid_request",
                "TestIdP's code is unknown",
            );
        };
        let user = self.federated_user(&external, now);
        let cookie = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(32));
        self.login.browsers.insert(cookie.clone(), user);
        self.issue_code(user, authorize, Some(cookie), now)
    }

    /// The user `TestIdP_<external>`, created on first sign-in.
    fn federated_user(&mut self, external: &str, now: i64) -> usize {
        let username = format!("{TEST_IDP}_{external}");
        if let Some(index) = self
            .users
            .iter()
            .position(|u| u.username == username && !u.deleted)
        {
            return index;
        }
        let password = data_encoding::HEXLOWER.encode(&random_bytes(24));
        self.add_user(UserSpec {
            email: Some(format!("{external}@testidp.example")),
            ..UserSpec::new(&username, &password)
        });
        let user = self.users.last_mut().expect("just added");
        user.username = username;
        user.identities = Some(json!([{
            "userId": external, "providerName": TEST_IDP, "providerType": "OIDC",
            "issuer": null, "primary": "true", "dateCreated": (now * 1000).to_string(),
        }]));
        self.users.len() - 1
    }

    fn back_with_error(
        &self,
        authorize: &Authorize,
        error: &str,
        description: &str,
    ) -> LoginAnswer {
        error_redirect(
            &authorize.redirect_uri,
            authorize.state.as_deref(),
            error,
            description,
        )
    }

    fn issue_code(
        &mut self,
        user: usize,
        authorize: Authorize,
        cookie: Option<String>,
        now: i64,
    ) -> LoginAnswer {
        let code = uuid();
        self.login.secrets.push(code.clone());
        let mut params = vec![("code", code.as_str())];
        if let Some(state) = &authorize.state {
            params.push(("state", state));
        }
        let location = with_query(&authorize.redirect_uri, &params);
        self.login.codes.insert(
            code.clone(),
            Code {
                user,
                authorize,
                expires_at: now + CODE_SECONDS,
                used: false,
            },
        );
        LoginAnswer::Redirect {
            location,
            cookie,
            clear_cookie: false,
        }
    }

    /// Who the request authenticates as: HTTP Basic for a client with a secret, else the
    /// `client_id` parameter.
    fn token_client(
        &self,
        form: &HashMap<String, String>,
        authorization: Option<&str>,
    ) -> Result<(), TokenError> {
        let client_id = &self.options.client_id;
        match &self.options.client_secret {
            Some(secret) => {
                let expected = base64::engine::general_purpose::STANDARD
                    .encode(format!("{client_id}:{secret}"));
                if authorization != Some(format!("Basic {expected}").as_str()) {
                    return Err(token_error("invalid_client"));
                }
                if form.get("client_id").is_some_and(|id| id != client_id) {
                    return Err(token_error("invalid_client"));
                }
            }
            None => {
                if form.get("client_id") != Some(client_id) {
                    return Err(token_error("invalid_client"));
                }
            }
        }
        Ok(())
    }

    /// `POST /oauth2/token`.
    pub fn token(
        &mut self,
        form: &HashMap<String, String>,
        authorization: Option<&str>,
        now: i64,
    ) -> Result<Value, TokenError> {
        self.token_client(form, authorization)?;
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => self.redeem_code(form, now),
            Some("refresh_token") => {
                let token = form
                    .get("refresh_token")
                    .ok_or_else(|| token_error("invalid_request"))?;
                let record = self
                    .live_refresh_token(token, now)
                    .map_err(|_| token_error("invalid_grant"))?;
                let user = self
                    .find_user(&record.username)
                    .ok_or_else(|| token_error("invalid_grant"))?;
                if !self.options.refresh_token_rotation {
                    let result = self.refreshed(user, now, &record);
                    return Ok(oauth_shape(&result, None, record.scope.as_deref()));
                }
                // Rotation: a new refresh token; the old one works for the grace period.
                if let Some(old) = self.refresh_tokens.get_mut(token) {
                    old.rotated_at.get_or_insert(now);
                }
                let origin = uuid();
                let grant = Grant {
                    scope: record.scope.clone(),
                    nonce: None,
                };
                let result = self.mint(user, now, Some(origin.clone()), &grant);
                let refresh = self.new_refresh_token(user, origin, record.scope.clone());
                Ok(oauth_shape(&result, Some(refresh), record.scope.as_deref()))
            }
            Some(_) => Err(token_error("unsupported_grant_type")),
            None => Err(token_error("invalid_request")),
        }
    }

    fn redeem_code(
        &mut self,
        form: &HashMap<String, String>,
        now: i64,
    ) -> Result<Value, TokenError> {
        let code_text = form
            .get("code")
            .ok_or_else(|| token_error("invalid_request"))?;
        let redirect_uri = form
            .get("redirect_uri")
            .ok_or_else(|| token_error("invalid_request"))?;
        let code = self
            .login
            .codes
            .get_mut(code_text)
            .ok_or_else(|| token_error("invalid_grant"))?;
        if code.used || now >= code.expires_at || &code.authorize.redirect_uri != redirect_uri {
            return Err(token_error("invalid_grant"));
        }
        // A code is used by its first redemption, right or wrong.
        code.used = true;
        if let Some(challenge) = &code.authorize.code_challenge {
            let verifier = form
                .get("code_verifier")
                .ok_or_else(|| token_error("invalid_request"))?;
            self.login.secrets.push(verifier.clone());
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            if &computed != challenge {
                return Err(token_error("invalid_grant"));
            }
        }
        let code = code.clone();
        self.login.codes_redeemed += 1;
        let origin = uuid();
        let grant = Grant {
            scope: Some(code.authorize.scope.clone()),
            nonce: code.authorize.nonce.clone(),
        };
        let result = self.mint(code.user, now, Some(origin.clone()), &grant);
        let refresh = self.new_refresh_token(code.user, origin, grant.scope.clone());
        Ok(oauth_shape(&result, Some(refresh), grant.scope.as_deref()))
    }

    /// `POST /oauth2/revoke`: the refresh token and what was issued from it.
    pub fn oauth_revoke(
        &mut self,
        form: &HashMap<String, String>,
        authorization: Option<&str>,
    ) -> Result<(), TokenError> {
        self.token_client(form, authorization)?;
        let token = form
            .get("token")
            .ok_or_else(|| token_error("invalid_request"))?;
        match self.refresh_tokens.get_mut(token) {
            Some(record) => {
                record.revoked = true;
                let origin = record.origin_jti.clone();
                self.revoked_origins.push(origin);
                Ok(())
            }
            // RFC 7009: an unknown token is not an error.
            None => Ok(()),
        }
    }

    /// `GET /logout`: ends the browser's session, then back to a registered sign-out URL, or
    /// (the other form) to the login page.
    pub fn logout(&mut self, query: &str, cookie: Option<&str>) -> LoginAnswer {
        let params = match pairs(query) {
            Ok(params) => params,
            Err(why) => return LoginAnswer::ErrorPage(why),
        };
        if params.get("client_id") != Some(&self.options.client_id) {
            return LoginAnswer::ErrorPage("invalid_request: unknown client_id".into());
        }
        let location = if let Some(uri) = params.get("logout_uri") {
            if !self.options.logout_urls.contains(uri) {
                return LoginAnswer::ErrorPage(
                    "invalid_request: logout_uri is not registered".into(),
                );
            }
            uri.clone()
        } else {
            match self.check_authorize(query) {
                Ok(_) => format!("/oauth2/authorize?{query}"),
                Err(answer) => return answer,
            }
        };
        if let Some(cookie) = cookie {
            self.login.browsers.remove(cookie);
        }
        LoginAnswer::Redirect {
            location,
            cookie: None,
            clear_cookie: true,
        }
    }

    /// Whether TestIdP has this round trip open.
    pub fn idp_trip_open(&self, idp_state: &str) -> bool {
        self.login.idp_trips.contains_key(idp_state)
    }
}

/// The token endpoint's shape of an `AuthenticationResult`: an id token only for a grant
/// with the `openid` scope.
fn oauth_shape(result: &Value, refresh_token: Option<String>, scope: Option<&str>) -> Value {
    let mut answer = json!({
        "access_token": result["AccessToken"],
        "expires_in": result["ExpiresIn"],
        "token_type": "Bearer",
    });
    if scope.is_none_or(|s| s.split(' ').any(|s| s == "openid")) {
        answer["id_token"] = result["IdToken"].clone();
    }
    if let Some(refresh) = refresh_token {
        answer["refresh_token"] = json!(refresh);
    }
    answer
}
