//! AWS's published API models of the two Cognito services (botocore's `service-2.json.gz`),
//! and the input validation the real services do with them before any action runs, so that
//! the fake is never kinder than Cognito.
//!
//! A value of the wrong JSON type is a `SerializationException`, as from the services' JSON 1.1
//! deserializer (the first one found ends the check). Broken constraints (a required member
//! missing, a length, a pattern, an enum, a range, an element count) are all counted in one
//! `InvalidParameterException`, in AWS's words: "2 validation errors detected: Value null at
//! 'clientId' failed to satisfy constraint: Member must not be null; Value 'X' at 'authFlow'
//! failed to satisfy constraint: Member must satisfy enum value set: [...]". Values of
//! sensitive shapes (and of containers holding one) are left out ("Value at 'password' ..."),
//! as AWS leaves them out, which also keeps secrets out of the daemon's logs.
//!
//! Members the model does not know are not rejected: JSON 1.1 services deserialize into the
//! modeled structure and drop what it does not model (no AWS behaviour we know of says Cognito
//! answers otherwise), so rejecting them would make the fake stricter than Cognito.
//!
//! Lengths are counted in characters. Patterns are Java regular expressions, matched against
//! the whole value; `\w`, `\d`, `\s` and their negations mean ASCII classes there, as in Java.
//! A pattern the `regex` crate cannot compile (a look-behind) is skipped, said once on
//! standard error, and still named in the constraint lists of messages.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{LazyLock, Once};

use base64::Engine as _;
use regex::Regex;
use serde_json::Value;

use super::CognitoFault;

/// botocore's name for the user pools' service (`AWSCognitoIdentityProviderService.` targets).
pub const IDENTITY_PROVIDER: &str = "cognito-idp";
/// botocore's name for the identity pools' service (`AWSCognitoIdentityService.` targets).
pub const IDENTITY: &str = "cognito-identity";

/// Each service's model, under botocore's data folder.
const MODEL_FILES: [(&str, &str); 2] = [
    (
        IDENTITY_PROVIDER,
        "cognito-idp/2016-04-18/service-2.json.gz",
    ),
    (IDENTITY, "cognito-identity/2014-06-30/service-2.json.gz"),
];

#[derive(Debug)]
enum Kind {
    /// Members by name with their shapes, and the names of the required ones.
    Structure {
        members: Vec<(String, String)>,
        required: HashSet<String>,
    },
    List(String),
    Map(String, String),
    String,
    Boolean,
    Integer,
    Long,
    Float,
    Timestamp,
    Blob,
    Document,
}

#[derive(Debug)]
struct Shape {
    kind: Kind,
    /// This shape, or one inside it, holds values AWS keeps out of messages.
    sensitive: bool,
    min: Option<f64>,
    max: Option<f64>,
    /// The model's pattern, and the compiled form when the `regex` crate compiles it.
    pattern: Option<(String, Option<Regex>)>,
    enumeration: Vec<String>,
}

impl Shape {
    /// A shape whose values are checked as one: a string, a number, a blob...
    fn is_scalar(&self) -> bool {
        !matches!(
            self.kind,
            Kind::Structure { .. } | Kind::List(_) | Kind::Map(..) | Kind::Document
        )
    }
}

#[derive(Debug)]
struct Service {
    shapes: HashMap<String, Shape>,
    /// Each operation's input shape (`None`: it takes none).
    inputs: HashMap<String, Option<String>>,
}

static MODELS: LazyLock<Result<HashMap<&'static str, Service>, String>> = LazyLock::new(load);

/// botocore's data folder: `COGNITOD_BOTOCORE_DATA`, else the one in the venv
/// ([`crate::venv`]: `COGNITOD_VENV`, else `.venv` in the workspace) under
/// `lib/python3*/site-packages`.
fn data_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("COGNITOD_BOTOCORE_DATA").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let lib = crate::venv().join("lib");
    let entries = std::fs::read_dir(&lib).map_err(|e| format!("{}: {e}", lib.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("python3"))
        .map(|entry| entry.path().join("site-packages/botocore/data"))
        .filter(|dir| dir.is_dir())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| format!("no botocore in {}/python3*/site-packages", lib.display()))
}

