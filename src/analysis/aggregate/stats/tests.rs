use super::*;

/// SplitMix64 for seeded random cases (`analysis` may not use `demo`'s generator).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Log-normal around `median_ms` (sigma 1: a long tail), in ns.
    fn latency(&mut self, median_ms: f64) -> u64 {
        let (u1, u2) = (1.0 - self.f64(), self.f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (median_ms * 1e6 * z.exp()) as u64
    }
}

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
    assert_eq!(s.percentile(0.0), Some(3.0));
    assert_eq!(s.percentile(1.0), Some(5.0));
    assert_eq!(s.sum(), 8);
}

#[test]
fn summary_reports_ms_with_count() {
    let mut s = Samples::default();
    for ms in [10_i64, 20, 30, 40] {
        s.push(ms * 1_000_000);
    }
    let sum = s.summary();
    assert_eq!(sum.n, 4);
    assert_eq!(sum.p50_ns, 25_000_000);
    assert_eq!(sum.max_ns, 40_000_000);
    assert_eq!(sum.total_ns, 100_000_000);
    assert!(sum.p99_is_max);
}

/// Random integer data of the shapes latencies take: log-normal around a random median,
/// sometimes with zeros and negatives (gaps) mixed in.
fn random_values(rng: &mut Rng, n: usize) -> Vec<i64> {
    let median_ms = 0.01 + rng.f64() * 500.0;
    let signed = rng.chance(0.3);
    (0..n)
        .map(|_| {
            let v = rng.latency(median_ms) as i64;
            match rng.range(0, 19) {
                0 if signed => 0,
                1 | 2 if signed => -v,
                _ => v,
            }
        })
        .collect()
}

fn of(values: &[i64]) -> Samples {
    let mut s = Samples::default();
    for &v in values {
        s.push(v);
    }
    s
}

fn exact_percentile(values: &[i64], p: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    v.sort_by(f64::total_cmp);
    percentile(&v, p).unwrap_or(f64::NAN)
}

/// Within the stated relative error, plus float noise at bucket boundaries.
fn within_bound(got: f64, want: f64) -> bool {
    (got - want).abs() <= RELATIVE_ERROR * want.abs() * (1.0 + 1e-9) + 1e-9
}

#[test]
fn small_distributions_stay_exact() {
    let mut rng = Rng::new(7);
    let values = random_values(&mut rng, EXACT_LIMIT);
    let s = of(&values);
    assert!(s.is_exact());
    for p in [0.0, 0.5, 0.95, 0.99, 1.0] {
        assert_eq!(s.percentile(p), Some(exact_percentile(&values, p)));
    }
    let mut more = s.clone();
    more.push(1);
    assert!(!more.is_exact(), "one past the limit turns into a sketch");
}

#[test]
fn sketch_quantiles_are_within_the_relative_error() {
    let mut rng = Rng::new(42);
    for case in 0..200 {
        let n = EXACT_LIMIT + 1 + rng.range(0, 20_000) as usize;
        let mut values = random_values(&mut rng, n);
        // All one sign, so interpolated figures are bounded too (see the module docs).
        if case % 2 == 0 {
            values.iter_mut().for_each(|v| *v = v.abs());
        }
        let s = of(&values);
        assert!(!s.is_exact());
        assert_eq!(s.len(), n);
        assert_eq!(s.sum(), values.iter().map(|&v| i128::from(v)).sum::<i128>());
        let quantiles: &[f64] = if case % 2 == 0 {
            &[0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0]
        } else {
            // Mixed signs: the ranks themselves are within the bound.
            &[0.0, 1.0]
        };
        for &p in quantiles {
            let got = s.percentile(p).unwrap_or(f64::NAN);
            let want = exact_percentile(&values, p);
            assert!(
                within_bound(got, want),
                "case {case}: p{p} of {n} values: {got} vs exact {want}"
            );
        }
        let sum = s.summary();
        let max = exact_percentile(&values, 1.0);
        assert!(within_bound(sum.max_ns as f64, max) || (sum.max_ns as f64 - max).abs() < 1.0);
    }
}

