//! moltbot core: everything a gateway needs that does not depend on a specific chat network.
//!
//! Core never names a chat network: channel plugins (such as `moltbot-webex`) register themselves
//! through the [`plugin::ChannelPlugin`] trait.

pub mod access;
pub mod agent;
pub mod backoff;
pub mod children;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod gateway;
pub mod logging;
pub mod paths;
pub mod plugin;
pub mod store;
