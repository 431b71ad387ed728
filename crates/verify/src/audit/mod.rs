//! `verify --audit`: the windows of every closed hour in a range recomputed from the raw
//! Parquet rows ([`recompute`]) and compared field by field ([`compare`]) with the aggregate
//! Parquet rows and the final windows on the metrics topic ([`read`]).
//!
//! What it checks, precisely: each raw row carries the watermark it was read at, so which
//! windows a rating counted in — all of them, some (late for its tumbling window, not for every
//! sliding one), or none (a late record) — follows from the raw data alone. The latest
//! committed epoch of the checkpoint decides what is auditable: an hour of a window type once
//! that type's dataset has closed it (`_SUCCESS`) or the watermark has passed its last window;
//! an hour whose windows count ratings still in an open raw file (published when it rolls) is
//! left for a later audit and named; windows holding raw rows written before the watermark was
//! recorded are named and not compared.

pub mod compare;
pub mod read;
pub mod recompute;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use ratings_connectors::checkpoint::CheckpointStore;
use ratings_connectors::parquet::{hour_files, layout, DatasetState, RawRow, RawRows, RAW_ROOT};
use ratings_connectors::storage::Storage;
use ratings_core::published::Window;
use ratings_core::time::{align_down, rfc3339_seconds};
use ratings_core::{Catalog, EngineConfig, Rating, WindowSpec};
use ratings_runtime::{committed_outputs, CommittedOutputs};
use ratings_settings::{Guarantee, JobConfig, KafkaJob};

use crate::report::Check;
use recompute::{Recomputed, Rules};

const HOUR: i64 = 3600;
/// Hours audited when no range is given: the newest closed ones.
const DEFAULT_HOURS: i64 = 24;

/// The event-time range to audit: hours starting in `[from, to)`, epoch seconds; by default
/// the newest [`DEFAULT_HOURS`] closed hours.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Runs the audit; one or more check lines.
pub fn audit(
    config: &JobConfig,
    job: &KafkaJob,
    engine: &EngineConfig,
    range: AuditRange,
) -> Vec<Check> {
    match Audit::prepare(config, job, engine) {
        Ok(audit) => audit.run(range),
        Err(check) => vec![check],
    }
}

/// Everything the audit reads once.
struct Audit<'a> {
    job: &'a KafkaJob,
    engine: &'a EngineConfig,
    storage: Arc<Storage>,
    catalog: Arc<Catalog>,
    committed: CommittedOutputs,
    raw_hours: BTreeMap<i64, Vec<String>>,
    /// Per window type: its dataset's hour folders.
    aggregate_hours: Vec<BTreeMap<i64, Vec<String>>>,
}

/// What the audit found for one window type.
#[derive(Default)]
struct Findings {
    windows: usize,
    parquet: Vec<String>,
    metrics: Vec<String>,
    undecidable: usize,
    pending: Vec<i64>,
}

fn fail(found: impl Into<String>, action: &str) -> Check {
    Check::fail("audit", found, action)
}

