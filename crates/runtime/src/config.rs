//! The job's configuration: a plain, serde-deserialisable struct with documented fields and
//! the defaults of the Spark job it replaces. [`JobConfig::validate`] checks it before a run;
//! how it is filled (flags, environment, settings file) is the CLI's business.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ratings_connectors::kafka::{KafkaSettings, StartFrom};
use ratings_core::{EngineConfig, OutputMode, WindowSpec};
use serde::{Deserialize, Serialize};

/// Everything one run of the processor needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobConfig {
    /// Windows, watermark and metrics.
    pub engine: EngineSettings,
    /// Where the ratings come from, and where windows and rejected records go.
    pub input: Input,
    /// The Parquet outputs (raw ratings and aggregates), when a storage URL is set.
    pub parquet: ParquetSettings,
    /// Progress reports, Prometheus and the end-of-run summary.
    pub telemetry: TelemetrySettings,
}

/// How far ahead of the wall clock an event time may be, by default: one day.
pub const DEFAULT_MAX_EVENT_TIME_AHEAD_SECONDS: i64 = 86_400;

/// Windows, watermark and metrics of the engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// Tumbling window size, seconds (60).
    pub tumbling_seconds: i64,
    /// Sliding window size, seconds (300).
    pub sliding_size_seconds: i64,
    /// Sliding window slide, seconds (60).
    pub sliding_slide_seconds: i64,
    /// How far the watermark trails the largest event time seen, seconds (600).
    pub watermark_delay_seconds: i64,
    /// Movies in each window's `top_movies` (10).
    pub top_n: usize,
    /// Append (each window once, when final) or update (also intermediate values).
    pub output_mode: OutputMode,
    /// `movies.csv` path or storage URL; `None`: the bundled ml-latest-small catalog when
    /// found, else the built-in sample.
    pub movies: Option<String>,
    /// Records larger than this many bytes are rejected as oversized.
    pub max_record_bytes: usize,
    /// Ratings whose event time is further ahead of the wall clock than this many seconds are
    /// rejected (`future_timestamp`) and never move the watermark; `None`: no bound (synthetic
    /// streams that run ahead on purpose). One day by default.
    pub max_event_time_ahead_seconds: Option<i64>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            tumbling_seconds: 60,
            sliding_size_seconds: 300,
            sliding_slide_seconds: 60,
            watermark_delay_seconds: 600,
            top_n: 10,
            output_mode: OutputMode::Append,
            movies: None,
            max_record_bytes: ratings_core::rating::DEFAULT_MAX_RECORD_BYTES,
            max_event_time_ahead_seconds: Some(DEFAULT_MAX_EVENT_TIME_AHEAD_SECONDS),
        }
    }
}

impl EngineSettings {
    /// The engine configuration these settings describe (windows checked).
    pub fn engine_config(&self) -> anyhow::Result<EngineConfig> {
        let tumbling = WindowSpec::tumbling(self.tumbling_seconds)?;
        let sliding = WindowSpec::sliding(self.sliding_size_seconds, self.sliding_slide_seconds)?;
        anyhow::ensure!(
            tumbling != sliding,
            "the sliding window ({}) equals the tumbling window; give it a slide smaller than its size",
            sliding.name()
        );
        anyhow::ensure!(self.top_n > 0, "top_n must be at least 1");
        Ok(EngineConfig {
            windows: vec![tumbling, sliding],
            watermark_delay: self.watermark_delay_seconds,
            top_n: self.top_n,
            mode: self.output_mode,
        })
    }
}

/// The input and the outputs that go with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A bounded file, processed to its end.
    File(FileJob),
    /// The Kafka topic `ratings`, until stopped.
    Kafka(Box<KafkaJob>),
}

impl Default for Input {
    fn default() -> Self {
        Input::Kafka(Box::default())
    }
}