fn load() -> Result<HashMap<&'static str, Service>, String> {
    let dir = data_dir()?;
    let mut compiled = HashMap::new();
    let mut services = HashMap::new();
    for (name, file) in MODEL_FILES {
        let path = dir.join(file);
        let gzipped = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(gzipped.as_slice())
            .read_to_string(&mut text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let raw: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let service =
            parse_service(&raw, &mut compiled).map_err(|e| format!("{}: {e}", path.display()))?;
        services.insert(name, service);
    }
    Ok(services)
}

fn parse_service(
    raw: &Value,
    compiled: &mut HashMap<String, Option<Regex>>,
) -> Result<Service, String> {
    let raw_shapes = raw["shapes"].as_object().ok_or("no shapes")?;
    let mut shapes = HashMap::new();
    for (name, shape) in raw_shapes {
        shapes.insert(
            name.clone(),
            parse_shape(shape, compiled).map_err(|e| format!("shape {name}: {e}"))?,
        );
    }
    mark_sensitive(&mut shapes);
    let inputs = raw["operations"]
        .as_object()
        .ok_or("no operations")?
        .iter()
        .map(|(name, operation)| {
            let input = operation["input"]["shape"].as_str().map(str::to_owned);
            (name.clone(), input)
        })
        .collect();
    Ok(Service { shapes, inputs })
}

fn parse_shape(
    raw: &Value,
    compiled: &mut HashMap<String, Option<Regex>>,
) -> Result<Shape, String> {
    let target = |key: &str| {
        raw[key]["shape"]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("no {key} shape"))
    };
    let kind = match raw["type"].as_str().unwrap_or_default() {
        _ if raw["document"] == Value::Bool(true) => Kind::Document,
        "structure" => Kind::Structure {
            members: raw["members"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, member)| {
                    let shape = member["shape"].as_str().unwrap_or_default();
                    (name.clone(), shape.to_owned())
                })
                .collect(),
            required: raw["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        },
        "list" => Kind::List(target("member")?),
        "map" => Kind::Map(target("key")?, target("value")?),
        "string" => Kind::String,
        "boolean" => Kind::Boolean,
        "integer" => Kind::Integer,
        "long" => Kind::Long,
        "float" | "double" => Kind::Float,
        "timestamp" => Kind::Timestamp,
        "blob" => Kind::Blob,
        other => return Err(format!("unknown type {other:?}")),
    };
    let pattern = raw["pattern"].as_str().map(|java| {
        let regex =
            compiled
                .entry(java.to_owned())
                .or_insert_with(|| match Regex::new(&translate(java)) {
                    Ok(regex) => Some(regex),
                    Err(error) => {
                        let error = error.to_string().replace('\n', " ");
                        eprintln!(
                            "fake Cognito: the model's pattern {java:?} does not compile in Rust \
                         regex, so it is not checked: {error}"
                        );
                        None
                    }
                });
        (java.to_owned(), regex.clone())
    });
    Ok(Shape {
        kind,
        sensitive: raw["sensitive"] == Value::Bool(true),
        min: raw["min"].as_f64(),
        max: raw["max"].as_f64(),
        pattern,
        enumeration: raw["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    })
}

/// Marks the containers that hold a sensitive shape, at any depth, as sensitive.
fn mark_sensitive(shapes: &mut HashMap<String, Shape>) {
    loop {
        let newly: Vec<String> = shapes
            .iter()
            .filter(|(_, shape)| !shape.sensitive)
            .filter(|(_, shape)| {
                let inner: Vec<&String> = match &shape.kind {
                    Kind::Structure { members, .. } => members.iter().map(|(_, s)| s).collect(),
                    Kind::List(member) => vec![member],
                    Kind::Map(key, value) => vec![key, value],
                    _ => Vec::new(),
                };
                inner
                    .into_iter()
                    .any(|name| shapes.get(name).is_some_and(|shape| shape.sensitive))
            })
            .map(|(name, _)| name.clone())
            .collect();
        if newly.is_empty() {
            return;
        }
        for name in newly {
            if let Some(shape) = shapes.get_mut(&name) {
                shape.sensitive = true;
            }
        }
    }
}

/// A Java pattern as a Rust regex matching whole values: Java's `\w`, `\d`, `\s` (and
/// `\W`, `\D`, `\S`) are ASCII classes, where Rust's would be Unicode ones.
fn translate(java: &str) -> String {
    let mut rust = String::from(r"\A(?:");
    let mut in_class = 0usize;
    let mut chars = java.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(class @ ('w' | 'W' | 'd' | 'D' | 's' | 'S')) => {
                    rust.push_str(ascii_class(class, in_class > 0));
                }
                Some(other) => {
                    rust.push('\\');
                    rust.push(other);
                }
                None => rust.push('\\'),
            },
            '[' => {
                in_class += 1;
                rust.push(c);
            }
            ']' if in_class > 0 => {
                in_class -= 1;
                rust.push(c);
            }
            _ => rust.push(c),
        }
    }
    rust.push_str(r")\z");
    rust
}

