//! The gateway's message path against a scripted channel: how many units of work a message
//! (or a chat command) costs the store, where commands sit against access control, and what
//! happens to a message that cannot be fetched for a while, the placeholder of a slow answer, and
//! the text of PDFs read for an agent that wants it, and the history each answer is given.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod wait_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moltbot_core::access::{AccessPolicy, DmPolicy, GroupPolicy};
use moltbot_core::agent::attachments::PdfTextFuture;
use moltbot_core::agent::{
    Agent, AgentError, AgentFuture, AgentReply, AgentRequest, Attachment, DocumentText, EchoAgent,
    PdfText, SenderInfo, APOLOGY,
};
use moltbot_core::gateway::{
    BoxFuture, Channel, ChannelContext, ChannelError, ChannelErrorKind, Claim, ConversationKind,
    Fetched, Gateway, GatewayError, GatewayOptions, InboundMessage, InboundSink, OutgoingMessage,
    PLACEHOLDER_TEXT,
};
use moltbot_core::store::{Clock as _, InboundState, Store, SystemClock};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the test's receiver is told to do.
enum Incoming {
    /// Claim and hand over a normalised message (as a polling receiver does).
    Ready(Box<InboundMessage>),
    /// Claim and hand over an id to fetch (as a webhook receiver does).
    Id { id: String, room: String },
    /// A listing (a polling pass, the safety poll): each message claimed as listed, the new
    /// ones handed over.
    Listing(Vec<InboundMessage>),
    /// Start early fetches of these ids together (as webhook receivers do, before their
    /// claims), answer whether each was the only one running (`EarlyFetch::is_alone`), then
    /// drop them (which cancels them).
    EarlyFetches(Vec<String>, tokio::sync::oneshot::Sender<Vec<bool>>),
}

/// A channel whose receiver takes its messages from the test, whose `refetch` serves a
/// message map (failing for ids told to fail, a given number of times; answering what
/// `fetch_answers` says for the ids it names), and whose `send` records what was sent.
struct ScriptedChannel {
    incoming: Mutex<Option<mpsc::UnboundedReceiver<Incoming>>>,
    messages: Mutex<HashMap<String, InboundMessage>>,
    fetch_failures: Mutex<HashMap<String, u32>>,
    fetch_answers: Mutex<HashMap<String, FetchAnswer>>,
    /// Ids whose fetch (once their failures are used up) waits until the gate is opened.
    fetch_gates: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    sent: Mutex<Vec<(Option<String>, String)>>,
    /// Ids of the messages deleted. The channel says it edits and deletes, but refuses every
    /// edit for good (as a channel without edits would).
    deleted: Mutex<Vec<String>>,
    /// `dmPolicy` of the access policy (`open` unless a test changes it).
    dm_policy: Mutex<DmPolicy>,
    /// How many times each id was fetched.
    fetches: Mutex<HashMap<String, u32>>,
}

impl ScriptedChannel {
    fn new() -> (Arc<Self>, mpsc::UnboundedSender<Incoming>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let channel = Arc::new(Self {
            incoming: Mutex::new(Some(rx)),
            messages: Mutex::default(),
            fetch_failures: Mutex::default(),
            fetch_answers: Mutex::default(),
            fetch_gates: Mutex::default(),
            sent: Mutex::default(),
            deleted: Mutex::default(),
            dm_policy: Mutex::new(DmPolicy::Open),
            fetches: Mutex::default(),
        });
        (channel, tx)
    }

    /// Makes `refetch` of `id` answer `answer`.
    fn answer(&self, id: &str, answer: FetchAnswer) {
        self.fetch_answers
            .lock()
            .unwrap()
            .insert(id.to_string(), answer);
    }

    fn sent(&self) -> Vec<(Option<String>, String)> {
        self.sent.lock().unwrap().clone()
    }

    /// Makes `message` what `refetch` of its id serves.
    fn fetchable(&self, message: &InboundMessage) {
        self.messages
            .lock()
            .unwrap()
            .insert(message.id.clone(), message.clone());
    }

    fn fetches_of(&self, id: &str) -> u32 {
        self.fetches.lock().unwrap().get(id).copied().unwrap_or(0)
    }
}

