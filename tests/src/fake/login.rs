//! The managed login over HTTP: the pages a browser sees (`/oauth2/authorize`, `/login`,
//! TestIdP's consent page, `/logout`) and the endpoints an app calls (`/oauth2/token`,
//! `/oauth2/revoke`). The logic is the pool's ([`super::pool::ManagedLogin`]); this renders it.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::pool::{LoginAnswer, oauth_pairs};
use super::{SharedState, collect_secrets, lock};

/// The browser session cookie of the managed login.
const COOKIE: &str = "cognito";

pub(super) fn routes(router: Router<SharedState>) -> Router<SharedState> {
    router
        .route("/oauth2/authorize", get(authorize))
        .route("/login", post(login))
        .route("/testidp/authorize", get(idp_page).post(idp_submit))
        .route("/oauth2/idpresponse", get(idp_response))
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        .route("/logout", get(logout))
        .route("/testoidc/token", get(oidc_token))
}

/// The external OIDC provider's token for `?sub=...&seconds=...`, as a token command fetches
/// one (counted as `testoidc/token`).
async fn oidc_token(State(shared): State<SharedState>, RawQuery(query): RawQuery) -> Response {
    count(&shared, "testoidc/token");
    let params = oauth_pairs(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let sub = params
        .get("sub")
        .cloned()
        .unwrap_or_else(|| "worker".into());
    let seconds = params
        .get("seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let token = with_pool(&shared, |pool| pool.oidc_token(&sub, now(), seconds));
    let mut shared_lock = lock(&shared);
    shared_lock.secrets.push(token.clone());
    if let Some(signature) = token.split('.').nth(2) {
        shared_lock.secrets.push(signature.to_owned());
    }
    drop(shared_lock);
    (StatusCode::OK, format!("{token}\n")).into_response()
}

fn count(shared: &SharedState, action: &str) {
    *lock(shared).calls.entry(action.to_owned()).or_default() += 1;
}

fn now() -> i64 {
    cognitod_proto::Timestamp::now().unix()
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            pair.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_owned)
        })
        .filter(|v| !v.is_empty())
}

fn form(body: &[u8]) -> HashMap<String, String> {
    oauth_pairs(std::str::from_utf8(body).unwrap_or_default()).unwrap_or_default()
}

async fn authorize(
    State(shared): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    count(&shared, "oauth2/authorize");
    let cookie = cookie(&headers);
    let answer = with_pool(&shared, |pool| {
        pool.authorize(
            query.as_deref().unwrap_or_default(),
            cookie.as_deref(),
            now(),
        )
    });
    render(answer)
}

async fn login(
    State(shared): State<SharedState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    count(&shared, "login");
    let form = form(&body);
    let answer = with_pool(&shared, |pool| {
        pool.login(query.as_deref().unwrap_or_default(), &form, now())
    });
    render(answer)
}

async fn idp_page(State(shared): State<SharedState>, RawQuery(query): RawQuery) -> Response {
    let params = oauth_pairs(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let idp_state = params.get("idp_state").cloned().unwrap_or_default();
    if !with_pool(&shared, |pool| pool.idp_trip_open(&idp_state)) {
        return render(LoginAnswer::ErrorPage("TestIdP: unknown state".into()));
    }
    render(LoginAnswer::IdpPage { idp_state })
}

async fn idp_submit(State(shared): State<SharedState>, body: Bytes) -> Response {
    let form = form(&body);
    render(with_pool(&shared, |pool| pool.idp_submit(&form)))
}

async fn idp_response(State(shared): State<SharedState>, RawQuery(query): RawQuery) -> Response {
    count(&shared, "oauth2/idpresponse");
    let answer = with_pool(&shared, |pool| {
        pool.idp_response(query.as_deref().unwrap_or_default(), now())
    });
    render(answer)
}

async fn logout(
    State(shared): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    count(&shared, "logout");
    let cookie = cookie(&headers);
    let answer = with_pool(&shared, |pool| {
        pool.logout(query.as_deref().unwrap_or_default(), cookie.as_deref())
    });
    render(answer)
}

/// The token endpoint: form-encoded requests only, OAuth errors as JSON.
async fn token(State(shared): State<SharedState>, headers: HeaderMap, body: Bytes) -> Response {
    count(&shared, "oauth2/token");
    let Some((form, authorization)) = client_request(&headers, &body) else {
        return oauth_error(400, "invalid_request");
    };
    let answer = with_pool(&shared, |pool| {
        pool.token(&form, authorization.as_deref(), now())
    });
    match answer {
        Ok(tokens) => {
            let mut secrets = Vec::new();
            collect_secrets(
                &json!({"IdToken": tokens["id_token"], "AccessToken": tokens["access_token"],
                        "RefreshToken": tokens["refresh_token"]}),
                &mut secrets,
            );
            lock(&shared).secrets.extend(secrets);
            json_answer(200, &tokens)
        }
        Err(error) => oauth_error(error.status, error.error),
    }
}

async fn revoke(State(shared): State<SharedState>, headers: HeaderMap, body: Bytes) -> Response {
    count(&shared, "oauth2/revoke");
    let Some((form, authorization)) = client_request(&headers, &body) else {
        return oauth_error(400, "invalid_request");
    };
    match with_pool(&shared, |pool| {
        pool.oauth_revoke(&form, authorization.as_deref())
    }) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => oauth_error(error.status, error.error),
    }
}

