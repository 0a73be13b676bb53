//! JWT verification as aws-jwt-verify does it: the key by `kid` from the pool's JWKS
//! (refetched on an unknown `kid` at most every 10 s), RS256 only, the signature, `exp`, `iss`,
//! `token_use`, and the app client (`aud` in id tokens, `client_id` in access tokens).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cognitod_proto::Secret;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::CognitoError;
use super::http::unreachable_reason;

/// The shortest time between two JWKS fetches caused by unknown key ids.
const REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Tolerated clock difference for `exp`.
const LEEWAY_SECONDS: u64 = 5;
/// How far this machine's clock may be from Cognito's for a token's `iat` to stand in for
/// Cognito's clock when `exp` is checked. Within it, a token whose `exp` lies behind this
/// machine's clock is taken as fresh (its `iat` says Cognito just made it); how long it is
/// then served is judged with the drift measured at its arrival.
const MAX_CLOCK_SKEW_SECONDS: i64 = 12 * 3600;
/// The longest a Cognito token lives (id and access tokens: 5 min to 1 day).
const MAX_TOKEN_LIFE_SECONDS: i64 = 24 * 3600;

/// Which token a JWT must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    Id,
    Access,
}

impl TokenUse {
    fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Access => "access",
        }
    }
}

/// The claims cognitod reads from Cognito's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub iss: Option<String>,
    pub exp: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    pub token_use: String,
    /// Access tokens: the app client.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Id tokens: the canonical username.
    #[serde(rename = "cognito:username", default)]
    pub cognito_username: Option<String>,
    /// Access tokens: the canonical username.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Id tokens from the managed login: the `nonce` of the authorize request.
    #[serde(default)]
    pub nonce: Option<String>,
    /// Id tokens of federated users: the external identities linked to the user.
    #[serde(default)]
    pub identities: Option<Vec<LinkedIdentity>>,
}

/// One entry of an id token's `identities` claim.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LinkedIdentity {
    #[serde(rename = "providerName")]
    pub provider_name: String,
}

/// A pure check of one token against a key set; no I/O.
#[derive(Debug, Clone)]
pub struct Rules {
    pub issuer: String,
    pub client_id: String,
}

/// Why a token was refused, or that its key is not in the set.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    UnknownKey(String),
    Invalid(String),
}

impl Rules {
    pub fn check(&self, keys: &JwkSet, token: &str, expected: TokenUse) -> Result<Claims, Refusal> {
        let invalid =
            |what: String| Refusal::Invalid(format!("{} token {what}", expected.as_str()));
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| invalid(format!("is not a JWT ({e})")))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid(format!("uses {:?}, not RS256", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| invalid("has no kid".to_owned()))?;
        let jwk = keys
            .find(&kid)
            .ok_or_else(|| Refusal::UnknownKey(kid.clone()))?;
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| invalid(format!("key {kid:?} is unusable ({e})")))?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECONDS;
        // `exp` is checked below against Cognito's clock, not this machine's.
        validation.validate_exp = false;
        validation.set_issuer(&[&self.issuer]);
        match expected {
            TokenUse::Id => {
                validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
                validation.set_audience(&[&self.client_id]);
            }
            TokenUse::Access => {
                validation.set_required_spec_claims(&["exp", "iss", "sub"]);
                validation.validate_aud = false;
            }
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| invalid(format!("failed verification ({e})")))?
            .claims;
        if claims.token_use != expected.as_str() {
            return Err(invalid(format!("has token_use {:?}", claims.token_use)));
        }
        // Cognito's tokens live at most a day, and end after they begin.
        if let Some(iat) = claims.iat
            && (claims.exp <= iat || claims.exp - iat > MAX_TOKEN_LIFE_SECONDS)
        {
            return Err(invalid("has an impossible lifetime".to_owned()));
        }
        if claims.exp + LEEWAY_SECONDS as i64 <= cognito_now(claims.iat, now_seconds()) {
            return Err(invalid("has expired".to_owned()));
        }
        if expected == TokenUse::Access && claims.client_id.as_deref() != Some(&self.client_id) {
            return Err(invalid("was issued to another app client".to_owned()));
        }
        Ok(claims)
    }
}

/// Cognito's clock when it issued a token, as well as this machine can tell: the token's
/// `iat` when it is within [`MAX_CLOCK_SKEW_SECONDS`] of `local` (a machine whose clock is off
/// by hours still accepts fresh tokens; how long they are served is judged with the measured
/// drift), else the local clock.
fn cognito_now(iat: Option<i64>, local: i64) -> i64 {
    match iat {
        Some(iat) if (iat - local).abs() <= MAX_CLOCK_SKEW_SECONDS => iat,
        _ => local,
    }
}

fn now_seconds() -> i64 {
    cognitod_proto::Timestamp::now().unix()
}

/// The claims of a token this daemon verified when it arrived and kept in its private state
/// file; reading them back needs no network.
pub fn stored_claims(token: &Secret) -> Result<Claims, CognitoError> {
    jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(token.expose())
        .map_err(|e| CognitoError::InvalidToken(format!("stored token does not parse ({e})")))
}

