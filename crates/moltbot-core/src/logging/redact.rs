//! Secret redaction: a process-global list of secrets that must never be printed.
//!
//! Channels register their credentials with [`register_secret`] as soon as they are loaded; every
//! log line (see [`super::RedactingMakeWriter`]) and every error message the CLI prints goes
//! through [`redact`], which replaces each registered secret with its [`mask_secret`] form
//! (`Y2lz…abcd`) and masks the value after any `Bearer ` (as in `Authorization: Bearer <token>`),
//! registered or not.
//!
//! Secrets shorter than [`MIN_SECRET_LEN`] characters are not registered: replacing such short
//! strings everywhere would mangle ordinary text, and they are not real credentials anyway.

use std::sync::{PoisonError, RwLock};

/// Secrets shorter than this (in characters) are ignored by [`register_secret`].
pub const MIN_SECRET_LEN: usize = 8;

/// Secrets shorter than this many characters are shown fully masked (`****`); longer ones show
/// their first and last 4 characters (at most a quarter of them), enough to tell two tokens apart.
const MASK_MIN_LEN: usize = 32;

/// Registered secrets, longest first (so a secret containing another is masked whole).
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers `secret` so it is masked in every log line and in [`redact`]'s output from now on.
/// Surrounding whitespace is ignored; secrets shorter than [`MIN_SECRET_LEN`] characters are not
/// registered. Registering the same secret twice is harmless.
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    // Also catch the secret as `{:?}` prints it (escaped quotes or backslashes).
    let debug = format!("{secret:?}");
    let escaped = debug[1..debug.len() - 1].to_owned();
    let mut secrets = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    for s in [secret.to_owned(), escaped] {
        if !secrets.contains(&s) {
            secrets.push(s);
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Whether `secret` is registered (after trimming).
pub fn is_registered(secret: &str) -> bool {
    let secrets = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    secrets.iter().any(|s| s == secret.trim())
}

/// The printable form of a secret: its first 4 and last 4 characters around `…`
/// (`Y2lz…abcd`), or `****` when it is shorter than 32 characters (so at most a quarter of a
/// secret is ever shown; a Webex bot token is about 100 characters).
pub fn mask_secret(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < MASK_MIN_LEN {
        return "****".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// `text` with every URL password (`scheme://user:PASSWORD@host`) and every secret-like query
/// parameter (`?password=...`, `&token=...`, see [`is_secret_key`]) replaced by `****`, every
/// registered secret masked and every `Bearer <token>` value masked.
pub fn redact(text: &str) -> String {
    let mut out = mask_bearer_values(&mask_secret_query_values(&mask_url_passwords(text)));
    let secrets = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), &mask_secret(secret));
        }
    }
    out
}

/// Replaces the value of every `name=value` whose name is secret-like ([`is_secret_key`]) and
/// follows `?`, `&` or `;` (a URL query or a connection string) with `****`.
fn mask_secret_query_values(text: &str) -> String {
    if !text.contains('=') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let name_start = rest[..eq]
            .rfind(['?', '&', ';'])
            .map_or(usize::MAX, |i| i + 1);
        let value_len = rest[eq + 1..]
            .find(|c: char| {
                matches!(c, '&' | ';' | '#' | '"' | '\'' | ',' | ')' | ']' | '}')
                    || c.is_whitespace()
            })
            .unwrap_or(rest.len() - eq - 1);
        let secret = name_start != usize::MAX
            && value_len > 0
            && is_secret_key(&rest[name_start..eq])
            && &rest[eq + 1..eq + 1 + value_len] != "****";
        if secret {
            out.push_str(&rest[..=eq]);
            out.push_str("****");
        } else {
            out.push_str(&rest[..eq + 1 + value_len]);
        }
        rest = &rest[eq + 1 + value_len..];
    }
    out.push_str(rest);
    out
}

