//! `moltbot pairing list|approve|deny|revoke` and `moltbot pair`: the owner's side of pairing.
//!
//! Each function works on the state store only, so it runs while the gateway runs (another
//! process, same SQLite file): an approval is visible to the gateway's next access check, and
//! the gateway sends the approval DM it finds queued (see
//! [`Pairing::pending_notifications`](moltbot_core::store::Pairing::pending_notifications)).
//! The functions return the line to print (or print the list themselves) so `main` stays thin.

// The lead wires these into `main.rs`; until then nothing calls them.

use std::fmt::Write as _;

use anyhow::bail;
use moltbot_core::agent::speakers::printable_name;
use moltbot_core::store::{Approval, PairingError, PairingRequest, Store};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// `moltbot pairing list [channel] [--json]`: prints the pending, unexpired requests.
pub async fn list(store: &Store, channel: Option<&str>, json: bool) -> anyhow::Result<()> {
    let requests = store.pairing().list_pending(channel).await?;
    out!("{}", render_list(&requests, channel, json, store.now_ms())?);
    Ok(())
}

/// `moltbot pairing approve <channel> <CODE>`: approves a pending request by its code.
pub async fn approve(store: &Store, channel: &str, code: &str) -> anyhow::Result<String> {
    match store.pairing().approve_code(channel, code).await {
        Ok(approval) => Ok(approved_line(channel, &approval)),
        Err(PairingError::UnknownCode { code, .. }) => bail!(
            "unknown pairing code {code} for {channel}: run `moltbot pairing list` to see the \
             pending codes"
        ),
        Err(PairingError::Expired { code, .. }) => bail!(
            "pairing code {code} for {channel} has expired (codes are valid for 1 hour): ask \
             them to message the bot again for a new code, or approve them directly with \
             `moltbot pair {channel} <personId|email>`"
        ),
        Err(PairingError::Denied { code, .. }) => bail!(
            "pairing code {code} for {channel} was denied: ask them to message the bot again \
             for a new code, or approve them directly with `moltbot pair {channel} \
             <personId|email>`"
        ),
        Err(other) => Err(other.into()),
    }
}

/// `moltbot pairing deny <channel> <CODE|personId|email>`: denies matching pending requests.
pub async fn deny(store: &Store, channel: &str, target: &str) -> anyhow::Result<String> {
    let target = target.trim();
    match store.pairing().deny(channel, target).await? {
        0 => bail!(
            "no pending pairing request for {channel} matches {target:?}: run `moltbot pairing \
             list` to see the pending requests"
        ),
        1 => Ok(format!(
            "Denied the pending request {target} on {channel}; they get no reply."
        )),
        n => Ok(format!(
            "Denied {n} pending requests matching {target} on {channel}; they get no reply."
        )),
    }
}

/// `moltbot pairing revoke <channel> <personId|email>`: removes an approval.
pub async fn revoke(store: &Store, channel: &str, identity: &str) -> anyhow::Result<String> {
    let identity = identity.trim();
    if store.pairing().revoke(channel, identity).await? {
        Ok(format!(
            "Revoked the approval of {identity} on {channel}; their next DM is handled as \
             from an unknown sender."
        ))
    } else {
        bail!(
            "{identity} is not approved on {channel} through pairing (people listed in \
             channels.{channel}.allowFrom are allowed by the config: remove them there)"
        )
    }
}

/// `moltbot pair <channel> <personId|email>`: approves someone directly, with or without a
/// pending request.
pub async fn pair(store: &Store, channel: &str, identity: &str) -> anyhow::Result<String> {
    match store.pairing().approve_identity(channel, identity).await {
        Ok(approval) if approval.had_pending_request || approval.already_approved => {
            Ok(approved_line(channel, &approval))
        }
        Ok(approval) => Ok(format!(
            "No pending request from {}; approved anyway: they can DM the bot now.",
            describe(&approval)
        )),
        Err(PairingError::InvalidIdentity { .. }) => bail!(
            "expected a person id or an email: `moltbot pair {channel} <personId|email>` \
             (e.g. `moltbot pair {channel} user@example.com`)"
        ),
        Err(other) => Err(other.into()),
    }
}

