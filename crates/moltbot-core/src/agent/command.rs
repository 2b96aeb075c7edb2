//! [`CommandAgent`]: runs a configured program once per message.
//!
//! The program gets one JSON object on stdin (see [`command_input`]) and answers on stdout:
//! either plain text, or a JSON object `{"text": "...", "reasoning": "...", "files": [..],
//! "card": {..}}` (all optional; `reasoning` kept apart like a provider's; `files` are
//! `http(s)://` URLs or paths of files the program wrote in its turn folder, read before the
//! folder is removed and refused anywhere else (see [`super::reply_files`]); `card` an
//! adaptive card). Anything it prints on stderr goes to the log. A program that runs longer
//! than the timeout is killed, with whatever it started (it runs in a process group of its own,
//! [`crate::children`]); a non-zero exit or an empty answer is an error (the caller posts the
//! apology).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::error::truncate;
use super::{Agent, AgentError, AgentFuture, AgentReply, AgentRequest, SenderInfo};

/// Largest answer read from the program's stdout; a longer answer is an error.
pub const MAX_STDOUT_BYTES: u64 = 1024 * 1024;
/// Largest part of stderr kept (for the log and the error).
const MAX_STDERR_BYTES: u64 = 64 * 1024;
/// Lines of stderr quoted in [`AgentError::Exit`].
const STDERR_LINES_IN_ERROR: usize = 5;

/// Runs `program args...` per message, JSON request on stdin, reply on stdout.
#[derive(Debug, Clone)]
pub struct CommandAgent {
    name: String,
    program: String,
    args: Vec<String>,
    timeout: Duration,
}

