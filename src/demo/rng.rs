/// SplitMix64: tiny, fast and plenty for simulated traffic. Deterministic for a seed, which the
/// tests and reproducible benchmarks rely on; nothing here needs cryptographic quality.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// A latency around `median_ms` with a long right tail (log-normal, sigma 0.35), in ns.
    pub fn latency(&mut self, median_ms: f64) -> u64 {
        // Box-Muller; the 1 - u keeps ln away from zero.
        let u1 = 1.0 - self.f64();
        let u2 = self.f64();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        ms(median_ms * (0.35 * z).exp())
    }

    /// Uniform latency in `[lo_ms, hi_ms)`, in ns.
    pub fn between(&mut self, lo_ms: f64, hi_ms: f64) -> u64 {
        ms(lo_ms + (hi_ms - lo_ms) * self.f64())
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }

    pub fn hex(&mut self, digits: usize) -> String {
        let mut s = String::with_capacity(digits);
        while s.len() < digits {
            let v = self.next_u64();
            s.push_str(&format!("{v:016x}"));
        }
        s.truncate(digits);
        s
    }
}

pub fn ms(v: f64) -> u64 {
    (v.max(0.0) * 1_000_000.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(8).next_u64(), Rng::new(7).next_u64());
    }

    #[test]
    fn helpers_stay_in_range() {
        let mut r = Rng::new(1);
        for _ in 0..1000 {
            let f = r.f64();
            assert!((0.0..1.0).contains(&f));
            assert!((3..=5).contains(&r.range(3, 5)));
            let l = r.latency(10.0);
            assert!(l > ms(1.0) && l < ms(100.0), "latency {l}");
        }
        assert_eq!(r.hex(20).len(), 20);
    }
}