/// Masks the token following each (case-insensitive) `Bearer` and whitespace.
fn mask_bearer_values(text: &str) -> String {
    const WORD: &str = "bearer";
    let lower = text.to_ascii_lowercase();
    if !lower.contains(WORD) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = 0; // start of the text not yet copied
    let mut search = 0;
    while let Some(found) = lower[search..].find(WORD) {
        let word_start = search + found;
        let word_end = word_start + WORD.len();
        search = word_end;
        let after_space = text[word_end..].trim_start_matches([' ', '\t']);
        let token_start = text.len() - after_space.len();
        if token_start == word_end {
            continue; // "Bearer" not followed by whitespace (e.g. "bearers")
        }
        let token_len = after_space
            .find(|c: char| !is_token_char(c))
            .unwrap_or(after_space.len());
        if token_len == 0 {
            continue;
        }
        let token_end = token_start + token_len;
        out.push_str(&text[rest..token_start]);
        out.push_str(&mask_secret(&text[token_start..token_end]));
        rest = token_end;
        search = token_end;
    }
    out.push_str(&text[rest..]);
    out
}

/// Whether a config key names a secret: `apiKey`, `botToken`, `token`, `secret`, `password`,
/// `authorization`, or any key ending in `Key`, `Token`, `Secret` or `Password` (camelCase,
/// `snake_case` or `kebab-case`; `maxTokens` and `keyFile` are not secrets).
pub fn is_secret_key(key: &str) -> bool {
    const WORDS: [&str; 4] = ["key", "token", "secret", "password"];
    let lower = key.to_ascii_lowercase();
    if WORDS.contains(&lower.as_str())
        || matches!(
            lower.as_str(),
            "apikey" | "authorization" | "proxy-authorization" | "cookie" | "passwd"
        )
    {
        return true;
    }
    WORDS.iter().any(|word| {
        let Some(head) = lower.strip_suffix(word) else {
            return false;
        };
        // The word starts a new part of the key: `apiKey`, `api_key`, `x-api-key`.
        let boundary = key[head.len()..].starts_with(|c: char| c.is_ascii_uppercase())
            || head.ends_with(['_', '-', '.']);
        !head.is_empty() && boundary
    })
}

/// A copy of a JSON document (a config) safe to log: the value of every secret-like key
/// ([`is_secret_key`]) at any depth, and every value of a `headers` object (they carry
/// `Authorization` and API keys), is masked with [`mask_secret`]; objects and arrays under
/// such keys are masked member by member; any other string has its URL passwords replaced by
/// `****` and registered secrets masked (see [`redact`]).
pub fn redact_json(value: &serde_json::Value) -> serde_json::Value {
    redact_json_in(value, false)
}

