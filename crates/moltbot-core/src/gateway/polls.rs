//! Polls: a card with one choice list, a vote per person (changeable until the poll closes), and
//! the tally posted in the poll's room when it closes.
//!
//! - **The card** ([`card`]): an Adaptive Card with the question, one `Input.ChoiceSet`
//!   ([`CHOICE_INPUT`], values `"1"`..`"n"`, several comma-separated when `multiple`) and one
//!   `Action.Submit` whose `data` carries the poll's id ([`POLL_MARKER`]). A network merges the
//!   submit data into the submitted inputs. The message carrying the card is stored with the
//!   poll (`moltbot poll create` posts it first; a `/poll` answer records it as it is posted).
//! - **Votes** are submissions of a poll's card message, never identified by their data alone
//!   (a client can submit any data): one whose data names another poll, or naming a poll on
//!   another card, is dropped with its reason. Votes are taken before the agent and before
//!   access control: a poll is open to every member of its room, and only submissions made in
//!   the poll's room count. A vote is stored
//!   silently (no message: a room of voters would otherwise fill with acknowledgements); voting
//!   again replaces the person's vote. Votes on a closed or unknown poll, or naming no valid
//!   option, are recorded as skipped with their reason.
//! - **Closing**: `moltbot poll close` (another process) or the close time (`--closes-in`,
//!   stored) closes a poll in the store; the leader's closer ([`run`], with the approval DMs)
//!   closes due polls and posts the tally of every closed poll not announced yet, so a poll
//!   closed while no gateway runs is announced when one starts. The tally is posted before it is
//!   marked posted: a crash between the two posts it again (the reply duplicate window).
//! - `/poll "Question?" A | B | C` in chat is a command (see [`super::commands`]): it is
//!   answered only to a sender the access policy admits, and the card is the command's answer.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::error::chain;
use crate::store::{InboundState, NewPoll, Poll, PollVote, VoteOutcome};

use super::channel::{InboundMessage, OutgoingMessage, SendTarget};
use super::runtime::Processor;

/// The key of the submit data that marks a card submission as a vote: `{"moltbotPoll": id}`.
pub const POLL_MARKER: &str = "moltbotPoll";

/// The id of the poll card's choice list.
pub const CHOICE_INPUT: &str = "moltbotChoice";

/// Most options a poll may have (a card's choice list stays readable).
pub const MAX_OPTIONS: usize = 20;

/// The skip reasons of votes not counted (stable phrases: they are recorded and counted).
const UNKNOWN_POLL: &str = "vote for an unknown poll";
const CLOSED_POLL: &str = "vote after the poll closed";
const OTHER_ROOM: &str = "vote from outside the poll's room";
const NO_CHOICE: &str = "vote without a valid choice";
const NOT_POLL_CARD: &str = "vote submitted on a card that is not the poll's";
const OTHER_POLL: &str = "vote naming another poll than its card's";

/// Why a poll cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// No question.
    #[error("the poll needs a question")]
    NoQuestion,
    /// Fewer than two options.
    #[error("a poll needs at least two options")]
    TooFewOptions,
    /// More than [`MAX_OPTIONS`].
    #[error("a poll takes at most {MAX_OPTIONS} options")]
    TooManyOptions,
    /// The same option twice (compared ignoring case: voters could not tell them apart).
    #[error("the option {0:?} is given twice (options are compared ignoring case)")]
    DuplicateOption(String),
    /// An empty (or all-space) option, by its 1-based position.
    #[error("option {0} is blank")]
    BlankOption(usize),
}

/// `text` without the white space and invisible format characters (zero-width space and
/// joiners, word joiner, byte-order mark, soft hyphen) at either end: an option made only of
/// them would show as nothing on the card.
fn trim_invisible(text: &str) -> &str {
    text.trim_matches(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
            )
    })
}

