//! The source's scheduling over a fake client: which partition is read when, how long each
//! read may wait, when the input counts as caught up, and the lag.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use super::*;

/// A record's payload is its event time as text, so the tests can report it back.
#[derive(Default)]
struct FakePartitions {
    /// What each partition's queue holds.
    queues: Vec<VecDeque<Read>>,
    /// The event time of each partition's records, by offset.
    times: Vec<Vec<i64>>,
    /// The payload of the record read last.
    current: Option<(i32, i64, Vec<u8>)>,
    /// Every read: partition and timeout.
    reads: RefCell<Vec<(usize, Duration)>>,
    /// Each partition's end in its last fetch response.
    cached: Vec<Option<i64>>,
    /// The broker's low and high offsets.
    ends: Option<Ends>,
    errors: Cell<u64>,
    waits: Cell<u32>,
}

impl FakePartitions {
    /// `partitions[p]`: the event times of its records, offsets from 0, then its end.
    fn with(partitions: &[&[i64]]) -> FakePartitions {
        let queues = partitions
            .iter()
            .map(|times| {
                let mut queue: VecDeque<Read> = (0..times.len() as i64).map(Read::Record).collect();
                queue.push_back(Read::End(times.len() as i64));
                queue
            })
            .collect();
        FakePartitions {
            queues,
            cached: vec![None; partitions.len()],
            times: partitions.iter().map(|t| t.to_vec()).collect(),
            ..FakePartitions::default()
        }
    }
}

