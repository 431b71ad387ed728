//! The Parquet datasets' encoding: raw ratings and the tumbling and sliding aggregates, each a
//! Hive-partitioned dataset on a [`Storage`]:
//!
//! - `streams/ratings/raw/date=…/hour=…` — every valid rating (late ones included) with the
//!   watermark it was read at, by event time;
//! - `streams/ratings/agg/tumbling/…` and `streams/ratings/agg/sliding/…` — every final window,
//!   by window start ([`layout`]: other window types have folders named after them).
//!
//! [`Dataset`] writes one dataset's files (one open file per hour, rolled by size and age, an
//! hour closed with `_SUCCESS`); the schemas hold the columns; [`RowDelta`] and
//! [`ParquetState`] are what an exactly-once checkpoint keeps of them. When rows are written and
//! files published is the runtime's Parquet sink's business.

mod dataset;
pub mod layout;
mod read;
mod schema;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::file::statistics::Statistics;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use dataset::{
    hour_of_path, is_marker, partition_dir, Dataset, DatasetState, DatasetStats, Publication,
    RollPolicy,
};
pub use read::{dataset_files, each_raw_batch_since, hour_files, RawRows};
pub use schema::{
    aggregate_batch, aggregate_windows, conform, raw_batch, raw_rows, raw_rows_have_watermarks,
    RawRow, AGGREGATE_SCHEMA, RAW_SCHEMA,
};

#[cfg(doc)]
use crate::storage::Storage;
pub use crate::storage::StorageHealth;

pub use layout::{
    aggregate_roots, AggregateRoot, AGGREGATES_ROOT, RAW_ROOT, SLIDING_ROOT, TUMBLING_ROOT,
};

/// The rows one open file received during an epoch, as an in-memory Parquet file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowDelta {
    /// Index of the dataset: raw first, then each window type.
    pub dataset: usize,
    pub hour: i64,
    pub parquet: Vec<u8>,
}

/// What a checkpoint keeps of the Parquet outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParquetState {
    /// Raw first, then each window type.
    pub datasets: Vec<DatasetState>,
    /// Each window type's folder, in the order of `datasets[1..]`.
    pub aggregates: Vec<AggregateRoot>,
}

/// Batches as one in-memory Parquet file.
pub fn encode(batches: &[RecordBatch]) -> anyhow::Result<Vec<u8>> {
    let schema = batches[0].schema();
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(dataset::writer_properties()))?;
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(writer.into_inner()?)
}

/// Several Parquet files of one schema as one (row groups rewritten, rows in file order), read
/// one at a time: what compacting a table's small files writes. Its bytes and rows.
pub fn merge(
    files: impl IntoIterator<Item = anyhow::Result<Vec<u8>>>,
) -> anyhow::Result<(Vec<u8>, u64)> {
    let mut writer: Option<ArrowWriter<Vec<u8>>> = None;
    let mut rows = 0;
    for file in files {
        for batch in decode(&file?)? {
            let writer = match &mut writer {
                Some(writer) => writer,
                empty => empty.insert(ArrowWriter::try_new(
                    Vec::new(),
                    batch.schema(),
                    Some(dataset::writer_properties()),
                )?),
            };
            rows += batch.num_rows() as u64;
            writer.write(&batch)?;
        }
    }
    let writer = writer.ok_or_else(|| anyhow::anyhow!("no rows to merge"))?;
    Ok((writer.into_inner()?, rows))
}

/// The batches of an in-memory Parquet file.
pub fn decode(parquet: &[u8]) -> anyhow::Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(parquet))?
        .build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

/// A reader of the record batches of a Parquet file's row groups whose int64 `column` may hold
/// `min` or more, by the row groups' statistics: those that end before `min` are not decoded (a
/// row group without statistics, or a file without the column, is read whole).
pub fn batches_from(
    parquet: Vec<u8>,
    column: &str,
    min: i64,
) -> anyhow::Result<ParquetRecordBatchReader> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(parquet))?;
    let metadata = Arc::clone(builder.metadata());
    let columns = builder.parquet_schema().columns();
    let Some(index) = columns.iter().position(|c| c.name() == column) else {
        return Ok(builder.build()?);
    };
    let may_hold = |group: &usize| match metadata.row_group(*group).column(index).statistics() {
        Some(Statistics::Int64(values)) => values.max_opt().is_none_or(|max| *max >= min),
        _ => true,
    };
    let groups = (0..metadata.num_row_groups()).filter(may_hold).collect();
    Ok(builder.with_row_groups(groups).build()?)
}
