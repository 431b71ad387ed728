//! The Kafka source stage: every partition of the input topic, read in event-time alignment.
//!
//! Each step reads from the partition that is furthest behind in event time (the event time of
//! the last record it delivered, as the job reports back with [`KafkaSource::event_time`];
//! partitions not read yet come first, by index), waiting up to a bound for a partition that is
//! not at its end yet and skipping one that is. A backlog is therefore replayed in a
//! deterministic order that keeps the partitions aligned in event time, so the global watermark
//! (the maximum over all partitions, as in Spark) cannot race ahead on one partition and make
//! the records of the others late just because they were read later. The reading itself is the
//! client's ([`KafkaReader`], behind the [`Partitions`] trait so that the scheduling is tested
//! with a fake).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_connectors::kafka::{
    Ends, Health, KafkaReader, KafkaRecord, KafkaSettings, Read, Start,
};

use super::{Format, SourceRecord};

/// How long a partition that is not at its end may hold up the round-robin.
const PARTITION_WAIT: Duration = Duration::from_millis(200);
/// The same, before a partition has answered at all (first fetch after start-up).
const FIRST_FETCH_WAIT: Duration = Duration::from_secs(5);
/// How long to sleep when every partition is at its end and nothing arrives (any partition's
/// arrival ends the sleep at once).
const IDLE_WAIT: Duration = Duration::from_millis(20);
/// How long a partition at its end that may have new records (see
/// [`KafkaSource::notice_unread`]) may hold up the round-robin, once: after a broker restart
/// its fetch may be slow.
const UNREAD_WAIT: Duration = Duration::from_secs(2);
/// Every this many steps the client's events are served, unread records noticed, and a
/// partition at its end takes its turn.
const LOOK_AROUND: u64 = 64;

/// What the source needs of the client: [`KafkaReader`], or a fake in tests.
pub trait Partitions {
    /// Takes partition `p`'s next record or event, waiting up to `timeout`.
    fn read(&mut self, p: usize, timeout: Duration) -> Read;
    /// The record the last read found.
    fn record(&self) -> Option<KafkaRecord<'_>>;
    /// Sleeps until a record lands on any partition, at most `timeout`.
    fn wait_for_arrival(&self, timeout: Duration);
    /// Partition `p`'s end offset in its last fetch response.
    fn cached_end(&self, p: usize) -> Option<i64>;
    /// Every partition's low and high offsets, if the broker gave them recently.
    fn recent_ends(&self) -> Option<Ends>;
    /// Client errors counted so far.
    fn errors(&self) -> u64;
    /// Serves the client's events; an error stops the job.
    fn serve_events(&self) -> anyhow::Result<()>;
}

impl Partitions for KafkaReader {
    fn read(&mut self, p: usize, timeout: Duration) -> Read {
        KafkaReader::read(self, p, timeout)
    }
    fn record(&self) -> Option<KafkaRecord<'_>> {
        KafkaReader::record(self)
    }
    fn wait_for_arrival(&self, timeout: Duration) {
        KafkaReader::wait_for_arrival(self, timeout)
    }
    fn cached_end(&self, p: usize) -> Option<i64> {
        KafkaReader::cached_end(self, p)
    }
    fn recent_ends(&self) -> Option<Ends> {
        KafkaReader::recent_ends(self)
    }
    fn errors(&self) -> u64 {
        self.health().errors()
    }
    fn serve_events(&self) -> anyhow::Result<()> {
        KafkaReader::serve_events(self)
    }
}

/// Where reading one partition stands.
#[derive(Debug, Clone)]
struct Partition {
    /// Whether the partition was read to its end (and nothing was read from it since).
    at_end: bool,
    /// Whether the partition has delivered a record or its end since start-up.
    answered: bool,
    /// Event time of the last record it delivered (as reported by the job).
    last_time: Option<i64>,
    /// Next offset to read.
    position: i64,
    /// The end offset at which it was last taken off "at its end" because records were known
    /// to be unread there (see [`KafkaSource::notice_unread`]), and whether it has not
    /// delivered since.
    noticed: (i64, bool),
}

impl Partition {
    fn new(position: i64) -> Partition {
        Partition {
            at_end: false,
            answered: false,
            last_time: None,
            position,
            noticed: (-1, false),
        }
    }

    /// How long a read of this partition may wait.
    fn patience(&self) -> Duration {
        match (self.at_end, self.answered) {
            (true, _) => Duration::ZERO,
            (false, _) if self.noticed.1 => UNREAD_WAIT,
            (false, true) => PARTITION_WAIT,
            (false, false) => FIRST_FETCH_WAIT,
        }
    }

