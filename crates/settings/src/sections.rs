//! The sections of the settings model besides the Kafka job's: the engine, the bounded file
//! mode, the Parquet outputs, telemetry and the dashboard. Each field's serde name is its key
//! in the settings file (and, upper-cased with `RATINGS_`, its environment variable); its
//! default is today's default of its flag.

use std::path::PathBuf;
use std::time::Duration;

use ratings_core::{EngineConfig, OutputMode, WindowSpec};
use serde::{Deserialize, Serialize};

use crate::job::{FileJob, Format};
use crate::text::{de, duration_text};

/// How far ahead of the wall clock an event time may be, by default: one day.
pub const DEFAULT_MAX_EVENT_TIME_AHEAD_SECONDS: i64 = 86_400;

/// Windows, watermark and metrics of the engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineSettings {
    /// Tumbling window size, seconds (60).
    #[serde(rename = "tumbling", deserialize_with = "de::seconds")]
    pub tumbling_seconds: i64,
    /// Sliding window size, seconds (300).
    #[serde(rename = "sliding_size", deserialize_with = "de::seconds")]
    pub sliding_size_seconds: i64,
    /// Sliding window slide, seconds (60).
    #[serde(rename = "sliding_slide", deserialize_with = "de::seconds")]
    pub sliding_slide_seconds: i64,
    /// The window types by their names, in output order, instead of `tumbling` and
    /// `sliding_*`: `tumbling_1min,sliding_5min_1min,tumbling_15min` (`None`: those two).
    #[serde(
        deserialize_with = "de::windows",
        serialize_with = "crate::text::window_names"
    )]
    pub windows: Option<Vec<WindowSpec>>,
    /// How far the watermark trails the largest event time seen, seconds (600).
    #[serde(rename = "watermark_delay", deserialize_with = "de::seconds")]
    pub watermark_delay_seconds: i64,
    /// Movies in each window's `top_movies` (10).
    #[serde(deserialize_with = "de::from_str")]
    pub top_n: usize,
    /// Append (each window once, when final) or update (also intermediate values).
    pub output_mode: OutputMode,
    /// `movies.csv` path or storage URL; `None`: the bundled ml-latest-small catalog when
    /// found, else the built-in sample.
    #[serde(deserialize_with = "de::some")]
    pub movies: Option<String>,
    /// Records larger than this many bytes are rejected as oversized.
    #[serde(deserialize_with = "de::from_str")]
    pub max_record_bytes: usize,
    /// Ratings whose event time is further ahead of the wall clock than this many seconds are
    /// rejected (`future_timestamp`) and never move the watermark; `None`: no bound (synthetic
    /// streams that run ahead on purpose). One day by default.
    #[serde(
        rename = "max_event_time_ahead",
        deserialize_with = "de::seconds_or_off"
    )]
    pub max_event_time_ahead_seconds: Option<i64>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            tumbling_seconds: 60,
            sliding_size_seconds: 300,
            sliding_slide_seconds: 60,
            windows: None,
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
        anyhow::ensure!(self.top_n > 0, "top_n must be at least 1");
        Ok(EngineConfig {
            windows: self.window_specs()?,
            watermark_delay: self.watermark_delay_seconds,
            top_n: self.top_n,
            mode: self.output_mode,
        })
    }

    /// The window types: `windows` when given (then `tumbling` and `sliding_*` must be left at
    /// their defaults), else the tumbling and the sliding window.
    fn window_specs(&self) -> anyhow::Result<Vec<WindowSpec>> {
        let defaults = EngineSettings::default();
        let pair = (
            self.tumbling_seconds,
            self.sliding_size_seconds,
            self.sliding_slide_seconds,
        );
        let default_pair = (
            defaults.tumbling_seconds,
            defaults.sliding_size_seconds,
            defaults.sliding_slide_seconds,
        );
        if let Some(windows) = &self.windows {
            anyhow::ensure!(
                pair == default_pair,
                "give the windows either as `windows` ({}) or as `tumbling`, `sliding_size` and \
                 `sliding_slide`, not both",
                windows
                    .iter()
                    .map(WindowSpec::name)
                    .collect::<Vec<_>>()
                    .join(",")
            );
            return Ok(windows.clone());
        }
        let tumbling = WindowSpec::tumbling(self.tumbling_seconds)?;
        let sliding = WindowSpec::sliding(self.sliding_size_seconds, self.sliding_slide_seconds)?;
        anyhow::ensure!(
            tumbling != sliding,
            "the sliding window ({}) equals the tumbling window; give it a slide smaller than its size",
            sliding.name()
        );
        Ok(vec![tumbling, sliding])
    }
}

