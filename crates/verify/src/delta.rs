//! The Delta checks (`--table-format delta`): each table's log reads to its latest version,
//! every file that version lists is present, and — exactly-once — the last epoch the table
//! holds agrees with the checkpoint: never beyond its last committed epoch, and not behind an
//! epoch it kept that published files to the table. The datasets' files, for the other checks
//! and the audit, are those of the tables' latest versions
//! ([`ratings_connectors::parquet::dataset_files`]).

use std::sync::Arc;

use ratings_connectors::checkpoint::CheckpointStore;
use ratings_connectors::delta::Table;
use ratings_connectors::storage::Storage;

use crate::report::Check;

/// One check per Delta table among `roots`; `app_id` is the transactional id of an
/// exactly-once job whose checkpoint is `store`.
pub fn checks(
    storage: &Arc<Storage>,
    roots: &[&str],
    store: Option<(&CheckpointStore, &str)>,
) -> Vec<Check> {
    roots
        .iter()
        .filter_map(|root| match Table::open(storage, root) {
            Ok(None) => None,
            Ok(Some(mut table)) => Some(table_check(storage, &mut table, store)),
            Err(error) => Some(Check::fail(
                format!("delta {root}"),
                format!("{error:#}"),
                "the table's log cannot be read: check the storage, and that no other program wrote the table",
            )),
        })
        .collect()
}

fn table_check(
    storage: &Storage,
    table: &mut Table,
    store: Option<(&CheckpointStore, &str)>,
) -> Check {
    let name = format!("delta {}", table.root());
    let mut look = || -> anyhow::Result<(String, Vec<String>, Option<String>)> {
        let files = table.files()?;
        let missing = files
            .iter()
            .map(|f| format!("{}/{}", table.root(), f.path))
            .filter(|path| !storage.exists(path).unwrap_or(false))
            .collect();
        let found = format!(
            "version {}, {} files",
            table.version().unwrap_or(0),
            files.len()
        );
        let Some((store, app_id)) = store else {
            return Ok((found, missing, None));
        };
        let last = table.last_epoch(app_id)?;
        let disagreement = epoch_disagreement(store, table.root(), last)?;
        let found = match last {
            Some(epoch) => format!("{found}, epoch {epoch} of {app_id} last"),
            None => format!("{found}, no epoch of {app_id} yet"),
        };
        Ok((found, missing, disagreement))
    };
    match look() {
        Err(error) => Check::fail(name, format!("{error:#}"), "check that the storage is reachable"),
        Ok((found, missing, _)) if !missing.is_empty() => Check::fail(
            name,
            format!("{found}; {} files of the table are gone, e.g. {}", missing.len(), missing[0]),
            "a file was deleted outside the table (not by vacuum): restore it from a backup, or remove it from the table with a Delta FSCK",
        ),
        Ok((found, _, Some(disagreement))) => Check::fail(
            name,
            format!("{found}; {disagreement}"),
            "the table and the checkpoint are not of the same job: check --storage, --checkpoint-dir and the transactional id",
        ),
        Ok((found, _, None)) => Check::pass(name, found),
    }
}

/// Why the table's last epoch `last` cannot follow from the checkpoint, if it cannot: beyond
/// its last committed epoch, or behind a kept committed epoch that published files under
/// `root`.
fn epoch_disagreement(
    store: &CheckpointStore,
    root: &str,
    last: Option<u64>,
) -> anyhow::Result<Option<String>> {
    let committed = store.committed_epochs()?;
    let Some(newest) = committed.last().copied() else {
        return Ok(None);
    };
    if last.is_some_and(|epoch| epoch > newest) {
        return Ok(Some(format!(
            "the checkpoint's last committed epoch is {newest}"
        )));
    }
    let prefix = format!("{root}/");
    for epoch in committed.iter().rev() {
        let offsets = store.read_offsets(*epoch)?;
        let published = offsets
            .publications
            .iter()
            .any(|p| p.starts_with(&prefix) && p.ends_with(".parquet"));
        if published {
            if last.is_none_or(|l| l < *epoch) {
                return Ok(Some(format!(
                    "epoch {epoch} committed files to the table in the checkpoint, not in the table"
                )));
            }
            break;
        }
    }
    Ok(None)
}
