//! `ratings-stream replay`'s flags.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::kafka::KafkaArgs;
use ratings_settings::flags::{not_negative, positive};

#[derive(Debug, Args, Serialize)]
pub struct ReplayArgs {
    /// MovieLens ratings.csv (userId,movieId,rating,timestamp).
    #[arg(long)]
    pub input: PathBuf,
    /// Event time runs this many times faster than the clock (e.g. 3600: an hour per second).
    #[arg(long, conflicts_with = "rate", value_parser = positive)]
    pub speedup: Option<f64>,
    /// Ratings per second instead (0: as fast as possible, the default).
    #[arg(long, value_parser = not_negative)]
    pub rate: Option<f64>,
    #[command(flatten)]
    #[serde(flatten)]
    pub kafka: KafkaArgs,
}
