//! Files that came with a message, and how each provider gets them.
//!
//! A channel downloads a message's files ([`Attachment`]: name, content type, bytes, or why it
//! could not be had); the agent's provider declares what it reads ([`InputKinds`], config
//! `models.providers.<name>.input`, defaults per API: [`InputKinds::default_for`]). [`plan`] turns
//! the attachments into [`Part`]s the provider can take:
//!
//! - an image (PNG, JPEG, GIF, WebP) as an image part, when the provider reads images and the image
//!   is within its size limit;
//! - a PDF as a document part, when the provider reads PDFs; otherwise as the text extracted
//!   from it ([`PdfText`], read by the [`DocumentText`] the gateway was given), presented like a
//!   text file, or a note that no text could be extracted or that it could not be read;
//! - a text-like file (`text/*`, JSON, XML, YAML, CSV, Markdown, source code by extension) as text
//!   with its file name, cut at [`MAX_TEXT_FILE_CHARS`];
//! - anything else, or what the provider cannot read, or a file that could not be downloaded, as
//!   one line naming the file and why it is not there, so a text-only model is told rather than
//!   failing every turn.
//!
//! History keeps only [`history_note`] (`[file: name, type]`): files go with the turn they came in.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Largest text file passed inline, in characters (the rest is cut, with a note).
pub const MAX_TEXT_FILE_CHARS: usize = 100_000;

/// The most text, in bytes of UTF-8, a [`DocumentText`] needs to return for one PDF: enough for
/// more than [`MAX_TEXT_FILE_CHARS`] characters of any script, so a longer text is still seen
/// to be cut.
pub const MAX_PDF_TEXT_BYTES: usize = (MAX_TEXT_FILE_CHARS + 1) * 4;

/// A file that came with the message.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name (from `Content-Disposition`, else the URL's last segment).
    pub name: String,
    /// The MIME type, lowercase, without parameters (e.g. `image/png`).
    pub content_type: String,
    /// The bytes, or why they are not here.
    pub content: AttachmentContent,
    /// For a PDF given to a provider that does not read PDFs: what could be read of it as text
    /// (set by the gateway through its [`DocumentText`]); `None` when it was not read.
    pub pdf_text: Option<PdfText>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("name", &self.name)
            .field("content_type", &self.content_type)
            .field("content", &self.content)
            .field("pdf_text", &self.pdf_text)
            .finish()
    }
}

/// The bytes of an [`Attachment`], or why they could not be had.
#[derive(Clone, PartialEq, Eq)]
pub enum AttachmentContent {
    /// The whole file.
    Bytes(Arc<[u8]>),
    /// Not downloaded, for this reason (a short phrase for the agent, e.g. `larger than 20 MB`,
    /// `blocked by the malware scan`).
    Unavailable(String),
}

impl fmt::Debug for AttachmentContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachmentContent::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            AttachmentContent::Unavailable(why) => write!(f, "Unavailable({why:?})"),
        }
    }
}

impl Attachment {
    /// A downloaded file. `content_type` is normalised (lowercase, parameters dropped).
    pub fn new(name: impl Into<String>, content_type: &str, bytes: impl Into<Arc<[u8]>>) -> Self {
        Self {
            name: name.into(),
            content_type: normalise_type(content_type),
            content: AttachmentContent::Bytes(bytes.into()),
            pdf_text: None,
        }
    }

    /// A file that could not be had, for `why`.
    pub fn unavailable(
        name: impl Into<String>,
        content_type: &str,
        why: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            content_type: normalise_type(content_type),
            content: AttachmentContent::Unavailable(why.into()),
            pdf_text: None,
        }
    }

    /// This attachment with `text`, what was read of it as a PDF.
    #[must_use]
    pub fn with_pdf_text(mut self, text: PdfText) -> Self {
        self.pdf_text = Some(text);
        self
    }

    /// The bytes, when downloaded.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.content {
            AttachmentContent::Bytes(bytes) => Some(bytes),
            AttachmentContent::Unavailable(_) => None,
        }
    }

    /// What kind of file it is, from its type and, for text, its name.
    pub fn kind(&self) -> FileKind {
        kind_of(&self.content_type, &self.name)
    }
}

