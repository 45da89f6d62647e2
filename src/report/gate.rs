//! `--fail-on` conditions: `METRIC OP VALUE`, e.g. `coldstart.rate>0.05`, `nplus1.count>0`,
//! `p99>800ms`. A report exits non-zero when any condition holds, so a recorded load test can
//! gate a deploy.

use std::fmt;
use std::str::FromStr;

use crate::analysis::aggregate::stats::ns_to_ms;
use crate::analysis::findings::Findings;

/// Metrics a condition may name, with their unit.
pub const METRICS: &[(&str, &str)] = &[
    (
        "coldstart.rate",
        "cold starts / classified invocations, 0..1",
    ),
    ("coldstart.count", "cold starts"),
    (
        "coldstart.cp_ms",
        "largest critical-path time of one cold start, ms",
    ),
    ("nplus1.count", "N+1 loops"),
    ("nplus1.max_degree", "largest N+1 degree"),
    ("parallel.count", "parallel fan-outs"),
    ("chains.count", "fan-out chains"),
    ("chains.max_amplification", "largest amplification factor"),
    ("errors.count", "error origins that reached a root"),
    (
        "errors.rate",
        "traces whose error reached the root / traces, 0..1",
    ),
    ("p50", "trace duration, ms"),
    ("p95", "trace duration, ms"),
    ("p99", "trace duration, ms"),
    ("max", "trace duration, ms"),
    ("traces", "traces analysed"),
    ("orphans", "spans whose parent is missing"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub metric: String,
    pub op: Op,
    pub value: f64,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.metric, self.op.as_str(), self.value)
    }
}

impl FromStr for Condition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        // Two-character operators first, so `>=` is not read as `>` then `=`.
        let ops = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ];
        let (at, len, op) = ops
            .iter()
            .filter_map(|&(tok, op)| s.find(tok).map(|at| (at, tok.len(), op)))
            .min_by_key(|&(at, len, _)| (at, std::cmp::Reverse(len)))
            .ok_or_else(|| format!("{s:?}: expected METRIC OP VALUE, e.g. p99>800ms"))?;
        let metric = s[..at].trim().to_ascii_lowercase();
        if !METRICS.iter().any(|(m, _)| *m == metric) {
            let known: Vec<&str> = METRICS.iter().map(|(m, _)| *m).collect();
            return Err(format!(
                "unknown metric {metric:?}; known: {}",
                known.join(", ")
            ));
        }
        let value = parse_value(s[at + len..].trim())?;
        Ok(Condition { metric, op, value })
    }
}

/// A number, optionally with a unit: `ms`/`s`/`us`/`m` (to ms) or `%` (to a fraction).
fn parse_value(v: &str) -> Result<f64, String> {
    let units: [(&str, f64); 6] = [
        ("ms", 1.0),
        ("us", 0.001),
        ("µs", 0.001),
        ("%", 0.01),
        ("s", 1000.0),
        ("m", 60_000.0),
    ];
    let (num, scale) = units
        .iter()
        .find_map(|&(u, k)| v.strip_suffix(u).map(|n| (n, k)))
        .unwrap_or((v, 1.0));
    num.trim()
        .parse::<f64>()
        .map(|x| x * scale)
        .map_err(|_| format!("{v:?} is not a number (units: ms, s, us, m, %)"))
}

/// The metric's value in these findings.
pub fn metric(f: &Findings, name: &str) -> Option<f64> {
    let traces = f.input.traces.max(1) as f64;
    Some(match name {
        "coldstart.rate" => f.cold_starts.rate,
        "coldstart.count" => f.cold_starts.count as f64,
        "coldstart.cp_ms" => f
            .cold_starts
            .list
            .iter()
            .map(|c| c.cold_cp_ns)
            .max()
            .map_or(0.0, |ns| ns_to_ms(ns as f64)),
        "nplus1.count" => f.n_plus_one.count as f64,
        // The pattern rows hold every loop's degree when the list is cut (`lists_cut_to`).
        "nplus1.max_degree" => f
            .patterns
            .iter()
            .filter(|p| p.kind == crate::analysis::findings::PatternKind::NPlusOne)
            .map(|p| p.max_degree)
            .chain(f.n_plus_one.list.iter().map(|x| x.degree as f64))
            .fold(0.0, f64::max),
        "parallel.count" => f.parallel_fanouts.count as f64,
        "chains.count" => f.chains.len() as f64,
        "chains.max_amplification" => f
            .chains
            .iter()
            .map(|c| c.max_amplification)
            .fold(0.0, f64::max),
        "errors.count" => f.errors.reaching_root as f64,
        "errors.rate" => f.errors.reaching_root as f64 / traces,
        "p50" => ns_to_ms(f.latency.p50_ns as f64),
        "p95" => ns_to_ms(f.latency.p95_ns as f64),
        "p99" => ns_to_ms(f.latency.p99_ns as f64),
        "max" => ns_to_ms(f.latency.max_ns as f64),
        "traces" => f.input.traces as f64,
        "orphans" => f.input.orphan_spans as f64,
        _ => return None,
    })
}

/// The conditions that hold, each with the observed value.
pub fn tripped(f: &Findings, conditions: &[Condition]) -> Vec<(Condition, f64)> {
    conditions
        .iter()
        .filter_map(|c| {
            let v = metric(f, &c.metric)?;
            c.op.holds(v, c.value).then(|| (c.clone(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_conditions_with_units() {
        let c: Condition = "p99>800ms".parse().expect("valid");
        assert_eq!((c.metric.as_str(), c.op, c.value), ("p99", Op::Gt, 800.0));
        let c: Condition = "coldstart.rate >= 5%".parse().expect("valid");
        assert_eq!((c.op, c.value), (Op::Ge, 0.05));
        let c: Condition = "p95<1.5s".parse().expect("valid");
        assert_eq!(c.value, 1500.0);
        assert!("bogus>1".parse::<Condition>().is_err());
        assert!("p99>fast".parse::<Condition>().is_err());
        assert!("p99".parse::<Condition>().is_err());
    }

    #[test]
    fn every_listed_metric_is_evaluated() {
        let engine = crate::analysis::engine::Engine::default();
        let f = Findings::build(&engine, Default::default());
        for (m, _) in METRICS {
            assert!(metric(&f, m).is_some(), "{m}");
        }
        let conds: Vec<Condition> = ["traces==0", "nplus1.count>0"]
            .iter()
            .map(|s| s.parse().expect("valid"))
            .collect();
        let hit = tripped(&f, &conds);
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].0.metric, "traces");
    }
}
