//! Polls and their votes: one row per poll (`polls`), one per voter and poll (`poll_votes`).
//!
//! The rules (who may vote, what a valid choice is, when a poll closes) are the gateway's
//! (`gateway::polls`); a backend stores and reads atomically: a vote is written only while its
//! poll is open (not closed, and its close time not reached), in the same step that checks it,
//! so no vote lands after the close that the tally would miss.

use super::StoreError;

/// A poll to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPoll {
    /// Its id (short, unique; also in the card's submit data).
    pub id: String,
    /// The channel it was posted on.
    pub channel: String,
    /// The room it was posted in (only its members' votes count).
    pub room_id: String,
    /// The question.
    pub question: String,
    /// The options, in the order shown (votes refer to them by index).
    pub options: Vec<String>,
    /// Whether a voter may pick several options.
    pub multiple: bool,
    /// Who created it (a person id, or `cli`).
    pub created_by: String,
    /// When it closes by itself (unix ms), if it does.
    pub closes_at: Option<i64>,
    /// The message carrying its card, when known at creation (a card posted first, then
    /// stored); otherwise set with [`PollRepo::set_card_message`] once the card is posted.
    pub card_message_id: Option<String>,
}

/// A stored poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    /// Its id.
    pub id: String,
    /// The channel it was posted on.
    pub channel: String,
    /// The room it was posted in.
    pub room_id: String,
    /// The question.
    pub question: String,
    /// The options, in the order shown.
    pub options: Vec<String>,
    /// Whether a voter may pick several options.
    pub multiple: bool,
    /// Who created it.
    pub created_by: String,
    /// When it was stored (unix ms).
    pub created_at: i64,
    /// When it closes by itself (unix ms), if it does.
    pub closes_at: Option<i64>,
    /// When it was closed (unix ms); `None` while open.
    pub closed_at: Option<i64>,
    /// When its tally was posted (unix ms); `None` until then.
    pub announced_at: Option<i64>,
    /// The message carrying its card (only submissions of that card are its votes); `None`
    /// until the card is posted.
    pub card_message_id: Option<String>,
}

impl Poll {
    /// Whether votes are still taken at `now` (unix ms): not closed, close time not reached.
    pub fn is_open(&self, now: i64) -> bool {
        self.closed_at.is_none() && self.closes_at.is_none_or(|at| at > now)
    }
}

/// One person's vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollVote {
    /// The poll.
    pub poll_id: String,
    /// The voter.
    pub person_id: String,
    /// The chosen options, as indices into [`Poll::options`], ascending, without repeats.
    pub choices: Vec<u32>,
    /// When it was cast, or last changed (unix ms).
    pub voted_at: i64,
}

/// What [`PollRepo::vote`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VoteOutcome {
    /// The person's first vote in this poll.
    Recorded,
    /// The person had voted: their vote is replaced.
    Changed,
    /// The poll is closed (or its close time passed): nothing was written.
    Closed,
    /// No such poll: nothing was written.
    UnknownPoll,
}

/// Polls and votes; get it with [`Store::polls`](super::Store::polls).
#[async_trait::async_trait]
pub trait PollRepo: Send + Sync {
    /// Stores `poll` (created now, open). Returns `false`, changing nothing, when a poll with
    /// its id exists already (so creating a poll again after a crash is harmless).
    async fn create_poll(&self, poll: &NewPoll) -> Result<bool, StoreError>;

    /// The poll `id`, if any.
    async fn poll(&self, id: &str) -> Result<Option<Poll>, StoreError>;

    /// Records that the card of poll `id` is message `message_id` (replacing an earlier one:
    /// a card posted again after a crash). Returns `false` when there is no such poll.
    async fn set_card_message(&self, id: &str, message_id: &str) -> Result<bool, StoreError>;

    /// The poll of `channel` whose card is message `message_id`, if any.
    async fn poll_by_card_message(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<Poll>, StoreError>;

    /// Records `person_id`'s vote for `choices` in poll `poll_id` at the store's time, replacing
    /// an earlier vote of theirs, if and only if the poll is open then (checked in the same
    /// atomic step).
    async fn vote(
        &self,
        poll_id: &str,
        person_id: &str,
        choices: &[u32],
    ) -> Result<VoteOutcome, StoreError>;

    /// The votes of poll `poll_id`, ordered by voter.
    async fn votes(&self, poll_id: &str) -> Result<Vec<PollVote>, StoreError>;

    /// Closes poll `id` now if it is open; returns the poll as it is afterwards (`None` when
    /// there is no such poll). Closing a closed poll changes nothing.
    async fn close_poll(&self, id: &str) -> Result<Option<Poll>, StoreError>;

    /// Closes the open polls of `channel` whose close time has come; returns how many.
    async fn close_due_polls(&self, channel: &str) -> Result<u64, StoreError>;

    /// The closed polls of `channel` whose tally has not been posted, oldest close first.
    async fn polls_to_announce(&self, channel: &str) -> Result<Vec<Poll>, StoreError>;

    /// Records that the tally of poll `id` was posted (now). Returns `false` if it was already.
    async fn mark_announced(&self, id: &str) -> Result<bool, StoreError>;
}

/// `options` as stored: a JSON array of strings.
pub(crate) fn options_to_text(options: &[String]) -> String {
    serde_json::Value::from(options.to_vec()).to_string()
}

/// A stored `options` column.
pub(crate) fn options_from_text(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Decode {
        what: "polls.options",
        detail: e.to_string(),
    })
}

/// `choices` as stored: a JSON array of indices.
pub(crate) fn choices_to_text(choices: &[u32]) -> String {
    serde_json::Value::from(choices.to_vec()).to_string()
}

/// A stored `choices` column.
pub(crate) fn choices_from_text(text: &str) -> Result<Vec<u32>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Decode {
        what: "poll_votes.choices",
        detail: e.to_string(),
    })
}
