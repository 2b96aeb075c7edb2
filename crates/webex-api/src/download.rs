//! File downloads (`files[]` URLs of messages).
//!
//! The bearer token is attached only when the URL has the API base's scheme, host and port
//! (Webex serves files from `https://webexapis.com/v1/contents/..`); any other host gets a plain
//! request. Bodies are streamed and the download stops as soon as it passes the size cap.
//!
//! Webex's anti-malware answers (developer.webex.com/docs/basics, "Message Attachments"; the
//! OpenAPI description's 423/410/428 responses) come back typed: 423 Locked (still being
//! scanned) as [`Error::FileScanning`] with its `Retry-After`, 410 Gone (infected or blocked) as
//! [`Error::FileInfected`], 428 Precondition Required (cannot be scanned) as
//! [`Error::FileUnscannable`]; [`DownloadOptions::allow_unscannable`] adds Webex's
//! `?allow=unscannable` to fetch such a file anyway. The client never waits out a 423 itself.

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, Response};
use url::Url;

use crate::client::WebexClient;
use crate::error::{Error, Result};
use crate::link::same_origin;
use crate::transport::{network_error, retry_after, Call};

/// A downloaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedFile {
    /// File name from `Content-Disposition` (path parts and control characters removed).
    pub filename: Option<String>,
    /// `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// The content.
    pub bytes: Bytes,
}

/// What `HEAD` says about a file, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// File name from `Content-Disposition` (sanitized as for [`DownloadedFile::filename`]).
    pub filename: Option<String>,
    /// `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// `Content-Length` in bytes, if sent.
    pub length: Option<u64>,
}

/// How to download a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Refuse bodies over this many bytes ([`Error::TooLarge`]).
    pub max_bytes: u64,
    /// Fetch a file Webex could not scan for malware (adds `allow=unscannable` to the URL)
    /// instead of failing with [`Error::FileUnscannable`].
    pub allow_unscannable: bool,
}

impl DownloadOptions {
    /// At most `max_bytes`, unscannable files refused.
    pub fn max_bytes(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            allow_unscannable: false,
        }
    }

    /// Also fetches files Webex could not scan.
    pub fn allowing_unscannable(mut self) -> Self {
        self.allow_unscannable = true;
        self
    }
}

/// The statuses a download reads itself (Webex's anti-malware answers).
const SCAN_STATUSES: &[u16] = &[410, 423, 428];

impl WebexClient {
    /// Downloads `url`, refusing bodies over `max_bytes` ([`Error::TooLarge`]) and files Webex
    /// could not scan ([`Error::FileUnscannable`]); see [`WebexClient::download_file_with`].
    pub async fn download_file(&self, url: &str, max_bytes: u64) -> Result<DownloadedFile> {
        self.download_file_with(url, DownloadOptions::max_bytes(max_bytes))
            .await
    }

