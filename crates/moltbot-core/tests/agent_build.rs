//! Building the agent from config, and the small pure helpers of the agent runtime.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup should panic loudly

mod agent_support;

use std::path::Path;
use std::time::Duration;

use agent_support::{openai_ok, request, MockServer, Reply};
use moltbot_core::agent::{
    answer, api_key_env, build_agent, error_message, parse_command_output, parse_openai_reply,
    parse_output, retry_after, trim_history, Agent, AgentBuildError, AgentError, AgentFuture,
    AgentReply, AgentRequest, AnswerOptions, RetryPolicy, SessionKey, Turn, APOLOGY,
};
use moltbot_core::config::{parse, AgentsConfig, CoreConfig, ModelsConfig};
use serde_json::json;

const KEY: &str = "sk-or-test-0123456789abcdef";

fn core(source: &str) -> CoreConfig {
    parse(Path::new("moltbot.json"), source, &no_env)
        .unwrap()
        .core
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[tokio::test]
async fn no_model_is_the_echo_agent() {
    let agent = build_agent(&AgentsConfig::default(), &ModelsConfig::default(), &no_env).unwrap();
    assert_eq!(agent.name(), "echo");
    let reply = agent
        .reply(&request("Hello there", vec![], None))
        .await
        .unwrap();
    assert_eq!(reply.text, "Hello there");
}

#[tokio::test]
async fn echo_provider_is_the_echo_agent() {
    let cfg = core(r#"{ agents: { defaults: { model: "echo/echo" } } }"#);
    let agent = build_agent(&cfg.agents, &cfg.models, &no_env).unwrap();
    assert_eq!(agent.name(), "echo");
}

#[tokio::test]
async fn custom_provider_from_config_reaches_its_base_url() {
    let server = MockServer::start(vec![Reply::new(200, openai_ok("from llama"))]).await;
    let cfg = core(&format!(
        r#"{{
            agents: {{ defaults: {{ model: {{ primary: "local/llama3.1:8b" }}, timeoutSeconds: 5 }} }},
            models: {{ providers: {{ local: {{ baseUrl: "{}/v1", apiKey: "{KEY}", api: "openai-completions" }} }} }},
        }}"#,
        server.url
    ));
    let agent = build_agent(&cfg.agents, &cfg.models, &no_env).unwrap();
    assert_eq!(agent.name(), "local/llama3.1:8b");

    let reply = agent
        .reply(&request("hi", vec![], Some("sys")))
        .await
        .unwrap();

    assert_eq!(reply.text, "from llama");
    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.body["model"], "llama3.1:8b");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(moltbot_core::logging::is_registered(KEY));
}

#[tokio::test]
async fn anthropic_provider_key_comes_from_the_environment() {
    let server = MockServer::start(vec![Reply::new(
        200,
        json!({"content": [{"type": "text", "text": "hi from claude"}]}),
    )])
    .await;
    let cfg = core(&format!(
        r#"{{
            agents: {{ defaults: {{ model: "anthropic/claude-sonnet-4-5" }} }},
            models: {{ providers: {{ anthropic: {{ baseUrl: "{}" }} }} }},
        }}"#,
        server.url
    ));
    let env =
        |name: &str| (name == "ANTHROPIC_API_KEY").then(|| "sk-ant-from-env-123456".to_string());
    let agent = build_agent(&cfg.agents, &cfg.models, &env).unwrap();

    let reply = agent.reply(&request("hi", vec![], None)).await.unwrap();

    assert_eq!(reply.text, "hi from claude");
    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.header("x-api-key"), Some("sk-ant-from-env-123456"));
    assert_eq!(r.body["model"], "claude-sonnet-4-5");
}

#[test]
fn hosted_providers_need_a_key() {
    let cfg = core(
        r#"{ agents: { defaults: { model: "openai/gpt-4o-mini" } }, models: { providers: { openai: {} } } }"#,
    );
    let err = build_agent(&cfg.agents, &cfg.models, &no_env)
        .err()
        .unwrap();
    assert_eq!(
        err,
        AgentBuildError::MissingApiKey {
            provider: "openai".to_string(),
            env: "OPENAI_API_KEY".to_string()
        }
    );
    let env =
        |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-env-0123456789abcdef".to_string());
    let agent = build_agent(&cfg.agents, &cfg.models, &env).unwrap();
    assert_eq!(agent.name(), "openai/gpt-4o-mini");
}

