//! The Parquet checks: each dataset's newest files are readable with the expected schema; every
//! hour the checkpoint's watermark has closed carries `_SUCCESS`; every file a kept epoch
//! published is there (a deleted file is found); no staged file is left behind by an epoch that
//! is neither committed nor pending. A dataset written as a Delta table is read as its latest
//! version has it, and checked as a table too ([`crate::delta`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ratings_connectors::checkpoint::CheckpointStore;
use ratings_connectors::parquet::layout::folders;
use ratings_connectors::parquet::{self, AGGREGATE_SCHEMA, RAW_ROOT, RAW_SCHEMA};
use ratings_connectors::storage::Storage;
use ratings_core::EngineConfig;
use ratings_settings::{Guarantee, JobConfig, KafkaJob};

use crate::report::Check;

/// Newest files of each dataset read in full.
const NEWEST_READ: usize = 3;

/// Runs the Parquet checks (none when no Parquet output is configured).
pub fn checks(config: &JobConfig, job: &KafkaJob, engine: &EngineConfig) -> Vec<Check> {
    let Some(url) = &config.parquet.storage else {
        return vec![Check::pass(
            "parquet",
            "no Parquet outputs configured (--storage)",
        )];
    };
    let storage = match crate::open_storage(url) {
        Ok(storage) => Arc::new(storage),
        Err(error) => {
            return vec![Check::fail(
                "parquet",
                format!("{error:#}"),
                "check --storage and that the storage is reachable",
            )]
        }
    };
    let store = (job.delivery.guarantee == Guarantee::ExactlyOnce)
        .then(|| CheckpointStore::new(Arc::clone(&storage), &job.delivery.checkpoint_dir));
    // the window types' folders as the checkpoint recorded them
    let committed = store
        .as_ref()
        .and_then(|s| ratings_runtime::committed_outputs(s).ok().flatten());
    let recorded = committed.and_then(|c| c.parquet).map(|p| p.aggregates);
    let largest_window = engine.largest_size();
    let datasets: Vec<(String, &_, i64)> = std::iter::once((RAW_ROOT.to_string(), &*RAW_SCHEMA, 0))
        .chain(
            folders(&engine.windows, recorded.as_deref())
                .into_iter()
                .map(|root| (root, &*AGGREGATE_SCHEMA, largest_window)),
        )
        .collect();
    let watermark = store
        .as_ref()
        .and_then(|s| s.latest().ok().flatten())
        .and_then(|r| r.offsets.watermark);
    if let Err(error) = storage.list(RAW_ROOT) {
        return vec![Check::fail(
            "parquet",
            format!("{error:#}"),
            "check --storage and that the storage is reachable",
        )];
    }
    let mut checks: Vec<Check> = datasets
        .iter()
        .map(|(root, schema, lag)| {
            dataset_check(&storage, root, schema, watermark.map(|w| w - lag))
        })
        .collect();
    let roots: Vec<&str> = datasets.iter().map(|(root, _, _)| root.as_str()).collect();
    let epochs = store.as_ref().map(|s| (s, job.transactional_id()));
    checks.extend(crate::delta::checks(&storage, &roots, epochs));
    if let Some(store) = &store {
        checks.push(publications_check(&storage, store));
    }
    checks
}

/// Hour folder → the names of its files.
fn hours(files: &[String], root: &str) -> BTreeMap<String, Vec<String>> {
    let mut hours: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in files {
        let relative = path.trim_start_matches(root).trim_start_matches('/');
        if let Some((folder, name)) = relative.rsplit_once('/') {
            hours
                .entry(folder.to_string())
                .or_default()
                .push(name.to_string());
        }
    }
    hours
}

/// Start of the hour a `date=YYYY-MM-DD/hour=HH` folder stands for, epoch seconds.
fn hour_start(folder: &str) -> Option<i64> {
    let (date, hour) = folder.strip_prefix("date=")?.split_once("/hour=")?;
    ratings_core::time::parse_rfc3339_seconds(&format!("{date}T{hour}:00:00Z"))
}

