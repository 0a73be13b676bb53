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
        // Seconds since 1970 up to the year 9999; anything else is not a time to plan by.
        let sane = |t: i64| (0..253_402_300_800).contains(&t);
        let (exp, iat) = jwt_times(token.expose());
        let (exp, iat) = (exp.filter(|&t| sane(t)), iat.filter(|&t| sane(t)));
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
    /// The token command ran for a renewal (of the federation `generation` names).
    Renewed {
        generation: u64,
        result: Result<Secret, String>,
    },
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
        if token.is_none()
            && let Some(renewal) = self.fed_renewal.take()
        {
            // One command at a time: this run replaces the renewal's.
            renewal.abort();
            self.fed_generation += 1;
        }
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
            FederationEvent::Renewed { generation, result } => {
                self.finish_renewal(generation, result);
            }
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
        // A federated identity replaces another: its renewal, credentials and identity go
        // with it.
        if self.federation.is_some() {
            if let Some(renewal) = self.fed_renewal.take() {
                renewal.abort();
            }
            self.drop_user_credentials();
        }
        self.fed_generation += 1;
        self.federation_lapsed = None;
        let federation = Federation::new(done.provider.clone(), token);
        info!(
            provider = %federation.provider,
            identity_id = %fetched.identity_id,
            token_expires_at = ?federation.exp.map(Timestamp::from_unix),
            "federated"
        );
        self.federation = Some(federation);
        self.retry_at_ms = None;
        self.publish_federation();
        self.schedule_renewal();
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
        });
    }

    /// Whether `[federation] token_command` renews `provider`'s tokens.
    pub(super) fn renewable(&self, provider: &str) -> bool {
        self.config
            .federation
            .as_ref()
            .is_some_and(|f| f.provider == provider && f.token_command.is_some())
    }

    /// Whether the current federation has a token command.
    pub(super) fn renewable_now(&self) -> bool {
        self.command().is_some()
    }

    fn command(&self) -> Option<Vec<String>> {
        let federation = self.federation.as_ref()?;
        self.config
            .federation
            .as_ref()
            .filter(|f| f.provider == federation.provider)
            .and_then(|f| f.token_command.clone())
    }

    /// Schedules the next run of the token command for the current token (none without a
    /// command, or for a token that does not say when it expires).
    fn schedule_renewal(&mut self) {
        self.fed_retry_at_ms = None;
        self.fed_renew_at_ms = match (&self.federation, self.command()) {
            (Some(federation), Some(_)) => federation.renew_at_ms(),
            _ => None,
        };
        self.publish_next_renewal();
    }

    fn publish_next_renewal(&self) {
        let next = self
            .fed_retry_at_ms
            .or(self.fed_renew_at_ms)
            .map(|ms| Timestamp::from_unix(ms.div_euclid(1000)));
        self.publish.send_modify(|s| s.next_refresh_at = next);
    }

    /// When the federation needs the timer next (local ms).
    pub(super) fn federation_due_ms(&self) -> Option<i64> {
        let federation = self.federation.as_ref()?;
        let now = self.clock.now_ms();
        let lapse = federation.expires_ms().map(|at| at - TOKEN_MARGIN_MS);
        if self.command().is_some() {
            if self.fed_renewal.is_some() {
                return None;
            }
            let renew = self.fed_retry_at_ms.or(self.fed_renew_at_ms);
            let report = lapse.filter(|_| !federation.expiry_reported);
            return [renew, report].into_iter().flatten().min();
        }
        if federation.lapsed(now) {
            // Nothing renews it: the session lasts as long as the credentials it got.
            let aws = self.publish.borrow().aws.clone();
            return Some(aws.map_or(now, |aws| aws.local_expiration_ms - aws.margin_ms));
        }
        lapse
    }

    /// Renews the token when due; without a command, ends the session once the token lapsed
    /// and the credentials it got have expired.
    pub(super) fn federation_timer(&mut self) {
        let Some(due) = self.federation_due_ms() else {
            return;
        };
        let now = self.clock.now_ms();
        if now < due {
            return;
        }
        if self.command().is_none() {
            let aws = self.publish.borrow().aws.clone();
            let lapsed = self.federation.as_ref().is_some_and(|f| f.lapsed(now));
            if lapsed && aws.is_none_or(|aws| aws.is_expired(now)) {
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
        if self
            .fed_retry_at_ms
            .or(self.fed_renew_at_ms)
            .is_some_and(|at| now >= at)
        {
            self.start_renewal();
        }
    }

    /// The token can no longer be used for a fetch: with a command a new one is fetched (its
    /// arrival starts the fetch); without, the session lasts while its credentials do. False
    /// when the session ended.
    pub(super) fn federation_token_lapsed(&mut self) -> bool {
        let now = self.clock.now_ms();
        if self.command().is_some() {
            self.start_renewal();
            if self.federation_backing_off(now).is_some() {
                let waiters: Vec<_> = self.creds_waiters.drain(..).collect();
                for waiter in waiters {
                    if let Some(error) = self.federation_backing_off(now) {
                        let _ = waiter.send(Err(error));
                    }
                }
            }
            return true;
        }
        let aws = self.publish.borrow().aws.clone();
        if aws.is_none_or(|aws| aws.is_expired(now)) {
            self.end_federation_lapsed();
            return false;
        }
        // Served from the cache until they expire; nothing to fetch.
        for waiter in self.creds_waiters.drain(..) {
            let _ = waiter.send(Ok(()));
        }
        true
    }

    /// An answer for a client that needs the token renewed while the command backs off.
    pub(super) fn federation_backing_off(&self, now: i64) -> Option<SessionError> {
        let federation = self.federation.as_ref()?;
        let retry_at = self.fed_retry_at_ms.filter(|&at| at > now)?;
        let seconds = u64::try_from((retry_at - now + 999) / 1000).unwrap_or(1);
        (federation.lapsed(now) && self.fed_renewal.is_none()).then(|| SessionError::BackingOff {
            retry_after_secs: seconds,
            message: format!(
                "the {} token expired and token_command failed; it runs again in {seconds} s",
                federation.provider,
            ),
        })
    }

    /// The identity pool refused the provider's token: expired by the provider's clock (as
    /// a lapse), or not taken at all (a failed renewal with a command; else the end).
    pub(super) fn federation_token_refused(&mut self, message: &str, now: i64) {
        let expired = message.to_ascii_lowercase().contains("expired");
        info!(%message, expired, "the identity pool refused the provider token");
        if expired {
            if let Some(federation) = self.federation.as_mut() {
                federation.exp = Some(now.div_euclid(1000));
            }
            self.federation_token_lapsed();
            return;
        }
        let why = format!("the identity pool refused the provider token: {message}");
        for waiter in self.creds_waiters.drain(..) {
            let _ = waiter.send(Err(SessionError::Refused {
                kind: "NotAuthorizedException".into(),
                message: message.to_owned(),
            }));
        }
        if self.command().is_some() {
            self.renewal_failed(why, now);
        } else {
            warn!(%why, "the federated session ends");
            let provider = self.federation.as_ref().map(|f| f.provider.clone());
            self.end_session(Some(why));
            self.federation_lapsed = provider.map(|p| {
                format!("the federated session ended: the identity pool refused the {p} token")
            });
        }
    }

    /// A renewal of the token runs, or waits out its backoff: no credentials are fetched
    /// meanwhile (the renewal starts the fetch).
    pub(super) fn renewal_pending(&self, now: i64) -> bool {
        self.federation.is_some()
            && (self.fed_renewal.is_some() || self.fed_retry_at_ms.is_some_and(|at| at > now))
    }

    /// The identity pool took the token: renewals start their backoff afresh.
    pub(super) fn federation_accepted(&mut self) {
        if self.federation.is_some() {
            self.fed_failures = 0;
        }
    }

    /// Runs the token command, unless it runs already or backs off.
    fn start_renewal(&mut self) {
        let now = self.clock.now_ms();
        if self.fed_renewal.is_some() || self.fed_retry_at_ms.is_some_and(|at| at > now) {
            return;
        }
        let Some(command) = self.command() else {
            return;
        };
        let done = self.federation_done.clone();
        let generation = self.fed_generation;
        self.fed_renewal = Some(tokio::spawn(async move {
            let result = run_token_command(&command).await;
            let _ = done.send(FederationEvent::Renewed { generation, result });
        }));
    }

    fn finish_renewal(&mut self, generation: u64, result: Result<Secret, String>) {
        if generation != self.fed_generation {
            return;
        }
        self.fed_renewal = None;
        let Some(federation) = self.federation.as_ref() else {
            return;
        };
        let now = self.clock.now_ms();
        let renewed = match result {
            Ok(token) => Federation::new(federation.provider.clone(), token),
            Err(why) => return self.renewal_failed(why, now),
        };
        if renewed.lapsed(now) {
            return self.renewal_failed(
                "token_command printed a token that has expired or expires within 10 s".into(),
                now,
            );
        }
        // A cached token again: not fresher, so it is tried again later (not at once).
        let fresher = match (renewed.exp, federation.exp) {
            (Some(new), Some(old)) => new > old,
            _ => renewed.token.expose() != federation.token.expose(),
        };
        if !fresher {
            return self.renewal_failed(
                "token_command printed no fresher token than the one in use".into(),
                now,
            );
        }
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
        self.publish_federation();
        self.schedule_renewal();
        self.emit(EventKind::TokenRefresh { expires_at });
        self.persist_current();
        // Credentials that are missing, due, or waited for come with the new token.
        let aws = self.publish.borrow().aws.clone();
        if aws.is_none_or(|aws| now >= aws.refresh_due_ms) || !self.creds_waiters.is_empty() {
            self.start_credentials();
        }
    }

    /// A renewal failed: counted, tried again after the refresh's backoff; clients waiting
    /// for it are told once the token has lapsed.
    fn renewal_failed(&mut self, why: String, now: i64) {
        self.fed_failures += 1;
        let wait = schedule::backoff(self.fed_failures, schedule::random_unit());
        self.fed_retry_at_ms = Some(now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
        self.publish_next_renewal();
        warn!(error = %why, failures = self.fed_failures, "renewing the provider token failed; trying again later");
        self.emit(EventKind::TokenRefreshFailure { error: why.clone() });
        if self.federation.as_ref().is_some_and(|f| f.lapsed(now)) {
            for waiter in self.creds_waiters.drain(..) {
                let _ = waiter.send(Err(SessionError::Retrying(format!(
                    "the provider token expired and {why}"
                ))));
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
        self.end_session(Some(format!(
            "the {provider} token expired (a federated session is not refreshed)"
        )));
        self.federation_lapsed = Some(format!(
            "the federated session ended: the {provider} token expired"
        ));
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
    let token = zeroize::Zeroizing::new(String::from_utf8_lossy(&out).trim().to_owned());
    let said = stderr_line(&String::from_utf8_lossy(&err), &token);
    if !said.is_empty() {
        if status.success() {
            info!(program = %program, stderr = %said, "token_command said");
        } else {
            warn!(program = %program, stderr = %said, "token_command failed");
        }
    }
    if !status.success() {
        // What it said is in the log only: events and answers go to every client.
        return Err(format!("token_command {program} failed ({status})"));
    }
    if token.is_empty() {
        return Err(format!("token_command {program} printed no token"));
    }
    Ok(Secret::new(token.as_str()))
}

/// The first line of the command's stderr, fit for the log: without the token, with
/// anything shaped like a JWT replaced, at most 200 characters.
fn stderr_line(stderr: &str, token: &str) -> String {
    let Some(line) = stderr.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return String::new();
    };
    let line = if token.is_empty() {
        line.to_owned()
    } else {
        line.replace(token, "<token>")
    };
    let words: Vec<String> = line
        .split(' ')
        .map(|word| {
            let looks_like_jwt = word.len() > 40 && word.matches('.').count() >= 2;
            if looks_like_jwt {
                "<token>".to_owned()
            } else {
                word.to_owned()
            }
        })
        .collect();
    words.join(" ").chars().take(200).collect()
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
        assert!(error.contains("exit status: 3"), "{error}");
        assert!(
            !error.contains("secret-token") && !error.contains("IdP"),
            "{error}"
        );
        let jwt = format!("eyJhbGciOi.{}.sig", "x".repeat(300));
        assert_eq!(
            stderr_line(&format!("\n  refreshed {jwt} ok\nmore"), ""),
            "refreshed <token> ok"
        );
        assert_eq!(stderr_line("got abc123 back", "abc123"), "got <token> back");
        let missing = run_token_command(&["/nonexistent/print-token".to_owned()])
            .await
            .unwrap_err();
        assert!(missing.contains("cannot run token_command"), "{missing}");
        // `$(...)` is not a shell's here: it is printed as it is.
        let literal = run_token_command(&printf("$(id)")).await.unwrap();
        assert_eq!(literal.expose(), "$(id)");
    }
}
