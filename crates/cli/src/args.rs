//! Command-line interface: subcommands and their options. Every option of `run` except
//! `--config` and `--reset-checkpoint` can also be set through the environment variable shown
//! in `--help` (and so in the settings file); the other commands' options are flags only,
//! except the shared Kafka ones.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ratings_core::OutputMode;
use ratings_runtime::config::{EngineSettings, KafkaConnection, ParquetSettings};
use ratings_runtime::pipeline::RecordLimits;

/// Event-time windowed metrics over a stream of movie ratings (a Spark Structured Streaming
/// replacement): counts, averages, exact p50/p95, top movies and per-genre metrics over
/// tumbling and sliding windows, with a watermark for late data.
#[derive(Debug, Parser)]
#[command(name = "ratings-stream", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as text or as JSON objects (one per line). Levels: RUST_LOG (default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "RATINGS_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// How log lines are written on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The processor. Without --input: read the Kafka topic `ratings` and publish every window
    /// to `metrics` (dead letters and late records to the dead-letter topic). With --input:
    /// process a bounded file (JSON lines or MovieLens ratings.csv) and write the windows to
    /// --metrics-file.
    ///
    /// Examples:
    ///   ratings-stream run --bootstrap-servers 127.0.0.1:9092
    ///   ratings-stream run --input ratings.csv --metrics-file metrics.jsonl
    #[command(verbatim_doc_comment)]
    Run(Box<RunArgs>),
    /// Run the engine on built-in synthetic ratings, print closed windows as a table and show
    /// them on the live dashboard (needs no servers). Runs until Ctrl-C (or --duration).
    Demo(DemoArgs),
    /// Write synthetic ratings (the demo's generator) to the Kafka topic `ratings`, or as JSON
    /// lines to --output. Event time follows the wall clock at --rate, like the original
    /// platform's run-synthetic-ratings.sh; --rate 0 writes as fast as possible.
    ///
    /// Examples:
    ///   ratings-stream generate --rate 50
    ///   ratings-stream generate --rate 0 --count 5000000 --output ratings.jsonl
    #[command(verbatim_doc_comment)]
    Generate(GenerateArgs),
    /// Replay a MovieLens ratings.csv to the Kafka topic `ratings` in timestamp order, paced by
    /// --speedup (event time runs that many times faster than the clock) or --rate.
    ///
    /// Example: ratings-stream replay --input ml-latest-small/ratings.csv --rate 1000
    #[command(verbatim_doc_comment)]
    Replay(ReplayArgs),
    /// Look into a checkpoint folder: committed and pending epochs, offsets, watermark.
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// Check a running deployment with the same settings as `run`: the broker, the topics, the
    /// windows on `metrics`, the dead letters, the processor's group (lag, and whether it
    /// commits), the checkpoint and the Parquet datasets. One line per check (PASS / WARN /
    /// FAIL, what was found, what to do); exit status 1 when one fails. With --audit, also
    /// recompute the windows of closed hours from the raw Parquet rows and compare.
    ///
    /// Examples:
    ///   ratings-stream verify --config settings.toml
    ///   ratings-stream verify --config settings.toml --audit --from 2025-10-29T18 --to 2025-10-29T20
    #[command(verbatim_doc_comment)]
    Verify(Box<VerifyArgs>),
    /// The live dashboard: reads the windows on `metrics` (read_committed; the last --history
    /// first, then live) and serves a page, a REST API and live updates on --listen.
    ///
    /// Example: ratings-stream dashboard --bootstrap-servers 127.0.0.1:9092
    #[command(verbatim_doc_comment)]
    Dashboard(DashboardArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print the report as one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
    /// How long the processor's group is watched for commits (a processor with lag that commits
    /// nothing in this time is stuck).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub observe: Duration,
    /// The recent past over which dead letters are counted against the input.
    #[arg(long, default_value = "15min", value_parser = humantime::parse_duration)]
    pub recent: Duration,
    /// Share of dead letters (rejected and late records) above which verify warns.
    #[arg(long, default_value_t = 0.05)]
    pub dead_letter_warn: f64,
    /// Also audit the aggregates: recompute every tumbling and sliding window of the closed
    /// hours in --from/--to from the raw Parquet rows and compare them, field by field, with the
    /// aggregate Parquet rows and the windows on the metrics topic (every difference is listed).
    #[arg(long)]
    pub audit: bool,
    /// First hour to audit (event time, UTC): 2025-10-29T19:00:00Z, 2025-10-29T19 or
    /// 2025-10-29. Default: 24 hours before --to.
    #[arg(long, requires = "audit", value_parser = parse_hour)]
    pub from: Option<i64>,
    /// End of the audited range (exclusive), same forms. Default: the end of the newest hour
    /// the processor has closed.
    #[arg(long, requires = "audit", value_parser = parse_hour)]
    pub to: Option<i64>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// An instant as RFC 3339, `YYYY-MM-DDTHH` or `YYYY-MM-DD` (UTC), epoch seconds.
fn parse_hour(text: &str) -> Result<i64, String> {
    let full = match text.len() {
        10 => format!("{text}T00:00:00Z"),
        13 => format!("{text}:00:00Z"),
        _ => text.to_string(),
    };
    ratings_core::time::parse_rfc3339_seconds(&full).ok_or_else(|| {
        format!("{text:?} is not a time: use 2025-10-29T19:00:00Z, 2025-10-29T19 or 2025-10-29")
    })
}

/// Who may open the dashboard.
#[derive(Debug, Args)]
pub struct DashboardAccessArgs {
    /// A bearer token the page and the API require (Authorization: Bearer TOKEN, or
    /// ?token=TOKEN in the page's URL). Set one whenever the dashboard listens beyond 127.0.0.1.
    #[arg(
        long = "dashboard-token",
        env = "RATINGS_DASHBOARD_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// A file holding the token (first line).
    #[arg(
        long = "dashboard-token-file",
        env = "RATINGS_DASHBOARD_TOKEN_FILE",
        conflicts_with = "token"
    )]
    pub token_file: Option<PathBuf>,
    /// A host name the dashboard answers to (repeatable), when it is reached by a name other
    /// than an IP address or localhost; any other name is refused (DNS rebinding).
    #[arg(
        long = "dashboard-allowed-host",
        value_name = "NAME",
        env = "RATINGS_DASHBOARD_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Serve the dashboard without a token on an address beyond this machine, on purpose:
    /// anyone who reaches it can read it and silence its alerts. Without it, such a start is
    /// refused.
    #[arg(long = "dashboard-open", env = "RATINGS_DASHBOARD_OPEN")]
    pub open: bool,
}