/// Checks a poll's question and options (trimmed, none blank, at least two, at most
/// [`MAX_OPTIONS`], no option twice ignoring case); returns them trimmed.
///
/// # Errors
/// What is wrong, as a [`PollError`].
pub fn check(question: &str, options: &[String]) -> Result<(String, Vec<String>), PollError> {
    let question = trim_invisible(question);
    if question.is_empty() {
        return Err(PollError::NoQuestion);
    }
    let options: Vec<String> = options
        .iter()
        .map(|o| trim_invisible(o).to_string())
        .collect();
    if let Some(blank) = options.iter().position(String::is_empty) {
        return Err(PollError::BlankOption(blank + 1));
    }
    if options.len() < 2 {
        return Err(PollError::TooFewOptions);
    }
    if options.len() > MAX_OPTIONS {
        return Err(PollError::TooManyOptions);
    }
    let folded: Vec<String> = options.iter().map(|o| o.to_lowercase()).collect();
    for (i, option) in folded.iter().enumerate() {
        if folded[..i].contains(option) {
            return Err(PollError::DuplicateOption(options[i].clone()));
        }
    }
    Ok((question.to_string(), options))
}

/// A new random poll id: `p` and 9 lowercase letters or digits.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut id = String::from("p");
    for _ in 0..9 {
        let i = rand::random::<u32>() as usize % ALPHABET.len();
        id.push(char::from(ALPHABET[i]));
    }
    id
}

/// The poll id of a `/poll` command in message `message_id` of `channel`: derived from the
/// message (64-bit FNV-1a), so answering the command again after a crash makes the same poll.
pub fn id_for_message(channel: &str, message_id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in channel.bytes().chain([0]).chain(message_id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("p{hash:016x}")
}

/// The poll card (an Adaptive Card 1.3): the question, the options as one choice list
/// (expanded radio buttons, or check boxes when `multiple`), and a Vote button whose submit
/// data carries `{"moltbotPoll": id}`.
pub fn card(id: &str, question: &str, options: &[String], multiple: bool) -> Value {
    let choices: Vec<Value> = options
        .iter()
        .enumerate()
        .map(|(i, option)| json!({ "title": option, "value": (i + 1).to_string() }))
        .collect();
    let hint = if multiple {
        "Pick one or more. You can change your vote until the poll closes."
    } else {
        "Pick one. You can change your vote until the poll closes."
    };
    json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.3",
        "body": [
            { "type": "TextBlock", "text": question, "weight": "Bolder", "size": "Medium", "wrap": true },
            { "type": "Input.ChoiceSet", "id": CHOICE_INPUT, "style": "expanded",
              "isMultiSelect": multiple, "choices": choices },
            { "type": "TextBlock", "text": hint, "isSubtle": true, "wrap": true, "size": "Small" }
        ],
        "actions": [
            { "type": "Action.Submit", "title": "Vote", "data": { POLL_MARKER: id } }
        ]
    })
}

/// The text shown with the card of poll `id` (and by clients that cannot show cards): the
/// question, the numbered options and how to close it, e.g.
///
/// ```text
/// Poll: Lunch?
/// 1. Pizza
/// 2. Sushi
///
/// Close it with `moltbot poll close p3k9x2m7qa`.
/// ```
pub fn fallback_text(id: &str, question: &str, options: &[String]) -> String {
    let listed: Vec<String> = options
        .iter()
        .enumerate()
        .map(|(i, o)| format!("{}. {o}", i + 1))
        .collect();
    format!(
        "Poll: {question}\n{}\n\nClose it with `moltbot poll close {id}`.",
        listed.join("\n")
    )
}

/// The poll a card submission votes in, if it is a vote (its inputs carry [`POLL_MARKER`]).
pub fn poll_of(message: &InboundMessage) -> Option<&str> {
    message.card.as_ref()?.inputs.get(POLL_MARKER)?.as_str()
}

/// The options (0-based indices, ascending, no repeats) a vote's inputs name for a poll of
/// `options` options; `None` when it names none that exists, or several when `multiple` is
/// off.
pub fn choices_of(inputs: &Value, options: usize, multiple: bool) -> Option<Vec<u32>> {
    let raw = inputs.get(CHOICE_INPUT)?.as_str()?;
    let mut picked: Vec<u32> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let n: usize = part.parse().ok()?;
        if n == 0 || n > options {
            return None;
        }
        picked.push(u32::try_from(n - 1).ok()?);
    }
    picked.sort_unstable();
    picked.dedup();
    if picked.is_empty() || (!multiple && picked.len() > 1) {
        return None;
    }
    Some(picked)
}

