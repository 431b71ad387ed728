//! High availability against the real broker: the lease (a one-partition topic's consumer
//! group) goes to one member at a time and moves to a standby when the holder leaves or stops
//! heartbeating.

mod common;

use std::time::{Duration, Instant};

use ratings_connectors::kafka::{Lease, LeaseSettings};

fn lease_settings(test: &str) -> LeaseSettings {
    let name = common::unique_name(test);
    LeaseSettings {
        topic: format!("{name}-lease"),
        group: format!("{name}-lease"),
        session_timeout: Duration::from_secs(6),
    }
}

/// Waits until `held` says true; how long that took.
fn until(what: &str, within: Duration, held: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !held() {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

#[test]
fn the_lease_goes_to_one_member_and_moves_when_it_leaves() {
    let settings = common::kafka_settings();
    let lease = lease_settings("lease");
    let first = Lease::join(&settings, &lease).unwrap();
    until(
        "the first member holds the lease",
        Duration::from_secs(30),
        || first.held(),
    );
    let second = Lease::join(&settings, &lease).unwrap();
    let third = Lease::join(&settings, &lease).unwrap();
    std::thread::sleep(Duration::from_secs(3)); // the group has rebalanced by now
    assert!(first.held(), "the holder keeps the lease when members join");
    assert!(!second.held() && !third.held(), "one holder at a time");
    let revoked = first.revoked();
    assert!(!revoked.load(std::sync::atomic::Ordering::SeqCst));

    drop(first); // a clean stop leaves the group at once
    let took = until("a standby holds the lease", Duration::from_secs(10), || {
        second.held() || third.held()
    });
    assert!(
        revoked.load(std::sync::atomic::Ordering::SeqCst),
        "the former holder's flag says revoked"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(second.held() != third.held(), "exactly one holder");
    eprintln!("lease moved {took:?} after the holder left");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn a_lease_topic_with_more_partitions_is_refused() {
    let settings = common::kafka_settings();
    let lease = lease_settings("lease-partitions");
    ratings_connectors::kafka::ensure_topics(&settings, &[(lease.topic.as_str(), 3)]).unwrap();
    let error = Lease::join(&settings, &lease).err().expect("refused");
    assert!(
        error
            .to_string()
            .contains("has 3 partitions: it needs exactly one"),
        "{error:#}"
    );
}
