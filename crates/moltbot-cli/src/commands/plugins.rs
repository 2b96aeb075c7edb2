//! `moltbot plugins install|list`.
//!
//! Plugins are compiled into the binary; installing one validates its manifest, records the
//! install in the state store, copies the manifest to `<state>/extensions/<id>/`, and sets
//! `plugins.entries.<id>.enabled = true` in the config file with a minimal text edit that keeps
//! the user's comments. Nothing is changed when any check fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use moltbot_core::config::{read_source, set_json5_bool};
use moltbot_core::plugin::{ChannelPlugin, PluginManifest, MANIFEST_FILE};
use moltbot_core::store::StoreLocation;

use crate::cli::PluginsCommand;
use crate::commands::Outcome;
use crate::context::Context;

/// Runs the command.
pub fn run(ctx: &Context, cmd: PluginsCommand) -> anyhow::Result<Outcome> {
    match cmd {
        PluginsCommand::Install { spec } => install(ctx, &spec),
        PluginsCommand::List { json } => list(ctx, json),
    }
}

/// A plugin the user asked for, resolved to the one compiled in.
struct Resolved {
    plugin: Arc<dyn ChannelPlugin>,
    /// The manifest that was validated (from the folder, or the embedded one).
    manifest: PluginManifest,
    /// What the install record says it came from.
    source: String,
}

fn looks_like_path(spec: &str) -> bool {
    spec.starts_with('.')
        || spec.starts_with('/')
        || spec.starts_with('~')
        || spec.contains('\\')
        || Path::new(spec).join(MANIFEST_FILE).is_file()
}