/// What the dashboard watches besides the windows.
#[derive(Debug, Args)]
pub struct DashboardWatchArgs {
    /// A processor's Prometheus endpoint to scrape for throughput, lag, output latency and
    /// error counters (repeatable), e.g. http://127.0.0.1:9464/metrics.
    #[arg(
        long = "scrape",
        value_name = "URL",
        env = "RATINGS_DASHBOARD_SCRAPE",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub scrape: Vec<String>,
    /// How often the endpoints are scraped.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, env = "RATINGS_DASHBOARD_SCRAPE_INTERVAL")]
    pub scrape_interval: Duration,
    /// Alert rules as a JSON array, each replacing the built-in rule of its name or adding one;
    /// usually written as [[alerts.rules]] in the settings file (see README).
    #[arg(long, value_name = "JSON", env = "RATINGS_ALERT_RULES")]
    pub alert_rules: Option<String>,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Settings file (TOML): [dashboard], [kafka] and [[alerts.rules]]; see README.
    #[arg(long, env = "RATINGS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address the dashboard listens on. Anything but a loopback address exposes it to the
    /// network: give --dashboard-token then.
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        env = "RATINGS_DASHBOARD_LISTEN"
    )]
    pub listen: String,
    /// How much history to read from the topic at start and keep (e.g. 24h, 7d).
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration, env = "RATINGS_DASHBOARD_HISTORY")]
    pub history: Duration,
    /// The topic of window metrics.
    #[arg(long, default_value = "metrics", env = "RATINGS_METRICS_TOPIC")]
    pub metrics_topic: String,
    /// Windows ending further ahead of the wall clock are counted and ignored (as the
    /// processor's own bound on event time; "off": none).
    #[arg(long, default_value = "1d", value_parser = seconds_or_off, env = "RATINGS_MAX_EVENT_TIME_AHEAD")]
    pub max_event_time_ahead: OrOff<i64>,
    #[command(flatten)]
    pub access: DashboardAccessArgs,
    #[command(flatten)]
    pub watch: DashboardWatchArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