/// The line printed after an approval.
fn approved_line(channel: &str, approval: &Approval) -> String {
    let who = describe(approval);
    if approval.already_approved {
        format!("{who} is already approved on {channel}.")
    } else {
        format!("Approved {who} on {channel}; they will get a confirmation message.")
    }
}

/// `email (short id)`, or whichever of the two is known.
fn describe(approval: &Approval) -> String {
    let identity = &approval.identity;
    match (identity.email.as_deref(), identity.person_id.as_deref()) {
        (Some(email), Some(id)) => format!("{email} ({})", short_id(id)),
        (Some(email), None) => email.to_owned(),
        (None, Some(id)) => id.to_owned(),
        (None, None) => "(unknown)".to_owned(),
    }
}

/// Long ids shortened to their first 8 and last 6 characters, which still tell people apart.
fn short_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 20 {
        return id.to_owned();
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 6..].iter().collect();
    format!("{head}…{tail}")
}

/// A unix-ms time as `2026-11-27 03:18:00 UTC` (the raw number if out of range).
fn human_time(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    datetime(ms)
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// A unix-ms time as RFC 3339 (`2026-11-27T03:18:00Z`; the raw number if out of range).
fn rfc3339(ms: i64) -> String {
    datetime(ms)
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

fn datetime(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// `in 59m`, `in 1h 0m`, `now`: how long until `at`.
fn time_left(at: i64, now: i64) -> String {
    let minutes = (at - now).max(0) / 60_000;
    match minutes {
        0 => "in <1m".to_owned(),
        m if m < 60 => format!("in {m}m"),
        m => format!("in {}h {}m", m / 60, m % 60),
    }
}

/// One request in `--json` output.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestJson<'a> {
    channel: &'a str,
    code: &'a str,
    email: Option<&'a str>,
    person_id: &'a str,
    name: Option<&'a str>,
    requested_at: String,
    expires_at: String,
}

/// The output of `pairing list`: a table, `No pending pairing requests.`, or a JSON array.
fn render_list(
    requests: &[PairingRequest],
    channel: Option<&str>,
    json: bool,
    now: i64,
) -> anyhow::Result<String> {
    if json {
        let rows: Vec<RequestJson<'_>> = requests
            .iter()
            .map(|r| RequestJson {
                channel: &r.channel,
                code: &r.code,
                email: r.email.as_deref(),
                person_id: &r.person_id,
                name: r.display_name.as_deref(),
                requested_at: rfc3339(r.requested_at),
                expires_at: rfc3339(r.expires_at),
            })
            .collect();
        return Ok(format!("{}\n", serde_json::to_string_pretty(&rows)?));
    }
    if requests.is_empty() {
        return Ok(match channel {
            Some(channel) => format!("No pending pairing requests for {channel}.\n"),
            None => "No pending pairing requests.\n".to_owned(),
        });
    }
    let show_channel = channel.is_none();
    let mut header = vec!["CODE", "EMAIL", "PERSON_ID", "NAME", "REQUESTED", "EXPIRES"];
    if show_channel {
        header.insert(0, "CHANNEL");
    }
    let rows: Vec<Vec<String>> = requests
        .iter()
        .map(|r| {
            let mut row = vec![
                r.code.clone(),
                r.email.clone().unwrap_or_else(|| "-".to_owned()),
                r.person_id.clone(),
                r.display_name
                    .as_deref()
                    .map(printable_name)
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| "-".to_owned()),
                human_time(r.requested_at),
                format!(
                    "{} ({})",
                    human_time(r.expires_at),
                    time_left(r.expires_at, now)
                ),
            ];
            if show_channel {
                row.insert(0, r.channel.clone());
            }
            row
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use std::sync::Arc;

    use moltbot_core::store::{ManualClock, PairingOutcome, DEFAULT_MAX_PENDING};

    use super::*;

    /// 2026-11-27 03:00:00 UTC.
    const T0: i64 = 1_795_748_400_000;
    const LONG_ID: &str = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS8xMjM0NTY3OA";

    fn store() -> (tempfile::TempDir, ManualClock, Store) {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store =
            Store::open_with_clock(dir.path().join("s.sqlite"), Arc::new(clock.clone())).unwrap();
        (dir, clock, store)
    }

    async fn request(store: &Store, channel: &str, person: &str, email: Option<&str>) -> String {
        match store
            .pairing()
            .request(channel, person, email, Some("Alice A"), DEFAULT_MAX_PENDING)
            .await
            .unwrap()
        {
            PairingOutcome::Created(r) => r.code,
            other => panic!("{other:?}"),
        }
    }

    async fn pending(store: &Store, channel: Option<&str>, json: bool) -> String {
        let requests = store.pairing().list_pending(channel).await.unwrap();
        render_list(&requests, channel, json, store.now_ms()).unwrap()
    }

    #[test]
    fn times_are_human_readable_utc() {
        assert_eq!(human_time(T0), "2026-11-27 03:00:00 UTC");
        assert_eq!(rfc3339(T0), "2026-11-27T03:00:00Z");
        assert_eq!(human_time(i64::MAX), i64::MAX.to_string());
        assert_eq!(time_left(T0 + 3_600_000, T0), "in 1h 0m");
        assert_eq!(time_left(T0 + 59 * 60_000, T0), "in 59m");
        assert_eq!(time_left(T0, T0 + 5), "in <1m");
    }

    #[tokio::test]
    async fn empty_list_says_so() {
        let (_dir, _clock, store) = store();
        assert_eq!(
            pending(&store, None, false).await,
            "No pending pairing requests.\n"
        );
        assert_eq!(
            pending(&store, Some("chat"), false).await,
            "No pending pairing requests for chat.\n"
        );
        assert_eq!(pending(&store, None, true).await, "[]\n");
    }

    #[tokio::test]
    async fn list_shows_a_table_of_pending_requests() {
        let (_dir, clock, store) = store();
        let code = request(&store, "chat", LONG_ID, Some("alice@example.com")).await;
        clock.advance(60_000);
        let table = pending(&store, Some("chat"), false).await;
        let expected = format!(
            "CODE      EMAIL              PERSON_ID{pad}  NAME     REQUESTED                \
             EXPIRES\n\
             {code}  alice@example.com  {LONG_ID}  Alice A  2026-11-27 03:00:00 UTC  \
             2026-11-27 04:00:00 UTC (in 59m)\n",
            pad = " ".repeat(LONG_ID.len() - "PERSON_ID".len()),
        );
        assert_eq!(table, expected);

        // Without a channel filter, a CHANNEL column comes first.
        request(&store, "other", "P2", None).await;
        let all = pending(&store, None, false).await;
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("CHANNEL  CODE"));
        assert!(lines[1].starts_with(&format!("chat     {code}")));
        assert!(lines[2].starts_with("other"));
        assert!(
            lines[2].contains("  -  "),
            "missing email shown as -: {}",
            lines[2]
        );
    }

    #[tokio::test]
    async fn list_json_uses_camel_case_fields() {
        let (_dir, _clock, store) = store();
        let code = request(&store, "chat", "P1", Some("alice@example.com")).await;
        let json: serde_json::Value =
            serde_json::from_str(&pending(&store, Some("chat"), true).await).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{
                "channel": "chat",
                "code": code,
                "email": "alice@example.com",
                "personId": "P1",
                "name": "Alice A",
                "requestedAt": "2026-11-27T03:00:00Z",
                "expiresAt": "2026-11-27T04:00:00Z",
            }])
        );
    }

    #[tokio::test]
    async fn approve_by_code_reports_who_and_rejects_bad_codes() {
        let (_dir, clock, store) = store();
        let code = request(&store, "chat", LONG_ID, Some("alice@example.com")).await;
        let line = approve(&store, "chat", &code.to_lowercase()).await.unwrap();
        assert_eq!(
            line,
            "Approved alice@example.com (Y2lzY29z…NTY3OA) on chat; they will get a \
             confirmation message."
        );
        assert_eq!(
            approve(&store, "chat", &code).await.unwrap(),
            "alice@example.com (Y2lzY29z…NTY3OA) is already approved on chat."
        );

        let err = approve(&store, "chat", "abcd2345")
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown pairing code ABCD2345 for chat: run `moltbot pairing list` to see the \
             pending codes"
        );

        let late = request(&store, "chat", "P-LATE", None).await;
        clock.advance(2 * 3_600_000);
        let err = approve(&store, "chat", &late)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("pairing code {late} for chat has expired")),
            "{err}"
        );
        assert!(
            err.contains("`moltbot pair chat <personId|email>`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn pair_says_whether_there_was_a_request() {
        let (_dir, _clock, store) = store();
        assert_eq!(
            pair(&store, "chat", "Bob@Example.com").await.unwrap(),
            "No pending request from bob@example.com; approved anyway: they can DM the bot now."
        );
        assert_eq!(
            pair(&store, "chat", "bob@example.com").await.unwrap(),
            "bob@example.com is already approved on chat."
        );
        request(&store, "chat", "P-CAROL", Some("carol@example.com")).await;
        assert_eq!(
            pair(&store, "chat", "carol@example.com").await.unwrap(),
            "Approved carol@example.com (P-CAROL) on chat; they will get a confirmation message."
        );
        let err = pair(&store, "chat", " ").await.unwrap_err().to_string();
        assert!(err.starts_with("expected a person id or an email"), "{err}");
    }

    #[tokio::test]
    async fn deny_and_revoke_report_what_happened() {
        let (_dir, _clock, store) = store();
        let code = request(&store, "chat", "P1", Some("a@example.com")).await;
        assert_eq!(
            deny(&store, "chat", &code).await.unwrap(),
            format!("Denied the pending request {code} on chat; they get no reply.")
        );
        let err = deny(&store, "chat", &code).await.unwrap_err().to_string();
        assert!(
            err.starts_with("no pending pairing request for chat matches"),
            "{err}"
        );
        let err = approve(&store, "chat", &code)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("was denied"), "{err}");

        pair(&store, "chat", "P2").await.unwrap();
        assert_eq!(
            revoke(&store, "chat", "P2").await.unwrap(),
            "Revoked the approval of P2 on chat; their next DM is handled as from an unknown \
             sender."
        );
        let err = revoke(&store, "chat", "P2").await.unwrap_err().to_string();
        assert!(
            err.starts_with("P2 is not approved on chat through pairing"),
            "{err}"
        );
        assert!(!store
            .pairing()
            .is_approved("chat", "P2", None)
            .await
            .unwrap());
    }
}