impl CommandAgent {
    /// An agent called `name` running `program` with `args`, killed after `timeout`.
    pub fn new(
        name: impl Into<String>,
        program: impl Into<String>,
        args: Vec<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            args,
            timeout,
        }
    }

    async fn run(&self, req: &AgentRequest) -> Result<AgentReply, AgentError> {
        // The turn's folder: the message's files are written there for the program, and it is
        // removed (with anything the program left in it) when the turn ends.
        let folder = tempfile::Builder::new()
            .prefix("moltbot-turn-")
            .tempdir()
            .map_err(|source| AgentError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        let mut input = command_input(req);
        input["folder"] = json!(folder.path());
        input["files"] = Value::Array(write_files(folder.path(), &req.attachments).await);
        let input = input.to_string().into_bytes();
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env("MOLTBOT_TURN_DIR", folder.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // In a process group of its own: a turn cut short (timeout, shutdown) kills the program
        // and everything it started, also when the gateway exits at once (`children::kill_all`).
        let mut child =
            crate::children::spawn(&mut command).map_err(|source| AgentError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        let stdin = child.take_stdin();
        let write = async move {
            if let Some(mut stdin) = stdin {
                // The program may ignore stdin and exit early: a broken pipe is not an error.
                let _ = stdin.write_all(&input).await;
                let _ = stdin.shutdown().await;
            }
        };
        let (_, stdout, stderr) = tokio::join!(
            write,
            read_limited(child.take_stdout(), MAX_STDOUT_BYTES),
            read_limited(child.take_stderr(), MAX_STDERR_BYTES),
        );
        let status = child.wait().await.map_err(|source| AgentError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
        if !status.success() {
            tracing::warn!(
                agent = %self.name,
                program = %self.program,
                code = ?status.code(),
                stderr = %truncate(&stderr, 2000),
                "agent command failed"
            );
            return Err(AgentError::Exit {
                program: self.program.clone(),
                code: status.code(),
                stderr: first_lines(&stderr, STDERR_LINES_IN_ERROR),
            });
        }
        if !stderr.is_empty() {
            tracing::debug!(agent = %self.name, stderr = %truncate(&stderr, 2000), "agent command stderr");
        }
        if stdout.len() as u64 >= MAX_STDOUT_BYTES {
            return Err(AgentError::BadOutput(format!(
                "the command printed more than {MAX_STDOUT_BYTES} bytes"
            )));
        }
        let output = parse_command_output(&String::from_utf8_lossy(&stdout))?;
        // Read the files the answer names now: the folder is removed when this returns.
        let captured = super::reply_files::capture(&self.name, folder.path(), &output.files).await;
        let mut reply = output.reply;
        reply.files = captured.files;
        if !captured.notices.is_empty() {
            let notices = captured.notices.join("\n");
            reply.text = if reply.text.is_empty() {
                notices
            } else {
                format!("{}\n\n{notices}", reply.text)
            };
        }
        Ok(reply)
    }
}

impl Agent for CommandAgent {
    fn name(&self) -> &str {
        &self.name
    }

    fn reply<'a>(&'a self, req: &'a AgentRequest) -> AgentFuture<'a> {
        Box::pin(async move {
            // Dropping the run on timeout drops the child, whose whole group is then killed.
            match tokio::time::timeout(self.timeout, self.run(req)).await {
                Ok(result) => result,
                Err(_) => Err(AgentError::Timeout {
                    after: self.timeout,
                }),
            }
        })
    }
}

/// The JSON object the program gets on stdin:
/// `{text, sender: {id, email, displayName}, room: {id, kind, title}, channel, session,
/// history: [{role, text, author}], systemPrompt, card}` (`card`: the submitted inputs when the
/// turn is a card submission, else `null`), plus, added by the running agent, `folder`
/// (the turn's own folder, also `$MOLTBOT_TURN_DIR`, removed after the turn) and `files`:
/// `[{name, contentType, size, path}]` for each file of the message written there, or
/// `{name, contentType, unavailable: reason}` for one that could not be downloaded (`kind` is `"direct"` or `"group"`; a
/// history turn's `author` is `{id, email, displayName}` for a user turn whose writer is known,
/// else `null`; absent values are `null`). Texts are as written: the program gets the authors
/// as data, not the speaker prefixes the HTTP providers add ([`super::speakers`]).
pub fn command_input(req: &AgentRequest) -> Value {
    json!({
        "text": req.text,
        "sender": person(&req.sender),
        "room": {
            "id": req.conversation.room_id,
            "kind": req.conversation.kind.as_str(),
            "title": req.conversation.title,
        },
        "channel": req.conversation.channel,
        "session": req.session.as_str(),
        "history": req
            .history
            .iter()
            .map(|t| json!({"role": t.role.as_str(), "text": t.text, "author": t.author.as_ref().map(person)}))
            .collect::<Vec<_>>(),
        "systemPrompt": req.system_prompt,
        "card": req.card,
    })
}

/// A person as the program sees it: `{id, email, displayName}`.
fn person(who: &SenderInfo) -> Value {
    json!({
        "id": who.id,
        "email": who.email,
        "displayName": who.display_name,
    })
}

/// What the program printed, parsed: the reply (text, reasoning, card) and the `files`
/// entries as written (URLs or paths, resolved by the running agent against its turn folder).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// The reply, without its files.
    pub reply: AgentReply,
    /// The `files` entries, in order: `http(s)://` URLs or paths.
    pub files: Vec<String>,
}

/// The reply in the program's stdout: `{"text": "...", "reasoning": "...", "files": [..],
/// "card": {..}}` when stdout is a JSON object with a string `text`, a `files` array or a
/// `card` (each optional; `files` entries that are not strings, or a `files` that is not a
/// list, are ignored with a warning in the log), otherwise the whole
/// output, trimmed. An answer with no text, reasoning, file or card is an error.
pub fn parse_command_output(stdout: &str) -> Result<CommandOutput, AgentError> {
    let trimmed = stdout.trim();
    let output = match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(obj))
            if obj.get("text").is_some_and(Value::is_string)
                || obj.get("files").is_some_and(Value::is_array)
                || obj.get("card").is_some_and(|c| !c.is_null()) =>
        {
            let mut reply = AgentReply::text(
                obj.get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim(),
            )
            .with_reasoning(
                obj.get("reasoning")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_string),
            );
            if let Some(card) = obj.get("card").filter(|c| !c.is_null()) {
                reply = reply.with_card(card.clone());
            }
            let files = files_of(obj.get("files"));
            CommandOutput { reply, files }
        }
        _ => CommandOutput {
            reply: AgentReply::text(trimmed),
            files: Vec::new(),
        },
    };
    if output.reply.is_blank() && output.files.is_empty() {
        return Err(AgentError::BadOutput(
            "the command printed no answer".to_string(),
        ));
    }
    Ok(output)
}

