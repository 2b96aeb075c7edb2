//! The typed core sections: plugins, agents, models, gateway.

use std::path::Path;

use insta::assert_snapshot;
use moltbot_core::config::{
    parse, render_issues, ConfigError, ConfigIssue, ModelRef, PluginEntry, ProviderApi,
    DEFAULT_AGENT_TIMEOUT_SECONDS, DEFAULT_HISTORY_TURNS, DEFAULT_LEASE_SECONDS,
    DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
};

fn env(name: &str) -> Option<String> {
    (name == "OPENAI_API_KEY").then(|| "sk-test-0123456789abcdef".to_string())
}

fn issues_of(source: &str) -> Vec<ConfigIssue> {
    match parse(Path::new("moltbot.json"), source, &env) {
        Err(ConfigError::Invalid(issues)) => issues,
        other => panic!("expected issues, got {other:?}"),
    }
}

#[test]
fn defaults_when_sections_are_absent() {
    let cfg = parse(Path::new("moltbot.json"), "{}", &env).unwrap();
    let core = &cfg.core;
    assert!(core.plugins.entries.is_empty());
    assert!(!core.plugins.is_enabled("webex"));
    assert_eq!(core.agents.defaults.model, None);
    assert_eq!(
        core.agents.defaults.timeout_seconds,
        DEFAULT_AGENT_TIMEOUT_SECONDS
    );
    assert_eq!(core.agents.defaults.history_turns, DEFAULT_HISTORY_TURNS);
    assert_eq!(
        core.gateway.shutdown_timeout_seconds,
        DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
    );
    assert_eq!(core.models.provider("echo").unwrap().api, ProviderApi::Echo);
    assert!(core.models.provider("openai").is_none());
}

#[test]
fn reads_every_core_section() {
    let source = r#"{
  plugins: { entries: { webex: { enabled: true }, other: { enabled: false }, bare: {} } },
  agents: {
    defaults: {
      model: { primary: "openai/gpt-4o-mini" },
      systemPrompt: "Be brief.",
      timeoutSeconds: 30,
      historyTurns: 4,
    },
  },
  models: {
    providers: {
      openai: { apiKey: "${OPENAI_API_KEY}" },
      local: { baseUrl: "http://127.0.0.1:8080/v1" },
      anthropic: { apiKey: "x" },
      script: { command: "/usr/bin/agent", args: ["--json"] },
    },
  },
  gateway: { shutdownTimeoutSeconds: 5 },
}"#;
    let cfg = parse(Path::new("moltbot.json"), source, &env).unwrap();
    let core = &cfg.core;
    assert_eq!(core.plugins.entries["webex"], PluginEntry { enabled: true });
    assert!(core.plugins.is_enabled("webex"));
    assert!(!core.plugins.is_enabled("other"));
    assert!(core.plugins.is_enabled("bare"));
    let d = &core.agents.defaults;
    assert_eq!(
        d.model,
        Some(ModelRef {
            provider: "openai".into(),
            model: "gpt-4o-mini".into()
        })
    );
    assert_eq!(d.system_prompt.as_deref(), Some("Be brief."));
    assert_eq!((d.timeout_seconds, d.history_turns), (30, 4));
    let openai = &core.models.providers["openai"];
    assert_eq!(openai.api, ProviderApi::OpenAiCompletions);
    assert_eq!(
        openai.base_url.as_deref(),
        Some("https://api.openai.com/v1")
    );
    assert_eq!(
        openai.api_key.as_ref().unwrap().expose(),
        "sk-test-0123456789abcdef"
    );
    assert!(!format!("{openai:?}").contains("0123456789"));
    let local = &core.models.providers["local"];
    assert_eq!(local.base_url.as_deref(), Some("http://127.0.0.1:8080/v1"));
    let anthropic = &core.models.providers["anthropic"];
    assert_eq!(anthropic.api, ProviderApi::AnthropicMessages);
    assert_eq!(
        anthropic.base_url.as_deref(),
        Some("https://api.anthropic.com/v1")
    );
    let script = &core.models.providers["script"];
    assert_eq!(script.api, ProviderApi::Command);
    assert_eq!(script.command.as_deref(), Some("/usr/bin/agent"));
    assert_eq!(script.args, ["--json"]);
    assert_eq!(core.gateway.shutdown_timeout_seconds, 5);
}

#[test]
fn a_model_may_be_a_plain_string_and_contain_slashes() {
    let source = r#"{ agents: { defaults: { model: "router/anthropic/claude" } },
                     models: { providers: { router: { baseUrl: "https://r.example/v1" } } } }"#;
    let cfg = parse(Path::new("moltbot.json"), source, &env).unwrap();
    let model = cfg.core.agents.defaults.model.unwrap();
    assert_eq!(model.provider, "router");
    assert_eq!(model.model, "anthropic/claude");
    assert_eq!(model.to_string(), "router/anthropic/claude");
}