/// The format of a bounded file, as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// `.csv` files are MovieLens CSV, anything else JSON lines.
    #[default]
    Auto,
    Json,
    Csv,
}

/// The bounded file mode (`input` set) and its outputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FileSettings {
    /// The bounded input file; `None`: the Kafka mode.
    #[serde(deserialize_with = "de::some")]
    pub input: Option<PathBuf>,
    pub format: InputFormat,
    /// One JSON object per emitted window; `-` is standard output.
    #[serde(deserialize_with = "de::from_str")]
    pub metrics_file: PathBuf,
    #[serde(deserialize_with = "de::some")]
    pub dead_letter_file: Option<PathBuf>,
    #[serde(deserialize_with = "de::some")]
    pub late_file: Option<PathBuf>,
    #[serde(deserialize_with = "de::from_str")]
    pub batch_size: usize,
    /// At the end of the input (or of the topics, with `exit_at_end`), keep open windows.
    #[serde(deserialize_with = "de::from_str")]
    pub no_final_flush: bool,
}

impl Default for FileSettings {
    fn default() -> Self {
        FileSettings {
            input: None,
            format: InputFormat::Auto,
            metrics_file: "-".into(),
            dead_letter_file: None,
            late_file: None,
            batch_size: 1000,
            no_final_flush: false,
        }
    }
}

impl FileSettings {
    /// The bounded file job of `path`.
    pub fn job(&self, path: &std::path::Path) -> FileJob {
        FileJob {
            path: path.to_path_buf(),
            format: match self.format {
                InputFormat::Auto => Format::for_path(path),
                InputFormat::Json => Format::Json,
                InputFormat::Csv => Format::MovieLensCsv,
            },
            metrics_file: self.metrics_file.clone(),
            dead_letter_file: self.dead_letter_file.clone(),
            late_file: self.late_file.clone(),
            batch_size: self.batch_size,
            final_flush: !self.no_final_flush,
        }
    }
}

/// The Parquet outputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ParquetSettings {
    /// Base URL (`file:///dir` or a folder, `hdfs://nn:port/dir`, `s3://bucket/dir`); `None`:
    /// no Parquet.
    #[serde(deserialize_with = "de::some")]
    pub storage: Option<String>,
    /// A file is published once it reaches this many bytes.
    #[serde(deserialize_with = "de::byte_size")]
    pub roll_size: usize,
    /// … or once it has been open this long.
    #[serde(with = "duration_text")]
    pub roll_interval: Duration,
    /// Writer id in file names (`part-<writer>-<run>-<n>.parquet`), unique per processor.
    #[serde(deserialize_with = "de::string")]
    pub writer_id: String,
    /// Folders of files, or Delta Lake tables.
    pub table_format: TableFormat,
    /// Delta: once an hour is closed, its files smaller than this are rewritten into files of
    /// up to this size (0, "off": never on their own).
    #[serde(deserialize_with = "de::byte_size_or_off")]
    pub compaction_target: usize,
    /// Delta: after a compaction, files removed from the table longer ago than this are
    /// deleted (zero, "off": never on their own).
    #[serde(deserialize_with = "de::duration_or_off")]
    pub vacuum_retention: Duration,
}

