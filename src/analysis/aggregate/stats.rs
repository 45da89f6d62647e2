//! Percentiles and bounded, mergeable distributions.
//!
//! Percentiles use linear interpolation between closest ranks (numpy/pandas "linear"):
//! `k = (n-1)·p`, `v[⌊k⌋] + (v[⌈k⌉] − v[⌊k⌋])·(k − ⌊k⌋)`, the rule ANALYSIS.md §0 fixes and the
//! shopfast answer key uses.
//!
//! A `Samples` keeps its values exactly up to `EXACT_LIMIT` of them (8 bytes each), so small
//! files give the exact figures other tools give. Past that it turns into a log-bucketed
//! sketch (DDSketch's mapping, `γ = (1+α)/(1−α)` with `α = RELATIVE_ERROR`): bucket `i` counts
//! the values in `(γ^(i−1), γ^i]`, and every value read back (a percentile's closest ranks,
//! the maximum) is within `RELATIVE_ERROR` (1 %) of the true one; a percentile interpolated
//! between two ranks of the same sign is within it too. Memory stays bounded whatever the
//! count: at most one bucket per `γ` step between the smallest and largest value (about 2,200
//! for the whole `i64` range, 120 per decade). Count, sum and mean stay exact in both modes.
//!
//! Both modes support `push`, `remove` (a re-completed trace takes its earlier contribution
//! back) and `merge` (exact for counts and sums: what the cross-instance view will combine).

use serde::Serialize;

/// Values kept exactly before a distribution turns into a sketch.
pub const EXACT_LIMIT: usize = 1024;

/// Relative error bound of any value a sketch reads back (1 %).
pub const RELATIVE_ERROR: f64 = 0.01;

/// `p` in `[0, 1]` of ascending `sorted`; `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    interpolate(n as u64, p, |r| sorted[r as usize])
}

/// The linear-interpolation rule over `n` ranked values, `at(rank)` giving each.
fn interpolate(n: u64, p: f64, at: impl Fn(u64) -> f64) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let k = (n - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = k.floor() as u64;
    let hi = (k.ceil() as u64).min(n - 1);
    let (a, b) = (at(lo), at(hi));
    Some(a + (b - a) * (k - lo as f64))
}

/// A multiset of signed values (nanoseconds, or any integer figure): exact while small, a
/// sketch with `RELATIVE_ERROR` past `EXACT_LIMIT` values.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub(crate) repr: Repr,
    pub(crate) sum: i128,
}

#[derive(Debug, Clone)]
pub(crate) enum Repr {
    Exact(Vec<i64>),
    Sketch(Box<Sketch>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Exact(Vec::new())
    }
}

/// Equal when they hold the same values (exact: the same multiset, in any order) or the same
/// bucket counts (sketch).
impl PartialEq for Samples {
    fn eq(&self, other: &Self) -> bool {
        if self.sum != other.sum {
            return false;
        }
        match (&self.repr, &other.repr) {
            (Repr::Exact(a), Repr::Exact(b)) => {
                let (mut a, mut b) = (a.clone(), b.clone());
                a.sort_unstable();
                b.sort_unstable();
                a == b
            }
            (Repr::Sketch(a), Repr::Sketch(b)) => a == b,
            _ => false,
        }
    }
}

impl Samples {
    pub fn push(&mut self, v: i64) {
        self.sum += i128::from(v);
        match &mut self.repr {
            Repr::Exact(values) if values.len() < EXACT_LIMIT => values.push(v),
            Repr::Exact(values) => {
                let mut sketch = Sketch::default();
                for &x in values.iter() {
                    sketch.add(x, 1);
                }
                sketch.add(v, 1);
                self.repr = Repr::Sketch(Box::new(sketch));
            }
            Repr::Sketch(s) => s.add(v, 1),
        }
    }

