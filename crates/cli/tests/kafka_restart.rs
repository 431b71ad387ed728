//! The broker goes away and comes back while the processor runs: the processor keeps waiting
//! (reporting the errors), reconnects, and processes everything once the broker is back.
//! This is its own test binary because it stops and restarts the shared broker
//! (`scripts/kafka.sh`); cargo runs test binaries one after another.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ratings_connectors::kafka::{ensure_topics, KafkaSource, Producer, Start, StartFrom};

mod common;
use common::{free_port, kafka_settings, stop_with_sigterm, wait_for_metric};

const B: i64 = 1_699_999_980;

fn kafka_script(action: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka.sh");
    let status = Command::new("bash")
        .arg(script)
        .arg(action)
        .status()
        .unwrap();
    assert!(status.success(), "scripts/kafka.sh {action} failed");
}

fn produce(topic: &str, times: impl Iterator<Item = i64>) {
    let producer = Producer::connect(&kafka_settings()).unwrap();
    for t in times {
        let record = format!(
            r#"{{"userId":{},"movieId":1,"rating":4.0,"timestamp":{t}}}"#,
            t % 97 + 1
        );
        producer
            .send(topic, Some(t.to_string().as_bytes()), record.as_bytes())
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

#[test]
fn processor_survives_a_broker_restart() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = |kind: &str| format!("restart-{kind}-{nanos}");
    let (ratings, metrics, dead) = (name("ratings"), name("metrics"), name("dead"));
    ensure_topics(
        &kafka_settings(),
        &[(&ratings, 3), (&metrics, 3), (&dead, 3)],
    )
    .unwrap();
    produce(&ratings, B..B + 100);

    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let bootstrap = kafka_settings().bootstrap_servers;
    let child = Command::new(env!("CARGO_BIN_EXE_ratings-stream"))
        .args([
            "run",
            "--bootstrap-servers",
            &bootstrap,
            "--ratings-topic",
            &ratings,
            "--metrics-topic",
            &metrics,
            "--dead-letter-topic",
            &dead,
            "--group-id",
            &name("group"),
            "--metrics-address",
            &address,
            "--progress-interval",
            "2s",
            "--commit-interval",
            "1s",
            "--checkpoint-storage",
            common::temp_dir("restart-checkpoint").to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_metric(
        port,
        "ratings_stream_records_in_total 100",
        Duration::from_secs(60),
    );

    kafka_script("stop");
    std::thread::sleep(Duration::from_secs(3));
    wait_for_metric(
        port,
        "ratings_stream_kafka_errors_total",
        Duration::from_secs(30),
    );
    kafka_script("start");

    produce(&ratings, B + 100..B + 200);
    wait_for_metric(
        port,
        "ratings_stream_records_in_total 200",
        Duration::from_secs(120),
    );
    // then one rating far ahead, read after all the others, makes every window before it final
    produce(&ratings, [B + 2000].into_iter());
    let body = wait_for_metric(
        port,
        "ratings_stream_records_in_total 201",
        Duration::from_secs(60),
    );
    assert!(
        body.contains("ratings_stream_records_late_total 0"),
        "{body}"
    );
    let stderr = stop_with_sigterm(child);
    assert!(
        stderr.contains("Kafka errors"),
        "the outage shows in the progress lines: {stderr}"
    );

    let mut reader = KafkaSource::connect(
        &kafka_settings(),
        &metrics,
        &name("reader"),
        &Start::At(StartFrom::Earliest),
    )
    .unwrap();
    let mut tumbling_total = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reader.all_at_end() {
        assert!(Instant::now() < deadline);
        reader
            .poll(|r| {
                let w: serde_json::Value = serde_json::from_slice(r.payload)?;
                if w["window_type"] == "tumbling_1min" {
                    tumbling_total += w["count"].as_u64().unwrap();
                }
                Ok(None)
            })
            .unwrap();
    }
    assert_eq!(
        tumbling_total, 200,
        "every rating before and after the outage is in a final window"
    );
}
