//! Durations as SQL hands them back: counts per bucket, so a percentile needs a few hundred rows
//! rather than one per message.

use serde::Serialize;
use utoipa::ToSchema;

/// How durations are bucketed, in milliseconds: to the second under a minute, to the minute under
/// an hour, to ten minutes beyond. The store computes the same buckets in SQL
/// ([`bucket_sql`]); a percentile is its bucket's lower bound.
pub fn bucket_of(ms: i64) -> i64 {
    match ms {
        ..0 => 0,
        0..60_000 => ms / 1_000 * 1_000,
        60_000..3_600_000 => ms / 60_000 * 60_000,
        _ => ms / 600_000 * 600_000,
    }
}

/// [`bucket_of`] as a SQL expression over `d` (an integer millisecond expression), the
/// same on SQLite and PostgreSQL (integer division truncates on both).
pub fn bucket_sql(d: &str) -> String {
    format!(
        "CASE WHEN {d} < 0 THEN 0 \
         WHEN {d} < 60000 THEN {d} / 1000 * 1000 \
         WHEN {d} < 3600000 THEN {d} / 60000 * 60000 \
         ELSE {d} / 600000 * 600000 END"
    )
}

/// Counts of durations by bucket, collected from SQL rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durations {
    /// (bucket lower bound in ms, how many), in any order.
    buckets: Vec<(i64, i64)>,
}

impl Durations {
    pub fn add(&mut self, bucket_ms: i64, count: i64) {
        self.buckets.push((bucket_ms, count));
    }

    pub fn samples(&self) -> i64 {
        self.buckets.iter().map(|(_, n)| n).sum()
    }

    /// The nearest-rank percentile `p` (0 < p ≤ 1) in milliseconds: the smallest bucket at or
    /// below which at least `p` of the samples lie. `None` without samples.
    pub fn percentile_ms(&self, p: f64) -> Option<i64> {
        let total = self.samples();
        if total == 0 {
            return None;
        }
        let rank = ((p * total as f64).ceil() as i64).clamp(1, total);
        let mut sorted = self.buckets.clone();
        sorted.sort_unstable();
        let mut seen = 0;
        sorted.into_iter().find_map(|(bucket, count)| {
            seen += count;
            (seen >= rank).then_some(bucket)
        })
    }

    pub fn summary(&self) -> Latency {
        Latency {
            samples: self.samples(),
            median_seconds: self.percentile_ms(0.5).map(|ms| ms / 1000),
            p90_seconds: self.percentile_ms(0.9).map(|ms| ms / 1000),
        }
    }
}

/// Median and 90th percentile of one kind of duration, in whole seconds (to the bucket: see
/// [`bucket_of`]); `null` without samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Latency {
    pub samples: i64,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn durations(values: &[i64]) -> Durations {
        let mut d = Durations::default();
        for v in values {
            d.add(bucket_of(*v), 1);
        }
        d
    }

    #[test]
    fn buckets_keep_two_significant_figures_where_it_matters() {
        assert_eq!(bucket_of(-5), 0);
        assert_eq!(bucket_of(1_999), 1_000);
        assert_eq!(bucket_of(59_999), 59_000);
        assert_eq!(bucket_of(119_000), 60_000);
        assert_eq!(bucket_of(3_600_000 + 599_999), 3_600_000);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let d = durations(&[4_000, 1_000, 3_000, 2_000]);
        assert_eq!(d.percentile_ms(0.5), Some(2_000));
        assert_eq!(d.percentile_ms(0.9), Some(4_000));
        let ten = durations(&(1..=10).map(|s| s * 1_000).collect::<Vec<_>>());
        assert_eq!(ten.percentile_ms(0.9), Some(9_000));
        assert_eq!(Durations::default().percentile_ms(0.5), None);
    }

    #[test]
    fn counts_in_one_bucket_weigh_as_many_samples() {
        let mut d = Durations::default();
        d.add(5_000, 1);
        d.add(1_000, 9);
        assert_eq!(d.samples(), 10);
        assert_eq!(d.percentile_ms(0.9), Some(1_000));
        assert_eq!(d.percentile_ms(1.0), Some(5_000));
    }
}
