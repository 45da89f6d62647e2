//! Holds resident memory, not only the estimate, toward `--max-memory`. The store counts what
//! the pipeline holds from the models' sizes; what it cannot see (request bodies in flight,
//! allocator retention and fragmentation, buffers of the runtime) shows as resident memory
//! above the count. Each tick the pipeline reads its RSS and gives the store a budget lower by
//! that overhead and a headroom of an eighth of the budget (never below an eighth of the
//! budget), raising it back as RSS falls. The headroom absorbs what arrives between two ticks
//! and what the allocator has freed but not yet returned, so peaks stay under the budget, not
//! only the steady state.
//!
//! Batches are not refused for RSS: measured under 60 s of overload (benches/overload_rss.sh),
//! RSS stayed ~70 MiB above the count with the store at its floor, memory that refusing does
//! not bring back, so refusing only stopped intake (97 k -> 12 k spans/s). Nor does decoding
//! fewer requests at once: with decode slots cut to one near the budget, RSS at 64 MiB rose
//! from 61 to 80 MiB (bodies waited in HTTP/2 buffers instead) and intake fell to 16 k spans/s.

/// The process's resident set in bytes (`VmRSS` in `/proc/self/status`); `None` where there is
/// no procfs.
pub fn resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// The store's effective budget, from the budget, the RSS and what the store counts.
#[derive(Debug)]
pub struct ResidentLimit {
    budget: usize,
    effective: usize,
}

impl ResidentLimit {
    pub fn new(budget: usize) -> Self {
        ResidentLimit {
            budget,
            effective: budget,
        }
    }

    /// The budget for the store's count given `rss` now and `counted` (the store's total):
    /// the overhead beyond the count (and the headroom) comes off at once; a budget lowered
    /// earlier rises back by at most 1/32 of the budget a tick, so a short dip in RSS does not
    /// undo it.
    pub fn update(&mut self, rss: usize, counted: usize) -> usize {
        let overhead = rss.saturating_sub(counted);
        let target = self
            .budget
            .saturating_sub(self.budget / 8)
            .saturating_sub(overhead)
            .clamp(self.budget / 8, self.budget);
        self.effective = if target < self.effective {
            target
        } else {
            target.min(self.effective + self.budget / 32)
        };
        self.effective
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn the_overhead_comes_off_the_budget_down_to_a_floor_and_back() {
        let mut limit = ResidentLimit::new(64 * MIB);
        // 20 MiB beyond the count, 8 of headroom: the store gets 36.
        assert_eq!(limit.update(84 * MIB, 64 * MIB), 36 * MIB);
        // Far over: the floor, an eighth of the budget.
        assert_eq!(limit.update(200 * MIB, 16 * MIB), 8 * MIB);
        // RSS back under: the budget rises by 2 MiB a tick, up to the budget.
        assert_eq!(limit.update(40 * MIB, 16 * MIB), 10 * MIB);
        for _ in 0..40 {
            limit.update(40 * MIB, 40 * MIB);
        }
        // No overhead left: the budget less the headroom.
        assert_eq!(limit.update(40 * MIB, 40 * MIB), 56 * MIB);
    }

    #[test]
    fn this_process_has_a_resident_set_where_procfs_is() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(resident_bytes().is_some_and(|b| b > 0));
        }
    }
}
