//! Polls end to end, through the binary against webex-sim: `moltbot poll create` posts the
//! card, room members vote by pressing its button (one vote each, changeable until close),
//! `moltbot poll results` counts, `moltbot poll close` (or the close time) makes the running
//! gateway post the tally in the room; `/poll` does the same from chat. Polling mode refuses
//! polls (Webex has no list of card submissions), and in websocket mode a vote cast while the
//! gateway was stopped is redelivered and counted.

#![allow(clippy::unwrap_used)] // tests may unwrap

use moltbot_core::store::InboundState;
use moltbot_testkit::{wait, Scenario, TestHome, World, OPEN};
use serde_json::{json, Value};
use webex_sim::{SimMessage, SimRoom, SimUser};

/// Spaces open to Alice only: votes are open to every member all the same.
const ALICE_ONLY: &str = r#"groupPolicy: "allowlist", groupAllowFrom: ["alice@example.com"],"#;

/// Runs `moltbot <args>` in the scenario's home; returns stdout. Panics unless it succeeds.
fn moltbot(s: &Scenario, args: &[&str]) -> String {
    let out = s.home.moltbot().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "moltbot {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `poll create` of "Lunch?" (Pizza, Sushi, Tacos) in `room`, then `extra`.
fn lunch_poll<'a>(room: &'a SimRoom, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = lunch_poll_of(room, &["Pizza", "Sushi", "Tacos"]);
    args.extend_from_slice(extra);
    args
}

/// `poll create` of "Lunch?" with `options` in `room`.
fn lunch_poll_of<'a>(room: &'a SimRoom, options: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "poll",
        "create",
        "--channel",
        "webex",
        "--to",
        &room.id,
        "Lunch?",
    ];
    for option in options {
        args.extend_from_slice(&["--option", option]);
    }
    args
}

/// `moltbot poll create --json` in `room`; returns the poll id and its card message.
fn create_poll(s: &Scenario, room: &SimRoom, extra: &[&str]) -> (String, SimMessage) {
    let mut args = lunch_poll(room, extra);
    args.push("--json");
    let created: Value = serde_json::from_str(&moltbot(s, &args)).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["roomId"], room.id.as_str());
    (id, card_in(s, room))
}

/// The last message with a card the bot posted in `room`.
fn card_in(s: &Scenario, room: &SimRoom) -> SimMessage {
    s.sim
        .bot_replies_in(room)
        .into_iter()
        .rev()
        .find(|m| !m.attachments.is_empty())
        .unwrap_or_else(|| panic!("no card in the room:\n{}", s.log()))
}

/// `voter` picks option `choice` (1-based) on `card` and presses Vote; returns the action id.
async fn vote(voter: SimUser<'_>, card: &SimMessage, choice: &str) -> String {
    let action = voter
        .press_submit(card, json!({ "moltbotChoice": choice }))
        .await;
    action["id"].as_str().unwrap().to_string()
}

/// Waits until the gateway finished the card submission `action`; returns its state.
async fn finished(s: &Scenario, action: &str) -> InboundState {
    s.gateway().ledger().finished(action, wait::TIMEOUT).await
}

