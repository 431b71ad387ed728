//! What the audit reads besides the raw rows ([`ratings_connectors::parquet::RawRows`]): the
//! aggregate windows of the Parquet files, and the final windows on the metrics topic
//! (read_committed).

use std::time::Duration;

use ratings_connectors::kafka::{FollowFrom, KafkaSettings};
use ratings_connectors::parquet;
use ratings_connectors::storage::Storage;
use ratings_core::published::Window;

/// How long reading the metrics topic from its start may take.
const METRICS_TIMEOUT: Duration = Duration::from_secs(120);

/// The windows of the aggregate files at `paths`.
pub fn aggregate_windows(storage: &Storage, paths: &[String]) -> anyhow::Result<Vec<Window>> {
    let mut windows = Vec::new();
    for path in paths {
        let batches = parquet::decode(&storage.read(path)?)
            .map_err(|e| anyhow::anyhow!("{path} is not readable: {e:#}"))?;
        for batch in batches {
            windows.extend(
                parquet::aggregate_windows(&batch).map_err(|e| anyhow::anyhow!("{path}: {e:#}"))?,
            );
        }
    }
    Ok(windows)
}

/// The final windows on `topic` (read_committed, from its start to its current end) that
/// `keep` accepts; records that are not windows are counted.
pub fn metrics_windows(
    settings: &KafkaSettings,
    topic: &str,
    keep: impl Fn(&Window) -> bool,
) -> anyhow::Result<(Vec<Window>, u64)> {
    let (mut windows, mut foreign) = (Vec::new(), 0);
    crate::kafka::read_records_within(
        settings,
        topic,
        FollowFrom::Start,
        usize::MAX,
        METRICS_TIMEOUT,
        |value| match Window::parse(value) {
            Ok(window) if window.is_final && keep(&window) => windows.push(window),
            Ok(_) => {}
            Err(_) => foreign += 1,
        },
    )?;
    Ok((windows, foreign))
}
