//! Exact value histogram for ratings, with Spark's percentile rank rule.
//!
//! Ratings are half-steps from 0.5 to 5.0, so ten counters hold any number of them exactly in
//! O(1) memory. Any other valid value (e.g. 3.7) goes to an ordered map of exact values, so
//! percentiles stay exact for arbitrary input.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Number of half-step bins: 0.5, 1.0, ..., 5.0.
const BINS: usize = 10;

/// Counts of each distinct rating value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueHistogram {
    half_steps: [u64; BINS],
    /// Values that are not half-steps, keyed by [`order_key`].
    others: BTreeMap<u64, u64>,
}

/// Maps an f64 to a u64 whose unsigned order is the float's total order.
fn order_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Inverse of [`order_key`].
fn from_order_key(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
    }
}

/// Bin index of a half-step value in `[0.5, 5.0]`, if it is one.
#[inline]
fn half_step_bin(v: f64) -> Option<usize> {
    let doubled = v * 2.0;
    let i = doubled as i64;
    (i as f64 == doubled && (1..=BINS as i64).contains(&i)).then(|| (i - 1) as usize)
}

/// The 1-based rank of percentile `p` among `n` sorted values: `max(1, ceil(p * n))`, computed in
/// f64 exactly as Spark's `percentile_approx` does, and capped at `n`.
pub fn percentile_rank(p: f64, n: u64) -> u64 {
    ((p * n as f64).ceil() as u64).clamp(1, n.max(1))
}

impl ValueHistogram {
    /// Counts one value.
    #[inline]
    pub fn add(&mut self, v: f64) {
        match half_step_bin(v) {
            Some(bin) => self.half_steps[bin] += 1,
            None => *self.others.entry(order_key(v)).or_insert(0) += 1,
        }
    }

    /// Adds every count of `other` into `self`.
    pub fn merge(&mut self, other: &ValueHistogram) {
        for (mine, theirs) in self.half_steps.iter_mut().zip(other.half_steps) {
            *mine += theirs;
        }
        for (key, count) in &other.others {
            *self.others.entry(*key).or_insert(0) += count;
        }
    }

    /// Counts per half-star, 0.5 … 5.0: a value that is not a half-star counts in the nearest
    /// one (halfway between two, in the upper one), so the counts add up to [`Self::len`].
    pub fn half_star_counts(&self) -> [u64; BINS] {
        let mut counts = self.half_steps;
        for (key, count) in &self.others {
            let doubled = (from_order_key(*key) * 2.0).round() as i64;
            counts[(doubled.clamp(1, BINS as i64) - 1) as usize] += count;
        }
        counts
    }

    /// Total number of values.
    pub fn len(&self) -> u64 {
        self.half_steps.iter().sum::<u64>() + self.others.values().sum::<u64>()
    }

    /// True when no value was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Distinct values with their counts, ascending.
    fn sorted_counts(&self) -> Vec<(f64, u64)> {
        let bins = self
            .half_steps
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| ((i + 1) as f64 / 2.0, *c));
        let mut all: Vec<(f64, u64)> = bins.collect();
        if !self.others.is_empty() {
            all.extend(self.others.iter().map(|(k, c)| (from_order_key(*k), *c)));
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        all
    }

    /// The value at rank [`percentile_rank`]`(p, n)` of the sorted values; `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let rank = percentile_rank(p, n);
        let mut seen = 0;
        for (value, count) in self.sorted_counts() {
            seen += count;
            if seen >= rank {
                return Some(value);
            }
        }
        unreachable!("rank {rank} is at most the count {n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[f64]) -> ValueHistogram {
        let mut h = ValueHistogram::default();
        values.iter().for_each(|v| h.add(*v));
        h
    }

    #[test]
    fn spark_examples() {
        let h = hist(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(h.percentile(0.5), Some(2.0));
        assert_eq!(h.percentile(0.95), Some(4.0));
        let steps: Vec<f64> = (1..=10).map(|i| i as f64 * 0.5).collect();
        let h = hist(&steps);
        assert_eq!(h.len(), 10);
        assert_eq!(h.percentile(0.5), Some(2.5));
        assert_eq!(h.percentile(0.95), Some(5.0));
    }

    #[test]
    fn half_star_counts_put_other_values_in_the_nearest_half_star() {
        // 1.25 is halfway between 1.0 and 1.5: the upper one; 3.7 → 3.5; 4.99 → 5.0
        let h = hist(&[0.5, 0.5, 1.25, 3.7, 3.5, 4.99, 5.0]);
        assert_eq!(h.half_star_counts(), [2, 0, 1, 0, 0, 0, 2, 0, 0, 2]);
        assert_eq!(h.half_star_counts().iter().sum::<u64>(), h.len());
    }

    #[test]
    fn arbitrary_values_are_exact() {
        let h = hist(&[3.0, 7.0, 11.0]);
        assert_eq!(h.percentile(0.5), Some(7.0));
        assert_eq!(h.percentile(0.95), Some(11.0));
        let h = hist(&[3.7, 0.5, 4.99, 3.7, 1.25]);
        assert_eq!(h.percentile(0.5), Some(3.7));
        assert_eq!(h.percentile(0.0), Some(0.5));
        assert_eq!(h.percentile(1.0), Some(4.99));
    }

    #[test]
    fn ties_are_kept_and_empty_is_none() {
        let h = hist(&[4.0, 4.0, 4.0, 1.0]);
        assert_eq!(h.percentile(0.25), Some(1.0));
        assert_eq!(h.percentile(0.26), Some(4.0));
        assert_eq!(ValueHistogram::default().percentile(0.5), None);
    }

    #[test]
    fn rank_rule_matches_spark_float_arithmetic() {
        assert_eq!(percentile_rank(0.5, 4), 2);
        assert_eq!(percentile_rank(0.95, 4), 4);
        assert_eq!(percentile_rank(0.95, 20), 19);
        assert_eq!(percentile_rank(0.0, 5), 1);
        assert_eq!(percentile_rank(0.5, 1), 1);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = hist(&[1.0, 3.3]);
        a.merge(&hist(&[1.0, 3.3, 5.0]));
        assert_eq!(a.len(), 5);
        assert_eq!(a, hist(&[1.0, 1.0, 3.3, 3.3, 5.0]));
    }

    #[test]
    fn order_key_round_trips_and_orders() {
        let vals = [-2.5, -0.0, 0.0, 0.5, 3.7, 5.0];
        for w in vals.windows(2) {
            assert!(order_key(w[0]) <= order_key(w[1]));
        }
        for v in vals {
            assert_eq!(from_order_key(order_key(v)).to_bits(), v.to_bits());
        }
    }
}
