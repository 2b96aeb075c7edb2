//! Test helpers for files: people send local files (multipart, as the Webex app and
//! `curl --form files=@...` do), tests script the anti-malware scan and read what was stored.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::time::Duration;
//! use webex_sim::{Scan, SimFile, SimServer};
//! let sim = SimServer::start().await?;
//! sim.add_bot("molty@webex.bot", "Molty");
//! let shot = sim.user("alice").sends_file_to_bot(SimFile::png("shot.png"), "what is this?").await;
//! sim.file_is_scanning(&shot, 2, Duration::from_secs(1)); // two 423s, then 200
//! let stored = sim.file(&shot).expect("stored");         // FileInfo { name, size, fetches, .. }
//! sim.new_files_scan_as(Scan::Infected);                  // every later upload: 410
//! # let _ = stored; Ok(()) }
//! ```

use crate::files::{FileInfo, Scan, SimFile};
use crate::scenario::{created_message, expect_ok, InRoom, SimCallError, SimMessage, SimUser};
use crate::server::SimServer;
use serde_json::{json, Value};
use std::time::Duration;

/// Anything that names an uploaded file: its content URL or content id, or a message (its first
/// file).
pub trait FileRef {
    /// The content URL or id, if there is one.
    fn file_ref(&self) -> Option<&str>;
}

impl FileRef for str {
    fn file_ref(&self) -> Option<&str> {
        Some(self)
    }
}

impl FileRef for String {
    fn file_ref(&self) -> Option<&str> {
        Some(self)
    }
}

impl FileRef for SimMessage {
    fn file_ref(&self) -> Option<&str> {
        self.files.first().map(String::as_str)
    }
}

impl FileRef for FileInfo {
    fn file_ref(&self) -> Option<&str> {
        Some(&self.url)
    }
}

impl<T: FileRef + ?Sized> FileRef for &T {
    fn file_ref(&self) -> Option<&str> {
        (**self).file_ref()
    }
}

impl SimServer {
    /// Every uploaded file, oldest first.
    pub fn files(&self) -> Vec<FileInfo> {
        self.state.world().file_infos(&self.state.base_url)
    }

    /// The uploaded file `file` names, if the emulator stores it (a JSON `files: [url]` is only
    /// recorded, never stored).
    pub fn file(&self, file: impl FileRef) -> Option<FileInfo> {
        let wanted = crate::files::resolve_file_ref(file.file_ref()?)?;
        self.files().into_iter().find(|f| {
            crate::files::resolve_file_ref(&f.id)
                .is_some_and(|(message, index)| (message, index) == wanted)
        })
    }

    /// Sets the anti-malware state of `file`. Panics when no stored file matches (a test
    /// helper: the test names a file that does not exist).
    pub fn set_file_scan(&self, file: impl FileRef, scan: Scan) {
        let reference = file.file_ref().map(str::to_string);
        let mut world = self.state.world();
        match reference.as_deref().and_then(|r| world.file_mut(r)) {
            Some(stored) => stored.scan = scan,
            None => panic!("webex-sim stores no file {reference:?}"),
        }
    }

    /// `file` is still being scanned: its next `times` GET/HEAD requests are answered 423 with
    /// `Retry-After: <retry_after in whole seconds>`, then it is served.
    pub fn file_is_scanning(&self, file: impl FileRef, times: u32, retry_after: Duration) {
        self.set_file_scan(file, Scan::scanning(times, retry_after.as_secs()));
    }

    /// `file` is infected (or blocked by policy): 410 Gone from now on.
    pub fn file_is_infected(&self, file: impl FileRef) {
        self.set_file_scan(file, Scan::Infected);
    }

    /// `file` could not be scanned: 428 unless fetched with `?allow=unscannable`.
    pub fn file_is_unscannable(&self, file: impl FileRef) {
        self.set_file_scan(file, Scan::Unscannable);
    }

    /// Every file uploaded from now on starts in `scan` (e.g. `Scan::scanning(2, 1)`).
    pub fn new_files_scan_as(&self, scan: Scan) {
        self.state.world().file_settings.new_file_scan = scan;
    }

    /// Lowers the per-file limit (default and maximum: Webex's 100 MB), so a test can go over it
    /// without sending 100 MB. Values above the maximum are clamped to it.
    pub fn set_max_file_bytes(&self, bytes: u64) {
        self.state.world().file_settings.max_file_bytes = bytes.min(crate::files::MAX_FILE_BYTES);
    }
}

/// The text fields of `fields` (a JSON object of strings) and `file` as the `files` part.
fn form_of(fields: &Value, file: &SimFile) -> Result<reqwest::multipart::Form, String> {
    let mut form = reqwest::multipart::Form::new();
    if let Some(obj) = fields.as_object() {
        for (key, value) in obj {
            let Some(text) = value.as_str() else {
                return Err(format!(
                    "multipart field {key} must be a string, got {value}"
                ));
            };
            form = form.text(key.clone(), text.to_string());
        }
    } else if !fields.is_null() {
        return Err(format!(
            "multipart fields must be a JSON object, got {fields}"
        ));
    }
    let part = reqwest::multipart::Part::bytes(file.bytes.clone())
        .file_name(file.name.clone())
        .mime_str(&file.content_type)
        .map_err(|e| format!("invalid content type {:?}: {e}", file.content_type))?;
    Ok(form.part("files", part))
}

impl SimUser<'_> {
    /// `POST /v1/messages` as `multipart/form-data`: the string fields of `fields` (`roomId`,
    /// `toPersonEmail`, `text`, `markdown`, `parentId`, ...) and `file` as the `files` part.
    pub async fn try_send_file(
        &self,
        fields: Value,
        file: &SimFile,
    ) -> Result<SimMessage, SimCallError> {
        let form = form_of(&fields, file).map_err(|message| SimCallError::Unexpected {
            method: "POST".into(),
            path: "/messages".into(),
            message,
            body: fields.clone(),
        })?;
        let answer = self
            .sim
            .call_multipart(&self.person, "/messages", form)
            .await?;
        created_message(answer)
    }

    /// Sends `file` (with `text`, unless empty) to the emulator's only bot in their 1:1 room.
    /// Panics as [`SimUser::dm_bot`] does.
    pub async fn sends_file_to_bot(&self, file: SimFile, text: &str) -> SimMessage {
        let bot = self.sim.bot();
        let mut fields = json!({ "toPersonEmail": bot.email });
        if !text.is_empty() {
            fields["text"] = json!(text);
        }
        expect_ok(self.try_send_file(fields, &file).await)
    }

    /// Posts `file` in `room` with `markdown` (unless empty). Panics if the emulator refuses.
    pub async fn sends_file(&self, room: impl InRoom, file: SimFile, markdown: &str) -> SimMessage {
        let mut fields = json!({ "roomId": room.room_id() });
        if !markdown.is_empty() {
            fields["markdown"] = json!(markdown);
        }
        expect_ok(self.try_send_file(fields, &file).await)
    }
}
