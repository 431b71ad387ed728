//! Benchmark helper for `scripts/bench-dashboard.sh`: writes DAYS days of window records (one
//! tumbling 1-minute and one sliding 5-minute window per minute, ending now at the latest) to a
//! topic, shaped like a processor's at the platform's load: top 10 movies with their MovieLens
//! titles, every genre of the catalog, the rating histogram.
//!
//! Usage: cargo run --release --example dashboard_load -- BOOTSTRAP TOPIC DAYS

use std::sync::Arc;
use std::time::Duration;

use ratings_core::output::{GenreMetric, TopMovie, WindowMetrics, WindowResult};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic, days] = &args[..] else {
        anyhow::bail!("usage: dashboard_load BOOTSTRAP TOPIC DAYS");
    };
    let minutes = days.parse::<i64>()? * 1440;
    let loaded = ratings_runtime::catalog::load(None)?;
    let catalog = &loaded.catalog;
    let movies = catalog.movie_ids();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .create()?;
    let now = ratings_runtime::now_millis();
    let last_start = now / 1000 / 60 * 60 - 60;
    let mut rng = fastrand::Rng::with_seed(7);
    for minute in 0..minutes {
        let start = last_start - (minutes - 1 - minute) * 60;
        for (window_type, length) in [("tumbling_1min", 60), ("sliding_5min_1min", 300)] {
            let count = 100 * length as u64 / 60 + rng.u64(0..20);
            let top_movies = (0..10)
                .map(|rank| {
                    let id = movies[rng.usize(..movies.len())];
                    TopMovie {
                        movie_id: id,
                        title: catalog.movie(id).map(|m| Arc::clone(&m.title)),
                        count: 10 - rank,
                        avg_rating: 3.5,
                    }
                })
                .collect();
            let metrics_by_genre = catalog
                .genre_names()
                .iter()
                .map(|genre| GenreMetric {
                    genre: Arc::clone(genre),
                    count: rng.u64(1..count),
                    avg_rating: 3.5,
                })
                .collect();
            let mut rating_histogram = [count / 10; 10];
            rating_histogram[7] += count - count / 10 * 10;
            let window = WindowResult {
                window_start: start + 60 - length,
                window_end: start + 60,
                window_type: window_type.into(),
                metrics: WindowMetrics {
                    count,
                    avg_rating: 3.5,
                    p50_rating: 3.5,
                    p95_rating: 5.0,
                    rating_histogram,
                    top_movies,
                    metrics_by_genre,
                },
                is_final: true,
            };
            let json = window.to_json((start + 60) * 1000 + 600_000);
            producer
                .send(BaseRecord::<(), String>::to(topic).payload(&json))
                .map_err(|(e, _)| e)?;
        }
    }
    producer.flush(Duration::from_secs(60))?;
    println!("wrote {} windows of {days} days to {topic}", minutes * 2);
    Ok(())
}
