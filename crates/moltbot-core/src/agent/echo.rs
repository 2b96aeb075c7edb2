//! [`EchoAgent`]: the built-in agent used when no model is configured, for trying a channel out.

use super::{Agent, AgentFuture, AgentReply, AgentRequest};

/// Replies with exactly the text of the message it got (no prefix, no history), so a new setup
/// can be tested end to end without any model provider.
#[derive(Debug, Clone, Default)]
pub struct EchoAgent;

impl Agent for EchoAgent {
    fn name(&self) -> &str {
        "echo"
    }

    fn reply<'a>(&'a self, req: &'a AgentRequest) -> AgentFuture<'a> {
        let text = req.text.clone();
        Box::pin(async move { Ok(AgentReply::text(text)) })
    }
}