#[derive(Debug, Subcommand)]
pub enum CheckpointCommand {
    /// Print the checkpoint: committed and pending epochs, the latest offsets and watermark;
    /// damaged files are named.
    Inspect(CheckpointArgs),
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Storage URL the checkpoint lives on (as for run --storage).
    #[arg(long, env = "RATINGS_STORAGE", hide_env_values = true)]
    pub storage: String,
    /// Checkpoint folder relative to the storage base.
    #[arg(long, default_value = ratings_connectors::checkpoint::DEFAULT_DIR, env = "RATINGS_CHECKPOINT_DIR")]
    pub checkpoint_dir: String,
}

/// Options shared by every command that runs the engine.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Tumbling window size (e.g. 1min, 30s, 1h).
    #[arg(long, default_value = "1min", value_parser = seconds, env = "RATINGS_TUMBLING")]
    pub tumbling: i64,
    /// Sliding window size.
    #[arg(long, default_value = "5min", value_parser = seconds, env = "RATINGS_SLIDING_SIZE")]
    pub sliding_size: i64,
    /// Sliding window slide (how often a sliding window starts).
    #[arg(long, default_value = "1min", value_parser = seconds, env = "RATINGS_SLIDING_SLIDE")]
    pub sliding_slide: i64,
    /// How far the watermark trails the largest event time seen.
    #[arg(long, default_value = "10min", value_parser = seconds, env = "RATINGS_WATERMARK_DELAY")]
    pub watermark_delay: i64,
    /// Number of movies in each window's top_movies.
    #[arg(long, default_value_t = 10, env = "RATINGS_TOP_N")]
    pub top_n: usize,
    /// append: each window once, when final. update: also intermediate values ("final": false).
    #[arg(long, value_enum, default_value_t = ModeArg::Append, env = "RATINGS_OUTPUT_MODE")]
    pub output_mode: ModeArg,
    /// movies.csv (MovieLens format). Default: the bundled ml-latest-small catalog when found,
    /// else a small built-in one.
    #[arg(long, env = "RATINGS_MOVIES")]
    pub movies: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Append,
    Update,
}

impl ParquetArgs {
    /// The runtime's Parquet settings.
    pub fn settings(&self) -> ParquetSettings {
        ParquetSettings {
            storage: self.storage.clone(),
            roll_size: self.roll_size,
            roll_interval: self.roll_interval,
            writer_id: self.writer_id.clone(),
        }
    }
}

impl EngineArgs {
    /// The runtime's engine settings, with the limits records must respect.
    pub fn settings(&self, limits: RecordLimits) -> EngineSettings {
        EngineSettings {
            tumbling_seconds: self.tumbling,
            sliding_size_seconds: self.sliding_size,
            sliding_slide_seconds: self.sliding_slide,
            watermark_delay_seconds: self.watermark_delay,
            top_n: self.top_n,
            output_mode: match self.output_mode {
                ModeArg::Append => OutputMode::Append,
                ModeArg::Update => OutputMode::Update,
            },
            movies: self.movies.as_ref().map(|p| p.display().to_string()),
            max_record_bytes: limits.max_bytes,
            max_event_time_ahead_seconds: limits.max_ahead_seconds,
        }
    }
}

/// Input format of a bounded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// `.csv` files are MovieLens CSV, anything else JSON lines.
    Auto,
    Json,
    Csv,
}

/// Kafka connection settings.
#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        default_value = "127.0.0.1:9092",
        env = "RATINGS_BOOTSTRAP_SERVERS"
    )]
    pub bootstrap_servers: String,
    /// Any librdkafka property, as KEY=VALUE (repeatable; the value is taken whole, `;`
    /// included), e.g. security.protocol=SASL_SSL. In the environment:
    /// RATINGS_KAFKA_PROPERTIES, one KEY=VALUE per line (or "k1=v1;k2=v2" when no value holds a
    /// `;`). Secret values are never printed.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = Quiet(key_value))]
    pub kafka_properties: Vec<(String, String)>,
    /// RATINGS_KAFKA_PROPERTIES (see --kafka-property; the flags win over it).
    #[arg(
        long = "kafka-properties",
        hide = true,
        env = "RATINGS_KAFKA_PROPERTIES",
        hide_env_values = true,
        value_parser = Quiet(property_list)
    )]
    pub kafka_properties_env: Option<PropertyList>,
    /// The input topic.
    #[arg(long, default_value = "ratings", env = "RATINGS_RATINGS_TOPIC")]
    pub ratings_topic: String,
}

