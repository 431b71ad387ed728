//! The Kafka checks: the broker, the topics, the processor's consumer group (lag, and whether it
//! commits: a stuck processor fails, an idle input does not) and the windows on the metrics
//! topic (the newest one against the input's newest event time and the watermark delay).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ratings_connectors::kafka::{FollowFrom, Followed, Follower, Inspector, KafkaSettings};
use ratings_core::EngineConfig;
use ratings_settings::KafkaJob;

use crate::report::Check;

/// Records read from the end of each partition to find the newest event time or window.
const TAIL: i64 = 50;
/// Most dead letters read per partition for their reasons.
const MAX_DEAD_LETTERS: usize = 100_000;
/// Longest time spent reading one topic's tail.
const TAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// What the Kafka checks need besides the job's settings.
#[derive(Debug, Clone)]
pub struct KafkaChecks<'a> {
    pub job: &'a KafkaJob,
    pub engine: &'a EngineConfig,
    /// How long the group is watched for commits.
    pub observe: Duration,
    /// The recent past the dead letters are counted over.
    pub recent: Duration,
    /// Share of dead letters (rejected and late) above which they are worth a warning.
    pub dead_letter_warn: f64,
}

/// What the Kafka checks found.
#[derive(Debug, Default)]
pub struct KafkaFindings {
    pub checks: Vec<Check>,
    /// What the group had committed on the input at the end, per partition.
    pub group: Option<Vec<Option<i64>>>,
}

/// A look at the group: committed offsets and partition ends.
struct GroupSample {
    at: Instant,
    committed: Vec<Option<i64>>,
    ends: Vec<(i64, i64)>,
}

impl GroupSample {
    fn take(inspector: &Inspector, topic: &str, partitions: usize) -> anyhow::Result<GroupSample> {
        Ok(GroupSample {
            at: Instant::now(),
            committed: inspector.committed(topic, partitions)?,
            ends: inspector.ends(topic, partitions)?,
        })
    }

    /// Records not committed yet, summed over partitions.
    fn lag(&self) -> i64 {
        self.committed
            .iter()
            .zip(&self.ends)
            .map(|(c, (low, high))| (high - c.unwrap_or(*low).max(*low)).max(0))
            .sum()
    }

    fn committed_total(&self) -> i64 {
        self.committed.iter().flatten().sum()
    }
}

