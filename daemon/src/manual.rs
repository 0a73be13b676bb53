//! The daemon's manual pages, made from what they document: `cognitod(8)` from the command
//! line's clap definition (what `--help` shows), `cognitod.toml(5)` from the table of config
//! keys in [`crate::config::keys`]. `cognitod --man` and `cognitod --man-config` print them.

use std::io::{self, Write};

use clap_mangen::Man;
use clap_mangen::roff::{Inline, Roff, bold, italic, roman};

use crate::config::keys::{KEYS, SECTIONS};

/// The source named in the pages' title line.
const SOURCE: &str = concat!("cognitod ", env!("CARGO_PKG_VERSION"));

/// `cognitod(8)` from `cmd`, the daemon's command line (its hidden arguments left out).
pub fn write_daemon_page(cmd: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    let man = Man::new(cmd.clone());
    title(out, "COGNITOD", "8", "System Manager's Manual")?;
    name_section(&summary(&cmd)).to_writer(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    let mut roff = Roff::new();
    roff.control("PP", []);
    roff.text([
        roman(
            "It keeps one Amazon Cognito sign-in fresh, refreshing the tokens ahead of their \
             expiry, and serves it on a Unix socket: programs get the signed-in user, the tokens \
             and AWS credentials from it through ",
        ),
        bold("cognitoctl"),
        roman("(1), the client library or plain HTTP, and one refresh serves them all."),
    ]);
    roff.to_writer(out)?;
    man.render_options_section(out)?;

    let mut roff = Roff::new();
    roff.control("SH", ["CONFIGURATION"]);
    roff.text([
        roman("A TOML file, described in "),
        bold("cognitod.toml"),
        roman("(5): from "),
        bold("--config"),
        roman(", else the profile's ("),
        bold("--profile"),
        roman(" NAME or "),
        bold("$COGNITOD_PROFILE"),
        roman(": "),
        italic("$XDG_CONFIG_HOME/cognitod/profiles/NAME.toml"),
        roman(", with its own socket and state directory), else "),
        bold("$COGNITOD_CONFIG"),
        roman(", else "),
        italic("$XDG_CONFIG_HOME/cognitod/config.toml"),
        roman(". "),
        bold("--check-config"),
        roman(" checks it as the daemon does at start and prints the effective configuration."),
    ]);
    roff.control("SH", ["SIGNALS"]);
    items(
        &mut roff,
        &[
            (
                "SIGHUP",
                "Reload the configuration: log_level, allowed_uids, the endpoints and issuer \
                 change at once; other changes are named in a warning and take a restart. A \
                 configuration that does not validate is refused and the old one kept.",
            ),
            (
                "SIGTERM, SIGINT",
                "Stop: the session stays in the state directory (unless persist = false).",
            ),
        ],
    );
    roff.control("SH", ["ENVIRONMENT"]);
    items(
        &mut roff,
        &[
            (
                "COGNITOD_PROFILE",
                "The profile, unless --profile names one: its config, socket and state paths.",
            ),
            (
                "COGNITOD_CONFIG",
                "The config file of the unnamed profile, unless --config names one.",
            ),
            (
                "XDG_CONFIG_HOME, XDG_RUNTIME_DIR, XDG_STATE_HOME",
                "The default config file, socket and state directory.",
            ),
            (
                "STATE_DIRECTORY, RUNTIME_DIRECTORY",
                "Set by systemd: the state directory, and where runtime files such as the \
                 container endpoint's token go.",
            ),
            (
                "LISTEN_FDS, NOTIFY_SOCKET, WATCHDOG_USEC",
                "Set by systemd: socket activation, readiness and status, the watchdog.",
            ),
            (
                "RUST_LOG",
                "The log level, over the config's log_level (--log-level wins over both).",
            ),
            (
                "JOURNAL_STREAM",
                "Set under journald: log lines carry no timestamp.",
            ),
        ],
    );
    roff.control("SH", ["FILES"]);
    items(
        &mut roff,
        &[
            (
                "~/.config/cognitod/config.toml",
                "A user's configuration (/etc/cognitod/config.toml for the system service).",
            ),
            (
                "$XDG_RUNTIME_DIR/cognitod/socket",
                "A user's socket (/run/cognitod/socket for the system service).",
            ),
            (
                "~/.local/state/cognitod",
                "A user's state directory, with the session (/var/lib/cognitod for the system \
                 service).",
            ),
            (
                "~/.config/cognitod/profiles/NAME.toml",
                "Profile NAME's configuration (/etc/cognitod/profiles/NAME.toml for the \
                 system service); its socket is $XDG_RUNTIME_DIR/cognitod/profiles/NAME/socket \
                 (/run/cognitod/profiles/NAME/socket) and its state \
                 ~/.local/state/cognitod/profiles/NAME (/var/lib/cognitod/profiles/NAME).",
            ),
        ],
    );
    roff.control("SH", ["EXIT STATUS"]);
    items(
        &mut roff,
        &[
            (
                "0",
                "Stopped by a signal, or --check-config found nothing wrong.",
            ),
            ("1", "The daemon could not start or serve."),
            (
                "2",
                "The configuration or a command-line argument is invalid.",
            ),
        ],
    );
    see_also(&mut roff, &[("cognitoctl", "1"), ("cognitod.toml", "5")]);
    roff.to_writer(out)?;
    man.render_version_section(out)
}

/// `cognitod.toml(5)`: every key of [`KEYS`], by section.
pub fn write_config_page(out: &mut dyn Write) -> io::Result<()> {
    title(out, "COGNITOD.TOML", "5", "File Formats Manual")?;
    let mut roff = Roff::new();
    roff.control("SH", ["NAME"]);
    roff.text([roman("cognitod.toml - the configuration file of cognitod")]);
    roff.control("SH", ["SYNOPSIS"]);
    roff.text([italic("$XDG_CONFIG_HOME/cognitod/config.toml")]);
    roff.control("br", []);
    roff.text([italic("/etc/cognitod/config.toml")]);
    roff.control("br", []);
    roff.text([italic("$XDG_CONFIG_HOME/cognitod/profiles/NAME.toml")]);
    roff.control("SH", ["DESCRIPTION"]);
    roff.text([
        bold("cognitod"),
        roman(
            "(8) reads its configuration from a TOML file: the one --config names, else \
             $COGNITOD_CONFIG, else $XDG_CONFIG_HOME/cognitod/config.toml \
             (~/.config/cognitod/config.toml); profile NAME's is \
             $XDG_CONFIG_HOME/cognitod/profiles/NAME.toml (/etc/cognitod/profiles/NAME.toml for \
             the system service); the system service is given /etc/cognitod/config.toml. Unknown keys are errors, naming the nearest known key. \
             Relative paths are taken from the file's folder.",
        ),
    ]);
    roff.control("PP", []);
    roff.text([
        bold("cognitod --check-config"),
        roman(
            " checks the file as the daemon does at start and prints the effective \
             configuration, the client secret redacted. A reload (SIGHUP) applies log_level, \
             allowed_uids, the endpoints and issuer; other changes take a restart.",
        ),
    ]);
    for (section, about) in SECTIONS {
        let title = if section.is_empty() {
            "TOP-LEVEL KEYS".to_owned()
        } else {
            // As it is written in the file.
            format!("[{section}]")
        };
        roff.control("SH", [title.as_str()]);
        roff.text([roman(*about)]);
        for key in KEYS.iter().filter(|k| k.section == *section) {
            roff.control("TP", []);
            roff.text([bold(key.name), roman(" = "), italic(key.kind)]);
            roff.text([roman(key.about)]);
            roff.control("br", []);
            let default = match key.default.strip_prefix("required") {
                Some(rest) => format!("Required{rest}."),
                None => format!("Default: {}.", key.default),
            };
            roff.text([roman(default)]);
        }
    }
    roff.control("SH", ["EXAMPLE"]);
    roff.control("nf", []);
    roff.control("RS", ["4"]);
    for line in EXAMPLE.lines() {
        roff.text([roman(line)]);
    }
    roff.control("RE", []);
    roff.control("fi", []);
    see_also(&mut roff, &[("cognitod", "8"), ("cognitoctl", "1")]);
    roff.to_writer(out)
}

/// The example `cognitod.toml(5)` shows (the tests check that it is a valid configuration).
pub const EXAMPLE: &str = r#"user_pool_id = "eu-west-1_AbCdEf123"
user_pool_client_id = "1example23456789"
identity_pool_id = "eu-west-1:0a1b2c3d-0000-4000-8000-0123456789ab"

[daemon]
allowed_uids = [1001]

[ecs]
enabled = true

[oauth]
domain = "example.auth.eu-west-1.amazoncognito.com"
redirect_uri = "http://localhost:8976/callback"
"#;

/// The title line, written out (the roff crate cannot give the empty date its quotes), then
/// no hyphenation and a ragged right margin: the pages are full of names and paths.
fn title(out: &mut dyn Write, name: &str, section: &str, manual: &str) -> io::Result<()> {
    writeln!(out, ".TH {name} {section} \"\" \"{SOURCE}\" \"{manual}\"")?;
    writeln!(out, ".nh\n.ad l")
}

/// The command's one-line summary: its `about` up to the first sentence's end, without a
/// leading `name:`.
fn summary(cmd: &clap::Command) -> String {
    let about = cmd
        .get_about()
        .or_else(|| cmd.get_long_about())
        .map(ToString::to_string)
        .unwrap_or_default();
    let about = about
        .strip_prefix(&format!("{}: ", cmd.get_name()))
        .unwrap_or(&about);
    let first = about.split(". ").next().unwrap_or(about);
    format!("{} - {}", cmd.get_name(), first.trim_end_matches('.'))
}

fn name_section(line: &str) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["NAME"]);
    roff.text([roman(line)]);
    roff
}