impl KafkaArgs {
    /// The connection, with this client id.
    pub fn connection(&self, client_id: &str) -> KafkaConnection {
        KafkaConnection {
            bootstrap_servers: self.bootstrap_servers.clone(),
            properties: match (&self.kafka_properties[..], &self.kafka_properties_env) {
                ([], Some(PropertyList(listed))) => listed.iter().cloned().collect(),
                (flags, _) => flags.iter().cloned().collect(),
            },
            client_id: client_id.to_string(),
        }
    }

    /// The client settings, with this client id added.
    pub fn settings(&self, client_id: &str) -> ratings_connectors::kafka::KafkaSettings {
        self.connection(client_id).settings()
    }
}

/// Output guarantee of the Kafka mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeliveryArg {
    /// Epochs: Kafka transactions, checkpointed state, Parquet published per epoch.
    ExactlyOnce,
    /// Outputs flushed, then consumer offsets committed; no state checkpoint.
    AtLeastOnce,
}

/// Parses a starting position: earliest, latest, or a time (RFC 3339, or epoch
/// milliseconds).
fn starting_offsets(text: &str) -> Result<ratings_connectors::kafka::StartFrom, String> {
    ratings_runtime::config::parse_start_from(text)
}

/// Options of the Kafka mode of `run`.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// The output topic for window metrics.
    #[arg(long, default_value = "metrics", env = "RATINGS_METRICS_TOPIC")]
    pub metrics_topic: String,
    /// The topic for rejected records.
    #[arg(
        long,
        default_value = "ratings-dead-letter",
        env = "RATINGS_DEAD_LETTER_TOPIC"
    )]
    pub dead_letter_topic: String,
    /// The topic for late records (default: the dead-letter topic, with reason "late").
    #[arg(long, env = "RATINGS_LATE_TOPIC")]
    pub late_topic: Option<String>,
    /// Consumer group id (offsets are committed there).
    #[arg(long, default_value = "ratings-stream", env = "RATINGS_GROUP_ID")]
    pub group_id: String,
    /// Client id shown to the broker.
    #[arg(long, default_value = "ratings-stream", env = "RATINGS_CLIENT_ID")]
    pub client_id: String,
    /// Where a new processor starts reading: earliest, latest, or a time (RFC 3339 such as
    /// 2026-11-28T10:00:00Z, or epoch milliseconds; the first record at or after it per
    /// partition). An existing checkpoint (or, at-least-once, the group's committed offsets)
    /// always wins.
    #[arg(long, default_value = "earliest", value_parser = starting_offsets, env = "RATINGS_STARTING_OFFSETS")]
    pub starting_offsets: ratings_connectors::kafka::StartFrom,
    /// exactly-once: Kafka transactions per epoch with checkpointed state; a restart resumes
    /// with no output lost or duplicated. at-least-once: no checkpoint; a restart may repeat
    /// outputs and forgets open windows.
    #[arg(long, value_enum, default_value_t = DeliveryArg::ExactlyOnce, env = "RATINGS_DELIVERY")]
    pub delivery: DeliveryArg,
    /// Storage URL of the checkpoint (default: --storage, else the current folder).
    #[arg(long, env = "RATINGS_CHECKPOINT_STORAGE", hide_env_values = true)]
    pub checkpoint_storage: Option<String>,
    /// Checkpoint folder relative to the checkpoint storage.
    #[arg(long, default_value = ratings_connectors::checkpoint::DEFAULT_DIR, env = "RATINGS_CHECKPOINT_DIR")]
    pub checkpoint_dir: String,
    /// Delete the checkpoint and start over from --starting-offsets (outputs since the
    /// checkpoint's start may be written again). A flag only (no environment variable or
    /// settings key), so that a reset is never left behind in a deployment's settings.
    #[arg(long)]
    pub reset_checkpoint: bool,
    /// Transactional id of the output producer; one per processor. A processor started with
    /// the same id fences this one (default: the group id).
    #[arg(long, env = "RATINGS_TRANSACTIONAL_ID")]
    pub transactional_id: Option<String>,
    /// High availability: start as a standby and run the job only while holding the lease
    /// (a one-partition Kafka topic's consumer group shared by the processors of this job).
    /// Several processors with the same settings then fail over in seconds; they need a
    /// checkpoint all of them reach (HDFS, S3, or a folder they share).
    #[arg(long, env = "RATINGS_STANDBY")]
    pub standby: bool,
    /// The lease topic and group of --standby (created with one partition when missing;
    /// default: <group id>-lease).
    #[arg(long, env = "RATINGS_LEASE_TOPIC")]
    pub lease_topic: Option<String>,
    /// With --standby: a processor silent this long (killed, paused, cut off) loses the lease
    /// to a standby (at least the broker's group.min.session.timeout.ms, 6 s by default).
    #[arg(long, default_value = "6s", value_parser = humantime::parse_duration, env = "RATINGS_LEASE_SESSION_TIMEOUT")]
    pub lease_session_timeout: Duration,
    /// The Kafka transaction timeout: the broker aborts an epoch left open longer (e.g. storage
    /// down that long), and the processor then redoes it from the checkpoint. At most the
    /// broker's transaction.max.timeout.ms (15 min by default).
    #[arg(long, default_value = "5min", value_parser = humantime::parse_duration, env = "RATINGS_TRANSACTION_TIMEOUT")]
    pub transaction_timeout: Duration,
    /// Also end an epoch after this many input records (0: by time only).
    #[arg(long, default_value_t = 500_000, env = "RATINGS_COMMIT_RECORDS")]
    pub commit_records: u64,
    /// A window becoming final ends the epoch as soon as the input is caught up, so that it is
    /// readable within milliseconds — at most once per this floor ("off": windows wait for the
    /// commit interval).
    #[arg(long, default_value = "20ms", value_parser = duration_or_off, env = "RATINGS_EMIT_COMMIT_FLOOR")]
    pub emit_commit_floor: Duration,
    /// Stop once every partition has been read to its end (then flush open windows unless
    /// --no-final-flush): for backfills, tests and benchmarks.
    #[arg(long, env = "RATINGS_EXIT_AT_END")]
    pub exit_at_end: bool,
    /// How often an epoch ends: outputs committed (readable with read_committed), state
    /// checkpointed, Parquet files due published. Bounds the output latency.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, env = "RATINGS_COMMIT_INTERVAL")]
    pub commit_interval: Duration,
    /// How often a progress line is printed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, env = "RATINGS_PROGRESS_INTERVAL")]
    pub progress_interval: Duration,
    /// Print progress as JSON objects (fields of Spark's StreamingQueryProgress) instead of text.
    #[arg(long, env = "RATINGS_PROGRESS_JSON")]
    pub progress_json: bool,
    /// Progress lines warn (at WARN level) while the state holds more per-movie rows than this
    /// (very many distinct movie ids, e.g. a producer sending bad ids); "off": never.
    #[arg(long, default_value = "5000000", value_parser = count_or_off, env = "RATINGS_STATE_WARN_ROWS")]
    pub state_warn_rows: OrOff<usize>,
    /// Address of the Prometheus /metrics endpoint ("off" to disable; port 0 picks a free
    /// port, shown in the banner).
    #[arg(
        long,
        default_value = "127.0.0.1:9464",
        env = "RATINGS_METRICS_ADDRESS"
    )]
    pub metrics_address: String,
}