#[test]
fn well_known_providers_need_no_providers_entry() {
    let mut agents = AgentsConfig::default();
    agents.defaults.model = moltbot_core::config::ModelRef::parse("ollama/llama3.2");
    let agent = build_agent(&agents, &ModelsConfig::default(), &no_env).unwrap();
    assert_eq!(agent.name(), "ollama/llama3.2");

    agents.defaults.model = moltbot_core::config::ModelRef::parse("nowhere/model");
    let err = build_agent(&agents, &ModelsConfig::default(), &no_env)
        .err()
        .unwrap();
    assert_eq!(err, AgentBuildError::UnknownProvider("nowhere".to_string()));
}

#[tokio::test]
async fn command_provider_from_config() {
    let cfg = core(
        r#"{
            agents: { defaults: { model: "script/any" } },
            models: { providers: { script: { command: "sh", args: ["-c", "echo built from config"] } } },
        }"#,
    );
    let agent = build_agent(&cfg.agents, &cfg.models, &no_env).unwrap();
    assert_eq!(agent.name(), "script/any");
    let reply = agent.reply(&request("hi", vec![], None)).await.unwrap();
    assert_eq!(reply.text, "built from config");
}

#[test]
fn api_key_env_names() {
    assert_eq!(api_key_env("openai"), "OPENAI_API_KEY");
    assert_eq!(api_key_env("openrouter"), "OPENROUTER_API_KEY");
    assert_eq!(api_key_env("my-vllm.box"), "MY_VLLM_BOX_API_KEY");
}

#[test]
fn session_keys_and_history_trimming() {
    assert_eq!(SessionKey::direct("chat", "p1").as_str(), "chat:dm:p1");
    assert_eq!(SessionKey::group("chat", "r1").to_string(), "chat:room:r1");
    let history: Vec<Turn> = (0..5).map(|i| Turn::user(format!("m{i}"))).collect();
    let texts = |h: &[Turn]| h.iter().map(|t| t.text.clone()).collect::<Vec<_>>();
    assert_eq!(texts(trim_history(&history, 2)), ["m3", "m4"]);
    assert_eq!(trim_history(&history, 10).len(), 5);
    assert!(trim_history(&history, 0).is_empty());
}

#[test]
fn backoff_doubles_with_equal_jitter_up_to_max_delay() {
    let policy = RetryPolicy::default();
    // backon computes in f32: a few nanoseconds of rounding per doubling.
    let slack = Duration::from_micros(1);
    for _ in 0..50 {
        let delays: Vec<Duration> = policy.delays().take(6).collect();
        for (n, delay) in delays.iter().enumerate() {
            let full = (policy.base_delay * (1 << n)).min(policy.max_delay);
            assert!(
                *delay + slack >= full / 2 && *delay <= full + slack,
                "wait after attempt {}: {delay:?} not in [{:?}, {full:?}]",
                n + 1,
                full / 2
            );
        }
    }
    // The default: about 0.5 s, then 1 s, never more than 8 s.
    assert_eq!(policy.base_delay, Duration::from_millis(500));
    assert_eq!(policy.max_delay, Duration::from_secs(8));
}

#[test]
fn retry_after_reads_seconds_only() {
    let mut headers = reqwest::header::HeaderMap::new();
    assert_eq!(retry_after(&headers), None);
    headers.insert("retry-after", "7".parse().unwrap());
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    headers.insert(
        "retry-after",
        "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
    );
    assert_eq!(retry_after(&headers), None);
}

