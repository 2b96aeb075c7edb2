//! `moltbot poll create | results | close`: polls without a running gateway.
//!
//! `create` posts the poll card through the channel's plugin (like `message send`) and stores
//! the poll in the state store with the room the card landed in; the running gateway takes the
//! votes. `close` closes it in the store; the running gateway's leader notices within a second
//! and posts the tally in the room (the hand-over approvals use too). Every command takes
//! `--json`.

use std::time::Duration;

use anyhow::Context as _;
use moltbot_core::gateway::{heartbeat, polls};
use moltbot_core::logging;
use moltbot_core::plugin::SendRequest;
use moltbot_core::store::{NewPoll, Poll, Store};
use serde_json::{json, Value};

use crate::cli::{PollCommand, PollCreateArgs};
use crate::commands::channels::runtime;
use crate::commands::message::sending_plugin;
use crate::commands::Outcome;
use crate::context::{no_store_yet, Context};

/// Runs a `poll` command.
pub fn run(ctx: &Context, command: PollCommand) -> anyhow::Result<Outcome> {
    match command {
        PollCommand::Create(args) => create(ctx, &args),
        PollCommand::Results { id, json } => {
            let rt = runtime()?;
            let store = existing_store(ctx, &rt, &id)?;
            let (poll, summary) = rt.block_on(summary(&store, &id))?;
            if json {
                outln!("{summary}");
            } else {
                out!("{}", results_text(&poll, &summary));
            }
            Ok(Outcome::Success)
        }
        PollCommand::Close { id, json } => close(ctx, &id, json),
    }
}

fn create(ctx: &Context, args: &PollCreateArgs) -> anyhow::Result<Outcome> {
    let (question, options) = match polls::check(&args.question, &args.options) {
        Ok(checked) => checked,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(Outcome::Failure);
        }
    };
    let closes_in = match args.closes_in.as_deref().map(parse_duration).transpose() {
        Ok(closes_in) => closes_in,
        Err(err) => {
            eprintln!("error: --closes-in: {err}");
            return Ok(Outcome::Failure);
        }
    };
    let Some((checked, plugin)) = sending_plugin(ctx, &args.channel)? else {
        return Ok(Outcome::Failure);
    };
    let id = polls::new_id();
    let card = polls::card(&id, &question, &options, args.multiple);
    let text = polls::fallback_text(&id, &question, &options);
    let request = SendRequest {
        to: &args.to,
        text: &text,
        file: None,
        markdown: true,
        card: Some(&card),
    };
    let rt = runtime()?;
    let env: &(dyn Fn(&str) -> Option<String> + Sync) = &Context::env;
    let report = match rt.block_on(plugin.send_message(&checked.config, env, request)) {
        Ok(report) => report,
        Err(message) => {
            eprintln!("error: {}", logging::redact(&message));
            return Ok(Outcome::Failure);
        }
    };
    let Some(room_id) = report.room_id.clone() else {
        anyhow::bail!(
            "the poll card was sent ({}) but the channel did not say in which room, so its votes \
             cannot be counted; delete it and try again with the room id",
            report.message_ids.join(", ")
        );
    };
    let store = rt.block_on(Context::connect_store(
        &ctx.store_location_for(&checked.config)?,
    ))?;
    let closes_at = closes_in.map(|d| {
        store
            .now_ms()
            .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    });
    let poll = NewPoll {
        id: id.clone(),
        channel: args.channel.clone(),
        room_id: room_id.clone(),
        question,
        options,
        multiple: args.multiple,
        created_by: "cli".to_string(),
        closes_at,
        // The card goes with its fallback text as one message: only its submissions count.
        card_message_id: report.message_ids.last().cloned(),
    };
    rt.block_on(store.polls().create_poll(&poll)).context(
        "the poll card was sent but the poll could not be stored; its votes will not count",
    )?;
    if args.json {
        outln!(
            "{}",
            json!({
                "id": id,
                "roomId": room_id,
                "messageIds": report.message_ids,
                "closesAt": closes_at,
            })
        );
    } else {
        outln!("{id}");
        let closes = match closes_in {
            Some(d) => format!("it closes by itself in {}", humanize(d)),
            None => format!("close it with `moltbot poll close {id}`"),
        };
        eprintln!(
            "{}",
            logging::redact(&format!("Poll {id} posted to {}; {closes}.", report.target))
        );
    }
    Ok(Outcome::Success)
}

