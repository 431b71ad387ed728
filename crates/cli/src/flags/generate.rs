//! `ratings-stream generate`'s flags.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::kafka::KafkaArgs;

#[derive(Debug, Args, Serialize)]
pub struct GenerateArgs {
    /// Ratings per second (wall clock); 0 writes as fast as possible.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Number of records to write (default: until Ctrl-C, or 1,000,000 with --rate 0).
    #[arg(long)]
    pub count: Option<u64>,
    /// Write JSON lines to this file ("-" for standard output) instead of Kafka.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Ratings per second of event time (default: --rate, so event time follows the wall
    /// clock; 1000 with --rate 0). More than --rate makes event time run ahead of the clock.
    #[arg(long)]
    pub events_per_second: Option<f64>,
    /// Movies as often as in the ratings.csv beside the catalog's movies.csv (MovieLens
    /// layout), each with its own rating mix, instead of a Zipf draw over the catalog (as the
    /// demo does when it finds that file).
    #[arg(long)]
    pub movielens_profile: bool,
    /// Event time of the first record, epoch seconds (default: now).
    #[arg(long)]
    pub start_time: Option<i64>,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of ratings sent far behind the stream (late data).
    #[arg(long, default_value_t = 0.0)]
    pub late_fraction: f64,
    /// Fraction of malformed records.
    #[arg(long, default_value_t = 0.0)]
    pub malformed_fraction: f64,
    /// After each record, with this probability, also a hostile one (Kafka only; not counted
    /// in --count): random bytes, truncated or mutated records, tombstones, empty values,
    /// invalid UTF-8, NUL bytes, byte order marks, deep nesting, huge strings and numbers,
    /// duplicate keys, far-future event times, records near the broker's 1 MB limit. The
    /// other records are the same as without them (their own seeded draw).
    #[arg(long, default_value_t = 0.0)]
    pub hostile_fraction: f64,
    /// Every rating of a movie id of its own, unknown to the catalog (from 1,000,000,000 on):
    /// the state a bad producer's ids cost.
    #[arg(long)]
    pub distinct_unknown_movies: bool,
    /// movies.csv whose ids the ratings use (default: as for `run`).
    #[arg(long, env = "RATINGS_MOVIES")]
    pub movies: Option<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub kafka: KafkaArgs,
}