impl KafkaChecks<'_> {
    /// Runs the checks; without a broker, only that one fails.
    pub fn run(&self) -> KafkaFindings {
        let mut group = None;
        let checks = self.checks(&mut group);
        KafkaFindings { checks, group }
    }

    fn checks(&self, group: &mut Option<Vec<Option<i64>>>) -> Vec<Check> {
        let settings = self.job.connection.settings();
        let inspector = match Inspector::connect(&settings, &self.job.group_id) {
            Ok(inspector) => inspector,
            Err(error) => {
                return vec![Check::fail(
                "broker",
                format!("{error:#}"),
                "check --bootstrap-servers (and the security settings), and that the broker runs",
            )]
            }
        };
        let topics = match inspector.topics() {
            Ok(topics) => topics,
            Err(error) => {
                return vec![Check::fail(
                    "broker",
                    format!("{error:#}"),
                    "retry; look at the broker",
                )]
            }
        };
        let mut checks = vec![Check::pass(
            "broker",
            format!(
                "reachable at {} ({} topics)",
                settings.bootstrap_servers,
                topics.len()
            ),
        )];
        checks.extend(self.topic_checks(&topics));
        let Some(&partitions) = topics.get(&self.job.ratings_topic) else {
            return checks;
        };
        let input = &self.job.ratings_topic;
        let first = GroupSample::take(&inspector, input, partitions);
        if topics.contains_key(&self.job.metrics_topic) {
            checks.push(self.windows_check(&settings));
        }
        let dead_topics: Vec<&String> = std::iter::once(&self.job.dead_letter_topic)
            .chain(self.job.late_topic.as_ref())
            .filter(|t| topics.contains_key(*t))
            .collect();
        checks.push(self.dead_letter_check(&inspector, &settings, partitions, &dead_topics));
        std::thread::sleep(
            self.observe
                .saturating_sub(first.as_ref().map_or(Duration::ZERO, |s| s.at.elapsed())),
        );
        let second = GroupSample::take(&inspector, input, partitions);
        checks.push(match (first, second) {
            (Ok(first), Ok(second)) => {
                *group = Some(second.committed.clone());
                self.group_check(&first, &second)
            }
            (Err(error), _) | (_, Err(error)) => Check::fail(
                format!("group {}", self.job.group_id),
                format!("{error:#}"),
                "retry; look at the broker",
            ),
        });
        checks
    }

    /// Each topic of the job exists, with its partition count.
    fn topic_checks(&self, topics: &BTreeMap<String, usize>) -> Vec<Check> {
        let job = self.job;
        let mut wanted = vec![
            (&job.ratings_topic, "input", "--ratings-topic"),
            (&job.metrics_topic, "windows", "--metrics-topic"),
            (
                &job.dead_letter_topic,
                "dead letters",
                "--dead-letter-topic",
            ),
        ];
        if let Some(late) = &job.late_topic {
            wanted.push((late, "late records", "--late-topic"));
        }
        wanted
            .into_iter()
            .map(|(topic, role, flag)| match topics.get(topic) {
                Some(partitions) => Check::pass(
                    format!("topic {topic}"),
                    format!("{partitions} partitions ({role})"),
                ),
                None => Check::fail(
                    format!("topic {topic}"),
                    format!("does not exist ({role})"),
                    &format!("create it (scripts/kafka.sh create {topic} 3), or correct {flag}"),
                ),
            })
            .collect()
    }

    /// The group committed, and keeps committing while there is input to read.
    fn group_check(&self, first: &GroupSample, second: &GroupSample) -> Check {
        let name = format!("group {}", self.job.group_id);
        let seconds = second.at.duration_since(first.at).as_secs();
        if second.committed.iter().all(Option::is_none) {
            return Check::fail(
                name,
                format!("has committed nothing on {}", self.job.ratings_topic),
                "start the processor with this --group-id, or correct --group-id",
            );
        }
        let (lag, moved) = (
            second.lag(),
            second.committed_total() - first.committed_total(),
        );
        match (lag, moved) {
            (0, _) => Check::pass(
                name,
                format!("caught up: lag 0, {moved} records committed in {seconds} s"),
            ),
            (_, moved) if moved > 0 => Check::pass(
                name,
                format!("consuming: lag {lag}, {moved} records committed in {seconds} s"),
            ),
            _ => Check::fail(
                name,
                format!("stuck: lag {lag} and no commit in {seconds} s"),
                "the processor is stopped or stuck: look at its log and /metrics, restart it",
            ),
        }
    }

    /// The newest window on the metrics topic is as recent as the input's event time allows.
    fn windows_check(&self, settings: &KafkaSettings) -> Check {
        let name = format!("windows on {}", self.job.metrics_topic);
        let input = &self.job.ratings_topic;
        let event_time = |value: &[u8]| {
            ratings_core::rating::parse_json(value, usize::MAX)
                .ok()
                .map(|r| r.timestamp)
        };
        let read = || -> anyhow::Result<_> {
            // the stream's start: most of its first records (late ones reach further back)
            let mut head = Vec::new();
            read_records(settings, input, FollowFrom::Start, TAIL as usize, |value| {
                head.extend(event_time(value));
            })?;
            head.sort_unstable();
            let first = head.get(head.len() / 10).copied();
            let last = read_range(settings, input, FollowFrom::LastRecords(TAIL), event_time)?;
            let windows = read_range(
                settings,
                &self.job.metrics_topic,
                FollowFrom::LastRecords(TAIL),
                window_end,
            )?;
            Ok((first, last.map(|(_, max)| max), windows.map(|(_, max)| max)))
        };
        match read() {
            Err(error) => Check::fail(name, format!("{error:#}"), "retry; look at the broker"),
            Ok((_, None, None)) => Check::pass(name, "none yet, and no input yet"),
            Ok((_, None, Some(end))) => Check::pass(
                name,
                format!(
                    "newest ends {}; the input's tail holds no rating",
                    time(end)
                ),
            ),
            Ok((first, Some(newest_input), newest)) => {
                self.compare(name, first.unwrap_or(newest_input), newest_input, newest)
            }
        }
    }

    /// A window should have closed once the watermark (newest event time − delay) passed its
    /// end: the newest window end may trail that by at most the largest window slide and a
    /// minute of disorder — when the input reaches back that far (`first`: its earliest event
    /// time seen).
    fn compare(&self, name: String, first: i64, event_time: i64, newest: Option<i64>) -> Check {
        let delay = self.engine.watermark_delay;
        let (slide, size) = (self.engine.largest_slide(), self.engine.largest_size());
        let due = event_time - delay - slide - 60;
        let context = format!(
            "input event time {}, watermark delay {delay} s",
            time(event_time)
        );
        match newest {
            Some(end) if end >= due => {
                Check::pass(name, format!("newest ends {} ({context})", time(end)))
            }
            None if due < first + size => Check::pass(
                name,
                format!(
                    "none due yet: the input spans {} to {} ({context})",
                    time(first),
                    time(event_time)
                ),
            ),
            Some(end) => Check::fail(
                name,
                format!(
                    "behind: newest ends {}, windows up to {} are due ({context})",
                    time(end),
                    time(due)
                ),
                "the processor is behind or not publishing: look at its lag and log",
            ),
            None => Check::fail(
                name,
                format!("none, though the input flows ({context})"),
                "is the processor running and publishing to this topic (--metrics-topic)?",
            ),
        }
    }
}