impl Partitions for FakePartitions {
    fn read(&mut self, p: usize, timeout: Duration) -> Read {
        self.reads.borrow_mut().push((p, timeout));
        let read = self.queues[p].pop_front().unwrap_or(Read::Nothing);
        if let Read::Record(offset) = read {
            let time = self.times[p][offset as usize];
            self.current = Some((p as i32, offset, time.to_string().into_bytes()));
        }
        read
    }
    fn record(&self) -> Option<KafkaRecord<'_>> {
        let (partition, offset, payload) = self.current.as_ref()?;
        Some(KafkaRecord {
            payload: Some(payload),
            partition: *partition,
            offset: *offset,
            timestamp: None,
        })
    }
    fn wait_for_arrival(&self, _timeout: Duration) {
        self.waits.set(self.waits.get() + 1);
    }
    fn cached_end(&self, p: usize) -> Option<i64> {
        self.cached[p]
    }
    fn recent_ends(&self) -> Option<Ends> {
        self.ends.clone()
    }
    fn errors(&self) -> u64 {
        self.errors.get()
    }
    fn serve_events(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A source over `fake`, every partition from offset 0.
fn source(fake: FakePartitions) -> KafkaSource<FakePartitions> {
    let positions = vec![0; fake.queues.len()];
    KafkaSource::new(fake, "ratings", positions)
}

/// Takes `steps` steps, reporting each record's event time back; the records as
/// (partition, event time).
fn steps(source: &mut KafkaSource<FakePartitions>, steps: usize) -> Vec<(i32, i64)> {
    let mut read = Vec::new();
    for _ in 0..steps {
        let Some(record) = source.next_record().unwrap() else {
            continue;
        };
        let time: i64 = std::str::from_utf8(record.payload.unwrap())
            .unwrap()
            .parse()
            .unwrap();
        read.push((record.partition, time));
        source.event_time(Some(time));
    }
    read
}

#[test]
fn a_backlog_is_read_in_event_time_alignment_across_partitions() {
    let mut source = source(FakePartitions::with(&[&[10, 20, 30, 40], &[5, 6, 7, 25]]));
    let read = steps(&mut source, 12);
    // unread partitions first, by index; then always the partition furthest behind: p1 (7)
    // before p0 (10), then p0 (10, 20) before p1 (25)
    assert_eq!(
        read,
        [
            (0, 10),
            (1, 5),
            (1, 6),
            (1, 7),
            (1, 25),
            (0, 20),
            (0, 30),
            (0, 40)
        ]
    );
    assert!(source.all_at_end());
    assert_eq!(source.positions(), BTreeMap::from([(0, 4), (1, 4)]));
}

#[test]
fn a_record_without_event_time_keeps_its_partitions_place() {
    let mut source = source(FakePartitions::with(&[&[10, 50], &[20, 30]]));
    let first = source.next_record().unwrap().map(|r| r.partition);
    assert_eq!(first, Some(0));
    source.event_time(None); // malformed: p0 still counts as unread
    let second = source.next_record().unwrap().map(|r| r.partition);
    assert_eq!(second, Some(0), "p0 has no event time yet: it comes first");
}

#[test]
fn reads_wait_long_for_a_first_answer_then_briefly_and_not_at_all_at_the_end() {
    let mut source = source(FakePartitions::with(&[&[1], &[]]));
    steps(&mut source, 4);
    let reads = source.reader.reads.borrow().clone();
    assert_eq!(reads[0], (0, FIRST_FETCH_WAIT));
    assert_eq!(reads[1], (1, FIRST_FETCH_WAIT));
    // p0 answered with a record: its end is waited for briefly
    assert_eq!(reads[2], (0, PARTITION_WAIT));
    // every partition at its end: each looked at without waiting, then a sleep on arrivals
    assert!(reads[3..].iter().all(|(_, t)| t.is_zero()), "{reads:?}");
    assert!(source.reader.waits.get() >= 1);
}

#[test]
fn once_at_the_end_the_partition_furthest_behind_is_served_first() {
    let mut source = source(FakePartitions::with(&[&[100], &[50]]));
    steps(&mut source, 4);
    assert!(source.all_at_end());
    for (p, time) in [(0, 110), (1, 60)] {
        source.reader.queues[p].extend([Read::Record(1), Read::End(2)]);
        source.reader.times[p].push(time);
    }
    // both have a record: p1, behind in event time, first
    assert_eq!(steps(&mut source, 3), [(1, 60), (0, 110)]);
}

#[test]
fn waiting_for_nothing_counts_as_idle_time() {
    let mut source = source(FakePartitions::with(&[&[1]]));
    source.reader.queues[0].clear(); // the first fetch never answers
    assert!(source.next_record().unwrap().is_none());
    assert_eq!(source.idle_time(), FIRST_FETCH_WAIT);
}

#[test]
fn unread_records_behind_an_end_make_the_partition_wait_its_turn_once() {
    let mut source = source(FakePartitions::with(&[&[1], &[2]]));
    steps(&mut source, 4);
    assert!(source.all_at_end());
    // the broker says p1 holds records past its end: p1 is read (and waited for) again
    source.reader.ends = Some(vec![(0, 1), (0, 3)]);
    source.steps = LOOK_AROUND * 10; // the next step looks around
    source.reader.reads.borrow_mut().clear();
    assert!(source.next_record().unwrap().is_none()); // nothing came after all
    assert_eq!(source.reader.reads.borrow()[0], (1, UNREAD_WAIT));
    assert!(source.all_at_end(), "nothing came: at its end again");
    // not noticed twice for the same end offset
    source.steps = LOOK_AROUND * 20;
    source.reader.reads.borrow_mut().clear();
    source.next_record().unwrap();
    assert!(source
        .reader
        .reads
        .borrow()
        .iter()
        .all(|(_, t)| t.is_zero()));
}

#[test]
fn client_errors_make_every_end_stale() {
    let mut source = source(FakePartitions::with(&[&[1], &[2]]));
    steps(&mut source, 4);
    source.reader.errors.set(3);
    source.steps = LOOK_AROUND * 10;
    source.notice_unread();
    assert!(!source.partitions[0].at_end && !source.partitions[1].at_end);
}

#[test]
fn caught_up_once_every_partition_reached_its_fetched_end() {
    let mut source = source(FakePartitions::with(&[&[1, 2, 3], &[4]]));
    source.reader.cached = vec![Some(3), Some(1)];
    assert!(!source.caught_up());
    steps(&mut source, 1); // p0 offset 0
                           // a fresh look would find nothing unread, but 4 records were unread at the last one
    source.reader.cached = vec![Some(1), Some(0)];
    assert!(!source.caught_up());
    steps(&mut source, 3); // p1's record, then p0's two others
    assert_eq!(source.positions(), BTreeMap::from([(0, 3), (1, 1)]));
    source.reader.cached = vec![Some(3), Some(1)];
    assert!(source.caught_up());
}

#[test]
fn the_lag_is_what_the_broker_holds_past_each_position() {
    let mut source = source(FakePartitions::with(&[&[1, 2], &[3]]));
    assert_eq!(source.lag(), None, "no answer from the broker yet");
    source.reader.ends = Some(vec![(0, 2), (5, 9)]);
    steps(&mut source, 1);
    // p0: 2 - 1; p1: its records below 5 were deleted, so 9 - 5
    assert_eq!(source.lag(), Some(1 + 4));
}