/// Java's ASCII class for `\{class}`, bare inside a bracketed class where it can be.
fn ascii_class(class: char, in_class: bool) -> &'static str {
    match (class, in_class) {
        ('w', false) => "[0-9A-Za-z_]",
        ('w', true) => "0-9A-Za-z_",
        ('d', false) => "[0-9]",
        ('d', true) => "0-9",
        ('s', false) => r"[\t\n\x0B\x0C\r ]",
        ('s', true) => r"\t\n\x0B\x0C\r ",
        ('W', _) => "[^0-9A-Za-z_]",
        ('D', _) => "[^0-9]",
        _ => r"[^\t\n\x0B\x0C\r ]",
    }
}

/// The loaded models; `None` when they cannot be found, which is said once on standard error,
/// or panics under `COGNITOD_TEST_STRICT` (CI sets it: there, an unchecked request would hide
/// what the daemon sends wrong).
fn models() -> Option<&'static HashMap<&'static str, Service>> {
    static WARNED: Once = Once::new();
    match &*MODELS {
        Ok(models) => Some(models),
        Err(why) => {
            assert!(
                std::env::var_os("COGNITOD_TEST_STRICT").is_none(),
                "the fake Cognito checks requests against botocore's service models and cannot \
                 load them ({why}); point COGNITOD_VENV at a venv with botocore (scripts/test.sh \
                 makes one) or COGNITOD_BOTOCORE_DATA at botocore's data folder: \
                 COGNITOD_TEST_STRICT forbids skipping the check"
            );
            WARNED.call_once(|| {
                eprintln!(
                    "warning: the fake Cognito does not check requests against AWS's models: \
                     {why} (set COGNITOD_VENV or COGNITOD_BOTOCORE_DATA)"
                );
            });
            None
        }
    }
}

/// Loads the models now (a fake starting calls it, so that a missing model fails the test
/// under `COGNITOD_TEST_STRICT` rather than a request); whether they are there.
pub fn ensure_loaded() -> bool {
    models().is_some()
}

/// Checks `request` to `action` of `service` ([`IDENTITY_PROVIDER`] or [`IDENTITY`]) against
/// the service's model, as the service does before the action runs. An action the service
/// does not have is an `UnknownOperationException`. Without the models, checks nothing.
pub fn validate(service: &str, action: &str, request: &Value) -> Result<(), CognitoFault> {
    let Some(model) = models().and_then(|models| models.get(service)) else {
        return Ok(());
    };
    let fault = |kind, message| CognitoFault {
        status: 400,
        kind,
        message,
    };
    let Some(input) = model.inputs.get(action) else {
        return Err(fault(
            "UnknownOperationException",
            format!("{service} has no operation {action}"),
        ));
    };
    let Some(input) = input else {
        return Ok(());
    };
    let mut check = Check {
        model,
        errors: Vec::new(),
    };
    check
        .value(input, request, "")
        .map_err(|message| fault("SerializationException", message))?;
    match check.errors.len() {
        0 => Ok(()),
        count => Err(fault(
            "InvalidParameterException",
            format!(
                "{count} validation error{} detected: {}",
                if count == 1 { "" } else { "s" },
                check.errors.join("; ")
            ),
        )),
    }
}

/// One request's check: the broken constraints found so far.
struct Check<'m> {
    model: &'m Service,
    errors: Vec<String>,
}

