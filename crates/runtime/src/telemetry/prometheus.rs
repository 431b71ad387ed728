//! Prometheus metrics, read at scrape time by one collector: the main loop publishes its latest
//! [`Reading`] (every second), and the Kafka clients' and the storage's error counts are read
//! live from their health, so they move even while the main loop is blocked waiting for a
//! broker or a storage that is away. Counters carry on across an in-process restart of the job.

use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use ratings_connectors::kafka::Health;
use ratings_connectors::storage::Storage;
use ratings_httpd::{Limits, Method, Request, Response, Server};

use super::latency::OutputLatency;
use super::Reading;
use crate::pipeline::now_millis;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

/// The processor's metrics: a registry with one collector over [`Shared`], and the output
/// latency histogram.
pub(crate) struct Metrics {
    registry: Registry,
    shared: Arc<Shared>,
    latency: Arc<OutputLatency>,
    epochs: Counter,
    active: Gauge,
    takeovers: Counter,
    /// When this processor last took the high-availability lease (Unix millis), while it holds
    /// it.
    active_since: Mutex<Option<i64>>,
}

/// What the collector reads.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ratings-stream metrics")
    }
}

#[derive(Default)]
struct State {
    /// The job's latest reading.
    reading: Reading,
    /// Counts reached by earlier jobs of this process (a redo restarts the job).
    earlier: Reading,
    kafka: Vec<Arc<Health>>,
    storage: Option<Arc<Storage>>,
    /// Errors and retries of clients that were replaced.
    earlier_kafka_errors: u64,
    earlier_storage_retries: u64,
}

impl State {
    fn kafka_errors(&self) -> u64 {
        self.earlier_kafka_errors + self.kafka.iter().map(|h| h.errors()).sum::<u64>()
    }

    fn storage_retries(&self) -> u64 {
        self.earlier_storage_retries + self.storage.as_ref().map_or(0, |s| s.health().retries)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let shared = Arc::new(Shared::default());
        let mut registry = Registry::with_prefix("ratings_stream");
        registry.register_collector(Box::new(Arc::clone(&shared)));
        let latency = Arc::new(OutputLatency::default());
        registry.register(
            "output_latency_seconds",
            "From a window becoming final to its record being readable (exactly-once: its \
             transaction committed; at-least-once: acknowledged by the broker)",
            latency.histogram(),
        );
        let epochs = Counter::default();
        registry.register(
            "epochs_committed",
            "Exactly-once epochs committed (by the commit interval or record cap, or because \
             windows became final)",
            epochs.clone(),
        );
        let active = Gauge::default();
        registry.register(
            "active",
            "1 while this processor runs the job; 0 while it stands by (high availability)",
            active.clone(),
        );
        let takeovers = Counter::default();
        registry.register(
            "takeovers",
            "Times this processor took the high-availability lease and became the active one",
            takeovers.clone(),
        );
        Metrics {
            registry,
            shared,
            latency,
            epochs,
            active,
            takeovers,
            active_since: Mutex::default(),
        }
    }
}

impl Metrics {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().expect("metrics state")
    }

    /// The output latency, observed by the delivery.
    pub(crate) fn latency(&self) -> &Arc<OutputLatency> {
        &self.latency
    }

    /// Counts an epoch committed.
    pub(crate) fn epoch_committed(&self) {
        self.epochs.inc();
    }

    /// Whether this processor runs the job (1) or stands by (0).
    pub(crate) fn set_active(&self, active: bool) {
        self.active.set(i64::from(active));
        if !active {
            *self.active_since.lock().expect("active since") = None;
        }
    }

    /// Counts a takeover of the lease, which happened now.
    pub(crate) fn took_over(&self) {
        self.takeovers.inc();
        *self.active_since.lock().expect("active since") = Some(crate::pipeline::now_millis());
    }

    /// When this processor took the lease it holds (Unix millis); `None` without high
    /// availability or while standing by.
    pub(crate) fn active_since(&self) -> Option<i64> {
        *self.active_since.lock().expect("active since")
    }

    /// Publishes the job's latest reading.
    pub(crate) fn publish(&self, reading: Reading) {
        self.state().reading = reading;
    }

    /// A new job (after a redo) starts counting from zero: keep what the last one counted.
    pub(crate) fn new_job(&self) {
        let mut state = self.state();
        let last = std::mem::take(&mut state.reading);
        let earlier = &mut state.earlier;
        earlier.records += last.records;
        earlier.late += last.late;
        earlier.windows_out += last.windows_out;
        add_by_reason(&mut earlier.invalid_by_reason, &last.invalid_by_reason);
    }

    /// Reads the errors of these Kafka clients from now on.
    pub(crate) fn watch_kafka(&self, clients: Vec<Arc<Health>>) {
        let mut state = self.state();
        state.earlier_kafka_errors = state.kafka_errors();
        state.kafka = clients;
    }

    /// Reads the retries of `storage` from now on.
    pub(crate) fn watch_storage(&self, storage: Arc<Storage>) {
        let mut state = self.state();
        state.earlier_storage_retries = state.storage_retries();
        state.storage = Some(storage);
    }

    /// The text exposition format.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

