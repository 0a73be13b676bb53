//! Identity pool federation: an external provider's token (Google, Apple, an OIDC issuer, a
//! SAML assertion, another user pool's id token) turned into an identity and AWS credentials,
//! without a user-pool user. As Amplify documents, such a session cannot be refreshed: the
//! credentials are renewed with the same token while it is valid, then the session ends.
//! With `[federation] token_command` the daemon runs the command for a fresh token ahead of
//! expiry instead, single flight with backoff, like a refresh.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use cognitod_proto::{
    EventKind, FederateRequest, FederateResponse, Secret, SessionState, Timestamp, UpstreamHealth,
};
use tokio::io::AsyncReadExt;
use tracing::{info, warn};

use super::credentials::Fetched;
use super::owner::{Owner, upstream_after};
use super::{Reply, SessionError, schedule};
use crate::cognito::UserPool;

/// How long the token command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of the command's output that is read.
const MAX_OUTPUT: u64 = 64 * 1024;
/// A provider token this close to its expiry is not used for a new call.
const TOKEN_MARGIN_MS: i64 = 10_000;

/// The federated identity the session holds.
#[derive(Debug, Clone)]
pub(super) struct Federation {
    /// The identity pool's login key for the provider.
    pub(super) provider: String,
    pub(super) token: Secret,
    /// The token's `exp` and `iat` (seconds), when it is a JWT that states them.
    pub(super) exp: Option<i64>,
    pub(super) iat: Option<i64>,
    /// `sessionExpired` was sent for this token.
    pub(super) expiry_reported: bool,
}

impl Federation {
    pub(super) fn new(provider: String, token: Secret) -> Self {
        let (exp, iat) = jwt_times(token.expose());
        Self {
            provider,
            token,
            exp,
            iat,
            expiry_reported: false,
        }
    }

    /// When the token expires (local ms), if it says.
    pub(super) fn expires_ms(&self) -> Option<i64> {
        self.exp.map(|exp| exp * 1000)
    }

    /// Whether the token is too close to its expiry to be used at `now_ms`.
    pub(super) fn lapsed(&self, now_ms: i64) -> bool {
        self.expires_ms()
            .is_some_and(|at| now_ms + TOKEN_MARGIN_MS >= at)
    }

    /// When a fresh token should be fetched (local ms): ahead of expiry as tokens are
    /// refreshed; never for a token that does not say when it expires.
    fn renew_at_ms(&self) -> Option<i64> {
        let exp = self.exp?;
        let iat = self.iat.unwrap_or(exp - 300).min(exp);
        Some(schedule::refresh_at_ms(
            iat,
            exp,
            0,
            schedule::random_unit(),
        ))
    }

    pub(super) fn logins(&self) -> BTreeMap<String, Secret> {
        BTreeMap::from([(self.provider.clone(), self.token.clone())])
    }
}

/// `exp` and `iat` of a JWT's payload, unverified (the identity pool verifies the token; the
/// daemon only schedules by it).
fn jwt_times(token: &str) -> (Option<i64>, Option<i64>) {
    let payload = token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    match payload {
        Some(claims) => (claims["exp"].as_i64(), claims["iat"].as_i64()),
        None => (None, None),
    }
}

/// What comes back to the owner from federation tasks.
#[derive(Debug)]
pub(super) enum FederationEvent {
    /// A `POST /v1/federate` was answered by the identity pool.
    Federated(Box<FederateDone>),
    /// The token command ran for a renewal.
    Renewed(Result<Secret, String>),
}

#[derive(Debug)]
pub(super) struct FederateDone {
    generation: u64,
    provider: String,
    token: Option<Secret>,
    result: Result<Box<Fetched>, SessionError>,
    upstream: Option<UpstreamHealth>,
    reply: Reply<FederateResponse>,
}