impl Check<'_> {
    /// Checks `value` of shape `name` at `path`; `Err`: a type error, which ends the check.
    fn value(&mut self, name: &str, value: &Value, path: &str) -> Result<(), String> {
        let Some(shape) = self.model.shapes.get(name) else {
            return Ok(());
        };
        type_error(&shape.kind, value).map_or(Ok(()), Err)?;
        match (&shape.kind, value) {
            (Kind::Structure { members, required }, Value::Object(object)) => {
                for (member, target) in members {
                    let path = if path.is_empty() {
                        lower_first(member)
                    } else {
                        format!("{path}.{}", lower_first(member))
                    };
                    match object.get(member).filter(|inner| !inner.is_null()) {
                        Some(inner) => self.value(target, inner, &path)?,
                        None if required.contains(member) => {
                            self.fail(None, &Value::Null, &path, "Member must not be null");
                        }
                        None => {}
                    }
                }
            }
            (Kind::List(member), Value::Array(items)) => {
                self.count(shape, items.len(), value, path);
                let items: Vec<(String, &Value)> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| (format!("{path}.{}.member", i + 1), item))
                    .collect();
                self.elements(member, &items, shape, value, path, "Member")?;
            }
            (Kind::Map(key, member), Value::Object(map)) => {
                self.count(shape, map.len(), value, path);
                if let Some(key_shape) = self.model.shapes.get(key) {
                    let broken = map
                        .keys()
                        .any(|k| !broken(key_shape, &Value::String(k.clone())).is_empty());
                    if broken {
                        let rules = rules(key_shape).join(", ");
                        let rule = format!("Map keys must satisfy constraint: [{rules}]");
                        self.fail(Some(shape), value, path, &rule);
                    }
                }
                let items: Vec<(String, &Value)> = map
                    .iter()
                    .map(|(k, item)| (format!("{path}.{k}"), item))
                    .collect();
                self.elements(member, &items, shape, value, path, "Map value")?;
            }
            _ if shape.is_scalar() => {
                for rule in broken(shape, value) {
                    self.fail(Some(shape), value, path, &rule);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The elements of a list or the values of a map: scalars are checked together, as one
    /// "{what} must satisfy constraint: [...]" on the container; others one by one.
    fn elements(
        &mut self,
        member: &str,
        items: &[(String, &Value)],
        container: &Shape,
        value: &Value,
        path: &str,
        what: &str,
    ) -> Result<(), String> {
        let Some(shape) = self.model.shapes.get(member) else {
            return Ok(());
        };
        if !shape.is_scalar() {
            for (item_path, item) in items {
                if item.is_null() {
                    self.fail(None, item, item_path, "Member must not be null");
                } else {
                    self.value(member, item, item_path)?;
                }
            }
            return Ok(());
        }
        for (_, item) in items {
            type_error(&shape.kind, item).map_or(Ok(()), Err)?;
        }
        let broken = items
            .iter()
            .any(|(_, item)| item.is_null() || !broken(shape, item).is_empty());
        if broken {
            let rule = format!(
                "{what} must satisfy constraint: [{}]",
                rules(shape).join(", ")
            );
            self.fail(Some(container), value, path, &rule);
        }
        Ok(())
    }

    /// The element count of a list or a map against its shape's bounds.
    fn count(&mut self, shape: &Shape, count: usize, value: &Value, path: &str) {
        for rule in length_rules(shape, count as f64) {
            self.fail(Some(shape), value, path, &rule);
        }
    }

    fn fail(&mut self, shape: Option<&Shape>, value: &Value, path: &str, rule: &str) {
        let shown = match (value, shape) {
            (Value::Null, _) => "Value null".to_owned(),
            (_, Some(shape)) if shape.sensitive => "Value".to_owned(),
            _ => format!("Value '{}'", java_text(value)),
        };
        self.errors.push(format!(
            "{shown} at '{path}' failed to satisfy constraint: {rule}"
        ));
    }
}

/// `Member` as AWS names it in messages: `member`.
fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// A value as AWS's messages show it (Java's `toString`): `a`, `[a, b]`, `{k=v}`.
fn java_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(java_text).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", java_text(v)))
                .collect();
            format!("{{{}}}", pairs.join(", "))
        }
        other => other.to_string(),
    }
}

