//! The broker goes away and comes back while the processor runs (exactly-once): the processor
//! keeps waiting (reporting the errors in progress lines and metrics), reconnects, and its
//! committed outputs end up equal to those of an uninterrupted run.
//! This is its own test binary because it stops and restarts the shared broker
//! (`scripts/kafka.sh`); cargo runs test binaries one after another.

use std::time::Duration;

mod common;
use common::eos::{input_topic, run_through_outage, wait_until, Outputs};

fn kafka_script(action: &str) {
    common::service_script("kafka", action);
}

#[test]
fn a_broker_restart_changes_no_output() {
    let input = input_topic("eos-broker");
    let (tested, reference) = (
        Outputs::new(&input, "restarted"),
        Outputs::new(&input, "reference"),
    );
    let log = run_through_outage(&input, &tested, &reference, 30_000, |port, _| {
        kafka_script("stop");
        // the processor keeps reporting while it waits for the broker
        wait_until(
            port,
            "ratings_stream_kafka_errors_total",
            1.0,
            Duration::from_secs(30),
        );
        kafka_script("start");
    });
    assert!(
        log.contains("Kafka errors"),
        "the outage shows in the progress lines: {log}"
    );
}
