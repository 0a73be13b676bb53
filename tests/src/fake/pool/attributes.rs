//! A signed-in user's attributes: GetUser, UpdateUserAttributes (a new email or phone
//! number is stored unverified and a code sent to it), GetUserAttributeVerificationCode,
//! VerifyUserAttribute and DeleteUserAttributes, against the pool's schema: the standard
//! attributes, the custom ones `PoolOptions::custom_attributes` declares, and the required
//! ones (`PoolOptions::required_attributes`; the email too with email sign-in).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::account::{CodePurpose, code_member, invalid, member, null_member, validation};
use super::{Answer, CognitoFault, PoolState, fault};

/// The standard attributes users may write.
const STANDARD_ATTRIBUTES: [&str; 17] = [
    "address",
    "birthdate",
    "email",
    "family_name",
    "gender",
    "given_name",
    "locale",
    "middle_name",
    "name",
    "nickname",
    "phone_number",
    "picture",
    "preferred_username",
    "profile",
    "updated_at",
    "website",
    "zoneinfo",
];

/// Attributes only Cognito writes.
const READ_ONLY_ATTRIBUTES: [&str; 4] = [
    "sub",
    "email_verified",
    "phone_number_verified",
    "identities",
];

/// An `AttributeListType` member: `[{Name, Value}]`.
pub(super) fn attribute_list(
    body: &Value,
    name: &str,
) -> Result<Vec<(String, String)>, CognitoFault> {
    let items = body[name].as_array().ok_or_else(|| null_member(name))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let attribute = item["Name"]
                .as_str()
                .ok_or_else(|| null_member(&format!("{name}.{}.member.name", i + 1)))?;
            let value = item["Value"].as_str().unwrap_or_default();
            if value.chars().count() > 2048 {
                return Err(validation(
                    &format!("{name}.{}.member.value", i + 1),
                    "Member must have length less than or equal to 2048",
                ));
            }
            Ok((attribute.to_owned(), value.to_owned()))
        })
        .collect()
}

