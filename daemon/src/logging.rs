//! Log filters: a level (`info`) or `tracing` directives (`cognitod=debug,hyper=info`), with
//! level names taken in any case and a mistyped one refused, never read as a target name
//! (which would turn logging off without a word).

/// The level names a filter may use.
pub const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `text` as a filter `tracing_subscriber::EnvFilter` reads the way it was meant: each
/// directive is a level, or `target=level` (`target[span{field}]=level` too); level names in
/// any case. An unknown level is refused with the list.
pub fn parse_filter(text: &str) -> Result<String, String> {
    let mut directives = Vec::new();
    for directive in text.split(',').map(str::trim) {
        if directive.is_empty() {
            continue;
        }
        let (target, level) = match directive.rsplit_once('=') {
            Some((target, level)) if !target.is_empty() => (Some(target), level),
            _ => (None, directive),
        };
        let level = level.trim().to_ascii_lowercase();
        if !LEVELS.contains(&level.as_str()) {
            return Err(format!(
                "{:?} is not a log level; use one of {}, or TARGET=LEVEL",
                level_text(directive, target),
                LEVELS.join(", ")
            ));
        }
        directives.push(match target {
            Some(target) => format!("{target}={level}"),
            None => level,
        });
    }
    if directives.is_empty() {
        return Err(format!(
            "the log level is empty; use one of {}",
            LEVELS.join(", ")
        ));
    }
    let filter = directives.join(",");
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| format!("{text:?}: {e}"))?;
    Ok(filter)
}

/// The level part of `directive`, for the message.
fn level_text<'a>(directive: &'a str, target: Option<&str>) -> &'a str {
    match target {
        Some(target) => &directive[target.len() + 1..],
        None => directive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_are_taken_in_any_case() {
        assert_eq!(parse_filter("Info").unwrap(), "info");
        assert_eq!(parse_filter("DEBUG").unwrap(), "debug");
        assert_eq!(
            parse_filter("cognitod=Trace, hyper=warn").unwrap(),
            "cognitod=trace,hyper=warn"
        );
    }

    #[test]
    fn mistyped_levels_are_refused_with_the_list() {
        for text in ["debg", "loud", "cognitod=verbose", "", " , "] {
            let error = parse_filter(text).unwrap_err();
            assert!(
                error.contains("off, error, warn, info, debug, trace"),
                "{error}"
            );
        }
        assert!(parse_filter("debg").unwrap_err().contains("\"debg\""));
        assert!(
            parse_filter("cognitod=verbose")
                .unwrap_err()
                .contains("\"verbose\"")
        );
    }
}
