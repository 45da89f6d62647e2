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

    /// Count, mean, p50/p95/p99, max and total, in the values' own unit (nanoseconds).
    pub fn summary(&self) -> Summary {
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
            mean_ns: round_ns(total / n as f64),
            p50_ns: round_ns(pct[0]),
            p95_ns: round_ns(pct[1]),
            p99_ns: round_ns(pct[2]),
            max_ns: round_ns(max),
            total_ns: i64::try_from(self.sum).unwrap_or(if self.sum < 0 {
                i64::MIN
            } else {
                i64::MAX
            }),
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

/// Distribution figures in nanoseconds (signed: a client-vs-server gap can be negative) with
/// the sample count beside them; JSON shows them as milliseconds (`*_ms`, see `ns_as_ms`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    #[serde(rename = "mean_ms", serialize_with = "ns_as_ms")]
    pub mean_ns: i64,
    #[serde(rename = "p50_ms", serialize_with = "ns_as_ms")]
    pub p50_ns: i64,
    #[serde(rename = "p95_ms", serialize_with = "ns_as_ms")]
    pub p95_ns: i64,
    #[serde(rename = "p99_ms", serialize_with = "ns_as_ms")]
    pub p99_ns: i64,
    #[serde(rename = "max_ms", serialize_with = "ns_as_ms")]
    pub max_ns: i64,
    #[serde(rename = "total_ms", serialize_with = "ns_as_ms")]
    pub total_ns: i64,
    /// With fewer than 100 samples p99 is effectively the maximum (ANALYSIS.md §0).
    pub p99_is_max: bool,
}

/// An interpolated figure (a percentile, a mean) to whole nanoseconds.
fn round_ns(v: f64) -> i64 {
    // `as` saturates at the i64 range, and NaN (never produced here) becomes 0.
    v.round() as i64
}

/// Nanoseconds to milliseconds, rounded to the microsecond (the precision findings are shown in).
pub fn ns_to_ms(ns: f64) -> f64 {
    (ns / 1_000.0).round() / 1_000.0
}

/// A duration held in integer nanoseconds (findings keep every duration so inside).
pub trait Nanos: Copy {
    fn as_f64(self) -> f64;
    /// As a length of time (a negative figure, a gap under clock skew, is none).
    fn as_duration_ns(self) -> u64;
}

impl Nanos for u64 {
    fn as_f64(self) -> f64 {
        self as f64
    }
    fn as_duration_ns(self) -> u64 {
        self
    }
}

impl Nanos for i64 {
    fn as_f64(self) -> f64 {
        self as f64
    }
    fn as_duration_ns(self) -> u64 {
        self.max(0).unsigned_abs()
    }
}

/// Serialises a duration held in integer nanoseconds as the report's milliseconds
/// (`ns_to_ms`): durations are nanoseconds inside and milliseconds only at the JSON edge.
pub fn ns_as_ms<S: serde::Serializer, T: Nanos>(ns: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ns_to_ms(ns.as_f64()))
}

/// `ns_as_ms` for an optional duration (`null` when absent).
pub fn opt_ns_as_ms<S: serde::Serializer, T: Nanos>(
    ns: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match ns {
        Some(v) => s.serialize_some(&ns_to_ms(v.as_f64())),
        None => s.serialize_none(),
    }
}

/// `ns_as_ms` for each value of a map of durations.
pub fn ns_map_as_ms<S: serde::Serializer, K: Serialize, T: Nanos>(
    m: &std::collections::BTreeMap<K, T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        map.serialize_entry(k, &ns_to_ms(v.as_f64()))?;
    }
    map.end()
}

#[cfg(test)]
mod tests;