/// An email address's shape: one `@` between a local part and a domain, no spaces.
pub(super) fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// E.164: `+` and up to 15 digits.
fn valid_phone(phone: &str) -> bool {
    phone.strip_prefix('+').is_some_and(|digits| {
        (4..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
    })
}

impl PoolState {
    /// A user's attributes as GetUser lists them (`email_verified` and
    /// `phone_number_verified` as `"true"`/`"false"`); empty for an unknown user.
    pub fn user_attributes(&self, username_or_alias: &str) -> BTreeMap<String, String> {
        self.find_user(username_or_alias)
            .map(|index| self.attribute_map(index))
            .unwrap_or_default()
    }

    /// GetUser's attributes of the user at `index`.
    fn attribute_map(&self, index: usize) -> BTreeMap<String, String> {
        let user = &self.users[index];
        let mut map = user.attributes.clone();
        for name in ["email", "phone_number"] {
            if map.contains_key(name) {
                let verified = user.verified.contains(name).to_string();
                map.insert(format!("{name}_verified"), verified);
            }
        }
        map
    }

    /// Sets (or with `None` removes) an attribute; a new value is not verified.
    fn set_attribute(&mut self, index: usize, name: &str, value: Option<&str>) {
        let user = &mut self.users[index];
        match value {
            Some(value) => user.attributes.insert(name.to_owned(), value.to_owned()),
            None => user.attributes.remove(name),
        };
        if name == "email" {
            user.email = value.map(str::to_owned);
        }
        user.verified.remove(name);
    }

    fn is_required(&self, name: &str) -> bool {
        (name == "email" && self.options.email_sign_in)
            || self.options.required_attributes.iter().any(|r| r == name)
    }

    /// Whether a user (`index`; `None`: one signing up) may write `value` (blank: delete) to
    /// the attribute `name`.
    pub(super) fn check_attribute(
        &self,
        index: Option<usize>,
        name: &str,
        value: &str,
    ) -> Result<(), CognitoFault> {
        if READ_ONLY_ATTRIBUTES.contains(&name) {
            return Err(invalid(format!(
                "user.{name}: Attribute cannot be updated."
            )));
        }
        let declared = STANDARD_ATTRIBUTES.contains(&name)
            || (name.starts_with("custom:")
                && self.options.custom_attributes.iter().any(|c| c == name));
        if !declared {
            return Err(invalid("Attribute does not exist in the schema."));
        }
        if value.is_empty() {
            if self.is_required(name) && index.is_some() {
                return Err(invalid(format!(
                    "user.{name}: Required attribute cannot be deleted."
                )));
            }
            return Ok(());
        }
        match name {
            "email" if !valid_email(value) => Err(invalid("Invalid email address format.")),
            "phone_number" if !valid_phone(value) => Err(invalid("Invalid phone number format.")),
            "email" if self.options.email_sign_in && index.is_some() => {
                let taken = self.users.iter().enumerate().any(|(i, u)| {
                    !u.deleted && Some(i) != index && u.email.as_deref() == Some(value)
                });
                if taken {
                    return Err(fault(
                        "AliasExistsException",
                        "An account with the given email already exists.",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `GetUser`.
    pub fn get_user(&mut self, body: &Value, now: i64) -> Answer {
        let index = self.account_user(body, now)?;
        let attributes: Vec<Value> = self
            .attribute_map(index)
            .into_iter()
            .map(|(name, value)| json!({"Name": name, "Value": value}))
            .collect();
        let user = &self.users[index];
        let mut answer = json!({"Username": user.username, "UserAttributes": attributes});
        let enabled = user.mfa_enabled();
        if let Some(preferred) = user.preferred_mfa.filter(|p| enabled.contains(p)) {
            answer["PreferredMfaSetting"] = json!(preferred.challenge());
        }
        if !enabled.is_empty() {
            let names: Vec<&str> = enabled.iter().map(|m| m.challenge()).collect();
            answer["UserMFASettingList"] = json!(names);
        }
        Ok(answer)
    }

    /// `UpdateUserAttributes`: a blank value deletes; a new email or phone number is stored
    /// unverified and a code sent to it.
    pub fn update_user_attributes(&mut self, body: &Value, now: i64) -> Answer {
        let index = self.account_user(body, now)?;
        let given = attribute_list(body, "UserAttributes")?;
        for (name, value) in &given {
            self.check_attribute(Some(index), name, value)?;
        }
        let mut deliveries = Vec::new();
        for (name, value) in given {
            let current = self.users[index].attributes.get(&name);
            if current.map_or("", String::as_str) == value {
                continue;
            }
            if value.is_empty() {
                self.set_attribute(index, &name, None);
                continue;
            }
            self.set_attribute(index, &name, Some(&value));
            if matches!(name.as_str(), "email" | "phone_number") {
                let purpose = CodePurpose::Attribute(name.clone());
                deliveries.push(self.send_code(index, purpose, &name, now));
            }
        }
        if deliveries.is_empty() {
            return Ok(json!({}));
        }
        Ok(json!({ "CodeDeliveryDetailsList": deliveries }))
    }

    /// `GetUserAttributeVerificationCode`.
    pub fn get_user_attribute_verification_code(&mut self, body: &Value, now: i64) -> Answer {
        let index = self.account_user(body, now)?;
        let name = member(body, "AttributeName")?;
        if !matches!(name, "email" | "phone_number") {
            return Err(invalid(format!("Attribute {name} cannot be verified.")));
        }
        if !self.users[index].attributes.contains_key(name) {
            return Err(invalid(format!("The user has no {name} to verify.")));
        }
        let purpose = CodePurpose::Attribute(name.to_owned());
        self.check_not_locked(index, &purpose, now)?;
        let delivery = self.send_code(index, purpose, name, now);
        Ok(json!({ "CodeDeliveryDetails": delivery }))
    }

    /// `VerifyUserAttribute`.
    pub fn verify_user_attribute(&mut self, body: &Value, now: i64) -> Answer {
        let index = self.account_user(body, now)?;
        let name = member(body, "AttributeName")?;
        let code = code_member(body, "Code")?;
        if !matches!(name, "email" | "phone_number") {
            return Err(invalid(format!("Attribute {name} cannot be verified.")));
        }
        self.use_code(index, CodePurpose::Attribute(name.to_owned()), code, now)?;
        self.users[index].verified.insert(name.to_owned());
        Ok(json!({}))
    }

    /// `DeleteUserAttributes`: not the required ones.
    pub fn delete_user_attributes(&mut self, body: &Value, now: i64) -> Answer {
        let index = self.account_user(body, now)?;
        let names = body["UserAttributeNames"]
            .as_array()
            .ok_or_else(|| null_member("UserAttributeNames"))?;
        let names: Vec<String> = names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect();
        for name in &names {
            self.check_attribute(Some(index), name, "")?;
        }
        let username = self.users[index].username.clone();
        for name in names {
            self.set_attribute(index, &name, None);
            self.account_codes
                .remove(&(username.clone(), CodePurpose::Attribute(name)));
        }
        Ok(json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::super::account::tests::{NOW, PASSWORD, access_token, kind, pool};
    use super::super::{PoolOptions, UserSpec};
    use super::*;

    fn with_yara(options: PoolOptions) -> (PoolState, String) {
        let mut pool = pool(options);
        pool.add_user(UserSpec {
            email: Some("yara@example.com".into()),
            ..UserSpec::new("yara", PASSWORD)
        });
        let name = if pool.options.email_sign_in {
            "yara@example.com"
        } else {
            "yara"
        };
        let token = access_token(&mut pool, name, NOW);
        (pool, token)
    }

    fn update(pool: &mut PoolState, token: &str, attributes: Value) -> Answer {
        pool.update_user_attributes(
            &json!({"AccessToken": token, "UserAttributes": attributes}),
            NOW,
        )
    }

    #[test]
    fn get_user_lists_the_attributes() {
        let (mut pool, token) = with_yara(PoolOptions::default());
        let user = pool
            .get_user(&json!({"AccessToken": token}), NOW)
            .expect("the user");
        assert_eq!(user["Username"], "yara");
        let names: Vec<&str> = user["UserAttributes"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|a| a["Name"].as_str().expect("a name"))
            .collect();
        assert_eq!(names, ["email", "email_verified", "sub"]);
        assert_eq!(user["UserAttributes"][1]["Value"], "true");
        assert!(user.get("UserMFASettingList").is_none());
        assert!(user.get("PreferredMfaSetting").is_none());
        assert!(user.get("MFAOptions").is_none());
        assert_eq!(
            kind(pool.get_user(&json!({}), NOW)).1,
            "1 validation error detected: Value null at 'accessToken' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn a_new_email_is_unverified_until_its_code_comes_back() {
        let (mut pool, token) = with_yara(PoolOptions::default());
        let answer = update(
            &mut pool,
            &token,
            json!([{"Name": "email", "Value": "yara@new.example"},
                   {"Name": "given_name", "Value": "Yara"}]),
        )
        .expect("updated");
        assert_eq!(
            answer,
            json!({"CodeDeliveryDetailsList": [{"Destination": "y***@n***",
                "DeliveryMedium": "EMAIL", "AttributeName": "email"}]})
        );
        let attributes = pool.user_attributes("yara");
        assert_eq!(attributes["email"], "yara@new.example");
        assert_eq!(attributes["email_verified"], "false");
        assert_eq!(attributes["given_name"], "Yara");
        // The same value again sends nothing.
        let again = update(
            &mut pool,
            &token,
            json!([{"Name": "given_name", "Value": "Yara"}]),
        );
        assert_eq!(again, Ok(json!({})));

        let purpose = CodePurpose::Attribute("email".into());
        let code = pool.account_code("yara", purpose.clone()).expect("a code");
        let verify =
            |code: &str| json!({"AccessToken": token, "AttributeName": "email", "Code": code});
        let wrong = if code == "000000" { "000001" } else { "000000" };
        assert_eq!(
            kind(pool.verify_user_attribute(&verify(wrong), NOW)).0,
            "CodeMismatchException"
        );
        pool.verify_user_attribute(&verify(&code), NOW)
            .expect("verified");
        assert_eq!(pool.user_attributes("yara")["email_verified"], "true");

        // Another code on request.
        let body = json!({"AccessToken": token, "AttributeName": "email"});
        let sent = pool
            .get_user_attribute_verification_code(&body, NOW)
            .expect("sent");
        assert_eq!(sent["CodeDeliveryDetails"]["AttributeName"], "email");
        assert_ne!(pool.account_code("yara", purpose), None);
        let phone = json!({"AccessToken": token, "AttributeName": "phone_number"});
        assert_eq!(
            kind(pool.get_user_attribute_verification_code(&phone, NOW)).0,
            "InvalidParameterException",
            "no phone number"
        );
    }

    #[test]
    fn the_schema_decides_what_may_be_written() {
        let (mut pool, token) = with_yara(PoolOptions {
            custom_attributes: vec!["custom:team".into()],
            ..PoolOptions::default()
        });
        let refused = |pool: &mut PoolState, name: &str, value: &str| {
            kind(update(
                pool,
                &token,
                json!([{"Name": name, "Value": value}]),
            ))
        };
        assert_eq!(
            refused(&mut pool, "sub", "x"),
            (
                "InvalidParameterException",
                "user.sub: Attribute cannot be updated.".to_owned()
            )
        );
        assert_eq!(
            refused(&mut pool, "email_verified", "true").1,
            "user.email_verified: Attribute cannot be updated."
        );
        assert_eq!(
            refused(&mut pool, "custom:other", "x"),
            (
                "InvalidParameterException",
                "Attribute does not exist in the schema.".to_owned()
            )
        );
        assert_eq!(
            refused(&mut pool, "email", "").1,
            "user.email: Required attribute cannot be deleted."
        );
        assert_eq!(
            refused(&mut pool, "email", "not-an-email").1,
            "Invalid email address format."
        );
        assert_eq!(
            refused(&mut pool, "phone_number", "555-0100").1,
            "Invalid phone number format."
        );
        // Refused as a whole: nothing of a refused request is kept.
        let mixed =
            json!([{"Name": "custom:team", "Value": "blue"}, {"Name": "sub", "Value": "x"}]);
        assert!(update(&mut pool, &token, mixed).is_err());
        assert!(!pool.user_attributes("yara").contains_key("custom:team"));

        let answer = update(
            &mut pool,
            &token,
            json!([{"Name": "custom:team", "Value": "blue"},
                   {"Name": "phone_number", "Value": "+15555550100"}]),
        )
        .expect("declared");
        assert_eq!(
            answer["CodeDeliveryDetailsList"][0],
            json!({"Destination": "+*******0100", "DeliveryMedium": "SMS",
                   "AttributeName": "phone_number"})
        );
        let attributes = pool.user_attributes("yara");
        assert_eq!(attributes["custom:team"], "blue");
        assert_eq!(attributes["phone_number_verified"], "false");

        let delete = |names: Value| json!({"AccessToken": token, "UserAttributeNames": names});
        assert_eq!(
            kind(pool.delete_user_attributes(&delete(json!(["email"])), NOW)).1,
            "user.email: Required attribute cannot be deleted."
        );
        pool.delete_user_attributes(&delete(json!(["custom:team", "phone_number"])), NOW)
            .expect("deleted");
        let attributes = pool.user_attributes("yara");
        assert!(!attributes.contains_key("custom:team"));
        assert!(!attributes.contains_key("phone_number_verified"));
    }

    #[test]
    fn with_email_sign_in_an_email_belongs_to_one_user() {
        let (mut pool, token) = with_yara(PoolOptions {
            email_sign_in: true,
            ..PoolOptions::default()
        });
        pool.add_user(UserSpec::new("zed@example.com", PASSWORD));
        let taken = update(
            &mut pool,
            &token,
            json!([{"Name": "email", "Value": "zed@example.com"}]),
        );
        assert_eq!(
            kind(taken),
            (
                "AliasExistsException",
                "An account with the given email already exists.".to_owned()
            )
        );
        update(
            &mut pool,
            &token,
            json!([{"Name": "email", "Value": "yara@new.example"}]),
        )
        .expect("a free email");
        assert!(pool.user_exists("yara@new.example"), "signs in with it");
        assert!(!pool.user_exists("yara@example.com"));
    }
}