/// Parquet outputs.
#[derive(Debug, Args)]
pub struct ParquetArgs {
    /// Base URL of the Parquet outputs — raw ratings and tumbling/sliding aggregates under
    /// streams/ratings/…: file:///dir (or a folder), hdfs://namenode:port/dir, s3://bucket/dir
    /// (credentials from AWS_* variables). Without it no Parquet is written.
    #[arg(long, env = "RATINGS_STORAGE", hide_env_values = true)]
    pub storage: Option<String>,
    /// Publish a Parquet file once it reaches this size (e.g. 128MB, 512KB).
    #[arg(long, default_value = "128MB", value_parser = byte_size, env = "RATINGS_ROLL_SIZE")]
    pub roll_size: usize,
    /// Publish a Parquet file once it has been open this long.
    #[arg(long, default_value = "5min", value_parser = humantime::parse_duration, env = "RATINGS_ROLL_INTERVAL")]
    pub roll_interval: Duration,
    /// Writer id in Parquet file names (part-<writer>-<run>-<n>.parquet); unique per processor.
    #[arg(long, default_value = "0", env = "RATINGS_WRITER_ID")]
    pub writer_id: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Settings file (TOML); flags and environment variables override it. See README.
    #[arg(long, env = "RATINGS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Bounded input file: JSON lines as in the Kafka topic, or MovieLens ratings.csv,
    /// processed in file order. Without it, the processor reads Kafka.
    #[arg(long, env = "RATINGS_INPUT")]
    pub input: Option<PathBuf>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto, env = "RATINGS_FORMAT")]
    pub format: FormatArg,
    /// Where to write one JSON object per emitted window ("-" for standard output).
    #[arg(long, default_value = "-", env = "RATINGS_METRICS_FILE")]
    pub metrics_file: PathBuf,
    /// Where to write rejected records (JSON lines with reason and line number).
    /// Without it they are only counted.
    #[arg(long, env = "RATINGS_DEAD_LETTER_FILE")]
    pub dead_letter_file: Option<PathBuf>,
    /// Where to write late records (JSON lines with reason "late").
    /// Without it they are only counted.
    #[arg(long, env = "RATINGS_LATE_FILE")]
    pub late_file: Option<PathBuf>,
    /// Write the final counters as JSON to this file.
    #[arg(long, env = "RATINGS_SUMMARY_FILE")]
    pub summary_file: Option<PathBuf>,
    /// At end of input, keep open windows instead of emitting them.
    #[arg(long, env = "RATINGS_NO_FINAL_FLUSH")]
    pub no_final_flush: bool,
    /// Records per batch; in update mode, changed windows are emitted after each batch.
    #[arg(long, default_value_t = 1000, env = "RATINGS_BATCH_SIZE")]
    pub batch_size: usize,
    /// Records larger than this are rejected as oversized.
    #[arg(long, default_value_t = ratings_core::rating::DEFAULT_MAX_RECORD_BYTES, env = "RATINGS_MAX_RECORD_BYTES")]
    pub max_record_bytes: usize,
    /// Ratings whose event time is further ahead of the wall clock than this go to the dead
    /// letters (reason future_timestamp) and never move the watermark: a clock or unit error
    /// (e.g. year 2508) would otherwise make every later rating late. "off": no bound, for
    /// synthetic streams that run ahead of the clock on purpose.
    #[arg(long, default_value = "1d", value_parser = seconds_or_off, env = "RATINGS_MAX_EVENT_TIME_AHEAD")]
    pub max_event_time_ahead: OrOff<i64>,
    /// Kafka mode: also serve the live dashboard of --metrics-topic on this address (e.g.
    /// 127.0.0.1:8080), as `ratings-stream dashboard` would.
    #[arg(long, env = "RATINGS_DASHBOARD")]
    pub dashboard: Option<String>,
    /// How much history the dashboard reads and keeps.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration, env = "RATINGS_DASHBOARD_HISTORY")]
    pub dashboard_history: Duration,
    #[command(flatten)]
    pub dashboard_access: DashboardAccessArgs,
    #[command(flatten)]
    pub dashboard_watch: DashboardWatchArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub parquet: ParquetArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub stream: StreamArgs,
}