impl<'a> Audit<'a> {
    fn prepare(
        config: &JobConfig,
        job: &'a KafkaJob,
        engine: &'a EngineConfig,
    ) -> Result<Audit<'a>, Check> {
        if job.delivery.guarantee != Guarantee::ExactlyOnce {
            return Err(fail(
                "the audit needs the exactly-once checkpoint: at-least-once outputs may hold \
                 duplicates after a restart, and which rows are not published yet is not recorded",
                "audit a processor run with --delivery exactly-once",
            ));
        }
        let Some(url) = &config.parquet.storage else {
            return Err(fail(
                "no Parquet outputs configured (--storage): nothing to recompute from",
                "give the processor's --storage",
            ));
        };
        let reach = "check --storage and that the storage is reachable";
        let storage =
            Arc::new(crate::open_storage(url).map_err(|e| fail(format!("{e:#}"), reach))?);
        let store = CheckpointStore::new(Arc::clone(&storage), &job.delivery.checkpoint_dir);
        let committed = match committed_outputs(&store) {
            Ok(Some(committed)) => committed,
            Ok(None) => {
                return Err(fail(
                    format!("no committed epoch in {}", store.location()),
                    "audit once the processor has committed its first epoch",
                ))
            }
            Err(error) => return Err(fail(format!("{error:#}"), reach)),
        };
        let catalog = ratings_runtime::catalog::load(config.engine.movies.as_deref())
            .map_err(|e| fail(format!("{e:#}"), "give the processor's --movies"))?
            .catalog;
        let folders = |root| hour_files(&storage, root).map_err(|e| fail(format!("{e:#}"), reach));
        let raw_hours = folders(RAW_ROOT)?;
        let recorded = committed.parquet.as_ref().map(|p| p.aggregates.as_slice());
        let aggregate_hours = layout::folders(&engine.windows, recorded)
            .iter()
            .map(|root| folders(root))
            .collect::<Result<_, _>>()?;
        Ok(Audit {
            job,
            engine,
            storage,
            catalog,
            committed,
            raw_hours,
            aggregate_hours,
        })
    }

    fn rules(&self, spec: WindowSpec) -> Rules<'_> {
        Rules {
            spec,
            catalog: &self.catalog,
            top_n: self.engine.top_n,
        }
    }

    /// The Parquet state of window type `k`'s dataset at the committed epoch (`None` for a
    /// type the epoch did not have).
    fn dataset(&self, k: usize) -> Option<&DatasetState> {
        let parquet = self.committed.parquet.as_ref()?;
        let name = self.engine.windows[k].name();
        let at = parquet.aggregates.iter().position(|a| a.window == name)?;
        parquet.datasets.get(at + 1)
    }

    /// The watermark at which window type `k` was added to the running job, if it was.
    fn added_at(&self, k: usize) -> Option<i64> {
        let name = self.engine.windows[k].name();
        let parquet = self.committed.parquet.as_ref()?;
        let recorded = parquet.aggregates.iter().find(|a| a.window == name)?;
        recorded.added_at
    }

    /// Hours of window type `k` whose windows are all final at the committed epoch and that
    /// hold windows or raw rows.
    fn closed_hours(&self, k: usize) -> BTreeSet<i64> {
        let spec = self.engine.windows[k];
        let dataset = self.dataset(k);
        let watermark = self.committed.watermark.unwrap_or(i64::MIN);
        // raw rows of hour X fall in windows starting from X − (size − slide) on
        let reach = spec.size - spec.slide;
        let from_raw = self
            .raw_hours
            .keys()
            .flat_map(|x| (align_down(x - reach, HOUR)..=*x).step_by(HOUR as usize));
        from_raw
            .chain(self.aggregate_hours[k].keys().copied())
            .filter(|h| {
                let listed = |hours: &Vec<i64>| hours.contains(h);
                let unclosed = dataset.is_some_and(|d| listed(&d.unclosed));
                let closed = dataset.is_some_and(|d| listed(&d.closed));
                !unclosed && (closed || h + HOUR - spec.slide + spec.size <= watermark)
            })
            .collect()
    }

    /// The hours to audit per window type, and the range they were cut to.
    fn plan(&self, range: AuditRange) -> (Vec<BTreeSet<i64>>, Range<i64>) {
        let closed: Vec<BTreeSet<i64>> = (0..self.engine.windows.len())
            .map(|k| self.closed_hours(k))
            .collect();
        let newest = closed.iter().filter_map(|h| h.last()).max().copied();
        let to = range.to.unwrap_or_else(|| newest.map_or(0, |h| h + HOUR));
        let from = range.from.unwrap_or(to - DEFAULT_HOURS * HOUR);
        let range = from..to;
        let cut = closed
            .into_iter()
            .map(|hours| hours.into_iter().filter(|h| range.contains(h)).collect())
            .collect();
        (cut, range)
    }

    fn run(&self, range: AuditRange) -> Vec<Check> {
        let (hours, range) = self.plan(range);
        let span = format!(
            "{} – {}",
            rfc3339_seconds(range.start),
            rfc3339_seconds(range.end)
        );
        let audited: BTreeSet<i64> = hours.iter().flatten().copied().collect();
        if audited.is_empty() {
            return vec![Check::warn(
                "audit",
                format!("no closed hour between {span}"),
                "give --from/--to around hours the processor has closed",
            )];
        }
        let names: Vec<String> = self.engine.windows.iter().map(WindowSpec::name).collect();
        let metrics = read::metrics_windows(
            &self.job.connection.settings(),
            &self.job.metrics_topic,
            |w| names.iter().any(|n| **n == *w.window_type) && range.contains(&w.start()),
        );
        match self.compare_hours(&hours, metrics.as_ref().map(|(w, _)| &w[..])) {
            Ok((findings, rows)) => self.checks(&span, &audited, rows, &findings, &metrics),
            Err(error) => vec![fail(
                format!("{error:#}"),
                "check that the storage is reachable and the files readable",
            )],
        }
    }

    /// Hour by hour (raw hours read once, dropped when no longer needed): every window type's
    /// windows recomputed and compared. Returns the findings per type and the raw rows read.
    fn compare_hours(
        &self,
        hours: &[BTreeSet<i64>],
        metrics: Result<&[Window], &anyhow::Error>,
    ) -> anyhow::Result<(Vec<Findings>, usize)> {
        let unpublished = RawRows::unpublished(&self.committed.unpublished)?.all();
        let mut cache = RawCache::default();
        let mut findings: Vec<Findings> = hours.iter().map(|_| Findings::default()).collect();
        let all: BTreeSet<i64> = hours.iter().flatten().copied().collect();
        for hour in all {
            cache.forget_before(hour);
            for (k, spec) in self.engine.windows.iter().enumerate() {
                if !hours[k].contains(&hour) {
                    continue;
                }
                let rules = self.rules(*spec);
                let starts = hour..hour + HOUR;
                if !rules
                    .recompute(starts.clone(), &unpublished, &[])
                    .windows
                    .is_empty()
                {
                    findings[k].pending.push(hour);
                    continue;
                }
                // the raw hours holding the windows' ratings
                let last = align_down(hour + HOUR - spec.slide + spec.size - 1, HOUR);
                let (rows, unrecorded) = cache.rows(self, hour..last + HOUR)?;
                let mut recomputed = rules.recompute(starts, &rows, &unrecorded);
                if let Some(added_at) = self.added_at(k) {
                    // a type added to the running job emitted the windows ending after it
                    recomputed
                        .windows
                        .retain(|start, _| start + spec.size > added_at);
                }
                self.compare_hour(k, hour, &recomputed, metrics, &mut findings[k])?;
            }
        }
        Ok((findings, cache.read))
    }

    /// Compares the recomputed windows of type `k` starting in `hour` with the stored and the
    /// published ones.
    fn compare_hour(
        &self,
        k: usize,
        hour: i64,
        recomputed: &Recomputed,
        metrics: Result<&[Window], &anyhow::Error>,
        found: &mut Findings,
    ) -> anyhow::Result<()> {
        let name = self.engine.windows[k].name();
        let starts = hour..hour + HOUR;
        let of_hour = |w: &&Window| *w.window_type == name && starts.contains(&w.start());
        let paths = self.aggregate_hours[k]
            .get(&hour)
            .map_or(&[][..], |p| &p[..]);
        let stored = read::aggregate_windows(&self.storage, paths)?;
        let stored: Vec<Window> = stored.iter().filter(of_hour).cloned().collect();
        let (expected, skip) = (&recomputed.windows, &recomputed.undecidable);
        found.windows += expected.len();
        found.undecidable += skip.len();
        found
            .parquet
            .extend(compare::differences(expected, &stored, skip));
        if let Ok(metrics) = metrics {
            let published: Vec<Window> = metrics.iter().filter(of_hour).cloned().collect();
            found
                .metrics
                .extend(compare::differences(expected, &published, skip));
        }
        Ok(())
    }

    fn checks(
        &self,
        span: &str,
        audited: &BTreeSet<i64>,
        rows: usize,
        findings: &[Findings],
        metrics: &anyhow::Result<(Vec<Window>, u64)>,
    ) -> Vec<Check> {
        let mut checks = vec![Check::pass(
            "audit",
            format!(
                "{span}: {} closed hours, {rows} raw rows read, committed epoch {}",
                audited.len(),
                self.committed.epoch
            ),
        )];
        let topic = &self.job.metrics_topic;
        for (spec, found) in self.engine.windows.iter().zip(findings) {
            let name = spec.name();
            checks.push(compared(
                format!("audit {name} Parquet"),
                found.windows,
                &found.parquet,
            ));
            checks.push(match metrics {
                Ok(_) => compared(
                    format!("audit {name} on {topic}"),
                    found.windows,
                    &found.metrics,
                ),
                Err(error) => Check::fail(
                    format!("audit {name} on {topic}"),
                    format!("{error:#}"),
                    "check that the broker is reachable",
                ),
            });
            if !found.pending.is_empty() {
                let hours: Vec<String> =
                    found.pending.iter().map(|h| rfc3339_seconds(*h)).collect();
                checks.push(Check::warn(
                    format!("audit {name} pending"),
                    format!(
                        "{} hours not audited: their windows count ratings still in an open raw \
                         file ({})",
                        hours.len(),
                        hours.join(", ")
                    ),
                    "audit again once the open files rolled (--roll-interval)",
                ));
            }
            if found.undecidable > 0 {
                checks.push(Check::warn(
                    format!("audit {name} undecidable"),
                    format!(
                        "{} windows hold raw rows written before the raw dataset recorded the \
                         watermark: not compared",
                        found.undecidable
                    ),
                    "these windows can only be checked by hand",
                ));
            }
        }
        if let Ok((_, foreign)) = metrics {
            if *foreign > 0 {
                checks.push(Check::warn(
                    format!("audit {topic}"),
                    format!("{foreign} records are not windows"),
                    "another producer writes to the metrics topic",
                ));
            }
        }
        checks
    }
}