/// How the outputs' files are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Hive-partitioned folders; `_SUCCESS` marks a complete hour.
    #[default]
    Parquet,
    /// Delta Lake tables: files are part of a table once a commit of its log adds them.
    Delta,
}

impl Default for ParquetSettings {
    fn default() -> Self {
        ParquetSettings {
            storage: None,
            roll_size: 128 << 20,
            roll_interval: Duration::from_secs(300),
            writer_id: "0".into(),
            table_format: TableFormat::Parquet,
            compaction_target: 64 << 20,
            vacuum_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Progress reports, Prometheus and the summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// How often a progress report is logged (Kafka mode).
    #[serde(with = "duration_text")]
    pub progress_interval: Duration,
    /// Progress as JSON objects (the fields of Spark's StreamingQueryProgress).
    #[serde(deserialize_with = "de::from_str")]
    pub progress_json: bool,
    /// Address of the Prometheus `/metrics` endpoint (Kafka mode); `None` ("off"): off. Port 0
    /// picks a free port (the bound address is logged).
    #[serde(deserialize_with = "de::text_or_off")]
    pub metrics_address: Option<String>,
    /// Where to write the final counters as JSON.
    #[serde(deserialize_with = "de::some")]
    pub summary_file: Option<PathBuf>,
    /// Progress lines warn while the state holds more per-movie rows than this (`None`: never).
    #[serde(deserialize_with = "de::count_or_off")]
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

/// The live dashboard: where it listens, what it keeps, who may open it, what it watches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DashboardSettings {
    /// `run` in the Kafka mode: also serve the dashboard on this address.
    #[serde(deserialize_with = "de::some")]
    pub dashboard: Option<String>,
    /// Where `ratings-stream dashboard` listens.
    #[serde(rename = "dashboard_listen", deserialize_with = "de::string")]
    pub listen: String,
    /// How much history it reads and keeps.
    #[serde(rename = "dashboard_history", with = "duration_text")]
    pub history: Duration,
    #[serde(flatten)]
    pub access: DashboardAccess,
    #[serde(flatten)]
    pub watch: DashboardWatch,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        DashboardSettings {
            dashboard: None,
            listen: "127.0.0.1:8080".into(),
            history: Duration::from_secs(24 * 3600),
            access: DashboardAccess::default(),
            watch: DashboardWatch::default(),
        }
    }
}

/// Who may open the dashboard.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DashboardAccess {
    /// The bearer token the page and the API require (a secret).
    #[serde(rename = "dashboard_token", deserialize_with = "de::some")]
    pub token: Option<String>,
    /// A file holding the token (first line).
    #[serde(rename = "dashboard_token_file", deserialize_with = "de::some")]
    pub token_file: Option<PathBuf>,
    /// Host names the dashboard answers to besides IP addresses and localhost.
    #[serde(rename = "dashboard_allowed_hosts", deserialize_with = "de::list")]
    pub allowed_hosts: Vec<String>,
    /// Serve without a token beyond this machine, on purpose.
    #[serde(rename = "dashboard_open", deserialize_with = "de::from_str")]
    pub open: bool,
}

/// What the dashboard watches besides the windows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DashboardWatch {
    /// Prometheus endpoints to scrape (their URLs may hold credentials).
    #[serde(rename = "dashboard_scrape", deserialize_with = "de::list")]
    pub scrape: Vec<String>,
    #[serde(rename = "dashboard_scrape_interval", with = "duration_text")]
    pub scrape_interval: Duration,
    /// Alert rules as JSON (`[[alerts.rules]]` in the file).
    #[serde(deserialize_with = "de::json")]
    pub alert_rules: Option<String>,
}

impl Default for DashboardWatch {
    fn default() -> Self {
        DashboardWatch {
            scrape: Vec::new(),
            scrape_interval: Duration::from_secs(5),
            alert_rules: None,
        }
    }
}

/// How log lines are written on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}
