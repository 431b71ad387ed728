//! The checkpoint check (exactly-once): the latest committed epoch and the pending ones are
//! readable (no damaged or missing file), when the latest was committed, and whether the offsets
//! the group committed are those of one of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ratings_connectors::checkpoint::{CheckpointError, CheckpointStore};
use ratings_settings::{Guarantee, JobConfig, KafkaJob};

use crate::report::Check;

/// A latest epoch older than this is worth a warning (an idle input commits no epochs).
pub const STALE: Duration = Duration::from_secs(600);

/// Checks the checkpoint of `job`; `group` is what its consumer group committed on the input,
/// when known.
pub fn check(
    config: &JobConfig,
    job: &KafkaJob,
    group: Option<&[Option<i64>]>,
    now_millis: i64,
) -> Check {
    let name = "checkpoint";
    if job.delivery.guarantee == Guarantee::AtLeastOnce {
        return Check::pass(name, "none: at-least-once delivery keeps no checkpoint");
    }
    let store = match config
        .checkpoint_url()
        .and_then(|url| crate::open_storage(&url))
    {
        Ok(storage) => CheckpointStore::new(Arc::new(storage), &job.delivery.checkpoint_dir),
        Err(error) => {
            return Check::fail(
                name,
                format!("{error:#}"),
                "check --checkpoint-storage / --storage and that the storage is reachable",
            )
        }
    };
    match look(&store, group, now_millis) {
        Ok(check) => check,
        // a damaged, missing or too new file of an epoch
        Err(error) if error.downcast_ref::<CheckpointError>().is_some() => Check::fail(
            name,
            format!("{error:#}"),
            &format!(
                "`ratings-stream checkpoint inspect` shows the epochs; restore the file named, or \
                 start over with --reset-checkpoint (outputs of the lost epochs may repeat) — {}",
                store.location()
            ),
        ),
        Err(error) => Check::fail(
            name,
            format!("{error:#}"),
            "check that the checkpoint's storage is reachable (a processor would retry and wait)",
        ),
    }
}

/// The check, once the store is open; an error names a damaged or missing file.
fn look(
    store: &CheckpointStore,
    group: Option<&[Option<i64>]>,
    now_millis: i64,
) -> anyhow::Result<Check> {
    let name = "checkpoint";
    let Some(latest) = store.latest()? else {
        return Ok(Check::fail(
            name,
            format!("no committed epoch in {}", store.location()),
            "start the processor, or correct --checkpoint-dir and the storage",
        ));
    };
    let epoch = latest.offsets.epoch;
    let age = Duration::from_millis(
        (now_millis - store.commit_record(epoch)?.committed_at_millis).max(0) as u64,
    );
    // the group committed with one of the epochs kept (the processor may have committed
    // more since the group was read)
    let pending = store.pending_epochs()?;
    let mut candidates = Vec::new();
    for kept in store
        .committed_epochs()?
        .into_iter()
        .chain(pending.iter().copied())
    {
        candidates.push((kept, store.read_offsets(kept)?.next_offsets));
    }
    let found = format!(
        "epoch {epoch} committed {} s ago, {} pending, in {}",
        age.as_secs(),
        pending.len(),
        store.location()
    );
    if let Some(group) = group {
        let group: BTreeMap<i32, i64> = (0..)
            .zip(group)
            .filter_map(|(p, offset)| offset.map(|o| (p, o)))
            .collect();
        if !candidates.iter().any(|(_, offsets)| *offsets == group) {
            return Ok(Check::fail(
                name,
                format!("{found}; the group's offsets {group:?} are those of no epoch kept"),
                "another consumer committed to this group, or the checkpoint belongs to another \
                 deployment: correct --group-id / --checkpoint-dir",
            ));
        }
    }
    if age > STALE {
        return Ok(Check::warn(
            name,
            found,
            "fine if the input is idle; otherwise the processor is not committing",
        ));
    }
    Ok(Check::pass(name, found))
}