/// The `files` entries of a command's answer: the strings of its `files` list. Anything else
/// (`files` not a list, an entry not a string) is logged as a warning and left out.
fn files_of(files: Option<&Value>) -> Vec<String> {
    match files {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(entries)) => {
            let named: Vec<String> = entries
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            if named.len() < entries.len() {
                tracing::warn!(
                    ignored = entries.len() - named.len(),
                    "the command's `files` list has entries that are not strings (a URL or a path); they are ignored"
                );
            }
            named
        }
        Some(other) => {
            tracing::warn!(
                found = crate::config::describe(other),
                "the command's `files` is not a list of URLs or paths; no file is attached"
            );
            Vec::new()
        }
    }
}

/// The reply in the program's stdout, without its `files` (see [`parse_command_output`]).
pub fn parse_output(stdout: &str) -> Result<AgentReply, AgentError> {
    parse_command_output(stdout).map(|output| output.reply)
}

/// Reads at most `limit` bytes; an unreadable pipe gives what was read so far.
async fn read_limited<R: AsyncRead + Unpin>(pipe: Option<R>, limit: u64) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.take(limit).read_to_end(&mut out).await;
    }
    out
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().take(n).collect();
    truncate(&lines.join("\n"), 500)
}

/// Writes the downloaded `attachments` into `folder` (names reduced to a safe base name, made
/// unique), returning the `files` entries of the program's input.
async fn write_files(folder: &std::path::Path, attachments: &[super::Attachment]) -> Vec<Value> {
    let mut entries = Vec::with_capacity(attachments.len());
    let mut taken = std::collections::HashSet::new();
    for (index, file) in attachments.iter().enumerate() {
        let Some(bytes) = file.bytes() else {
            let why = match &file.content {
                super::AttachmentContent::Unavailable(why) => why.clone(),
                super::AttachmentContent::Bytes(_) => String::new(),
            };
            entries.push(
                json!({"name": file.name, "contentType": file.content_type, "unavailable": why}),
            );
            continue;
        };
        let mut name = safe_file_name(&file.name, index);
        if !taken.insert(name.clone()) {
            name = format!("{}-{name}", index + 1);
            taken.insert(name.clone());
        }
        let path = folder.join(&name);
        match tokio::fs::write(&path, bytes).await {
            Ok(()) => entries.push(json!({
                "name": file.name,
                "contentType": file.content_type,
                "size": bytes.len(),
                "path": path,
            })),
            Err(err) => entries.push(json!({
                "name": file.name,
                "contentType": file.content_type,
                "unavailable": format!("could not be written for the agent: {err}"),
            })),
        }
    }
    entries
}

/// A base name safe to create in the turn's folder: the last path segment of `name`, without
/// control characters or a leading dot, at most 100 characters; `file-N` when nothing is left.
fn safe_file_name(name: &str, index: usize) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect::<String>()
        .trim_start_matches('.')
        .trim()
        .to_string();
    if cleaned.is_empty() {
        format!("file-{}", index + 1)
    } else {
        cleaned
    }
}

#[cfg(test)]
mod file_name_tests {
    use super::safe_file_name;

    #[test]
    fn names_cannot_leave_the_turn_folder() {
        assert_eq!(safe_file_name("report.pdf", 0), "report.pdf");
        assert_eq!(safe_file_name("../../etc/passwd", 0), "passwd");
        assert_eq!(safe_file_name("..\\..\\boot.ini", 0), "boot.ini");
        assert_eq!(safe_file_name(".bashrc", 0), "bashrc");
        assert_eq!(safe_file_name("..", 2), "file-3");
        assert_eq!(safe_file_name("a\nb", 0), "ab");
    }
}