impl<P: UserPool> Owner<P> {
    /// `POST /v1/federate`: the provider's token (given, or from the token command) for an
    /// identity and credentials. A federated identity may be replaced; a user must sign out.
    pub(super) fn federate(&mut self, request: FederateRequest, reply: Reply<FederateResponse>) {
        if let Some(current) = self.current() {
            let _ = reply.send(Err(SessionError::AlreadySignedIn(current.username.clone())));
            return;
        }
        if self.config.identity.is_none() {
            let _ = reply.send(Err(SessionError::NoIdentityPool));
            return;
        }
        let configured = self.config.federation.clone();
        let provider = request
            .provider
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .or_else(|| configured.as_ref().map(|f| f.provider.clone()));
        let Some(provider) = provider else {
            let _ = reply.send(Err(SessionError::BadAnswer(
                "name the provider (cognitoctl federate --provider NAME, or [federation] provider)"
                    .into(),
            )));
            return;
        };
        let token = request.token.filter(|t| !t.expose().trim().is_empty());
        let command = configured
            .filter(|f| f.provider == provider)
            .and_then(|f| f.token_command);
        if token.is_none() && command.is_none() {
            let _ = reply.send(Err(SessionError::BadAnswer(format!(
                "no token for {provider}: give one (on stdin or with --token-file), or configure [federation] token_command for it"
            ))));
            return;
        }
        self.set_pending(None);
        self.redirect = None;
        self.answering = false;
        let generation = self.next_auth_generation();
        let pool = Arc::clone(&self.pool);
        let done = self.federation_done.clone();
        info!(%provider, from_command = token.is_none(), "federation requested");
        tokio::spawn(async move {
            let (token, result, upstream) = match token {
                Some(token) => (Some(token), Ok(()), None),
                None => match run_token_command(command.as_deref().unwrap_or_default()).await {
                    Ok(token) => (Some(token), Ok(()), None),
                    Err(why) => (
                        None,
                        Err(SessionError::Refused {
                            kind: "TokenCommandFailed".into(),
                            message: why,
                        }),
                        None,
                    ),
                },
            };
            let (result, upstream) = match (result, &token) {
                (Ok(()), Some(token)) => {
                    let federation = Federation::new(provider.clone(), token.clone());
                    let fetched =
                        super::credentials::fetch_identity(&*pool, federation.logins()).await;
                    let upstream = Some(upstream_after(fetched.as_ref().err()));
                    (fetched.map(Box::new).map_err(SessionError::from), upstream)
                }
                (Err(error), _) => (Err(error), upstream),
                (Ok(()), None) => (Err(SessionError::Internal("no token".into())), upstream),
            };
            let _ = done.send(FederationEvent::Federated(Box::new(FederateDone {
                generation,
                provider,
                token,
                result,
                upstream,
                reply,
            })));
        });
    }

    pub(super) fn finish_federation_event(&mut self, event: FederationEvent) {
        match event {
            FederationEvent::Federated(done) => self.finish_federate(*done),
            FederationEvent::Renewed(result) => self.finish_renewal(result),
        }
    }

    fn finish_federate(&mut self, done: FederateDone) {
        if let Some(health) = done.upstream {
            self.set_upstream(health);
        }
        if done.generation != self.auth_generation {
            let _ = done.reply.send(Err(SessionError::BadAnswer(
                "a newer sign-in replaced this one".to_owned(),
            )));
            return;
        }
        if let Some(current) = self.current() {
            let _ = done
                .reply
                .send(Err(SessionError::AlreadySignedIn(current.username.clone())));
            return;
        }
        let (fetched, token) = match (done.result, done.token) {
            (Ok(fetched), Some(token)) => (fetched, token),
            (Err(error), _) => {
                info!(provider = %done.provider, %error, "federation refused");
                let _ = done.reply.send(Err(error));
                return;
            }
            (Ok(_), None) => {
                let _ = done
                    .reply
                    .send(Err(SessionError::Internal("no token".into())));
                return;
            }
        };
        // A federated identity replaces another: its credentials and identity go with it.
        if self.federation.is_some() {
            self.drop_user_credentials();
        }
        self.federation_lapsed = None;
        let federation = Federation::new(done.provider.clone(), token);
        info!(
            provider = %federation.provider,
            identity_id = %fetched.identity_id,
            token_expires_at = ?federation.exp.map(Timestamp::from_unix),
            "federated"
        );
        self.federation = Some(federation);
        self.schedule_renewal();
        self.retry_at_ms = None;
        self.publish_federation();
        self.emit(EventKind::SignedIn {
            username: done.provider.clone(),
            federated_provider: Some(done.provider.clone()),
        });
        self.finish_credentials(Ok(fetched));
        let aws = self.publish.borrow().aws.clone();
        let answer = match aws {
            Some(aws) => Ok(FederateResponse {
                is_signed_in: true,
                federated_provider: done.provider,
                identity_id: aws.identity_id.clone(),
                credentials: super::credentials::view(&aws),
            }),
            None => Err(SessionError::Internal(
                "the credentials were not kept".into(),
            )),
        };
        let _ = done.reply.send(answer);
    }

    /// A federated session restored at start: its renewal scheduled (at once when the token
    /// lapsed meanwhile), its credentials fetched.
    pub(super) fn restart_federation(&mut self) {
        self.schedule_renewal();
        let now = self.clock.now_ms();
        if self.federation.as_ref().is_some_and(|f| f.lapsed(now)) && self.command().is_some() {
            self.fed_renew_at_ms = Some(now);
        }
        self.start_credentials();
    }

