//! Access control end to end (spec section 4, issue 5): every `dmPolicy` x `groupPolicy` x
//! sender x room type through the real `moltbot gateway` binary against webex-sim, plus the
//! 3-pending pairing cap and code expiry.
//!
//! One gateway per policy configuration. A DM's fate depends only on `dmPolicy` and a space
//! message's only on `groupPolicy`, so four gateways, each with one `dmPolicy` and one
//! `groupPolicy`, cover every cell of both tables; they run concurrently (two in webhook mode,
//! two in polling mode), so the whole table costs one gateway start plus one settle time.
//!
//! Senders: one in `allowFrom` by email (mixed case in the config), one in `allowFrom` by person
//! id (with a `webex:` prefix), one approved with `moltbot pair webex <email>` before the
//! gateway starts, one in `groupAllowFrom` only, and an unknown person. Rooms: their DM with the
//! bot, and one space where each of them posts a message that @mentions the bot and one that
//! does not. Webex delivers a space message to a bot only when it is @mentioned
//! (developer.webex.com/docs/bots: "in group spaces, bots must be @mentioned to access the
//! message"), and webex-sim enforces that: the gateway never sees unmentioned space messages, so
//! "no reply, and nothing about the message in the log" is the only observable for those rows
//! under every policy (the `space message without mention` drop reason cannot occur with a bot
//! token).
//!
//! Each cell is classified from what is observable: the bot's messages in the room (echo agent:
//! the reply is the text without the mention), the gateway's debug log (`message dropped` lines
//! carry the message id and the reason) and `/metrics`
//! (`moltbot_messages_dropped_total{channel="webex",reason=..}`). The observed table is printed
//! (run with `--nocapture`) and compared with the spec's table.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::{output_text, pairing_list, TestHome};
use moltbot_testkit::{wait, RunningGateway, Scenario, World};
use webex_sim::{SimMessage, SimPerson};

/// The policy configurations, one gateway each: (mode, dmPolicy, groupPolicy).
const CONFIGS: [(&str, &str, &str); 4] = [
    ("webhook", "pairing", "allowlist"),
    ("polling", "allowlist", "mention"),
    ("webhook", "open", "open"),
    ("polling", "disabled", "disabled"),
];
const DM_POLICIES: [&str; 4] = ["pairing", "allowlist", "open", "disabled"];
const GROUP_POLICIES: [&str; 4] = ["allowlist", "mention", "open", "disabled"];

// Drop reasons as the spec / issue 5 name them (log text) and their metrics labels.
const DM_NOT_ALLOWED: &str = "dm not allowed (dmPolicy=allowlist)";
const DM_DISABLED: &str = "dms disabled (dmPolicy=disabled)";
const SPACE_SENDER_NOT_ALLOWED: &str = "space sender not in groupAllowFrom";
const SPACES_DISABLED: &str = "spaces disabled (groupPolicy=disabled)";
const PAIRING_LIMIT: &str = "pairing request limit reached";

/// The `reason` label of `moltbot_messages_dropped_total` for a drop reason.
fn metrics_label(reason: &str) -> &'static str {
    match reason {
        DM_NOT_ALLOWED => "dm_not_allowed",
        DM_DISABLED => "dm_disabled",
        SPACE_SENDER_NOT_ALLOWED => "space_sender_not_allowed",
        SPACES_DISABLED => "space_disabled",
        PAIRING_LIMIT => "pairing_limit_reached",
        other => panic!("no metrics label for {other:?}"),
    }
}

/// The kinds of sender in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    AllowEmail,
    AllowId,
    Approved,
    GroupAllowed,
    Unknown,
}

const SENDERS: [Who; 5] = [
    Who::AllowEmail,
    Who::AllowId,
    Who::Approved,
    Who::GroupAllowed,
    Who::Unknown,
];

impl Who {
    fn label(self) -> &'static str {
        match self {
            Who::AllowEmail => "in `allowFrom` by email (mixed case)",
            Who::AllowId => "in `allowFrom` by `webex:`person id",
            Who::Approved => "approved (`moltbot pair webex <email>`)",
            Who::GroupAllowed => "in `groupAllowFrom` only",
            Who::Unknown => "unknown",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Who::AllowEmail => "allow-email",
            Who::AllowId => "allow-id",
            Who::Approved => "approved",
            Who::GroupAllowed => "group-allowed",
            Who::Unknown => "unknown",
        }
    }
}