fn normalise_type(content_type: &str) -> String {
    let main = content_type.split(';').next().unwrap_or_default().trim();
    if main.is_empty() {
        "application/octet-stream".to_string()
    } else {
        main.to_ascii_lowercase()
    }
}

/// What could be read of a PDF as text.
#[derive(Clone, PartialEq, Eq)]
pub enum PdfText {
    /// Its text, in reading order as far as the extractor knows it (at most
    /// [`MAX_PDF_TEXT_BYTES`]; [`plan`] cuts it at [`MAX_TEXT_FILE_CHARS`] characters).
    Text(String),
    /// A valid PDF without text (scanned pages, images only).
    Empty,
    /// Not readable: malformed, encrypted, too large, or the extractor failed or ran out of
    /// time.
    Unreadable {
        /// A short phrase for the agent (e.g. `not a valid PDF`, `reading it took longer than
        /// 10 s`).
        reason: String,
        /// The extractor's own words, for the log (never shown to the agent).
        detail: String,
    },
}

impl PdfText {
    /// `text` without the white space around it, or [`PdfText::Empty`] when it is only white
    /// space.
    pub fn from_text(text: &str) -> Self {
        match text.trim() {
            "" => PdfText::Empty,
            text => PdfText::Text(text.to_string()),
        }
    }

    /// An unreadable PDF, for `reason` (to the agent) with `detail` (to the log).
    pub fn unreadable(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        PdfText::Unreadable {
            reason: reason.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Debug for PdfText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PdfText::Text(text) => write!(f, "Text({} bytes)", text.len()),
            PdfText::Empty => write!(f, "Empty"),
            PdfText::Unreadable { reason, detail } => f
                .debug_struct("Unreadable")
                .field("reason", reason)
                .field("detail", detail)
                .finish(),
        }
    }
}

/// The future a [`DocumentText`] returns.
pub type PdfTextFuture<'a> = Pin<Box<dyn Future<Output = PdfText> + Send + 'a>>;

/// Reads the text of PDFs, for providers that do not read PDFs themselves.
///
/// Installed by whoever builds the gateway (`GatewayOptions::document_text`; the `moltbot`
/// binary runs the parser in a child process, bounded in input, output, time and memory). Without
/// one, PDFs reach such providers as a note naming the file. Implementations bound their own time
/// and output (at most [`MAX_PDF_TEXT_BYTES`]) and never panic on what the PDF holds: a PDF
/// they cannot read is [`PdfText::Unreadable`].
pub trait DocumentText: Send + Sync + fmt::Debug {
    /// The text of `pdf` (the bytes of a file of type `application/pdf`).
    fn pdf_text<'a>(&'a self, pdf: &'a [u8]) -> PdfTextFuture<'a>;
}

/// What a file is, as far as providers care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// PNG, JPEG, GIF or WebP (what both OpenAI and Anthropic take as images).
    Image,
    /// `application/pdf`.
    Pdf,
    /// Readable as text.
    Text,
    /// Anything else.
    Other,
}

/// The image types both OpenAI's and Anthropic's APIs accept
/// (<https://platform.openai.com/docs/guides/images-vision>,
/// <https://docs.anthropic.com/en/docs/build-with-claude/vision>).
const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// File name extensions read as text whatever their declared type (source code is often sent as
/// `application/octet-stream`).
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "md",
    "markdown",
    "csv",
    "tsv",
    "json",
    "jsonl",
    "json5",
    "yaml",
    "yml",
    "toml",
    "xml",
    "html",
    "htm",
    "css",
    "log",
    "ini",
    "cfg",
    "conf",
    "env",
    "sql",
    "sh",
    "bash",
    "zsh",
    "ps1",
    "py",
    "rb",
    "rs",
    "go",
    "java",
    "kt",
    "kts",
    "scala",
    "c",
    "h",
    "cc",
    "cpp",
    "hpp",
    "cs",
    "js",
    "mjs",
    "cjs",
    "ts",
    "tsx",
    "jsx",
    "php",
    "pl",
    "lua",
    "r",
    "swift",
    "m",
    "dart",
    "ex",
    "exs",
    "erl",
    "hs",
    "clj",
    "vue",
    "svelte",
    "graphql",
    "proto",
    "diff",
    "patch",
    "tf",
    "hcl",
    "dockerfile",
    "makefile",
    "gradle",
    "properties",
    "rst",
    "tex",
    "srt",
    "vtt",
];