fn resolve(ctx: &Context, spec: &str) -> anyhow::Result<Resolved> {
    let available = || {
        ctx.registry
            .all()
            .map(|p| p.manifest().name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if looks_like_path(spec) {
        let dir = PathBuf::from(spec);
        let manifest = PluginManifest::read(&dir)?;
        let plugin = ctx.registry.find(&manifest.id).with_context(|| {
            format!(
                "{} describes plugin `{}`, which this build of moltbot does not include \
(available: {})",
                dir.display(),
                manifest.id,
                available()
            )
        })?;
        if plugin.manifest().name != manifest.name {
            bail!(
                "{} names plugin {} but this build's `{}` plugin is {}",
                dir.display(),
                manifest.name,
                manifest.id,
                plugin.manifest().name
            );
        }
        if plugin.manifest().version != manifest.version {
            eprintln!(
                "note: {} is version {}, this build includes {}; the built-in code is what runs",
                dir.display(),
                manifest.version,
                plugin.manifest().version
            );
        }
        let source = std::fs::canonicalize(&dir)
            .unwrap_or(dir)
            .display()
            .to_string();
        return Ok(Resolved {
            plugin: Arc::clone(plugin),
            manifest,
            source,
        });
    }
    let plugin = ctx.registry.find(spec).with_context(|| {
        format!(
            "unknown plugin `{spec}`: available plugins are {}",
            available()
        )
    })?;
    Ok(Resolved {
        plugin: Arc::clone(plugin),
        manifest: plugin.manifest().clone(),
        source: spec.to_string(),
    })
}

fn install(ctx: &Context, spec: &str) -> anyhow::Result<Outcome> {
    let resolved = resolve(ctx, spec)?;
    let id = resolved.plugin.manifest().id.clone();
    let name = resolved.plugin.manifest().name.clone();
    let config_path = &ctx.paths.config_file;

    // Prepare the config edit first: a config that cannot be edited changes nothing.
    let current = read_source(config_path)
        .context("nothing was changed")?
        .unwrap_or_default();
    let edited = set_json5_bool(&current, &["plugins", "entries", &id, "enabled"], true)
        .with_context(|| {
            format!(
                "cannot enable the plugin in {} (nothing was changed)",
                config_path.display()
            )
        })?;
    // A symlinked config is edited where it points, so the link stays a link.
    let config_target = resolve_symlinks(config_path)?;

    let runtime = crate::commands::channels::runtime()?;
    let store = runtime.block_on(Context::connect_store(&ctx.store_location()?))?;
    let manifest_copy = ctx.paths.extensions_dir().join(&id).join(MANIFEST_FILE);
    let manifest_json = serde_json::to_string_pretty(&resolved.manifest)?;
    write_private(&manifest_copy, manifest_json.as_bytes())?;
    if edited != current {
        write_private(&config_target, edited.as_bytes())?;
    }
    runtime.block_on(store.plugins().record_install(
        &id,
        &name,
        &resolved.manifest.version,
        &resolved.source,
    ))?;

    outln!(
        "Installed {name} {} (channels: {}) from {}.",
        resolved.manifest.version,
        resolved.manifest.channels.join(", "),
        resolved.source
    );
    outln!(
        "Enabled plugins.entries.{id}.enabled in {}.",
        config_path.display()
    );
    Ok(Outcome::Success)
}

fn list(ctx: &Context, json: bool) -> anyhow::Result<Outcome> {
    let checked = ctx.check_config();
    let enabled = |id: &str| {
        checked
            .as_ref()
            .map(|c| c.config.core.plugins.is_enabled(id))
            .unwrap_or(false)
    };
    let location = ctx.store_location()?;
    let records = match &location {
        StoreLocation::Sqlite(file) if !file.exists() => Vec::new(),
        _ => {
            let runtime = crate::commands::channels::runtime()?;
            runtime.block_on(async {
                Context::connect_store(&location)
                    .await?
                    .plugins()
                    .list()
                    .await
                    .map_err(anyhow::Error::from)
            })?
        }
    };
    let rows: Vec<serde_json::Value> = ctx
        .registry
        .all()
        .map(|plugin| {
            let m = plugin.manifest();
            let record = records.iter().find(|r| r.id == m.id);
            let status = match (enabled(&m.id), record.is_some()) {
                (true, _) => "enabled",
                (false, true) => "installed, disabled in config",
                (false, false) => "not installed",
            };
            serde_json::json!({
                "id": m.id,
                "name": m.name,
                "version": m.version,
                "channels": m.channels,
                "status": status,
                "enabled": enabled(&m.id),
                "source": record.map(|r| r.source.clone()),
                "installedAt": record.map(|r| r.installed_at),
            })
        })
        .collect();
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(Outcome::Success);
    }
    outln!(
        "{:<8} {:<16} {:<8} {:<10} {:<32} SOURCE",
        "ID",
        "NAME",
        "VERSION",
        "CHANNELS",
        "STATUS"
    );
    for row in &rows {
        let text = |k: &str| row[k].as_str().unwrap_or("-").to_string();
        let channels = row["channels"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        outln!(
            "{:<8} {:<16} {:<8} {:<10} {:<32} {}",
            text("id"),
            text("name"),
            text("version"),
            channels,
            text("status"),
            text("source")
        );
    }
    if let Err(err) = checked {
        eprintln!("note: the config could not be read, so nothing shows as enabled: {err}");
    }
    Ok(Outcome::Success)
}

/// The file `path` finally points to when it is a symlink (a chain of them is followed; a
/// relative target is relative to the link's folder); `path` itself otherwise or when it does
/// not exist. The target need not exist yet.
fn resolve_symlinks(path: &Path) -> anyhow::Result<PathBuf> {
    const MAX_LINKS: usize = 40;
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)
                    .with_context(|| format!("cannot read the link {}", current.display()))?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    bail!(
        "{} is a chain of more than {MAX_LINKS} symlinks (a loop?); nothing was changed",
        path.display()
    )
}

/// Writes `bytes` to `path` atomically (temp file + rename), 0600, creating missing parent
/// folders 0700. An existing file keeps its permissions.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    moltbot_core::store::fs::create_private_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = parent.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}
