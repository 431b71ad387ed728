//! Movie profiles learnt from real ratings (MovieLens `ratings.csv`): how often each movie is
//! rated and its own mix of rating values, so that generated traffic trends like the real one
//! (the films people actually rate, each with its typical ratings) instead of a Zipf draw over
//! a shuffled catalog.

/// Per movie: its number of ratings and their counts per half-star.
#[derive(Debug, Clone, Default)]
pub struct MovieProfiles {
    movies: Vec<(i32, [u32; 10])>,
}

/// Weight of the overall rating mix added to each movie's own (in ratings): a movie rated once
/// still gets every value now and then.
const PRIOR_RATINGS: f64 = 2.0;

impl MovieProfiles {
    /// Profiles from `(movieId, rating)` pairs; ratings that are not half-stars in
    /// [0.5, 5.0] are ignored.
    pub fn from_ratings(ratings: impl IntoIterator<Item = (i32, f64)>) -> MovieProfiles {
        let mut by_movie = std::collections::BTreeMap::<i32, [u32; 10]>::new();
        for (movie, rating) in ratings {
            let doubled = rating * 2.0;
            if doubled.fract() == 0.0 && (1.0..=10.0).contains(&doubled) {
                by_movie.entry(movie).or_default()[doubled as usize - 1] += 1;
            }
        }
        MovieProfiles {
            movies: by_movie.into_iter().collect(),
        }
    }

    /// Number of movies profiled.
    pub fn len(&self) -> usize {
        self.movies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.movies.is_empty()
    }

    /// Number of ratings they were learnt from.
    pub fn ratings(&self) -> u64 {
        self.movies
            .iter()
            .flat_map(|(_, counts)| counts.iter())
            .map(|c| u64::from(*c))
            .sum()
    }

    /// The movies and their popularity weights (their rating counts).
    pub(crate) fn popularity(&self) -> (Vec<i32>, Vec<f64>) {
        self.movies
            .iter()
            .map(|(movie, counts)| (*movie, counts.iter().map(|c| f64::from(*c)).sum::<f64>()))
            .unzip()
    }

    /// Each movie's rating weights (its counts plus a little of `overall`), in movie order.
    pub(crate) fn rating_weights(&self, overall: &[f64; 10]) -> Vec<[f64; 10]> {
        let total: f64 = overall.iter().sum();
        self.movies
            .iter()
            .map(|(_, counts)| {
                std::array::from_fn(|i| f64::from(counts[i]) + PRIOR_RATINGS * overall[i] / total)
            })
            .collect()
    }
}