/// The kind of a file of `content_type` called `name`.
pub fn kind_of(content_type: &str, name: &str) -> FileKind {
    let content_type = normalise_type(content_type);
    if IMAGE_TYPES.contains(&content_type.as_str()) {
        return FileKind::Image;
    }
    if content_type == "application/pdf" {
        return FileKind::Pdf;
    }
    let textual_type = content_type.starts_with("text/")
        || matches!(
            content_type.as_str(),
            "application/json"
                | "application/xml"
                | "application/yaml"
                | "application/x-yaml"
                | "application/toml"
                | "application/javascript"
                | "application/x-sh"
                | "application/sql"
                | "application/x-ndjson"
        )
        || content_type.ends_with("+json")
        || content_type.ends_with("+xml");
    let lower = name.to_ascii_lowercase();
    let extension = lower
        .rsplit_once('.')
        .map_or(lower.as_str(), |(_, ext)| ext);
    if textual_type || TEXT_EXTENSIONS.contains(&extension) {
        FileKind::Text
    } else {
        FileKind::Other
    }
}

/// What a provider reads besides text (config `models.providers.<name>.input`: `"text"`,
/// `"image"`, `"pdf"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InputKinds {
    /// Images as image content.
    pub image: bool,
    /// PDFs as documents.
    pub pdf: bool,
}

impl InputKinds {
    /// Text only.
    pub const TEXT: InputKinds = InputKinds {
        image: false,
        pdf: false,
    };

    /// The valid config values.
    pub const NAMES: &'static [&'static str] = &["text", "image", "pdf"];

    /// From config values (unknown ones are the config's to refuse; ignored here).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut kinds = InputKinds::TEXT;
        for name in names {
            match name {
                "image" => kinds.image = true,
                "pdf" => kinds.pdf = true,
                _ => {}
            }
        }
        kinds
    }

    /// The default for a provider speaking `api`: OpenAI-compatible APIs read images (the
    /// chat completions image part; many compatible servers do too, and the ones that do not
    /// can say `input: ["text"]`); Anthropic reads images and PDFs (`document` blocks); others
    /// text only.
    pub fn default_for(api: crate::config::ProviderApi) -> Self {
        use crate::config::ProviderApi;
        match api {
            ProviderApi::OpenAiCompletions => InputKinds {
                image: true,
                pdf: false,
            },
            ProviderApi::AnthropicMessages => InputKinds {
                image: true,
                pdf: true,
            },
            ProviderApi::Command | ProviderApi::Echo => InputKinds::TEXT,
        }
    }
}

/// A provider's own size limits, in bytes of the raw file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// Largest image.
    pub image: usize,
    /// Largest PDF.
    pub pdf: usize,
}

impl SizeLimits {
    /// OpenAI: images up to 20 MB
    /// (<https://platform.openai.com/docs/guides/images-vision#image-input-requirements>), PDF
    /// file inputs up to 32 MB per request (<https://platform.openai.com/docs/guides/pdf-files>).
    pub const OPENAI: SizeLimits = SizeLimits {
        image: 20 * 1024 * 1024,
        pdf: 32 * 1024 * 1024,
    };
    /// Anthropic: images up to 5 MB each
    /// (<https://docs.anthropic.com/en/docs/build-with-claude/vision>), PDFs up to 32 MB
    /// (<https://docs.anthropic.com/en/docs/build-with-claude/pdf-support>).
    pub const ANTHROPIC: SizeLimits = SizeLimits {
        image: 5 * 1024 * 1024,
        pdf: 32 * 1024 * 1024,
    };
}

