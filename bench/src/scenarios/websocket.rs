//! Scenario 7, websocket mode (issue 13): event → reply latency and requests per answered
//! message at the latency scenario's load and at each of the polling scenario's loads, each
//! beside the floor ([`latency::steady`]); then the websocket fault cases
//! ([`faults::WEBSOCKET_CASES`]).

use std::path::Path;

use serde_json::{json, Value};

use super::latency::{self, Load};
use super::{faults, polling};
use crate::report::Section;
use crate::Sizes;

/// Runs the scenario; `fault_cases` filters the fault cases as `--fault-cases` does (empty: all
/// of [`faults::WEBSOCKET_CASES`]).
pub async fn run(binary: &Path, sizes: &Sizes, fault_cases: &[String]) -> anyhow::Result<Section> {
    let mut s = Section::new("websocket");
    let load = Load {
        users: sizes.users,
        messages: sizes.latency_n,
        rate: sizes.latency_rate,
        webhook_floor: sizes.webhook_floor,
    };
    let steady = latency::steady(binary, "websocket", load).await?;
    steady.rows(&mut s, "websocket (latency's load)");
    s.set("latency_load", steady.json());
    let mut at_polling = Vec::new();
    for &(interval, n) in &sizes.polling {
        let load = polling::latency_load(sizes, interval, n);
        let fig = latency::steady(binary, "websocket", load).await?;
        fig.rows(
            &mut s,
            &format!("websocket (polling's load @ {interval} s)"),
        );
        let mut figures = fig.json();
        if let Value::Object(map) = &mut figures {
            map.insert("polling_interval_s".to_string(), json!(interval));
        }
        at_polling.push(figures);
    }
    s.set("polling_loads", Value::Array(at_polling));
    faults::run_into(&mut s, binary, sizes, faults::WEBSOCKET_CASES, fault_cases).await?;
    Ok(s)
}
