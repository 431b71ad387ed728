//! What `state/<epoch>` holds — the engine's snapshot and the Parquet files' state — and how
//! each checkpoint format version of it is read: a release reads every earlier one.

use ratings_connectors::parquet::{aggregate_roots, DatasetState, ParquetState};
use ratings_core::snapshot::snapshot_windows;
use serde::{Deserialize, Serialize};

/// What `state/<epoch>` holds (checkpoint format 2).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ProcessorState {
    /// [`ratings_core::Engine::snapshot`] bytes.
    pub engine: Vec<u8>,
    pub parquet: Option<ParquetState>,
}

/// Format 1: the Parquet state did not record the window types' folders; its jobs had the
/// tumbling/sliding pair, in `agg/tumbling` and `agg/sliding`.
#[derive(Deserialize)]
struct ProcessorStateV1 {
    engine: Vec<u8>,
    parquet: Option<ParquetStateV1>,
}

#[derive(Deserialize)]
struct ParquetStateV1 {
    datasets: Vec<DatasetState>,
}

impl ProcessorState {
    /// The state of a file written with checkpoint format `version`.
    pub(super) fn decode(version: u32, bytes: &[u8]) -> anyhow::Result<ProcessorState> {
        if version >= 2 {
            return Ok(postcard::from_bytes(bytes)?);
        }
        let old: ProcessorStateV1 = postcard::from_bytes(bytes)?;
        let parquet = match old.parquet {
            None => None,
            Some(parquet) => Some(ParquetState {
                datasets: parquet.datasets,
                aggregates: aggregate_roots(&snapshot_windows(&old.engine)?),
            }),
        };
        Ok(ProcessorState {
            engine: old.engine,
            parquet,
        })
    }
}