/// Where the demo serves its dashboard by default.
pub const DEMO_DASHBOARD: &str = "127.0.0.1:8080";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to run (Ctrl-C stops earlier). Default: 30 s with --dashboard off, else until
    /// Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Generated ratings per second of wall-clock time.
    #[arg(long, default_value_t = 2000)]
    pub rate: u32,
    /// Event time runs this many times faster than the wall clock (120: two minutes per second).
    #[arg(long, default_value_t = 120.0)]
    pub speedup: f64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of ratings sent far behind the stream (late data).
    #[arg(long, default_value_t = 0.01)]
    pub late_fraction: f64,
    /// Fraction of malformed records.
    #[arg(long, default_value_t = 0.005)]
    pub malformed_fraction: f64,
    /// Also print sliding windows (tumbling windows only by default).
    #[arg(long)]
    pub show_sliding: bool,
    /// Serve the live dashboard on this address ("off": none). When the default port is taken,
    /// a free one is used. With the dashboard the demo runs until Ctrl-C unless --duration is
    /// given.
    #[arg(long, default_value = DEMO_DASHBOARD)]
    pub dashboard: String,
    #[command(flatten)]
    pub access: DashboardAccessArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Ratings per second (wall clock); 0 writes as fast as possible.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Number of records to write (default: until Ctrl-C, or 1,000,000 with --rate 0).
    #[arg(long)]
    pub count: Option<u64>,
    /// Write JSON lines to this file ("-" for standard output) instead of Kafka.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Ratings per second of event time (default: --rate, so event time follows the wall
    /// clock; 1000 with --rate 0). More than --rate makes event time run ahead of the clock.
    #[arg(long)]
    pub events_per_second: Option<f64>,
    /// Movies as often as in the ratings.csv beside the catalog's movies.csv (MovieLens
    /// layout), each with its own rating mix, instead of a Zipf draw over the catalog (as the
    /// demo does when it finds that file).
    #[arg(long)]
    pub movielens_profile: bool,
    /// Event time of the first record, epoch seconds (default: now).
    #[arg(long)]
    pub start_time: Option<i64>,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of ratings sent far behind the stream (late data).
    #[arg(long, default_value_t = 0.0)]
    pub late_fraction: f64,
    /// Fraction of malformed records.
    #[arg(long, default_value_t = 0.0)]
    pub malformed_fraction: f64,
    /// After each record, with this probability, also a hostile one (Kafka only; not counted
    /// in --count): random bytes, truncated or mutated records, tombstones, empty values,
    /// invalid UTF-8, NUL bytes, byte order marks, deep nesting, huge strings and numbers,
    /// duplicate keys, far-future event times, records near the broker's 1 MB limit. The
    /// other records are the same as without them (their own seeded draw).
    #[arg(long, default_value_t = 0.0)]
    pub hostile_fraction: f64,
    /// Every rating of a movie id of its own, unknown to the catalog (from 1,000,000,000 on):
    /// the state a bad producer's ids cost.
    #[arg(long)]
    pub distinct_unknown_movies: bool,
    /// movies.csv whose ids the ratings use (default: as for `run`).
    #[arg(long, env = "RATINGS_MOVIES")]
    pub movies: Option<PathBuf>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// MovieLens ratings.csv (userId,movieId,rating,timestamp).
    #[arg(long)]
    pub input: PathBuf,
    /// Event time runs this many times faster than the clock (e.g. 3600: an hour per second).
    #[arg(long, conflicts_with = "rate", value_parser = positive)]
    pub speedup: Option<f64>,
    /// Ratings per second instead (0: as fast as possible, the default).
    #[arg(long, value_parser = not_negative)]
    pub rate: Option<f64>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