impl Collector for Shared {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = self.state.lock().expect("metrics state");
        let (now, earlier) = (&state.reading, &state.earlier);
        let counters = [
            (
                "records_in",
                "Input records read",
                now.records + earlier.records,
            ),
            (
                "records_late",
                "Valid ratings that reached no window (late data)",
                now.late + earlier.late,
            ),
            (
                "windows_out",
                "Window results published",
                now.windows_out + earlier.windows_out,
            ),
            (
                "kafka_errors",
                "Kafka client errors (broker unreachable, ...)",
                state.kafka_errors(),
            ),
            (
                "storage_retries",
                "Failed storage operations of the Parquet outputs and checkpoint (each retried)",
                state.storage_retries(),
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        encode_invalid(&mut encoder, now, earlier)?;
        let mut gauges = vec![
            (
                "open_windows",
                "Windows holding data and not emitted yet",
                now.open_windows as i64,
            ),
            (
                "state_rows",
                "Per-movie rows held in pane state",
                now.state_rows as i64,
            ),
        ];
        if let Some(watermark) = now.watermark {
            gauges.push((
                "watermark_seconds",
                "Event-time watermark, epoch seconds",
                watermark,
            ));
            let delay = ConstGauge::new(now_millis() as f64 / 1000.0 - watermark as f64);
            delay.encode(encoder.encode_descriptor(
                "watermark_delay_seconds",
                "Wall clock minus the watermark",
                None,
                delay.metric_type(),
            )?)?;
        }
        if let Some(lag) = now.lag {
            gauges.push((
                "consumer_lag_records",
                "Records in the input topic not read yet",
                lag,
            ));
        }
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// `records_invalid{reason}`: every reason seen by this job or an earlier one.
fn encode_invalid(
    encoder: &mut DescriptorEncoder,
    now: &Reading,
    earlier: &Reading,
) -> Result<(), std::fmt::Error> {
    let mut totals = earlier.invalid_by_reason.clone();
    add_by_reason(&mut totals, &now.invalid_by_reason);
    let mut family = encoder.encode_descriptor(
        "records_invalid",
        "Input records rejected, by reason",
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (reason, count) in totals {
        let label = ReasonLabel { reason };
        ConstCounter::new(count).encode(family.encode_family(&label)?)?;
    }
    Ok(())
}

/// Adds counts by reason to `totals`.
fn add_by_reason(totals: &mut Vec<(String, u64)>, counts: &[(String, u64)]) {
    for (reason, count) in counts {
        match totals.iter_mut().find(|(r, _)| r == reason) {
            Some((_, total)) => *total += count,
            None => totals.push((reason.clone(), *count)),
        }
    }
}

/// The Prometheus endpoint cannot listen on its address (taken, or not this machine's).
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address} for /metrics")]
pub struct MetricsListen {
    pub address: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Serves `GET /metrics` on `address` from a background thread, within the limits of
/// [`ratings_httpd`], until the returned server is dropped. A scraper that asks for OpenMetrics
/// (Prometheus does) gets it; any other client gets the Prometheus text format.
pub(crate) fn serve(metrics: Arc<Metrics>, address: &str) -> anyhow::Result<Server> {
    let answer = move |request: Request| match (&request.method, request.path.as_str()) {
        (&Method::GET | &Method::HEAD, "/metrics") => {
            let text = metrics.encode();
            let accept = request.header("accept").unwrap_or_default();
            if accept.contains("application/openmetrics-text") {
                Response::new(200, OPENMETRICS, text)
            } else {
                Response::new(200, TEXT_FORMAT, text_format(&text))
            }
        }
        _ => Response::text(404, "see /metrics\n"),
    };
    ratings_httpd::serve("metrics-http", address, Limits::default(), answer).map_err(|error| {
        MetricsListen {
            address: address.to_string(),
            source: error.into(),
        }
        .into()
    })
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The Prometheus text format of an OpenMetrics exposition: a counter's help and type name its
/// samples (`x_total`), and the lines the older format lacks (`# UNIT`, `# EOF`) are left out.
fn text_format(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match described {
            Some(renamed) => text += &renamed,
            None => text += line,
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn counters_carry_on_across_jobs_and_kafka_errors_are_read_live() {
        let metrics = Metrics::default();
        let health = Arc::new(Health::default());
        metrics.watch_kafka(vec![Arc::clone(&health)]);
        metrics.publish(Reading {
            records: 10,
            invalid_by_reason: vec![("invalid_json".into(), 2)],
            watermark: Some(1_700_000_000),
            ..Reading::default()
        });
        health.note_error("broker down");
        let text = metrics.encode();
        let older = text_format(&text);
        assert!(older.contains("# HELP ratings_stream_records_in_total Input records read\n"));
        assert!(older.contains("# TYPE ratings_stream_records_in_total counter\n"));
        assert!(older.contains("# TYPE ratings_stream_active gauge\n"));
        assert!(
            text.ends_with("# EOF\n") && !older.contains("# EOF"),
            "{older}"
        );
        assert_eq!(
            value(&text, "ratings_stream_records_in_total"),
            Some(10.0),
            "{text}"
        );
        assert_eq!(
            value(&text, "ratings_stream_kafka_errors_total"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(&text, "ratings_stream_watermark_seconds"),
            Some(1.7e9),
            "{text}"
        );
        assert!(
            text.contains("ratings_stream_records_invalid_total{reason=\"invalid_json\"} 2"),
            "{text}"
        );
        assert!(
            !text.contains("consumer_lag_records "),
            "unknown lag is left out: {text}"
        );

        metrics.new_job();
        metrics.watch_kafka(vec![Arc::new(Health::default())]);
        metrics.publish(Reading {
            records: 3,
            invalid_by_reason: vec![("invalid_json".into(), 1)],
            ..Reading::default()
        });
        let text = metrics.encode();
        assert_eq!(
            value(&text, "ratings_stream_records_in_total"),
            Some(13.0),
            "{text}"
        );
        assert_eq!(
            value(&text, "ratings_stream_kafka_errors_total"),
            Some(1.0),
            "{text}"
        );
        assert!(
            text.contains("ratings_stream_records_invalid_total{reason=\"invalid_json\"} 3"),
            "{text}"
        );
    }

    /// `GET /metrics` with `accept` on a real server on 127.0.0.1: the whole answer.
    fn scrape(server: &Server, accept: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(server.address()).unwrap();
        let request =
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{accept}\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn prometheus_gets_openmetrics_and_other_clients_the_text_format() {
        let metrics = Arc::new(Metrics::default());
        let server = serve(Arc::clone(&metrics), "127.0.0.1:0").unwrap();
        let prometheus = scrape(
            &server,
            "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n",
        );
        assert!(
            prometheus.contains("content-type: application/openmetrics-text"),
            "{prometheus}"
        );
        assert!(prometheus.ends_with("# EOF\n"), "{prometheus}");
        let curl = scrape(&server, "");
        assert!(
            curl.contains("content-type: text/plain; version=0.0.4"),
            "{curl}"
        );
        assert!(
            curl.contains("# TYPE ratings_stream_records_in_total counter"),
            "{curl}"
        );
        assert!(!curl.contains("# EOF"), "{curl}");
    }
}
