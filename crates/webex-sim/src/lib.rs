//! webex-sim: a local emulator of the Webex Messaging REST API.
//!
//! Shares no code with the `webex-api` client on purpose: each checks the other.
//! Start one with [`SimServer::start`], create people and rooms with the helper API, point a
//! client at [`SimServer::api_base`], act as people with [`SimServer::user`] (see
//! [`scenario`]), and inspect what happened with [`SimServer::messages_in`],
//! [`SimServer::requests`] and [`SimServer::calls_since`]. See README.md for the control API.

pub mod answer_times;
pub mod chat;
pub mod clock;
pub mod control;
pub mod delivery;
pub mod error;
pub mod faults;
pub mod file_scenario;
pub mod files;
pub mod ids;
pub mod markdown;
pub mod mercury;
pub mod middleware;
pub mod model;
pub mod pagination;
pub mod render;
pub mod routes;
pub mod scenario;
pub mod seed;
pub mod server;
pub mod state;

pub use answer_times::DeliveryTimes;
pub use faults::Faults;
pub use file_scenario::FileRef;
pub use files::{FileInfo, Scan, SimFile};
pub use model::RoomType;
pub use scenario::{InRoom, Marker, MessageCursor, SimCallError, SimMessage, SimUser};
pub use seed::{Seed, SeedError};
pub use server::{SimPerson, SimRoom, SimServer, StartError};
pub use state::RecordedRequest;
