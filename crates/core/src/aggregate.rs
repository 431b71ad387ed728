//! Aggregate state of one pane (or of a whole window, when panes are merged): count and sum,
//! the exact value histogram, and per-movie tallies.
//!
//! A pane is the smallest time slice that every configured window is an exact union of, so each
//! rating updates exactly one pane (O(1) per event), and a window's metrics are computed once,
//! when it is emitted, by merging its panes. Per-genre tallies are derived then from the
//! per-movie ones (a rating counts once for each genre of its movie), which keeps the catalog
//! out of the per-event path.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::histogram::ValueHistogram;
use crate::output::{GenreMetric, TopMovie, WindowMetrics};

/// A count and a sum of ratings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub count: u64,
    pub sum: f64,
}

impl Tally {
    #[inline]
    fn add(&mut self, rating: f64) {
        self.count += 1;
        self.sum += rating;
    }

    fn merge(&mut self, other: &Tally) {
        self.count += other.count;
        self.sum += other.sum;
    }

    /// `sum / count`, or 0 for an empty tally.
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }
}

/// Aggregate state of a set of ratings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub total: Tally,
    pub values: ValueHistogram,
    pub movies: FxHashMap<i32, Tally>,
}

impl Aggregate {
    /// An empty aggregate with room for `movies` distinct movies.
    pub fn with_capacity(movies: usize) -> Aggregate {
        Aggregate {
            movies: FxHashMap::with_capacity_and_hasher(movies, Default::default()),
            ..Aggregate::default()
        }
    }

    /// Adds one rating of `movie_id`.
    #[inline]
    pub fn add(&mut self, movie_id: i32, rating: f64) {
        self.total.add(rating);
        self.values.add(rating);
        self.movies.entry(movie_id).or_default().add(rating);
    }

    /// Adds everything in `other` into `self`.
    pub fn merge(&mut self, other: &Aggregate) {
        self.total.merge(&other.total);
        self.values.merge(&other.values);
        for (movie, tally) in &other.movies {
            self.movies.entry(*movie).or_default().merge(tally);
        }
    }

    /// Computes the window metrics: count, average, p50/p95, top `top_n` movies and genres.
    pub fn summarize(&self, catalog: &Catalog, top_n: usize) -> WindowMetrics {
        WindowMetrics {
            count: self.total.count,
            avg_rating: self.total.avg(),
            p50_rating: self.values.percentile(0.5).unwrap_or(0.0),
            p95_rating: self.values.percentile(0.95).unwrap_or(0.0),
            rating_histogram: self.values.half_star_counts(),
            top_movies: self.top_movies(catalog, top_n),
            metrics_by_genre: self.genre_metrics(catalog),
        }
    }

    /// The `n` most rated movies, most ratings first, ties by smaller movie id.
    fn top_movies(&self, catalog: &Catalog, n: usize) -> Vec<TopMovie> {
        let mut movies: Vec<(i32, Tally)> = self.movies.iter().map(|(m, t)| (*m, *t)).collect();
        let order =
            |a: &(i32, Tally), b: &(i32, Tally)| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0));
        if n < movies.len() {
            if n == 0 {
                return Vec::new();
            }
            movies.select_nth_unstable_by(n - 1, order);
            movies.truncate(n);
        }
        movies.sort_unstable_by(order);
        movies
            .into_iter()
            .map(|(movie_id, tally)| TopMovie {
                movie_id,
                title: catalog.movie(movie_id).map(|m| Arc::clone(&m.title)),
                count: tally.count,
                avg_rating: tally.avg(),
            })
            .collect()
    }

    /// Per-genre count and average, most ratings first, ties by genre name. Movies missing from
    /// the catalog add to no genre.
    fn genre_metrics(&self, catalog: &Catalog) -> Vec<GenreMetric> {
        let mut genres = vec![Tally::default(); catalog.genre_names().len()];
        for (movie_id, tally) in &self.movies {
            for genre in catalog.movie(*movie_id).map_or(&[][..], |m| &m.genres[..]) {
                genres[usize::from(*genre)].merge(tally);
            }
        }
        let mut metrics: Vec<GenreMetric> = genres
            .iter()
            .enumerate()
            .filter(|(_, t)| t.count > 0)
            .map(|(g, t)| GenreMetric {
                genre: Arc::clone(&catalog.genre_names()[g]),
                count: t.count,
                avg_rating: t.avg(),
            })
            .collect();
        metrics.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.genre.cmp(&b.genre)));
        metrics
    }
}