/// The raw hours read so far, and how many rows they held.
#[derive(Default)]
struct RawCache {
    hours: BTreeMap<i64, RawRows>,
    read: usize,
}

impl RawCache {
    fn forget_before(&mut self, hour: i64) {
        self.hours.retain(|h, _| *h >= hour);
    }

    /// The rows of the raw hours in `hours`, read when not cached yet.
    fn rows(
        &mut self,
        audit: &Audit,
        hours: Range<i64>,
    ) -> anyhow::Result<(Vec<RawRow>, Vec<Rating>)> {
        for raw in hours.clone().step_by(HOUR as usize) {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.hours.entry(raw) {
                let paths = audit.raw_hours.get(&raw).map_or(&[][..], |p| &p[..]);
                self.read += slot.insert(RawRows::read(&audit.storage, paths)?).count();
            }
        }
        let (mut rows, mut unrecorded) = (Vec::new(), Vec::new());
        for raw in self.hours.range(hours).map(|(_, r)| r) {
            rows.extend_from_slice(&raw.rows);
            unrecorded.extend_from_slice(&raw.unrecorded);
        }
        Ok((rows, unrecorded))
    }
}

/// PASS when no window differs, else FAIL with every difference.
fn compared(name: String, windows: usize, differences: &[String]) -> Check {
    if differences.is_empty() {
        return Check::pass(name, format!("{windows} windows equal the raw data"));
    }
    Check::fail(
        name,
        format!("{} differences over {windows} windows", differences.len()),
        "the outputs do not match the raw data: see each difference; an altered or lost file \
         is restored from a backup, or the hour reprocessed",
    )
    .with_details(differences.to_vec())
}
