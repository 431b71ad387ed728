//! Synthetic ratings for `demo`, `generate` and the benchmarks.
//!
//! The stream looks like MovieLens traffic: with [`MovieProfiles`] learnt from real ratings, each
//! movie is drawn as often as it was rated there and rated with its own mix of values; without
//! them, movie popularity follows a Zipf law over the catalog (in a seeded random order, so
//! popularity is not tied to movie ids) and rating values the overall mix of ml-latest-small.
//! Users are Zipf-distributed, event time advances at a configured rate with bounded disorder,
//! and chosen fractions of records are late (far behind the stream) or malformed. The same seed
//! (and profiles) gives the same records.

#![warn(unreachable_pub)]

use ratings_core::Catalog;

mod builtin;
pub mod hostile;
mod profile;

pub use builtin::builtin_catalog;
pub use profile::MovieProfiles;

/// Rating values and their frequencies in ml-latest-small (100,836 ratings).
const RATING_MIX: [(f64, u32); 10] = [
    (0.5, 1370),
    (1.0, 2811),
    (1.5, 1791),
    (2.0, 7551),
    (2.5, 5550),
    (3.0, 20047),
    (3.5, 13136),
    (4.0, 26818),
    (4.5, 8551),
    (5.0, 13211),
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    pub seed: u64,
    /// Event time of the first record, epoch seconds.
    pub start_time: i64,
    /// Records per second of event time.
    pub events_per_second: f64,
    /// Records arrive up to this many seconds behind the stream's clock.
    pub max_disorder_secs: i64,
    /// Fraction of records made late: at least `late_by_secs` behind the stream.
    pub late_fraction: f64,
    /// How far behind the stream a late record is (more than watermark delay + window size).
    pub late_by_secs: i64,
    /// Fraction of records that are invalid in one of several ways.
    pub malformed_fraction: f64,
    /// Number of distinct users.
    pub users: u32,
    /// Zipf exponent of movie popularity.
    pub zipf_exponent: f64,
    /// Every rating of a movie of its own, unknown to the catalog (ids from
    /// [`FIRST_UNKNOWN_MOVIE`] on): the adversarial cardinality of a bad producer.
    pub distinct_unknown_movies: bool,
}

/// The first movie id of [`GeneratorConfig::distinct_unknown_movies`].
pub const FIRST_UNKNOWN_MOVIE: i32 = 1_000_000_000;

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            start_time: 1_761_764_400, // 2025-10-29T19:00:00Z
            events_per_second: 50.0,
            max_disorder_secs: 5,
            late_fraction: 0.0,
            late_by_secs: 1_200,
            malformed_fraction: 0.0,
            users: 610,
            zipf_exponent: 1.0,
            distinct_unknown_movies: false,
        }
    }
}

/// What a generated record is meant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Valid,
    Late,
    Malformed,
}

/// One generated record: the JSON payload as it goes to the `ratings` topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub payload: String,
    pub kind: RecordKind,
    /// Event time written in the payload (the stream clock for malformed records).
    pub event_time: i64,
}

/// Cumulative distribution for sampling an index with given weights.
struct Cdf(Vec<f64>);

impl Cdf {
    fn new(weights: impl Iterator<Item = f64>) -> Cdf {
        let mut total = 0.0;
        let mut cumulative: Vec<f64> = weights
            .map(|w| {
                total += w;
                total
            })
            .collect();
        cumulative.iter_mut().for_each(|c| *c /= total);
        Cdf(cumulative)
    }

    fn zipf(n: usize, exponent: f64) -> Cdf {
        Cdf::new((1..=n).map(|rank| 1.0 / (rank as f64).powf(exponent)))
    }

    fn sample(&self, rng: &mut fastrand::Rng) -> usize {
        let u = rng.f64();
        self.0.partition_point(|c| *c < u).min(self.0.len() - 1)
    }
}

/// An endless, deterministic iterator of generated records.
pub struct Generator {
    config: GeneratorConfig,
    rng: fastrand::Rng,
    movies: Vec<i32>,
    movie_cdf: Cdf,
    user_cdf: Cdf,
    rating_cdf: Cdf,
    /// Per movie (same order as `movies`), its own rating mix, when profiled.
    movie_rating_cdfs: Option<Vec<Cdf>>,
    index: u64,
}

