//! The pipeline stage: source record → parse/validate → engine (watermark, windows,
//! aggregates) → sinks ([`Outputs`]). Rejected records go to the dead-letter sink, late ones to the late
//! sink; everything is counted. The jobs (file, Kafka) and the demo feed it records and mark
//! batch ends.

use std::borrow::Cow;
use std::time::Instant;

use ratings_core::output::dead_letter_copy;
use ratings_core::rating::{parse_csv_fields, parse_json};
use ratings_core::{
    DeadLetter, Engine, EngineCounters, PushOutcome, Rating, RejectReason, Rejection, WindowResult,
};
use serde::Serialize;

use crate::sink::Outputs;
use crate::source::{Format, SourceRecord};

/// Final windows whose instant is kept until they are published.
const MAX_UNPUBLISHED_TRACKED: usize = 1 << 16;

/// Counters of the pipeline (the engine keeps its own: accepted, late, windows).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PipelineStats {
    pub records: u64,
    pub invalid: u64,
    pub invalid_by_reason: Vec<(String, u64)>,
}

/// Drives one engine with one set of outputs.
pub struct Pipeline {
    engine: Engine,
    outputs: Outputs,
    source_name: String,
    limits: RecordLimits,
    /// The wall clock (epoch seconds) the event times are checked against, refreshed every
    /// [`CLOCK_EVERY`] records and at the end of each batch.
    clock: i64,
    records: u64,
    invalid_by_reason: [u64; RejectReason::ALL.len()],
    /// The engine's counters when this run started (restored from a checkpoint, or zero).
    counters_at_start: EngineCounters,
    emitted: Vec<WindowResult>,
    /// Window results written since the delivery last published the outputs.
    unpublished: Unpublished,
}

/// Window results written to the sinks and not published yet (exactly-once: not committed).
#[derive(Debug, Default)]
pub struct Unpublished {
    /// Whether any window result (final or update) was written.
    pub any: bool,
    /// When each final window was written: the instant it became final.
    pub finals: Vec<Instant>,
}

/// What a record must respect to count as a rating.
#[derive(Debug, Clone, Copy)]
pub struct RecordLimits {
    /// Larger records are `oversized`.
    pub max_bytes: usize,
    /// Event times further ahead of the wall clock are `future_timestamp` (`None`: any).
    pub max_ahead_seconds: Option<i64>,
}

impl RecordLimits {
    /// The limits of these settings.
    pub fn of(settings: &ratings_settings::EngineSettings) -> RecordLimits {
        RecordLimits {
            max_bytes: settings.max_record_bytes,
            max_ahead_seconds: settings.max_event_time_ahead_seconds,
        }
    }
}

/// Records between two readings of the wall clock.
const CLOCK_EVERY: u64 = 1024;

impl Pipeline {
    pub fn new(
        engine: Engine,
        outputs: Outputs,
        source_name: String,
        limits: RecordLimits,
    ) -> Pipeline {
        Pipeline {
            counters_at_start: engine.counters().clone(),
            engine,
            outputs,
            source_name,
            limits,
            clock: now_millis() / 1000,
            records: 0,
            invalid_by_reason: [0; RejectReason::ALL.len()],
            emitted: Vec::new(),
            unpublished: Unpublished::default(),
        }
    }

    /// The engine, for progress and counters.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Processes one record: windows it makes final are written before returning. Returns the
    /// record's event time when it is a valid rating.
    pub fn process(&mut self, record: SourceRecord<'_>) -> anyhow::Result<Option<i64>> {
        self.records += 1;
        let parsed = parse(record, self.limits.max_bytes).and_then(|r| self.not_ahead(r));
        let event_time = match parsed {
            Ok(rating) => {
                self.outputs.rating(&rating, self.engine.watermark());
                if let PushOutcome::Late { watermark } =
                    self.engine.push(&rating, &mut self.emitted)
                {
                    self.write_late(record, &rating, watermark)?;
                }
                Some(rating.timestamp)
            }
            Err(rejection) => {
                self.write_rejection(record, &rejection)?;
                None
            }
        };
        self.write_emitted()?;
        Ok(event_time)
    }

    /// The rating, unless its event time is further ahead of the wall clock than the limit:
    /// a clock or unit error (e.g. milliseconds with an extra digit, year 2508) that would
    /// move the watermark into the future and make every other rating late.
    fn not_ahead(&mut self, rating: Rating) -> Result<Rating, Rejection> {
        let Some(bound) = self.limits.max_ahead_seconds else {
            return Ok(rating);
        };
        if self.records.is_multiple_of(CLOCK_EVERY) {
            self.clock = now_millis() / 1000;
        }
        if rating.timestamp <= self.clock.saturating_add(bound) {
            return Ok(rating);
        }
        Err(Rejection::ahead_of_clock(
            rating.timestamp,
            self.clock,
            bound,
        ))
    }