/// How a record's bytes are to be parsed (a bounded file holds records of one format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One JSON object per line, as in the Kafka topic.
    Json,
    /// MovieLens `ratings.csv` (`userId,movieId,rating,timestamp`, header line skipped).
    MovieLensCsv,
}

/// The bounded file mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileJob {
    pub path: PathBuf,
    pub format: Format,
    /// One JSON object per emitted window; `-` is standard output.
    pub metrics_file: PathBuf,
    /// Rejected records as JSON lines; `None`: counted only.
    pub dead_letter_file: Option<PathBuf>,
    /// Late records as JSON lines; `None`: counted only.
    pub late_file: Option<PathBuf>,
    /// Records per batch (update mode emits changed windows after each).
    pub batch_size: usize,
    /// At the end of the input, emit the still-open windows.
    pub final_flush: bool,
}

/// The Kafka mode: `ratings` → `metrics` (+ dead letters), with a delivery guarantee.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaJob {
    pub connection: KafkaConnection,
    /// The input topic.
    pub ratings_topic: String,
    /// One JSON object per emitted window, keyed by `window_type|window_start`.
    pub metrics_topic: String,
    /// Rejected records.
    pub dead_letter_topic: String,
    /// Late records; `None`: the dead-letter topic (reason `late`).
    pub late_topic: Option<String>,
    /// Consumer group (offsets are committed there).
    pub group_id: String,
    /// Where a new processor starts; a checkpoint (or the group's offsets) wins.
    #[serde(with = "start_from_text")]
    pub starting_offsets: StartFrom,
    /// Stop once every partition is read to its end.
    pub exit_at_end: bool,
    /// With `exit_at_end`, emit the still-open windows at the end.
    pub final_flush: bool,
    /// How the work is committed.
    pub delivery: Delivery,
    /// High availability: stand by until this member holds the lease (`None`: run at once).
    pub high_availability: Option<HighAvailability>,
}

/// High availability: the processors of one job (same settings) share a lease on Kafka; the
/// member holding it runs the job, the others wait warm and take over when it goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HighAvailability {
    /// The one-partition lease topic (created when missing); `None`: `<group id>-lease`.
    pub lease_topic: Option<String>,
    /// A member silent this long (killed, paused, cut off) loses the lease.
    #[serde(with = "duration_text")]
    pub session_timeout: Duration,
}

impl Default for HighAvailability {
    fn default() -> Self {
        HighAvailability {
            lease_topic: None,
            session_timeout: Duration::from_secs(6),
        }
    }
}

impl Default for KafkaJob {
    fn default() -> Self {
        KafkaJob {
            connection: KafkaConnection::default(),
            ratings_topic: "ratings".into(),
            metrics_topic: "metrics".into(),
            dead_letter_topic: "ratings-dead-letter".into(),
            late_topic: None,
            group_id: "ratings-stream".into(),
            starting_offsets: StartFrom::Earliest,
            exit_at_end: false,
            final_flush: true,
            delivery: Delivery::default(),
            high_availability: None,
        }
    }
}

impl KafkaJob {
    /// The late-records topic: `late_topic`, else the dead-letter topic.
    pub fn late_topic(&self) -> &str {
        self.late_topic
            .as_deref()
            .unwrap_or(&self.dead_letter_topic)
    }

    /// The lease topic and group of high availability: `lease_topic`, else `<group id>-lease`.
    pub fn lease_name(&self) -> String {
        self.high_availability
            .as_ref()
            .and_then(|ha| ha.lease_topic.clone())
            .unwrap_or_else(|| format!("{}-lease", self.group_id))
    }
}

/// How to reach the brokers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConnection {
    pub bootstrap_servers: String,
    /// Any librdkafka property (`security.protocol`, `sasl.*`, …); secrets are never printed.
    pub properties: BTreeMap<String, String>,
    /// Client id shown to the broker.
    pub client_id: String,
}

impl Default for KafkaConnection {
    fn default() -> Self {
        KafkaConnection {
            bootstrap_servers: "127.0.0.1:9092".into(),
            properties: BTreeMap::new(),
            client_id: "ratings-stream".into(),
        }
    }
}

