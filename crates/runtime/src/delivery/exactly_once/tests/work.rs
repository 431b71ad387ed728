//! A fake of the work the coordinator commits: ratings reduced to their event times, the
//! watermark 10 minutes behind the largest, and one raw dataset of hourly files — an hour's
//! file finishes at the batch end after the watermark passed the hour, and is held for its
//! epoch; the open files' new rows are the epoch's deltas. No engine, no Parquet writer.

use std::collections::{BTreeMap, BTreeSet};

use ratings_connectors::parquet::{
    partition_dir, DatasetState, ParquetState, Publication, RowDelta, RAW_ROOT,
};
use ratings_core::time::align_down;

use crate::delivery::exactly_once::EpochWork;
use crate::sink::{ParquetEpoch, RowsSince};

/// The watermark delay of the fake.
const DELAY: i64 = 600;

/// An open hourly file.
#[derive(Debug, Default)]
struct OpenFile {
    first_epoch: u64,
    rows: Vec<i64>,
    /// Rows since the last epoch ended.
    new: Vec<i64>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct FakeWork {
    epoch: u64,
    max_time: Option<i64>,
    open: BTreeMap<i64, OpenFile>,
    closed: BTreeSet<i64>,
    held: Vec<Publication>,
}

impl FakeWork {
    /// The work as a checkpoint's state left it (`None`: new).
    pub(super) fn restored(snapshot: Option<&[u8]>) -> FakeWork {
        FakeWork {
            max_time: snapshot.and_then(|bytes| postcard::from_bytes(bytes).unwrap()),
            ..FakeWork::default()
        }
    }

    /// A rating at this event time.
    pub(super) fn read(&mut self, time: i64) {
        self.max_time = self.max_time.max(Some(time));
        let epoch = self.epoch;
        let file = self
            .open
            .entry(align_down(time, 3600))
            .or_insert_with(|| OpenFile {
                first_epoch: epoch,
                ..OpenFile::default()
            });
        file.rows.push(time);
        file.new.push(time);
    }
}

/// Rows as the bytes of a file or a delta.
fn encode(rows: &[i64]) -> Vec<u8> {
    postcard::to_stdvec(rows).unwrap()
}

/// The rows of a file or delta the fake wrote.
pub(super) fn decode(bytes: &[u8]) -> Vec<i64> {
    postcard::from_bytes(bytes).unwrap()
}

impl EpochWork for FakeWork {
    fn end_batch(&mut self) -> anyhow::Result<()> {
        let Some(watermark) = self.watermark() else {
            return Ok(());
        };
        let complete: Vec<i64> = self
            .open
            .keys()
            .copied()
            .filter(|hour| hour + 3600 <= watermark)
            .collect();
        for hour in complete {
            let file = self.open.remove(&hour).unwrap();
            self.closed.insert(hour);
            self.held.push(Publication {
                path: format!(
                    "{RAW_ROOT}/{}/part-0-{:010}.parquet",
                    partition_dir(hour),
                    self.epoch
                ),
                bytes: encode(&file.rows),
                rows: file.rows.len() as u64,
            });
        }
        Ok(())
    }

    fn held_bytes(&self) -> usize {
        self.held.iter().map(|p| p.bytes.len()).sum()
    }

    fn take_epoch(&mut self) -> anyhow::Result<Option<ParquetEpoch>> {
        let mut deltas = Vec::new();
        for (hour, file) in &mut self.open {
            if !file.new.is_empty() {
                deltas.push(RowDelta {
                    dataset: 0,
                    hour: *hour,
                    parquet: encode(&std::mem::take(&mut file.new)),
                });
            }
        }
        let state = DatasetState {
            open: self.open.iter().map(|(h, f)| (*h, f.first_epoch)).collect(),
            closed: self.closed.iter().copied().collect(),
            ..DatasetState::default()
        };
        Ok(Some(ParquetEpoch {
            publications: std::mem::take(&mut self.held),
            deltas,
            state: ParquetState {
                datasets: vec![state],
                aggregates: Vec::new(),
            },
        }))
    }

    fn watermark(&self) -> Option<i64> {
        self.max_time.map(|t| t - DELAY)
    }

    fn snapshot(&self) -> Vec<u8> {
        postcard::to_stdvec(&self.max_time).unwrap()
    }

    fn begin_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
    }

    fn restore(
        &mut self,
        state: &ParquetState,
        rows: &RowsSince,
        _watermark: Option<i64>,
    ) -> anyhow::Result<bool> {
        let saved = &state.datasets[0];
        self.closed = saved.closed.iter().copied().collect();
        for (hour, first_epoch) in &saved.open {
            let rows = rows(*first_epoch)
                .iter()
                .filter(|d| d.dataset == 0 && d.hour == *hour)
                .flat_map(|d| decode(&d.parquet))
                .collect();
            let file = OpenFile {
                first_epoch: *first_epoch,
                rows,
                new: Vec::new(),
            };
            self.open.insert(*hour, file);
        }
        Ok(true)
    }
}
