//! Percentiles and mergeable sample sets.
//!
//! Percentiles use linear interpolation between closest ranks (numpy/pandas "linear"):
//! `k = (n-1)·p`, `v[⌊k⌋] + (v[⌈k⌉] − v[⌊k⌋])·(k − ⌊k⌋)`, the rule ANALYSIS.md §0 fixes and the
//! shopfast answer key uses. Samples are kept exactly (8 bytes each) rather than bucketed, so
//! figures match other tools to the microsecond; `remove` lets a re-completed trace take back
//! its earlier contribution.

use serde::Serialize;

/// `p` in `[0, 1]` of ascending `sorted`; `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let k = (n - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = k.floor() as usize;
    let hi = k.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (k - lo as f64))
}

/// A multiset of signed values (nanoseconds, or any integer figure).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    values: Vec<i64>,
}

impl Samples {
    pub fn push(&mut self, v: i64) {
        self.values.push(v);
    }

    /// Removes one occurrence of `v`; returns whether it was present.
    pub fn remove(&mut self, v: i64) -> bool {
        match self.values.iter().position(|&x| x == v) {
            Some(i) => {
                self.values.swap_remove(i);
                true
            }
            None => false,
        }
    }

    pub fn extend(&mut self, other: &Samples) {
        self.values.extend_from_slice(&other.values);
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn sum(&self) -> i64 {
        self.values.iter().sum()
    }

    pub fn sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.values.iter().map(|&x| x as f64).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    pub fn percentile(&self, p: f64) -> Option<f64> {
        percentile(&self.sorted(), p)
    }

    /// Count, mean, p50/p95/p99 and max in milliseconds, for values in nanoseconds.
    pub fn summary_ms(&self) -> Summary {
        Summary::from_sorted_ns(&self.sorted())
    }
}

/// Distribution figures in milliseconds (rounded to 1 µs) with the sample count beside them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub total_ms: f64,
    /// With fewer than 100 samples p99 is effectively the maximum (ANALYSIS.md §0).
    pub p99_is_max: bool,
}

impl Summary {
    pub fn from_sorted_ns(sorted: &[f64]) -> Summary {
        let n = sorted.len();
        if n == 0 {
            return Summary::default();
        }
        let total: f64 = sorted.iter().sum();
        let pct = |p| ns_to_ms(percentile(sorted, p).unwrap_or(0.0));
        Summary {
            n,
            mean_ms: ns_to_ms(total / n as f64),
            p50_ms: pct(0.50),
            p95_ms: pct(0.95),
            p99_ms: pct(0.99),
            max_ms: ns_to_ms(sorted[n - 1]),
            total_ms: ns_to_ms(total),
            p99_is_max: n < 100,
        }
    }
}

/// Nanoseconds to milliseconds, rounded to the microsecond (the precision findings are shown in).
pub fn ns_to_ms(ns: f64) -> f64 {
    (ns / 1_000.0).round() / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_interpolation_matches_numpy() {
        let v = [300.0, 320.0, 340.0, 360.0];
        assert_eq!(percentile(&v, 0.5), Some(330.0));
        assert_eq!(percentile(&[20.0, 22.0, 24.0, 26.0], 0.5), Some(23.0));
        assert_eq!(percentile(&v, 0.95), Some(357.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn samples_remove_takes_back_a_contribution() {
        let mut s = Samples::default();
        for v in [5, 1, 3] {
            s.push(v);
        }
        assert!(s.remove(1));
        assert!(!s.remove(42));
        assert_eq!(s.sorted(), vec![3.0, 5.0]);
        assert_eq!(s.sum(), 8);
    }

    #[test]
    fn summary_reports_ms_with_count() {
        let mut s = Samples::default();
        for ms in [10_i64, 20, 30, 40] {
            s.push(ms * 1_000_000);
        }
        let sum = s.summary_ms();
        assert_eq!(sum.n, 4);
        assert_eq!(sum.p50_ms, 25.0);
        assert_eq!(sum.max_ms, 40.0);
        assert_eq!(sum.total_ms, 100.0);
        assert!(sum.p99_is_max);
    }
}
