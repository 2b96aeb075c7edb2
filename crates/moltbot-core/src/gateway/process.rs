//! One message, start to finish: fetch, admit, answer a command or ask the agent, record, send.
//!
//! The message path of a one-chunk text reply takes three commits (see `docs/ARCHITECTURE.md`):
//! the receiver's claim; "the agent answered" (the message moves to `processing`, the session's
//! two new turns and the reply's outbox operations, the first one's attempt started); "sent and
//! replied". A reply of several chunks adds one commit per further chunk ("chunk i sent, chunk
//! i+1 started"). With the SQLite store the units after the claim may share their commit with
//! other rooms' units ready at the same time (a burst), so a message never costs more commits
//! than these, and in a burst fewer. A message that cannot be fetched is set aside (deferred)
//! instead of holding up its room; the re-drive task brings it back (see `redrive.rs`).

use std::time::{Duration, Instant};

use crate::agent::{
    self, AgentRequest, Answer, AnswerOptions, ConversationInfo, LocalFile, ReplyFile, SenderInfo,
    SessionKey, Turn,
};
use crate::backoff;
use crate::error::chain;
use crate::store::{
    AnswerRecord, InboundState, OutboxEntry, OutboxOpKind, OutboxPart, OutboxPartKind, OutboxReply,
    OutboxState, SentRecord, SessionAppend, StoreError,
};

use super::channel::{
    ChannelError, ChannelErrorKind, Fetched, InboundMessage, OutgoingMessage, SendTarget,
};
use super::history_ahead::EarlyHistory;
use super::metrics::Dropped;
use super::parts::ReplyPart;
use super::reply::{filter_reply, ReplyContext};
use super::runtime::Processor;
use super::sink::{Prefetched, Work, OWN_MESSAGE};

/// Backoff (base, cap) between send attempts of one reply chunk: 0.5 s doubling, at most 30 s.
const SEND_BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// Backoff (base, cap) before a message that could not be fetched is tried again: 1 s
/// doubling, at most 60 s (see [`backoff::exponential`] for the jitter), until
/// `catchUp.maxAgeMinutes` after its creation.
const FETCH_RETRY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// The reason recorded for a message given up because it could not be read in time.
pub(crate) const UNREADABLE_TOO_LONG: &str =
    "could not be read within catchUp.maxAgeMinutes of its creation";

