//! [`EchoAgent`]: the built-in agent used when no model is configured, for trying a channel out.

use super::attachments::{human_size, AttachmentContent};
use super::{Agent, AgentFuture, AgentReply, AgentRequest};

/// Replies with exactly the text of the message it got (no prefix, no history), so a new setup
/// can be tested end to end without any model provider; files that came with it are listed
/// after the text, one line each: `[received file: name, type, size]` (or why it is missing).
#[derive(Debug, Clone, Default)]
pub struct EchoAgent;

impl Agent for EchoAgent {
    fn name(&self) -> &str {
        "echo"
    }

    fn reply<'a>(&'a self, req: &'a AgentRequest) -> AgentFuture<'a> {
        let mut lines: Vec<String> = Vec::new();
        if !req.text.trim().is_empty() {
            lines.push(req.text.clone());
        }
        for file in &req.attachments {
            lines.push(match &file.content {
                AttachmentContent::Bytes(bytes) => format!(
                    "[received file: {}, {}, {}]",
                    file.name,
                    file.content_type,
                    human_size(bytes.len())
                ),
                AttachmentContent::Unavailable(why) => format!(
                    "[file not received: {}, {}: {why}]",
                    file.name, file.content_type
                ),
            });
        }
        let text = lines.join("\n");
        Box::pin(async move { Ok(AgentReply::text(text)) })
    }
}
