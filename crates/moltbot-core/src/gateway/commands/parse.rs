//! Recognising a chat command at the start of a message.

use super::{Command, COMMANDS};

/// Longest command word looked at (longer words are never commands).
const MAX_WORD: usize = 32;

/// A command found at the start of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invocation<'a> {
    /// Which command.
    pub(crate) command: Command,
    /// The rest of the message after the command word and the whitespace after it (empty when
    /// there is none). Today's commands take no arguments and ignore it.
    pub(crate) args: &'a str,
}

/// The command `text` starts with, if any.
///
/// A command is `/` immediately followed by a known command name (ASCII letters, digits and
/// `_`, compared without regard to ASCII case), then whitespace or the end of the text;
/// whitespace before the `/` is allowed (what is left after the channel removed the bot's
/// mention). Everything else is not a command and goes to the agent unchanged: `/` alone,
/// `/ help`, `//x`, `/help?`, `/usr/bin`, a URL, a slash later in the text, an unknown word
/// (`/weather`), and `/help@name` (the bot is addressed by a mention, not by a suffix).
pub(crate) fn parse(text: &str) -> Option<Invocation<'_>> {
    let rest = text.trim_start().strip_prefix('/')?;
    let word_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let (word, after) = rest.split_at(word_end);
    if word.is_empty() || word.len() > MAX_WORD {
        return None;
    }
    if !after.chars().next().is_none_or(char::is_whitespace) {
        return None;
    }
    let spec = COMMANDS
        .iter()
        .find(|spec| spec.names.iter().any(|n| n.eq_ignore_ascii_case(word)))?;
    Some(Invocation {
        command: spec.command,
        args: after.trim(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(text: &str) -> Option<Command> {
        parse(text).map(|i| i.command)
    }

    #[test]
    fn every_name_is_recognised_in_any_ascii_case() {
        for spec in COMMANDS {
            for name in spec.names {
                assert_eq!(command(&format!("/{name}")), Some(spec.command));
                assert_eq!(
                    command(&format!("/{}", name.to_ascii_uppercase())),
                    Some(spec.command)
                );
            }
        }
        assert_eq!(command("/HELP"), Some(Command::Help));
        assert_eq!(command("/Reset"), Some(Command::Reset));
        assert_eq!(command("/new"), Some(Command::Reset));
        assert_eq!(command("/WhoAmI"), Some(Command::Whoami));
        assert_eq!(command("/status"), Some(Command::Status));
    }

    #[test]
    fn words_after_the_command_are_its_arguments() {
        let help = parse("/help extra words").unwrap();
        assert_eq!(help.command, Command::Help);
        assert_eq!(help.args, "extra words");
        assert_eq!(parse("/help").unwrap().args, "");
        assert_eq!(parse("/reset   \n  please  ").unwrap().args, "please");
        assert_eq!(
            parse("/status\nmore lines\nhere").unwrap().args,
            "more lines\nhere"
        );
        assert_eq!(parse("/help\t").unwrap().args, "");
    }

    #[test]
    fn whitespace_before_the_slash_is_allowed() {
        assert_eq!(command("  /help"), Some(Command::Help));
        assert_eq!(command("\n/reset"), Some(Command::Reset));
    }

    #[test]
    fn a_slash_that_does_not_start_a_known_word_is_text() {
        for text in [
            "/",
            "/ ",
            "/ help",
            "//x",
            "//help",
            "/help?",
            "/help.",
            "/help/me",
            "/help@molty",
            "/helpme",
            "/weather in Paris",
            "/usr/bin/env is missing",
            "what is 3/4?",
            "please /help",
            "see https://example.com/help",
            "https://example.com/reset",
            "\\/help",
            "",
            "   ",
            "help",
            "/ｈｅｌｐ",
            "/hélp",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn very_long_words_and_odd_characters_never_panic() {
        let long = format!("/{}", "h".repeat(10_000));
        assert_eq!(parse(&long), None);
        assert_eq!(parse("/\u{1F600}"), None);
        assert_eq!(parse("/help\u{1F600}"), None);
        assert_eq!(parse("/help \u{1F600}").unwrap().args, "\u{1F600}");
        assert_eq!(parse("/help\u{00A0}x").unwrap().args, "x");
    }
}
