//! Sending a local file: `POST /messages` as `multipart/form-data`.
//!
//! developer.webex.com/docs/basics, "Message Attachments": a local file goes as a multipart
//! request with the file in a `files` part (its file name and content type) and the other
//! fields (`roomId` or `toPersonId`/`toPersonEmail`, `text`, `markdown`, `parentId`) as text
//! parts; one file per message; at most 100 MB.

use bytes::Bytes;
use reqwest::Method;

use crate::client::WebexClient;
use crate::error::{Error, Result};
use crate::limiter::Priority;
use crate::models::Message;
use crate::requests::{CreateMessage, MessageTarget};
use crate::transport::{decode, Call};

/// Webex's per-file limit ("limited to 100MB each"); the docs do not say whether MB is 10^6 or
/// 2^20 bytes, so the client refuses only what is over the larger.
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;

/// A file to upload with a message.
#[derive(Clone, PartialEq, Eq)]
pub struct UploadFile {
    /// File name shown in Webex (path parts are the caller's business: pass a bare name).
    pub name: String,
    /// Content type, e.g. `image/png` (a valid MIME type; checked before sending).
    pub content_type: String,
    /// The content (cheap to clone; shared by retries).
    pub bytes: Bytes,
}

impl std::fmt::Debug for UploadFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadFile")
            .field("name", &self.name)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl UploadFile {
    /// A file named `name` of type `content_type`.
    pub fn new(
        name: impl Into<String>,
        content_type: impl Into<String>,
        bytes: impl Into<Bytes>,
    ) -> Self {
        Self {
            name: name.into(),
            content_type: content_type.into(),
            bytes: bytes.into(),
        }
    }

    /// The multipart part (the content type was checked by
    /// [`WebexClient::create_message_with_file`]; an invalid one falls back to
    /// `application/octet-stream`).
    pub(crate) fn part(&self) -> reqwest::multipart::Part {
        let body = reqwest::Body::from(self.bytes.clone());
        let part = reqwest::multipart::Part::stream_with_length(body, self.bytes.len() as u64)
            .file_name(self.name.clone());
        match part.mime_str(&self.content_type) {
            Ok(part) => part,
            Err(_) => reqwest::multipart::Part::stream_with_length(
                reqwest::Body::from(self.bytes.clone()),
                self.bytes.len() as u64,
            )
            .file_name(self.name.clone()),
        }
    }
}

impl WebexClient {
    /// `POST /messages` with a local file: `message`'s target, `text`, `markdown` and `parentId`
    /// as form fields and `file` as the `files` part. Like [`WebexClient::create_message`] it is
    /// served before queued reads, retried on 429 and on connect errors, and never after the
    /// request may have been sent.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when `message` already carries `files` or `attachments` (Webex
    /// takes one file per message and no card with a multipart upload), the file has no name, or
    /// its content type is not a MIME type; [`Error::TooLarge`] over [`MAX_FILE_BYTES`]; then
    /// what the call gives (e.g. [`Error::Api`] with Webex's 400 or 413).
    pub async fn create_message_with_file(
        &self,
        message: &CreateMessage,
        file: &UploadFile,
    ) -> Result<Message> {
        if !message.files.is_empty() || !message.attachments.is_empty() {
            return Err(Error::InvalidRequest(
                "a message with an uploaded file carries no other files or cards \
                 (Webex allows one file per message)"
                    .into(),
            ));
        }
        if file.name.trim().is_empty() {
            return Err(Error::InvalidRequest(
                "the uploaded file needs a name".into(),
            ));
        }
        if reqwest::multipart::Part::bytes(Vec::new())
            .mime_str(&file.content_type)
            .is_err()
        {
            return Err(Error::InvalidRequest(format!(
                "{:?} is not a content type",
                file.content_type
            )));
        }
        if file.bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(Error::TooLarge {
                limit: MAX_FILE_BYTES,
            });
        }
        let mut fields: Vec<(&'static str, String)> = Vec::new();
        fields.push(match &message.target {
            MessageTarget::Room(id) => ("roomId", id.clone()),
            MessageTarget::PersonId(id) => ("toPersonId", id.clone()),
            MessageTarget::PersonEmail(email) => ("toPersonEmail", email.clone()),
        });
        for (name, value) in [
            ("text", &message.text),
            ("markdown", &message.markdown),
            ("parentId", &message.parent_id),
        ] {
            if let Some(value) = value {
                fields.push((name, value.clone()));
            }
        }
        let url = self.transport().url(&["messages"], &[])?;
        let call = Call::new(Method::POST, "/messages", url)
            .multipart(fields, "files", file.clone())
            .priority(Priority::Send);
        let response = self.transport().execute(&call).await?;
        decode(response).await
    }
}
