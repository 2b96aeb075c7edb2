//! One module per command.

pub mod channels;
pub mod config_validate;
pub mod gateway;
pub mod message;
pub mod pairing;
pub mod plugins;
pub mod poll;
pub mod sim;
pub mod store;

/// How a command ended when it did not return an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1; the command already printed why.
    Failure,
}