/// The counted votes of a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Each option with its number of votes, in the poll's order.
    pub counts: Vec<(String, u64)>,
    /// How many people's votes were counted.
    pub voters: u64,
}

/// Counts `votes` of `poll` (a choice outside the options is ignored).
pub fn tally(poll: &Poll, votes: &[PollVote]) -> Tally {
    let mut counts: Vec<(String, u64)> = poll.options.iter().map(|o| (o.clone(), 0)).collect();
    for vote in votes {
        for choice in &vote.choices {
            if let Some(entry) = usize::try_from(*choice)
                .ok()
                .and_then(|i| counts.get_mut(i))
            {
                entry.1 += 1;
            }
        }
    }
    Tally {
        counts,
        voters: u64::try_from(votes.len()).unwrap_or(u64::MAX),
    }
}

/// The message posted when `poll` closes: the question, each option with its votes, and how
/// many votes were counted, e.g.
///
/// ```text
/// **Poll closed:** Lunch?
/// - Pizza: 2
/// - Sushi: 1
///
/// 3 votes counted.
/// ```
pub fn tally_text(poll: &Poll, tally: &Tally) -> String {
    let mut text = format!("**Poll closed:** {}\n", poll.question);
    for (option, count) in &tally.counts {
        text.push_str(&format!("- {option}: {count}\n"));
    }
    let noun = if tally.voters == 1 { "vote" } else { "votes" };
    text.push_str(&format!("\n{} {noun} counted.", tally.voters));
    text
}

/// Parses the arguments of `/poll`: `"Question?" A | B | C` (the question in straight or
/// curly double quotes, then the options separated by `|`).
///
/// # Errors
/// The usage line, or what is wrong with the poll.
pub fn parse_command(args: &str) -> Result<(String, Vec<String>), String> {
    const USAGE: &str = "Usage: `/poll \"Question?\" A | B | C`";
    let args = args.trim();
    let rest = args
        .strip_prefix('"')
        .or_else(|| args.strip_prefix('\u{201c}'))
        .ok_or_else(|| USAGE.to_string())?;
    let end = rest
        .find(['"', '\u{201d}'])
        .ok_or_else(|| USAGE.to_string())?;
    let question = &rest[..end];
    let closing = rest[end..].chars().next().map_or(1, char::len_utf8);
    let options: Vec<String> = rest[end + closing..]
        .split('|')
        .map(str::to_string)
        .collect();
    check(question, &options).map_err(|err| format!("{err}. {USAGE}"))
}

impl Processor {
    /// Takes a card submission that is a vote: records it (or records why it is not counted)
    /// and finishes the message without a reply. Returns `false` when `message` is not a
    /// vote (it then goes on through the chain).
    ///
    /// A submission is a vote when its card is a poll's card (the message stored as the
    /// poll's card): it counts for that poll, whatever its submit data says (a client can
    /// send any data). A submission whose data names a poll ([`POLL_MARKER`]) on any other
    /// card is dropped with its reason, never passed to the agent; so is one whose data names
    /// another poll than its card's.
    pub(crate) async fn take_vote(&self, message: &InboundMessage) -> bool {
        let Some(submission) = message.card.as_ref() else {
            return false;
        };
        let claimed = poll_of(message);
        let card_poll = match self
            .store
            .polls()
            .poll_by_card_message(self.id(), &submission.card_message_id)
            .await
        {
            Ok(poll) => poll,
            Err(err) => {
                tracing::error!(channel = self.id(), message_id = %message.id, error = %err, "could not look up the poll of a card submission; it is retried by the re-drive task");
                self.strand(&message.id);
                return true;
            }
        };
        let (outcome, poll_id) = match (card_poll, claimed) {
            (None, None) => return false,
            (None, Some(claimed)) => (Ok(Some(NOT_POLL_CARD)), claimed.to_string()),
            (Some(poll), Some(claimed)) if claimed != poll.id => {
                (Ok(Some(OTHER_POLL)), claimed.to_string())
            }
            (Some(poll), _) => {
                let outcome = self.record_vote(message, &poll).await;
                (outcome, poll.id)
            }
        };
        match outcome {
            Ok(None) => {
                self.finish_id(&message.id, InboundState::Replied, None)
                    .await;
            }
            Ok(Some(reason)) => {
                self.metrics
                    .dropped(super::metrics::Dropped::Skipped(reason));
                tracing::info!(channel = self.id(), message_id = %message.id, poll = %poll_id, card_message_id = %submission.card_message_id, room = %message.room_id, reason, "vote not counted");
                self.finish_id(&message.id, InboundState::Skipped, Some(reason))
                    .await;
            }
            Err(err) => {
                tracing::error!(channel = self.id(), message_id = %message.id, error = %err, "could not record a vote; it is retried by the re-drive task");
                self.strand(&message.id);
            }
        }
        true
    }

