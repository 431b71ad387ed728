//! Aggregate state of one pane (or of a whole window, when panes are merged): count and sum,
//! the exact value histogram, and per-movie and per-genre tallies.
//!
//! A pane is the smallest time slice that every configured window is an exact union of, so each
//! rating updates exactly one pane (O(1) per event), and a window's metrics are computed once,
//! when it is emitted, by merging its panes.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, GenreId};
use crate::histogram::ValueHistogram;
use crate::output::{GenreMetric, TopMovie};

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
    /// Indexed by [`GenreId`]; grows on demand.
    pub genres: Vec<Tally>,
}

/// The metrics of an aggregate, ready to be placed in a window result.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub avg_rating: f64,
    pub p50_rating: f64,
    pub p95_rating: f64,
    pub top_movies: Vec<TopMovie>,
    pub metrics_by_genre: Vec<GenreMetric>,
}

impl Aggregate {
    /// Adds one rating of `movie_id`, which belongs to `genres`.
    #[inline]
    pub fn add(&mut self, movie_id: i32, rating: f64, genres: &[GenreId]) {
        self.total.add(rating);
        self.values.add(rating);
        self.movies.entry(movie_id).or_default().add(rating);
        for genre in genres {
            let g = usize::from(*genre);
            if g >= self.genres.len() {
                self.genres.resize(g + 1, Tally::default());
            }
            self.genres[g].add(rating);
        }
    }

    /// Adds everything in `other` into `self`.
    pub fn merge(&mut self, other: &Aggregate) {
        self.total.merge(&other.total);
        self.values.merge(&other.values);
        for (movie, tally) in &other.movies {
            self.movies.entry(*movie).or_default().merge(tally);
        }
        if self.genres.len() < other.genres.len() {
            self.genres.resize(other.genres.len(), Tally::default());
        }
        for (mine, theirs) in self.genres.iter_mut().zip(&other.genres) {
            mine.merge(theirs);
        }
    }

    /// Renumbers genre tallies: `new_ids[old]` is the new id of old genre `old`; tallies of
    /// genres mapped to `None` are dropped (callers ensure they are empty).
    pub fn remap_genres(&mut self, new_ids: &[Option<GenreId>]) {
        let mut remapped = Vec::new();
        for (old, tally) in self.genres.iter().enumerate() {
            let Some(new) = new_ids.get(old).copied().flatten().map(usize::from) else {
                continue;
            };
            if new >= remapped.len() {
                remapped.resize(new + 1, Tally::default());
            }
            remapped[new] = *tally;
        }
        self.genres = remapped;
    }

    /// Computes the window metrics: count, average, p50/p95, top `top_n` movies and genres.
    pub fn summarize(&self, catalog: &Catalog, top_n: usize) -> Summary {
        Summary {
            count: self.total.count,
            avg_rating: self.total.avg(),
            p50_rating: self.values.percentile(0.5).unwrap_or(0.0),
            p95_rating: self.values.percentile(0.95).unwrap_or(0.0),
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

    /// Per-genre count and average, most ratings first, ties by genre name.
    fn genre_metrics(&self, catalog: &Catalog) -> Vec<GenreMetric> {
        let mut metrics: Vec<GenreMetric> = self
            .genres
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
