//! The gateway: runs channels, admits messages, asks the agent, sends replies, exactly once.
//!
//! Channel-neutral. A plugin implements [`Channel`]; the gateway gives it an [`InboundSink`]
//! and owns ordering ([`crate::dispatch`]), the exactly-once ledger ([`crate::store`]), access
//! and pairing ([`crate::access`]), chat commands (`/help`, `/reset`, `/status`, `/whoami`,
//! answered before the agent), the agent ([`crate::agent`]), metrics and health.

mod admit;
mod approvals;
mod channel;
mod commands;
pub mod heartbeat;
mod history_ahead;
pub mod http;
mod metrics;
pub mod parts;
mod placeholder;
pub mod polls;
mod process;
mod redrive;
pub mod replicas;
mod reply;
mod retention;
mod room_order;
mod runtime;
pub mod singleton;
mod sink;
mod status;

pub use channel::{
    BoxFuture, CardSubmission, Channel, ChannelContext, ChannelError, ChannelErrorKind,
    ConversationKind, Fetched, InboundMessage, OutgoingMessage, ReadySignal, SendTarget,
    SenderInfo,
};
pub use metrics::{ChannelMetrics, Dropped, Metrics};
pub use parts::{check_adaptive_card, ReplyPart, CARD_FALLBACK};
pub use placeholder::PLACEHOLDER_TEXT;
pub use reply::{
    filter_answer, filter_reply, filter_whole, FilteredReply, ReplyContext, ReplyFilter, WholeText,
};
pub use runtime::{Gateway, GatewayError, GatewayOptions};
pub use sink::{Claim, EarlyFetch, InboundSink, OWN_MESSAGE};
pub use status::{GatewayStatus, ReplicaRole};
