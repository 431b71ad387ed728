//! The high-availability lease, on Kafka's own group coordination: processors of one job join
//! a consumer group on a one-partition lease topic, and the member the group assigns that
//! partition to holds the lease (the active processor); the others stand by. A member that
//! stops heartbeating (killed, paused, cut off) loses the partition after the session timeout;
//! one that leaves (a clean stop) gives it up at once; either way the group hands it to a
//! standby. The lease says who should write; fencing (the transactional id) makes sure a
//! former holder cannot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;

use super::admin::ANSWER_WITHIN;
use super::health::{consumer_first_contact, Health, HealthContext};
use super::settings::KafkaSettings;

/// How often the member's thread serves the group protocol.
const POLL: Duration = Duration::from_millis(50);

/// Where and how fast the lease is held.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The one-partition topic (created when missing).
    pub topic: String,
    /// The consumer group of the members.
    pub group: String,
    /// A member silent this long loses the lease (the broker allows 6 s to 300 s by default).
    pub session_timeout: Duration,
}

impl LeaseSettings {
    /// Heartbeats: a third of the session timeout at most, and at least twice a second, so a
    /// standby learns of a rebalance (the holder left) within half a second.
    fn heartbeat(&self) -> Duration {
        (self.session_timeout / 3).min(Duration::from_millis(500))
    }
}

/// What the members' thread and the group's callbacks share.
#[derive(Debug, Default)]
struct Shared {
    held: AtomicBool,
    /// Lease assignments so far.
    acquired: AtomicU64,
    /// Since when the lease is held or not (changes with each assignment and revocation).
    since: Mutex<Option<Instant>>,
    /// Set as the lease is revoked or lost: the holder stops writing at once.
    revoked: Arc<AtomicBool>,
}

impl Shared {
    fn set(&self, held: bool) {
        if held {
            self.revoked.store(false, Ordering::SeqCst);
            self.acquired.fetch_add(1, Ordering::SeqCst);
        } else {
            self.revoked.store(true, Ordering::SeqCst);
        }
        self.held.store(held, Ordering::SeqCst);
        *self.since.lock().expect("not poisoned") = Some(Instant::now());
    }
}

/// The group's callbacks (incremental: each names only the partitions added or taken away,
/// and the lease topic has one): an assignment of the partition is the lease; its revocation,
/// or its loss (the session expired), ends it.
struct LeaseContext {
    shared: Arc<Shared>,
    /// The client's errors (the standby reports the last one).
    health: HealthContext,
}

impl ClientContext for LeaseContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.health.error(error, reason);
    }
}

impl ConsumerContext for LeaseContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            if partitions.count() > 0 {
                self.shared.set(false);
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            if partitions.count() > 0 {
                self.shared.set(true);
            }
        }
    }
}

/// A membership in the lease group, served by a thread of its own; leaving (drop) gives the
/// lease up at once.
pub struct Lease {
    shared: Arc<Shared>,
    health: Arc<Health>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Lease {
    /// Joins the lease group (creating the lease topic with one partition when missing).
    pub fn join(settings: &KafkaSettings, lease: &LeaseSettings) -> anyhow::Result<Lease> {
        let shared = Arc::new(Shared::default());
        let health = HealthContext::default();
        let session = lease.session_timeout.as_millis().to_string();
        let heartbeat = lease.heartbeat().as_millis().to_string();
        let consumer: BaseConsumer<LeaseContext> = settings
            .client_config(&[
                ("group.id", lease.group.as_str()),
                ("enable.auto.commit", "false"),
                ("session.timeout.ms", session.as_str()),
                ("heartbeat.interval.ms", heartbeat.as_str()),
                // incremental: members joining or leaving do not take the lease from its
                // holder (an eager rebalance would revoke it and hand it back)
                ("partition.assignment.strategy", "cooperative-sticky"),
            ])
            .create_with_context(LeaseContext {
                shared: Arc::clone(&shared),
                health: health.clone(),
            })
            .context("cannot create the lease consumer")?;
        consumer_first_contact(&consumer, &health.0, settings, None, ANSWER_WITHIN)?;
        super::ensure_topics(settings, &[(lease.topic.as_str(), 1)])
            .with_context(|| format!("cannot create the lease topic {}", lease.topic))?;
        let partitions = consumer
            .fetch_metadata(Some(&lease.topic), ANSWER_WITHIN)
            .with_context(|| format!("cannot read the lease topic {}", lease.topic))?
            .topics()
            .first()
            .map_or(0, |t| t.partitions().len());
        anyhow::ensure!(
            partitions == 1,
            "the lease topic {} has {partitions} partitions: it needs exactly one",
            lease.topic
        );
        consumer.subscribe(&[&lease.topic])?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("ha-lease".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        // lease records are never read: polling serves the group protocol
                        let _ = consumer.poll(POLL);
                    }
                    // dropping the consumer closes it: it leaves the group
                }
            })
            .context("cannot start the lease thread")?;
        *shared.since.lock().expect("not poisoned") = Some(Instant::now());
        Ok(Lease {
            shared,
            health: health.0,
            stop,
            thread: Some(thread),
        })
    }

    /// Whether this member holds the lease.
    pub fn held(&self) -> bool {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// A flag set as soon as the lease is revoked or lost (cleared when it is held again).
    pub fn revoked(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shared.revoked)
    }

    /// How many times this member was given the lease.
    pub fn acquired(&self) -> u64 {
        self.shared.acquired.load(Ordering::SeqCst)
    }

    /// Since when the lease is held, or not held.
    pub fn since(&self) -> Instant {
        self.shared
            .since
            .lock()
            .expect("not poisoned")
            .unwrap_or_else(Instant::now)
    }

    /// The last error of the lease client (an unreachable broker, …).
    pub fn last_error(&self) -> Option<String> {
        self.health.last_error()
    }

    /// Waits until the lease is held (true), or `give_up` says to stop waiting (false).
    pub fn wait(&self, give_up: impl Fn() -> bool) -> bool {
        while !self.held() {
            if give_up() {
                return false;
            }
            std::thread::sleep(POLL);
        }
        true
    }
}

impl Drop for Lease {
    /// Leaves the group: a standby is given the lease at once.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