/// One piece of a user turn, in a provider-neutral form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text (a file's contents with its name, or a note about a file).
    Text(String),
    /// An image: its MIME type and bytes.
    Image {
        /// `image/png`, ...
        media_type: String,
        /// The bytes.
        data: Arc<[u8]>,
    },
    /// A PDF document: its name and bytes.
    Pdf {
        /// The file name.
        name: String,
        /// The bytes.
        data: Arc<[u8]>,
    },
}

/// The parts for `attachments`, for a provider that reads `kinds` within `limits`.
pub fn plan(attachments: &[Attachment], kinds: InputKinds, limits: SizeLimits) -> Vec<Part> {
    attachments
        .iter()
        .map(|attachment| part_for(attachment, kinds, limits))
        .collect()
}

fn part_for(attachment: &Attachment, kinds: InputKinds, limits: SizeLimits) -> Part {
    let name = printable(&attachment.name);
    let kind = attachment.kind();
    let note = |why: &str| {
        Part::Text(format!(
            "[file: {name}, {}: {why}]",
            attachment.content_type
        ))
    };
    let bytes = match &attachment.content {
        AttachmentContent::Unavailable(why) => return note(&format!("not available ({why})")),
        AttachmentContent::Bytes(bytes) => bytes,
    };
    let size = human_size(bytes.len());
    match kind {
        FileKind::Image if kinds.image && bytes.len() <= limits.image => Part::Image {
            media_type: attachment.content_type.clone(),
            data: Arc::clone(bytes),
        },
        FileKind::Image if kinds.image => note(&format!(
            "{size}, larger than this model's image limit ({})",
            human_size(limits.image)
        )),
        FileKind::Pdf if kinds.pdf && bytes.len() <= limits.pdf => Part::Pdf {
            name: attachment.name.clone(),
            data: Arc::clone(bytes),
        },
        FileKind::Pdf if kinds.pdf => note(&format!(
            "{size}, larger than this model's PDF limit ({})",
            human_size(limits.pdf)
        )),
        FileKind::Pdf if !kinds.pdf && attachment.pdf_text.is_some() => {
            match &attachment.pdf_text {
                Some(PdfText::Text(text)) if !text.trim().is_empty() => Part::Text(text_block(
                    &name,
                    &format!("{}, text extracted", attachment.content_type),
                    text,
                )),
                Some(PdfText::Unreadable { reason, .. }) => {
                    note(&format!("{size}, could not be read ({reason})"))
                }
                _ => note(&format!(
                    "{size}, no text could be extracted from it (scanned pages or images only?)"
                )),
            }
        }
        FileKind::Text => match std::str::from_utf8(bytes) {
            Ok(text) => Part::Text(text_block(&name, &attachment.content_type, text)),
            Err(_) => note(&format!("{size}, not valid UTF-8 text")),
        },
        FileKind::Image | FileKind::Pdf | FileKind::Other => {
            note(&format!("{size}, this model cannot read this kind of file"))
        }
    }
}

/// A text file as the model sees it: its name and type, then the contents in a fence long
/// enough that no line of the file can close it; cut at [`MAX_TEXT_FILE_CHARS`].
fn text_block(name: &str, content_type: &str, text: &str) -> String {
    let (shown, cut) = match text.char_indices().nth(MAX_TEXT_FILE_CHARS) {
        Some((at, _)) => (&text[..at], true),
        None => (text, false),
    };
    let longest_run = shown
        .lines()
        .map(|line| line.trim_start().chars().take_while(|c| *c == '`').count())
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    let mut out = format!("[file: {name}, {content_type}]\n{fence}\n{shown}");
    if !shown.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&fence);
    if cut {
        out.push_str(&format!(
            "\n[the file is longer: only its first {MAX_TEXT_FILE_CHARS} characters are shown]"
        ));
    }
    out
}