    /// Stores the vote of `message` in `poll` (the poll of the submitted card);
    /// `Ok(Some(reason))` when it does not count.
    async fn record_vote(
        &self,
        message: &InboundMessage,
        poll: &Poll,
    ) -> Result<Option<&'static str>, crate::store::StoreError> {
        if poll.room_id != message.room_id {
            return Ok(Some(OTHER_ROOM));
        }
        let inputs = message.card.as_ref().map(|c| &c.inputs);
        let Some(choices) = inputs.and_then(|i| choices_of(i, poll.options.len(), poll.multiple))
        else {
            return Ok(Some(NO_CHOICE));
        };
        Ok(
            match self
                .store
                .polls()
                .vote(&poll.id, &message.sender.id, &choices)
                .await?
            {
                VoteOutcome::Recorded | VoteOutcome::Changed => {
                    tracing::info!(channel = self.id(), message_id = %message.id, poll = %poll.id, "vote recorded");
                    None
                }
                VoteOutcome::UnknownPoll => Some(UNKNOWN_POLL),
                _ => Some(CLOSED_POLL),
            },
        )
    }

    /// After card part `part` of a reply was posted as message `remote_id`: when the reply
    /// answers a `/poll` command (the poll [`id_for_message`] of its message exists), records
    /// that message as the poll's card, so its submissions count as votes. Called before the
    /// part is marked sent: a crash in between posts the card again and records the new one.
    pub(crate) async fn note_poll_card(
        &self,
        part: &crate::store::OutboxEntry,
        remote_id: &str,
    ) -> Result<(), crate::store::StoreError> {
        let Some(inbound) = part.inbound_message_id.as_deref() else {
            return Ok(());
        };
        let id = id_for_message(self.id(), inbound);
        let polls = self.store.polls();
        if polls.poll(&id).await?.is_some() {
            polls.set_card_message(&id, remote_id).await?;
            tracing::info!(channel = self.id(), poll = %id, card_message_id = %remote_id, "poll card posted");
        }
        Ok(())
    }

    /// The poll a `/poll` command in `message` creates, stored (again, harmlessly, when the
    /// command is answered a second time), and its card's fallback text and card; or the
    /// notice to answer instead (cards not available, bad arguments).
    pub(crate) async fn poll_command(
        &self,
        message: &InboundMessage,
        args: &str,
    ) -> Result<(String, Value), String> {
        if let Some(why) = self.channel.cards_unavailable() {
            return Err(format!("I cannot run polls here: {why}."));
        }
        let (question, options) = parse_command(args)?;
        let id = id_for_message(self.id(), &message.id);
        let poll = NewPoll {
            id: id.clone(),
            channel: self.id().to_string(),
            room_id: message.room_id.clone(),
            question: question.clone(),
            options: options.clone(),
            multiple: false,
            created_by: message.sender.id.clone(),
            closes_at: None,
            card_message_id: None,
        };
        if let Err(err) = self.store.polls().create_poll(&poll).await {
            tracing::error!(channel = self.id(), message_id = %message.id, error = %err, "could not store a poll");
            return Err(
                "I could not create the poll (the state store failed); please try again."
                    .to_string(),
            );
        }
        tracing::info!(channel = self.id(), message_id = %message.id, poll = %id, room = %message.room_id, "poll created from chat");
        Ok((
            fallback_text(&id, &question, &options),
            card(&id, &question, &options, false),
        ))
    }
}