/// Parses a duration, or "off" (zero).
fn duration_or_off(text: &str) -> Result<Duration, String> {
    match text.trim() {
        "off" => Ok(Duration::ZERO),
        other => humantime::parse_duration(other).map_err(|e| format!("{e} (or \"off\")")),
    }
}

/// Parses a byte size: a number with an optional KB/MB/GB suffix (powers of 1024).
fn byte_size(text: &str) -> Result<usize, String> {
    let upper = text.trim().to_ascii_uppercase();
    let (digits, unit) = match upper.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => upper.split_at(i),
        None => (upper.as_str(), ""),
    };
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KB" | "K" => 1 << 10,
        "MB" | "M" => 1 << 20,
        "GB" | "G" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} (use KB, MB or GB)")),
    };
    let number = digits
        .parse::<usize>()
        .map_err(|_| format!("not a size: {text:?}"))?;
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text}: too large"))
}

/// Parses a finite number above zero.
fn positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!("{text:?} is not a number above 0")),
    }
}

/// Parses a finite number, zero or more.
fn not_negative(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("{text:?} is not a number of 0 or more")),
    }
}

/// Parses `KEY=VALUE`.
fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        // the text is not shown: it may be a secret given the wrong way
        _ => Err(format!(
            "expected KEY=VALUE, got {} characters without a key",
            text.chars().count()
        )),
    }
}

/// A value parser whose errors never repeat the value (it may be a secret; clap's own errors
/// quote it).
#[derive(Clone)]
struct Quiet<T>(fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for Quiet<T> {
    type Value = T;

    fn parse_ref(
        &self,
        command: &clap::Command,
        argument: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let name = argument.map_or("a value".into(), |a| match a.get_long() {
            Some(long) if !a.is_hide_set() => format!("--{long}"),
            _ => a
                .get_env()
                .map_or("a value".into(), |e| e.to_string_lossy().into_owned()),
        });
        let refuse = |problem: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid {name}: {problem} (the value is not shown: it may be secret)\n"),
            )
            .with_cmd(command)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("not UTF-8 text".into()))?;
        (self.0)(text).map_err(refuse)
    }
}

/// Properties from the environment (see [`KafkaArgs::kafka_properties`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyList(pub Vec<(String, String)>);

