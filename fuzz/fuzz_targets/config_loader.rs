//! The JSON5 config loader: `moltbot_core::config::parse` (and the lenient variant), then
//! `moltbot_webex::config::validate`, then rendering the issues (line/column lookups).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use moltbot_core::config::{parse, parse_lenient, render_issues, ConfigError};

fn env(name: &str) -> Option<String> {
    match name {
        "WEBEX_BOT_TOKEN" => Some("fuzz-token-0123456789abcdef".to_string()),
        "HOME" | "SET" => Some("/tmp/x".to_string()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.json5");
    match parse(path, text, &env) {
        Ok(cfg) => {
            if let Err(issues) = moltbot_webex::config::validate(&cfg, &env) {
                let _ = render_issues(&issues);
            }
        }
        Err(ConfigError::Invalid(issues)) => {
            let _ = render_issues(&issues);
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
    if let Ok((cfg, mut issues)) = parse_lenient(path, true, text.to_string(), &env) {
        if let Err(more) = moltbot_webex::config::validate(&cfg, &env) {
            issues.extend(more);
        }
        let _ = render_issues(&issues);
    }
});