/// Verifies tokens against the pool's JWKS, fetched over HTTP and cached. No lock is held
/// while fetching.
#[derive(Debug)]
pub struct Verifier {
    http: reqwest::Client,
    /// Where the keys come from and what tokens must say; a reload may change both.
    source: Mutex<(String, Rules)>,
    cache: Mutex<KeyCache>,
}

#[derive(Debug, Default)]
struct KeyCache {
    keys: Option<Arc<JwkSet>>,
    fetched_at: Option<Instant>,
}

impl Verifier {
    pub fn new(http: reqwest::Client, jwks_url: String, rules: Rules) -> Self {
        Self {
            http,
            source: Mutex::new((jwks_url, rules)),
            cache: Mutex::new(KeyCache::default()),
        }
    }

    /// Verifies against another JWKS and rules from now on (a reload); cached keys are dropped.
    pub fn retarget(&self, jwks_url: String, rules: Rules) {
        *self.source.lock().unwrap_or_else(PoisonError::into_inner) = (jwks_url, rules);
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = KeyCache::default();
    }

    fn source(&self) -> (String, Rules) {
        self.source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A verifier with its keys already loaded, for tests without a network.
    #[cfg(test)]
    pub(crate) fn with_keys(keys: JwkSet, rules: Rules) -> Self {
        Self::preloaded(reqwest::Client::new(), keys, rules)
    }

    /// A verifier with its keys already loaded (for tests and fuzzing), on a given HTTP client
    /// (building one costs milliseconds).
    pub(crate) fn preloaded(http: reqwest::Client, keys: JwkSet, rules: Rules) -> Self {
        let verifier = Self::new(http, "http://127.0.0.1:9/".into(), rules);
        verifier
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys = Some(Arc::new(keys));
        verifier
    }

    /// Verifies `token` as the `expected` kind and returns its claims.
    pub async fn verify(&self, token: &Secret, expected: TokenUse) -> Result<Claims, CognitoError> {
        let (jwks_url, rules) = self.source();
        let (cached, fetched_recently) = {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            let recently = cache
                .fetched_at
                .is_some_and(|at| at.elapsed() < REFETCH_INTERVAL);
            (cache.keys.clone(), recently)
        };
        if let Some(keys) = cached {
            match rules.check(&keys, token.expose(), expected) {
                Ok(claims) => return Ok(claims),
                Err(Refusal::Invalid(why)) => return Err(CognitoError::InvalidToken(why)),
                Err(Refusal::UnknownKey(kid)) if fetched_recently => {
                    return Err(CognitoError::InvalidToken(format!(
                        "{} token is signed by unknown key {kid:?}",
                        expected.as_str()
                    )));
                }
                Err(Refusal::UnknownKey(_)) => {}
            }
        }
        let keys = Arc::new(self.fetch(&jwks_url).await?);
        {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            cache.keys = Some(Arc::clone(&keys));
            cache.fetched_at = Some(Instant::now());
        }
        rules
            .check(&keys, token.expose(), expected)
            .map_err(|refusal| match refusal {
                Refusal::Invalid(why) => CognitoError::InvalidToken(why),
                Refusal::UnknownKey(kid) => CognitoError::InvalidToken(format!(
                    "{} token is signed by key {kid:?}, which the pool's JWKS does not have",
                    expected.as_str()
                )),
            })
    }

    async fn fetch(&self, jwks_url: &str) -> Result<JwkSet, CognitoError> {
        let unreachable = |e: reqwest::Error| CognitoError::Unreachable {
            endpoint: jwks_url.to_owned(),
            reason: unreachable_reason(&e),
        };
        let response = self.http.get(jwks_url).send().await.map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            return Err(if status.is_server_error() {
                CognitoError::Unreachable {
                    endpoint: jwks_url.to_owned(),
                    reason: format!("HTTP {status}"),
                }
            } else {
                CognitoError::Protocol(format!("JWKS at {} answered HTTP {status}", jwks_url))
            });
        }
        // The same cap as every other answer: a JWKS is a few KiB.
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > super::http::MAX_RESPONSE_BYTES {
                return Err(CognitoError::Protocol(format!(
                    "JWKS at {jwks_url} is larger than {} bytes",
                    super::http::MAX_RESPONSE_BYTES
                )));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| {
            CognitoError::Protocol(format!("JWKS at {} does not parse: {e}", jwks_url))
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    use super::*;

    pub(crate) const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test";
    pub(crate) const CLIENT: &str = "client-1";

    fn key(n: u8) -> EncodingKey {
        let pem: &[u8] = match n {
            1 => include_bytes!("../../testdata/jwt-key-1.pem"),
            _ => include_bytes!("../../testdata/jwt-key-2.pem"),
        };
        EncodingKey::from_rsa_pem(pem).unwrap()
    }

    pub(crate) fn jwks() -> JwkSet {
        let keys = [(1, "kid-1"), (2, "kid-2")]
            .into_iter()
            .map(|(n, kid)| {
                let mut jwk = Jwk::from_encoding_key(&key(n), Algorithm::RS256).unwrap();
                jwk.common.key_id = Some(kid.to_owned());
                jwk
            })
            .collect();
        JwkSet { keys }
    }

    pub(crate) fn sign(kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let n = if kid == "kid-1" { 1 } else { 2 };
        jsonwebtoken::encode(&header, claims, &key(n)).unwrap()
    }

    fn now() -> i64 {
        cognitod_proto::Timestamp::now().unix()
    }

    pub(crate) fn id_claims() -> Value {
        json!({"sub": "sub-1", "iss": ISSUER, "aud": CLIENT, "token_use": "id",
               "cognito:username": "alice", "iat": now(), "exp": now() + 3600})
    }

    pub(crate) fn access_claims() -> Value {
        json!({"sub": "sub-1", "iss": ISSUER, "client_id": CLIENT, "token_use": "access",
               "username": "alice", "iat": now(), "exp": now() + 3600})
    }

    fn rules() -> Rules {
        Rules {
            issuer: ISSUER.into(),
            client_id: CLIENT.into(),
        }
    }

    fn refused(token: &str, expected: TokenUse) -> String {
        match rules().check(&jwks(), token, expected) {
            Err(Refusal::Invalid(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn valid_tokens_pass_with_either_key() {
        let claims = rules()
            .check(&jwks(), &sign("kid-1", &id_claims()), TokenUse::Id)
            .unwrap();
        assert_eq!(claims.cognito_username.as_deref(), Some("alice"));
        let claims = rules()
            .check(&jwks(), &sign("kid-2", &access_claims()), TokenUse::Access)
            .unwrap();
        assert_eq!(claims.client_id.as_deref(), Some(CLIENT));
    }

    #[test]
    fn wrong_claims_are_refused() {
        let with = |base: Value, key: &str, value: Value| {
            let mut claims = base;
            claims[key] = value;
            claims
        };
        let cases = [
            (
                with(id_claims(), "iss", json!("https://evil")),
                TokenUse::Id,
                "InvalidIssuer",
            ),
            (
                with(id_claims(), "aud", json!("other")),
                TokenUse::Id,
                "InvalidAudience",
            ),
            (
                with(
                    with(id_claims(), "iat", json!(now() - 86_400)),
                    "exp",
                    json!(now() - 82_800),
                ),
                TokenUse::Id,
                "has expired",
            ),
            (
                with(id_claims(), "exp", json!(now() - 60)),
                TokenUse::Id,
                "impossible lifetime",
            ),
            (
                with(id_claims(), "token_use", json!("access")),
                TokenUse::Id,
                "token_use",
            ),
            (access_claims(), TokenUse::Id, "aud"),
            (
                with(access_claims(), "client_id", json!("other")),
                TokenUse::Access,
                "another app client",
            ),
            (id_claims(), TokenUse::Access, "token_use"),
        ];
        for (claims, expected, why) in cases {
            let reason = refused(&sign("kid-1", &claims), expected);
            assert!(reason.contains(why), "{claims} as {expected:?}: {reason}");
        }
    }

    #[test]
    fn a_token_signed_by_another_key_under_a_known_kid_is_refused() {
        let forged = {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("kid-1".into());
            jsonwebtoken::encode(&header, &id_claims(), &key(2)).unwrap()
        };
        assert!(refused(&forged, TokenUse::Id).contains("InvalidSignature"));
    }

    #[test]
    fn other_algorithms_and_unknown_keys_are_refused() {
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &id_claims(),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert!(refused(&hs, TokenUse::Id).contains("HS256"));
        assert!(refused("not.a.jwt", TokenUse::Id).contains("not a JWT"));
        assert_eq!(
            rules().check(&jwks(), &sign("kid-3", &id_claims()), TokenUse::Id),
            Err(Refusal::UnknownKey("kid-3".into()))
        );
    }

    #[test]
    fn expiry_is_judged_by_cognitos_clock_within_a_day() {
        let local = 1_000_000;
        assert_eq!(cognito_now(Some(local - 7200), local), local - 7200);
        assert_eq!(cognito_now(Some(local + 7200), local), local + 7200);
        assert_eq!(cognito_now(Some(local - 3 * 86_400), local), local);
        // A lifetime no Cognito token has is refused whatever the clocks say.
        let mut odd = id_claims();
        odd["iat"] = json!(now());
        odd["exp"] = json!(now() + 3 * 86_400);
        assert!(
            rules()
                .check(&jwks(), &sign("kid-1", &odd), TokenUse::Id)
                .is_err()
        );
        assert_eq!(cognito_now(None, local), local);
        // This machine two hours ahead: a fresh token (by Cognito's clock) is accepted.
        let mut claims = id_claims();
        claims["iat"] = json!(now() - 7200);
        claims["exp"] = json!(now() - 3600);
        assert!(
            rules()
                .check(&jwks(), &sign("kid-1", &claims), TokenUse::Id)
                .is_ok()
        );
    }
}