/// Where a message is posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Dm,
    SpaceMention,
    SpacePlain,
}

const PLACES: [Place; 3] = [Place::Dm, Place::SpaceMention, Place::SpacePlain];

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The echo came back, once.
    Answered,
    /// Exactly one pairing reply naming the sender's email, the code and the approve command.
    PairingReply,
    /// No reply; logged at debug as `message dropped` with this reason.
    Dropped(String),
    /// No reply, and the gateway never logged the message (Webex never delivered it).
    NotDelivered,
    /// Anything else (a bug), described.
    Other(String),
}

impl Outcome {
    fn cell(&self) -> String {
        match self {
            Outcome::Answered => "answered".into(),
            Outcome::PairingReply => "pairing reply (not processed)".into(),
            Outcome::Dropped(reason) => format!("dropped: `{reason}`"),
            Outcome::NotDelivered => "not delivered to the bot".into(),
            Outcome::Other(what) => format!("UNEXPECTED: {what}"),
        }
    }
}

/// The spec's outcome for one cell (section 4).
fn expected(dm_policy: &str, group_policy: &str, who: Who, place: Place) -> Outcome {
    let in_allow_from_or_approved = matches!(who, Who::AllowEmail | Who::AllowId | Who::Approved);
    match place {
        Place::Dm => match dm_policy {
            "open" => Outcome::Answered,
            "disabled" => Outcome::Dropped(DM_DISABLED.into()),
            _ if in_allow_from_or_approved => Outcome::Answered,
            "pairing" => Outcome::PairingReply,
            "allowlist" => Outcome::Dropped(DM_NOT_ALLOWED.into()),
            other => panic!("unknown dmPolicy {other}"),
        },
        Place::SpaceMention => match group_policy {
            "open" | "mention" => Outcome::Answered,
            "disabled" => Outcome::Dropped(SPACES_DISABLED.into()),
            // Only groupAllowFrom counts: allowFrom and pairing approvals grant DMs only.
            "allowlist" if who == Who::GroupAllowed => Outcome::Answered,
            "allowlist" => Outcome::Dropped(SPACE_SENDER_NOT_ALLOWED.into()),
            other => panic!("unknown groupPolicy {other}"),
        },
        Place::SpacePlain => Outcome::NotDelivered,
    }
}

/// One message the test sent.
struct Sent {
    who: Who,
    place: Place,
    person: SimPerson,
    message: SimMessage,
    /// What the echo agent answers.
    echo: String,
}

/// What one gateway configuration did.
struct ConfigRun {
    dm_policy: &'static str,
    group_policy: &'static str,
    cells: Vec<(Who, Place, Outcome)>,
    /// `moltbot_messages_dropped_total{channel="webex",reason=..}` by reason label.
    dropped_metrics: BTreeMap<String, u64>,
    /// `message dropped` log lines by reason text.
    dropped_log: BTreeMap<String, u64>,
    /// Problems found outside the cells (pairing list, exit code, ...).
    problems: Vec<String>,
    elapsed: Duration,
}

