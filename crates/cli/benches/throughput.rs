//! Throughput of the hot path on 5 M synthetic ratings (`cargo bench -p ratings-stream`):
//! parsing only, engine updates only (pre-parsed ratings), and parse + engine together.
//!
//! The ratings come from the built-in generator (Zipf popularity over the ml-latest-small
//! catalog when it is found, 1,000 ratings per second of event time, up to 5 s of disorder), so
//! panes hold thousands of movies, and emitting the ~170 windows is part of the measured work.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use divan::counter::ItemsCount;
use ratings_core::rating::{parse_json, DEFAULT_MAX_RECORD_BYTES};
use ratings_core::{Catalog, Engine, EngineConfig, Rating};
use ratings_generator::{Generator, GeneratorConfig};

const RATINGS: usize = 5_000_000;

fn main() {
    divan::main();
}

/// Payloads in one buffer (as a consumer batch would hold them), plus the catalog.
struct Input {
    catalog: Arc<Catalog>,
    buffer: String,
    ends: Vec<usize>,
    parsed: Vec<Rating>,
}

impl Input {
    fn payloads(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(s, e)| &self.buffer.as_bytes()[s..*e])
    }
}

fn input() -> &'static Input {
    static INPUT: OnceLock<Input> = OnceLock::new();
    INPUT.get_or_init(|| {
        let movies = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/movielens/ml-latest-small/movies.csv");
        let catalog = match std::fs::File::open(&movies) {
            Ok(file) => Catalog::from_csv(file).expect("movies.csv loads"),
            Err(_) => ratings_generator::builtin_catalog(),
        };
        let config = GeneratorConfig {
            events_per_second: 1000.0,
            ..GeneratorConfig::default()
        };
        let mut buffer = String::with_capacity(RATINGS * 72);
        let mut ends = Vec::with_capacity(RATINGS);
        for generated in Generator::new(config, &catalog).take(RATINGS) {
            buffer.push_str(&generated.payload);
            ends.push(buffer.len());
        }
        let mut input = Input {
            catalog: Arc::new(catalog),
            buffer,
            ends,
            parsed: Vec::new(),
        };
        input.parsed = input
            .payloads()
            .map(|p| parse_json(p, DEFAULT_MAX_RECORD_BYTES).expect("valid"))
            .collect();
        eprintln!(
            "{} ratings, {} movies in the catalog",
            input.parsed.len(),
            input.catalog.len()
        );
        input
    })
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn parse_only(bencher: divan::Bencher) {
    let input = input();
    bencher.counter(ItemsCount::new(RATINGS)).bench(|| {
        input
            .payloads()
            .filter(|p| parse_json(p, DEFAULT_MAX_RECORD_BYTES).is_ok())
            .count()
    });
}

/// Pushes every rating through a fresh engine with the default job, then flushes; returns the
/// number of windows emitted at the end.
fn drive<'a>(engine: &mut Engine, ratings: impl Iterator<Item = Rating> + 'a) -> usize {
    let mut out = Vec::new();
    for rating in ratings {
        engine.push(&rating, &mut out);
        out.clear();
    }
    engine.finish(&mut out);
    out.len()
}

fn bench_engine<'a, I: Iterator<Item = Rating> + 'a>(
    bencher: divan::Bencher,
    ratings: impl Fn() -> I + Sync,
) {
    let input = input();
    bencher
        .counter(ItemsCount::new(RATINGS))
        .with_inputs(|| Engine::new(EngineConfig::default(), input.catalog.clone()))
        .bench_local_values(|mut engine| drive(&mut engine, ratings()));
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn engine_update_only(bencher: divan::Bencher) {
    bench_engine(bencher, || input().parsed.iter().copied());
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn parse_and_engine(bencher: divan::Bencher) {
    bench_engine(bencher, || {
        input()
            .payloads()
            .filter_map(|p| parse_json(p, DEFAULT_MAX_RECORD_BYTES).ok())
    });
}