impl KafkaConnection {
    /// The client settings, with the client id added unless a property sets it.
    pub fn settings(&self) -> KafkaSettings {
        let mut properties = self.properties.clone();
        properties
            .entry("client.id".into())
            .or_insert_with(|| self.client_id.clone());
        KafkaSettings {
            bootstrap_servers: self.bootstrap_servers.clone(),
            properties,
        }
    }
}

/// The delivery guarantee of the Kafka mode and its commit cadence.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Delivery {
    pub guarantee: Guarantee,
    /// How often the work is committed (exactly-once: an epoch ends).
    #[serde(with = "duration_text")]
    pub commit_interval: Duration,
    /// Exactly-once: an epoch also ends after this many input records (0: by time only).
    pub commit_records: u64,
    /// Exactly-once: a window becoming final ends the epoch as soon as the input is caught up,
    /// at most once per this floor (zero: off, windows wait for the commit interval).
    #[serde(with = "duration_text")]
    pub emit_commit_floor: Duration,
    /// Exactly-once: the transactional id; `None`: the group id.
    pub transactional_id: Option<String>,
    /// Exactly-once: the broker aborts an epoch left open longer; it is then redone.
    #[serde(with = "duration_text")]
    pub transaction_timeout: Duration,
    /// Storage URL of the checkpoint; `None`: the Parquet storage, else the current folder.
    pub checkpoint_storage: Option<String>,
    /// Checkpoint folder relative to the checkpoint storage.
    pub checkpoint_dir: String,
    /// Delete the checkpoint and start over from `starting_offsets`.
    pub reset_checkpoint: bool,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            guarantee: Guarantee::ExactlyOnce,
            commit_interval: Duration::from_secs(1),
            commit_records: 500_000,
            emit_commit_floor: Duration::from_millis(20),
            transactional_id: None,
            transaction_timeout: Duration::from_secs(300),
            checkpoint_storage: None,
            checkpoint_dir: ratings_connectors::checkpoint::DEFAULT_DIR.into(),
            reset_checkpoint: false,
        }
    }
}

/// The output guarantee of the Kafka mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guarantee {
    /// Epochs: Kafka transactions, checkpointed state, Parquet published per epoch.
    ExactlyOnce,
    /// Outputs flushed, then consumer offsets committed; no state checkpoint.
    AtLeastOnce,
}

/// The Parquet outputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParquetSettings {
    /// Base URL (`file:///dir` or a folder, `hdfs://nn:port/dir`, `s3://bucket/dir`); `None`:
    /// no Parquet.
    pub storage: Option<String>,
    /// A file is published once it reaches this many bytes.
    pub roll_size: usize,
    /// … or once it has been open this long.
    #[serde(with = "duration_text")]
    pub roll_interval: Duration,
    /// Writer id in file names (`part-<writer>-<run>-<n>.parquet`), unique per processor.
    pub writer_id: String,
}

impl Default for ParquetSettings {
    fn default() -> Self {
        ParquetSettings {
            storage: None,
            roll_size: 128 << 20,
            roll_interval: Duration::from_secs(300),
            writer_id: "0".into(),
        }
    }
}

/// Progress reports, Prometheus and the summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// How often a progress report is logged (Kafka mode).
    #[serde(with = "duration_text")]
    pub progress_interval: Duration,
    /// Progress as JSON objects (the fields of Spark's StreamingQueryProgress).
    pub progress_json: bool,
    /// Address of the Prometheus `/metrics` endpoint (Kafka mode); `None`: off. Port 0 picks
    /// a free port (the bound address is logged).
    pub metrics_address: Option<String>,
    /// Where to write the final counters as JSON.
    pub summary_file: Option<PathBuf>,
    /// Progress lines warn while the state holds more per-movie rows than this (`None`: never).
    pub state_warn_rows: Option<usize>,
}

