//! The generator source of the demo: synthetic ratings at a wall-clock rate, in ticks of a
//! tenth of a second (each tick a batch), until a duration has passed or a stop is asked for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_generator::Generator;

use super::{Bounded, Format, Next, SourceRecord};

/// Ticks per second of wall-clock time.
const TICKS_PER_SECOND: u32 = 10;

/// See the module documentation.
pub(crate) struct GeneratorSource {
    generator: Generator,
    /// Records per second.
    rate: u32,
    /// How long it runs.
    duration: Duration,
    stop: Arc<AtomicBool>,
    started: Option<Instant>,
    tick: u32,
    produced: u64,
    /// Whether records of the current tick were handed out (its end is a pause).
    in_tick: bool,
    /// The record handed out last.
    payload: String,
}

impl GeneratorSource {
    /// `rate` records per second of `generator`, for `duration` or until `stop` is set.
    pub(crate) fn new(
        generator: Generator,
        rate: u32,
        duration: Duration,
        stop: Arc<AtomicBool>,
    ) -> GeneratorSource {
        GeneratorSource {
            generator,
            rate,
            duration,
            stop,
            started: None,
            tick: 0,
            produced: 0,
            in_tick: false,
            payload: String::new(),
        }
    }

    /// Records due by the end of the current tick.
    fn due(&self) -> u64 {
        u64::from(self.rate) * u64::from(self.tick) / u64::from(TICKS_PER_SECOND)
    }

    /// Sleeps until the next tick starts; false when the source should end.
    fn next_tick(&mut self) -> bool {
        let started = *self.started.get_or_insert_with(Instant::now);
        if self.tick > 0 {
            let next = started + Duration::from_secs(1) * self.tick / TICKS_PER_SECOND;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        self.tick += 1;
        !self.stop.load(Ordering::Relaxed) && started.elapsed() < self.duration
    }
}

impl Bounded for GeneratorSource {
    fn next_record(&mut self) -> anyhow::Result<Next<'_>> {
        loop {
            if self.produced < self.due() {
                let Some(generated) = self.generator.next() else {
                    return Ok(Next::End);
                };
                self.produced += 1;
                self.in_tick = true;
                self.payload = generated.payload;
                return Ok(Next::Record(SourceRecord {
                    payload: Some(self.payload.as_bytes()),
                    format: Format::Json,
                    partition: 0,
                    offset: self.produced as i64,
                    timestamp: None,
                }));
            }
            if std::mem::take(&mut self.in_tick) {
                return Ok(Next::Pause);
            }
            if !self.next_tick() {
                return Ok(Next::End);
            }
        }
    }

    fn name(&self) -> String {
        "generator".into()
    }
}
