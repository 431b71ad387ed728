//! A restart with other window types than the checkpoint's: the open windows of the new types
//! are rebuilt from the raw dataset — every valid rating with the watermark it was read under —
//! by [`ratings_core::rebuild::Rebuilder`], which applies the live engine's rules. Without raw
//! output the change is refused, naming the difference, unless `--reset-windows` starts the
//! windows empty. Nothing is committed until the first epoch after the restart: a crash during
//! the rebuild restarts from the same checkpoint.

use std::sync::Arc;
use std::time::Instant;

use ratings_connectors::parquet::{
    each_raw_batch_since, hour_files, RawRow, RawRows, RowDelta, RAW_ROOT,
};
use ratings_connectors::storage::Storage;
use ratings_core::rebuild::{RebuildReport, Rebuilder};
use ratings_core::time::{align_down, rfc3339_seconds};
use ratings_core::{Catalog, Engine, EngineConfig, WindowSpec};

use super::recovery::RecoveryError;

/// What a restart may do when the window types differ from the checkpoint's.
#[derive(Clone, Copy)]
pub(crate) struct WindowsChange<'a> {
    /// The storage of the job's raw dataset (`None`: no Parquet output).
    pub raw: Option<&'a Arc<Storage>>,
    /// `--reset-windows`: without raw output, start the windows empty.
    pub reset: bool,
}

/// The engine for `config` from `restored` (the checkpoint's engine, of other window types)
/// and the raw ratings: those published in the raw dataset and `unpublished` (the checkpoint's
/// rows of raw files still open). `raw_from`: the watermark the raw dataset began at, if the
/// job ran without it first.
pub(super) fn rebuild(
    restored: &Engine,
    config: EngineConfig,
    catalog: Arc<Catalog>,
    change: WindowsChange<'_>,
    raw_from: Option<i64>,
    unpublished: &[&RowDelta],
    location: &str,
) -> anyhow::Result<Engine> {
    let started = Instant::now();
    let difference = difference(&restored.config().windows, &config.windows);
    let largest = config.largest_size();
    let mut rebuilder = Rebuilder::new(config, catalog, restored);
    let since = rebuilder.since();
    let lacking = lacking(
        change.raw.is_some(),
        raw_from,
        since,
        restored.config().watermark_delay,
        largest,
    );
    let (Some(storage), None) = (change.raw, lacking.as_ref()) else {
        if !change.reset {
            return Err(RecoveryError::WindowsChanged {
                location: location.to_string(),
                difference,
                lacking: lacking.unwrap_or_default(),
            }
            .into());
        }
        let (engine, _) = rebuilder.finish();
        tracing::warn!(
            "windows changed since the checkpoint ({difference}); --reset-windows: the windows \
             start empty, without the ratings read before the restart{}",
            missing_minutes(since, restored)
        );
        return Ok(engine);
    };
    add_raw_dataset(&mut rebuilder, storage, since)?;
    for row in RawRows::unpublished(unpublished.iter().copied())?.all() {
        add(&mut rebuilder, &row)?;
    }
    let (engine, report) = rebuilder.finish();
    tracing::info!(
        "windows changed since the checkpoint ({difference}): open windows rebuilt from the raw \
         dataset in {} ms{}",
        started.elapsed().as_millis(),
        describe(&report, &engine)
    );
    fault_point_after_rebuild();
    Ok(engine)
}

/// Why the raw dataset cannot rebuild open windows reaching back to event time `since`, if it
/// cannot: there is none (`raw` false), or it began at watermark `raw_from`, when ratings of
/// event times up to `raw_from` + `delay` may have been read already.
fn lacking(
    raw: bool,
    raw_from: Option<i64>,
    since: Option<i64>,
    delay: i64,
    largest_window: i64,
) -> Option<String> {
    if !raw {
        return Some(
            "no raw output (--storage) keeps the ratings their open windows would be rebuilt \
             from"
                .to_string(),
        );
    }
    let (from, since) = (raw_from?, since?);
    // windows opening after `from` + delay hold none of the ratings read before
    (since <= from + delay).then(|| {
        format!(
            "the raw dataset lacks ratings their open windows hold: it began at watermark {} \
             (the job ran without --storage before), and they reach back to {}; change the \
             windows once the watermark passes {}",
            rfc3339_seconds(from),
            rfc3339_seconds(since),
            rfc3339_seconds(from + delay + largest_window)
        )
    })
}