    /// Publishes the federated state (or its end).
    pub(super) fn publish_federation(&self) {
        let view = self.federation.as_ref().map(|f| {
            Arc::new(super::FederatedView {
                provider: f.provider.clone(),
                token_expires_at: f.exp.map(Timestamp::from_unix),
            })
        });
        let pending = self.pending.is_some();
        let signed_in = self.current().is_some();
        self.publish.send_modify(|snapshot| {
            snapshot.state = match (&view, pending, signed_in) {
                (_, _, true) => SessionState::SignedIn,
                (Some(_), _, _) => SessionState::Federated,
                (None, true, _) => SessionState::SigningIn,
                (None, false, _) => SessionState::SignedOut,
            };
            snapshot.federated = view;
            snapshot.next_refresh_at = None;
        });
    }

    fn command(&self) -> Option<Vec<String>> {
        let federation = self.federation.as_ref()?;
        self.config
            .federation
            .as_ref()
            .filter(|f| f.provider == federation.provider)
            .and_then(|f| f.token_command.clone())
    }

    fn schedule_renewal(&mut self) {
        self.fed_retry_at_ms = None;
        self.fed_failures = 0;
        self.fed_renew_at_ms = match (&self.federation, self.command()) {
            (Some(federation), Some(_)) => federation.renew_at_ms(),
            _ => None,
        };
        let next = self
            .fed_renew_at_ms
            .map(|ms| Timestamp::from_unix(ms.div_euclid(1000)));
        self.publish.send_modify(|s| s.next_refresh_at = next);
    }

    /// When the federation needs the timer next (local ms).
    pub(super) fn federation_due_ms(&self) -> Option<i64> {
        let federation = self.federation.as_ref()?;
        if self.fed_renewal.is_some() {
            return None;
        }
        if self.command().is_some() {
            let renew = self.fed_retry_at_ms.or(self.fed_renew_at_ms);
            let expiry = federation
                .expires_ms()
                .filter(|_| !federation.expiry_reported);
            return [renew, expiry].into_iter().flatten().min();
        }
        federation.expires_ms()
    }

    /// Renews the token when due; without a command, ends the session when the token lapses.
    pub(super) fn federation_timer(&mut self) {
        let Some(due) = self.federation_due_ms() else {
            return;
        };
        let now = self.clock.now_ms();
        if now < due {
            return;
        }
        if self.command().is_none() {
            if self.federation.as_ref().is_some_and(|f| f.lapsed(now)) {
                self.end_federation_lapsed();
            }
            return;
        }
        if let Some(federation) = self.federation.as_mut()
            && federation.lapsed(now)
            && !federation.expiry_reported
        {
            federation.expiry_reported = true;
            warn!(provider = %federation.provider, "the provider token expired before token_command gave a new one");
            self.emit(EventKind::SessionExpired {});
        }
        let renew_due = self.fed_retry_at_ms.or(self.fed_renew_at_ms);
        if renew_due.is_some_and(|at| now >= at) {
            self.start_renewal();
        }
    }

    /// The token can no longer be used: with a command a new one is fetched (and the
    /// credentials after it); without, the session ends. False when it ended.
    pub(super) fn federation_token_lapsed(&mut self) -> bool {
        if self.command().is_some() {
            self.start_renewal();
            true
        } else {
            self.end_federation_lapsed();
            false
        }
    }

    /// Runs the token command, unless it runs already.
    fn start_renewal(&mut self) {
        if self.fed_renewal.is_some() {
            return;
        }
        let Some(command) = self.command() else {
            return;
        };
        let done = self.federation_done.clone();
        self.fed_renewal = Some(tokio::spawn(async move {
            let result = run_token_command(&command).await;
            let _ = done.send(FederationEvent::Renewed(result));
        }));
    }

