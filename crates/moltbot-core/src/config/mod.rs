//! Loading and validating the JSON5 config file (`~/.moltbot/moltbot.json`).
//!
//! [`load`] reads the file (a missing file is an empty config), parses JSON5 with `jsonc-parser`
//! (syntax errors carry line and column; [`parse_json5`] is that step alone), substitutes `${VAR}`
//! in strings, records where every key is written and validates the core sections into
//! [`CoreConfig`]. Problems are collected as [`ConfigIssue`]s
//! naming the key path, its line and column and a fix, so the user sees all of them at once.
//! Channel plugins validate their own `channels.<id>` section with the helpers in this module
//! ([`check_known_keys`], the `field_*` readers, [`LoadedConfig::issue`]).
//!
//! [`set_json5_bool`] edits the file's syntax tree (for `moltbot plugins install`) so comments
//! and formatting survive.

mod check;
mod core;
mod edit;
mod error;
mod load;
mod secret;
mod substitute;
mod syntax;

pub use self::check::{
    check_known_keys, check_known_keys_in, describe, enum_issue, enum_type_issue, expect_object,
    field_bool, field_enum, field_f64_in, field_object, field_string, field_string_array,
    field_u64_in, suggest,
};
pub use self::core::{
    default_base_url, AgentDefaults, AgentsConfig, CoreConfig, GatewayConfig, ModelRef,
    ModelsConfig, PluginEntry, PluginState, PluginsConfig, ProviderApi, ProviderConfig,
    RoomAgentConfig, BUILTIN_ECHO_PROVIDER, DEFAULT_AGENT_TIMEOUT_SECONDS, DEFAULT_HISTORY_TURNS,
    DEFAULT_SHUTDOWN_TIMEOUT_SECONDS, MAX_AGENT_TIMEOUT_SECONDS, MAX_HISTORY_TURNS,
    MAX_SHUTDOWN_TIMEOUT_SECONDS, ROOT_KEYS,
};
pub use self::core::{
    StoreConfig, DEFAULT_LEASE_SECONDS, DEFAULT_RETENTION_DAYS, MAX_LEASE_SECONDS,
    MAX_RETENTION_DAYS,
};
pub use self::core::{DEFAULT_TYPING_DELAY_SECONDS, MAX_TYPING_DELAY_SECONDS};
pub use self::edit::{set_json5_bool, EditError};
pub use self::error::{render_issues, sort_issues, ConfigError, ConfigIssue};
pub use self::load::{
    load, load_lenient, parse, parse_lenient, process_env, read_source, LoadedConfig,
};
pub use self::secret::Secret;
pub use self::syntax::{join_path, parse_json5, SyntaxError, MAX_NESTING_DEPTH};