/// The deserializer's complaint when `value` is not of `kind`'s JSON type (null is "absent").
fn type_error(kind: &Kind, value: &Value) -> Option<String> {
    let found = match value {
        Value::Null => return None,
        Value::Bool(true) => "TRUE_VALUE",
        Value::Bool(false) => "FALSE_VALUE",
        Value::Number(n) if n.is_f64() => "DECIMAL_VALUE",
        Value::Number(_) => "NUMBER_VALUE",
        Value::String(_) => "STRING_VALUE",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    };
    let accepted = match kind {
        Kind::Document => true,
        Kind::Structure { .. } | Kind::Map(..) => found == "map",
        Kind::List(_) => found == "list",
        Kind::String => found == "STRING_VALUE",
        Kind::Boolean => matches!(found, "TRUE_VALUE" | "FALSE_VALUE"),
        Kind::Integer | Kind::Long => found == "NUMBER_VALUE",
        Kind::Float | Kind::Timestamp => matches!(found, "NUMBER_VALUE" | "DECIMAL_VALUE"),
        Kind::Blob => value.as_str().is_some_and(|text| {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .is_ok()
        }),
    };
    if accepted {
        return None;
    }
    let target = match kind {
        Kind::Structure { .. } => "structure",
        Kind::Map(..) => "map",
        Kind::List(_) => "list",
        Kind::String => "a String",
        Kind::Boolean => "a Boolean",
        Kind::Integer => "an Integer",
        Kind::Long => "a Long",
        Kind::Float => "a Double",
        Kind::Timestamp => "a Timestamp",
        Kind::Blob | Kind::Document => "a Blob",
    };
    Some(match found {
        "list" => "Start of list found where not expected".to_owned(),
        "map" => "Start of structure or map found where not expected.".to_owned(),
        _ if target.contains(' ') => format!("{found} can not be converted to {target}"),
        _ => format!("Expected {target} or null"),
    })
}

/// Every constraint of a scalar shape, in AWS's order and words.
fn rules(shape: &Shape) -> Vec<String> {
    let mut rules = Vec::new();
    let what = if matches!(shape.kind, Kind::String | Kind::Blob) {
        "length"
    } else {
        "value"
    };
    if let Some(max) = shape.max {
        rules.push(format!(
            "Member must have {what} less than or equal to {max}"
        ));
    }
    if let Some(min) = shape.min {
        rules.push(format!(
            "Member must have {what} greater than or equal to {min}"
        ));
    }
    if let Some((java, _)) = &shape.pattern {
        rules.push(format!(
            "Member must satisfy regular expression pattern: {java}"
        ));
    }
    if !shape.enumeration.is_empty() {
        let values = shape.enumeration.join(", ");
        rules.push(format!("Member must satisfy enum value set: [{values}]"));
    }
    rules
}

/// The constraints of a scalar shape that `value` (of the right type) breaks.
fn broken(shape: &Shape, value: &Value) -> Vec<String> {
    let mut broken = Vec::new();
    match (&shape.kind, value) {
        (Kind::String, Value::String(text)) => {
            broken.extend(length_rules(shape, text.chars().count() as f64));
            if let Some((java, Some(regex))) = &shape.pattern
                && !regex.is_match(text)
            {
                broken.push(format!(
                    "Member must satisfy regular expression pattern: {java}"
                ));
            }
            if !shape.enumeration.is_empty() && !shape.enumeration.contains(text) {
                let values = shape.enumeration.join(", ");
                broken.push(format!("Member must satisfy enum value set: [{values}]"));
            }
        }
        (Kind::Blob, Value::String(text)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_default();
            broken.extend(length_rules(shape, bytes.len() as f64));
        }
        (Kind::Integer | Kind::Long | Kind::Float, Value::Number(number)) => {
            let number = number.as_f64().unwrap_or_default();
            if let Some(max) = shape.max.filter(|&max| number > max) {
                broken.push(format!(
                    "Member must have value less than or equal to {max}"
                ));
            }
            if let Some(min) = shape.min.filter(|&min| number < min) {
                broken.push(format!(
                    "Member must have value greater than or equal to {min}"
                ));
            }
        }
        _ => {}
    }
    broken
}

/// A length (characters, bytes or elements) against the shape's bounds.
fn length_rules(shape: &Shape, length: f64) -> Vec<String> {
    let mut broken = Vec::new();
    if let Some(max) = shape.max.filter(|&max| length > max) {
        broken.push(format!(
            "Member must have length less than or equal to {max}"
        ));
    }
    if let Some(min) = shape.min.filter(|&min| length < min) {
        broken.push(format!(
            "Member must have length greater than or equal to {min}"
        ));
    }
    broken
}

#[cfg(test)]
mod tests;
