//! `ratings-stream replay`: a MovieLens `ratings.csv` to the Kafka topic `ratings`, in timestamp
//! order, paced by a speed-up of event time or a fixed rate, with a progress bar.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use ratings_connectors::kafka::Producer;
use ratings_core::rating::{parse_csv_fields, DEFAULT_MAX_RECORD_BYTES};
use ratings_core::Rating;

use ratings_settings::Settings;

use crate::flags::ReplayArgs;

/// Reads the file, sorts it by timestamp (stable) and sends every rating.
pub fn replay(args: &ReplayArgs, settings: &Settings) -> anyhow::Result<()> {
    let (ratings, skipped) = read_sorted(&args.input)?;
    if skipped > 0 {
        eprintln!("replay: skipped {skipped} rows that are not valid ratings");
    }
    let producer = Producer::connect(
        &settings
            .kafka
            .connection
            .settings_as("ratings-stream-replay"),
    )?;
    let topic = &settings.kafka.ratings_topic;
    let bar = ProgressBar::new(ratings.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} ratings, {per_sec}, ETA {eta} {msg}")
            .expect("valid template"),
    );
    let stop = crate::shutdown::stop_flag()?;
    let started = Instant::now();
    let first_time = ratings.first().map_or(0, |r| r.timestamp);
    for (i, r) in ratings.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let due = match (args.speedup, args.rate) {
            (Some(speedup), _) => Some((r.timestamp - first_time) as f64 / speedup),
            (None, Some(rate)) if rate > 0.0 => Some(i as f64 / rate),
            _ => None,
        };
        if let Some(seconds) = due {
            std::thread::sleep(
                (started + Duration::from_secs_f64(seconds))
                    .saturating_duration_since(Instant::now()),
            );
        }
        let payload = format!(
            r#"{{"userId":{},"movieId":{},"rating":{:?},"timestamp":{}}}"#,
            r.user_id, r.movie_id, r.rating, r.timestamp
        );
        producer.send(
            topic,
            Some(r.user_id.to_string().as_bytes()),
            payload.as_bytes(),
        )?;
        if i % 1000 == 0 {
            bar.set_position(i as u64);
        }
    }
    producer.flush(Duration::from_secs(120))?;
    bar.finish_with_message("sent");
    Ok(())
}

/// The valid ratings of a MovieLens CSV file sorted by timestamp, and the number of rows skipped.
fn read_sorted(path: &std::path::Path) -> anyhow::Result<(Vec<Rating>, u64)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut ratings = Vec::new();
    let mut skipped = 0;
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("userId"))
    {
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        match parse_csv_fields(&fields, DEFAULT_MAX_RECORD_BYTES) {
            Ok(rating) => ratings.push(rating),
            Err(_) => skipped += 1,
        }
    }
    ratings.sort_by_key(|r| r.timestamp);
    Ok((ratings, skipped))
}
