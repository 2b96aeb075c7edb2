//! The command-line surface of `moltbot` (clap definitions only; behaviour lives in `commands`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// moltbot: an AI assistant gateway for chat networks (Webex first).
#[derive(Debug, Parser)]
#[command(
    name = "moltbot",
    // The package version and the commit it was built from, e.g. `0.1.0 (6c65cdc)` (build.rs).
    version = env!("MOLTBOT_VERSION"),
    about = "AI assistant gateway for chat networks (Webex first)",
    long_about = "moltbot connects an AI agent to chat channels such as Cisco Webex.\n\n\
Config: JSON5 at ~/.moltbot/moltbot.json (override with MOLTBOT_CONFIG_PATH or --config).\n\
State:  ~/.moltbot (override with MOLTBOT_STATE_DIR). Logs: <state>/logs/gateway.log.\n\
Env:    WEBEX_BOT_TOKEN (used when channels.webex.botToken is absent), MOLTBOT_LOG_LEVEL,\n        \
MOLTBOT_DATABASE_URL (the state store when store.url is absent: postgres://...)."
)]
pub struct Cli {
    /// Config file to use instead of MOLTBOT_CONFIG_PATH or ~/.moltbot/moltbot.json.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: receive messages, ask the agent, send replies.
    Gateway(GatewayArgs),
    /// Install and list channel plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Approve a person for direct messages by identity: `moltbot pair webex <personId|email>`.
    Pair(PairArgs),
    /// Review pairing requests from people who messaged the bot.
    #[command(subcommand)]
    Pairing(PairingCommand),
    /// Inspect channels: configuration, health, connectivity.
    #[command(subcommand)]
    Channels(ChannelsCommand),
    /// Polls in a room: create one (a card everyone in the room can vote in), see its
    /// results, close it (the running gateway then posts the tally in the room).
    #[command(subcommand)]
    Poll(PollCommand),
    /// Send messages proactively.
    #[command(subcommand)]
    Message(MessageCommand),
    /// Work with the config file.
    #[command(subcommand, name = "config")]
    Config(ConfigCommand),
    /// Inspect, migrate and copy the state store (SQLite file or PostgreSQL, per `store.url`).
    #[command(subcommand)]
    Store(StoreCommand),
}

/// `moltbot store ...`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Show the store's backend, location (no credentials), schema version and rows per table.
    /// Changes nothing.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bring the store's schema up to this moltbot's version (the gateway does this on start).
    Migrate {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy every row of the current store into another, then check both hold the same rows:
    /// `moltbot store copy --to postgres://USER:PASSWORD@HOST/DB`. Stop the gateway first.
    Copy {
        /// The target: `postgres://...` or `sqlite:PATH`. It must be empty unless --force.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Replace whatever the target holds.
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `moltbot gateway`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Run against an in-process Webex emulator with demo users and a web chat page
    /// (no Webex account needed).
    #[arg(long)]
    pub sim: bool,
    /// With `--sim`: how the gateway receives messages from the emulator (`both`: polling and
    /// a loopback webhook; `websocket`: the emulator's Mercury websocket).
    #[arg(long, value_name = "MODE", requires = "sim", default_value = "both",
          value_parser = ["webhook", "polling", "both", "websocket"])]
    pub mode: String,
}

/// `moltbot plugins ...`.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Install (enable) a plugin: `@moltbot/webex` or a local folder such as `./extensions/webex`.
    Install {
        /// Package name (`@moltbot/webex`) or path to a folder holding `moltbot.plugin.json`.
        spec: String,
    },
    /// List the plugins this binary provides and whether each is installed.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `moltbot pair <channel> <identity>`.
#[derive(Debug, Args)]
pub struct PairArgs {
    /// Channel id, e.g. `webex`.
    pub channel: String,
    /// Person id or email to allow in direct messages.
    pub identity: String,
}

/// `moltbot pairing ...`.
#[derive(Debug, Subcommand)]
pub enum PairingCommand {
    /// List pending pairing requests (code, email, person id, name, requested, expires).
    List {
        /// Only this channel, e.g. `webex`.
        channel: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending request by its code (case-insensitive).
    Approve {
        /// Channel id, e.g. `webex`.
        channel: String,
        /// The 8-character pairing code.
        code: String,
    },
    /// Deny a pending request by code, person id or email.
    Deny {
        /// Channel id, e.g. `webex`.
        channel: String,
        /// Pairing code, person id or email.
        target: String,
    },
    /// Revoke an approved identity (person id or email).
    Revoke {
        /// Channel id, e.g. `webex`.
        channel: String,
        /// Person id or email.
        identity: String,
    },
}

/// `moltbot channels ...`.
#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Show each account's state: enabled, configured, mode, policies, webhook, last traffic.
    Status {
        /// Only this channel, e.g. `webex`.
        channel: Option<String>,
        /// Also call the channel's API (verifies the token and webhook registration).
        #[arg(long)]
        deep: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check connectivity and credentials (for Webex: GET /people/me with a 10 s timeout).
    Probe {
        /// Channel id, e.g. `webex`.
        channel: String,
    },
}

/// `moltbot message ...`.
#[derive(Debug, Subcommand)]
pub enum MessageCommand {
    /// Send a message to a person or room.
    Send(SendArgs),
}

/// `moltbot message send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Channel id, e.g. `webex`.
    #[arg(long)]
    pub channel: String,
    /// Email, person id or room id (prefixes `webex:`, `person:`, `room:` accepted).
    #[arg(long)]
    pub to: String,
    /// Attach a file by URL (one per message).
    #[arg(long, value_name = "URL")]
    pub file: Option<String>,
    /// Send the text as Markdown.
    #[arg(long)]
    pub markdown: bool,
    /// The message text.
    pub text: String,
}

/// `moltbot poll ...`.
#[derive(Debug, Subcommand)]
pub enum PollCommand {
    /// Post a poll card: `moltbot poll create --channel webex --to <target> "Question?"
    /// --option A --option B [--multiple] [--closes-in 30m]`. Prints the poll id.
    Create(PollCreateArgs),
    /// Show a poll's votes per option and how many people voted (open or closed).
    Results {
        /// The poll id (printed by `poll create`, or shown with the card).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Close a poll: no vote counts after this; the running gateway posts the tally in the
    /// poll's room (or the next one to start, if none runs).
    Close {
        /// The poll id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `moltbot poll create`.
#[derive(Debug, Args)]
pub struct PollCreateArgs {
    /// Channel id, e.g. `webex`.
    #[arg(long)]
    pub channel: String,
    /// Room id, email or person id (as for `message send`); only that room's members vote.
    #[arg(long)]
    pub to: String,
    /// An option (2 to 20, none blank, none twice ignoring case; give `--option` once per
    /// option, in order).
    #[arg(long = "option", value_name = "TEXT", required = true)]
    pub options: Vec<String>,
    /// Let voters pick several options.
    #[arg(long)]
    pub multiple: bool,
    /// Close the poll by itself after this long: `90s`, `30m`, `2h`, `1d` (the running
    /// gateway closes it and posts the tally).
    #[arg(long, value_name = "DURATION")]
    pub closes_in: Option<String>,
    /// Print JSON (`{"id": ...}`).
    #[arg(long)]
    pub json: bool,
    /// The question.
    pub question: String,
}

/// `moltbot config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the config file and print every problem with its key, location and fix.
    Validate,
}