/// Runs a `moltbot pair` / `moltbot pairing ...` command: checks the channel, opens the store,
/// prints the result.
pub fn run(
    ctx: &crate::context::Context,
    command: PairingAction<'_>,
) -> anyhow::Result<crate::commands::Outcome> {
    let channel = command.channel();
    if let Some(channel) = channel {
        if ctx.registry.for_channel(channel).is_none() {
            let known: Vec<String> = ctx
                .registry
                .all()
                .flat_map(|p| p.manifest().channels.clone())
                .collect();
            anyhow::bail!("unknown channel `{channel}` (known: {})", known.join(", "));
        }
    }
    let canonical = |identity: &str| -> String {
        channel
            .and_then(|c| ctx.registry.for_channel(c))
            .map(|p| p.canonical_identity(identity))
            .unwrap_or_else(|| identity.to_string())
    };
    let location = ctx.store_location()?;
    let runtime = crate::commands::channels::runtime()?;
    // Only `pair` creates the store; the others read or change what is already there.
    let store = match command {
        PairingAction::Pair { .. } => {
            runtime.block_on(crate::context::Context::connect_store(&location))?
        }
        _ => match runtime.block_on(crate::context::Context::open_store_if_present(&location))? {
            Some(store) => store,
            None => return no_store(&location, command),
        },
    };
    let line = match command {
        PairingAction::List { channel, json } => {
            runtime.block_on(list(&store, channel, json))?;
            return Ok(crate::commands::Outcome::Success);
        }
        PairingAction::Approve { channel, code } => {
            runtime.block_on(approve(&store, channel, code))?
        }
        PairingAction::Deny { channel, target } => {
            runtime.block_on(deny(&store, channel, &canonical(target)))?
        }
        PairingAction::Revoke { channel, identity } => {
            runtime.block_on(revoke(&store, channel, &canonical(identity)))?
        }
        PairingAction::Pair { channel, identity } => {
            runtime.block_on(pair(&store, channel, &canonical(identity)))?
        }
    };
    outln!("{line}");
    Ok(crate::commands::Outcome::Success)
}

