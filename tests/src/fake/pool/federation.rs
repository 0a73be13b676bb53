//! An external OIDC provider beside the pool ("TestOIDC"): it issues tokens for any subject,
//! and the identity pool accepts them under the provider name `PoolOptions::oidc_provider`,
//! as a real identity pool accepts an OIDC issuer's tokens: signature, issuer and expiry
//! checked ("Invalid login token. Token expired" after).

use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

use super::{CognitoFault, PoolState, not_authorized};

/// The audience of TestOIDC's tokens.
const AUDIENCE: &str = "cognitod-tests";

impl PoolState {
    /// A token of the external provider for `subject`, valid `seconds` from `now`.
    pub fn oidc_token(&mut self, subject: &str, now: i64, seconds: i64) -> String {
        let provider = self
            .options
            .oidc_provider
            .clone()
            .expect("PoolOptions::oidc_provider is set");
        let claims = json!({
            "iss": format!("https://{provider}"), "aud": AUDIENCE, "sub": subject,
            "iat": now, "exp": now + seconds,
        });
        let (kid, key) = &self.keys[0];
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &claims, key).expect("signing works")
    }

    /// The identity owner a TestOIDC token proves (`<provider>:<sub>`).
    pub(super) fn external_login(&self, token: &str, now: i64) -> Result<String, CognitoFault> {
        let provider = self.options.oidc_provider.clone().unwrap_or_default();
        let invalid =
            || not_authorized("Invalid login token. Not a valid OpenId Connect identity token.");
        let key = self.decoding_key(token).ok_or_else(invalid)?;
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[format!("https://{provider}")]);
        let claims: Value = jsonwebtoken::decode(token, &key, &validation)
            .map_err(|_| invalid())?
            .claims;
        let exp = claims["exp"].as_i64().unwrap_or(0);
        if exp <= now {
            return Err(not_authorized(&format!(
                "Invalid login token. Token expired: {exp} >= {now}"
            )));
        }
        let sub = claims["sub"].as_str().ok_or_else(invalid)?;
        Ok(format!("{provider}:{sub}"))
    }
}
