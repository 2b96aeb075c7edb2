//! The Anthropic Messages provider against a local recording server.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

mod agent_support;

use std::time::{Duration, Instant};

use agent_support::{
    anthropic_ok, ask, direct_request, fast_retry, person, request, MockServer, Reply,
};
use moltbot_core::agent::speakers::GROUP_NOTE;
use moltbot_core::agent::{
    anthropic_messages_url, Agent, AgentError, AnthropicAgent, HttpAgentOptions, Turn,
    ANTHROPIC_MAX_TOKENS, ANTHROPIC_VERSION,
};
use moltbot_core::config::Secret;
use serde_json::json;

const KEY: &str = "sk-ant-test-abcdefghijklmnopqrstuvwxyz";

fn agent(base_url: &str, timeout: Duration) -> AnthropicAgent {
    AnthropicAgent::new(
        "anthropic/claude-test",
        base_url,
        "claude-test",
        Some(&Secret::new(KEY)),
        HttpAgentOptions {
            timeout,
            retry: fast_retry(),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn sends_model_system_merged_history_and_headers() {
    let server = MockServer::start(vec![Reply::new(200, anthropic_ok("Hel", "lo"))]).await;
    let agent = agent(&server.url, Duration::from_secs(5));
    let history = vec![
        Turn::assistant("a greeting nobody asked for"),
        Turn::user_by("first", person("Bob")),
        Turn::user("second"),
        Turn::assistant("answer"),
    ];
    let req = request("third", history, Some("You are terse."));

    let reply = agent.reply(&req).await.unwrap();

    assert_eq!(reply.text, "Hello");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("anthropic-version"), Some(ANTHROPIC_VERSION));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.body["model"], "claude-test");
    assert_eq!(r.body["max_tokens"], ANTHROPIC_MAX_TOKENS);
    // A group session: the note on speakers follows the prompt, and every user turn names its
    // author (a turn stored without one says so).
    assert_eq!(r.body["system"], format!("You are terse.\n\n{GROUP_NOTE}"));
    assert_eq!(
        r.body["messages"],
        json!([
            {"role": "user", "content": "[Bob <bob@example.com>]: first\n\n[unknown sender]: second"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "[Alice <alice@example.com>]: third"}
        ])
    );
}

#[tokio::test]
async fn versioned_base_url_is_not_doubled_and_no_prompt_means_no_system() {
    let server = MockServer::start(vec![Reply::new(200, anthropic_ok("o", "k"))]).await;
    let agent = agent(&format!("{}/v1/", server.url), Duration::from_secs(5));

    agent
        .reply(&direct_request("hi", vec![Turn::user("earlier")], None))
        .await
        .unwrap();

    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/messages");
    assert!(r.body.get("system").is_none());
    // A trailing user turn in the history (say, an earlier failed turn) merges with the message.
    assert_eq!(
        r.body["messages"],
        json!([{"role": "user", "content": "earlier\n\nhi"}])
    );
}

#[test]
fn messages_url_follows_both_base_url_conventions() {
    assert_eq!(
        anthropic_messages_url("https://api.anthropic.com"),
        "https://api.anthropic.com/v1/messages"
    );
    assert_eq!(
        anthropic_messages_url("https://api.anthropic.com/v1"),
        "https://api.anthropic.com/v1/messages"
    );
    assert_eq!(
        anthropic_messages_url("https://proxy.example/anthropic/"),
        "https://proxy.example/anthropic/v1/messages"
    );
}

#[tokio::test]
async fn a_500_is_retried_then_succeeds() {
    let server = MockServer::start(vec![
        Reply::new(
            500,
            json!({"type": "error", "error": {"type": "api_error", "message": "internal"}}),
        ),
        Reply::new(200, anthropic_ok("fine", "")),
    ])
    .await;
    let reply = agent(&server.url, Duration::from_secs(5))
        .reply(&request("hi", vec![], None))
        .await
        .unwrap();
    assert_eq!(reply.text, "fine");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_400_is_not_retried_and_keeps_the_message() {
    let server = MockServer::start(vec![Reply::new(
        400,
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}}),
    )])
    .await;
    let err = agent(&server.url, Duration::from_secs(5))
        .reply(&request("hi", vec![], None))
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 1);
    assert_eq!(err.status(), Some(400));
    assert_eq!(
        err.to_string(),
        "provider error (HTTP 400): max_tokens: too large"
    );
}

