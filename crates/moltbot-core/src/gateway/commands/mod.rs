//! Chat commands: `/help`, `/new` and `/reset`, `/status`, `/whoami`, answered by the gateway
//! before the agent.
//!
//! # The handler chain
//!
//! In the spirit of teloxide's dispatcher, a message passes a chain of handlers; the first that
//! takes it answers it and the rest never see it. Today the chain is (see
//! `Processor::process`):
//!
//! 1. **Before access control**: `/whoami` in a direct message. It reveals only the asker's own
//!    identity, which is what the bot's owner needs to let them in (`moltbot pair`,
//!    `allowFrom`), so it is answered to a sender the policy does not admit yet, without
//!    starting pairing (no code is spent). Under `dmPolicy: "disabled"` the bot says nothing in
//!    direct messages, `/whoami` included.
//! 2. **Access control** ([`super::admit`]): a sender the policy refuses gets exactly what any
//!    other message of theirs gets (a pairing code, or nothing), whatever command they write.
//! 3. **Commands** ([`COMMANDS`]): every command, for senders the policy admits (in a space,
//!    anyone the group policy admits, so anyone it admits may `/reset` the space's session).
//! 4. **The agent**: everything else, unknown `/words` included, as ordinary text.
//!
//! Before all of these, a card submission that is a poll vote is taken by the polls handler
//! ([`super::polls`]): a poll is open to every member of its room, so a vote passes no access
//! policy, and it is stored without a reply. Other card submissions go through the chain like
//! text (their readable line is never a command), so they reach the agent under the access
//! policy of the person who submitted. `/poll` itself is a command of step 3: it never bypasses
//! access control.
//!
//! # Recognising a command
//!
//! [`parse`] (see its docs for the exact rule): `/word` at the start of the text (after the
//! channel removed the bot's mention), the word compared without regard to ASCII case,
//! followed by whitespace or the end. `/help@name` is not a command: a chat network that needs
//! addressing uses mentions. Words after the command are its arguments; today's commands take
//! none and ignore them (`/reset please` resets). A channel turns commands off with
//! [`Channel::commands_enabled`](super::Channel::commands_enabled)
//! (`channels.<id>.commands.enabled`); every `/word` then goes to the agent.
//!
//! # Answers
//!
//! A command's answer is a notice the gateway writes (never agent output, so it skips the
//! channel's output hook, like the pairing reply): it is recorded in the outbox in the same
//! commit that moves the message to `processing` and sent exactly once like an agent's reply,
//! without calling the model. Neither the command nor its answer goes into the session's
//! history, so a `/help` between two questions is invisible to the agent; `/reset` empties the
//! session in that same commit ([`SessionAppend::clear`](crate::store::SessionAppend::clear)),
//! leaving no turn behind, and the agent's next request has no history.

mod parse;
mod run;
mod text;

pub(crate) use parse::parse;

/// A chat command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Command {
    /// `/help`: what the bot does here, and the commands.
    Help,
    /// `/new` or `/reset`: empty the session of this direct chat or space.
    Reset,
    /// `/status`: the agent's model, the channel's receive mode, the session's length, and
    /// the asker's access.
    Status,
    /// `/whoami`: the asker's person id and email.
    Whoami,
    /// `/poll "Question?" A | B | C`: post a poll card in this conversation (see
    /// [`super::polls`]).
    Poll,
}

/// One chat command: its names and what `/help` says of it.
#[derive(Debug)]
pub(crate) struct Spec {
    /// The command.
    pub(crate) command: Command,
    /// Its names without the `/`, lowercase; the first is the one `/help` shows first.
    pub(crate) names: &'static [&'static str],
    /// One line for `/help`.
    pub(crate) summary: &'static str,
}

/// Every command, in the order `/help` lists them.
pub(crate) const COMMANDS: &[Spec] = &[
    Spec {
        command: Command::Help,
        names: &["help"],
        summary: "what I do here, and these commands",
    },
    Spec {
        command: Command::Reset,
        names: &["new", "reset"],
        summary: "start a fresh conversation: I forget what was said before (in a space, for \
                  everyone in it)",
    },
    Spec {
        command: Command::Status,
        names: &["status"],
        summary: "the model I use, how I receive messages, how long this conversation is, and \
                  your access",
    },
    Spec {
        command: Command::Poll,
        names: &["poll"],
        summary: "`/poll \"Question?\" A | B | C` posts a poll everyone here can vote in; \
                  the owner closes it with `moltbot poll close`",
    },
    Spec {
        command: Command::Whoami,
        names: &["whoami"],
        summary: "your person id and email: what the owner of this bot needs to let you in",
    },
];

impl Command {
    /// Whether the command is answered to a sender the access policy does not admit, in a
    /// direct message (step 1 of the chain in the [module docs](self)).
    pub(crate) fn answered_before_access(self) -> bool {
        self == Command::Whoami
    }
}
