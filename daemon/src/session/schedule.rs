//! When to refresh, when tokens count as expired, and how long to back off: pure functions of
//! plain values. Times are Unix milliseconds on the local wall clock unless they say otherwise;
//! token claims (`iat`, `exp`) are the server's seconds.

use std::time::Duration;

const MIN_LEAD: Duration = Duration::from_secs(60);
const MAX_LEAD: Duration = Duration::from_secs(15 * 60);
/// At most this share of the lead is added as jitter.
const JITTER_SHARE: f64 = 0.1;
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(5 * 60);

/// How long before expiry to refresh a token that lives `lifetime`:
/// `min(clamp(20% of lifetime, 60 s, 15 min), 50% of lifetime)`.
pub fn lead(lifetime: Duration) -> Duration {
    (lifetime / 5).clamp(MIN_LEAD, MAX_LEAD).min(lifetime / 2)
}

/// The server's clock minus ours, from a token's `iat` and the local times the request that
/// brought it was sent and its answer received. The token was issued between the two, before
/// `iat + 1` and at or after `iat` by the server's clock, so the offset lies in
/// `[iat - received, iat + 1 - sent]`. When that range holds 0 the clocks agree as far as can
/// be told and 0 is used; otherwise its upper end, so that expiry is judged early, not late.
pub fn clock_drift_ms(iat: i64, sent_at_ms: i64, received_at_ms: i64) -> i64 {
    let lower = iat * 1000 - received_at_ms;
    let upper = (iat + 1) * 1000 - sent_at_ms;
    if lower <= 0 && 0 <= upper { 0 } else { upper }
}

/// When (local wall clock) to refresh a token with `iat` and `exp`, given the clock drift and a
/// `jitter` in `[0, 1)` that moves the refresh up to 10% of the lead earlier.
pub fn refresh_at_ms(iat: i64, exp: i64, drift_ms: i64, jitter: f64) -> i64 {
    let lifetime = Duration::from_secs(u64::try_from(exp - iat).unwrap_or(0));
    let lead_ms = millis(lead(lifetime));
    let jitter_ms = (lead_ms as f64 * JITTER_SHARE * jitter.clamp(0.0, 1.0)) as i64;
    local_expiry_ms(exp, drift_ms) - lead_ms - jitter_ms
}

/// When (local wall clock) a token with `exp` expires.
pub fn local_expiry_ms(exp: i64, drift_ms: i64) -> i64 {
    exp * 1000 - drift_ms
}

/// How long before its expiry a token stops being handed out: `min(5 s, 10% of its lifetime)`
/// (Amplify treats tokens as expired 5 s early; test tokens of a few seconds keep most of
/// their life).
pub fn serving_margin_ms(iat: i64, exp: i64) -> i64 {
    (exp.saturating_sub(iat).saturating_mul(100)).clamp(0, 5000)
}

/// Whether a token with `exp` is expired at local time `now_ms`.
pub fn is_expired(exp: i64, drift_ms: i64, now_ms: i64) -> bool {
    now_ms >= local_expiry_ms(exp, drift_ms)
}

/// When (local ms) to fetch new AWS credentials: when less than `min(20 min, 50% of their
/// lifetime)` is left, so that with 1 h credentials every one handed out has at least 15 min
/// (botocore starts refreshing at 15 min and blocks at 10).
pub fn credentials_refresh_at_ms(received_ms: i64, expiration_ms: i64) -> i64 {
    let lifetime = (expiration_ms - received_ms).max(0);
    expiration_ms - (lifetime / 2).min(20 * 60 * 1000)
}

/// Full-jitter exponential backoff after `failures` failed attempts in a row (at least 1):
/// a uniform share `random` in `[0, 1)` of `min(5 min, 1 s · 2^(failures-1))`.
pub fn backoff(failures: u32, random: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << exponent)
        .min(BACKOFF_CAP);
    ceiling.mul_f64(random.clamp(0.0, 1.0))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A uniform number in `[0, 1)` from the OS.