/// One KEY=VALUE per line, or `;`-separated when the text is one line.
fn property_list(text: &str) -> Result<PropertyList, String> {
    let separator = if text.contains('\n') { '\n' } else { ';' };
    let entries = text
        .split(separator)
        .map(str::trim)
        .filter(|e| !e.is_empty());
    entries
        .enumerate()
        .map(|(i, entry)| key_value(entry).map_err(|e| format!("entry {}: {e}", i + 1)))
        .collect::<Result<_, _>>()
        .map(PropertyList)
}

/// Parses a human duration (`1min`, `30s`, `1h`) into whole seconds.
/// A limit, or none ("off").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrOff<T>(pub Option<T>);

/// `off`, or what `parse` reads.
fn or_off<T>(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<OrOff<T>, String> {
    match text {
        "off" => Ok(OrOff(None)),
        text => parse(text).map(|value| OrOff(Some(value))),
    }
}

fn count_or_off(text: &str) -> Result<OrOff<usize>, String> {
    or_off(text, |t| {
        t.parse().map_err(|e| format!("{t}: {e} (or \"off\")"))
    })
}

fn seconds_or_off(text: &str) -> Result<OrOff<i64>, String> {
    or_off(text, seconds)
}

fn seconds(text: &str) -> Result<i64, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.subsec_nanos() != 0 {
        return Err(format!("{text}: use whole seconds"));
    }
    i64::try_from(duration.as_secs()).map_err(|_| format!("{text}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_in_seconds() {
        assert_eq!(seconds("1min"), Ok(60));
        assert_eq!(seconds("10m"), Ok(600));
        assert_eq!(seconds("90s"), Ok(90));
        assert!(seconds("1.5s").is_err());
        assert!(seconds("soon").is_err());
    }

    #[test]
    fn parses_byte_sizes() {
        assert_eq!(byte_size("128MB"), Ok(128 << 20));
        assert_eq!(byte_size("512kb"), Ok(512 << 10));
        assert_eq!(byte_size("1000"), Ok(1000));
        assert!(byte_size("12XB").is_err());
        assert!(byte_size("MB").is_err());
        assert_eq!(
            byte_size("99999999999999999GB"),
            Err("99999999999999999GB: too large".into())
        );
    }

    #[test]
    fn kafka_properties_from_the_environment_keep_semicolons_on_lines_and_never_echo_values() {
        let jaas = "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule \
                    required username=\"u\" password=\"p;w\";";
        let lines = property_list(&format!("security.protocol=SASL_SSL\n{jaas}\n")).unwrap();
        assert_eq!(lines.0.len(), 2);
        assert!(lines.0[1].1.ends_with("password=\"p;w\";"), "{lines:?}");
        let legacy = property_list("a=1;b=2").unwrap();
        assert_eq!(
            legacy.0,
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        let error = property_list("a=1;hunter2").unwrap_err();
        assert!(
            !error.contains("hunter2") && error.contains("entry 2"),
            "{error}"
        );
        let error = key_value("hunter2").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn every_run_option_has_an_environment_variable() {
        use clap::CommandFactory;
        let command = Cli::command();
        let run = command.find_subcommand("run").expect("run");
        let missing: Vec<_> = run
            .get_arguments()
            .filter(|a| !a.is_positional() && a.get_env().is_none())
            .map(|a| a.get_id().to_string())
            .filter(|id| {
                ![
                    "config",
                    "reset_checkpoint",
                    "help",
                    "version",
                    "log_format",
                    // its environment variable is kafka_properties_env's
                    "kafka_properties",
                ]
                .contains(&id.as_str())
            })
            .collect();
        assert!(
            missing.is_empty(),
            "options of run without env: {missing:?}"
        );
    }

    #[test]
    fn replay_refuses_a_speedup_that_is_not_positive() {
        for bad in ["0", "-2", "NaN", "inf"] {
            let parsed = Cli::try_parse_from([
                "ratings-stream",
                "replay",
                "--input",
                "r.csv",
                "--speedup",
                bad,
            ]);
            assert!(parsed.is_err(), "--speedup {bad} accepted");
        }
        for bad in ["-1", "NaN"] {
            let parsed = Cli::try_parse_from([
                "ratings-stream",
                "replay",
                "--input",
                "r.csv",
                "--rate",
                bad,
            ]);
            assert!(parsed.is_err(), "--rate {bad} accepted");
        }
        assert!(Cli::try_parse_from([
            "ratings-stream",
            "replay",
            "--input",
            "r.csv",
            "--speedup",
            "3600"
        ])
        .is_ok());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