#[tokio::test]
async fn overloaded_529_is_retried_a_bounded_number_of_times() {
    let server = MockServer::start(vec![Reply::new(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )])
    .await;
    let err = agent(&server.url, Duration::from_secs(5))
        .reply(&request("hi", vec![], None))
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 3);
    assert_eq!(err.status(), Some(529));
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let server = MockServer::start(vec![
        Reply::new(200, anthropic_ok("late", "")).delayed(Duration::from_secs(5))
    ])
    .await;
    let started = Instant::now();
    let err = agent(&server.url, Duration::from_millis(300))
        .reply(&request("hi", vec![], None))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Timeout { .. }), "{err:?}");
    assert_eq!(err.to_string(), "the agent did not answer within 300 ms");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn an_answer_without_text_is_an_error() {
    let body = json!({"content": [], "stop_reason": "refusal"});
    let server = MockServer::start(vec![Reply::new(200, body)]).await;
    let err = agent(&server.url, Duration::from_secs(5))
        .reply(&request("hi", vec![], None))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::BadOutput(_)), "{err:?}");
    assert!(err.to_string().contains("refusal"));
}

#[tokio::test]
async fn thinking_blocks_are_reasoning_and_redacted_ones_are_ignored() {
    let body = json!({
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "The sky is clear.", "signature": "sig"},
            {"type": "redacted_thinking", "data": "encrypted"},
            {"type": "text", "text": "<thinking>more</thinking>It is sunny."}
        ],
        "stop_reason": "end_turn"
    });
    let server = MockServer::start(vec![Reply::new(200, body)]).await;
    let agent = agent(&server.url, Duration::from_secs(5));
    let hidden = ask(&agent, "Weather?", vec![], false).await;
    assert_eq!(hidden.text, "It is sunny.");
    assert_eq!(hidden.history.as_deref(), Some("It is sunny."));
    let shown = ask(&agent, "Weather?", vec![], true).await;
    assert_eq!(
        shown.posted(),
        "> The sky is clear.\n>\n> more\n\nIt is sunny."
    );
    assert!(!shown.text.contains("encrypted"));
}

#[tokio::test]
async fn requests_alternate_and_end_on_the_new_user_turn() {
    let server = MockServer::start(vec![Reply::new(200, anthropic_ok("o", "k"))]).await;
    let agent = agent(&server.url, Duration::from_secs(5));
    // An empty user turn between two answers, and an answer that was only reasoning: left out,
    // the turns around them merged so roles still alternate.
    let history = vec![
        Turn::user("Hi"),
        Turn::assistant("Hello!"),
        Turn::user(""),
        Turn::assistant("<think>nothing to say</think>"),
        Turn::assistant("Anything else?"),
    ];
    ask(&agent, "Yes: the weather.", history, false).await;
    let messages = &server.requests()[0].body["messages"];
    assert_eq!(
        messages,
        &json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!\n\nAnything else?"},
            {"role": "user", "content": "Yes: the weather."}
        ])
    );
}

mod streaming {
    use moltbot_core::agent::{AgentError, AnthropicStream, StreamedAnswer};
    use serde_json::json;

    #[test]
    fn text_deltas_are_passed_on_thinking_kept_apart_message_stop_ends() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut stream = AnthropicStream::default();
        for data in [
            json!({"type": "message_start", "message": {"content": []}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hello "}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "there."}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
        ] {
            assert!(!stream.event(&data.to_string(), &tx).unwrap(), "{data}");
        }
        assert!(stream
            .event(&json!({"type": "message_stop"}).to_string(), &tx)
            .unwrap());
        drop(tx);
        let mut pieces = Vec::new();
        while let Ok(piece) = rx.try_recv() {
            pieces.push(piece);
        }
        assert_eq!(pieces, ["Hello ", "there."]);
        let reply = stream.reply().unwrap();
        assert_eq!(reply.text, "Hello there.");
        assert_eq!(reply.reasoning.as_deref(), Some("Hmm."));
    }

    #[test]
    fn an_error_event_fails_the_turn() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let mut stream = AnthropicStream::default();
        let err = stream
            .event(
                r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
                &tx,
            )
            .unwrap_err();
        assert!(matches!(err, AgentError::Provider { .. }), "{err}");
        assert!(err.to_string().contains("Overloaded"), "{err}");
    }
}