/// What `refetch` answers for a given id instead of the message.
#[derive(Clone, Copy)]
enum FetchAnswer {
    /// Skip it with this reason.
    Skip(&'static str),
    /// Not readable yet; the network asks for this wait.
    NotYetFor(Duration),
    /// The credentials are refused.
    Refused,
}

fn dm(id: &str, text: &str) -> InboundMessage {
    let sender = SenderInfo {
        id: "alice".into(),
        email: Some("alice@example.com".into()),
        display_name: Some("Alice".into()),
    };
    let mut message = InboundMessage::new(
        "test",
        id,
        "room-alice",
        ConversationKind::Direct,
        sender,
        text,
    );
    message.created_at_ms = SystemClock.now_ms();
    message
}

async fn receive(sink: InboundSink, incoming: Incoming) {
    match incoming {
        Incoming::Ready(message) => {
            sink.claim(&message.id, &message.room_id, message.created_at_ms)
                .await
                .unwrap();
            sink.deliver(*message).await.unwrap();
        }
        Incoming::Id { id, room } => {
            sink.claim(&id, &room, SystemClock.now_ms()).await.unwrap();
            sink.deliver_unfetched(&id, &room).await.unwrap();
        }
        Incoming::EarlyFetches(ids, answer) => {
            let early: Vec<_> = ids.iter().filter_map(|id| sink.fetch_early(id)).collect();
            let _ = answer.send(early.iter().map(|e| e.is_alone()).collect());
        }
        Incoming::Listing(messages) => {
            for message in messages {
                let claim = sink
                    .claim_listed(&message.id, &message.room_id, message.created_at_ms)
                    .await
                    .unwrap();
                if claim == Claim::New {
                    sink.deliver(message).await.unwrap();
                }
            }
        }
    }
}

impl Channel for ScriptedChannel {
    /// Each file URL `.../name` is a file `name`: a PDF when it ends in `.pdf`, else text.
    fn fetch_attachments<'a>(
        &'a self,
        message: &'a InboundMessage,
    ) -> BoxFuture<'a, Vec<Attachment>> {
        let files = message
            .files
            .iter()
            .map(|url| {
                let name = url.rsplit('/').next().unwrap_or_default();
                if name.ends_with(".pdf") {
                    Attachment::new(name, "application/pdf", b"%PDF-1.4 fake".to_vec())
                } else {
                    Attachment::new(name, "text/plain", b"plain text".to_vec())
                }
            })
            .collect();
        Box::pin(std::future::ready(files))
    }

    fn id(&self) -> &str {
        "test"
    }

    fn connect(&self, _: Option<std::net::SocketAddr>) -> BoxFuture<'_, Result<(), ChannelError>> {
        Box::pin(async { Ok(()) })
    }

    fn run(self: Arc<Self>, ctx: ChannelContext) -> BoxFuture<'static, Result<(), ChannelError>> {
        Box::pin(async move {
            let Some(mut incoming) = self.incoming.lock().unwrap().take() else {
                return Ok(());
            };
            ctx.ready.mark_ready();
            loop {
                tokio::select! {
                    next = incoming.recv() => match next {
                        Some(next) => receive(ctx.sink.clone(), next).await,
                        None => return Ok(()),
                    },
                    () = ctx.shutdown.cancelled() => return Ok(()),
                }
            }
        })
    }

    fn refetch<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Fetched, ChannelError>> {
        Box::pin(async move {
            *self
                .fetches
                .lock()
                .unwrap()
                .entry(id.to_string())
                .or_default() += 1;
            if let Some(left) = self.fetch_failures.lock().unwrap().get_mut(id) {
                if *left > 0 {
                    *left -= 1;
                    return Err(ChannelError::transient("503 Service Unavailable"));
                }
            }
            let gate = self.fetch_gates.lock().unwrap().get(id).cloned();
            if let Some(gate) = gate {
                let _open = gate.acquire().await;
            }
            let answer = self.fetch_answers.lock().unwrap().get(id).copied();
            match answer {
                Some(FetchAnswer::Skip(reason)) => {
                    Ok(Fetched::skip(reason).with_detail("HTTP 403 (trackingId T1)"))
                }
                Some(FetchAnswer::NotYetFor(wait)) => {
                    Ok(Fetched::not_yet("HTTP 429").with_retry_after(wait))
                }
                Some(FetchAnswer::Refused) => Err(ChannelError::message(
                    ChannelErrorKind::Auth,
                    "GET /messages failed (bad token)",
                )),
                None => Ok(match self.messages.lock().unwrap().get(id) {
                    Some(message) => Fetched::ready(message.clone()),
                    None => Fetched::skip("gone"),
                }),
            }
        })
    }

    fn access_policy(&self) -> AccessPolicy {
        // Everyone may DM under `open`; nobody is listed under the others.
        let dm = *self.dm_policy.lock().unwrap();
        let allow: &[&str] = if dm == DmPolicy::Open { &["*"] } else { &[] };
        AccessPolicy::new::<&str>("test", dm, allow, GroupPolicy::Open, &[])
    }

    fn catch_up_max_age(&self) -> Duration {
        Duration::from_secs(900)
    }

    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> BoxFuture<'a, Result<String, ChannelError>> {
        Box::pin(async move {
            let mut sent = self.sent.lock().unwrap();
            sent.push((m.parent_id.clone(), m.markdown.clone()));
            Ok(format!("sent-{}", sent.len()))
        })
    }

    fn supports_edits(&self) -> bool {
        true
    }

    fn delete<'a>(
        &'a self,
        id: &'a str,
        _room: &'a str,
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            self.deleted.lock().unwrap().push(id.to_string());
            Ok(())
        })
    }
}

