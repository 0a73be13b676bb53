//! `cognitoctl completions SHELL` and the hidden `cognitoctl man`: the shell completions and the
//! manual page `cognitoctl(1)`, made from the same clap definitions as `--help`, whatever
//! commands and options they hold.

use std::io::{self, Write};

use clap::{Command, Subcommand, ValueEnum};
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use crate::failure::exit;

#[derive(Debug, Subcommand)]
pub enum Manual {
    /// Print the completion script for SHELL (`source <(cognitoctl completions bash)` loads it
    /// into this bash).
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the manual page cognitoctl(1) as roff (`cognitoctl man | man -l -`).
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Prints what `what` asks for; `cmd` is cognitoctl's command line.
pub fn print(what: Manual, cmd: Command) -> anyhow::Result<u8> {
    let mut out = io::stdout().lock();
    match what {
        Manual::Completions { shell } => write_completions(shell, cmd, &mut out)?,
        Manual::Man => write_page(cmd, &mut out)?,
    }
    out.flush()?;
    Ok(exit::OK)
}

pub fn write_completions(shell: Shell, mut cmd: Command, out: &mut dyn Write) -> io::Result<()> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let name = cmd.get_name().to_owned();
    // The generators write with `write_all(...).expect(...)`: collect here, so a closed stdout
    // is an error to report rather than a panic.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut script);
    out.write_all(&script)
}

/// `cognitoctl(1)`: the synopsis, description and global options as clap_mangen renders them,
/// then each command (recursively) with its usage, description and own options, then a section
/// for each `Heading: ...` paragraph of the after-help text.
pub fn write_page(cmd: Command, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let name = cmd.get_name().to_owned();
    let man = Man::new(cmd.clone());
    // Written out: the roff crate cannot give the empty date its quotes.
    writeln!(
        out,
        ".TH {} 1 \"\" \"{name} {}\" \"User Commands\"",
        name.to_uppercase(),
        cmd.get_version().unwrap_or_default()
    )?;
    // No hyphenation and a ragged right margin: the page is full of names and options.
    writeln!(out, ".nh\n.ad l")?;
    let mut roff = Roff::new();
    roff.control("SH", ["NAME"]);
    roff.text([roman(summary(&cmd))]);
    roff.to_writer(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    roff.to_writer(out)?;
    for sub in visible_subcommands(&cmd) {
        write_command(sub, out)?;
    }
    if let Some(text) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        after_help_sections(&text.to_string()).to_writer(out)?;
    }
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("cognitod"),
        roman("(8), "),
        bold("cognitod.toml"),
        roman("(5)"),
    ]);
    roff.to_writer(out)?;
    man.render_version_section(out)
}

fn visible_subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands().filter(|sub| !sub.is_hide_set())
}

/// One command of the COMMANDS section, then its own subcommands.
fn write_command(cmd: &Command, out: &mut dyn Write) -> io::Result<()> {
    let path = cmd
        .get_bin_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned();
    let mut roff = Roff::new();
    roff.control("SS", [path.as_str()]);
    // The usage line of `--help`, without its "Usage: ".
    let usage = cmd.clone().render_usage().to_string();
    for line in usage.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let line = line.strip_prefix("Usage:").unwrap_or(line).trim_start();
        match line.strip_prefix(path.as_str()) {
            Some(rest) => roff.text([bold(path.as_str()), roman(rest)]),
            None => roff.text([roman(line)]),
        };
        roff.control("br", []);
    }
    if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
        roff.control("PP", []);
        for line in about.to_string().lines() {
            if line.trim().is_empty() {
                roff.control("PP", []);
            } else {
                roff.text([roman(line)]);
            }
        }
    }
    roff.to_writer(out)?;
    // Its own arguments, as clap_mangen renders options; the global ones are in OPTIONS.
    let own = cmd.clone().mut_args(|arg| {
        if arg.is_global_set() || arg.get_id() == "help" || arg.get_id() == "version" {
            arg.hide(true)
        } else {
            arg
        }
    });
    if own.get_arguments().any(|arg| !arg.is_hide_set()) {
        let mut options = Vec::new();
        Man::new(own).render_options_section(&mut options)?;
        let options = String::from_utf8_lossy(&options);
        for line in options.lines().filter(|line| !line.starts_with(".SH ")) {
            writeln!(out, "{line}")?;
        }
    }
    for sub in visible_subcommands(cmd) {
        write_command(sub, out)?;
    }
    Ok(())
}