/// `moltbot_messages_dropped_total` for channel webex, by reason label (reasons that never
/// happened are exported at 0 from start-up and left out here).
async fn dropped_metrics(gateway: &RunningGateway) -> BTreeMap<String, u64> {
    let text = reqwest::get(format!("{}/metrics", gateway.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = "moltbot_messages_dropped_total{channel=\"webex\",reason=\"";
    text.lines()
        .filter_map(|line| line.strip_prefix(prefix))
        .filter_map(|rest| {
            let (reason, value) = rest.split_once("\"} ")?;
            Some((reason.to_string(), value.trim().parse().ok()?))
        })
        .filter(|(_, count): &(String, u64)| *count > 0)
        .collect()
}

/// The `reason="..."` field of a log line.
fn reason_field(line: &str) -> Option<String> {
    let start = line.find("reason=\"")? + "reason=\"".len();
    let end = line[start..].find('"')?;
    Some(line[start..start + end].to_string())
}

/// The reasons of the `message dropped` lines in `log`, counted (a line not at debug level is
/// counted under a key that says so, so it cannot match the expectation).
fn dropped_log_lines(log: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in log.lines().filter(|l| l.contains("message dropped")) {
        let mut reason = reason_field(line).unwrap_or_else(|| format!("no reason in {line:?}"));
        if !line.contains("DEBUG") {
            reason.push_str(" (not at debug level)");
        }
        *counts.entry(reason).or_insert(0) += 1;
    }
    counts
}

/// Classifies one sent message from the bot's messages in its room and the gateway log.
fn observe(world: &World, log: &str, sent: &Sent, pending: &[serde_json::Value]) -> Outcome {
    let texts = world.bot_texts(&sent.message);
    let replies: Vec<&String> = match sent.place {
        // A DM room holds only this conversation: every bot message there is a reply to it.
        Place::Dm => texts.iter().collect(),
        // The space is shared: count the echoes of this message.
        Place::SpaceMention | Place::SpacePlain => {
            texts.iter().filter(|t| **t == sent.echo).collect()
        }
    };
    let logged: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&sent.message.id))
        .collect();
    match replies.as_slice() {
        [] => {
            if let Some(line) = logged.iter().find(|l| l.contains("message dropped")) {
                Outcome::Dropped(reason_field(line).unwrap_or_else(|| line.to_string()))
            } else if logged.is_empty() {
                Outcome::NotDelivered
            } else {
                Outcome::Other(format!("no reply and no drop line; log: {logged:?}"))
            }
        }
        [reply] if **reply == sent.echo => Outcome::Answered,
        [reply] if reply.contains("pairing") => check_pairing_reply(reply, &sent.person, pending),
        more => Outcome::Other(format!("{} replies: {more:?}", more.len())),
    }
}

/// A pairing reply must name the sender's email and `moltbot pairing approve webex <CODE>` with
/// the code `pairing list` shows for them.
fn check_pairing_reply(reply: &str, person: &SimPerson, pending: &[serde_json::Value]) -> Outcome {
    let Some(request) = pending.iter().find(|r| r["email"] == person.email.as_str()) else {
        return Outcome::Other(format!(
            "pairing reply but no pending request for {}: {reply:?}",
            person.email
        ));
    };
    let code = request["code"].as_str().unwrap_or_default();
    let command = format!("moltbot pairing approve webex {code}");
    if code.len() == 8 && reply.contains(&person.email) && reply.contains(&command) {
        Outcome::PairingReply
    } else {
        Outcome::Other(format!(
            "pairing reply without email / `{command}`: {reply:?}"
        ))
    }
}

/// Waits until the gateway has finished each of `sent` (recorded and replied or skipped in its
/// ledger), then for the quiet signal, so anything extra (a second reply, an answer to a
/// dropped message) has shown up too.
async fn handled_then_settled(s: &Scenario, sent: &[&SimMessage]) {
    for message in sent {
        s.handled(message).await;
    }
    s.settled().await;
}

