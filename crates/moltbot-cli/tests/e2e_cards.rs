//! Card submissions reach the agent, through the binary against webex-sim: the submitted inputs
//! come as a readable line and as the structured `card` field, in the card's room and session,
//! under the access policy of the person who submitted.

#![allow(clippy::unwrap_used)] // tests may unwrap

use moltbot_core::store::InboundState;
use moltbot_testkit::{wait, Scenario};
use serde_json::{json, Value};

/// Answers `<text> | <card as JSON, keys sorted>`.
const CARD_ECHO_AGENT: &str = r#"#!/usr/bin/env python3
import json, sys
request = json.load(sys.stdin)
print(request["text"] + " | " + json.dumps(request["card"], sort_keys=True))
"#;

/// A feedback form: a choice and a comment.
fn feedback_form() -> Value {
    json!({
        "type": "AdaptiveCard",
        "version": "1.3",
        "body": [
            {"type": "Input.ChoiceSet", "id": "choice", "choices": [
                {"title": "A", "value": "A"}, {"title": "B", "value": "B"}]},
            {"type": "Input.Text", "id": "comment"}
        ],
        "actions": [{"type": "Action.Submit", "title": "Send"}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_submission_is_answered_in_its_room() {
    let s = Scenario::start_with_agent("webhook", r#"groupPolicy: "open","#, CARD_ECHO_AGENT).await;
    let team = s.sim.space("Team", &["alice"]);
    let card = s
        .sim
        .as_user(&s.bot)
        .post_card(&team, "Feedback form", feedback_form())
        .await;

    s.alice()
        .submit_card(&card, json!({"choice": "B", "comment": "needs work"}))
        .await;

    let replies = s.wait_replies(&team, 2).await;
    assert_eq!(
        replies[1],
        r#"[card submitted] choice: B, comment: "needs work" | {"choice": "B", "comment": "needs work"}"#
    );
    s.settled().await;
    assert_eq!(s.bot_texts(&team).len(), 2, "answered exactly once");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_submission_is_refused_to_whom_the_policy_refuses_a_message() {
    // Spaces are open to Alice only; Bob is a member but not on the list.
    let s = Scenario::start_with_agent(
        "webhook",
        r#"groupPolicy: "allowlist", groupAllowFrom: ["alice@example.com"],"#,
        CARD_ECHO_AGENT,
    )
    .await;
    let team = s.sim.space("Team", &["alice", "bob"]);
    let card = s
        .sim
        .as_user(&s.bot)
        .post_card(&team, "Feedback form", feedback_form())
        .await;

    s.bob().submit_card(&card, json!({"choice": "A"})).await;
    s.settled().await;
    assert_eq!(
        s.bot_texts(&team).len(),
        1,
        "Bob's submission is not answered"
    );
    let bobs = s.sim.card_submissions()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.gateway().ledger().finished(&bobs, wait::TIMEOUT).await,
        InboundState::Skipped
    );

    s.alice().submit_card(&card, json!({"choice": "B"})).await;
    let replies = s.wait_replies(&team, 2).await;
    assert_eq!(
        replies[1],
        r#"[card submitted] choice: B | {"choice": "B"}"#
    );
    s.finish().await;
}