    /// Notes what a read found; whether it is a record.
    fn note(&mut self, read: Read) -> bool {
        match read {
            Read::Record(offset) => {
                self.at_end = false;
                self.answered = true;
                self.noticed.1 = false;
                self.position = offset + 1;
                true
            }
            Read::End(offset) => {
                self.position = self.position.max(offset);
                self.at_end = true;
                self.answered = true;
                false
            }
            Read::Error | Read::Nothing => false,
        }
    }
}

/// Every partition of one topic. See the module documentation.
pub struct KafkaSource<P: Partitions = KafkaReader> {
    reader: P,
    topic: String,
    partitions: Vec<Partition>,
    /// The partition of the record handed out last.
    last: Option<usize>,
    /// Steps taken, to look for new data on partitions at their end every so often.
    steps: u64,
    /// Time spent waiting in reads that found nothing (their timeouts, added up).
    idle: Duration,
    /// The client errors counted at the last look.
    errors_seen: u64,
    /// Records delivered since start-up.
    records: u64,
    /// [`KafkaSource::caught_up`] looks again once this many records were delivered.
    look_again_at: u64,
}

impl KafkaSource {
    /// Connects to the topic and assigns all its partitions from `start`.
    pub fn connect(
        settings: &KafkaSettings,
        topic: &str,
        group_id: &str,
        start: &Start,
    ) -> anyhow::Result<KafkaSource> {
        let reader = KafkaReader::connect(settings, topic, group_id, start)?;
        let positions = reader.start().to_vec();
        Ok(KafkaSource::new(reader, topic, positions))
    }

    /// Client errors and the latest one.
    pub fn health(&self) -> &Arc<Health> {
        self.reader.health()
    }

    /// Commits the positions reached (the next offset to read per partition) to the group.
    pub fn commit(&self) -> anyhow::Result<()> {
        let positions: Vec<i64> = self.partitions.iter().map(|p| p.position).collect();
        self.reader.commit(&positions)
    }
}

impl<P: Partitions> KafkaSource<P> {
    /// Reads `topic` through `reader`, partition `p` from `positions[p]`.
    pub fn new(reader: P, topic: &str, positions: Vec<i64>) -> KafkaSource<P> {
        KafkaSource {
            reader,
            topic: topic.to_string(),
            partitions: positions.into_iter().map(Partition::new).collect(),
            last: None,
            steps: 0,
            idle: Duration::ZERO,
            errors_seen: 0,
            records: 0,
            look_again_at: 0,
        }
    }