/// `[file: name, type]` notes for the history of the turn the files came with, one per line.
pub fn history_note(attachments: &[Attachment]) -> String {
    attachments
        .iter()
        .map(|a| format!("[file: {}, {}]", printable(&a.name), a.content_type))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `name` with control characters and brackets replaced, so a file name cannot break the
/// note it sits in or fake another line.
fn printable(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '[' | ']') {
                '_'
            } else {
                c
            }
        })
        .take(200)
        .collect();
    if cleaned.trim().is_empty() {
        "unnamed".to_string()
    } else {
        cleaned
    }
}

/// `1.5 MB`, `12 KB`, `300 bytes`.
pub fn human_size(bytes: usize) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KB * KB {
        format!("{:.1} MB", b / (KB * KB))
    } else if b >= KB {
        format!("{:.0} KB", b / KB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png() -> Attachment {
        Attachment::new("shot.png", "image/PNG", vec![0x89, b'P', b'N', b'G'])
    }

    #[test]
    fn kinds_come_from_type_and_name() {
        assert_eq!(kind_of("image/jpeg", "a.jpg"), FileKind::Image);
        assert_eq!(kind_of("application/pdf; x=1", "a.pdf"), FileKind::Pdf);
        assert_eq!(kind_of("text/csv", "a.csv"), FileKind::Text);
        assert_eq!(
            kind_of("application/octet-stream", "main.rs"),
            FileKind::Text
        );
        assert_eq!(kind_of("application/vnd.api+json", "x"), FileKind::Text);
        assert_eq!(kind_of("application/zip", "a.zip"), FileKind::Other);
        assert_eq!(kind_of("image/tiff", "a.tif"), FileKind::Other);
    }

    #[test]
    fn an_image_goes_as_an_image_to_a_model_that_reads_images_and_as_a_note_otherwise() {
        let parts = plan(
            &[png()],
            InputKinds::default_for(crate::config::ProviderApi::OpenAiCompletions),
            SizeLimits::OPENAI,
        );
        assert!(matches!(&parts[0], Part::Image { media_type, .. } if media_type == "image/png"));
        let parts = plan(&[png()], InputKinds::TEXT, SizeLimits::OPENAI);
        assert_eq!(
            parts,
            [Part::Text(
                "[file: shot.png, image/png: 4 bytes, this model cannot read this kind of file]"
                    .into()
            )]
        );
    }

    #[test]
    fn limits_and_unavailable_files_become_notes() {
        let limits = SizeLimits { image: 3, pdf: 3 };
        let kinds = InputKinds {
            image: true,
            pdf: true,
        };
        let big = plan(&[png()], kinds, limits);
        assert!(
            matches!(&big[0], Part::Text(t) if t.contains("larger than this model's image limit"))
        );
        let gone = Attachment::unavailable(
            "virus.exe",
            "application/x-msdownload",
            "blocked by the malware scan",
        );
        assert_eq!(
            plan(&[gone], kinds, limits),
            [Part::Text("[file: virus.exe, application/x-msdownload: not available (blocked by the malware scan)]".into())]
        );
    }

    #[test]
    fn text_files_are_fenced_so_their_content_cannot_close_the_block() {
        let file = Attachment::new(
            "notes.md",
            "text/markdown",
            b"```\nnot the end\n````\n".to_vec(),
        );
        let parts = plan(&[file], InputKinds::TEXT, SizeLimits::OPENAI);
        let Part::Text(text) = &parts[0] else {
            panic!("{parts:?}")
        };
        assert!(
            text.starts_with("[file: notes.md, text/markdown]\n`````\n"),
            "{text}"
        );
        assert!(text.ends_with("\n`````"), "{text}");
    }

    #[test]
    fn long_text_files_are_cut_with_a_note_and_names_cannot_fake_lines() {
        let long = "x".repeat(MAX_TEXT_FILE_CHARS + 10);
        let file = Attachment::new("a]\n[file: evil.txt", "text/plain", long.into_bytes());
        let Part::Text(text) = &plan(
            std::slice::from_ref(&file),
            InputKinds::TEXT,
            SizeLimits::OPENAI,
        )[0] else {
            panic!()
        };
        assert!(text.contains("only its first 100000 characters"));
        assert!(
            text.starts_with("[file: a___file: evil.txt, text/plain]"),
            "{text}"
        );
        assert_eq!(
            history_note(&[file]),
            "[file: a___file: evil.txt, text/plain]"
        );
    }

    #[test]
    fn debug_never_prints_the_bytes() {
        assert_eq!(
            format!("{:?}", png()),
            "Attachment { name: \"shot.png\", content_type: \"image/png\", content: Bytes(4 bytes), pdf_text: None }"
        );
        let pdf = Attachment::new("a.pdf", "application/pdf", b"%PDF-".to_vec())
            .with_pdf_text(PdfText::Text("secret words".into()));
        assert!(!format!("{pdf:?}").contains("secret"), "{pdf:?}");
    }

    fn pdf(text: Option<PdfText>) -> Attachment {
        let file = Attachment::new("report.pdf", "application/pdf", b"%PDF-1.4 ...".to_vec());
        match text {
            Some(text) => file.with_pdf_text(text),
            None => file,
        }
    }

    fn one_text(parts: Vec<Part>) -> String {
        match parts.as_slice() {
            [Part::Text(text)] => text.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pdf_goes_as_a_document_to_a_model_that_reads_pdfs_even_when_its_text_was_read() {
        let kinds = InputKinds::default_for(crate::config::ProviderApi::AnthropicMessages);
        let text = Some(PdfText::Text("Quarterly revenue".into()));
        assert!(matches!(
            plan(&[pdf(text)], kinds, SizeLimits::ANTHROPIC).as_slice(),
            [Part::Pdf { name, .. }] if name == "report.pdf"
        ));
    }

    #[test]
    fn a_pdf_goes_as_its_text_like_a_text_file_to_a_model_that_does_not_read_pdfs() {
        let text = Some(PdfText::from_text("\n\nQuarterly revenue rose.\n"));
        let shown = one_text(plan(&[pdf(text)], InputKinds::TEXT, SizeLimits::OPENAI));
        assert_eq!(
            shown,
            "[file: report.pdf, application/pdf, text extracted]\n```\nQuarterly revenue rose.\n```"
        );
        let long = PdfText::Text("y".repeat(MAX_PDF_TEXT_BYTES));
        let shown = one_text(plan(
            &[pdf(Some(long))],
            InputKinds::TEXT,
            SizeLimits::OPENAI,
        ));
        assert!(
            shown.ends_with("only its first 100000 characters are shown]"),
            "{shown}"
        );
    }

    #[test]
    fn a_pdf_without_text_or_unreadable_or_not_read_becomes_a_note() {
        let plan_one = |text| one_text(plan(&[pdf(text)], InputKinds::TEXT, SizeLimits::OPENAI));
        assert_eq!(PdfText::from_text(" \n\u{c}"), PdfText::Empty);
        assert_eq!(
            plan_one(Some(PdfText::Empty)),
            "[file: report.pdf, application/pdf: 12 bytes, no text could be extracted from it (scanned pages or images only?)]"
        );
        assert_eq!(
            plan_one(Some(PdfText::Text("  ".into()))),
            plan_one(Some(PdfText::Empty))
        );
        assert_eq!(
            plan_one(Some(PdfText::unreadable(
                "not a valid PDF",
                "parse error at 9"
            ))),
            "[file: report.pdf, application/pdf: 12 bytes, could not be read (not a valid PDF)]"
        );
        assert_eq!(
            plan_one(None),
            "[file: report.pdf, application/pdf: 12 bytes, this model cannot read this kind of file]"
        );
    }
}