#[test]
fn merge_equals_the_distribution_of_the_union() {
    let mut rng = Rng::new(9);
    for case in 0..300 {
        // Sizes on both sides of the limit, so every pair of modes merges.
        let size = |rng: &mut Rng| match rng.range(0, 2) {
            0 => rng.range(0, 50) as usize,
            1 => rng.range(EXACT_LIMIT as u64 / 2, EXACT_LIMIT as u64) as usize,
            _ => rng.range(EXACT_LIMIT as u64, 4 * EXACT_LIMIT as u64) as usize,
        };
        let (na, nb) = (size(&mut rng), size(&mut rng));
        let a = random_values(&mut rng, na);
        let b = random_values(&mut rng, nb);
        let mut merged = of(&a);
        merged.merge(&of(&b));
        let union: Vec<i64> = a.iter().chain(&b).copied().collect();
        let whole = of(&union);
        assert_eq!(merged, whole, "case {case}: {na} + {nb} values");
        assert_eq!(merged.len(), na + nb);
        assert_eq!(merged.summary(), whole.summary());
        // Merging is commutative as well.
        let mut other_way = of(&b);
        other_way.merge(&of(&a));
        assert_eq!(other_way, merged);
    }
}

#[test]
fn remove_undoes_record() {
    let mut rng = Rng::new(3);
    for case in 0..200 {
        let n = rng.range(0, 3 * EXACT_LIMIT as u64) as usize;
        let values = random_values(&mut rng, n);
        let before = of(&values);
        let k = rng.range(1, 40) as usize;
        let extra = random_values(&mut rng, k);
        let mut s = before.clone();
        for &v in &extra {
            s.push(v);
        }
        for &v in extra.iter().rev() {
            assert!(s.remove(v), "case {case}: {v} was recorded");
        }
        // A distribution that crossed the limit stays a sketch; compare like with like.
        if s.is_exact() == before.is_exact() {
            assert_eq!(s, before, "case {case}");
        } else {
            let mut sketch = of(&values);
            for _ in 0..=EXACT_LIMIT {
                sketch.push(0);
            }
            for _ in 0..=EXACT_LIMIT {
                sketch.remove(0);
            }
            assert_eq!(s, sketch, "case {case}");
        }
        assert_eq!(s.len(), n);
        assert_eq!(s.sum(), before.sum());
    }
}

#[test]
fn removing_everything_empties_a_sketch() {
    let values: Vec<i64> = (1..=3 * EXACT_LIMIT as i64).map(|v| v * 1_000).collect();
    let mut s = of(&values);
    for &v in &values {
        assert!(s.remove(v));
    }
    assert!(s.is_empty());
    assert_eq!(s.percentile(0.5), None);
    assert!(!s.remove(1_000), "nothing left to take back");
    s.push(5_000_000);
    assert_eq!(s.summary().n, 1);
    assert!(within_bound(s.summary().p50_ns as f64, 5e6));
}

#[test]
fn sketch_memory_is_bounded_whatever_the_count() {
    let mut rng = Rng::new(11);
    let mut s = Samples::default();
    for _ in 0..200_000 {
        // 1 µs to 100 s: eight decades.
        s.push((1_000.0 * 10f64.powf(rng.f64() * 8.0)) as i64);
    }
    let buckets_for_eight_decades = (8.0 * 10f64.ln() / ln_gamma()).ceil() as usize + 1;
    assert!(
        s.heap_bytes() <= size_of::<Sketch>() + 2 * buckets_for_eight_decades * 8,
        "{} bytes",
        s.heap_bytes()
    );
    assert!(of(&[1; EXACT_LIMIT]).heap_bytes() <= EXACT_LIMIT * 8);
}
