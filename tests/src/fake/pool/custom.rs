//! The pool's custom authentication (`CUSTOM_AUTH`), as its Lambda triggers would run it: an
//! optional SRP password check (`CHALLENGE_NAME = SRP_A`), then the rounds of
//! `CUSTOM_CHALLENGE` in `PoolOptions::custom_challenges`, each with a public question and
//! the answer it takes. A wrong answer fails the sign-in, as a DefineAuthChallenge trigger
//! that fails on a wrong answer does.

use serde_json::{Value, json};

use super::{Answer, PoolState, SrpFlow, fault, missing, not_authorized};

impl PoolState {
    /// `InitiateAuth` with `AuthFlow = CUSTOM_AUTH`.
    pub(super) fn initiate_custom_auth(&mut self, body: &Value, now: i64) -> Answer {
        if self.options.custom_challenges.is_empty() {
            return Err(fault(
                "InvalidParameterException",
                "Custom auth lambda trigger is not configured for the user pool.",
            ));
        }
        let params = &body["AuthParameters"];
        let typed = params["USERNAME"]
            .as_str()
            .ok_or_else(|| missing("USERNAME"))?;
        self.check_secret_hash(params["SECRET_HASH"].as_str(), typed)?;
        let index = self.signing_in_user(typed)?;
        self.note_device(index, params["DEVICE_KEY"].as_str())?;
        match params["CHALLENGE_NAME"].as_str() {
            Some("SRP_A") => {
                let srp_a = params["SRP_A"].as_str().ok_or_else(|| missing("SRP_A"))?;
                Ok(self.start_srp(index, srp_a, SrpFlow::Custom))
            }
            Some(other) => Err(fault(
                "InvalidParameterException",
                format!("CHALLENGE_NAME {other} is not supported"),
            )),
            None => self.custom_round(index, 0, now),
        }
    }

    /// Round `round` of the custom challenges, or tokens once all are answered.
    pub(super) fn custom_round(&mut self, index: usize, round: usize, now: i64) -> Answer {
        if self.users[index].unconfirmed {
            return Err(fault("UserNotConfirmedException", "User is not confirmed."));
        }
        let Some((question, _)) = self.options.custom_challenges.get(round).cloned() else {
            return Ok(self.signed_in(index, now));
        };
        let params = json!({ "question": question, "round": (round + 1).to_string() });
        Ok(self.challenge(index, "CUSTOM_CHALLENGE", params, now, |s| s.round = round))
    }

    /// `RespondToAuthChallenge` for `CUSTOM_CHALLENGE`: the round's answer, exactly.
    pub(super) fn answer_custom(
        &mut self,
        index: usize,
        round: usize,
        answer: Option<&str>,
        now: i64,
    ) -> Answer {
        let answer = answer.ok_or_else(|| missing("ANSWER"))?;
        let expected = self
            .options
            .custom_challenges
            .get(round)
            .map(|(_, answer)| answer.as_str());
        if expected != Some(answer) {
            return Err(not_authorized("Incorrect answer."));
        }
        self.custom_round(index, round + 1, now)
    }
}