    /// End of a batch: in update mode, emits the windows changed during it; writes the
    /// Parquet rows of the batch; flushes sinks.
    pub fn end_batch(&mut self) -> anyhow::Result<()> {
        self.clock = now_millis() / 1000;
        self.engine.flush_updates(&mut self.emitted);
        self.write_emitted()?;
        self.outputs.end_batch(self.engine.watermark())
    }

    /// End of a bounded input: optionally emits every still-open window, then flushes.
    pub fn finish(&mut self, final_flush: bool) -> anyhow::Result<()> {
        self.engine.flush_updates(&mut self.emitted);
        if final_flush {
            self.engine.finish(&mut self.emitted);
        }
        self.write_emitted()?;
        self.outputs.finish(final_flush)
    }

    /// The sinks.
    pub fn outputs(&self) -> &Outputs {
        &self.outputs
    }

    /// The sinks, to end or restore an epoch.
    pub fn outputs_mut(&mut self) -> &mut Outputs {
        &mut self.outputs
    }

    /// Whether window results were written since the last [`Pipeline::take_unpublished`].
    pub fn windows_unpublished(&self) -> bool {
        self.unpublished.any
    }

    /// The window results written so far, now published by the delivery.
    pub fn take_unpublished(&mut self) -> Unpublished {
        std::mem::take(&mut self.unpublished)
    }

    /// The engine's counts of this run (a restored checkpoint's counts left out), as the
    /// pipeline's own counters are.
    pub fn engine_counters(&self) -> EngineCounters {
        self.engine.counters().since(&self.counters_at_start)
    }

    /// Pipeline counters so far.
    pub fn stats(&self) -> PipelineStats {
        PipelineStats {
            records: self.records,
            invalid: self.invalid_by_reason.iter().sum(),
            invalid_by_reason: RejectReason::ALL
                .iter()
                .map(|r| (r.as_str().to_string(), self.invalid_by_reason[r.index()]))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }

    fn write_emitted(&mut self) -> anyhow::Result<()> {
        if self.emitted.is_empty() {
            return Ok(());
        }
        let (now, instant) = (now_millis(), Instant::now());
        self.unpublished.any = true;
        for window in self.emitted.drain(..) {
            // bounded for jobs that never publish (files): only the latency goes unmeasured
            if window.is_final && self.unpublished.finals.len() < MAX_UNPUBLISHED_TRACKED {
                self.unpublished.finals.push(instant);
            }
            self.outputs.window(&window, now)?;
        }
        Ok(())
    }

    fn write_rejection(
        &mut self,
        record: SourceRecord<'_>,
        rejection: &Rejection,
    ) -> anyhow::Result<()> {
        self.invalid_by_reason[rejection.reason.index()] += 1;
        let copy = dead_letter_copy(record.payload.unwrap_or_default());
        let letter = dead_letter(
            &self.source_name,
            record,
            rejection.reason.as_str(),
            &rejection.detail,
            &copy,
        );
        self.outputs.dead_letter(&letter)
    }

    fn write_late(
        &mut self,
        record: SourceRecord<'_>,
        rating: &Rating,
        watermark: i64,
    ) -> anyhow::Result<()> {
        let detail = format!(
            "event time {} is behind the watermark {}: every window containing it is final",
            ratings_core::time::rfc3339_seconds(rating.timestamp),
            ratings_core::time::rfc3339_seconds(watermark)
        );
        let copy = dead_letter_copy(record.payload.unwrap_or_default());
        let letter = dead_letter(&self.source_name, record, "late", &detail, &copy);
        self.outputs.late(&letter)
    }
}

/// The dead-letter (or late) record for `record`, with its copy (see [`dead_letter_copy`]).
fn dead_letter<'a>(
    source: &'a str,
    record: SourceRecord<'_>,
    reason: &'a str,
    detail: &'a str,
    (text, record_bytes): &'a (Cow<'a, str>, Option<usize>),
) -> DeadLetter<'a> {
    DeadLetter {
        reason,
        detail,
        source,
        partition: record.partition,
        offset: record.offset,
        record: text,
        truncated: record_bytes.is_some(),
        record_bytes: *record_bytes,
    }
}

/// Parses a record in its format.
fn parse(record: SourceRecord<'_>, max_record_bytes: usize) -> Result<Rating, Rejection> {
    let payload = record.payload.ok_or_else(Rejection::tombstone)?;
    match record.format {
        Format::Json => parse_json(payload, max_record_bytes),
        Format::MovieLensCsv => {
            let text = std::str::from_utf8(payload).map_err(|e| Rejection {
                reason: RejectReason::InvalidUtf8,
                detail: format!("not UTF-8: {e}"),
            })?;
            let fields: Vec<&str> = text.split(',').collect();
            parse_csv_fields(&fields, max_record_bytes)
        }
    }
}

pub use ratings_core::time::now_millis;
