//! Helpers of the dashboard tests: window records as a processor publishes them, a producer of
//! them to a topic of the test broker, and `ratings-stream dashboard` as a child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

use super::process::{spawn, Spawned};
use super::{bootstrap, ratings_stream, temp_dir, unique_name};

/// The token of the tests that set one (ignored by a dashboard without one).
pub const TOKEN: &str = "t0ken";

/// The titles the test windows' top movies have, most rated first.
pub const TITLES: [&str; 3] = ["Toy Story (1995)", "Heat (1995)", "Jumanji (1995)"];

/// A window record like a processor's: `count` ratings (all 4.0 stars except one 2.5),
/// three top movies, two genres, published at `published_ms`.
pub fn window(kind: &str, start: i64, count: u64, published_ms: i64) -> Value {
    let minutes = if kind == "sliding" { 5 } else { 1 };
    let time = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let mut histogram = [0u64; 10];
    histogram[7] = count - 1;
    histogram[4] = 1;
    let top: Vec<Value> = TITLES
        .iter()
        .enumerate()
        .map(|(i, title)| json!({"movieId": i + 1, "title": title, "count": 3 - i as u64, "avg_rating": 4.0}))
        .collect();
    json!({
        "window_start": time(start),
        "window_end": time(start + minutes * 60),
        "window_type": if kind == "sliding" { "sliding_5min_1min" } else { "tumbling_1min" },
        "count": count,
        "avg_rating": (4.0 * (count - 1) as f64 + 2.5) / count as f64,
        "p50_rating": 4.0,
        "p95_rating": 4.0,
        "rating_histogram": histogram,
        "top_movies": top,
        "metrics_by_genre": [
            {"genre": "Comedy", "count": count, "avg_rating": 3.9},
            {"genre": "Drama", "count": count / 2, "avg_rating": 4.1},
        ],
        "final": true,
        "processing_time": chrono::DateTime::from_timestamp_millis(published_ms).unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// The wall clock, epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Writes records (values) to a topic of the test broker.
pub struct Records {
    producer: ThreadedProducer<DefaultProducerContext>,
    pub topic: String,
}

impl Records {
    /// A new topic of 3 partitions named after `test`.
    pub fn new_topic(test: &str) -> Records {
        let topic = unique_name(test);
        ratings_connectors::kafka::ensure_topics(&super::kafka_settings(), &[(topic.as_str(), 3)])
            .unwrap();
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .create()
            .unwrap();
        Records { producer, topic }
    }

    /// Sends the values and waits until the broker has them.
    pub fn send(&self, values: &[String]) {
        for value in values {
            self.producer
                .send(BaseRecord::<(), String>::to(&self.topic).payload(value))
                .unwrap();
        }
        self.producer.flush(Duration::from_secs(10)).unwrap();
    }
}

/// A `ratings-stream dashboard` process.
pub struct DashboardProcess {
    pub child: Spawned,
    pub url: String,
    pub log: PathBuf,
}

impl DashboardProcess {
    /// Starts a dashboard of `topic` on `listen` with `extra` options; waits for its URL and
    /// for its history to be read.
    pub fn start(topic: &str, listen: &str, extra: &[&str]) -> DashboardProcess {
        let broker = bootstrap();
        let mut args = vec!["dashboard", "--metrics-topic", topic, "--listen", listen];
        args.extend(["--bootstrap-servers", &broker]);
        args.extend_from_slice(extra);
        let dashboard = DashboardProcess::spawn(&args);
        dashboard.wait_backfilled(Duration::from_secs(30));
        dashboard
    }

    /// Runs `ratings-stream` with `args` (a command serving a dashboard); waits for its URL.
    pub fn spawn(args: &[&str]) -> DashboardProcess {
        let log = temp_dir(&unique_name("dashboard")).join("dashboard.log");
        let child = spawn(
            ratings_stream()
                .args(args)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap()),
        );
        let url = url_in_log(&log, Duration::from_secs(30));
        DashboardProcess { child, url, log }
    }

    /// Waits until `/api/status` satisfies `ready`; returns it.
    pub fn wait_status(
        &self,
        within: Duration,
        what: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        super::poll(within, || {
            let (_, status) = self.get_json("/api/status");
            if ready(&status) {
                return Ok(status);
            }
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            Err(format!("{what}: {status}\n{log}"))
        })
    }

    /// GET `path` (with the query) and its status and body, with the tests' token in its
    /// header (a dashboard without a token ignores it).
    pub fn get(&self, path: &str) -> (u16, String) {
        http(
            &format!("{}{}", self.url, path.trim_start_matches('/')),
            Some(&format!("Bearer {TOKEN}")),
        )
    }

    /// GET `path` as JSON (any status).
    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get(path);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    fn wait_backfilled(&self, within: Duration) {
        self.wait_status(within, "history never read", |s| {
            s["feed"]["backfilled"] == true
        });
    }

    /// Kills the process at once (SIGKILL).
    pub fn kill(mut self) {
        self.child.kill();
    }
}

/// The dashboard URL its log names (`dashboard: http://…/`).
fn url_in_log(log: &Path, within: Duration) -> String {
    super::poll(within, || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines()
            .find_map(|l| l.split("dashboard: ").nth(1))
            .map(|url| url.trim_end_matches("#token=…").trim().to_string())
            .ok_or_else(|| format!("no dashboard URL in the log: {text}"))
    })
}

/// A GET with an optional `Authorization` header: status and body (any status).
pub fn http(url: &str, authorization: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let mut response = request.call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// A request with a body (`POST`, `DELETE`): status and body.
pub fn send(method: &str, url: &str, body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = match method {
        "POST" => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body),
        "DELETE" => agent.delete(url).call(),
        _ => panic!("method {method}"),
    }
    .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}
