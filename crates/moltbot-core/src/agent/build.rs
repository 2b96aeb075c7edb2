//! [`build_agent`]: the configured agent from `agents.defaults.model` and `models.providers`.

use std::sync::Arc;
use std::time::Duration;

use super::{
    Agent, AgentBuildError, AnthropicAgent, CommandAgent, EchoAgent, HttpAgentOptions, OpenAiAgent,
    RetryPolicy,
};
use crate::config::{
    default_base_url, AgentsConfig, ModelsConfig, ProviderApi, ProviderConfig, Secret,
};
use crate::logging::register_secret;

/// Providers that cannot work without an API key.
const KEY_REQUIRED: &[&str] = &["openai", "anthropic", "openrouter"];

/// The environment variable holding `provider`'s API key when the config has none:
/// `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `OPENROUTER_API_KEY`, ..., in general the provider
/// name upper-cased with every other character than a letter or digit as `_`, then `_API_KEY`.
pub fn api_key_env(provider: &str) -> String {
    let name: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}_API_KEY")
}

/// Builds the agent named by `agents.defaults.model` (`"provider/model"`):
///
/// - no model, or provider `echo` (or any provider with `api: "echo"`): [`EchoAgent`];
/// - `api: "command"`: [`CommandAgent`] running `command args...`;
/// - `api: "openai-completions"`: [`OpenAiAgent`]; `api: "anthropic-messages"`: [`AnthropicAgent`].
///
/// `openai`, `anthropic`, `openrouter` and `ollama` need no `models.providers` entry.
/// HTTP providers use `baseUrl`, or the default one of `openai`, `anthropic`, `openrouter` and
/// `ollama`; the key is `apiKey`, else the [`api_key_env`] variable read through `env`. `openai`,
/// `anthropic` and `openrouter` fail without a key; others (Ollama, local servers) need none.
/// Keys are registered with the log redactor. The turn timeout is
/// `agents.defaults.timeoutSeconds`; retries follow [`RetryPolicy::default`].
pub fn build_agent(
    agents: &AgentsConfig,
    models: &ModelsConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Agent>, AgentBuildError> {
    let defaults = &agents.defaults;
    let Some(model) = &defaults.model else {
        return Ok(Arc::new(EchoAgent));
    };
    let provider = models
        .provider(&model.provider)
        .or_else(|| well_known_provider(&model.provider))
        .ok_or_else(|| AgentBuildError::UnknownProvider(model.provider.clone()))?;
    let name = model.to_string();
    let timeout = Duration::from_secs(defaults.timeout_seconds.max(1));
    let options = HttpAgentOptions {
        timeout,
        retry: RetryPolicy::default(),
    };
    match provider.api {
        ProviderApi::Echo => Ok(Arc::new(EchoAgent)),
        ProviderApi::Command => {
            let program = provider
                .command
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| AgentBuildError::MissingCommand(model.provider.clone()))?;
            Ok(Arc::new(CommandAgent::new(
                name,
                program,
                provider.args,
                timeout,
            )))
        }
        api @ (ProviderApi::OpenAiCompletions | ProviderApi::AnthropicMessages) => {
            let base_url = provider
                .base_url
                .clone()
                .or_else(|| default_base_url(&model.provider, api).map(str::to_string))
                .ok_or_else(|| AgentBuildError::MissingBaseUrl(model.provider.clone()))?;
            let key = api_key(&model.provider, provider.api_key.as_ref(), env)?;
            if let Some(key) = &key {
                register_secret(key.expose());
            }
            let input = provider.input_kinds();
            if api == ProviderApi::OpenAiCompletions {
                let agent = OpenAiAgent::new(name, &base_url, &model.model, key.as_ref(), options)?
                    .with_input(input);
                Ok(Arc::new(agent))
            } else {
                let agent =
                    AnthropicAgent::new(name, &base_url, &model.model, key.as_ref(), options)?
                        .with_input(input);
                Ok(Arc::new(agent))
            }
        }
    }
}

/// `openai`, `anthropic`, `openrouter` and `ollama` work without a `models.providers` entry.
fn well_known_provider(name: &str) -> Option<ProviderConfig> {
    let api = match name {
        "openai" | "openrouter" | "ollama" => ProviderApi::OpenAiCompletions,
        "anthropic" => ProviderApi::AnthropicMessages,
        _ => return None,
    };
    Some(ProviderConfig {
        api,
        ..ProviderConfig::echo()
    })
}

fn api_key(
    provider: &str,
    configured: Option<&Secret>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, AgentBuildError> {
    if let Some(key) = configured.filter(|k| !k.expose().trim().is_empty()) {
        return Ok(Some(key.clone()));
    }
    let var = api_key_env(provider);
    match env(&var).filter(|v| !v.trim().is_empty()) {
        Some(value) => Ok(Some(Secret::new(value.trim()))),
        None if KEY_REQUIRED.contains(&provider) => Err(AgentBuildError::MissingApiKey {
            provider: provider.to_string(),
            env: var,
        }),
        None => Ok(None),
    }
}
