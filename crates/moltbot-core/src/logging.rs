//! Logging to stderr and the gateway log file, with secret redaction.
//!
//! [`init`] installs the global `tracing` subscriber: human-readable lines to stderr (coloured
//! only when stderr is a terminal) and, for the gateway, appended to `<state>/logs/gateway.log`
//! (0600 in a 0700 folder, never coloured). Every line passes through a [`RedactingMakeWriter`]
//! on its way out, so a secret registered with [`register_secret`] never reaches a log, whatever
//! the code logs: a field, the `Debug` output of a config struct holding the token, or an error
//! message quoting it. The level comes from `MOLTBOT_LOG_LEVEL` (`error|warn|info|debug|trace`,
//! default `info`).

mod redact;
mod writer;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::level_filters::LevelFilter;
use tracing::Subscriber;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

pub use redact::{
    is_registered, is_secret_key, mask_secret, redact, redact_json, register_secret, MIN_SECRET_LEN,
};
pub use writer::{RedactingMakeWriter, RedactingWriter};

use crate::store::fs;

/// Environment variable selecting the log level.
pub const LOG_LEVEL_ENV: &str = "MOLTBOT_LOG_LEVEL";

/// The accepted values of [`LOG_LEVEL_ENV`], most to least severe.
pub const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// Libraries whose debug output drowns ours; they are capped at `info`.
const NOISY_TARGETS: [&str; 5] = ["hyper", "hyper_util", "h2", "rustls", "tower"];

/// What [`init`] sets up.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// The value of `MOLTBOT_LOG_LEVEL`, if set (`error|warn|info|debug|trace`, any case;
    /// unset or empty means `info`).
    pub level_env: Option<String>,
    /// A file to append log lines to (the gateway uses `MoltbotPaths::gateway_log`).
    pub log_file: Option<PathBuf>,
    /// Whether to log to stderr.
    pub stderr: bool,
}

impl LogOptions {
    /// Options reading the level from the process's `MOLTBOT_LOG_LEVEL`.
    pub fn from_env(log_file: Option<PathBuf>, stderr: bool) -> Self {
        Self {
            level_env: std::env::var(LOG_LEVEL_ENV).ok(),
            log_file,
            stderr,
        }
    }
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoggingError {
    /// `MOLTBOT_LOG_LEVEL` holds something other than a known level.
    #[error(
        "invalid MOLTBOT_LOG_LEVEL {value:?}: expected one of error, warn, info, debug, trace"
    )]
    InvalidLevel {
        /// The value found.
        value: String,
    },
    /// The log file or its folder could not be created or opened.
    #[error("cannot open log file {path}: {source}")]
    Io {
        /// The log file (or folder).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A global subscriber was already installed in this process.
    #[error("logging is already initialised")]
    AlreadyInitialized,
}

/// Keeps logging alive; hold it for the life of the program.
///
/// Lines are written synchronously, so nothing is lost when it is dropped; it exists so a
/// buffered writer can be added later without changing callers.
#[derive(Debug)]
#[must_use = "hold the guard until the program ends"]
pub struct LogGuard {
    level: LevelFilter,
    log_file: Option<PathBuf>,
}

impl LogGuard {
    /// The level in effect.
    pub fn level(&self) -> LevelFilter {
        self.level
    }

    /// The log file being written, if any.
    pub fn log_file(&self) -> Option<&Path> {
        self.log_file.as_deref()
    }
}

/// Parses a `MOLTBOT_LOG_LEVEL` value (`None` or blank means `info`).
pub fn parse_level(value: Option<&str>) -> Result<LevelFilter, LoggingError> {
    let Some(raw) = value else {
        return Ok(LevelFilter::INFO);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "info" => Ok(LevelFilter::INFO),
        "error" => Ok(LevelFilter::ERROR),
        "warn" => Ok(LevelFilter::WARN),
        "debug" => Ok(LevelFilter::DEBUG),
        "trace" => Ok(LevelFilter::TRACE),
        _ => Err(LoggingError::InvalidLevel {
            value: raw.to_owned(),
        }),
    }
}

/// Opens (creating 0600, in a 0700 folder) the log file for appending.
pub fn open_log_file(path: &Path) -> Result<std::fs::File, LoggingError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LoggingError::Io { path, source }
    };
    if let Some(parent) = path.parent() {
        fs::create_private_dir_all(parent).map_err(io_err(parent))?;
    }
    fs::open_private_append(path).map_err(io_err(path))
}

/// Builds the subscriber [`init`] installs, writing "stderr" lines to `stderr` (coloured if
/// `stderr_ansi`). Exposed so tests can capture output with `tracing::subscriber::with_default`.
pub fn build_subscriber<W>(
    opts: &LogOptions,
    stderr: W,
    stderr_ansi: bool,
) -> Result<(impl Subscriber + Send + Sync + 'static, LogGuard), LoggingError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let level = parse_level(opts.level_env.as_deref())?;
    let file = opts.log_file.as_deref().map(open_log_file).transpose()?;

    let stderr_layer = opts.stderr.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(RedactingMakeWriter::new(stderr))
            .with_ansi(stderr_ansi)
    });
    let file_layer = file.map(|file| {
        tracing_subscriber::fmt::layer()
            .with_writer(RedactingMakeWriter::new(Arc::new(file)))
            .with_ansi(false)
    });
    let subscriber = tracing_subscriber::registry()
        .with(filter_for(level))
        .with(stderr_layer)
        .with(file_layer);
    Ok((
        subscriber,
        LogGuard {
            level,
            log_file: opts.log_file.clone(),
        },
    ))
}

/// Installs the global subscriber described by `opts` (stderr is the process's stderr).
pub fn init(opts: LogOptions) -> Result<LogGuard, LoggingError> {
    let ansi = std::io::stderr().is_terminal();
    let (subscriber, guard) = build_subscriber(&opts, std::io::stderr, ansi)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| LoggingError::AlreadyInitialized)?;
    Ok(guard)
}

/// `level` for everything, at most `info` for noisy libraries.
///
/// A [`Targets`] filter (static target prefixes and levels), not an `EnvFilter`: the levels are
/// fixed at start, and `EnvFilter`'s directive parser and regex engine would only add code to
/// the binary (resident pages at idle) and work at every new callsite.
fn filter_for(level: LevelFilter) -> Targets {
    let cap = level.min(LevelFilter::INFO);
    NOISY_TARGETS
        .into_iter()
        .fold(Targets::new().with_default(level), |filter, target| {
            filter.with_target(target, cap)
        })
}