/// The store holding poll `id`; without a store (never created here) there is no such poll.
fn existing_store(
    ctx: &Context,
    rt: &tokio::runtime::Runtime,
    id: &str,
) -> anyhow::Result<moltbot_core::store::Store> {
    let location = ctx.store_location()?;
    rt.block_on(Context::open_store_if_present(&location))?
        .ok_or_else(|| no_store_yet(&location, &format!("there is no poll `{id}`")))
}

fn close(ctx: &Context, id: &str, json: bool) -> anyhow::Result<Outcome> {
    let rt = runtime()?;
    let store = existing_store(ctx, &rt, id)?;
    let before = rt
        .block_on(store.polls().poll(id))?
        .ok_or_else(|| no_poll(id))?;
    let already = before.closed_at.is_some();
    rt.block_on(store.polls().close_poll(id))?;
    let (poll, mut summary) = rt.block_on(summary(&store, id))?;
    let running = rt
        .block_on(heartbeat::is_running(&store))
        .context("cannot read the gateway heartbeat from the state store")?;
    if json {
        summary["alreadyClosed"] = json!(already);
        summary["gatewayRunning"] = json!(running);
        outln!("{summary}");
        return Ok(Outcome::Success);
    }
    let posted = if poll.announced_at.is_some() && already {
        "its tally was already posted in the room"
    } else if poll.announced_at.is_some() {
        "its tally was posted in the room"
    } else if running {
        "the running gateway posts the tally in the room"
    } else {
        "no gateway is running: the tally is posted in the room when one starts"
    };
    let state = if already {
        "was already closed"
    } else {
        "closed"
    };
    outln!("Poll {id} {state}; {posted}.");
    out!("{}", results_text(&poll, &summary));
    Ok(Outcome::Success)
}

/// Poll `id` with its tally as JSON: `{id, question, roomId, multiple, status, closesAt,
/// closedAt, announced, options: [{option, votes}], voters}` (times in unix ms, `null` when
/// not set).
async fn summary(store: &Store, id: &str) -> anyhow::Result<(Poll, Value)> {
    let poll = store.polls().poll(id).await?.ok_or_else(|| no_poll(id))?;
    let votes = store.polls().votes(id).await?;
    let tally = polls::tally(&poll, &votes);
    let status = if poll.is_open(store.now_ms()) {
        "open"
    } else {
        "closed"
    };
    let summary = json!({
        "id": poll.id,
        "question": poll.question,
        "roomId": poll.room_id,
        "multiple": poll.multiple,
        "status": status,
        "closesAt": poll.closes_at,
        "closedAt": poll.closed_at,
        "announced": poll.announced_at.is_some(),
        "options": tally.counts.iter().map(|(option, votes)| json!({"option": option, "votes": votes})).collect::<Vec<_>>(),
        "voters": tally.voters,
    });
    Ok((poll, summary))
}

/// The results as text: the question and status, one line per option, the voters.
fn results_text(poll: &Poll, summary: &Value) -> String {
    let mut text = format!(
        "{} ({}): {}\n",
        poll.id,
        summary["status"].as_str().unwrap_or("open"),
        poll.question
    );
    if let Some(options) = summary["options"].as_array() {
        for option in options {
            text.push_str(&format!(
                "  {}: {}\n",
                option["option"].as_str().unwrap_or_default(),
                option["votes"]
            ));
        }
    }
    let voters = summary["voters"].as_u64().unwrap_or(0);
    let noun = if voters == 1 { "person" } else { "people" };
    text.push_str(&format!("{voters} {noun} voted.\n"));
    text
}

fn no_poll(id: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "no poll `{id}` in the state store (the id is printed by `moltbot poll create`)"
    )
}

/// A duration such as `90s`, `30m`, `2h` or `1d` (a whole number and one unit).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write e.g. 30m, 2h, 1d"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number and a unit such as 30m"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use s, m, h or d"
            ))
        }
    };
    if n == 0 {
        return Err("the poll must stay open for some time (e.g. 30m)".to_string());
    }
    n.checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// `30m`, `2h`, `90s` for the summary line.
fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_one_unit() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration(" 90s "), Ok(Duration::from_secs(90)));
        for bad in [
            "",
            "30",
            "m",
            "30x",
            "0m",
            "1.5h",
            "-3m",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(humanize(Duration::from_secs(1_800)), "30m");
        assert_eq!(humanize(Duration::from_secs(90)), "90s");
    }
}