    /// Downloads `url` as `options` say.
    ///
    /// # Errors
    /// [`Error::FileScanning`] (423: ask again after its `retry_after`), [`Error::FileInfected`]
    /// (410), [`Error::FileUnscannable`] (428, unless allowed), [`Error::TooLarge`],
    /// [`Error::InvalidUrl`] for a non-http(s) URL, and the errors of any call.
    pub async fn download_file_with(
        &self,
        url: &str,
        options: DownloadOptions,
    ) -> Result<DownloadedFile> {
        let mut response = self
            .file_request(Method::GET, url, options.allow_unscannable)
            .await?;
        let headers = response.headers().clone();
        let declared = header(&headers, CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > options.max_bytes) {
            return Err(Error::TooLarge {
                limit: options.max_bytes,
            });
        }
        let mut buffer = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(network_error)? {
            if buffer.len() as u64 + chunk.len() as u64 > options.max_bytes {
                // Dropping the response closes the connection: nothing more is read.
                return Err(Error::TooLarge {
                    limit: options.max_bytes,
                });
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(DownloadedFile {
            filename: header(&headers, CONTENT_DISPOSITION)
                .and_then(|v| filename_from_disposition(&v)),
            content_type: header(&headers, CONTENT_TYPE),
            bytes: buffer.freeze(),
        })
    }

    /// `HEAD url`: the file's name, type and length without its content (to check a size cap
    /// first). The anti-malware answers are the same typed errors as for a download.
    pub async fn file_info(&self, url: &str, allow_unscannable: bool) -> Result<FileInfo> {
        let response = self
            .file_request(Method::HEAD, url, allow_unscannable)
            .await?;
        let headers = response.headers();
        Ok(FileInfo {
            filename: header(headers, CONTENT_DISPOSITION)
                .and_then(|v| filename_from_disposition(&v)),
            content_type: header(headers, CONTENT_TYPE),
            length: header(headers, CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok()),
        })
    }

    /// Sends `method url` (the token only to the API origin) and turns the anti-malware answers
    /// into their errors; any other answer is a 2xx.
    async fn file_request(
        &self,
        method: Method,
        url: &str,
        allow_unscannable: bool,
    ) -> Result<Response> {
        let mut url = Url::parse(url).map_err(|e| Error::InvalidUrl(format!("{e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::InvalidUrl(format!(
                "unsupported scheme {}",
                url.scheme()
            )));
        }
        if allow_unscannable {
            url.query_pairs_mut().append_pair("allow", "unscannable");
        }
        let endpoint = if same_origin(&url, self.base_url()) {
            "/contents/{id}"
        } else {
            "external"
        };
        let response = self
            .transport()
            .execute(&Call::new(method, endpoint, url).accept(SCAN_STATUSES))
            .await?;
        let tracking_id = || header(response.headers(), "trackingid");
        match response.status().as_u16() {
            423 => Err(Error::FileScanning {
                retry_after: retry_after(response.headers()),
                tracking_id: tracking_id(),
            }),
            410 => Err(Error::FileInfected {
                tracking_id: tracking_id(),
            }),
            428 => Err(Error::FileUnscannable {
                tracking_id: tracking_id(),
            }),
            _ => Ok(response),
        }
    }
}

fn header(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Extracts the file name of a `Content-Disposition` value (RFC 6266), preferring the
/// RFC 8187 `filename*=UTF-8''..` form.
pub fn filename_from_disposition(value: &str) -> Option<String> {
    let params = split_params(value);
    let extended = params.iter().find_map(|(key, val)| {
        (key.eq_ignore_ascii_case("filename*")).then(|| decode_ext_value(val))?
    });
    let plain = || {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("filename"))
            .map(|(_, val)| unquote(val))
    };
    extended
        .or_else(plain)
        .map(|name| sanitize(&name))
        .filter(|name| !name.is_empty())
}

/// `key=value` pairs after the disposition type, splitting on `;` outside quotes.
fn split_params(value: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut in_quote = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && in_quote {
            escaped = true;
        } else if c == '"' {
            in_quote = !in_quote;
        } else if c == ';' && !in_quote {
            parts.push(std::mem::take(&mut current));
            continue;
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .skip(1)
        .filter_map(|part| {
            let (key, val) = part.split_once('=')?;
            Some((key.trim().to_string(), val.trim().to_string()))
        })
        .collect()
}

fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Decodes `charset'lang'percent-encoded` (UTF-8 or ISO-8859-1).
fn decode_ext_value(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?;
    let _lang = parts.next()?;
    let encoded = parts.next()?;
    let bytes = percent_decode(encoded)?;
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.into_iter().map(char::from).collect())
    } else {
        None
    }
}

fn percent_decode(input: &str) -> Option<Vec<u8>> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Keeps only the last path component and drops control characters, so a hostile name cannot
/// point outside a download folder.
fn sanitize(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim();
    if trimmed == "." || trimmed == ".." {
        String::new()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::filename_from_disposition as name;

    #[test]
    fn plain_and_quoted_names() {
        assert_eq!(
            name(r#"attachment; filename="report.pdf""#).as_deref(),
            Some("report.pdf")
        );
        assert_eq!(name("inline; filename=a.png").as_deref(), Some("a.png"));
        assert_eq!(
            name(r#"attachment; filename="we\"ird; name.txt""#).as_deref(),
            Some("we\"ird; name.txt")
        );
    }

    #[test]
    fn extended_name_wins() {
        assert_eq!(
            name(r#"attachment; filename="fallback.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"#)
                .as_deref(),
            Some("résumé.txt")
        );
        assert_eq!(
            name("attachment; filename*=UTF-8''bad%ZZ; filename=ok.txt").as_deref(),
            Some("ok.txt")
        );
    }

    #[test]
    fn hostile_names_are_sanitized() {
        assert_eq!(
            name(r#"attachment; filename="../../etc/passwd""#).as_deref(),
            Some("passwd")
        );
        assert_eq!(name(r#"attachment; filename="..""#), None);
        assert_eq!(name("attachment"), None);
    }
}