/// A list of terms, each with its text.
fn items(roff: &mut Roff, items: &[(&str, &str)]) {
    for (term, text) in items {
        roff.control("TP", []);
        roff.text([bold(*term)]);
        roff.text([roman(*text)]);
    }
}

fn see_also(roff: &mut Roff, pages: &[(&str, &str)]) {
    roff.control("SH", ["SEE ALSO"]);
    let mut line: Vec<Inline> = Vec::new();
    for (index, (page, section)) in pages.iter().enumerate() {
        if index > 0 {
            line.push(roman(", "));
        }
        line.push(bold(*page));
        line.push(roman(format!("({section})")));
    }
    roff.text(line);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::paths::Environment;

    fn page() -> String {
        let mut out = Vec::new();
        write_config_page(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_config_page_has_every_key_and_section() {
        let page = page();
        assert!(
            page.starts_with(".TH COGNITOD.TOML 5 \"\" \"cognitod "),
            "{page}"
        );
        for key in KEYS {
            assert!(
                page.contains(&format!("\\fB{}\\fR", key.name.replace('-', "\\-"))),
                "{} is on the page",
                key.name
            );
        }
        for (section, _) in SECTIONS.iter().filter(|(s, _)| !s.is_empty()) {
            assert!(page.contains(&format!(".SH [{section}]")), "[{section}]");
        }
    }

    #[test]
    fn the_example_is_a_valid_configuration() {
        let config = Config::parse(
            EXAMPLE,
            Path::new("/etc/cognitod/config.toml"),
            &Environment::default(),
        )
        .unwrap();
        assert!(config.ecs.enabled && config.oauth.is_some());
    }

    #[test]
    fn the_summary_is_the_first_sentence_without_the_name() {
        let cmd = clap::Command::new("tool").about("tool: does one thing. And more.");
        assert_eq!(summary(&cmd), "tool - does one thing");
    }
}