    /// Removes one occurrence of `v`; returns whether it was present. In a sketch, "present"
    /// means its bucket was not empty: callers take back only what they added.
    pub fn remove(&mut self, v: i64) -> bool {
        let removed = match &mut self.repr {
            Repr::Exact(values) => match values.iter().position(|&x| x == v) {
                Some(i) => {
                    values.swap_remove(i);
                    true
                }
                None => false,
            },
            Repr::Sketch(s) => s.remove(v),
        };
        if removed {
            self.sum -= i128::from(v);
        }
        removed
    }

    /// Adds every value of `other`: the result equals the distribution of both sets of values
    /// recorded one by one (counts and sums exactly, buckets exactly once it is a sketch).
    pub fn merge(&mut self, other: &Samples) {
        self.sum += other.sum;
        let total = self.len() + other.len();
        let mut sketch = match (std::mem::take(&mut self.repr), &other.repr) {
            (Repr::Exact(mut a), Repr::Exact(b)) if total <= EXACT_LIMIT => {
                a.extend_from_slice(b);
                self.repr = Repr::Exact(a);
                return;
            }
            (Repr::Exact(a), _) => {
                let mut s = Sketch::default();
                for x in a {
                    s.add(x, 1);
                }
                s
            }
            (Repr::Sketch(s), _) => *s,
        };
        match &other.repr {
            Repr::Exact(b) => {
                for &x in b {
                    sketch.add(x, 1);
                }
            }
            Repr::Sketch(b) => sketch.merge(b),
        }
        self.repr = Repr::Sketch(Box::new(sketch));
    }

    pub fn extend(&mut self, other: &Samples) {
        self.merge(other);
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Exact(v) => v.len(),
            Repr::Sketch(s) => s.count as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether figures read back are exact (not yet past `EXACT_LIMIT` values).
    pub fn is_exact(&self) -> bool {
        matches!(self.repr, Repr::Exact(_))
    }

    pub fn sum(&self) -> i128 {
        self.sum
    }

    /// The `p` percentile by the linear-interpolation rule; `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        match &self.repr {
            Repr::Exact(v) => percentile(&sorted(v), p),
            Repr::Sketch(s) => interpolate(s.count, p, |r| s.value_at_rank(r)),
        }
    }

    /// Count, mean, p50/p95/p99 and max in milliseconds, for values in nanoseconds.
    pub fn summary_ms(&self) -> Summary {
        let n = self.len();
        if n == 0 {
            return Summary::default();
        }
        let total = self.sum as f64;
        let quantiles = [0.50, 0.95, 0.99];
        let (pct, max) = match &self.repr {
            Repr::Exact(v) => {
                let s = sorted(v);
                (
                    quantiles.map(|q| percentile(&s, q).unwrap_or(0.0)),
                    s[n - 1],
                )
            }
            Repr::Sketch(s) => (
                quantiles.map(|q| interpolate(s.count, q, |r| s.value_at_rank(r)).unwrap_or(0.0)),
                s.value_at_rank(s.count - 1),
            ),
        };
        Summary {
            n,
            mean_ms: ns_to_ms(total / n as f64),
            p50_ms: ns_to_ms(pct[0]),
            p95_ms: ns_to_ms(pct[1]),
            p99_ms: ns_to_ms(pct[2]),
            max_ms: ns_to_ms(max),
            total_ms: ns_to_ms(total),
            p99_is_max: n < 100,
        }
    }

    /// Heap bytes held, for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Exact(v) => v.capacity() * size_of::<i64>(),
            Repr::Sketch(s) => size_of::<Sketch>() + s.heap_bytes(),
        }
    }
}

