//! The `[federation]` section: an external identity provider whose tokens the identity pool
//! takes, and the command that prints a fresh one.

use serde::Deserialize;

use super::{ConfigError, invalid};

/// Identity pool federation settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationConfig {
    /// The identity pool's login key for the provider (`accounts.google.com`, an OIDC issuer's
    /// host, a SAML provider's ARN, `cognito-idp.<region>.amazonaws.com/<pool id>`).
    pub provider: String,
    /// Prints a fresh provider token on stdout: run without a shell, as the daemon's user.
    pub token_command: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FederationSection {
    provider: Option<String>,
    token_command: Option<Vec<String>>,
}

pub(super) fn resolve(
    section: Option<FederationSection>,
    identity_pool: bool,
) -> Result<Option<FederationConfig>, ConfigError> {
    let Some(section) = section else {
        return Ok(None);
    };
    let provider = section
        .provider
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            invalid(
                "federation.provider",
                "is required (the identity pool's name for the provider, e.g. \"accounts.google.com\")",
            )
        })?;
    if provider.chars().any(char::is_whitespace) || provider.len() > 128 {
        return Err(invalid(
            "federation.provider",
            format!("{provider:?} is not a provider name"),
        ));
    }
    if let Some(command) = &section.token_command
        && command
            .first()
            .is_none_or(|program| program.trim().is_empty())
    {
        return Err(invalid(
            "federation.token_command",
            "must name a program: [\"/usr/local/bin/print-token\", \"--audience\", \"cognito\"]",
        ));
    }
    if !identity_pool {
        return Err(invalid(
            "federation",
            "needs identity_pool_id: a federated identity is an identity pool's",
        ));
    }
    Ok(Some(FederationConfig {
        provider,
        token_command: section.token_command,
    }))
}

impl FederationConfig {
    /// The section as TOML, for `--check-config`.
    pub(super) fn to_toml(&self) -> toml::Table {
        let mut table = toml::Table::new();
        table.insert("provider".into(), self.provider.clone().into());
        if let Some(command) = &self.token_command {
            table.insert(
                "token_command".into(),
                toml::Value::Array(command.iter().cloned().map(toml::Value::String).collect()),
            );
        }
        table
    }
}
