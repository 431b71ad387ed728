//! The broker goes away and comes back while the processor runs (exactly-once): the processor
//! keeps waiting (reporting the errors in progress lines and metrics), reconnects, and its
//! committed outputs end up equal to those of an uninterrupted run.
//! A standby that cannot reach the broker says so, keeps retrying and never takes the lease;
//! once the broker is back it takes the lease and does the job.
//! This is its own test binary because it stops and restarts the shared broker
//! (`scripts/kafka.sh`); cargo runs test binaries one after another.

use std::time::Duration;

mod common;
use common::eos::{
    assert_same_outputs, input_topic, run_through_outage, start_generator, wait_until, Outputs,
};

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

#[test]
fn a_standby_without_the_broker_says_so_and_takes_over_once_it_is_back() {
    let input = input_topic("ha-broker");
    let tested = Outputs::new(&input, "standby").with(&["--standby"]);
    let reference = Outputs::new(&input, "reference");
    assert!(start_generator(&input, 5_000).wait().unwrap().success());
    kafka_script("stop");
    let log = tested.dir.join("standby.log");
    let mut standby = tested.spawn(&input, &log, &["--exit-at-end"]);
    std::thread::sleep(Duration::from_secs(15));
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    let exited = standby.try_wait().unwrap();
    kafka_script("start"); // before asserting: a failure must not leave the broker stopped
    assert!(exited.is_none(), "the standby exited: {said}");
    let retries = said
        .lines()
        .filter(|l| l.contains("cannot take over") && l.contains(&common::bootstrap()))
        .count();
    assert!(retries >= 2, "it says why, again and again: {said}");
    assert!(!said.contains("high availability: active"), "{said}");

    // the broker is back: it takes the lease and reads the input to its end
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = standby.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(200));
    };
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{said}");
    assert!(said.contains("high availability: active"), "{said}");
    reference.run_to_end(&input);
    assert_same_outputs(&tested, &reference);
}