/// The NAME line: `name - ` and the first sentence of `about`, without a leading `name: `.
fn summary(cmd: &Command) -> String {
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

/// The after-help text as manual sections: a paragraph that starts `Heading: text` becomes
/// section HEADING; one that is `Heading:` alone on its first line keeps its lines as they
/// are (examples); any other paragraph goes under NOTES.
fn after_help_sections(text: &str) -> Roff {
    let mut roff = Roff::new();
    let mut notes = false;
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let (first, rest) = paragraph.split_once('\n').unwrap_or((paragraph, ""));
        let heading = first.split_once(':').filter(|(heading, _)| {
            heading.split(' ').count() <= 3
                && heading.starts_with(|c: char| c.is_ascii_uppercase())
                && heading.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
        });
        match heading {
            Some((heading, after)) if after.trim().is_empty() => {
                roff.control("SH", [heading.to_uppercase().as_str()]);
                roff.control("nf", []);
                roff.control("RS", ["4"]);
                for line in rest.lines() {
                    roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
                }
                roff.control("RE", []);
                roff.control("fi", []);
                notes = false;
            }
            Some((heading, after)) => {
                roff.control("SH", [heading.to_uppercase().as_str()]);
                roff.text([roman(after.trim_start())]);
                for line in rest.lines() {
                    roff.text([roman(line)]);
                }
                notes = false;
            }
            None => {
                if notes {
                    roff.control("PP", []);
                } else {
                    roff.control("SH", ["NOTES"]);
                    notes = true;
                }
                for line in paragraph.lines() {
                    roff.text([roman(line)]);
                }
            }
        }
    }
    roff
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn cli() -> Command {
        crate::Cli::command()
    }

    fn page() -> String {
        let mut out = Vec::new();
        write_page(cli(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_page_has_every_visible_command_and_not_the_hidden_ones() {
        let page = page();
        assert!(
            page.starts_with(".TH COGNITOCTL 1 \"\" \"cognitoctl "),
            "{page}"
        );
        let mut cmd = cli();
        cmd.build();
        fn walk(cmd: &Command, page: &str) {
            for sub in cmd.get_subcommands().filter(|sub| sub.get_name() != "help") {
                let heading = format!(".SS \"{}\"\n", sub.get_bin_name().unwrap());
                assert_eq!(page.contains(&heading), !sub.is_hide_set(), "{heading}");
                walk(sub, page);
            }
        }
        walk(&cmd, &page);
        assert!(page.contains(".SH OPTIONS"), "the global options");
        assert!(page.contains(".SH COMMANDS"));
    }

    #[test]
    fn the_man_command_is_not_in_the_help() {
        let help = cli().render_long_help().to_string();
        assert!(help.contains("completions"), "{help}");
        assert!(
            !help.lines().any(|l| l.trim_start().starts_with("man ")),
            "{help}"
        );
    }

    #[test]
    fn after_help_paragraphs_become_sections() {
        let roff = after_help_sections(
            "The thing: it is\nthere.\n\nExamples:\n  tool run    runs\n\nA note.\n\nExit status: 0 ok.",
        )
        .to_roff();
        assert_eq!(
            roff,
            ".SH \"THE THING\"\nit is\nthere.\n.SH EXAMPLES\n.nf\n.RS 4\ntool run    runs\n.RE\n.fi\n\
             .SH NOTES\nA note.\n.SH \"EXIT STATUS\"\n0 ok.\n"
        );
    }

    #[test]
    fn every_shell_gets_a_script_naming_the_program() {
        for shell in Shell::value_variants() {
            let mut out = Vec::new();
            write_completions(*shell, cli(), &mut out).unwrap();
            let script = String::from_utf8(out).unwrap();
            assert!(
                script.contains("cognitoctl") && script.contains("login"),
                "{shell:?}"
            );
        }
    }
}
