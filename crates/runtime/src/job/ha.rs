//! High availability: the processor stands by until it holds the lease ([`Lease`]: a
//! one-partition topic's consumer group on Kafka), then runs the job ([`super::kafka::run`])
//! while it holds it.
//!
//! Standing by, it stays warm: the catalog is loaded and the checkpoint is read every few
//! seconds; a standby that cannot read it, or reach the broker, says so and stays out of the
//! lease group until it can, so the lease only goes to a member able to take over. Taking over
//! is the exactly-once recovery: registering the transactional id fences the former holder and
//! aborts its open transaction, and the checkpoint's last committed epoch is restored. When
//! the lease is lost (the session expired, or the group gave it to another member), or the
//! producer is fenced, the job stops writing at once and the processor stands by again. A
//! clean stop leaves the group, which hands the lease to a standby at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_connectors::checkpoint::CheckpointStore;
use ratings_connectors::kafka::{KafkaSettings, Lease, LeaseSettings, ProducerFatal};
use ratings_connectors::storage::Storage;
use ratings_core::EngineConfig;

use super::kafka::Ended;
use super::Stop;
use crate::catalog::LoadedCatalog;
use crate::delivery::exactly_once::Fenced;
use crate::report::Summary;
use crate::telemetry::prometheus::Metrics;
use ratings_settings::{HighAvailability, JobConfig, KafkaJob};

/// How often a standby checks that it can still read the checkpoint.
const WARM_CHECK: Duration = Duration::from_secs(2);
/// How often a standby looks at the lease.
const LOOK: Duration = Duration::from_millis(20);

/// Runs the job whenever this member holds the lease, until asked to stop (or the input ends,
/// with `exit_at_end`); the summary of the last time it was active.
pub(crate) fn run(
    config: &JobConfig,
    engine: &EngineConfig,
    job: &KafkaJob,
    ha: &HighAvailability,
    loaded: &LoadedCatalog,
    metrics: &Arc<Metrics>,
    asked: &AtomicBool,
) -> anyhow::Result<Summary> {
    let storage = Arc::new(Storage::open_for_writing(&config.checkpoint_url()?)?);
    let standby = Standby {
        settings: job.connection.settings(),
        lease: LeaseSettings {
            topic: job.lease_name(),
            group: job.lease_name(),
            session_timeout: ha.session_timeout,
        },
        store: CheckpointStore::new(storage, &job.delivery.checkpoint_dir),
        report_every: config.telemetry.progress_interval,
        identity: config.identity(job),
    };
    let mut summary = Summary::default();
    loop {
        metrics.set_active(false);
        let Some(lease) = standby.wait_for_lease(asked) else {
            return Ok(summary);
        };
        metrics.set_active(true);
        metrics.took_over();
        tracing::info!(
            "high availability: active — this processor holds the lease {} (taken {} times)",
            standby.lease.topic,
            lease.acquired()
        );
        let revoked = lease.revoked();
        let stop = Stop {
            asked,
            lease_lost: Some(&revoked),
        };
        // fenced while still holding the lease: a former holder woke up and registered the
        // transactional id; this holder registers it again (fencing that one) and goes on
        let ended = loop {
            match super::kafka::run(config, engine, job, loaded, metrics, stop) {
                Err(error) if fenced(&error) && lease.held() => {
                    tracing::warn!(
                        "high availability: {error:#}; still holding the lease: restarting the job"
                    );
                    metrics.new_job();
                }
                other => break other,
            }
        };
        match ended {
            Ok(Ended::LeaseLost(last)) => {
                tracing::warn!(
                    "high availability: the lease was lost (session expired, or given to another \
                     member): stopped writing; standing by"
                );
                summary = last;
            }
            Ok(Ended::Done(last)) => return Ok(last),
            // fenced, or failing because the lease went (a paused former holder woke up in
            // the middle of its recovery while the new holder wrote the checkpoint): not this
            // member's job any more
            Err(error) if fenced(&error) || lost(&lease, ha.session_timeout) => {
                tracing::warn!("high availability: {error:#}; standing by");
            }
            Err(error) => return Err(error),
        }
        metrics.new_job();
    }
}

/// Whether the lease is lost, or turns out to be within the session timeout: a member that
/// was paused learns that it lost the lease at its next heartbeat (every 500 ms), which may
/// come after its job failed — and later still on a busy machine, but within a session, or
/// its session would have expired.
fn lost(lease: &Lease, session: Duration) -> bool {
    let asked = Instant::now();
    while lease.held() {
        if asked.elapsed() >= session {
            return false;
        }
        std::thread::sleep(LOOK);
    }
    true
}