struct Running {
    store: Store,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), GatewayError>>,
    _dir: tempfile::TempDir,
}

async fn start(channel: Arc<ScriptedChannel>) -> Running {
    start_with(channel, Arc::new(EchoAgent), GatewayOptions::default()).await
}

async fn start_with(
    channel: Arc<ScriptedChannel>,
    agent: Arc<dyn Agent>,
    options: GatewayOptions,
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("state/moltbot.sqlite")).unwrap();
    let mut gateway = Gateway::new(store.clone(), agent, options);
    gateway.add_channel(channel);
    let status = gateway.status();
    let shutdown = CancellationToken::new();
    let run = gateway.run(shutdown.clone(), |_| {});
    let task = tokio::spawn(run);
    wait_support::until("the gateway ready", wait_support::TIMEOUT, || async {
        status.is_ready()
    })
    .await;
    Running {
        store,
        shutdown,
        task,
        _dir: dir,
    }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }

    /// Waits until the gateway stops by itself; returns how it ended.
    async fn stopped(self) -> (Result<(), GatewayError>, Store) {
        let result = tokio::time::timeout(wait_support::TIMEOUT, self.task)
            .await
            .expect("the gateway stopped by itself")
            .unwrap();
        (result, self.store)
    }

    /// Hands `message`'s id over to be fetched, as a webhook receiver does.
    fn deliver_id(incoming: &mpsc::UnboundedSender<Incoming>, message: &InboundMessage) {
        incoming
            .send(Incoming::Id {
                id: message.id.clone(),
                room: message.room_id.clone(),
            })
            .unwrap();
    }

    /// Makes `message` fetchable, hands its id over as a webhook receiver does, and waits
    /// until it is replied.
    async fn reply_by_id(
        &self,
        channel: &ScriptedChannel,
        incoming: &mpsc::UnboundedSender<Incoming>,
        message: &InboundMessage,
    ) {
        channel.fetchable(message);
        Self::deliver_id(incoming, message);
        wait_support::until("the message replied", wait_support::TIMEOUT, || async {
            self.state_of(&message.id).await == Some(InboundState::Replied)
        })
        .await;
    }

    async fn state_of(&self, id: &str) -> Option<InboundState> {
        self.store.ledger().state_of("test", id).await.unwrap()
    }

    /// Hands `message` over whole and waits until it is in `state`.
    async fn handle(
        &self,
        incoming: &mpsc::UnboundedSender<Incoming>,
        message: &InboundMessage,
        state: InboundState,
    ) {
        incoming
            .send(Incoming::Ready(Box::new(message.clone())))
            .unwrap();
        wait_support::until("the message finished", wait_support::TIMEOUT, || async {
            self.state_of(&message.id).await == Some(state)
        })
        .await;
    }

    /// How many turns the session `key` holds.
    async fn turns(&self, key: &str) -> usize {
        self.store.sessions().history(key, 100).await.unwrap().len()
    }

    /// The store's file.
    fn store_file(&self) -> std::path::PathBuf {
        self._dir.path().join("state/moltbot.sqlite")
    }

    /// Makes every `event` (e.g. `INSERT ON outbox_bodies`) fail in the store, as a full disk
    /// would, until [`Running::mend_store`]: a trigger named `name`, added by another connection.
    fn break_store(&self, name: &str, event: &str) {
        rusqlite::Connection::open(self.store_file())
            .unwrap()
            .execute_batch(&format!(
                "CREATE TRIGGER {name} BEFORE {event} \
                 BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END;"
            ))
            .unwrap();
    }

    fn mend_store(&self, name: &str) {
        rusqlite::Connection::open(self.store_file())
            .unwrap()
            .execute_batch(&format!("DROP TRIGGER {name}"))
            .unwrap();
    }

    async fn writes(&self) -> u64 {
        self.store.written_bytes().unwrap().writes
    }

    /// The heartbeat's stored value (it writes once every few seconds).
    async fn heartbeat(&self) -> Option<String> {
        self.store.kv().get("gateway", "heartbeat").await.unwrap()
    }
}

