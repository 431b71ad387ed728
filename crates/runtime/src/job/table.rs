//! `ratings-stream table`: the Delta tables' upkeep on demand — compaction of every hour and
//! vacuum — which the processor otherwise does on its own once an hour closes (see
//! [`crate::sink::delta::compaction`]). Each prints what it did, one line per table.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Context;
use ratings_connectors::delta::Table;
use ratings_connectors::parquet::{hour_of_path, partition_dir, AGGREGATES_ROOT, RAW_ROOT};
use ratings_connectors::storage::Storage;
use ratings_settings::ParquetSettings;

use crate::sink::delta::compaction::{compact_hours, Upkeep};

/// Compacts every hour of every table; a report.
pub fn optimize(settings: &ParquetSettings) -> anyhow::Result<String> {
    let upkeep = Upkeep::of(settings);
    anyhow::ensure!(
        upkeep.target_bytes > 0,
        "--compaction-target is off: nothing to do"
    );
    let mut report = String::new();
    for mut table in tables(settings)? {
        let before = table.files()?;
        let mut hours: Vec<i64> = before
            .iter()
            .filter_map(|f| hour_of_path(&f.partition))
            .collect();
        hours.sort_unstable();
        hours.dedup();
        let done = compact_hours(&mut table, &hours, &upkeep)?;
        for (hour, compacted) in &done {
            report += &format!(
                "{} {}: {} files → {} (version {})\n",
                table.root(),
                partition_dir(*hour),
                compacted.files_before,
                compacted.files_after,
                compacted.version
            );
        }
        report += &format!(
            "{}: {} hours compacted; {} files before, {} after\n",
            table.root(),
            done.len(),
            before.len(),
            table.files()?.len()
        );
    }
    Ok(report)
}

/// Deletes the files removed longer ago than the retention (only lists them with
/// `dry_run`); a report.
pub fn vacuum(settings: &ParquetSettings, dry_run: bool) -> anyhow::Result<String> {
    let retention = settings.vacuum_retention;
    let mut report = String::new();
    for mut table in tables(settings)? {
        let files = table.vacuum(retention, dry_run)?;
        let verb = if dry_run {
            "would be deleted"
        } else {
            "deleted"
        };
        for file in &files {
            report += &format!("{} {file}: {verb}\n", table.root());
        }
        report += &format!(
            "{}: {} files removed more than {} ago {verb}\n",
            table.root(),
            files.len(),
            humantime::format_duration(retention)
        );
    }
    Ok(report)
}

/// The Delta tables of the storage the settings name (an error when there is none).
fn tables(settings: &ParquetSettings) -> anyhow::Result<Vec<Table>> {
    let url = settings
        .storage
        .as_deref()
        .context("--storage is required")?;
    // opened to read first: a mistyped URL leaves no folder behind
    let storage = Arc::new(Storage::open_existing(url)?);
    // the window types' folders are those with a Delta log under the aggregates' folder
    let logs = storage.list(AGGREGATES_ROOT)?;
    let aggregates: BTreeSet<&str> = logs
        .iter()
        .filter_map(|path| path.split_once("/_delta_log/").map(|(root, _)| root))
        .collect();
    let mut tables = Vec::new();
    for root in std::iter::once(RAW_ROOT).chain(aggregates) {
        tables.extend(Table::open(&storage, root)?);
    }
    anyhow::ensure!(
        !tables.is_empty(),
        "{} has no Delta table (run with --table-format delta writes them)",
        storage.url()
    );
    storage.probe()?;
    Ok(tables)
}