/// Whether the job ended because its producer was fenced (another processor registered the
/// transactional id).
fn fenced(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.is::<Fenced>() || cause.is::<ProducerFatal>())
}

/// A member waiting for the lease.
struct Standby {
    settings: KafkaSettings,
    lease: LeaseSettings,
    store: CheckpointStore,
    report_every: Duration,
    /// This processor's output-deciding settings (see [`JobConfig::identity`]).
    identity: BTreeMap<String, String>,
}

impl Standby {
    /// Stands by until this member holds the lease (joining the group only while the
    /// checkpoint is readable); `None` when asked to stop first.
    fn wait_for_lease(&self, asked: &AtomicBool) -> Option<Lease> {
        let since = Instant::now();
        let (mut lease, mut problem) = (None::<Lease>, None::<String>);
        let (mut checked, mut reported) = (None::<Instant>, Instant::now());
        while !asked.load(std::sync::atomic::Ordering::Relaxed) {
            if checked.is_none_or(|c| c.elapsed() >= WARM_CHECK) {
                checked = Some(Instant::now());
                problem = self.warm(&mut lease).err().map(|e| format!("{e:#}"));
            }
            if lease.as_ref().is_some_and(Lease::held) {
                // the checkpoint once more, as it is now: another job may have started on it
                match self.read_checkpoint() {
                    Ok(()) => return lease,
                    Err(error) => {
                        tracing::warn!("standby: {error:#}; giving the lease back");
                        lease = None;
                        problem = Some(format!("{error:#}"));
                    }
                }
            }
            if reported.elapsed() >= self.report_every {
                reported = Instant::now();
                self.report(since, lease.as_ref(), problem.as_deref());
            }
            std::thread::sleep(LOOK);
        }
        None
    }

    /// Checks that the checkpoint is readable and joins the lease group if it is not a member
    /// yet; leaves it while the checkpoint is not readable.
    fn warm(&self, lease: &mut Option<Lease>) -> anyhow::Result<()> {
        if let Err(error) = self.read_checkpoint() {
            if lease.take().is_some() {
                tracing::warn!("standby: cannot read the checkpoint: leaving the lease group");
            }
            return Err(error);
        }
        if lease.is_none() {
            *lease = Some(Lease::join(&self.settings, &self.lease)?);
            tracing::info!(
                "standby: joined the lease group {} (session timeout {})",
                self.lease.group,
                humantime::format_duration(self.lease.session_timeout)
            );
        }
        Ok(())
    }

    /// The last committed epoch's offsets, as a takeover reads them (none for a new
    /// checkpoint), and the owner's settings, which must be this processor's.
    fn read_checkpoint(&self) -> anyhow::Result<()> {
        if let Some(epoch) = self.store.committed_epochs()?.last() {
            self.store.read_offsets(*epoch)?;
        }
        let Some(owner) = self.store.owner()? else {
            return Ok(());
        };
        let names: BTreeSet<&String> = owner.job.keys().chain(self.identity.keys()).collect();
        let differences: Vec<String> = names
            .into_iter()
            .filter(|name| owner.job.get(*name) != self.identity.get(*name))
            .map(|name| {
                let value = |job: &BTreeMap<String, String>| {
                    job.get(name).cloned().unwrap_or_else(|| "unset".into())
                };
                format!(
                    "{name} {} there, {} here",
                    value(&owner.job),
                    value(&self.identity)
                )
            })
            .collect();
        anyhow::ensure!(
            differences.is_empty(),
            "the checkpoint {} is used by a processor configured differently ({} pid {}): {}; \
             processors sharing a checkpoint must run the same job",
            self.store.location(),
            owner.host,
            owner.pid,
            differences.join(", ")
        );
        Ok(())
    }

    /// The standby's progress line.
    fn report(&self, since: Instant, lease: Option<&Lease>, problem: Option<&str>) {
        let waiting = humantime::format_duration(Duration::from_secs(since.elapsed().as_secs()));
        match (problem, lease.and_then(Lease::last_error)) {
            (Some(problem), _) => {
                tracing::warn!("standby for {waiting}: cannot take over ({problem}); retrying")
            }
            (None, Some(error)) => {
                tracing::warn!("standby for {waiting}: the lease group reports {error}; retrying")
            }
            (None, None) => tracing::info!(
                "standby for {waiting}: ready, checkpoint {} readable; waiting for the lease",
                self.store.location()
            ),
        }
    }
}