impl Generator {
    /// A generator drawing movies from `catalog` (or ids 1..=1000 if it is empty).
    pub fn new(config: GeneratorConfig, catalog: &Catalog) -> Generator {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let mut movies = catalog.movie_ids();
        if movies.is_empty() {
            movies = (1..=1000).collect();
        }
        rng.shuffle(&mut movies);
        Generator {
            movie_cdf: Cdf::zipf(movies.len(), config.zipf_exponent),
            user_cdf: Cdf::zipf(config.users.max(1) as usize, 0.5),
            rating_cdf: Cdf::new(RATING_MIX.iter().map(|(_, c)| f64::from(*c))),
            movie_rating_cdfs: None,
            movies,
            rng,
            config,
            index: 0,
        }
    }

    /// A generator whose movies and their ratings follow `profiles` (as [`Generator::new`]
    /// when they are empty).
    pub fn with_profiles(
        config: GeneratorConfig,
        catalog: &Catalog,
        profiles: &MovieProfiles,
    ) -> Generator {
        let mut generator = Generator::new(config, catalog);
        if profiles.is_empty() {
            return generator;
        }
        let (movies, popularity) = profiles.popularity();
        let overall = RATING_MIX.map(|(_, c)| f64::from(c));
        let cdfs = profiles.rating_weights(&overall);
        generator.movies = movies;
        generator.movie_cdf = Cdf::new(popularity.into_iter());
        generator.movie_rating_cdfs =
            Some(cdfs.into_iter().map(|w| Cdf::new(w.into_iter())).collect());
        generator
    }

    /// The stream clock for the next record: start + index / rate.
    fn clock(&self) -> i64 {
        self.config.start_time + (self.index as f64 / self.config.events_per_second) as i64
    }

    fn valid_payload(&mut self, timestamp: i64) -> String {
        let user = self.user_cdf.sample(&mut self.rng) + 1;
        let index = self.movie_cdf.sample(&mut self.rng);
        let movie = match self.config.distinct_unknown_movies {
            // `index` counts the records: each one its own id
            true => FIRST_UNKNOWN_MOVIE.wrapping_add((self.index % (1 << 30)) as i32),
            false => self.movies[index],
        };
        let ratings = match &self.movie_rating_cdfs {
            Some(cdfs) => &cdfs[index],
            None => &self.rating_cdf,
        };
        let rating = RATING_MIX[ratings.sample(&mut self.rng)].0;
        format!(
            r#"{{"userId":{user},"movieId":{movie},"rating":{rating:.1},"timestamp":{timestamp}}}"#
        )
    }