#[test]
fn error_messages_from_provider_bodies() {
    assert_eq!(
        error_message(br#"{"error":{"message":"bad key"}}"#),
        "bad key"
    );
    assert_eq!(
        error_message(br#"{"type":"error","error":{"type":"x","message":"overloaded"}}"#),
        "overloaded"
    );
    assert_eq!(error_message(br#"{"error":"plain"}"#), "plain");
    assert_eq!(
        error_message(b"<html>502 Bad Gateway</html>"),
        "<html>502 Bad Gateway</html>"
    );
    assert_eq!(error_message(b""), "(empty response)");
    assert!(error_message("x".repeat(1000).as_bytes()).chars().count() <= 301);
}

#[test]
fn openai_reply_parsing_is_lenient() {
    assert_eq!(parse_openai_reply(&openai_ok("hi")).unwrap().text, "hi");
    let refusal = json!({"choices": [{"message": {"content": null, "refusal": "I can't."}}]});
    assert_eq!(parse_openai_reply(&refusal).unwrap().text, "I can't.");
    let empty = json!({"choices": [{"message": {"content": ""}, "finish_reason": "length"}]});
    assert!(parse_openai_reply(&empty)
        .unwrap_err()
        .to_string()
        .contains("length"));
    let error = json!({"error": {"message": "rate limited", "code": 429}});
    assert_eq!(parse_openai_reply(&error).unwrap_err().status(), Some(429));
}

#[test]
fn command_output_parsing() {
    assert_eq!(parse_output("  hello\n").unwrap().text, "hello");
    assert_eq!(parse_output(r#"{"text": " hi "}"#).unwrap().text, "hi");
    assert_eq!(
        parse_output(r#"{"other": 1}"#).unwrap().text,
        r#"{"other": 1}"#
    );
    assert_eq!(parse_output("[1, 2]").unwrap().text, "[1, 2]");
    assert!(parse_output("\n \n").is_err());
    let reasoned = parse_output(r#"{"text": "Sunny.", "reasoning": " look up "}"#).unwrap();
    assert_eq!(
        (reasoned.text.as_str(), reasoned.reasoning.as_deref()),
        ("Sunny.", Some("look up"))
    );
    let only = parse_output(r#"{"text": "", "reasoning": "thinking"}"#).unwrap();
    assert_eq!(
        (only.text.as_str(), only.reasoning.as_deref()),
        ("", Some("thinking"))
    );
    assert!(parse_output(r#"{"text": "", "reasoning": " "}"#).is_err());
    assert!(parse_output(r#"{"text": ""}"#).is_err());
}

#[test]
fn command_output_with_files_and_a_card() {
    let full = parse_command_output(
        r#"{"text": "Done.", "files": ["a.txt", 3, "https://e.com/b.pdf"], "card": {"type": "AdaptiveCard"}}"#,
    )
    .unwrap();
    assert_eq!(full.reply.text, "Done.");
    assert_eq!(full.files, ["a.txt", "https://e.com/b.pdf"]);
    assert_eq!(
        full.reply.card,
        Some(serde_json::json!({"type": "AdaptiveCard"}))
    );
    // Files or a card alone are an answer; neither text nor anything else is not.
    let files_only = parse_command_output(r#"{"files": ["a.txt"]}"#).unwrap();
    assert_eq!(
        (files_only.reply.text.as_str(), files_only.files.len()),
        ("", 1)
    );
    assert!(parse_command_output(r#"{"card": {"type": "AdaptiveCard"}}"#).is_ok());
    assert!(parse_command_output(r#"{"text": "", "files": [], "card": null}"#).is_err());
}

struct Panicking;

impl Agent for Panicking {
    fn name(&self) -> &str {
        "panicking"
    }

    fn reply<'a>(&'a self, _req: &'a AgentRequest) -> AgentFuture<'a> {
        Box::pin(async { panic!("provider sent something odd") })
    }
}

struct Blank;

impl Agent for Blank {
    fn name(&self) -> &str {
        "blank"
    }

    fn reply<'a>(&'a self, _req: &'a AgentRequest) -> AgentFuture<'a> {
        Box::pin(async { Ok(AgentReply::text("  ")) })
    }
}

#[tokio::test]
async fn answer_never_fails() {
    let echo = build_agent(&AgentsConfig::default(), &ModelsConfig::default(), &no_env).unwrap();
    let req = request("same text", vec![], None);
    // The answer future is Send, so a gateway can run it on a spawned task.
    let ok =
        tokio::spawn(async move { answer(echo.as_ref(), &req, AnswerOptions::default()).await })
            .await
            .unwrap();
    assert!(ok.is_reply());
    assert_eq!(ok.text, "same text");

    let panicked = answer(
        &Panicking,
        &request("hi", vec![], None),
        AnswerOptions::default(),
    )
    .await;
    assert_eq!(panicked.text, APOLOGY);
    assert!(matches!(panicked.error, Some(AgentError::BadOutput(_))));

    let blank = answer(
        &Blank,
        &request("hi", vec![], None),
        AnswerOptions::default(),
    )
    .await;
    assert_eq!(blank.text, APOLOGY);
    assert!(!blank.is_reply());
}