/// Closes due polls and posts the tallies of closed ones until `shutdown`, every
/// `approval_poll` (the leader only: it runs with the approval DMs).
pub(crate) async fn run(p: Arc<Processor>, shutdown: CancellationToken) {
    super::approvals::every(p.options.approval_poll, &shutdown, || {
        close_and_announce(&p)
    })
    .await;
}

async fn close_and_announce(p: &Processor) {
    let channel = p.channel.id();
    let polls = p.store.polls();
    match polls.close_due_polls(channel).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(channel, closed = n, "polls closed at their close time"),
        Err(err) => tracing::warn!(channel, error = %err, "cannot close due polls"),
    }
    let closed = match polls.polls_to_announce(channel).await {
        Ok(closed) => closed,
        Err(err) => {
            tracing::warn!(channel, error = %err, "cannot read closed polls");
            return;
        }
    };
    for poll in closed {
        let votes = match polls.votes(&poll.id).await {
            Ok(votes) => votes,
            Err(err) => {
                tracing::warn!(channel, poll = %poll.id, error = %err, "cannot read a poll's votes");
                continue;
            }
        };
        let counted = tally(&poll, &votes);
        let message = OutgoingMessage::markdown(
            SendTarget::Room(poll.room_id.clone()),
            tally_text(&poll, &counted),
        );
        match p.channel.send(&message).await {
            Ok(_) => {
                tracing::info!(channel, poll = %poll.id, room = %poll.room_id, voters = counted.voters, "poll tally posted");
            }
            Err(err) if err.is_retryable() => {
                tracing::warn!(channel, poll = %poll.id, error = %chain(&err), "poll tally not posted; will retry");
                continue;
            }
            Err(err) => {
                tracing::warn!(channel, poll = %poll.id, error = %chain(&err), "poll tally could not be posted; giving up");
            }
        }
        if let Err(err) = polls.mark_announced(&poll.id).await {
            tracing::warn!(channel, poll = %poll.id, error = %err, "poll tally not recorded as posted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn the_chat_command_takes_a_quoted_question_and_options_split_by_bars() {
        assert_eq!(
            parse_command(r#""Lunch?" Pizza | Sushi |  Tacos "#).unwrap(),
            ("Lunch?".to_string(), strings(&["Pizza", "Sushi", "Tacos"]))
        );
        assert_eq!(
            parse_command("\u{201c}Where to?\u{201d} Here | There").unwrap(),
            ("Where to?".to_string(), strings(&["Here", "There"]))
        );
        for bad in [
            "",
            "Lunch? A | B",
            r#""Lunch? A | B"#,
            r#""Lunch?" A"#,
            r#""" A | B"#,
        ] {
            let err = parse_command(bad).unwrap_err();
            assert!(err.contains("Usage: `/poll"), "{bad:?}: {err}");
        }
        assert!(parse_command(r#""Q" A | A"#)
            .unwrap_err()
            .contains("given twice"));
        assert!(parse_command(r#""Q" A | | B"#)
            .unwrap_err()
            .starts_with("option 2 is blank"));
    }

    #[test]
    fn blank_options_and_duplicates_ignoring_case_are_refused() {
        let check_of = |options: &[&str]| check("Lunch?", &strings(options));
        assert_eq!(
            check_of(&[" Pizza ", "Sushi"]).unwrap().1,
            strings(&["Pizza", "Sushi"])
        );
        assert_eq!(
            check_of(&["Pizza", "pizza"]),
            Err(PollError::DuplicateOption("pizza".to_string()))
        );
        assert_eq!(
            check_of(&["Pizza", "  ", "Sushi"]),
            Err(PollError::BlankOption(2))
        );
        assert_eq!(check_of(&["Pizza", ""]), Err(PollError::BlankOption(2)));
        // Invisible characters alone are blank too: the card would show nothing.
        assert_eq!(
            check_of(&["Pizza", "\u{200B}"]),
            Err(PollError::BlankOption(2))
        );
        assert_eq!(
            check_of(&["\u{FEFF} \u{2060}", "Sushi"]),
            Err(PollError::BlankOption(1))
        );
        assert_eq!(check_of(&["Pizza"]), Err(PollError::TooFewOptions));
        assert_eq!(
            fallback_text("p1", "Lunch?", &strings(&["Pizza", "Sushi"])),
            "Poll: Lunch?\n1. Pizza\n2. Sushi\n\nClose it with `moltbot poll close p1`."
        );
    }

    #[test]
    fn votes_name_options_by_number() {
        let vote = |raw: &str| json!({ CHOICE_INPUT: raw, POLL_MARKER: "p1" });
        assert_eq!(choices_of(&vote("2"), 3, false), Some(vec![1]));
        assert_eq!(choices_of(&vote("3,1"), 3, true), Some(vec![0, 2]));
        assert_eq!(choices_of(&vote("1,1"), 3, false), Some(vec![0]));
        assert_eq!(choices_of(&vote("1,2"), 3, false), None, "one only");
        assert_eq!(choices_of(&vote("4"), 3, false), None);
        assert_eq!(choices_of(&vote("0"), 3, false), None);
        assert_eq!(choices_of(&vote(""), 3, false), None);
        assert_eq!(choices_of(&vote("x"), 3, false), None);
        assert_eq!(choices_of(&json!({ POLL_MARKER: "p1" }), 3, false), None);
        assert_eq!(choices_of(&json!({ CHOICE_INPUT: 2 }), 3, false), None);
    }

    #[test]
    fn the_card_carries_the_marker_and_numbered_choices() {
        let card = card("p1", "Lunch?", &strings(&["Pizza", "Sushi"]), true);
        assert_eq!(card["actions"][0]["data"][POLL_MARKER], "p1");
        assert_eq!(card["body"][1]["id"], CHOICE_INPUT);
        assert_eq!(card["body"][1]["isMultiSelect"], true);
        assert_eq!(card["body"][1]["choices"][1]["value"], "2");
        assert_eq!(card["body"][1]["choices"][1]["title"], "Sushi");
    }

    #[test]
    fn the_tally_counts_every_choice_and_each_voter_once() {
        let poll = Poll {
            id: "p1".into(),
            channel: "chat".into(),
            room_id: "r".into(),
            question: "Lunch?".into(),
            options: strings(&["Pizza", "Sushi", "Tacos"]),
            multiple: true,
            created_by: "cli".into(),
            created_at: 0,
            closes_at: None,
            closed_at: Some(1),
            announced_at: None,
            card_message_id: None,
        };
        let vote = |who: &str, choices: Vec<u32>| PollVote {
            poll_id: "p1".into(),
            person_id: who.into(),
            choices,
            voted_at: 0,
        };
        let counted = tally(
            &poll,
            &[
                vote("a", vec![0, 2]),
                vote("b", vec![0]),
                vote("c", vec![9]),
            ],
        );
        assert_eq!(counted.voters, 3);
        assert_eq!(
            tally_text(&poll, &counted),
            "**Poll closed:** Lunch?\n- Pizza: 2\n- Sushi: 0\n- Tacos: 1\n\n3 votes counted."
        );
    }

    #[test]
    fn ids_from_a_message_are_stable_and_distinct() {
        assert_eq!(id_for_message("chat", "m1"), id_for_message("chat", "m1"));
        assert_ne!(id_for_message("chat", "m1"), id_for_message("chat", "m2"));
        let id = new_id();
        assert_eq!(id.len(), 10);
        assert!(id.starts_with('p'));
    }
}
