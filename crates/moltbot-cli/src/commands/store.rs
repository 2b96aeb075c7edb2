//! `moltbot store status|migrate|copy`: the state store as a whole, whichever backend holds it.

use anyhow::Context as _;
use moltbot_core::logging;
use moltbot_core::store::{CopyError, Store, StoreLocation, SCHEMA_VERSION};
use serde_json::json;

use crate::cli::StoreCommand;
use crate::commands::channels::runtime;
use crate::commands::Outcome;
use crate::context::Context;

/// Runs the command.
pub fn run(ctx: &Context, command: StoreCommand) -> anyhow::Result<Outcome> {
    let location = ctx.store_location()?;
    let runtime = runtime()?;
    match command {
        StoreCommand::Status { json } => runtime.block_on(status(&location, json)),
        StoreCommand::Migrate { json } => runtime.block_on(migrate(&location, json)),
        StoreCommand::Copy { to, force, json } => {
            let target = StoreLocation::parse(&to).map_err(|e| {
                anyhow::anyhow!("--to: cannot use this store URL: {e}; {}", e.fix())
            })?;
            for secret in target.secrets() {
                logging::register_secret(&secret);
            }
            runtime.block_on(copy(&location, &target, force, json))
        }
    }
}

fn where_json(location: &StoreLocation) -> serde_json::Value {
    json!({ "backend": location.backend_name(), "location": location.location() })
}

async fn status(location: &StoreLocation, json: bool) -> anyhow::Result<Outcome> {
    let found = Store::schema_version_at(location)
        .await
        .with_context(|| format!("cannot read the state store ({location})"))?;
    // Rows are counted only when the tables are the ones this moltbot knows; status changes
    // nothing, so an older schema is reported, not migrated.
    let rows = match found {
        Some(v) if v == SCHEMA_VERSION => {
            Some(Context::connect_store(location).await?.row_counts().await?)
        }
        _ => None,
    };
    let advice = match found {
        None => Some(crate::context::NO_STORE_YET.to_owned()),
        Some(0) => Some("empty database: run `moltbot store migrate` (or start the gateway) to create the tables".to_owned()),
        Some(v) if v < SCHEMA_VERSION => Some(format!(
            "schema version {v} is older than this moltbot's {SCHEMA_VERSION}: run `moltbot store migrate`"
        )),
        Some(v) if v > SCHEMA_VERSION => Some(format!(
            "schema version {v} is newer than this moltbot's {SCHEMA_VERSION}: upgrade moltbot"
        )),
        Some(_) => None,
    };
    if json {
        let mut out = where_json(location);
        out["exists"] = json!(found.is_some());
        out["schemaVersion"] = json!(found);
        out["supportedVersion"] = json!(SCHEMA_VERSION);
        out["rows"] = match &rows {
            Some(rows) => rows
                .iter()
                .map(|(t, n)| ((*t).to_owned(), json!(n)))
                .collect(),
            None => serde_json::Value::Null,
        };
        out["advice"] = json!(advice);
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(Outcome::Success);
    }
    outln!("Store: {location}");
    match found {
        Some(v) => outln!("Schema version: {v} (this moltbot: {SCHEMA_VERSION})"),
        None => outln!("Schema version: - (this moltbot: {SCHEMA_VERSION})"),
    }
    if let Some(rows) = &rows {
        outln!("Rows:");
        let width = rows.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
        for (table, n) in rows {
            outln!("  {table:<width$}  {n}");
        }
    }
    if let Some(advice) = advice {
        outln!("Note: {advice}.");
    }
    Ok(Outcome::Success)
}

async fn migrate(location: &StoreLocation, json: bool) -> anyhow::Result<Outcome> {
    let before = Store::schema_version_at(location)
        .await
        .with_context(|| format!("cannot read the state store ({location})"))?;
    let store = Context::connect_store(location).await?;
    let after = store.schema_version().await?;
    if json {
        let mut out = where_json(location);
        out["from"] = json!(before.unwrap_or(0));
        out["to"] = json!(after);
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else if before == Some(after) {
        outln!("The state store ({location}) is already at schema version {after}.");
    } else {
        outln!(
            "Migrated the state store ({location}) from schema version {} to {after}.",
            before.unwrap_or(0)
        );
    }
    Ok(Outcome::Success)
}

async fn copy(
    from: &StoreLocation,
    to: &StoreLocation,
    force: bool,
    json: bool,
) -> anyhow::Result<Outcome> {
    if let StoreLocation::Sqlite(file) = from {
        if !file.exists() {
            anyhow::bail!("there is no state store to copy at {}", file.display());
        }
    }
    if let StoreLocation::Sqlite(file) = to {
        let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent.filter(|p| !p.is_dir()) {
            anyhow::bail!(
                "--to: the folder {} does not exist: create it first (store copy does not \
                 create folders)",
                parent.display()
            );
        }
    }
    // Opening a store upgrades it; the store copied from is left as it was (docs/operations.md:
    // it is the way back to the previous release), so one at another schema is refused first.
    let found = Store::schema_version_at(from)
        .await
        .with_context(|| format!("cannot read the state store ({from})"))?;
    match found {
        Some(v) if v > 0 && v < SCHEMA_VERSION => anyhow::bail!(
            "the state store to copy ({from}) is at schema version {v}, older than this \
             moltbot's {SCHEMA_VERSION}, and a copy leaves it as it is: back it up, run \
             `moltbot store migrate`, then copy"
        ),
        Some(v) if v > SCHEMA_VERSION => anyhow::bail!(
            "the state store to copy ({from}) is at schema version {v}, newer than this \
             moltbot supports ({SCHEMA_VERSION}): upgrade moltbot"
        ),
        _ => {}
    }
    let source = Context::connect_store(from).await?;
    let target = Context::connect_store(to).await?;
    let copied = source.copy_to(&target, force).await;
    // Closing makes a SQLite target one self-contained file (no -wal/-shm next to it).
    source.close().await;
    target.close().await;
    let report = match copied {
        Ok(report) => report,
        Err(err @ CopyError::TargetNotEmpty { .. }) => {
            anyhow::bail!("{err}: copy into an empty database, or add --force to replace its data")
        }
        Err(err) => return Err(anyhow::Error::new(err).context(format!("copy to {to} failed"))),
    };
    if json {
        let tables: serde_json::Map<String, serde_json::Value> = report
            .tables
            .iter()
            .map(|(t, n)| ((*t).to_owned(), json!(n)))
            .collect();
        let out = json!({
            "from": where_json(from),
            "to": where_json(to),
            "tables": tables,
            "total": report.total(),
            "verified": true,
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(Outcome::Success);
    }
    outln!("Copied {} rows from {from} to {to}:", report.total());
    let width = report
        .tables
        .iter()
        .map(|(t, _)| t.len())
        .max()
        .unwrap_or(0);
    for (table, n) in &report.tables {
        outln!("  {table:<width$}  {n}");
    }
    outln!("Verified: every table has the same number of rows in both stores.");
    outln!(
        "To use it, set store.url in the config (or MOLTBOT_DATABASE_URL) to the target, then \
         start the gateway."
    );
    Ok(Outcome::Success)
}
