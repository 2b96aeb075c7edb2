//! Uploaded files: what the emulator stores for a multipart `POST /messages`, and the
//! anti-malware scan states `GET /v1/contents/{id}` answers with.
//!
//! Webex (developer.webex.com/docs/basics, "Message Attachments"; `shared/spec/webex-api-notes.md`
//! §5): one file per message, at most 100 MB; a file is served from
//! `https://webexapis.com/v1/contents/<contentId>` to a bearer token; while the file is being
//! scanned the answer is **423 Locked** with `Retry-After`, an infected file is **410 Gone**, a
//! file that cannot be scanned (e.g. encrypted) is **428 Precondition Required** unless the URL
//! carries `?allow=unscannable`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The per-file size limit Webex documents ("limited to 100MB each"). The docs do not say
/// whether MB means 10^6 or 2^20 bytes: the emulator takes the larger (a guess).
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;

/// Room for the other form fields and the multipart framing on top of the file itself.
pub const MULTIPART_OVERHEAD_BYTES: usize = 1024 * 1024;

/// Default `Retry-After` (seconds) of a scanning file when none is given.
pub const DEFAULT_SCAN_RETRY_AFTER_SECONDS: u64 = 1;

/// The anti-malware state of a stored file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum Scan {
    /// Scanned and clean: served with 200.
    #[default]
    Clean,
    /// Still being scanned: the next `times` requests (GET or HEAD) get 423 with
    /// `Retry-After: retry_after_seconds`, then the file is clean.
    Scanning {
        /// How many more requests are answered 423.
        times: u32,
        /// The `Retry-After` value sent, in seconds.
        retry_after_seconds: u64,
    },
    /// Infected or blocked by policy: 410 Gone, for good.
    Infected,
    /// Could not be scanned: 428 unless the URL has `?allow=unscannable`.
    Unscannable,
}

impl Scan {
    /// `Scanning` for `times` requests with `Retry-After: retry_after_seconds`.
    pub fn scanning(times: u32, retry_after_seconds: u64) -> Scan {
        Scan::Scanning {
            times,
            retry_after_seconds,
        }
    }
}

/// A file uploaded with a message (multipart `files` part).
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// The message it came with.
    pub message: Uuid,
    /// Its index in the message's `files` (always 0: one file per message).
    pub index: u32,
    /// The room of that message.
    pub room: Uuid,
    /// File name from the part's `Content-Disposition`.
    pub name: String,
    /// Content type from the part's `Content-Type` (`application/octet-stream` when absent).
    pub content_type: String,
    /// The content.
    pub bytes: Bytes,
    /// Anti-malware state.
    pub scan: Scan,
    /// GET and HEAD requests received for it, whatever they were answered.
    pub fetches: u32,
}

/// File settings of the world: the limit and the scan state new uploads start in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSettings {
    /// Largest file accepted, bytes (at most [`MAX_FILE_BYTES`]).
    pub max_file_bytes: u64,
    /// The state every file uploaded from now on starts in.
    pub new_file_scan: Scan,
}

impl Default for FileSettings {
    fn default() -> Self {
        FileSettings {
            max_file_bytes: MAX_FILE_BYTES,
            new_file_scan: Scan::Clean,
        }
    }
}

/// A file as a test sends it: name, content type and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFile {
    /// File name.
    pub name: String,
    /// Content type, e.g. `image/png`.
    pub content_type: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// A 1x1 transparent PNG (68 bytes), a real image for tests.
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0b, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x00, 0x02, 0x00,
    0x00, 0x05, 0x00, 0x01, 0xe9, 0xfa, 0xdc, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
    0xae, 0x42, 0x60, 0x82,
];

impl SimFile {
    /// A file of any type.
    pub fn new(name: &str, content_type: &str, bytes: impl Into<Vec<u8>>) -> SimFile {
        SimFile {
            name: name.to_string(),
            content_type: content_type.to_string(),
            bytes: bytes.into(),
        }
    }

    /// A `text/plain` file.
    pub fn text(name: &str, content: &str) -> SimFile {
        Self::new(name, "text/plain", content.as_bytes())
    }

    /// A real 1x1 `image/png` ([`TINY_PNG`]).
    pub fn png(name: &str) -> SimFile {
        Self::new(name, "image/png", TINY_PNG)
    }

