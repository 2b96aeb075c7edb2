//! Who may talk to the bot: DM and space policies, allow lists, and pairing codes.
//!
//! Channel-neutral: a channel integration describes the sender ([`Sender`]) and the conversation
//! ([`Conversation`]), looks up whether the sender was approved through pairing (see
//! [`Pairing`](crate::store::Pairing)), and calls [`decide`]. The answer is one of
//! - [`Decision::Admit`]: process the message;
//! - [`Decision::Pair`]: a DM from an unknown sender under `dmPolicy: "pairing"`: record a
//!   pairing request and send the one pairing reply (the message itself is not processed);
//! - [`Decision::Drop`]: ignore the message, logging [`DropReason::as_str`] at debug.
//!
//! Approvals grant DM access only, never space access.

mod code;
mod decide;
mod identity;
mod list;
mod policy;

pub use code::{
    generate_pairing_code, normalize_pairing_code, PAIRING_CODE_ALPHABET, PAIRING_CODE_LEN,
    PAIRING_CODE_TTL, PAIRING_CODE_TTL_MS,
};
pub use decide::{
    decide, AccessPolicy, Conversation, ConversationKind, Decision, DropReason, Sender,
};
pub use identity::{exact_id, Identity, SameId};
pub use list::AccessList;
pub use policy::{DmPolicy, GroupPolicy, ParsePolicyError};