#[test]
fn core_section_problems_are_all_reported() {
    let source = r#"{
  plugins: { entries: { webex: { enabled: "yes", enabeld: true } }, entires: {} },
  agents: {
    defaults: {
      model: { primary: "gpt-4o" },
      timeoutSeconds: 0,
      sytemPrompt: "x",
    },
  },
  models: {
    providers: {
      local: { api: "openai-chat" },
      nourl: {},
      script: { api: "command" },
      web: { baseUrl: "ftp://x" },
    },
  },
  gateway: { shutdownTimeout: 5 },
  channels: { webex: [] },
}"#;
    let issues = issues_of(source);
    assert_snapshot!("core_issues", render_issues(&issues));
}

#[test]
fn an_unknown_model_provider_is_reported() {
    let source = r#"{
  agents: { defaults: { model: "opnai/gpt-4o" } },
  models: { providers: { openai: {} } },
}"#;
    let issues = issues_of(source);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "agents.defaults.model");
    assert_snapshot!("unknown_provider", render_issues(&issues));
}

#[test]
fn show_reasoning_is_a_boolean_off_by_default() {
    let off = parse(Path::new("moltbot.json"), "{}", &env).unwrap();
    assert!(!off.core.agents.defaults.show_reasoning);
    let on = parse(
        Path::new("moltbot.json"),
        "{ agents: { defaults: { showReasoning: true } } }",
        &env,
    )
    .unwrap();
    assert!(on.core.agents.defaults.show_reasoning);
    for bad in ["\"yes\"", "1", "\"true\""] {
        let issues = issues_of(&format!(
            "{{ agents: {{ defaults: {{ showReasoning: {bad} }} }} }}"
        ));
        assert_eq!(issues.len(), 1, "{bad}");
        assert_eq!(issues[0].path, "agents.defaults.showReasoning");
        assert_eq!(issues[0].line, Some(1));
        assert!(issues[0].message.contains("boolean"), "{:?}", issues[0]);
        assert_eq!(
            issues[0].fix.as_deref(),
            Some("use true or false, without quotes")
        );
    }
    let typo = issues_of("{ agents: { defaults: { showReasonning: true } } }");
    assert_eq!(typo[0].path, "agents.defaults.showReasonning");
    assert!(
        typo[0]
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("showReasoning"),
        "{:?}",
        typo[0]
    );
}

#[test]
fn typing_delay_is_seconds_from_0_to_600_two_by_default() {
    let default = parse(Path::new("moltbot.json"), "{}", &env).unwrap();
    assert_eq!(default.core.agents.defaults.typing_delay_seconds, 2.0);
    for (text, want) in [("0", 0.0), ("0.2", 0.2), ("600", 600.0)] {
        let cfg = parse(
            Path::new("moltbot.json"),
            &format!("{{ agents: {{ defaults: {{ typingDelaySeconds: {text} }} }} }}"),
            &env,
        )
        .unwrap();
        assert_eq!(
            cfg.core.agents.defaults.typing_delay_seconds, want,
            "{text}"
        );
    }
    for bad in ["-1", "601", "\"2\"", "true"] {
        let issues = issues_of(&format!(
            "{{ agents: {{ defaults: {{ typingDelaySeconds: {bad} }} }} }}"
        ));
        assert_eq!(issues.len(), 1, "{bad}");
        assert_eq!(issues[0].path, "agents.defaults.typingDelaySeconds");
        assert!(
            issues[0].message.contains("a number from 0 to 600"),
            "{:?}",
            issues[0]
        );
        assert!(
            issues[0].fix.as_deref().unwrap_or("").contains("0 turns"),
            "{:?}",
            issues[0]
        );
    }
}

#[test]
fn streaming_is_off_by_default_and_takes_a_boolean() {
    let default = parse(Path::new("moltbot.json"), "{}", &env).unwrap();
    assert!(!default.core.agents.defaults.streaming);
    let on = parse(
        Path::new("moltbot.json"),
        "{ agents: { defaults: { streaming: true } } }",
        &env,
    )
    .unwrap();
    assert!(on.core.agents.defaults.streaming);
    let issues = issues_of("{ agents: { defaults: { streaming: \"yes\" } } }");
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].path, "agents.defaults.streaming");
}