    /// A real one-page `application/pdf` whose page shows `text` in Helvetica (one line;
    /// characters other than printable ASCII become `?`).
    pub fn pdf(name: &str, text: &str) -> SimFile {
        let escaped: String = text
            .chars()
            .map(|c| match c {
                '(' | ')' | '\\' => format!("\\{c}"),
                c if !c.is_ascii() || c.is_ascii_control() => "?".to_string(),
                c => c.to_string(),
            })
            .collect();
        Self::new(
            name,
            "application/pdf",
            one_page_pdf(&format!("BT /F1 18 Tf 72 720 Td ({escaped}) Tj ET")),
        )
    }

    /// A real one-page `application/pdf` with no text on it, like a scanned page (a filled
    /// rectangle where the picture would be).
    pub fn pdf_without_text(name: &str) -> SimFile {
        Self::new(
            name,
            "application/pdf",
            one_page_pdf("0.5 g 72 72 468 648 re f"),
        )
    }
}

/// A PDF 1.4 file with one US Letter page drawn by `content` (a content stream; font `/F1` is
/// Helvetica), with a correct cross-reference table.
fn one_page_pdf(content: &str) -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (index, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", index + 1).as_bytes());
    }
    let xref = pdf.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        table.push_str(&format!("{offset:010} 00000 n \n"));
    }
    table.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    pdf.extend_from_slice(table.as_bytes());
    pdf
}

/// A stored file as tests read it ([`crate::SimServer::file`], `GET /_sim/contents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    /// Content id (the last segment of [`FileInfo::url`]).
    pub id: String,
    /// The URL in the message's `files`: `<sim>/v1/contents/<id>`.
    pub url: String,
    /// Encoded id of the message.
    pub message_id: String,
    /// Encoded id of its room.
    pub room_id: String,
    /// File name.
    pub name: String,
    /// Content type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Anti-malware state.
    pub scan: Scan,
    /// GET and HEAD requests received for it.
    pub fetches: u32,
    /// The content.
    #[serde(skip)]
    pub bytes: Bytes,
}

/// The value of `Content-Disposition` for `name`: `attachment; filename="..."` with `"` and `\`
/// escaped and control characters dropped, plus RFC 8187 `filename*=UTF-8''...` when the name is
/// not ASCII. Webex documents `attachment; filename="example.png"`; the non-ASCII form is a guess.
pub fn content_disposition(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    let ascii: String = clean
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    let quoted = ascii.replace('\\', "\\\\").replace('"', "\\\"");
    let mut value = format!("attachment; filename=\"{quoted}\"");
    if !clean.is_ascii() {
        let encoded: String = clean
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        value.push_str(&format!("; filename*=UTF-8''{encoded}"));
    }
    value
}

/// Finds the `(message uuid, index)` a file reference names: a content URL
/// (`<sim>/v1/contents/<id>`, any query ignored) or a bare content id.
pub fn resolve_file_ref(reference: &str) -> Option<(Uuid, u32)> {
    let without_query = reference.split(['?', '#']).next().unwrap_or_default();
    let id = without_query.rsplit('/').next().unwrap_or_default();
    crate::ids::resolve_content(id)
}

impl crate::model::World {
    /// The stored file a reference names (see [`resolve_file_ref`]).
    pub fn file_mut(&mut self, reference: &str) -> Option<&mut StoredFile> {
        let (message, index) = resolve_file_ref(reference)?;
        self.files
            .iter_mut()
            .find(|f| f.message == message && f.index == index)
    }

    /// Every stored file as [`FileInfo`], oldest first; `base_url` is the server's
    /// `http://HOST:PORT`.
    pub fn file_infos(&self, base_url: &str) -> Vec<FileInfo> {
        use crate::ids::{content_id, encode, Kind};
        self.files
            .iter()
            .map(|f| {
                let id = content_id(&f.message, f.index);
                FileInfo {
                    url: format!("{base_url}/v1/contents/{id}"),
                    id,
                    message_id: encode(Kind::Message, &f.message),
                    room_id: encode(Kind::Room, &f.room),
                    name: f.name.clone(),
                    content_type: f.content_type.clone(),
                    size: f.bytes.len() as u64,
                    scan: f.scan,
                    fetches: f.fetches,
                    bytes: f.bytes.clone(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_quotes_and_encodes() {
        assert_eq!(
            content_disposition("a.png"),
            "attachment; filename=\"a.png\""
        );
        assert_eq!(
            content_disposition("we\"ird\\.txt"),
            "attachment; filename=\"we\\\"ird\\\\.txt\""
        );
        assert_eq!(
            content_disposition("résumé.txt"),
            "attachment; filename=\"r_sum_.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"
        );
    }

    #[test]
    fn tiny_png_is_a_png() {
        assert_eq!(&TINY_PNG[1..4], b"PNG");
        assert_eq!(TINY_PNG.len(), 68);
    }
}
