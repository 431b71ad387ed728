//! The broker goes away and comes back while the processor runs (exactly-once): the processor
//! keeps waiting (reporting the errors in progress lines and metrics), reconnects, and its
//! committed outputs end up equal to those of an uninterrupted run.
//! A standby that cannot reach the broker says so, keeps retrying and never takes the lease;
//! once the broker is back it takes the lease and does the job.
//! This is its own test binary because it stops and restarts the shared broker
//! (`scripts/kafka.sh`); cargo runs test binaries one after another, and the tests here take
//! turns.

use std::sync::Mutex;
use std::time::Duration;

mod common;
use common::eos::{
    assert_same_outputs, input_topic, run_through_outage, start_generator, wait_until, Outputs,
};
use common::ServiceAway;

/// Held by the test that stops the broker.
static BROKER: Mutex<()> = Mutex::new(());

#[test]
fn a_broker_restart_changes_no_output() {
    let _turn = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let input = input_topic("eos-broker");
    let (tested, reference) = (
        Outputs::new(&input, "restarted"),
        Outputs::new(&input, "reference"),
    );
    let log = run_through_outage(&input, &tested, &reference, 30_000, |port, _| {
        let away = ServiceAway::stop("kafka");
        // the processor keeps reporting while it waits for the broker
        wait_until(
            port,
            "ratings_stream_kafka_errors_total",
            1.0,
            Duration::from_secs(60),
        );
        away.start();
    });
    assert!(
        log.contains("Kafka errors"),
        "the outage shows in the progress lines: {log}"
    );
}

#[test]
fn a_standby_without_the_broker_says_so_and_takes_over_once_it_is_back() {
    let _turn = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let input = input_topic("ha-broker");
    let tested = Outputs::new(&input, "standby").with(&["--standby"]);
    let reference = Outputs::new(&input, "reference");
    assert!(start_generator(&input, 5_000).wait().success());
    let away = ServiceAway::stop("kafka");
    let log = tested.dir.join("standby.log");
    let mut standby = tested.spawn(&input, &log, &["--exit-at-end"]);
    // it says why it cannot take over, again and again, and stays a standby meanwhile
    common::poll(Duration::from_secs(120), || {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(standby.try_wait().is_none(), "the standby exited: {said}");
        assert!(!said.contains("high availability: active"), "{said}");
        let retries = said
            .lines()
            .filter(|l| l.contains("cannot take over") && l.contains(&common::bootstrap()))
            .count();
        if retries >= 2 {
            Ok(())
        } else {
            Err(format!("it never said why twice: {said}"))
        }
    });
    away.start();

    // the broker is back: it takes the lease and reads the input to its end
    let status = common::poll(Duration::from_secs(120), || {
        standby
            .try_wait()
            .ok_or_else(|| "still running".to_string())
    });
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{said}");
    assert!(said.contains("high availability: active"), "{said}");
    reference.run_to_end(&input);
    assert_same_outputs(&tested, &reference);
}