/// Why a reply was not (completely) sent; the message is then marked failed with the chain of
/// this error as its reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplyError {
    /// The state store failed to record the answer: nothing was sent, the message is still
    /// `received` and is tried again.
    #[error("state store (the answer was not recorded)")]
    NotRecorded(#[source] StoreError),
    /// The state store failed (recording the reply's progress).
    #[error("state store")]
    Store(#[from] StoreError),
    /// The channel refused to send a chunk, or kept failing.
    #[error("reply not sent")]
    Send(#[source] super::channel::ChannelError),
}

/// How a message reached its worker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    /// Just claimed: nothing can be stored for it yet, so nothing needs reading first.
    fresh: bool,
    /// Set aside before: answer it as a threaded reply.
    deferred: bool,
}

impl Origin {
    /// Just claimed by a receiver: nothing (no answer, no placeholder) can be stored for it.
    pub(crate) fn is_fresh(self) -> bool {
        self.fresh
    }
}

impl Processor {
    /// Resolves a work item to a message (fetching it when needed), then processes it.
    pub(crate) async fn process_work(&self, work: Work) {
        // Replicas: an older message of the room received by another replica goes first
        // (a message set aside as unreadable neither holds its room nor waits).
        let id = match &work {
            Work::Ready(message) => Some(message.id.as_str()),
            Work::Unfetched {
                id,
                deferred: false,
                ..
            } => Some(id.as_str()),
            Work::Unfetched { .. } => None,
        };
        if let Some(id) = id {
            if self.was_answered_early(id) {
                return;
            }
            self.keep_room_order(id).await;
        }
        let (message, origin, early) = match work {
            Work::Ready(message) => (
                *message,
                Origin {
                    fresh: true,
                    deferred: false,
                },
                None,
            ),
            Work::Unfetched {
                id,
                room_id,
                prefetched,
                fresh,
                deferred,
            } => {
                let early = self.read_history_ahead(&room_id).await;
                match self.fetch(&id, prefetched).await {
                    Some(message) => (message, Origin { fresh, deferred }, early),
                    None => return,
                }
            }
        };
        self.process(message, origin, early).await;
    }

    /// Fetches a leased message for its room's worker, once (the channel already retried what
    /// is worth retrying at once). `None` when there is nothing to process now: skipped, set
    /// aside for the re-drive task so later messages of the room go ahead, or left pending
    /// because the channel's credentials were refused (the gateway then stops).
    pub(crate) async fn fetch(
        &self,
        id: &str,
        prefetched: Option<Prefetched>,
    ) -> Option<InboundMessage> {
        let fetched = match prefetched {
            Some(started) => match started.await {
                Ok(result) => result,
                // The early fetch did not run to its end (shutting down): fetch now.
                Err(_) => self.channel.refetch(id).await,
            },
            None => self.channel.refetch(id).await,
        };
        match fetched {
            Ok(Fetched::Ready(message)) => Some(*message),
            Ok(Fetched::Skip { reason, detail }) => {
                self.skip_unfetched(id, reason, detail.as_deref()).await;
                None
            }
            Ok(Fetched::NotYet {
                retry_after,
                reason,
            }) => {
                self.defer(id, &reason, retry_after).await;
                None
            }
            Err(err) if err.kind() == ChannelErrorKind::Auth => {
                // The token is bad: no retry helps. The row stays as it is (pending, leased to
                // this run), so the next start takes it over and answers it.
                tracing::error!(channel = self.id(), message_id = %id, error = %chain(&err), "cannot fetch a message: the credentials were refused; it stays pending");
                self.fatal.stop(self.id(), err);
                None
            }
            Err(err) => {
                let reason = chain(&err).to_string();
                self.defer(id, &reason, None).await;
                None
            }
        }
    }

    /// Records a fetched message as skipped for `reason`: logged with its room at info (the
    /// bot's own messages at debug: they are not drops anyone misses) and counted.
    async fn skip_unfetched(&self, id: &str, reason: &'static str, detail: Option<&str>) {
        self.metrics.dropped(Dropped::Skipped(reason));
        let room = self.room_of(id).await;
        let detail = detail.unwrap_or("-");
        if reason == OWN_MESSAGE {
            tracing::debug!(channel = self.id(), message_id = %id, room = %room, reason, "message not answered");
        } else {
            tracing::info!(channel = self.id(), message_id = %id, room = %room, reason, detail, "message not answered");
        }
        self.finish_id(id, InboundState::Skipped, Some(reason))
            .await;
    }

    /// The room of a recorded message, for log lines (`-` when it cannot be read).
    pub(crate) async fn room_of(&self, id: &str) -> String {
        match self.store.ledger().get(self.id(), id).await {
            Ok(Some(entry)) => entry.room_id,
            _ => "-".to_string(),
        }
    }

    /// Sets an unreadable message aside until its next attempt (the channel's `retry_after`
    /// when it gave one, else capped exponential backoff on its attempts), or gives it up once
    /// it is older than the catch-up age.
    async fn defer(&self, id: &str, reason: &str, retry_after: Option<Duration>) {
        let ledger = self.store.ledger();
        let entry = match ledger.get(self.id(), id).await {
            Ok(Some(entry)) => entry,
            Ok(None) => return,
            Err(err) => {
                tracing::error!(channel = self.id(), message_id = %id, error = %err, "store unavailable; the message is retried by the re-drive task");
                self.strand(id);
                return;
            }
        };
        let now = self.store.now_ms();
        let max_age =
            i64::try_from(self.channel.catch_up_max_age().as_millis()).unwrap_or(i64::MAX);
        if now.saturating_sub(entry.created_at) >= max_age {
            self.metrics.dropped(Dropped::Unreadable);
            tracing::warn!(channel = self.id(), message_id = %id, room = %entry.room_id, attempts = entry.attempts, last_error = %reason, reason = UNREADABLE_TOO_LONG, "message not answered");
            self.finish_id(id, InboundState::Skipped, Some(UNREADABLE_TOO_LONG))
                .await;
            return;
        }
        let delay = retry_after.unwrap_or_else(|| retry_delay(entry.attempts));
        let next = now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        tracing::warn!(channel = self.id(), message_id = %id, room = %entry.room_id, attempt = entry.attempts, retry_in = ?delay, error = %reason, "could not fetch a message; later messages of its room go ahead and it is retried");
        match ledger.defer(self.id(), id, next, reason).await {
            Ok(_) => self.redrive.notify_one(),
            Err(err) => {
                tracing::error!(channel = self.id(), message_id = %id, error = %err, "could not record the retry; it is retried by the re-drive task");
                self.strand(id);
            }
        }
    }

    pub(crate) async fn finish_id(&self, id: &str, state: InboundState, reason: Option<&str>) {
        if let Err(err) = self
            .store
            .ledger()
            .finish(self.id(), id, state, reason)
            .await
        {
            tracing::error!(channel = self.id(), message_id = %id, error = %err, "could not record the message's final state; it is retried by the re-drive task");
            self.strand(id);
        }
    }

    /// Handles one message, start to finish. Never panics, never returns early without leaving
    /// the store in a state the re-drive task or the next start understands.
    async fn process(&self, message: InboundMessage, origin: Origin, early: Option<EarlyHistory>) {
        let started = Instant::now();
        if !origin.fresh {
            match self.resume(&message).await {
                Ok(Resume::Done) => return,
                Ok(Resume::Send(stored)) => {
                    let outcome = self.send_parts(&message, stored, false).await;
                    self.conclude(&message, started, outcome).await;
                    return;
                }
                Ok(Resume::Answer) => {}
                Err(err) => {
                    tracing::error!(channel = self.id(), message_id = %message.id, error = %err, "store unavailable; the message is retried by the re-drive task");
                    self.strand(&message.id);
                    return;
                }
            }
        }
        // Votes first: a poll is open to every member of its room, whatever the policy.
        if self.take_vote(&message).await {
            return;
        }
        let decision = super::admit::check(self, &message).await;
        if let Some(command) = self.command_for(&message, decision) {
            let outcome = self.answer_command(&message, origin, command).await;
            self.conclude(&message, started, outcome).await;
            return;
        }
        let outcome = match super::admit::admit(self, &message, decision).await {
            super::admit::Admission::Admit => self.answer(&message, origin, early).await,
            super::admit::Admission::Handled(reason) => {
                if !origin.fresh {
                    self.remove_stale_placeholder(&message).await;
                }
                tracing::info!(channel = self.id(), message_id = %message.id, room = %message.room_id, reason = %reason, "message not answered");
                self.finish_id(&message.id, InboundState::Skipped, Some(&reason))
                    .await;
                return;
            }
        };
        self.conclude(&message, started, outcome).await;
    }

    /// Records the outcome of a reply that did not finish the message itself.
    async fn conclude(
        &self,
        message: &InboundMessage,
        started: Instant,
        outcome: Result<Sent, ReplyError>,
    ) {
        match outcome {
            Ok(Sent::Recorded) => self.metrics.answered(started.elapsed()),
            Ok(Sent::Nothing) => {
                self.metrics.answered(started.elapsed());
                self.finish_id(&message.id, InboundState::Replied, None)
                    .await;
            }
            Err(ReplyError::NotRecorded(err)) => {
                // Not the message's fault, and nothing was sent: it stays pending and is
                // answered again once the store takes the answer.
                tracing::error!(channel = self.id(), message_id = %message.id, room = %message.room_id, error = %chain(&err), "could not record the answer; the message is retried by the re-drive task");
                self.strand(&message.id);
            }
            Err(err) => {
                self.metrics.failed();
                let reason = chain(&err).to_string();
                tracing::error!(channel = self.id(), message_id = %message.id, room = %message.room_id, error = %reason, "message failed");
                self.finish_id(&message.id, InboundState::Failed, Some(&reason))
                    .await;
            }
        }
    }

    /// Where a message taken again (recovery, re-drive) stands.
    async fn resume(&self, message: &InboundMessage) -> Result<Resume, StoreError> {
        match self.store.ledger().state_of(self.id(), &message.id).await? {
            Some(state) if !state.is_pending() => return Ok(Resume::Done),
            _ => {}
        }
        let stored = self
            .store
            .outbox()
            .for_inbound(self.id(), &message.id)
            .await?;
        Ok(if stored.is_empty() {
            Resume::Answer
        } else {
            Resume::Send(stored)
        })
    }

    /// The session of `message`'s conversation: its DM peer's, or its space's.
    pub(crate) fn session_of(&self, message: &InboundMessage) -> SessionKey {
        match message.kind {
            super::channel::ConversationKind::Direct => {
                SessionKey::direct(self.id(), &message.sender.id)
            }
            super::channel::ConversationKind::Group => {
                SessionKey::group(self.id(), &message.room_id)
            }
        }
    }

    /// Asks the agent (or, for a message without text, posts a notice of ours instead), records
    /// the answer in one commit, and sends it. Only an agent's answer adds turns to the session.
    async fn answer(
        &self,
        message: &InboundMessage,
        origin: Origin,
        early: Option<EarlyHistory>,
    ) -> Result<Sent, ReplyError> {
        let session = self.session_of(message);
        self.room_sessions.remember(&message.room_id, &session);
        let history = EarlyHistory::for_session(early, &session);
        let sender = self.channel.resolve_sender(&message.sender).await;
        // The typing delay counts from here: fetching the files (which may wait out a virus
        // scan) and reading them are part of the wait the placeholder covers.
        let (answer, placeholder) = self
            .with_placeholder(message, origin, &sender, |deltas| {
                self.fetch_and_ask(message, &sender, &session, history, deltas)
            })
            .await;
        let (answer, attachments) = answer;
        let mut answer = answer;
        let extras = super::parts::checked_extras(self.channel.as_ref(), &message.id, &mut answer);
        let context = ReplyContext::new(sender.clone(), message.kind, &message.room_id);
        // Files go with the turn they came in; the history keeps a note of them.
        let user_turn = match agent::attachments::history_note(&attachments) {
            note if note.is_empty() => message.text.clone(),
            note if message.text.trim().is_empty() => note,
            note => format!("{}\n{note}", message.text),
        };
        let session = answer.history.as_ref().map(|reply| SessionAppend {
            session: session.as_str().to_owned(),
            turns: vec![
                Turn::user_by(user_turn, sender),
                Turn::assistant(reply.clone()),
            ],
            keep_turns: self.options.history_turns,
        });
        let filtered = filter_reply(
            self.channel.reply_filter(&context),
            answer.reasoning.as_deref(),
            &answer.text,
        );
        let mut extras = extras;
        if filtered.cut {
            extras.attach_whole_answer(self.channel.as_ref(), &message.id, &answer.text);
        }
        let parts = super::parts::reply_operations(filtered.messages, extras);
        let Some(placeholder) = placeholder else {
            return self.record_and_send(message, origin, session, parts).await;
        };
        let parts =
            super::placeholder::replace_placeholder(parts, placeholder, answer.error.is_some());
        let outcome = self.record_and_send(message, origin, session, parts).await;
        // The outbox holds the placeholder's fate now (or the message failed to be recorded
        // and the next run answers it again, with this placeholder).
        if !matches!(
            outcome,
            Err(ReplyError::NotRecorded(_) | ReplyError::Store(_))
        ) {
            self.forget_placeholder(message).await;
        }
        outcome
    }

    /// Fetches `message`'s files and asks the agent (or, for a message without text whose
    /// files could not be fetched, makes our notice instead): `(answer, attachments)`.
    async fn fetch_and_ask(
        &self,
        message: &InboundMessage,
        sender: &SenderInfo,
        session: &SessionKey,
        history: Option<Vec<Turn>>,
        deltas: Option<agent::TextDeltas>,
    ) -> (Answer, Vec<agent::Attachment>) {
        let attachments = if message.files.is_empty() {
            Vec::new()
        } else {
            self.channel.fetch_attachments(message).await
        };
        match agent::textless_notice(&message.text, !message.files.is_empty()) {
            Some(notice) if attachments.is_empty() => {
                tracing::info!(channel = self.id(), message_id = %message.id, room = %message.room_id, files = message.files.len(), "message without text; posting a notice instead of asking the agent");
                (Answer::notice(notice), attachments)
            }
            _ => {
                let answer = self
                    .ask_agent(message, sender, session, history, &attachments, deltas)
                    .await;
                (answer, attachments)
            }
        }
    }

    /// Records the reply `parts` to `message` in one commit (the message moves to
    /// `processing`; `session`, when given, is applied to the session in the same commit), then
    /// sends them.
    pub(crate) async fn record_and_send(
        &self,
        message: &InboundMessage,
        origin: Origin,
        session: Option<SessionAppend>,
        parts: Vec<OutboxPart>,
    ) -> Result<Sent, ReplyError> {
        let parent_id = reply_parent(message, origin);
        let stored = self
            .store
            .ledger()
            .record_answer(&AnswerRecord {
                channel: self.id().to_string(),
                message_id: message.id.clone(),
                session,
                reply: OutboxReply {
                    channel: self.id().to_string(),
                    inbound_message_id: Some(message.id.clone()),
                    room_id: message.room_id.clone(),
                    parent_id,
                    parts,
                },
                begin_first: true,
            })
            .await
            .map_err(ReplyError::NotRecorded)?;
        self.send_parts(message, stored, true).await
    }

    /// The agent's answer to `message`, with the session's history (`history`: already read,
    /// see `history_ahead.rs`; `None`: read now); its text also goes to
    /// `deltas` as it arrives, when given ([`agent::answer_streaming`]).
    pub(crate) async fn ask_agent(
        &self,
        message: &InboundMessage,
        sender: &SenderInfo,
        session: &SessionKey,
        history: Option<Vec<Turn>>,
        attachments: &[agent::Attachment],
        deltas: Option<agent::TextDeltas>,
    ) -> Answer {
        tracing::debug!(channel = self.id(), message_id = %message.id, room = %message.room_id, sender = %crate::agent::speakers::speaker_label(Some(sender)), "asking the agent");
        let history = match history {
            Some(read_ahead) => read_ahead,
            None => self
                .store
                .sessions()
                .history(session.as_str(), self.options.history_turns)
                .await
                .unwrap_or_else(|err| {
                    tracing::warn!(channel = self.id(), error = %err, "session history unavailable");
                    Vec::new()
                }),
        };
        let request = AgentRequest {
            session: session.clone(),
            text: message.text.clone(),
            sender: sender.clone(),
            conversation: ConversationInfo {
                channel: self.id().to_string(),
                room_id: message.room_id.clone(),
                kind: message.kind,
                title: None,
            },
            history,
            system_prompt: self
                .options
                .room_system_prompts
                .get(&message.room_id)
                .or(self.options.system_prompt.as_ref())
                .cloned(),
            attachments: self.read_pdfs(message, attachments).await,
            card: message.card.as_ref().map(|card| card.inputs.clone()),
        };
        let options = AnswerOptions {
            show_reasoning: self.options.show_reasoning,
        };
        agent::answer_streaming(self.agent.as_ref(), request, options, deltas).await
    }

    /// `attachments`, each PDF with its text read ([`agent::Attachment::pdf_text`]) when the
    /// agent wants PDFs as text and the gateway has a reader; a PDF that could not be read is
    /// logged (the agent is told so, and answers the rest).
    async fn read_pdfs(
        &self,
        message: &InboundMessage,
        attachments: &[agent::Attachment],
    ) -> Vec<agent::Attachment> {
        let reader = match &self.options.document_text {
            Some(reader) if self.agent.wants_pdf_text() => reader,
            _ => return attachments.to_vec(),
        };
        let mut out = Vec::with_capacity(attachments.len());
        for file in attachments {
            let bytes = match file.bytes() {
                Some(bytes) if file.kind() == agent::FileKind::Pdf => bytes,
                _ => {
                    out.push(file.clone());
                    continue;
                }
            };
            let text = reader.pdf_text(bytes).await;
            match &text {
                agent::PdfText::Unreadable { reason, detail } => {
                    tracing::warn!(channel = self.id(), message_id = %message.id, room = %message.room_id, bytes = bytes.len(), reason = %reason, detail = %detail, "a PDF could not be read; the agent is told so");
                }
                agent::PdfText::Empty => {
                    tracing::info!(channel = self.id(), message_id = %message.id, bytes = bytes.len(), "a PDF has no text to extract");
                }
                agent::PdfText::Text(text) => {
                    tracing::debug!(channel = self.id(), message_id = %message.id, bytes = bytes.len(), text_bytes = text.len(), "read the text of a PDF");
                }
            }
            out.push(file.clone().with_pdf_text(text));
        }
        out
    }

    /// Carries out the stored operations not yet sent, in order, retrying transient failures;
    /// the last one's commit marks the message replied. `first_begun`: the first unsent
    /// operation's attempt was started by the commit that stored it.
    async fn send_parts(
        &self,
        message: &InboundMessage,
        parts: Vec<OutboxEntry>,
        first_begun: bool,
    ) -> Result<Sent, ReplyError> {
        let outbox = self.store.outbox();
        let unsent: Vec<OutboxEntry> = parts
            .into_iter()
            .filter(|p| p.state != OutboxState::Sent)
            .collect();
        if unsent.is_empty() {
            return Ok(Sent::Nothing);
        }
        let mut begun = first_begun;
        for (index, part) in unsent.iter().enumerate() {
            if part.attempts > 0 && !begun {
                // Sent before a crash, outcome unknown: a network may give no way to check a
                // group room, so we send again (at-least-once for this window; see docs).
                self.metrics.resent();
                tracing::warn!(
                    channel = self.id(),
                    message_id = %message.id,
                    room = %part.room_id,
                    chunk = part.part_index,
                    "re-sending a reply chunk whose earlier send has an unknown outcome"
                );
            }
            let next = unsent.get(index + 1);
            let remote_id = match self.send_one(part, begun).await {
                Ok(remote_id) => remote_id,
                Err(ReplyError::Send(err)) if part.part != OutboxPartKind::Text => {
                    // A card or file the network refuses (or that kept failing) is recorded
                    // as such (by `send_one`) and logged; the text was sent before it and the
                    // reply's other parts still go.
                    tracing::error!(channel = self.id(), message_id = %message.id, room = %part.room_id, part = %part.part, error = %chain(&err), "a part of the reply was not sent; the rest goes on");
                    if next.is_none() {
                        return Ok(Sent::Nothing);
                    }
                    begun = false;
                    continue;
                }
                Err(err) => return Err(err),
            };
            if part.part == OutboxPartKind::Card && part.op == OutboxOpKind::Create {
                self.note_poll_card(part, &remote_id).await?;
            }
            outbox
                .record_sent(&SentRecord {
                    op_id: part.id,
                    remote_message_id: remote_id,
                    begin_next: next.map(|n| n.id),
                    finish_message: next
                        .is_none()
                        .then(|| (self.id().to_string(), message.id.clone())),
                })
                .await?;
            begun = true;
        }
        Ok(Sent::Recorded)
    }

    /// Sends one text operation, retrying transient failures; returns the remote message id.
    /// `begun`: its first attempt is already counted in the store.
    async fn send_one(&self, part: &OutboxEntry, begun: bool) -> Result<String, ReplyError> {
        let outbox = self.store.outbox();
        let (outgoing, upload) = match outgoing_for(part) {
            Ok(outgoing) => outgoing,
            Err(err) => {
                let reason = chain(&err).to_string();
                let _ = outbox
                    .mark(part.id, OutboxState::Failed, Some(&reason))
                    .await;
                tracing::error!(channel = self.id(), error = %reason, room = %part.room_id, "reply not sent");
                return Err(ReplyError::Send(ChannelError::permanent(reason)));
            }
        };
        let mut delays = backoff::exponential(SEND_BACKOFF.0, SEND_BACKOFF.1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 || !begun {
                outbox.begin_attempt(part.id).await?;
            }
            match self.carry_out(part, &outgoing, upload.as_ref()).await {
                Ok(remote_id) => return Ok(remote_id),
                Err(err) if part.op == OutboxOpKind::Delete => {
                    // A placeholder left in the room is untidy, not a lost reply: no retry
                    // beyond the channel's own holds the answer up, which is posted next. The
                    // operation counts as done (it is not tried again after a restart).
                    tracing::warn!(channel = self.id(), error = %chain(&err), room = %part.room_id, "could not delete the placeholder; it stays");
                    return Ok(part.target_id.clone().unwrap_or_default());
                }
                Err(err) if err.is_retryable() && attempt < self.options.send_attempts => {
                    let delay = delays.next().unwrap_or(SEND_BACKOFF.1);
                    if err.maybe_delivered() {
                        // The channel found no trace of it; losing a reply is worse than
                        // the duplicate this may cause (see docs: the duplicate window).
                        tracing::warn!(channel = self.id(), error = %chain(&err), ?delay, "send outcome unknown and not found; sending again");
                    } else {
                        tracing::warn!(channel = self.id(), error = %chain(&err), ?delay, "send failed; retrying");
                    }
                    tokio::time::sleep(delay).await;
                }
                Err(err) => {
                    let state = if err.maybe_delivered() {
                        OutboxState::Unknown
                    } else {
                        OutboxState::Failed
                    };
                    let reason = chain(&err).to_string();
                    let _ = outbox.mark(part.id, state, Some(&reason)).await;
                    tracing::error!(channel = self.id(), error = %reason, room = %part.room_id, "reply not sent");
                    return Err(ReplyError::Send(err));
                }
            }
        }
    }

    /// Carries out one operation once: an `upload` posts `outgoing` with `upload`, a `create`
    /// posts `outgoing`; an `edit` of the message
    /// it targets falls back to posting when the channel refuses edits for good; a `delete`
    /// returns the deleted message's id.
    async fn carry_out(
        &self,
        part: &OutboxEntry,
        outgoing: &OutgoingMessage,
        upload: Option<&LocalFile>,
    ) -> Result<String, ChannelError> {
        if let Some(file) = upload {
            return self.channel.upload(outgoing, file).await;
        }
        match (part.op, part.target_id.as_deref()) {
            (OutboxOpKind::Edit, Some(target)) => match self.channel.edit(target, outgoing).await {
                Err(err) if !err.is_retryable() => {
                    tracing::warn!(channel = self.id(), error = %chain(&err), room = %part.room_id, "could not edit the placeholder; posting the text instead");
                    let posted = self.channel.send(outgoing).await?;
                    // The placeholder would go on showing "Working on it..." or a streamed
                    // answer cut short: take it away (best effort; it is not the reply).
                    if let Err(err) = self.channel.delete(target, &part.room_id).await {
                        tracing::warn!(channel = self.id(), error = %chain(&err), room = %part.room_id, "could not delete the placeholder; it stays");
                    }
                    Ok(posted)
                }
                edited => edited,
            },
            (OutboxOpKind::Delete, Some(target)) => self
                .channel
                .delete(target, &part.room_id)
                .await
                .map(|()| target.to_string()),
            _ => self.channel.send(outgoing).await,
        }
    }
}

/// The message a stored operation sends, and the local file it uploads (an `upload`):
/// markdown for text, a file URL, or a card with its fallback, in the reply's room and thread.
fn outgoing_for(
    part: &OutboxEntry,
) -> Result<(OutgoingMessage, Option<LocalFile>), super::parts::PartError> {
    let target = SendTarget::Room(part.room_id.clone());
    let (mut outgoing, upload) = match ReplyPart::from_entry(part)? {
        ReplyPart::Text(text) => (OutgoingMessage::markdown(target, text), None),
        ReplyPart::File(ReplyFile::Url(url)) => {
            (OutgoingMessage::markdown(target, "").with_file(url), None)
        }
        ReplyPart::File(ReplyFile::Local(file)) => {
            (OutgoingMessage::markdown(target, ""), Some(file))
        }
        ReplyPart::Card { card, fallback } => (
            OutgoingMessage::markdown(target, fallback).with_card(card),
            None,
        ),
    };
    outgoing.parent_id = part.parent_id.clone();
    Ok((outgoing, upload))
}

/// What [`Processor::send_parts`] left to do.
pub(crate) enum Sent {
    /// Everything sent; the last commit marked the message replied.
    Recorded,
    /// Nothing was left to send (an empty answer, or all sent before a crash): the message
    /// still has to be marked replied.
    Nothing,
}

/// Where a message taken again stands.
enum Resume {
    /// Already finished (by another run): nothing to do.
    Done,
    /// The answer is stored: send what is left of it.
    Send(Vec<OutboxEntry>),
    /// Not answered yet.
    Answer,
}

/// The thread a reply to `message` goes in. A message answered after it was set aside is
/// answered in a thread under it, so the conversation stays readable although later messages
/// were answered first. A card submission is not a message one can reply under: its answer
/// goes in the room.
pub(crate) fn reply_parent(message: &InboundMessage, origin: Origin) -> Option<String> {
    if origin.deferred && message.card.is_none() {
        Some(
            message
                .thread_parent
                .clone()
                .unwrap_or_else(|| message.id.clone()),
        )
    } else {
        message.thread_parent.clone()
    }
}

/// The wait before attempt `attempts + 1` of fetching a message: retry `attempts` of
/// [`FETCH_RETRY`]'s schedule from the project's one backoff ([`backoff::exponential`]).
pub(crate) fn retry_delay(attempts: u32) -> Duration {
    // Past 32 doublings every schedule is at its cap.
    let retry = usize::try_from(attempts.saturating_sub(1).min(32)).unwrap_or(32);
    backoff::exponential(FETCH_RETRY.0, FETCH_RETRY.1)
        .nth(retry)
        .unwrap_or(FETCH_RETRY.1)
}