/// A test's fault point (`crates/cli/tests/windows_change.rs`): with
/// `RATINGS_FAULT_AFTER_REBUILD` set, the process dies once the engine is rebuilt, before any
/// epoch commits it, as a crash would.
fn fault_point_after_rebuild() {
    if std::env::var_os("RATINGS_FAULT_AFTER_REBUILD").is_some() {
        tracing::error!("RATINGS_FAULT_AFTER_REBUILD is set: aborting after the rebuild");
        std::process::abort();
    }
}

/// Adds the rows of the raw dataset (published files) from event time `since` on, a record
/// batch at a time: the files of the hours from the one holding `since`, without their row
/// groups that end before it. (`benches/rebuild.rs` measures it.)
pub fn add_raw_dataset(
    rebuilder: &mut Rebuilder,
    storage: &Arc<Storage>,
    since: Option<i64>,
) -> anyhow::Result<()> {
    let first_hour = since.map_or(i64::MIN, |since| align_down(since, 3600));
    let since = since.unwrap_or(i64::MIN);
    for (_, paths) in hour_files(storage, RAW_ROOT)?.range(first_hour..) {
        for path in paths {
            each_raw_batch_since(storage, path, since, |rows| {
                rows.iter().try_for_each(|row| add(rebuilder, row))
            })?;
        }
    }
    Ok(())
}

fn add(rebuilder: &mut Rebuilder, row: &RawRow) -> anyhow::Result<()> {
    Ok(rebuilder.add(&row.rating, row.watermark)?)
}

/// The window types added and removed, by name.
fn difference(old: &[WindowSpec], new: &[WindowSpec]) -> String {
    let names = |specs: Vec<&WindowSpec>| {
        specs
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let added = names(new.iter().filter(|w| !old.contains(w)).collect());
    let removed = names(old.iter().filter(|w| !new.contains(w)).collect());
    match (added.is_empty(), removed.is_empty()) {
        (false, false) => format!("added {added}; removed {removed}"),
        (false, true) => format!("added {added}"),
        (true, false) => format!("removed {removed}"),
        (true, true) => "the same types in another order".to_string(),
    }
}

/// What a rebuild did, for the log: indented lines as the banner's.
fn describe(report: &RebuildReport, engine: &Engine) -> String {
    let names = |specs: &[WindowSpec]| -> String {
        let names: Vec<String> = specs.iter().map(WindowSpec::name).collect();
        if names.is_empty() {
            "-".into()
        } else {
            names.join(", ")
        }
    };
    let open: Vec<String> = (engine.config().windows.iter().zip(&report.open_windows))
        .map(|(spec, open)| format!("{} {open}", spec.name()))
        .collect();
    let removed: Vec<String> = (report.removed.iter())
        .map(|(spec, open)| format!("{} ({open} open windows dropped)", spec.name()))
        .collect();
    let lines = [
        ("added", names(&report.added)),
        ("kept", names(&report.kept)),
        (
            "removed",
            if removed.is_empty() {
                "-".into()
            } else {
                removed.join(", ")
            },
        ),
        (
            "raw ratings",
            format!(
                "{} used of {} read, event time from {} on",
                report.rows_used,
                report.rows_read,
                report.since.map_or("the first".into(), rfc3339_seconds)
            ),
        ),
        ("open windows", open.join(", ")),
    ];
    lines
        .iter()
        .map(|(key, value)| format!("\n  {key:<16} {value}"))
        .collect()
}

/// The event times whose ratings the windows of a reset lack.
fn missing_minutes(since: Option<i64>, restored: &Engine) -> String {
    let latest = restored
        .watermark()
        .map(|w| w + restored.config().watermark_delay);
    match (since, latest) {
        (Some(since), Some(latest)) => format!(
            ": windows closing after the restart miss the ratings of {} to {}",
            rfc3339_seconds(since),
            rfc3339_seconds(latest)
        ),
        _ => " (no window was open)".to_string(),
    }
}
