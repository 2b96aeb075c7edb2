//! The printed table and the JSON results.

use serde_json::{json, Value};

/// The figures of one scenario.
#[derive(Debug, Clone)]
pub struct Section {
    /// Scenario name (also the JSON key).
    pub name: String,
    /// `(figure, value)` rows for the table.
    pub rows: Vec<(String, String)>,
    /// Machine-readable figures.
    pub json: Value,
}

impl Section {
    /// An empty section.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            rows: Vec::new(),
            json: json!({}),
        }
    }

    /// Adds a table row.
    pub fn row(&mut self, figure: impl Into<String>, value: impl Into<String>) {
        self.rows.push((figure.into(), value.into()));
    }

    /// Sets a JSON field.
    pub fn set(&mut self, key: &str, value: Value) {
        if let Value::Object(map) = &mut self.json {
            map.insert(key.to_string(), value);
        }
    }
}

/// The sections as a markdown table.
pub fn table(sections: &[Section]) -> String {
    let mut out = String::from("| scenario | figure | value |\n|---|---|---|\n");
    for s in sections {
        for (figure, value) in &s.rows {
            out.push_str(&format!("| {} | {} | {} |\n", s.name, figure, value));
        }
    }
    out
}

/// The whole result document.
pub fn document(sections: &[Section], machine: Value, sizes: &str) -> Value {
    let mut results = serde_json::Map::new();
    for s in sections {
        results.insert(s.name.clone(), s.json.clone());
    }
    json!({ "machine": machine, "sizes": sizes, "results": results })
}

/// `nproc`, CPU model and memory of this machine (from /proc).
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({ "nproc": cpus, "cpu": model, "mem_total_mib": mem_kib / 1024,
            "os": std::env::consts::OS, "arch": std::env::consts::ARCH })
}
