//! Test support shared by the CLI's end-to-end tests, the Webex plugin's tests and the bench.
//!
//! - [`FakeModel`]: a recording fake model provider (OpenAI-compatible or Anthropic), answering
//!   whole or streaming slowly ([`SlowStream`]).
//! - [`proxy::ForwardProxy`]: a loopback HTTP forward proxy (CONNECT and absolute-form).
//! - [`wait`]: the one way to wait: poll state every [`wait::POLL`] until a deadline.
//! - [`TestHome`]: a throwaway state dir with its config, and `moltbot` commands for it.
//! - [`RunningGateway`]: the real `moltbot gateway` as a child process, its log, its
//!   [`Ledger`] (the store, read-only use), and the quiet signal
//!   [`RunningGateway::settled`] that proves "nothing else happened" without a fixed sleep.
//! - [`World`] and [`Scenario`]: webex-sim with the bot, Alice and Bob, config builders, and
//!   the whole set-up of an end-to-end test in one line:
//!
//! ```no_run
//! # async fn demo() {
//! use moltbot_testkit::{Scenario, OPEN};
//! let s = Scenario::start("webhook", OPEN).await;
//! let hi = s.alice().dm_bot("hello bot").await;
//! assert_eq!(s.wait_replies(&hi, 1).await, ["hello bot"]);
//! s.settled().await; // nothing else is on its way
//! assert_eq!(s.bot_texts(&hi), ["hello bot"]);
//! s.finish().await;
//! # }
//! ```

pub mod fake_model;
pub mod fake_stream;
pub mod gateway;
pub mod home;
pub mod ledger;
pub mod proxy;
pub mod wait;
pub mod world;

pub use fake_model::{anthropic_answer, openai_answer, turns, FakeModel};
pub use fake_stream::{anthropic_stream, openai_stream, SlowStream};
pub use gateway::{metric_at, GatewayError, Launch, NotSettled, RunningGateway};
pub use home::{moltbot_binary, workspace_root, TestHome};
pub use ledger::{Ledger, Pending};
pub use world::{
    slow_echo_agent, webex_config, Scenario, World, AGENT_ASKED_LOG, BOT_EMAIL, OPEN, OPEN_FAST,
};