    /// One step: the next record of the partition whose turn it is, or `None` when that
    /// partition had nothing (or every partition is at its end and nothing arrived for a
    /// moment). The job reports the record's event time back with [`KafkaSource::event_time`].
    pub fn next_record(&mut self) -> anyhow::Result<Option<SourceRecord<'_>>> {
        self.steps += 1;
        if self.steps % LOOK_AROUND == 1 {
            self.reader.serve_events()?;
            self.notice_unread();
        }
        let found = match self.furthest_behind() {
            Some(p) => self.read_waiting(p),
            None => self.read_any(),
        };
        Ok(found.then(|| self.current()).flatten())
    }

    /// The event time of the record [`KafkaSource::next_record`] handed out last (`None` when it has
    /// none, e.g. malformed): its partition's place in the event-time alignment.
    pub fn event_time(&mut self, time: Option<i64>) {
        if let (Some(p), Some(time)) = (self.last, time) {
            self.partitions[p].last_time = Some(time);
        }
    }

    /// The next offset to read, per partition.
    pub fn positions(&self) -> BTreeMap<i32, i64> {
        (0..)
            .zip(self.partitions.iter().map(|p| p.position))
            .collect()
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Number of partitions read.
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    /// Time spent waiting for records that did not come, since start-up.
    pub fn idle_time(&self) -> Duration {
        self.idle
    }

    /// True when every partition has been read to its end.
    pub fn all_at_end(&self) -> bool {
        self.partitions.iter().all(|p| p.at_end)
    }

    /// True when every partition is read up to the end offset of its last fetch response (or
    /// to its end): the input is caught up. Known right after the response's last record, while
    /// [`KafkaSource::all_at_end`] waits for the next, empty, response (the broker holds it up
    /// to `fetch.wait.max.ms`). A partition whose cached end stays ahead of its last record
    /// counts as caught up once its end-of-partition event came. Cheap in a backlog: after
    /// finding N records unread, it does not look again before N more records were read.
    pub fn caught_up(&mut self) -> bool {
        if self.all_at_end() {
            return true;
        }
        if self.records < self.look_again_at {
            return false;
        }
        let unread: i64 = (0..self.partitions.len())
            .filter(|p| !self.partitions[*p].at_end)
            .map(|p| match self.reader.cached_end(p) {
                Some(end) => (end - self.partitions[p].position).max(0),
                None => 1,
            })
            .sum();
        self.look_again_at = self.records + unread as u64;
        unread == 0
    }

    /// Records not read yet, summed over partitions, from the end offsets the broker gave
    /// last (never blocks); `None` while it has not answered for a few seconds.
    pub fn lag(&self) -> Option<i64> {
        let ends = self.reader.recent_ends()?;
        Some(
            ends.iter()
                .zip(&self.partitions)
                .map(|((low, high), p)| (high - p.position.max(*low)).max(0))
                .sum(),
        )
    }

    /// Reads partition `p`, waiting as long as its state allows; whether a record came.
    fn read_waiting(&mut self, p: usize) -> bool {
        let timeout = self.partitions[p].patience();
        let read = self.reader.read(p, timeout);
        let partition = &mut self.partitions[p];
        if read == Read::Nothing {
            self.idle += timeout;
            if std::mem::take(&mut partition.noticed.1) {
                // nothing came after all (e.g. only transaction markers): at its end again
                partition.at_end = true;
            }
        }
        self.noted(p, read)
    }

    /// Every partition is at its end: takes from the first queue that has something, the
    /// partition furthest behind in event time first; when none has, sleeps until a record
    /// lands on any of them (at most [`IDLE_WAIT`]). Whether a record came.
    fn read_any(&mut self) -> bool {
        let mut order: Vec<usize> = (0..self.partitions.len()).collect();
        order.sort_by_key(|p| (self.partitions[*p].last_time, *p));
        for p in order {
            match self.reader.read(p, Duration::ZERO) {
                Read::Nothing => {}
                read => return self.noted(p, read),
            }
        }
        let started = Instant::now();
        self.reader.wait_for_arrival(IDLE_WAIT);
        self.idle += started.elapsed();
        false
    }

    /// Notes what reading partition `p` found; whether it is a record.
    fn noted(&mut self, p: usize, read: Read) -> bool {
        let record = self.partitions[p].note(read);
        if record {
            self.records += 1;
            self.last = Some(p);
        }
        record
    }

    /// The record found last, as the pipeline takes it.
    fn current(&self) -> Option<SourceRecord<'_>> {
        let record = self.reader.record()?;
        Some(SourceRecord {
            payload: record.payload,
            format: Format::Json,
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
        })
    }

    /// The partition not at its end with the smallest last event time (unread ones first);
    /// every [`LOOK_AROUND`] steps, a partition at its end whose turn it is, to notice new
    /// data there.
    fn furthest_behind(&self) -> Option<usize> {
        let partitions = &self.partitions;
        if self.steps.is_multiple_of(LOOK_AROUND) {
            let p = (self.steps / LOOK_AROUND) as usize % partitions.len();
            if partitions[p].at_end && !self.all_at_end() {
                return Some(p);
            }
        }
        (0..partitions.len())
            .filter(|p| !partitions[*p].at_end)
            .min_by_key(|p| (partitions[*p].last_time, *p))
    }

    /// Partitions marked at their end take their turn again (each waited for once, up to
    /// [`UNREAD_WAIT`]) when the last end offsets show unread records on them, or when the
    /// client reported errors since the last look (the broker went away: "at its end" is
    /// stale). Otherwise a partition that resumes first — after an outage every partition's
    /// backlog arrives at once, at different speeds — races ahead of them in event time and
    /// makes their records late. Once per new end offset, so that a partition whose unread
    /// offsets hold no records (transaction markers) is not waited for again and again.
    fn notice_unread(&mut self) {
        let errors = self.reader.errors();
        let after_errors = errors > self.errors_seen;
        self.errors_seen = errors;
        let ends = self.reader.recent_ends();
        for (p, partition) in self.partitions.iter_mut().enumerate() {
            if !partition.at_end {
                continue;
            }
            let (noticed_at, _) = partition.noticed;
            let high = ends.as_ref().map_or(noticed_at, |ends| ends[p].1);
            if after_errors || (high > partition.position && high > noticed_at) {
                partition.at_end = false;
                partition.noticed = (high.max(noticed_at), true);
            }
        }
    }
}

#[cfg(test)]
mod tests;
