//! Agent errors. None of the messages ever contains an API key: keys travel only in request
//! headers, and transport errors are stripped of their URL.

use std::time::Duration;

/// Why an agent could not answer one message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The turn took longer than the agent's timeout (the command was killed, the request
    /// abandoned).
    #[error("the agent did not answer within {}", fmt_duration(*after))]
    Timeout {
        /// The timeout that was exceeded.
        after: Duration,
    },
    /// The provider answered with an error (after any retries).
    #[error("provider error{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Provider {
        /// The HTTP status, when there was one.
        status: Option<u16>,
        /// The provider's error message (truncated).
        message: String,
    },
    /// The provider could not be reached (connection refused, DNS, TLS...), after any retries.
    #[error("could not reach the provider: {0}")]
    Network(String),
    /// The command could not be started.
    #[error("could not run `{program}`: {source}")]
    Spawn {
        /// The program that was run.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The command exited unsuccessfully.
    #[error("`{program}` exited with {}{}", code.map(|c| format!("code {c}")).unwrap_or_else(|| "a signal".to_string()), if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    Exit {
        /// The program that was run.
        program: String,
        /// Its exit code (`None` when killed by a signal).
        code: Option<i32>,
        /// The first lines of its stderr.
        stderr: String,
    },
    /// The answer could not be understood or was empty.
    #[error("unusable answer from the agent: {0}")]
    BadOutput(String),
}

impl AgentError {
    /// The provider's HTTP status, when the error came with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            AgentError::Provider { status, .. } => *status,
            _ => None,
        }
    }
}

/// Why no agent could be built from the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentBuildError {
    /// `agents.defaults.model` names a provider that is neither configured nor built in.
    #[error("unknown model provider `{0}`: define models.providers.{0}")]
    UnknownProvider(String),
    /// An HTTP provider has no `baseUrl` and no default one.
    #[error("models.providers.{0}.baseUrl is required")]
    MissingBaseUrl(String),
    /// A command provider has no `command`.
    #[error("models.providers.{0}.command is required")]
    MissingCommand(String),
    /// A hosted provider needs an API key and none was found.
    #[error("no API key for provider `{provider}`: set models.providers.{provider}.apiKey or the {env} environment variable")]
    MissingApiKey {
        /// The provider name.
        provider: String,
        /// The environment variable that was looked at.
        env: String,
    },
    /// The HTTP client could not be created.
    #[error("could not create the HTTP client: {0}")]
    Http(String),
}

/// `300 ms`, `5 s`, `1.5 s`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// At most `max` characters of `text`, with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