#[test]
fn gateway_metrics_listen_takes_an_ip_address_with_a_port() {
    let listen = |value: &str| {
        let source = format!("{{ gateway: {{ metrics: {{ listen: {value} }} }} }}");
        parse(Path::new("moltbot.json"), &source, &env).map(|cfg| cfg.core.gateway.metrics_listen)
    };
    assert_eq!(
        listen("\"127.0.0.1:9464\"").unwrap(),
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert_eq!(
        listen("\"[::1]:0\"").unwrap(),
        Some("[::1]:0".parse().unwrap())
    );
    let absent = parse(Path::new("moltbot.json"), "{ gateway: {} }", &env).unwrap();
    assert_eq!(absent.core.gateway.metrics_listen, None);

    for (value, says) in [
        (
            "\"metrics.example.com:9464\"",
            "is not an address with a port",
        ),
        ("\":9464\"", "is not an address with a port"),
        ("9464", "gateway.metrics.listen"),
    ] {
        let issues = issues_of(&format!(
            "{{ gateway: {{ metrics: {{ listen: {value} }} }} }}"
        ));
        assert_eq!(issues.len(), 1, "{value}: {issues:?}");
        assert_eq!(issues[0].path, "gateway.metrics.listen", "{value}");
        assert!(render_issues(&issues).contains(says), "{value}: {issues:?}");
    }
    let unknown = issues_of("{ gateway: { metrics: { port: 9464 } } }");
    assert_eq!(unknown[0].path, "gateway.metrics.port");
}

#[test]
fn store_url_picks_the_store_and_a_bad_one_names_the_key_and_the_fix() {
    use moltbot_core::store::StoreLocation;
    let file = std::path::PathBuf::from("/state/state/moltbot.sqlite");
    let no_env = |_: &str| None;
    let url = "postgres://bot:hunter2@db.internal:5432/moltbot?sslmode=verify-full";
    let cfg = parse(
        Path::new("moltbot.json"),
        &format!("{{ store: {{ url: \"{url}\", retentionDays: 7 }} }}"),
        &env,
    )
    .unwrap();
    let location = cfg.core.store.location(&no_env, file.clone()).unwrap();
    assert_eq!(location.to_string(), "postgres db.internal:5432/moltbot");
    assert!(!format!("{:?}", cfg.core.store).contains("hunter2"));

    // Absent: MOLTBOT_DATABASE_URL, else the SQLite file.
    let absent = parse(Path::new("moltbot.json"), "{}", &env).unwrap();
    let from_env = |name: &str| {
        (name == "MOLTBOT_DATABASE_URL").then(|| "postgres://envhost/envdb".to_owned())
    };
    assert_eq!(
        absent
            .core
            .store
            .location(&from_env, file.clone())
            .unwrap()
            .location(),
        "envhost:5432/envdb"
    );
    assert_eq!(
        absent.core.store.location(&no_env, file.clone()).unwrap(),
        StoreLocation::Sqlite(file.clone())
    );
    // The config wins over the environment.
    assert_eq!(
        cfg.core
            .store
            .location(&from_env, file.clone())
            .unwrap()
            .location(),
        "db.internal:5432/moltbot"
    );

    for bad in [
        "mysql://u:hunter2@h/d",
        "postgres://u:hunter2@h/d?sslmode=sometimes",
    ] {
        let issues = issues_of(&format!("{{ store: {{ url: \"{bad}\" }} }}"));
        assert_eq!(issues.len(), 1, "{bad}: {issues:?}");
        assert_eq!(issues[0].path, "store.url");
        let text = render_issues(&issues);
        assert!(
            text.contains("postgres://USER:PASSWORD@HOST:5432/DATABASE"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
    let bad_env = |name: &str| (name == "MOLTBOT_DATABASE_URL").then(|| "db:5432".to_owned());
    let issue = absent.core.store.location(&bad_env, file).unwrap_err();
    assert_eq!(issue.path, "store.url");
    assert!(issue.message.contains("MOLTBOT_DATABASE_URL"), "{issue}");
}

#[test]
fn store_lease_seconds_is_15_by_default_and_between_1_and_300() {
    let lease = |source: &str| {
        parse(Path::new("moltbot.json"), source, &env).map(|cfg| cfg.core.store.lease_seconds)
    };
    assert_eq!(lease("{}").unwrap(), DEFAULT_LEASE_SECONDS);
    assert_eq!(DEFAULT_LEASE_SECONDS, 15);
    assert_eq!(lease("{ store: { leaseSeconds: 2 } }").unwrap(), 2);
    assert_eq!(lease("{ store: { leaseSeconds: 300 } }").unwrap(), 300);
    for value in ["0", "301", "\"15\""] {
        let issues = issues_of(&format!("{{ store: {{ leaseSeconds: {value} }} }}"));
        assert_eq!(issues.len(), 1, "{value}: {issues:?}");
        assert_eq!(issues[0].path, "store.leaseSeconds", "{value}");
        assert!(
            render_issues(&issues).contains("such as 15"),
            "{value}: {issues:?}"
        );
    }
}