    fn finish_renewal(&mut self, result: Result<Secret, String>) {
        self.fed_renewal = None;
        let Some(federation) = self.federation.as_ref() else {
            return;
        };
        let now = self.clock.now_ms();
        match result {
            Ok(token) => {
                let renewed = Federation::new(federation.provider.clone(), token);
                info!(
                    provider = %renewed.provider,
                    token_expires_at = ?renewed.exp.map(Timestamp::from_unix),
                    "token_command gave a new provider token"
                );
                let expires_at = renewed
                    .exp
                    .map(Timestamp::from_unix)
                    .unwrap_or_else(Timestamp::now);
                self.federation = Some(renewed);
                self.schedule_renewal();
                self.publish_federation();
                self.emit(EventKind::TokenRefresh { expires_at });
                self.persist_current();
                // Credentials that are missing, or waited for, come with the new token.
                let aws = self.publish.borrow().aws.clone();
                if aws.is_none_or(|aws| aws.is_expired(now) || now >= aws.refresh_due_ms)
                    || !self.creds_waiters.is_empty()
                {
                    self.start_credentials();
                }
            }
            Err(why) => {
                self.fed_failures += 1;
                let wait = schedule::backoff(self.fed_failures, schedule::random_unit());
                self.fed_retry_at_ms =
                    Some(now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
                warn!(error = %why, failures = self.fed_failures, "token_command failed; trying again later");
                self.emit(EventKind::TokenRefreshFailure { error: why.clone() });
                if federation.lapsed(now) {
                    for waiter in self.creds_waiters.drain(..) {
                        let _ = waiter.send(Err(SessionError::Retrying(format!(
                            "the provider token expired and token_command failed: {why}"
                        ))));
                    }
                }
            }
        }
    }

    /// The token lapsed and nothing renews it: `sessionExpired`, then signed out.
    pub(super) fn end_federation_lapsed(&mut self) {
        let Some(federation) = self.federation.as_ref() else {
            return;
        };
        let provider = federation.provider.clone();
        warn!(%provider, "the provider token expired; the federated session ends");
        self.emit(EventKind::SessionExpired {});
        self.federation_lapsed = Some(provider.clone());
        self.end_session(Some(format!(
            "the {provider} token expired (a federated session is not refreshed)"
        )));
    }
}

/// Runs `[federation] token_command` (no shell, 30 s, stdin closed): its stdout is the token.
/// A failure says why in one line, with the first line of what it wrote to stderr (never its
/// stdout, the token).
pub(super) async fn run_token_command(argv: &[String]) -> Result<Secret, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("token_command is empty".into());
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run token_command {program}: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let run = async {
        let mut out = zeroize::Zeroizing::new(Vec::new());
        let mut err = Vec::new();
        let mut out_reader = (&mut stdout).take(MAX_OUTPUT);
        let mut err_reader = (&mut stderr).take(MAX_OUTPUT);
        let (read_out, read_err) = tokio::join!(
            out_reader.read_to_end(&mut out),
            err_reader.read_to_end(&mut err),
        );
        read_out.map_err(|e| format!("cannot read token_command's output: {e}"))?;
        let _ = read_err;
        let status = child
            .wait()
            .await
            .map_err(|e| format!("token_command {program}: {e}"))?;
        Ok::<_, String>((status, out, err))
    };
    let (status, out, err) = tokio::time::timeout(COMMAND_TIMEOUT, run)
        .await
        .map_err(|_| format!("token_command {program} did not finish within 30 s"))??;
    let token = String::from_utf8_lossy(&out).trim().to_owned();
    let said = String::from_utf8_lossy(&err)
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(|line| line.chars().take(200).collect::<String>())
        .filter(|line| token.is_empty() || !line.contains(&token))
        .unwrap_or_default();
    if !said.is_empty() {
        info!(program = %program, stderr = %said, "token_command said");
    }
    if !status.success() {
        return Err(format!(
            "token_command {program} failed ({status}){}",
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ));
    }
    if token.is_empty() {
        return Err(format!("token_command {program} printed no token"));
    }
    Ok(Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwt_says_when_it_expires_and_anything_else_does_not() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"iss":"https://issuer","exp":2000,"iat":1400}"#);
        let federation = Federation::new("issuer".into(), Secret::new(format!("h.{payload}.s")));
        assert_eq!((federation.exp, federation.iat), (Some(2000), Some(1400)));
        assert!(!federation.lapsed(1_000_000));
        assert!(federation.lapsed(1_995_000));
        let renew = federation.renew_at_ms().unwrap();
        assert!((1_400_000..2_000_000).contains(&renew), "{renew}");
        let opaque = Federation::new("graph.facebook.com".into(), Secret::new("EAAB-opaque"));
        assert_eq!((opaque.exp, opaque.renew_at_ms()), (None, None));
        assert!(!opaque.lapsed(i64::MAX / 2));
    }

    #[tokio::test]
    async fn the_token_command_is_run_without_a_shell_and_its_failures_say_why() {
        let printf = |text: &str| vec!["printf".to_owned(), text.to_owned()];
        let token = run_token_command(&printf("tok-123\n")).await.unwrap();
        assert_eq!(token.expose(), "tok-123");
        let empty = run_token_command(&printf("")).await.unwrap_err();
        assert!(empty.contains("printed no token"), "{empty}");
        let failing = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            "echo secret-token; echo 'the IdP said no' >&2; exit 3".to_owned(),
        ];
        let error = run_token_command(&failing).await.unwrap_err();
        assert!(error.contains("the IdP said no"), "{error}");
        assert!(!error.contains("secret-token"), "{error}");
        let missing = run_token_command(&["/nonexistent/print-token".to_owned()])
            .await
            .unwrap_err();
        assert!(missing.contains("cannot run token_command"), "{missing}");
        // `$(...)` is not a shell's here: it is printed as it is.
        let literal = run_token_command(&printf("$(id)")).await.unwrap();
        assert_eq!(literal.expose(), "$(id)");
    }
}
