//! `ratings-stream generate`: synthetic ratings to the Kafka topic `ratings` (keyed by user), or
//! as JSON lines to a file, paced at `--rate` per second or as fast as possible.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use ratings_connectors::kafka::Producer;
use ratings_generator::hostile::{Hostile, HostileRecords};
use ratings_generator::{Generator, GeneratorConfig};

use ratings_runtime::catalog;
use ratings_runtime::pipeline::now_millis;

use ratings_settings::Settings;

use crate::flags::GenerateArgs;

/// Where generated records go.
enum Target {
    File(BufWriter<Box<dyn Write>>),
    Kafka { producer: Producer, topic: String },
}

impl Target {
    /// Writes a hostile record (to Kafka only: its bytes may hold newlines).
    fn write_hostile(&mut self, hostile: &Hostile) -> anyhow::Result<()> {
        let Target::Kafka { producer, topic } = self else {
            unreachable!("refused by generate()");
        };
        match &hostile.value {
            // no key: spread over the partitions
            Some(value) => producer.send(topic, None, value),
            None => producer.send_tombstone(topic, None),
        }
    }

    fn write(&mut self, payload: &str) -> anyhow::Result<()> {
        match self {
            Target::File(out) => {
                out.write_all(payload.as_bytes())?;
                out.write_all(b"\n")?;
                Ok(())
            }
            Target::Kafka { producer, topic } => {
                producer.send(topic, Some(user_key(payload)), payload.as_bytes())
            }
        }
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        match self {
            Target::File(out) => out.flush().context("cannot write generated records"),
            Target::Kafka { producer, .. } => producer.flush(Duration::from_secs(120)),
        }
    }
}

/// The key of a generated record: its `"userId":N` text, so one user's ratings stay in order on
/// one partition (malformed records without it share the empty key).
fn user_key(payload: &str) -> &[u8] {
    let Some(start) = payload.find("\"userId\":") else {
        return b"";
    };
    let rest = &payload[start + 9..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    &rest.as_bytes()[..end]
}

/// Writes the generated records.
pub fn generate(args: &GenerateArgs, settings: &Settings) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate >= 0.0, "--rate must not be negative");
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.hostile_fraction),
        "--hostile-fraction must be between 0 and 1"
    );
    anyhow::ensure!(
        args.hostile_fraction == 0.0 || args.output.is_none(),
        "--hostile-fraction writes to Kafka only: hostile records may hold newlines"
    );
    let movies = settings.engine.movies.clone();
    let loaded = catalog::load(movies.as_deref())?;
    let paced = args.rate > 0.0;
    let config = GeneratorConfig {
        seed: args.seed,
        start_time: args.start_time.unwrap_or(now_millis() / 1000),
        events_per_second: match (args.events_per_second, paced) {
            (Some(events), _) => events,
            (None, true) => args.rate,
            (None, false) => 1000.0,
        },
        late_fraction: args.late_fraction,
        malformed_fraction: args.malformed_fraction,
        distinct_unknown_movies: args.distinct_unknown_movies,
        ..GeneratorConfig::default()
    };
    let count = args
        .count
        .unwrap_or(if paced { u64::MAX } else { 1_000_000 });
    let mut target = match &args.output {
        Some(path) if path.as_os_str() == "-" => {
            Target::File(BufWriter::new(Box::new(io::stdout().lock())))
        }
        Some(path) => Target::File(BufWriter::with_capacity(
            1 << 20,
            Box::new(
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            ),
        )),
        None => Target::Kafka {
            producer: Producer::connect(
                &settings
                    .kafka
                    .connection
                    .settings_as("ratings-stream-generate"),
            )?,
            topic: settings.kafka.ratings_topic.clone(),
        },
    };
    let stop = crate::shutdown::stop_flag()?;
    let started = Instant::now();
    let mut written = 0u64;
    let mut hostile = HostileRecords::new(args.seed);
    let mut hostile_written: BTreeMap<&str, u64> = BTreeMap::new();
    let generator = match args.movielens_profile {
        true => {
            let (profiles, origin) = catalog::movie_profiles(&loaded)?.with_context(|| {
                format!(
                    "--movielens-profile: no ratings.csv beside {}",
                    loaded.origin
                )
            })?;
            eprintln!("generate: movies and ratings follow {origin}");
            Generator::with_profiles(config, &loaded.catalog, &profiles)
        }
        false => Generator::new(config, &loaded.catalog),
    };
    for generated in generator.take(count.min(usize::MAX as u64) as usize) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if paced {
            let due = started + Duration::from_secs_f64(written as f64 / args.rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        target.write(&generated.payload)?;
        written += 1;
        if args.hostile_fraction > 0.0 && hostile.roll(args.hostile_fraction) {
            let record = hostile.next_from(&generated.payload);
            target.write_hostile(&record)?;
            *hostile_written.entry(record.kind.name()).or_default() += 1;
        }
    }
    target.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "generate: wrote {written} records in {seconds:.1} s ({:.0}/s)",
        written as f64 / seconds.max(1e-9)
    );
    if !hostile_written.is_empty() {
        let total: u64 = hostile_written.values().sum();
        eprintln!("generate: and {total} hostile records: {hostile_written:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_by_user() {
        assert_eq!(super::user_key(r#"{"userId":42,"movieId":1}"#), b"42");
        assert_eq!(super::user_key(r#"{"movieId":1,"userId":7}"#), b"7");
        assert_eq!(super::user_key("not json"), b"");
    }
}