/// One dataset: readable newest files with the expected columns, and `_SUCCESS` in every hour
/// the watermark (`closed_before`: minus the dataset's closing lag) has closed.
fn dataset_check(
    storage: &Arc<Storage>,
    root: &str,
    schema: &arrow_schema::Schema,
    closed_before: Option<i64>,
) -> Check {
    let name = format!("parquet {root}");
    let files = match ratings_connectors::parquet::dataset_files(storage, root) {
        Ok(files) => files,
        Err(error) => {
            return Check::fail(
                name,
                format!("{error:#}"),
                "check that the storage is reachable",
            )
        }
    };
    let hours = hours(&files, root);
    let data: Vec<&String> = files.iter().filter(|f| f.ends_with(".parquet")).collect();
    if data.is_empty() {
        return Check::pass(name, "no files yet");
    }
    let mut newest: Vec<&String> = data.clone();
    newest.sort_by_key(|f| std::cmp::Reverse(f.rsplit_once('/').map(|(dir, _)| dir.to_string())));
    for file in newest.into_iter().take(NEWEST_READ) {
        if let Err(problem) = readable(storage, file, schema) {
            return Check::fail(
                name,
                format!("{file}: {problem}"),
                "the file is damaged or from another writer: move it away (its rows are lost from the dataset)",
            );
        }
    }
    let unmarked: Vec<&String> = hours
        .iter()
        .filter(|(folder, names)| {
            let closed = hour_start(folder)
                .zip(closed_before)
                .is_some_and(|(h, w)| h + 3600 <= w);
            closed
                && names.iter().any(|n| n.ends_with(".parquet"))
                && !names.iter().any(|n| parquet::is_marker(n))
        })
        .map(|(folder, _)| folder)
        .collect();
    let found = format!(
        "{} files in {} hours, the newest {NEWEST_READ} readable",
        data.len(),
        hours.len()
    );
    if let Some(first) = unmarked.first() {
        return Check::fail(
            name,
            format!("{found}; closed hours without _SUCCESS: {} (first {first})", unmarked.len()),
            "a marker was deleted, or the processor could not write it: look at its log; \
             restarting it republishes nothing, so recreate the marker once the hour's files are checked",
        );
    }
    Check::pass(name, found)
}

/// Whether a file decodes with every column of `schema` (a nullable one may be missing: written
/// before it existed), of the expected types.
fn readable(storage: &Storage, file: &str, schema: &arrow_schema::Schema) -> Result<(), String> {
    let bytes = storage.read(file).map_err(|e| format!("{e:#}"))?;
    let batches = parquet::decode(&bytes).map_err(|e| format!("not readable as Parquet: {e:#}"))?;
    let Some(batch) = batches.first() else {
        return Ok(());
    };
    for field in schema.fields() {
        match batch.schema().field_with_name(field.name()) {
            Ok(found) if found.data_type() == field.data_type() => {}
            Ok(found) => {
                return Err(format!(
                    "column {} is {}, expected {}",
                    field.name(),
                    found.data_type(),
                    field.data_type()
                ))
            }
            Err(_) if field.is_nullable() => {}
            Err(_) => return Err(format!("no column {}", field.name())),
        }
    }
    Ok(())
}

/// Every file the kept committed epochs published exists; no staged file of another epoch is
/// left.
fn publications_check(storage: &Storage, store: &CheckpointStore) -> Check {
    let name = "published files";
    let look = || -> anyhow::Result<(usize, Vec<String>, Vec<String>)> {
        let committed = store.committed_epochs()?;
        let pending: BTreeSet<u64> = store.pending_epochs()?.into_iter().collect();
        let mut published = 0;
        let mut missing = Vec::new();
        for epoch in &committed {
            for path in store.read_offsets(*epoch)?.publications {
                published += 1;
                if !storage.exists(&path)? {
                    missing.push(path);
                }
            }
        }
        let staged = storage.list(&format!("{}/staging", store.dir()))?;
        let leftover = staged
            .into_iter()
            .filter(|path| {
                let epoch = path
                    .rsplit('/')
                    .next()
                    .and_then(|n| n.split('-').next()?.parse::<u64>().ok());
                epoch.is_some_and(|e| !pending.contains(&e))
            })
            .collect();
        Ok((published, missing, leftover))
    };
    match look() {
        Err(error) => Check::fail(name, format!("{error:#}"), "check that the storage is reachable"),
        Ok((_, missing, _)) if !missing.is_empty() => Check::fail(
            name,
            format!("{} published files are gone, e.g. {}", missing.len(), missing[0]),
            "a file was deleted or moved after its epoch committed: restore it from a backup (its rows are missing downstream)",
        ),
        Ok((published, _, leftover)) if !leftover.is_empty() => Check::warn(
            name,
            format!("all {published} files of the kept epochs are there; {} staged files of no pending epoch left, e.g. {}", leftover.len(), leftover[0]),
            "left by an interrupted roll-back: safe to delete",
        ),
        Ok((published, _, _)) => Check::pass(name, format!("all {published} files of the kept epochs are there")),
    }
}