impl KafkaChecks<'_> {
    /// Dead letters (rejected and late records) of the recent past, by reason, against the
    /// input records of the same time.
    fn dead_letter_check(
        &self,
        inspector: &Inspector,
        settings: &KafkaSettings,
        partitions: usize,
        dead_topics: &[&String],
    ) -> Check {
        let minutes = self.recent.as_secs() / 60;
        let name = "dead letters";
        let since = now_millis() - self.recent.as_millis() as i64;
        let counted = || -> anyhow::Result<(i64, BTreeMap<String, u64>)> {
            let input = &self.job.ratings_topic;
            let from = inspector.offsets_at(input, partitions, since)?;
            let ends = inspector.ends(input, partitions)?;
            let read: i64 = ends
                .iter()
                .zip(&from)
                .map(|((_, high), f)| (high - f).max(0))
                .sum();
            let mut reasons = BTreeMap::new();
            for topic in dead_topics {
                count_reasons(settings, topic, since, &mut reasons)?;
            }
            Ok((read, reasons))
        };
        let (read, reasons) = match counted() {
            Ok(counts) => counts,
            Err(error) => {
                return Check::fail(name, format!("{error:#}"), "retry; look at the broker")
            }
        };
        let dead: u64 = reasons.values().sum();
        if read == 0 && dead == 0 {
            return Check::pass(
                name,
                format!("none, and no input in the last {minutes} min"),
            );
        }
        let share = dead as f64 / read.max(1) as f64;
        let by_reason: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let found = format!(
            "{:.1}% of {read} records in the last {minutes} min{}{}",
            share * 100.0,
            if by_reason.is_empty() { "" } else { ": " },
            by_reason.join(", ")
        );
        if share > self.dead_letter_warn {
            return Check::warn(
                name,
                found,
                &format!(
                    "above {:.1}%: read the dead-letter topic's records (reason, detail, record) to find the producer at fault",
                    self.dead_letter_warn * 100.0
                ),
            );
        }
        Check::pass(name, found)
    }
}

/// Adds the reasons of `topic`'s records since `since` (epoch milliseconds) to `reasons`.
fn count_reasons(
    settings: &KafkaSettings,
    topic: &str,
    since: i64,
    reasons: &mut BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    read_records(
        settings,
        topic,
        FollowFrom::Time(since),
        MAX_DEAD_LETTERS,
        |value| {
            let letter: serde_json::Value = serde_json::from_slice(value).unwrap_or_default();
            let reason = letter["reason"].as_str().unwrap_or("(no reason)");
            *reasons.entry(reason.to_string()).or_default() += 1;
        },
    )
}

pub use ratings_core::time::now_millis;

/// The smallest and largest values `value_of` finds among at most [`TAIL`] records per
/// partition of `topic` read `from` there (all of them when it ends sooner).
fn read_range(
    settings: &KafkaSettings,
    topic: &str,
    from: FollowFrom,
    value_of: impl Fn(&[u8]) -> Option<i64>,
) -> anyhow::Result<Option<(i64, i64)>> {
    let mut range: Option<(i64, i64)> = None;
    read_records(settings, topic, from, TAIL as usize, |value| {
        if let Some(v) = value_of(value) {
            range = Some(range.map_or((v, v), |(low, high)| (low.min(v), high.max(v))));
        }
    })?;
    Ok(range)
}

/// Hands `each` the values of `topic`'s records from `from` on, until every partition is read
/// to its end or `limit` records per partition were read; an error when that takes longer than
/// [`TAIL_TIMEOUT`].
fn read_records(
    settings: &KafkaSettings,
    topic: &str,
    from: FollowFrom,
    limit: usize,
    each: impl FnMut(&[u8]),
) -> anyhow::Result<()> {
    read_records_within(settings, topic, from, limit, TAIL_TIMEOUT, each)
}

/// [`read_records`] with another time limit.
pub(crate) fn read_records_within(
    settings: &KafkaSettings,
    topic: &str,
    from: FollowFrom,
    limit: usize,
    timeout: Duration,
    mut each: impl FnMut(&[u8]),
) -> anyhow::Result<()> {
    let mut follower = Follower::connect(settings, topic, from)?;
    let deadline = Instant::now() + timeout;
    let (mut read, limit) = (0, limit.saturating_mul(follower.partitions()));
    while !follower.caught_up() && read < limit {
        anyhow::ensure!(
            Instant::now() < deadline,
            "cannot read {topic} within {} s",
            timeout.as_secs()
        );
        if let Followed::Record(value, _) = follower.poll(Duration::from_millis(100)) {
            read += 1;
            each(&value);
        }
    }
    Ok(())
}

/// The end of a window record, epoch seconds.
fn window_end(value: &[u8]) -> Option<i64> {
    let window: serde_json::Value = serde_json::from_slice(value).ok()?;
    let end = window["window_end"].as_str()?;
    ratings_core::time::parse_rfc3339_seconds(end)
}

fn time(epoch_seconds: i64) -> String {
    ratings_core::time::rfc3339_seconds(epoch_seconds)
}