/// Runs one gateway with `dm_policy` / `group_policy`, sends every sender's messages and
/// observes what happened to each.
async fn run_config(mode: &str, dm_policy: &'static str, group_policy: &'static str) -> ConfigRun {
    let started = Instant::now();
    let world = World::new().await;
    let sim = &world.sim;
    let people = [
        (Who::AllowEmail, world.alice().person().clone()),
        (Who::AllowId, world.bob().person().clone()),
        (
            Who::Approved,
            sim.add_person("erin@example.com", "Erin Approved"),
        ),
        (
            Who::GroupAllowed,
            sim.add_person("frank@example.com", "Frank Spaces"),
        ),
        (
            Who::Unknown,
            sim.add_person("gina@example.com", "Gina Unknown"),
        ),
    ];
    // `dmPolicy: "open"` requires "*" in allowFrom (spec section 2). A generous budget keeps the
    // many runs of this table from ever waiting on the limiter.
    let star = if dm_policy == "open" { r#""*", "# } else { "" };
    let home = TestHome::new();
    home.write_config(&world.config(
        mode,
        &format!(
            r#"dmPolicy: "{dm_policy}",
      allowFrom: [{star}" Alice@EXAMPLE.com ", "webex:{bob_id}"],
      groupPolicy: "{group_policy}",
      groupAllowFrom: ["webex:FRANK@Example.COM"],
      rateLimit: {{ requestsPerMinute: 6000 }},"#,
            bob_id = world.bob().id(),
        ),
    ));
    let out = home
        .moltbot()
        .args(["pair", "webex", "erin@example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "pair: {:?}", output_text(&out));

    let names: Vec<&str> = people.iter().map(|(_, p)| p.email.as_str()).collect();
    let space = sim.space("Access table", &names);

    let s = Scenario::start_in(world, home).await;
    // The approval queued by `moltbot pair` before the start is dealt with (sent, or given up
    // because Erin never wrote to the bot), so its DM cannot race with the table's messages.
    let ledger = s.gateway().ledger();
    let notified = wait::until_async(wait::TIMEOUT, || async {
        let pending = ledger.pending().await.ok()?;
        pending.notices.is_empty().then_some(())
    })
    .await;
    assert!(notified.is_ok(), "the approval notice is still pending");
    let tag = format!("{dm_policy}/{group_policy}");
    let mut sent = Vec::new();
    for (who, person) in &people {
        let user = s.sim.as_user(person);
        for place in PLACES {
            let echo = format!("{tag} {} {place:?}", who.slug());
            let message = match place {
                Place::Dm => user.dm_bot(&echo).await,
                Place::SpaceMention => user.mention_bot(&space, &echo).await,
                Place::SpacePlain => user.post(&space, &echo).await,
            };
            sent.push(Sent {
                who: *who,
                place,
                person: person.clone(),
                message,
                echo,
            });
        }
    }

    let delivered: Vec<&SimMessage> = sent
        .iter()
        .filter(|s| expected(dm_policy, group_policy, s.who, s.place) != Outcome::NotDelivered)
        .map(|s| &s.message)
        .collect();
    handled_then_settled(&s, &delivered).await;
    let (world, home, gateway) = (&*s, &s.home, s.gateway());

    let log = gateway.stderr_text();
    let pending = pairing_list(home);
    let cells = sent
        .iter()
        .map(|s| (s.who, s.place, observe(world, &log, s, &pending)))
        .collect::<Vec<_>>();
    let mut problems = Vec::new();
    let paired = cells
        .iter()
        .filter(|(_, _, o)| *o == Outcome::PairingReply)
        .count();
    if pending.len() != paired {
        problems.push(format!(
            "{tag}: `pairing list` shows {} requests, {paired} pairing replies: {pending:?}",
            pending.len()
        ));
    }
    // Nothing but the expected replies in the space (e.g. no answer to an unmentioned message).
    let space_texts = world.bot_texts(&space.id);
    let unexplained: Vec<&String> = space_texts
        .iter()
        .filter(|t| !sent.iter().any(|s| s.place != Place::Dm && **t == s.echo))
        .collect();
    if !unexplained.is_empty() {
        problems.push(format!("{tag}: unexpected space messages {unexplained:?}"));
    }
    let dropped_metrics = dropped_metrics(gateway).await;
    let dropped_log = dropped_log_lines(&log);
    let mut s = s;
    let code = s.stop_gateway().await;
    if code != Some(0) {
        problems.push(format!("{tag}: gateway exited with {code:?}; log:\n{log}"));
    }
    ConfigRun {
        dm_policy,
        group_policy,
        cells,
        dropped_metrics,
        dropped_log,
        problems,
        elapsed: started.elapsed(),
    }
}

/// The outcome of `who` in `place` under the run that has the given policy.
fn cell<'a>(runs: &'a [ConfigRun], policy: &str, who: Who, place: Place) -> &'a Outcome {
    let run = runs
        .iter()
        .find(|r| match place {
            Place::Dm => r.dm_policy == policy,
            Place::SpaceMention | Place::SpacePlain => r.group_policy == policy,
        })
        .unwrap();
    run.cells
        .iter()
        .find(|(w, p, _)| *w == who && *p == place)
        .map(|(_, _, o)| o)
        .unwrap()
}

/// The observed policy tables as markdown.
fn markdown_tables(runs: &[ConfigRun]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### DMs (`dmPolicy`)\n");
    let _ = writeln!(
        out,
        "| Sender | {} |",
        DM_POLICIES.map(|p| format!("`{p}`")).join(" | ")
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for who in SENDERS {
        let cells = DM_POLICIES.map(|p| cell(runs, p, who, Place::Dm).cell());
        let _ = writeln!(out, "| {} | {} |", who.label(), cells.join(" | "));
    }
    let _ = writeln!(out, "\n### Spaces (`groupPolicy`)\n");
    let _ = writeln!(
        out,
        "| Sender | Message | {} |",
        GROUP_POLICIES.map(|p| format!("`{p}`")).join(" | ")
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for who in SENDERS {
        for (place, what) in [
            (Place::SpaceMention, "@mentions the bot"),
            (Place::SpacePlain, "no mention"),
        ] {
            let cells = GROUP_POLICIES.map(|p| cell(runs, p, who, place).cell());
            let _ = writeln!(out, "| {} | {what} | {} |", who.label(), cells.join(" | "));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_table_through_the_gateway() {
    let started = Instant::now();
    let [a, b, c, d] = CONFIGS;
    let (ra, rb, rc, rd) = tokio::join!(
        run_config(a.0, a.1, a.2),
        run_config(b.0, b.1, b.2),
        run_config(c.0, c.1, c.2),
        run_config(d.0, d.1, d.2),
    );
    let runs = [ra, rb, rc, rd];
    println!("{}", markdown_tables(&runs));
    for run in &runs {
        println!(
            "{}/{}: {:.1?}, dropped metrics {:?}",
            run.dm_policy, run.group_policy, run.elapsed, run.dropped_metrics
        );
    }
    println!("total {:.1?}", started.elapsed());

    let mut mismatches = Vec::new();
    for run in &runs {
        mismatches.extend(run.problems.iter().cloned());
        let mut want_metrics: BTreeMap<String, u64> = BTreeMap::new();
        let mut want_log: BTreeMap<String, u64> = BTreeMap::new();
        for (who, place, observed) in &run.cells {
            let want = expected(run.dm_policy, run.group_policy, *who, *place);
            if *observed != want {
                mismatches.push(format!(
                    "dmPolicy={} groupPolicy={} sender={} {place:?}: expected {}, observed {}",
                    run.dm_policy,
                    run.group_policy,
                    who.slug(),
                    want.cell(),
                    observed.cell()
                ));
            }
            match want {
                Outcome::Dropped(reason) => {
                    *want_metrics
                        .entry(metrics_label(&reason).to_string())
                        .or_insert(0) += 1;
                    *want_log.entry(reason).or_insert(0) += 1;
                }
                Outcome::PairingReply => {
                    *want_metrics
                        .entry("pairing_requested".to_string())
                        .or_insert(0) += 1;
                }
                _ => {}
            }
        }
        // The bot's own messages (delivered by webhooks, listed by polling) are counted under
        // reason "own_message"; they are not access decisions.
        let mut access_metrics = run.dropped_metrics.clone();
        access_metrics.remove("own_message");
        if access_metrics != want_metrics {
            mismatches.push(format!(
                "{}/{}: dropped metrics {access_metrics:?}, expected {want_metrics:?}",
                run.dm_policy, run.group_policy
            ));
        }
        if run.dropped_log != want_log {
            mismatches.push(format!(
                "{}/{}: `message dropped` log lines {:?}, expected {want_log:?}",
                run.dm_policy, run.group_policy, run.dropped_log
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Moves every pending pairing request of `home` one hour and one second into the past (as if
/// that time had passed), by editing the shared SQLite store the running gateway uses.
fn age_pending_requests_past_expiry(home: &TestHome) {
    let conn = rusqlite::Connection::open(home.store_path()).unwrap();
    conn.busy_timeout(moltbot_core::store::BUSY_TIMEOUT)
        .unwrap();
    let changed = conn
        .execute(
            "UPDATE pairing_requests
             SET requested_at = requested_at - 3601000, expires_at = expires_at - 3601000
             WHERE status = 'pending'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 3, "three pending requests aged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_cap_and_expiry_through_the_gateway() {
    let s = Scenario::start(
        "webhook",
        r#"dmPolicy: "pairing", rateLimit: { requestsPerMinute: 6000 },"#,
    )
    .await;
    let people = [s.alice(), s.bob(), s.user("carol"), s.user("dave")];

    // Four unknown senders: three pairing replies; the fourth is dropped (and gets nothing).
    let mut hellos = Vec::new();
    for p in &people {
        hellos.push(p.dm_bot("hello?").await);
    }
    handled_then_settled(&s, &hellos.iter().collect::<Vec<_>>()).await;
    let replies: Vec<Vec<String>> = hellos.iter().map(|m| s.bot_texts(m)).collect();
    let log = s.log();
    assert_eq!(
        replies.iter().filter(|r| r.len() == 1).count(),
        3,
        "three pairing replies: {replies:?}\n{log}"
    );
    let refused = replies.iter().position(Vec::is_empty).unwrap();
    let pending = pairing_list(&s.home);
    assert_eq!(pending.len(), 3, "{pending:?}");
    for (i, p) in people.iter().enumerate() {
        let listed = pending.iter().find(|r| r["email"] == p.email());
        assert_eq!(listed.is_some(), i != refused, "{pending:?}");
        if let Some(request) = listed {
            let code = request["code"].as_str().unwrap();
            assert!(replies[i][0].contains(code), "{}", replies[i][0]);
        }
    }
    // The refused message: a debug drop line with its id and reason, and a metric.
    let refused_id = &hellos[refused].id;
    assert!(
        log.lines().any(|l| l.contains("message dropped")
            && l.contains(refused_id.as_str())
            && l.contains(PAIRING_LIMIT)),
        "{log}"
    );
    let metrics = dropped_metrics(s.gateway()).await;
    assert_eq!(
        metrics.get("pairing_limit_reached"),
        Some(&1),
        "{metrics:?}"
    );
    assert_eq!(metrics.get("pairing_requested"), Some(&3), "{metrics:?}");

    // An hour passes: the codes expire, `pairing list` is empty, an old code no longer works.
    age_pending_requests_past_expiry(&s.home);
    assert!(pairing_list(&s.home).is_empty());
    let old_code = pending[0]["code"].as_str().unwrap().to_string();
    let out = s
        .home
        .moltbot()
        .args(["pairing", "approve", "webex", &old_code])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    assert!(!out.status.success(), "expired code approved: {stdout}");
    assert!(stderr.to_lowercase().contains("expired"), "{stderr}");

    // Slots are free again: the refused sender now gets a code, and an expired one a new code.
    let again = (0..people.len()).find(|i| *i != refused).unwrap();
    let old_again = pending
        .iter()
        .find(|r| r["email"] == people[again].email())
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let me_again = people[refused].dm_bot("me again").await;
    let still_there = people[again].dm_bot("still there?").await;
    handled_then_settled(&s, &[&me_again, &still_there]).await;
    let refused_replies = s.bot_texts(&me_again);
    let again_replies = s.bot_texts(&still_there);
    let log = s.log();
    assert_eq!(refused_replies.len(), 1, "{refused_replies:?}\n{log}");
    assert_eq!(again_replies.len(), 2, "{again_replies:?}\n{log}");
    let pending = pairing_list(&s.home);
    assert_eq!(pending.len(), 2, "{pending:?}");
    for (room_replies, person) in [
        (&refused_replies, &people[refused]),
        (&again_replies, &people[again]),
    ] {
        let request = pending
            .iter()
            .find(|r| r["email"] == person.email())
            .unwrap();
        let code = request["code"].as_str().unwrap();
        assert!(
            room_replies.last().unwrap().contains(code),
            "{room_replies:?}"
        );
        assert_ne!(code, old_again.as_str(), "a new code after expiry");
    }
    s.finish().await;
}
