//! The Webex channel plugin for moltbot.

pub mod cards;
pub mod channel;
pub mod chunk;
pub mod config;
pub mod fetch;
pub mod inbound;
pub mod landed;
pub mod media;
pub mod mention;
pub mod ops;
pub mod outgoing;
pub mod output;
pub mod people;
mod plugin;
pub mod polling;
pub mod shared;
pub mod target;
pub mod webhook;
pub mod websocket;

pub use plugin::{WebexPlugin, MANIFEST_JSON};