fn sorted(values: &[i64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// `ln γ` for `γ = (1+α)/(1−α)`.
fn ln_gamma() -> f64 {
    ((1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)).ln()
}

/// The bucket of a magnitude `m ≥ 1`: the `i` with `γ^(i−1) < m ≤ γ^i`.
fn bucket_of(m: u64) -> i32 {
    ((m as f64).ln() / ln_gamma()).ceil() as i32
}

/// The value a bucket reads back as: `2γ^i/(γ+1)`, within `α` of everything in the bucket.
fn bucket_value(i: i32) -> f64 {
    let gamma = ln_gamma().exp();
    2.0 * (f64::from(i) * ln_gamma()).exp() / (gamma + 1.0)
}

/// Log-bucketed counts of positive magnitudes, stored densely from the lowest non-empty bucket
/// to the highest (trimmed, so equal contents compare equal).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Buckets {
    pub(crate) offset: i32,
    pub(crate) counts: Vec<u64>,
}

impl Buckets {
    fn add(&mut self, i: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = i;
            self.counts.push(n);
            return;
        }
        if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        }
        let at = (i - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += n;
    }

    fn remove(&mut self, i: i32) -> bool {
        let Some(at) = usize::try_from(i - self.offset)
            .ok()
            .filter(|&at| self.counts.get(at).is_some_and(|&c| c > 0))
        else {
            return false;
        };
        self.counts[at] -= 1;
        while self.counts.last() == Some(&0) {
            self.counts.pop();
        }
        let lead = self.counts.iter().take_while(|&&c| c == 0).count();
        if lead > 0 {
            self.counts.drain(..lead);
            self.offset += lead as i32;
        }
        if self.counts.is_empty() {
            self.offset = 0;
        }
        true
    }

    /// Buckets with their counts, lowest first.
    fn iter(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        let offset = self.offset;
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(move |(k, &c)| (offset + k as i32, c))
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sketch {
    pub(crate) count: u64,
    pub(crate) zeros: u64,
    pub(crate) positive: Buckets,
    /// Magnitudes of negative values.
    pub(crate) negative: Buckets,
}

impl Sketch {
    fn add(&mut self, v: i64, n: u64) {
        self.count += n;
        match v {
            0 => self.zeros += n,
            v if v > 0 => self.positive.add(bucket_of(v.unsigned_abs()), n),
            v => self.negative.add(bucket_of(v.unsigned_abs()), n),
        }
    }

    fn remove(&mut self, v: i64) -> bool {
        let removed = match v {
            0 if self.zeros > 0 => {
                self.zeros -= 1;
                true
            }
            0 => false,
            v if v > 0 => self.positive.remove(bucket_of(v.unsigned_abs())),
            v => self.negative.remove(bucket_of(v.unsigned_abs())),
        };
        if removed {
            self.count -= 1;
        }
        removed
    }

    fn merge(&mut self, other: &Sketch) {
        self.count += other.count;
        self.zeros += other.zeros;
        for (i, c) in other.positive.iter() {
            self.positive.add(i, c);
        }
        for (i, c) in other.negative.iter() {
            self.negative.add(i, c);
        }
    }

    /// The value of rank `r` (0-based, ascending), within `RELATIVE_ERROR` of the true one.
    fn value_at_rank(&self, r: u64) -> f64 {
        let mut seen = 0u64;
        for (i, c) in self.negative.iter().rev() {
            seen += c;
            if r < seen {
                return -bucket_value(i);
            }
        }
        seen += self.zeros;
        if r < seen {
            return 0.0;
        }
        let mut last = 0.0;
        for (i, c) in self.positive.iter() {
            seen += c;
            last = bucket_value(i);
            if r < seen {
                return last;
            }
        }
        last
    }

    fn heap_bytes(&self) -> usize {
        (self.positive.counts.capacity() + self.negative.counts.capacity()) * size_of::<u64>()
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

/// Nanoseconds to milliseconds, rounded to the microsecond (the precision findings are shown in).
pub fn ns_to_ms(ns: f64) -> f64 {
    (ns / 1_000.0).round() / 1_000.0
}

/// Serialises a duration held in integer nanoseconds as the report's milliseconds
/// (`ns_to_ms`): for fields kept in ns inside, converted only at the JSON edge.
pub fn ns_as_ms<S: serde::Serializer>(ns: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ns_to_ms(*ns as f64))
}

#[cfg(test)]
mod tests;
