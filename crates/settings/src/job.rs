//! The job's view of the settings: what one run of the processor needs ([`JobConfig`]: the
//! engine, the input and the outputs that go with it), built from [`crate::Settings`] by
//! [`crate::Settings::job`], and checked by [`JobConfig::validate`] before a run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ratings_connectors::kafka::{KafkaSettings, StartFrom};
use ratings_core::WindowSpec;
use serde::{Deserialize, Serialize};

use crate::sections::{EngineSettings, ParquetSettings, TableFormat, TelemetrySettings};
use crate::text::{de, duration_text, start_from_text};

/// Everything one run of the processor needs.
#[derive(Debug, Clone, Default)]
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

/// The input and the outputs that go with it.
#[derive(Debug, Clone)]
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

impl Format {
    /// `.csv` files are MovieLens CSV, anything else JSON lines.
    pub fn for_path(path: &std::path::Path) -> Format {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            Format::MovieLensCsv
        } else {
            Format::Json
        }
    }

    /// Human name for banners.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Json => "JSON lines",
            Format::MovieLensCsv => "MovieLens CSV",
        }
    }
}

/// The bounded file mode.
#[derive(Debug, Clone)]
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

/// The Kafka mode: `ratings` → `metrics` (+ dead letters), with a delivery guarantee. Its
/// settings keys are flat (`ratings_topic`, `delivery`, …); `final_flush` and
/// `high_availability` come from other settings (see [`crate::Settings::job`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct KafkaJob {
    #[serde(flatten)]
    pub connection: KafkaConnection,
    /// The input topic.
    #[serde(deserialize_with = "de::string")]
    pub ratings_topic: String,
    /// One JSON object per emitted window, keyed by `window_type|window_start`.
    #[serde(deserialize_with = "de::string")]
    pub metrics_topic: String,
    /// Rejected records.
    #[serde(deserialize_with = "de::string")]
    pub dead_letter_topic: String,
    /// Late records; `None`: the dead-letter topic (reason `late`).
    #[serde(deserialize_with = "de::some")]
    pub late_topic: Option<String>,
    /// Consumer group (offsets are committed there).
    #[serde(deserialize_with = "de::string")]
    pub group_id: String,
    /// Where a new processor starts; a checkpoint (or the group's offsets) wins.
    #[serde(with = "start_from_text")]
    pub starting_offsets: StartFrom,
    /// Stop once every partition is read to its end.
    #[serde(deserialize_with = "de::from_str")]
    pub exit_at_end: bool,
    /// With `exit_at_end`, emit the still-open windows at the end.
    #[serde(skip)]
    pub final_flush: bool,
    /// How the work is committed.
    #[serde(flatten)]
    pub delivery: Delivery,
    /// High availability: stand by until this member holds the lease (`None`: run at once).
    #[serde(skip)]
    pub high_availability: Option<HighAvailability>,
}

/// High availability: the processors of one job (same settings) share a lease on Kafka; the
/// member holding it runs the job, the others wait warm and take over when it goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HighAvailability {
    /// The one-partition lease topic (created when missing); `None`: `<group id>-lease`.
    #[serde(deserialize_with = "de::some")]
    pub lease_topic: Option<String>,
    /// A member silent this long (killed, paused, cut off) loses the lease.
    #[serde(rename = "lease_session_timeout", with = "duration_text")]
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
    /// The transactional id: configured, else the group id.
    pub fn transactional_id(&self) -> &str {
        self.delivery
            .transactional_id
            .as_deref()
            .unwrap_or(&self.group_id)
    }

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
#[serde(default)]
pub struct KafkaConnection {
    #[serde(deserialize_with = "de::string")]
    pub bootstrap_servers: String,
    /// Any librdkafka property (`security.protocol`, `sasl.*`, …); secrets are never printed.
    #[serde(rename = "kafka_properties", deserialize_with = "de::properties")]
    pub properties: BTreeMap<String, String>,
    /// Client id shown to the broker.
    #[serde(deserialize_with = "de::string")]
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

    /// The client settings of a tool with a client id of its own (`ratings-stream-generate`).
    pub fn settings_as(&self, client_id: &str) -> KafkaSettings {
        KafkaConnection {
            client_id: client_id.to_string(),
            ..self.clone()
        }
        .settings()
    }
}

/// The delivery guarantee of the Kafka mode and its commit cadence.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Delivery {
    #[serde(rename = "delivery")]
    pub guarantee: Guarantee,
    /// How often the work is committed (exactly-once: an epoch ends).
    #[serde(with = "duration_text")]
    pub commit_interval: Duration,
    /// Exactly-once: an epoch also ends after this many input records (0: by time only).
    #[serde(deserialize_with = "de::from_str")]
    pub commit_records: u64,
    /// Exactly-once: a window becoming final ends the epoch as soon as the input is caught up,
    /// at most once per this floor (zero: off, windows wait for the commit interval).
    #[serde(deserialize_with = "de::duration_or_off")]
    pub emit_commit_floor: Duration,
    /// Exactly-once: the transactional id; `None`: the group id.
    #[serde(deserialize_with = "de::some")]
    pub transactional_id: Option<String>,
    /// Exactly-once: the broker aborts an epoch left open longer; it is then redone.
    #[serde(with = "duration_text")]
    pub transaction_timeout: Duration,
    /// Storage URL of the checkpoint; `None`: the Parquet storage, else the current folder.
    #[serde(deserialize_with = "de::some")]
    pub checkpoint_storage: Option<String>,
    /// Checkpoint folder relative to the checkpoint storage.
    #[serde(deserialize_with = "de::string")]
    pub checkpoint_dir: String,
    /// Delete the checkpoint and start over from `starting_offsets` (a flag only: see
    /// [`crate::FLAG_ONLY`]).
    #[serde(deserialize_with = "de::from_str")]
    pub reset_checkpoint: bool,
    /// Window types changed while no raw output keeps the ratings to rebuild them from: keep
    /// the checkpoint's offsets and start the windows empty (a flag only).
    #[serde(deserialize_with = "de::from_str")]
    pub reset_windows: bool,
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
            reset_windows: false,
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
    pub fn identity(&self, job: &KafkaJob) -> BTreeMap<String, String> {
        let engine = &self.engine;
        [
            ("input topic", job.ratings_topic.clone()),
            ("metrics topic", job.metrics_topic.clone()),
            ("dead-letter topic", job.dead_letter_topic.clone()),
            ("late topic", job.late_topic().to_string()),
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
        .chain(window_identity(engine))
        // only a Delta job names its format: members of older versions wrote Parquet
        .chain(
            (self.parquet.table_format == TableFormat::Delta)
                .then(|| ("table format", "delta".to_string())),
        )
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

/// The window types as processors share them: a tumbling and a sliding window as members of
/// older versions recorded them, any other list by name.
fn window_identity(engine: &EngineSettings) -> Vec<(&'static str, String)> {
    let specs = engine
        .engine_config()
        .map(|c| c.windows)
        .unwrap_or_default();
    match &specs[..] {
        [tumbling, sliding] if tumbling.is_tumbling() && !sliding.is_tumbling() => vec![
            ("tumbling window", format!("{} s", tumbling.size)),
            (
                "sliding window",
                format!("{} s every {} s", sliding.size, sliding.slide),
            ),
        ],
        specs => vec![(
            "windows",
            specs
                .iter()
                .map(WindowSpec::name)
                .collect::<Vec<_>>()
                .join(","),
        )],
    }
}