    fn malformed_payload(&mut self, timestamp: i64) -> String {
        let movie = self.movies[self.movie_cdf.sample(&mut self.rng)];
        match self.rng.u8(0..7) {
            0 => format!("userId=1,movieId={movie},rating=4.0,timestamp={timestamp}"),
            1 => format!(r#"{{"userId":1,"movieId":{movie},"rating":4.0}}"#),
            2 => format!(
                r#"{{"userId":"u1","movieId":{movie},"rating":4.0,"timestamp":{timestamp}}}"#
            ),
            3 => {
                format!(r#"{{"userId":1,"movieId":{movie},"rating":7.5,"timestamp":{timestamp}}}"#)
            }
            4 => {
                format!(r#"{{"userId":1,"movieId":-{movie},"rating":3.0,"timestamp":{timestamp}}}"#)
            }
            5 => format!(
                r#"{{"userId":1,"movieId":{movie},"rating":3.0,"timestamp":{timestamp}000}}"#
            ),
            _ => format!(r#"{{"userId":1,"movieId":{movie},"rating":3.0,"timest"#),
        }
    }
}

impl Iterator for Generator {
    type Item = Generated;

    fn next(&mut self) -> Option<Generated> {
        let clock = self.clock();
        self.index += 1;
        let roll = self.rng.f64();
        let generated = if roll < self.config.malformed_fraction {
            Generated {
                payload: self.malformed_payload(clock),
                kind: RecordKind::Malformed,
                event_time: clock,
            }
        } else if roll < self.config.malformed_fraction + self.config.late_fraction {
            let t = clock - self.config.late_by_secs - self.rng.i64(0..=300);
            Generated {
                payload: self.valid_payload(t),
                kind: RecordKind::Late,
                event_time: t,
            }
        } else {
            let t = clock - self.rng.i64(0..=self.config.max_disorder_secs.max(0));
            Generated {
                payload: self.valid_payload(t),
                kind: RecordKind::Valid,
                event_time: t,
            }
        };
        Some(generated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratings_core::rating::{parse_json, DEFAULT_MAX_RECORD_BYTES};

    fn sample(config: GeneratorConfig, n: usize) -> Vec<Generated> {
        Generator::new(config, &builtin_catalog()).take(n).collect()
    }

    #[test]
    fn same_seed_same_records() {
        let a = sample(GeneratorConfig::default(), 500);
        assert_eq!(a, sample(GeneratorConfig::default(), 500));
        let b = sample(
            GeneratorConfig {
                seed: 7,
                ..GeneratorConfig::default()
            },
            500,
        );
        assert_ne!(a, b);
    }

    #[test]
    fn kinds_parse_as_intended_and_fractions_hold() {
        let config = GeneratorConfig {
            late_fraction: 0.05,
            malformed_fraction: 0.1,
            ..GeneratorConfig::default()
        };
        let records = sample(config, 20_000);
        let mut counts = [0usize; 3];
        for r in &records {
            let parsed = parse_json(r.payload.as_bytes(), DEFAULT_MAX_RECORD_BYTES);
            match r.kind {
                RecordKind::Malformed => assert!(parsed.is_err(), "{}", r.payload),
                _ => assert_eq!(parsed.unwrap().timestamp, r.event_time),
            }
            counts[r.kind as usize] += 1;
        }
        let share = |i: usize| counts[i] as f64 / records.len() as f64;
        assert!(
            (share(2) - 0.10).abs() < 0.01,
            "malformed share {}",
            share(2)
        );
        assert!((share(1) - 0.05).abs() < 0.01, "late share {}", share(1));
    }

    #[test]
    fn popularity_is_skewed_and_ratings_follow_the_movielens_mix() {
        let catalog = builtin_catalog();
        let records: Vec<_> = Generator::new(GeneratorConfig::default(), &catalog)
            .take(50_000)
            .collect();
        let mut per_movie = std::collections::HashMap::<i32, usize>::new();
        let mut fours = 0;
        for r in &records {
            let rating = parse_json(r.payload.as_bytes(), 1024).unwrap();
            *per_movie.entry(rating.movie_id).or_default() += 1;
            fours += usize::from(rating.rating == 4.0);
        }
        let mut counts: Vec<usize> = per_movie.values().copied().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        assert!(
            counts[0] > 5 * counts[counts.len() / 2],
            "Zipf head {counts:?}"
        );
        let share = fours as f64 / records.len() as f64;
        assert!(
            (share - 26818.0 / 100836.0).abs() < 0.01,
            "share of 4.0: {share}"
        );
    }

    #[test]
    fn profiled_movies_are_drawn_as_often_as_rated_with_their_own_ratings() {
        // movie 1: 900 ratings, all 5.0; movie 2: 100 ratings, all 1.0
        let real = std::iter::repeat_n((1, 5.0), 900).chain(std::iter::repeat_n((2, 1.0), 100));
        let profiles = MovieProfiles::from_ratings(real.chain([(3, 7.0), (3, 3.3)]));
        assert_eq!((profiles.len(), profiles.ratings()), (2, 1000));
        let config = GeneratorConfig::default();
        let generator = Generator::with_profiles(config, &builtin_catalog(), &profiles);
        let mut seen = std::collections::HashMap::<(i32, u64), usize>::new();
        for r in generator.take(20_000) {
            let rating = parse_json(r.payload.as_bytes(), 1024).unwrap();
            *seen
                .entry((rating.movie_id, (rating.rating * 2.0) as u64))
                .or_default() += 1;
        }
        let share =
            |movie, doubled| seen.get(&(movie, doubled)).copied().unwrap_or(0) as f64 / 20_000.0;
        assert!(
            (share(1, 10) - 0.9 * 900.0 / 902.0).abs() < 0.01,
            "{seen:?}"
        );
        assert!((share(2, 2) - 0.1 * 100.0 / 102.0).abs() < 0.01, "{seen:?}");
        assert!(
            seen.keys().all(|(movie, _)| *movie == 1 || *movie == 2),
            "{seen:?}"
        );
    }

    #[test]
    fn event_time_advances_at_the_rate_with_bounded_disorder() {
        let config = GeneratorConfig {
            events_per_second: 10.0,
            max_disorder_secs: 3,
            ..GeneratorConfig::default()
        };
        let start = config.start_time;
        for (i, r) in sample(config, 1000).iter().enumerate() {
            let clock = start + i as i64 / 10;
            assert!(
                (clock - 3..=clock).contains(&r.event_time),
                "record {i}: {}",
                r.event_time
            );
        }
    }
}