/// An app's request to the token or revoke endpoint: its form (form-encoded only) and its
/// `Authorization` header.
fn client_request(
    headers: &HeaderMap,
    body: &[u8],
) -> Option<(HashMap<String, String>, Option<String>)> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    is_form.then(|| (form(body), authorization))
}

fn with_pool<T>(shared: &SharedState, f: impl FnOnce(&mut super::PoolState) -> T) -> T {
    f(lock(shared).pool.as_mut().expect("the pool exists"))
}

fn json_answer(status: u16, value: &Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        value.to_string(),
    )
        .into_response()
}

fn oauth_error(status: u16, error: &str) -> Response {
    json_answer(status, &json!({ "error": error }))
}

fn render(answer: LoginAnswer) -> Response {
    match answer {
        LoginAnswer::Redirect {
            location,
            cookie,
            clear_cookie,
        } => {
            let mut response = (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
            let set = match (cookie, clear_cookie) {
                (Some(value), _) => {
                    Some(format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax"))
                }
                (None, true) => Some(format!(
                    "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
                )),
                (None, false) => None,
            };
            if let Some(set) = set.and_then(|s| s.parse().ok()) {
                response.headers_mut().insert(header::SET_COOKIE, set);
            }
            response
        }
        LoginAnswer::LoginPage { authorize, error } => {
            let without_provider: Vec<String> = authorize
                .query
                .split('&')
                .filter(|p| !p.starts_with("identity_provider="))
                .map(str::to_owned)
                .collect();
            let idp_link = format!(
                "/oauth2/authorize?{}&identity_provider=TestIdP",
                without_provider.join("&")
            );
            page(
                StatusCode::OK,
                "Sign in",
                &format!(
                    r#"<h1>Sign in</h1>
<p id="error">{error}</p>
<form method="post" action="/login?{query}">
<label>Username <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="signin" name="action" value="signin" type="submit">Sign in</button>
<button id="cancel" name="action" value="cancel" type="submit">Cancel</button>
</form>
<p><a id="testidp" href="{idp}">Sign in with TestIdP</a></p>"#,
                    error = escape(error.as_deref().unwrap_or_default()),
                    query = escape(&authorize.query),
                    idp = escape(&idp_link),
                ),
            )
        }
        LoginAnswer::IdpPage { idp_state } => page(
            StatusCode::OK,
            "TestIdP",
            &format!(
                r#"<h1>TestIdP</h1>
<form method="post" action="/testidp/authorize">
<input type="hidden" name="idp_state" value="{state}">
<label>User id <input id="idp_user" name="user"></label>
<button id="idp_continue" name="action" value="continue" type="submit">Continue</button>
<button id="idp_deny" name="action" value="deny" type="submit">Deny</button>
</form>"#,
                state = escape(&idp_state),
            ),
        ),
        LoginAnswer::ErrorPage(message) => page(
            StatusCode::BAD_REQUEST,
            "Error",
            &format!(
                "<h1>An error was encountered</h1><p id=\"error\">{}</p>",
                escape(&message)
            ),
        ),
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>{body}</body></html>"),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
