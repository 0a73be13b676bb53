//! JSON bodies from outside (clients on the socket, Cognito's answers): an empty body reads as
//! `{}`, and errors never quote the body, which may hold a password or a token.

use serde::de::DeserializeOwned;

/// Parses `body` (blank: `{}`).
pub fn from_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_slice(b"{}")
    } else {
        serde_json::from_slice(body)
    }
}

/// `error` as `"<what> ..."`. serde_json's own messages quote the offending value; only the
/// "missing field" ones (a field name and a position) are shown as they are.
pub fn describe_error(what: &str, error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.starts_with("missing field") {
        return format!("{what}: {text}");
    }
    let problem = match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            "is not valid JSON"
        }
        _ => "does not have the expected fields and types",
    };
    format!(
        "{what} {problem} (line {}, column {})",
        error.line(),
        error.column()
    )
}