pub fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_stop_being_served_shortly_before_expiry() {
        assert_eq!(serving_margin_ms(T0, T0 + 3600), 5000, "1 h: 5 s");
        assert_eq!(serving_margin_ms(T0, T0 + 4), 400, "4 s: 10%");
        assert_eq!(serving_margin_ms(T0, T0 - 5), 0, "nonsense claims: none");
        assert_eq!(serving_margin_ms(i64::MIN, i64::MAX), 5000);
    }

    const MIN: i64 = 60;
    const T0: i64 = 1_800_000_000;

    #[test]
    fn lead_follows_the_rule() {
        let secs = Duration::from_secs;
        assert_eq!(lead(secs(3600)), secs(12 * 60), "1 h tokens: 20%");
        assert_eq!(lead(secs(5 * 60)), secs(60), "5 min tokens: the 60 s floor");
        assert_eq!(lead(secs(60)), secs(30), "60 s tokens: half-way");
        assert_eq!(
            lead(secs(5)),
            Duration::from_millis(2500),
            "5 s tokens: half-way"
        );
        assert_eq!(
            lead(secs(86_400)),
            secs(15 * 60),
            "1 day tokens: the 15 min cap"
        );
    }

    #[test]
    fn refresh_times_for_common_lifetimes() {
        // 1 h token asked for and received within the second it was issued: clocks agree.
        let drift = clock_drift_ms(T0, T0 * 1000 + 100, T0 * 1000 + 300);
        assert_eq!(drift, 0);
        let at = refresh_at_ms(T0, T0 + 60 * MIN, drift, 0.0);
        assert_eq!(at, (T0 + 48 * MIN) * 1000);
        let late = refresh_at_ms(T0, T0 + 60 * MIN, drift, 0.999_999);
        assert!(
            at - late > 71_000 && at - late <= 72_000,
            "jitter up to 10% of 12 min"
        );

        let five = refresh_at_ms(T0, T0 + 5 * MIN, drift, 0.0);
        assert_eq!(five, (T0 + 4 * MIN) * 1000);
        let sixty = refresh_at_ms(T0, T0 + 60, drift, 0.0);
        assert_eq!(sixty, (T0 + 30) * 1000);
    }

    #[test]
    fn drift_moves_the_schedule_onto_the_local_clock() {
        // The server is 5 min ahead: a token issued "now" by its clock arrives at local T0-5min
        // (asked for 200 ms before). The estimate errs early by at most 1 s + the round trip.
        let sent = (T0 - 5 * MIN) * 1000 - 200;
        let ahead = clock_drift_ms(T0, sent, sent + 200);
        assert_eq!(ahead, 5 * MIN * 1000 + 1200);
        assert_eq!(
            refresh_at_ms(T0, T0 + 60 * MIN, ahead, 0.0),
            (T0 - 5 * MIN + 48 * MIN) * 1000 - 1200
        );
        // 5 min behind.
        let sent = (T0 + 5 * MIN) * 1000 - 200;
        let behind = clock_drift_ms(T0, sent, sent + 200);
        assert_eq!(behind, -5 * MIN * 1000 + 1200);
        assert_eq!(
            refresh_at_ms(T0, T0 + 60 * MIN, behind, 0.0),
            (T0 + 5 * MIN + 48 * MIN) * 1000 - 1200
        );
        // A slow answer from agreeing clocks is no drift at all.
        assert_eq!(clock_drift_ms(T0, T0 * 1000 - 2000, T0 * 1000 + 500), 0);
        // Expiry follows the same correction.
        assert!(!is_expired(T0 + 60 * MIN, behind, (T0 + 64 * MIN) * 1000));
        assert!(is_expired(T0 + 60 * MIN, ahead, (T0 + 56 * MIN) * 1000));
        assert!(!is_expired(T0 + 60 * MIN, ahead, (T0 + 54 * MIN) * 1000));
    }

    #[test]
    fn credentials_are_renewed_with_20_min_or_half_their_life_left() {
        let t = T0 * 1000;
        assert_eq!(credentials_refresh_at_ms(t, t + 3_600_000), t + 40 * 60_000);
        assert_eq!(credentials_refresh_at_ms(t, t + 60_000), t + 30_000);
        assert_eq!(
            credentials_refresh_at_ms(t, t - 1000),
            t - 1000,
            "already expired: now"
        );
    }

    #[test]
    fn backoff_is_full_jitter_exponential_and_capped() {
        let secs = Duration::from_secs;
        assert_eq!(backoff(1, 0.999_999_9).as_secs_f64().round(), 1.0);
        assert_eq!(backoff(4, 0.5), secs(4));
        assert_eq!(
            backoff(10, 0.5),
            secs(150),
            "2^9 s is over the cap of 5 min"
        );
        assert_eq!(backoff(1000, 0.5), secs(150));
        assert_eq!(backoff(3, 0.0), Duration::ZERO);
        let r = random_unit();
        assert!((0.0..1.0).contains(&r));
    }
}