/// `moltbot poll results <id> --json`: the votes per option and the number of voters.
fn results(s: &Scenario, id: &str) -> (Vec<u64>, u64, String) {
    let summary: Value =
        serde_json::from_str(&moltbot(s, &["poll", "results", id, "--json"])).unwrap();
    let votes = summary["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["votes"].as_u64().unwrap())
        .collect();
    (
        votes,
        summary["voters"].as_u64().unwrap(),
        summary["status"].as_str().unwrap().to_string(),
    )
}

/// Waits for the tally in `room` (the bot's last message starts with `**Poll closed:**`).
async fn tally_in(s: &Scenario, room: &SimRoom) -> String {
    let texts = s
        .wait_replies_until(room, wait::TIMEOUT, "the poll's tally", |texts| {
            texts
                .last()
                .is_some_and(|t| t.starts_with("**Poll closed:**"))
        })
        .await;
    texts.last().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_one_changing_are_tallied_at_close() {
    let s = Scenario::start("webhook", ALICE_ONLY).await;
    let room = s.sim.space("Lunch", &["alice", "bob", "carol"]);
    let (id, card) = create_poll(&s, &room, &[]);
    assert!(
        card.content().starts_with("Poll: Lunch?"),
        "{}",
        card.content()
    );

    let alice = vote(s.alice(), &card, "1").await;
    let bob = vote(s.bob(), &card, "2").await;
    let carol = vote(s.user("carol"), &card, "2").await;
    for action in [&alice, &bob, &carol] {
        assert_eq!(finished(&s, action).await, InboundState::Replied);
    }
    let changed = vote(s.bob(), &card, "1").await;
    assert_eq!(finished(&s, &changed).await, InboundState::Replied);
    assert_eq!(results(&s, &id), (vec![2, 1, 0], 3, "open".to_string()));

    let closed: Value =
        serde_json::from_str(&moltbot(&s, &["poll", "close", &id, "--json"])).unwrap();
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["gatewayRunning"], true);
    assert_eq!(
        tally_in(&s, &room).await,
        "**Poll closed:** Lunch?\n- Pizza: 2\n- Sushi: 1\n- Tacos: 0\n\n3 votes counted."
    );

    // After the close a vote is not counted.
    let late = vote(s.user("carol"), &card, "3").await;
    assert_eq!(finished(&s, &late).await, InboundState::Skipped);
    assert_eq!(results(&s, &id), (vec![2, 1, 0], 3, "closed".to_string()));
    s.settled().await;
    assert_eq!(
        s.bot_texts(&room).len(),
        2,
        "the card and the tally, no vote acknowledged in the room"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_from_chat_and_one_that_closes_by_itself() {
    let s = Scenario::start("webhook", ALICE_ONLY).await;
    let room = s.sim.space("Team", &["alice", "bob", "carol"]);

    // Carol may not talk to the bot here: her /poll is not answered.
    let refused = s
        .user("carol")
        .mention_bot(&room, r#"/poll "Carol's?" X | Y"#)
        .await;
    assert_eq!(s.handled(&refused).await, InboundState::Skipped);

    s.alice()
        .mention_bot(&room, r#"/poll "Where?" Here | There"#)
        .await;
    let texts = s.wait_replies(&room, 1).await;
    assert!(
        texts[0].starts_with("Poll: Where?\n1. Here\n2. There"),
        "{texts:?}"
    );
    let card = card_in(&s, &room);
    let id = card.attachments[0]["content"]["actions"][0]["data"]["moltbotPoll"]
        .as_str()
        .unwrap()
        .to_string();
    let bobs = vote(s.bob(), &card, "2").await;
    assert_eq!(finished(&s, &bobs).await, InboundState::Replied);
    moltbot(&s, &["poll", "close", &id]);
    assert_eq!(
        tally_in(&s, &room).await,
        "**Poll closed:** Where?\n- Here: 0\n- There: 1\n\n1 vote counted."
    );

    // Closing it again, once the tally is posted, says so.
    wait::eventually("the tally recorded as posted", || {
        let summary: Value =
            serde_json::from_str(&moltbot(&s, &["poll", "results", &id, "--json"])).unwrap();
        summary["announced"] == true
    })
    .await;
    let again = moltbot(&s, &["poll", "close", &id]);
    assert!(
        again.starts_with(&format!(
            "Poll {id} was already closed; its tally was already posted in the room."
        )),
        "{again}"
    );

    // --closes-in: the gateway closes it by itself and posts the tally.
    let (timed, _card) = create_poll(&s, &room, &["--closes-in", "1s"]);
    assert!(tally_in(&s, &room)
        .await
        .starts_with("**Poll closed:** Lunch?"));
    assert_eq!(results(&s, &timed).2, "closed");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_multiple_a_voter_picks_several_options() {
    let s = Scenario::start("webhook", OPEN).await;
    let room = s.sim.space("Lunch", &["alice", "bob"]);
    let (id, card) = create_poll(&s, &room, &["--multiple"]);
    assert_eq!(
        card.attachments[0]["content"]["body"][1]["isMultiSelect"],
        true
    );
    let alice = vote(s.alice(), &card, "1,3").await;
    let bob = vote(s.bob(), &card, "3").await;
    for action in [&alice, &bob] {
        assert_eq!(finished(&s, action).await, InboundState::Replied);
    }
    assert_eq!(results(&s, &id), (vec![1, 0, 2], 2, "open".to_string()));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_mode_refuses_polls_with_the_reason() {
    let s = Scenario::start("polling", OPEN).await;
    let room = s.sim.space("Lunch", &["alice"]);
    let out = s
        .home
        .moltbot()
        .args(lunch_poll(&room, &[]))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Webex delivers card submissions (poll votes, form answers) only by webhook or websocket"),
        "{stderr}"
    );
    assert!(s.bot_texts(&room).is_empty(), "nothing was sent");

    let asked = s
        .alice()
        .mention_bot(&room, r#"/poll "Where?" A | B"#)
        .await;
    let texts = s.wait_replies(&asked, 1).await;
    assert!(
        texts[0].starts_with("I cannot run polls here: Webex delivers card submissions"),
        "{texts:?}"
    );
    assert!(card_free(&s.sim.bot_replies_in(&room)));
    s.finish().await;
}

fn card_free(messages: &[SimMessage]) -> bool {
    messages.iter().all(|m| m.attachments.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_websocket_mode_a_vote_cast_while_stopped_is_counted() {
    let world = World::new().await;
    let home = TestHome::new();
    // No safety poll: what reaches the gateway came over the socket.
    home.write_config(&world.websocket_config("safetyPollSeconds: 0", OPEN));
    let mut s = Scenario::start_in(world, home).await;
    let room = s.sim.space("Lunch", &["alice", "bob"]);
    let (id, card) = create_poll(&s, &room, &[]);
    let alice = vote(s.alice(), &card, "1").await;
    assert_eq!(finished(&s, &alice).await, InboundState::Replied);

    assert_eq!(s.stop_gateway().await, Some(0));
    let bob = vote(s.bob(), &card, "3").await;
    s.start_gateway().await;

    assert_eq!(finished(&s, &bob).await, InboundState::Replied);
    assert_eq!(results(&s, &id), (vec![1, 0, 1], 2, "open".to_string()));
    moltbot(&s, &["poll", "close", &id]);
    assert_eq!(
        tally_in(&s, &room).await,
        "**Poll closed:** Lunch?\n- Pizza: 1\n- Sushi: 0\n- Tacos: 1\n\n2 votes counted."
    );
    s.finish().await;
}

/// Waits until the gateway finished card submission `action` (as rendered by the emulator);
/// returns its state and recorded reason.
async fn outcome(s: &Scenario, action: &Value) -> (InboundState, Option<String>) {
    let id = action["id"].as_str().unwrap();
    let state = finished(s, id).await;
    let entry = s.gateway().ledger().entry(id).await.unwrap().unwrap();
    (state, entry.reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_counts_only_on_its_polls_own_card() {
    // Open spaces: a submission that got past the votes would reach the agent, which answers.
    let s = Scenario::start("webhook", OPEN).await;
    let room = s.sim.space("Lunch", &["alice", "bob"]);
    let (a, card_a) = create_poll(&s, &room, &[]);
    let (b, card_b) = create_poll(&s, &room, &[]);
    let other_poll = Some("vote naming another poll than its card's".to_string());

    // Poll B's card submitted with data naming poll A (a client can send any data).
    let forged = s
        .bob()
        .submit_card(&card_b, json!({ "moltbotPoll": a, "moltbotChoice": "1" }))
        .await;
    assert_eq!(
        outcome(&s, &forged).await,
        (InboundState::Skipped, other_poll.clone())
    );

    // Closed poll B's id carried on open poll A's card.
    moltbot(&s, &["poll", "close", &b]);
    tally_in(&s, &room).await;
    let closed = s
        .bob()
        .submit_card(&card_a, json!({ "moltbotPoll": b, "moltbotChoice": "2" }))
        .await;
    assert_eq!(
        outcome(&s, &closed).await,
        (InboundState::Skipped, other_poll)
    );

    // A card the bot posted that is no poll's card, with data naming poll A.
    let form = s
        .sim
        .as_user(&s.bot)
        .post_card(
            &room,
            "Feedback",
            json!({ "type": "AdaptiveCard", "version": "1.3", "body": [],
                    "actions": [{ "type": "Action.Submit", "title": "Send" }] }),
        )
        .await;
    let elsewhere = s
        .alice()
        .submit_card(&form, json!({ "moltbotPoll": a, "moltbotChoice": "3" }))
        .await;
    assert_eq!(
        outcome(&s, &elsewhere).await,
        (
            InboundState::Skipped,
            Some("vote submitted on a card that is not the poll's".to_string())
        )
    );

    // Poll A's card with the poll's id stripped from the data: still a vote for A.
    let stripped = s
        .alice()
        .submit_card(&card_a, json!({ "moltbotChoice": "2" }))
        .await;
    assert_eq!(outcome(&s, &stripped).await, (InboundState::Replied, None));

    assert_eq!(results(&s, &a), (vec![0, 1, 0], 1, "open".to_string()));
    assert_eq!(results(&s, &b), (vec![0, 0, 0], 0, "closed".to_string()));
    s.settled().await;
    let texts = s.bot_texts(&room);
    assert_eq!(
        texts.len(),
        4,
        "two cards, B's tally and the form; nothing went to the agent: {texts:?}"
    );
    assert!(s.log().contains("vote not counted"), "{}", s.log());
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_and_duplicate_options_are_refused_in_the_cli_and_in_chat() {
    let s = Scenario::start("webhook", OPEN).await;
    let room = s.sim.space("Lunch", &["alice"]);
    for (options, error) in [
        (
            ["Pizza", "pizza"],
            r#"error: the option "pizza" is given twice (options are compared ignoring case)"#,
        ),
        (["Pizza", " "], "error: option 2 is blank"),
    ] {
        let out = s
            .home
            .moltbot()
            .args(lunch_poll_of(&room, &options))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(error), "{stderr}");
    }
    assert!(s.bot_texts(&room).is_empty(), "nothing was sent");

    s.alice()
        .mention_bot(&room, r#"/poll "Lunch?" Pizza | PIZZA"#)
        .await;
    let answer = s.wait_replies(&room, 1).await.remove(0);
    assert!(
        answer.starts_with(r#"the option "PIZZA" is given twice"#),
        "{answer}"
    );
    s.alice()
        .mention_bot(&room, r#"/poll "Lunch?" Pizza | | Sushi"#)
        .await;
    let answer = s.wait_replies(&room, 2).await.remove(1);
    assert!(
        answer.starts_with("option 2 is blank. Usage: `/poll"),
        "{answer}"
    );
    assert!(card_free(&s.sim.bot_replies_in(&room)));

    // A card from either path names its id the same way.
    let (id, card) = create_poll(&s, &room, &[]);
    assert!(
        card.content()
            .ends_with(&format!("\n\nClose it with `moltbot poll close {id}`.")),
        "{}",
        card.content()
    );
    s.finish().await;
}