/// What a pairing command other than `pair` does when there is no store yet: `list` prints the
/// empty list (and a note on stderr), the others fail as they would on an empty store.
fn no_store(
    location: &moltbot_core::store::StoreLocation,
    command: PairingAction<'_>,
) -> anyhow::Result<crate::commands::Outcome> {
    use crate::context::no_store_yet;
    match command {
        PairingAction::List { channel, json } => {
            out!("{}", render_list(&[], channel, json, 0)?);
            if !json {
                outln!("Note: {} ({location}).", crate::context::NO_STORE_YET);
            }
            Ok(crate::commands::Outcome::Success)
        }
        PairingAction::Approve { channel, code } => Err(no_store_yet(
            location,
            &format!(
                "there is no pairing code {} for {channel} (`moltbot pairing list` shows the \
                 pending codes)",
                code.trim().to_ascii_uppercase()
            ),
        )),
        PairingAction::Deny { channel, target } => Err(no_store_yet(
            location,
            &format!(
                "no pending pairing request for {channel} matches {:?} (`moltbot pairing list` \
                 shows the pending requests)",
                target.trim()
            ),
        )),
        PairingAction::Revoke { channel, identity } => Err(no_store_yet(
            location,
            &format!("{identity} is not approved on {channel} through pairing"),
        )),
        PairingAction::Pair { .. } => Err(no_store_yet(location, "nothing was paired")),
    }
}