fn redact_json_in(value: &serde_json::Value, secret: bool) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) if secret => Value::String(mask_secret(s)),
        Value::String(s) => Value::String(redact(s)),
        Value::Number(_) if secret => Value::String("****".to_owned()),
        Value::Array(items) => {
            // A command line (`args`): the word after a secret-like flag (`--api-key KEY`) and
            // the value of `--token=KEY` are secrets too.
            let mut after_flag = false;
            Value::Array(
                items
                    .iter()
                    .map(|item| {
                        let hidden = secret || after_flag;
                        after_flag = item.as_str().is_some_and(is_secret_flag);
                        match item.as_str().and_then(|s| s.split_once('=')) {
                            Some((flag, _)) if !hidden && is_secret_flag(flag) => {
                                Value::String(format!("{flag}=****"))
                            }
                            _ => redact_json_in(item, hidden),
                        }
                    })
                    .collect(),
            )
        }
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(key, member)| {
                    let hidden = match member {
                        // Every header of a `headers` object is masked, whatever its name.
                        Value::Object(_) if key.eq_ignore_ascii_case("headers") => {
                            return (key.clone(), redact_json_in(member, true));
                        }
                        _ => secret || is_secret_key(key),
                    };
                    (key.clone(), redact_json_in(member, hidden))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether a command-line word is a flag naming a secret: `--api-key`, `--token`, `-password`.
fn is_secret_flag(word: &str) -> bool {
    word.starts_with('-') && is_secret_key(word.trim_start_matches('-'))
}

/// Replaces the password of every URL in `text` (`scheme://user:PASSWORD@host...`) with
/// `****`, whatever its length: only the user, host, port and path stay readable. The
/// placeholder `PASSWORD` (as in a fix's `postgres://USER:PASSWORD@HOST`) is left alone.
fn mask_url_passwords(text: &str) -> String {
    if !text.contains("://") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("://") {
        let authority_start = found + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        // The authority ends at the path, the query, or anything that cannot be in a URL.
        let end = after
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`') || c.is_whitespace()
            })
            .unwrap_or(after.len());
        let authority = &after[..end];
        let password = authority.rfind('@').and_then(|at| {
            let userinfo = &authority[..at];
            userinfo.find(':').map(|colon| (colon, at))
        });
        // The documentation's own placeholder (`USER:PASSWORD@HOST`) stays as written.
        let password = password.filter(|&(colon, at)| &authority[colon + 1..at] != "PASSWORD");
        match password {
            Some((colon, at)) => {
                out.push_str(&authority[..=colon]);
                out.push_str("****");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Characters of an RFC 6750 `b64token`.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_values_are_masked_whatever_the_case() {
        let out = mask_bearer_values("authorization: bearer abcdefghijklmnop, next");
        assert_eq!(out, "authorization: bearer ****, next");
        let out =
            mask_bearer_values("authorization: bearer abcdefghijklmnopqrstuvwxyz012345, next");
        assert_eq!(out, "authorization: bearer abcd…2345, next");
        let out = mask_bearer_values("Bearer short Bearer");
        assert_eq!(out, "Bearer **** Bearer");
    }

    #[test]
    fn url_passwords_are_masked_whole() {
        assert_eq!(
            mask_url_passwords("store postgres://postgres:SuperSecretPw@127.0.0.1:5432/db ok"),
            "store postgres://postgres:****@127.0.0.1:5432/db ok"
        );
        assert_eq!(
            mask_url_passwords(r#"{"url":"postgres://u:p%40ss@h/db?x=1","b":"https://h/a:b@c"}"#),
            r#"{"url":"postgres://u:****@h/db?x=1","b":"https://h/a:b@c"}"#
        );
        assert_eq!(mask_url_passwords("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn secret_keys_are_recognised_by_name() {
        for key in [
            "apiKey",
            "botToken",
            "token",
            "secret",
            "password",
            "api_key",
            "x-api-key",
            "Authorization",
            "clientSecret",
            "dbPassword",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "maxTokens",
            "keyFile",
            "monkey",
            "tokenizer",
            "url",
            "mode",
            "keyboard",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn words_starting_with_bearer_are_left_alone() {
        assert_eq!(
            mask_bearer_values("the bearers marched"),
            "the bearers marched"
        );
    }

    #[test]
    fn secret_query_parameters_are_masked_whole() {
        assert_eq!(
            redact("postgres://db.example.com/app?sslmode=require&password=QPARAMSECRET&x=1"),
            "postgres://db.example.com/app?sslmode=require&password=****&x=1"
        );
        assert_eq!(
            redact("GET /hook?access_token=abcdefgh1234 HTTP/1.1"),
            "GET /hook?access_token=**** HTTP/1.1"
        );
        assert_eq!(redact("a=b and c == d"), "a=b and c == d");
    }

    #[test]
    fn command_line_secrets_are_masked() {
        let args = serde_json::json!([
            "--api-key",
            "ARGSECRET999",
            "--token=TOKSECRET12",
            "-v",
            "plain"
        ]);
        assert_eq!(
            redact_json(&args),
            serde_json::json!(["--api-key", "****", "--token=****", "-v", "plain"])
        );
    }
}