/// The default of [`TelemetrySettings::state_warn_rows`]: about 450 MB of memory with
/// exactly-once (~80–90 bytes per row, BENCHMARKS.md), and well above what a real catalog's
/// movies fill (ml-latest's 86,000 movies, each rated every minute: 1.4 M rows).
pub const DEFAULT_STATE_WARN_ROWS: usize = 5_000_000;

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            progress_interval: Duration::from_secs(10),
            progress_json: false,
            metrics_address: Some("127.0.0.1:9464".into()),
            summary_file: None,
            state_warn_rows: Some(DEFAULT_STATE_WARN_ROWS),
        }
    }
}

impl JobConfig {
    /// Checks everything that can be checked before connecting anywhere.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.engine.engine_config()?;
        anyhow::ensure!(self.parquet.roll_size > 0, "roll_size must be positive");
        match &self.input {
            Input::File(file) => {
                anyhow::ensure!(file.batch_size > 0, "batch_size must be at least 1")
            }
            Input::Kafka(job) => {
                let delivery = &job.delivery;
                anyhow::ensure!(
                    !delivery.commit_interval.is_zero(),
                    "commit_interval must be positive"
                );
                if delivery.guarantee == Guarantee::ExactlyOnce {
                    self.checkpoint_url()?;
                }
                if job.high_availability.is_some() {
                    self.validate_high_availability(job)?;
                }
            }
        }
        Ok(())
    }

    /// The settings that decide a Kafka job's outputs, by name: processors sharing a checkpoint
    /// (high availability) must agree on every one.
    pub fn identity(&self, job: &KafkaJob) -> std::collections::BTreeMap<String, String> {
        let engine = &self.engine;
        [
            ("input topic", job.ratings_topic.clone()),
            ("metrics topic", job.metrics_topic.clone()),
            ("dead-letter topic", job.dead_letter_topic.clone()),
            ("late topic", job.late_topic().to_string()),
            ("tumbling window", format!("{} s", engine.tumbling_seconds)),
            (
                "sliding window",
                format!(
                    "{} s every {} s",
                    engine.sliding_size_seconds, engine.sliding_slide_seconds
                ),
            ),
            (
                "watermark delay",
                format!("{} s", engine.watermark_delay_seconds),
            ),
            ("top movies", engine.top_n.to_string()),
            (
                "output mode",
                format!("{:?}", engine.output_mode).to_lowercase(),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }

    /// A standby takes over from the checkpoint: every member must reach the same one.
    fn validate_high_availability(&self, job: &KafkaJob) -> anyhow::Result<()> {
        anyhow::ensure!(
            job.delivery.guarantee == Guarantee::ExactlyOnce,
            "--standby needs --delivery exactly-once: a standby takes over from the checkpoint"
        );
        let url = self.checkpoint_url()?;
        let shared = url.contains("://") && !url.starts_with("file://")
            || std::path::Path::new(url.trim_start_matches("file://")).is_absolute();
        anyhow::ensure!(
            shared,
            "--standby needs a checkpoint every member can reach, not {url:?} (relative to each              member's working folder): give --storage or --checkpoint-storage as hdfs://…,              s3://…, or an absolute folder all members share (one machine, or a network mount)"
        );
        Ok(())
    }

    /// The checkpoint storage URL: `checkpoint_storage`, else the Parquet storage, else the
    /// current folder. With Parquet on, it must be the Parquet storage (staged files are
    /// moved into place).
    pub fn checkpoint_url(&self) -> anyhow::Result<String> {
        let configured = match &self.input {
            Input::Kafka(job) => job.delivery.checkpoint_storage.as_ref(),
            Input::File(_) => None,
        };
        match (configured, &self.parquet.storage) {
            (Some(checkpoint), Some(parquet)) if checkpoint != parquet => anyhow::bail!(
                "the checkpoint storage {checkpoint} differs from the Parquet storage {parquet}: \
                 exactly-once Parquet files are staged in the checkpoint and moved into place, so \
                 both must be on the same storage"
            ),
            (Some(url), _) | (None, Some(url)) => Ok(url.clone()),
            (None, None) => Ok(".".to_string()),
        }
    }
}

/// Durations as human text (`1s`, `5min`) in settings files.
mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// Starting offsets as text: `earliest`, `latest`, or epoch milliseconds.
mod start_from_text {
    use ratings_connectors::kafka::StartFrom;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &StartFrom, s: S) -> Result<S::Ok, S::Error> {
        match value {
            StartFrom::Earliest => s.serialize_str("earliest"),
            StartFrom::Latest => s.serialize_str("latest"),
            StartFrom::Timestamp(millis) => s.serialize_str(&millis.to_string()),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StartFrom, D::Error> {
        super::parse_start_from(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Parses a starting position: `earliest`, `latest`, or a time (RFC 3339, or epoch
/// milliseconds).
pub fn parse_start_from(text: &str) -> Result<StartFrom, String> {
    match text.trim() {
        "earliest" => Ok(StartFrom::Earliest),
        "latest" => Ok(StartFrom::Latest),
        other if other.chars().all(|c| c.is_ascii_digit()) && !other.is_empty() => other
            .parse()
            .map(StartFrom::Timestamp)
            .map_err(|e| format!("{e}")),
        other => humantime::parse_rfc3339_weak(other)
            .map(|time| {
                let since = time
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                StartFrom::Timestamp(since.as_millis() as i64)
            })
            .map_err(|_| {
                format!("{other:?} is not earliest, latest, an RFC 3339 time or epoch milliseconds")
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_spark_jobs_and_validate() {
        let config = JobConfig::default();
        config.validate().unwrap();
        let engine = config.engine.engine_config().unwrap();
        assert_eq!(engine.watermark_delay, 600);
        assert_eq!(engine.windows[0].name(), "tumbling_1min");
        let Input::Kafka(job) = &config.input else {
            panic!("Kafka is the default input")
        };
        assert_eq!(job.metrics_topic, "metrics");
        assert_eq!(job.late_topic(), "ratings-dead-letter");
        assert_eq!(job.delivery.guarantee, Guarantee::ExactlyOnce);
    }

    #[test]
    fn deserialises_with_defaults_and_rejects_unknown_fields() {
        let config: JobConfig = serde_json::from_value(serde_json::json!({
            "engine": {"top_n": 3},
            "input": {"kafka": {"ratings_topic": "r", "delivery": {"commit_interval": "200ms"}}}
        }))
        .unwrap();
        assert_eq!(config.engine.top_n, 3);
        let Input::Kafka(job) = &config.input else {
            panic!("kafka input")
        };
        assert_eq!(job.delivery.commit_interval, Duration::from_millis(200));
        assert_eq!(job.metrics_topic, "metrics");
        let error = serde_json::from_value::<JobConfig>(serde_json::json!({
            "engine": {"top_nn": 3}
        }))
        .unwrap_err();
        assert!(error.to_string().contains("top_nn"), "{error}");
    }

    #[test]
    fn a_checkpoint_off_the_parquet_storage_is_refused() {
        let mut config = JobConfig::default();
        config.parquet.storage = Some("hdfs://nn:8020/out".into());
        if let Input::Kafka(job) = &mut config.input {
            job.delivery.checkpoint_storage = Some("s3://elsewhere".into());
        }
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("s3://elsewhere") && error.contains("hdfs://nn:8020/out"));
    }

    #[test]
    fn parses_starting_positions() {
        assert_eq!(parse_start_from("earliest"), Ok(StartFrom::Earliest));
        assert_eq!(
            parse_start_from("1700000000000"),
            Ok(StartFrom::Timestamp(1_700_000_000_000))
        );
        assert_eq!(
            parse_start_from("2023-11-14T22:13:20Z"),
            Ok(StartFrom::Timestamp(1_700_000_000_000))
        );
        assert!(parse_start_from("soon").is_err());
    }
}