/// One pairing command and its arguments.
#[derive(Debug, Clone, Copy)]
pub enum PairingAction<'a> {
    /// `moltbot pairing list [channel] [--json]`.
    List {
        /// Only this channel.
        channel: Option<&'a str>,
        /// JSON output.
        json: bool,
    },
    /// `moltbot pairing approve <channel> <code>`.
    Approve {
        /// Channel id.
        channel: &'a str,
        /// Pairing code.
        code: &'a str,
    },
    /// `moltbot pairing deny <channel> <code|id|email>`.
    Deny {
        /// Channel id.
        channel: &'a str,
        /// Code, person id or email.
        target: &'a str,
    },
    /// `moltbot pairing revoke <channel> <id|email>`.
    Revoke {
        /// Channel id.
        channel: &'a str,
        /// Person id or email.
        identity: &'a str,
    },
    /// `moltbot pair <channel> <id|email>`.
    Pair {
        /// Channel id.
        channel: &'a str,
        /// Person id or email.
        identity: &'a str,
    },
}

impl PairingAction<'_> {
    fn channel(&self) -> Option<&str> {
        match *self {
            PairingAction::List { channel, .. } => channel,
            PairingAction::Approve { channel, .. }
            | PairingAction::Deny { channel, .. }
            | PairingAction::Revoke { channel, .. }
            | PairingAction::Pair { channel, .. } => Some(channel),
        }
    }
}