/// The store writes one message costs until it is replied: `next(attempt)` makes the message
/// and how it is handed over. The gateway's own timers also write (the heartbeat every few
/// seconds); a window in which one ran is not a measurement of the message alone, so it is
/// taken again with a fresh message (a handful of tries is plenty: the heartbeat writes once
/// every 5 s).
async fn units_of_work(
    gateway: &Running,
    incoming: &mpsc::UnboundedSender<Incoming>,
    next: impl Fn(usize) -> (String, Incoming),
) -> u64 {
    for attempt in 0..5 {
        let (id, handed_over) = next(attempt);
        let beat = gateway.heartbeat().await;
        let before = gateway.writes().await;
        incoming.send(handed_over).unwrap();
        wait_support::until("the message replied", wait_support::TIMEOUT, || async {
            gateway.state_of(&id).await == Some(InboundState::Replied)
        })
        .await;
        let units = gateway.writes().await - before;
        if gateway.heartbeat().await == beat {
            return units;
        }
    }
    panic!("no window without a heartbeat within five messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_chunk_reply_costs_at_most_three_units_of_work() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start(Arc::clone(&channel)).await;
    for (n, handed_over) in ["whole", "by id"].into_iter().enumerate() {
        let units = units_of_work(&gateway, &incoming, |attempt| {
            let message = dm(&format!("{handed_over}-{attempt}"), "hello");
            let next = if handed_over == "whole" {
                Incoming::Ready(Box::new(message.clone()))
            } else {
                channel
                    .messages
                    .lock()
                    .unwrap()
                    .insert(message.id.clone(), message.clone());
                Incoming::Id {
                    id: message.id.clone(),
                    room: message.room_id.clone(),
                }
            };
            (message.id, next)
        })
        .await;
        assert_eq!(
            units, 3,
            "message {n} ({handed_over}): claim, answered, sent-and-replied (store writes counted: {units})"
        );
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_a_listing_finds_again_costs_no_unit_of_work() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start(Arc::clone(&channel)).await;
    let first = dm("listed-first", "hello");
    incoming
        .send(Incoming::Listing(vec![first.clone()]))
        .unwrap();
    wait_support::until(
        "the first message replied",
        wait_support::TIMEOUT,
        || async { gateway.state_of(&first.id).await == Some(InboundState::Replied) },
    )
    .await;
    // The next pass lists it again beside a new message: only the new one costs writes.
    let units = units_of_work(&gateway, &incoming, |attempt| {
        let next = dm(&format!("listed-next-{attempt}"), "again");
        (
            next.id.clone(),
            Incoming::Listing(vec![first.clone(), next]),
        )
    })
    .await;
    assert_eq!(
        units, 3,
        "the message listed again is recognised by a read; the new one costs its three units"
    );
    assert_eq!(
        channel.sent().len(),
        1 + 1,
        "the first message answered once"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_costs_three_units_of_work_and_empties_the_session_in_one_of_them() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start(Arc::clone(&channel)).await;
    let session = "test:dm:alice";
    let hello = dm("hello", "hello");
    gateway
        .handle(&incoming, &hello, InboundState::Replied)
        .await;
    assert_eq!(
        gateway.turns(session).await,
        2,
        "the echo agent's exchange is remembered"
    );
    let units = units_of_work(&gateway, &incoming, |n| {
        let reset = dm(&format!("reset-{n}"), "/RESET");
        (reset.id.clone(), Incoming::Ready(Box::new(reset)))
    })
    .await;
    assert_eq!(
        units, 3,
        "claim, answered (session emptied), sent-and-replied"
    );
    assert_eq!(gateway.turns(session).await, 0, "no turn left behind");
    let sent = channel.sent();
    assert_eq!(sent[0].1, "hello");
    assert!(
        sent.last().unwrap().1.starts_with("Fresh start"),
        "{sent:?}"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_alone_passes_a_dm_policy_that_refuses_and_none_passes_disabled() {
    let (channel, incoming) = ScriptedChannel::new();
    *channel.dm_policy.lock().unwrap() = DmPolicy::Allowlist;
    let gateway = start(Arc::clone(&channel)).await;
    // dmPolicy allowlist, sender neither listed nor approved: /whoami is answered, /help is
    // dropped as any other message of theirs.
    let who = dm("who", "/whoami");
    gateway.handle(&incoming, &who, InboundState::Replied).await;
    let help = dm("help", "/help");
    gateway
        .handle(&incoming, &help, InboundState::Skipped)
        .await;
    let sent = channel.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].1.contains("- Person id: `alice`"), "{sent:?}");
    assert!(
        sent[0].1.contains("`moltbot pair test alice@example.com`"),
        "{sent:?}"
    );

    // dmPolicy disabled: the bot says nothing in DMs, /whoami included.
    *channel.dm_policy.lock().unwrap() = DmPolicy::Disabled;
    let silent = dm("silent", "/whoami");
    gateway
        .handle(&incoming, &silent, InboundState::Skipped)
        .await;
    assert_eq!(channel.sent().len(), 1);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_cannot_be_fetched_is_re_driven_and_answered_in_a_thread() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start(Arc::clone(&channel)).await;
    let stuck = dm("stuck", "unreadable at first");
    let next = dm("next", "readable");
    {
        let mut messages = channel.messages.lock().unwrap();
        messages.insert(stuck.id.clone(), stuck.clone());
        messages.insert(next.id.clone(), next.clone());
    }
    channel
        .fetch_failures
        .lock()
        .unwrap()
        .insert(stuck.id.clone(), 2);

    for m in [&stuck, &next] {
        incoming
            .send(Incoming::Id {
                id: m.id.clone(),
                room: m.room_id.clone(),
            })
            .unwrap();
    }
    // The readable one goes ahead; the stuck one is retried by the re-drive task (twice: its
    // next attempts are due after 1 s, then 2 s) and then answered under itself.
    wait_support::until(
        "the stuck message replied",
        wait_support::TIMEOUT,
        || async { gateway.state_of("stuck").await == Some(InboundState::Replied) },
    )
    .await;
    let sent = channel.sent();
    assert_eq!(
        sent,
        [
            (None, "readable".to_string()),
            (Some("stuck".to_string()), "unreadable at first".to_string()),
        ]
    );
    let row = gateway
        .store
        .ledger()
        .get("test", "stuck")
        .await
        .unwrap()
        .unwrap();
    assert!(row.deferred);
    assert_eq!(row.attempts, 3, "the claim and two re-drives");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_aside_message_is_fetched_again_outside_its_room() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start(Arc::clone(&channel)).await;
    let stuck = dm("stuck", "unreadable at first");
    let later = dm("later", "posted while the stuck one is fetched again");
    {
        let mut messages = channel.messages.lock().unwrap();
        messages.insert(stuck.id.clone(), stuck.clone());
        messages.insert(later.id.clone(), later.clone());
    }
    channel
        .fetch_failures
        .lock()
        .unwrap()
        .insert(stuck.id.clone(), 1);
    // Its second fetch (the re-drive's) hangs until the test opens the gate.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    channel
        .fetch_gates
        .lock()
        .unwrap()
        .insert(stuck.id.clone(), Arc::clone(&gate));
    Running::deliver_id(&incoming, &stuck);
    wait_support::until(
        "the re-drive task fetching the stuck message again",
        wait_support::TIMEOUT,
        || async {
            let row = gateway.store.ledger().get("test", "stuck").await.unwrap();
            row.is_some_and(|row| row.attempts == 2)
        },
    )
    .await;

    Running::deliver_id(&incoming, &later);
    wait_support::until(
        "the later message replied while the stuck one's fetch hangs",
        wait_support::TIMEOUT,
        || async { gateway.state_of("later").await == Some(InboundState::Replied) },
    )
    .await;
    assert_eq!(
        gateway.state_of("stuck").await,
        Some(InboundState::Received)
    );

    gate.add_permits(1);
    wait_support::until(
        "the stuck message replied",
        wait_support::TIMEOUT,
        || async { gateway.state_of("stuck").await == Some(InboundState::Replied) },
    )
    .await;
    assert_eq!(
        channel.sent(),
        [
            (None, later.text.clone()),
            (Some("stuck".to_string()), stuck.text.clone()),
        ]
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_channel_skips_is_recorded_with_its_reason_and_the_room_goes_on() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start(Arc::clone(&channel)).await;
    let forbidden = dm("forbidden", "may not be read");
    let next = dm("next", "readable");
    channel
        .messages
        .lock()
        .unwrap()
        .insert(next.id.clone(), next.clone());
    channel.answer(
        &forbidden.id,
        FetchAnswer::Skip("the bot may not read this message (403)"),
    );
    Running::deliver_id(&incoming, &forbidden);
    Running::deliver_id(&incoming, &next);
    wait_support::until(
        "the next message replied",
        wait_support::TIMEOUT,
        || async { gateway.state_of("next").await == Some(InboundState::Replied) },
    )
    .await;
    let row = gateway
        .store
        .ledger()
        .get("test", "forbidden")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, InboundState::Skipped);
    assert_eq!(
        row.reason.as_deref(),
        Some("the bot may not read this message (403)")
    );
    assert_eq!(channel.sent(), [(None, "readable".to_string())]);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_not_readable_yet_waits_as_long_as_the_network_asks() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start(Arc::clone(&channel)).await;
    let limited = dm("limited", "rate limited");
    channel.answer(&limited.id, FetchAnswer::NotYetFor(Duration::from_secs(40)));
    let before = SystemClock.now_ms();
    Running::deliver_id(&incoming, &limited);
    let row = || async { gateway.store.ledger().get("test", "limited").await.unwrap() };
    wait_support::until("the message set aside", wait_support::TIMEOUT, || async {
        row().await.is_some_and(|row| row.deferred)
    })
    .await;
    let row = row().await.unwrap();
    assert!(row.state.is_pending(), "{row:?}");
    assert!(
        row.next_attempt_at >= before + 40_000,
        "due in 40 s, as the network asked (not the 1 s backoff): {row:?}"
    );
    assert_eq!(row.reason.as_deref(), Some("HTTP 429"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_on_a_fetch_stop_the_gateway_and_keep_the_message() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start(Arc::clone(&channel)).await;
    let message = dm("refused", "fetched with a bad token");
    channel.answer(&message.id, FetchAnswer::Refused);
    Running::deliver_id(&incoming, &message);
    let (result, store) = gateway.stopped().await;
    let err = result.unwrap_err();
    assert_eq!(
        moltbot_core::error::chain(&err).to_string(),
        "channel test stopped: GET /messages failed (bad token)"
    );
    let row = store
        .ledger()
        .get("test", "refused")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, InboundState::Received, "still pending: {row:?}");
    assert!(
        !row.deferred,
        "not set aside: the next start answers it at once"
    );
}

/// An agent that thinks for `think`, then answers `reply` (or fails when it is `None`).
struct SlowAgent {
    think: Duration,
    reply: Option<&'static str>,
}

impl Agent for SlowAgent {
    fn name(&self) -> &str {
        "slow"
    }

    fn reply<'a>(&'a self, _req: &'a AgentRequest) -> AgentFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(self.think).await;
            match self.reply {
                Some(text) => Ok(AgentReply::text(text)),
                None => Err(AgentError::BadOutput("broken on purpose".into())),
            }
        })
    }
}

async fn start_slow(channel: &Arc<ScriptedChannel>, reply: Option<&'static str>) -> Running {
    let agent = SlowAgent {
        think: Duration::from_millis(300),
        reply,
    };
    let options = GatewayOptions {
        typing_delay: Some(Duration::from_millis(50)),
        ..GatewayOptions::default()
    };
    start_with(Arc::clone(channel), Arc::new(agent), options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_deletes_its_placeholder_first() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start_slow(&channel, Some("done")).await;
    gateway
        .handle(&incoming, &dm("m1", "take a while"), InboundState::Replied)
        .await;
    let texts: Vec<String> = channel.sent().into_iter().map(|(_, text)| text).collect();
    assert_eq!(texts, [PLACEHOLDER_TEXT, "done"]);
    assert_eq!(*channel.deleted.lock().unwrap(), ["sent-1"]);
    // The placeholder's record is gone once the outbox holds its fate.
    let kv = gateway.store.kv();
    assert_eq!(kv.get("placeholder", "test/m1").await.unwrap(), None);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apology_the_channel_cannot_edit_in_is_posted() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start_slow(&channel, None).await;
    gateway
        .handle(&incoming, &dm("m1", "break"), InboundState::Replied)
        .await;
    let texts: Vec<String> = channel.sent().into_iter().map(|(_, text)| text).collect();
    assert_eq!(
        texts,
        [PLACEHOLDER_TEXT, APOLOGY],
        "edit refused: posted instead"
    );
    // ...and the placeholder, which would go on saying "Working on it...", taken away.
    assert_eq!(*channel.deleted.lock().unwrap(), ["sent-1"]);
    gateway.stop().await;
}

/// Reads every PDF as `text of N bytes`, counting its calls.
#[derive(Debug, Default)]
struct FakeReader {
    calls: Mutex<usize>,
}

impl DocumentText for FakeReader {
    fn pdf_text<'a>(&'a self, pdf: &'a [u8]) -> PdfTextFuture<'a> {
        *self.calls.lock().unwrap() += 1;
        Box::pin(std::future::ready(PdfText::Text(format!(
            "text of {} bytes",
            pdf.len()
        ))))
    }
}

/// A request's files as `(name, pdf_text)`.
type SeenFiles = Vec<(String, Option<PdfText>)>;

/// Answers `ok`, recording each request's files.
#[derive(Default)]
struct FileRecorder {
    wants_pdf_text: bool,
    seen: Mutex<Vec<SeenFiles>>,
}

impl Agent for FileRecorder {
    fn name(&self) -> &str {
        "recorder"
    }

    fn reply<'a>(&'a self, req: &'a AgentRequest) -> AgentFuture<'a> {
        let files = req
            .attachments
            .iter()
            .map(|a| (a.name.clone(), a.pdf_text.clone()))
            .collect();
        self.seen.lock().unwrap().push(files);
        Box::pin(std::future::ready(Ok(AgentReply::text("ok"))))
    }

    fn wants_pdf_text(&self) -> bool {
        self.wants_pdf_text
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdfs_are_read_for_an_agent_that_wants_their_text_and_only_for_it() {
    for wants_pdf_text in [true, false] {
        let (channel, incoming) = ScriptedChannel::new();
        let reader = Arc::new(FakeReader::default());
        let agent = Arc::new(FileRecorder {
            wants_pdf_text,
            ..FileRecorder::default()
        });
        let options = GatewayOptions {
            document_text: Some(Arc::clone(&reader) as Arc<dyn DocumentText>),
            ..GatewayOptions::default()
        };
        let gateway = start_with(
            Arc::clone(&channel),
            Arc::clone(&agent) as Arc<dyn Agent>,
            options,
        )
        .await;
        let mut message = dm("m1", "read these");
        message.files = vec![
            "https://files.example/report.pdf".into(),
            "https://files.example/notes.txt".into(),
        ];
        gateway
            .handle(&incoming, &message, InboundState::Replied)
            .await;
        let seen = agent.seen.lock().unwrap().clone();
        let expected_pdf_text = wants_pdf_text.then(|| PdfText::Text("text of 13 bytes".into()));
        assert_eq!(
            seen,
            [vec![
                ("report.pdf".to_string(), expected_pdf_text),
                ("notes.txt".to_string(), None),
            ]],
            "wants_pdf_text: {wants_pdf_text}"
        );
        assert_eq!(*reader.calls.lock().unwrap(), usize::from(wants_pdf_text));
        gateway.stop().await;
    }
}

/// Answers `re: <text>`, recording the history each request carried (`"<role>: <text>"`).
#[derive(Default)]
struct HistoryRecorder {
    seen: Mutex<Vec<Vec<String>>>,
}

impl Agent for HistoryRecorder {
    fn name(&self) -> &str {
        "history recorder"
    }

    fn reply<'a>(&'a self, req: &'a AgentRequest) -> AgentFuture<'a> {
        let history = req
            .history
            .iter()
            .map(|turn| format!("{}: {}", turn.role.as_str(), turn.text))
            .collect();
        self.seen.lock().unwrap().push(history);
        let answer = format!("re: {}", req.text);
        Box::pin(std::future::ready(Ok(AgentReply::text(answer))))
    }
}

/// A direct message from `person` in `room`, as the channel would normalise it.
fn dm_from(person: &str, room: &str, id: &str, text: &str) -> InboundMessage {
    let mut message = dm(id, text);
    message.room_id = room.to_string();
    message.sender.id = person.to_string();
    message
}

/// The worker reads a room's session history while the message is being fetched, guessing the
/// session from the room's last answer (`history_ahead.rs`): each answer must still get exactly
/// its own session's history, after a reset, and when the guess is wrong (the same room, now
/// another person's session: not something Webex does, but the guess must never leak a
/// history).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_answer_gets_its_own_sessions_history_when_it_is_read_during_the_fetch() {
    let (channel, incoming) = ScriptedChannel::new();
    let agent = Arc::new(HistoryRecorder::default());
    let gateway = start_with(
        Arc::clone(&channel),
        Arc::clone(&agent) as Arc<dyn Agent>,
        GatewayOptions::default(),
    )
    .await;
    let script = [
        ("alice", "one"),
        ("alice", "two"),
        ("bob", "from bob"),
        ("alice", "three"),
        ("alice", "/reset"),
        ("alice", "after the reset"),
    ];
    for (n, (person, text)) in script.into_iter().enumerate() {
        let message = dm_from(person, "room-shared", &format!("m{n}"), text);
        gateway.reply_by_id(&channel, &incoming, &message).await;
    }
    let seen = agent.seen.lock().unwrap().clone();
    let turns = |texts: &[&str]| texts.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    assert_eq!(
        seen,
        [
            turns(&[]),
            turns(&["user: one", "assistant: re: one"]),
            turns(&[]),
            turns(&[
                "user: one",
                "assistant: re: one",
                "user: two",
                "assistant: re: two"
            ]),
            turns(&[]),
        ],
        "alice's history for alice, none of it for bob, nothing after the reset (the reset \
         itself is a command: the agent is not asked)"
    );
    gateway.stop().await;
}

/// Starts early fetches of `ids` together; whether each was alone when it started.
async fn early_fetches(incoming: &mpsc::UnboundedSender<Incoming>, ids: &[&str]) -> Vec<bool> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let ids = ids.iter().map(|id| id.to_string()).collect();
    incoming.send(Incoming::EarlyFetches(ids, tx)).unwrap();
    rx.await.unwrap()
}

/// A webhook receiver lets its message's early fetch go out before its claim only when no other
/// early fetch runs and no message waits in a room's queue (`EarlyFetch::is_alone`; the
/// second case is the next test): in a burst it answers Webex first. A fetch stops counting
/// once it ends or is cancelled, so the gateway is "alone" again afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_fetch_is_alone_only_when_no_other_is_running() {
    let (channel, incoming) = ScriptedChannel::new();
    for id in ["slow-1", "slow-2"] {
        channel
            .fetch_gates
            .lock()
            .unwrap()
            .insert(id.to_string(), Arc::new(tokio::sync::Semaphore::new(0)));
    }
    let gateway = start(Arc::clone(&channel)).await;
    assert_eq!(
        early_fetches(&incoming, &["slow-1", "slow-2"]).await,
        [true, false],
        "the second starts while the first waits on the network"
    );
    // Both were cancelled when dropped: the next one is alone again.
    wait_support::until("a new early fetch alone", wait_support::TIMEOUT, || async {
        early_fetches(&incoming, &["next"]).await == [true]
    })
    .await;
    // One that ran to its end (an unknown id is skipped at once) does not count either.
    gateway
        .reply_by_id(&channel, &incoming, &dm("quick", "hello"))
        .await;
    assert_eq!(early_fetches(&incoming, &["after"]).await, [true]);
    gateway.stop().await;
}

/// An agent that answers `ok` once the test lets it (one permit per answer), counting the
/// questions it got.
struct GatedAgent {
    gate: tokio::sync::Semaphore,
    asked: std::sync::atomic::AtomicUsize,
}

impl GatedAgent {
    fn closed() -> Self {
        Self {
            gate: tokio::sync::Semaphore::new(0),
            asked: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl Agent for GatedAgent {
    fn name(&self) -> &str {
        "gated"
    }

    fn reply<'a>(&'a self, _req: &'a AgentRequest) -> AgentFuture<'a> {
        Box::pin(async move {
            self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let permit = self.gate.acquire().await;
            permit
                .map_err(|_| AgentError::BadOutput("gate closed".into()))?
                .forget();
            Ok(AgentReply::text("ok"))
        })
    }
}

/// In a burst (messages waiting in a room's queue, even with no fetch running) a webhook
/// receiver does not let its early fetch go first: it answers its delivery at once (webex-sim,
/// for one, posts the next delivery only after that answer). A message being answered by a
/// slow agent is no burst: with nothing waiting behind it, the early fetch still goes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_fetch_is_not_alone_while_messages_wait_in_a_room() {
    let (channel, incoming) = ScriptedChannel::new();
    let agent = Arc::new(GatedAgent::closed());
    let gateway = start_with(
        Arc::clone(&channel),
        Arc::clone(&agent) as Arc<dyn Agent>,
        GatewayOptions::default(),
    )
    .await;
    let first = dm("thinking", "take your time");
    let second = dm("waiting", "and me after it");
    incoming
        .send(Incoming::Ready(Box::new(first.clone())))
        .unwrap();
    wait_support::until("the agent asked", wait_support::TIMEOUT, || async {
        agent.asked.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(
        early_fetches(&incoming, &["beside-a-slow-agent"]).await,
        [true],
        "a message being answered is not waiting"
    );
    incoming
        .send(Incoming::Ready(Box::new(second.clone())))
        .unwrap();
    wait_support::until("a message waiting", wait_support::TIMEOUT, || async {
        early_fetches(&incoming, &["during"]).await == [false]
    })
    .await;
    agent.gate.add_permits(2);
    for message in [&first, &second] {
        wait_support::until("the messages replied", wait_support::TIMEOUT, || async {
            gateway.state_of(&message.id).await == Some(InboundState::Replied)
        })
        .await;
    }
    assert_eq!(early_fetches(&incoming, &["after"]).await, [true]);
    gateway.stop().await;
}

/// Options whose leases are short, so the re-drive task runs every 200 ms.
fn quick_redrive() -> GatewayOptions {
    GatewayOptions {
        lease: Duration::from_millis(600),
        ..GatewayOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_answer_could_not_be_recorded_is_answered_once_the_store_works_again() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start_with(Arc::clone(&channel), Arc::new(EchoAgent), quick_redrive()).await;
    let message = dm("m-full", "answer me when the disk has room");
    channel.fetchable(&message);
    // The answer's reply body cannot be stored (a full disk, say).
    gateway.break_store("full_disk", "INSERT ON outbox_bodies");
    Running::deliver_id(&incoming, &message);
    // Tried, and tried again while the store refuses: still pending, never given up, nothing
    // sent.
    wait_support::until("a retry", wait_support::TIMEOUT, || async {
        channel.fetches_of(&message.id) >= 3
    })
    .await;
    assert_eq!(
        gateway.state_of(&message.id).await,
        Some(InboundState::Received)
    );
    assert!(channel.sent().is_empty(), "{:?}", channel.sent());
    // The disk has room again: answered, once, without a restart.
    gateway.mend_store("full_disk");
    wait_support::until("the message replied", wait_support::TIMEOUT, || async {
        gateway.state_of(&message.id).await == Some(InboundState::Replied)
    })
    .await;
    assert_eq!(
        channel.sent(),
        [(None, "answer me when the disk has room".to_string())]
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_retry_could_not_be_recorded_is_not_left_until_a_restart() {
    let (channel, incoming) = ScriptedChannel::new();
    let gateway = start_with(Arc::clone(&channel), Arc::new(EchoAgent), quick_redrive()).await;
    let message = dm("m-unreadable", "unreadable at first, then the disk fills");
    channel.fetchable(&message);
    // Its first fetch fails, and setting it aside for a retry cannot be recorded.
    channel
        .fetch_failures
        .lock()
        .unwrap()
        .insert(message.id.clone(), 1);
    gateway.break_store("full_disk", "UPDATE OF next_attempt_at ON ledger");
    Running::deliver_id(&incoming, &message);
    wait_support::until("the failed fetch", wait_support::TIMEOUT, || async {
        channel.fetches_of(&message.id) >= 1
    })
    .await;
    gateway.mend_store("full_disk");
    // Its lease, renewed while the gateway runs, would have kept it pending until a restart.
    wait_support::until("the message replied", wait_support::TIMEOUT, || async {
        gateway.state_of(&message.id).await == Some(InboundState::Replied)
    })
    .await;
    assert_eq!(
        channel.sent(),
        [(None, "unreadable at first, then the disk fills".to_string())]
    );
    gateway.stop().await;
}
