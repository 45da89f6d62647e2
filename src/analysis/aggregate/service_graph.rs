//! The cross-trace service graph (petgraph), built from the service map and the services' RED
//! rows: how deep each service sits below the entry points, which services call each other in
//! a cycle, and where calls multiply across services over all traces: the amplification of a
//! path is the product, hop by hop, of calls on the edge per request the caller handled, so
//! "×24 api-gateway → order-service → inventory-service" reads "every gateway request costs the
//! inventory service 24 calls", whichever traces the calls were in.

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::Sym;

use crate::analysis::aggregate::callgraph::EdgeRow;
use crate::analysis::aggregate::graph_drawing::{DrawnRow, draw};
use crate::analysis::aggregate::red::RedRow;
use crate::analysis::trace::edges::CallKind;

/// One service of the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceNode {
    pub service: Sym,
    /// Hops from the nearest entry point (a service no other service calls); `None` when only
    /// reachable through a cycle.
    pub depth: Option<usize>,
    pub callers: usize,
    pub callees: usize,
    /// Requests the service handled (entry spans), the base of its callees' amplification.
    pub requests: usize,
    pub in_cycle: bool,
}

/// A path of services whose calls multiply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AmplifiedPath {
    pub services: Vec<Sym>,
    /// Calls on each hop per request its caller handled.
    pub hop_ratios: Vec<f64>,
    /// Their product: calls the last service gets per request of the first.
    pub amplification: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceGraph {
    /// Entry points first, then by depth and name: the order a reader follows the calls in.
    pub services: Vec<ServiceNode>,
    pub edges: usize,
    /// Services that call each other in a loop (each cycle's members, sorted).
    pub cycles: Vec<Vec<Sym>>,
    /// Paths of two or more hops, none of which shrinks the calls (fewer calls on the edge than
    /// requests its caller handled), multiplying them at least `MIN_AMPLIFICATION` times end
    /// to end; worst first.
    pub amplified_paths: Vec<AmplifiedPath>,
    /// The graph laid out in layers for the Map tab and the text report (`graph_drawing`).
    #[serde(skip)]
    pub drawing: Vec<DrawnRow>,
}

/// A path is listed when its calls multiply at least this much end to end, over two hops or
/// more (one fanning-out hop alone is an N+1 or a parallel fan-out, listed as such).
pub const MIN_AMPLIFICATION: f64 = 3.0;

/// Longest path followed from an entry point; real call depths are far below it.
const MAX_HOPS: usize = 12;

/// Paths kept per entry point, so a wide graph cannot blow up the search.
const MAX_PATHS: usize = 10_000;

/// Synchronous calls only: messaging edges are hand-offs, not calls that multiply a request.
fn calls(kind: CallKind) -> bool {
    matches!(
        kind,
        CallKind::Rpc | CallKind::Database | CallKind::External
    )
}

impl ServiceGraph {
    pub fn build(edges: &[EdgeRow], services: &[RedRow]) -> ServiceGraph {
        let mut g: DiGraphMap<Sym, usize> = DiGraphMap::new();
        let requests: FxHashMap<Sym, usize> =
            services.iter().map(|r| (r.service, r.requests)).collect();
        for s in services {
            g.add_node(s.service);
        }
        for e in edges.iter().filter(|e| e.caller != e.callee) {
            let w = g.edge_weight(e.caller, e.callee).copied().unwrap_or(0);
            g.add_edge(e.caller, e.callee, w + e.calls);
        }
        let mut cycles: Vec<Vec<Sym>> = tarjan_scc(&g)
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|mut c| {
                c.sort();
                c
            })
            .collect();
        cycles.sort();
        let in_cycle = |s: Sym| cycles.iter().any(|c| c.contains(&s));
        let mut entries: Vec<Sym> = g
            .nodes()
            .filter(|&n| {
                g.neighbors_directed(n, petgraph::Direction::Incoming)
                    .next()
                    .is_none()
            })
            .collect();
        entries.sort();
        // Breadth-first from every entry point at once: depth = fewest hops from any.
        let mut depth: FxHashMap<Sym, usize> = entries.iter().map(|&e| (e, 0)).collect();
        let mut frontier = entries.clone();
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for n in frontier {
                let d = depth[&n] + 1;
                for m in g.neighbors(n) {
                    if let std::collections::hash_map::Entry::Vacant(v) = depth.entry(m) {
                        v.insert(d);
                        next.push(m);
                    }
                }
            }
            next.sort();
            frontier = next;
        }
        let mut nodes: Vec<ServiceNode> = g
            .nodes()
            .map(|n| ServiceNode {
                service: n,
                depth: depth.get(&n).copied(),
                callers: g
                    .neighbors_directed(n, petgraph::Direction::Incoming)
                    .count(),
                callees: g.neighbors(n).count(),
                requests: requests.get(&n).copied().unwrap_or(0),
                in_cycle: in_cycle(n),
            })
            .collect();
        nodes.sort_by(|a, b| {
            (a.depth.is_none(), a.depth, a.service).cmp(&(b.depth.is_none(), b.depth, b.service))
        });
        // Calls per caller request on each synchronous edge.
        let mut ratio: DiGraphMap<Sym, f64> = DiGraphMap::new();
        for e in edges
            .iter()
            .filter(|e| e.caller != e.callee && calls(e.kind))
        {
            let base = requests.get(&e.caller).copied().unwrap_or(0);
            if base == 0 {
                continue;
            }
            let r = ratio
                .edge_weight(e.caller, e.callee)
                .copied()
                .unwrap_or(0.0);
            ratio.add_edge(e.caller, e.callee, r + e.calls as f64 / base as f64);
        }
        // A path starts where no non-shrinking hop leads in, so no listed path is the tail of
        // another.
        let mut starts: Vec<Sym> = ratio
            .nodes()
            .filter(|&n| {
                ratio
                    .edges_directed(n, petgraph::Direction::Incoming)
                    .all(|(_, _, &r)| r < 1.0)
            })
            .collect();
        starts.sort();
        let mut amplified = Vec::new();
        for start in starts {
            amplified_from(&ratio, start, &mut amplified);
        }
        amplified.sort_by(|a: &AmplifiedPath, b| {
            b.amplification
                .total_cmp(&a.amplification)
                .then(a.services.cmp(&b.services))
        });
        ServiceGraph {
            services: nodes,
            edges: g.edge_count(),
            cycles,
            amplified_paths: amplified,
            drawing: draw(
                &services.iter().map(|r| r.service).collect::<Vec<_>>(),
                edges,
            ),
        }
    }
}

/// Depth-first over simple paths of non-shrinking hops from `start`, keeping each path that
/// multiplies calls at least `MIN_AMPLIFICATION` times over two hops or more and is not the
/// start of a longer one that is kept.
fn amplified_from(g: &DiGraphMap<Sym, f64>, start: Sym, out: &mut Vec<AmplifiedPath>) {
    let mut path = vec![start];
    let mut ratios: Vec<f64> = Vec::new();
    let mut budget = MAX_PATHS;
    walk(g, &mut path, &mut ratios, &mut budget, out);
}

fn walk(
    g: &DiGraphMap<Sym, f64>,
    path: &mut Vec<Sym>,
    ratios: &mut Vec<f64>,
    budget: &mut usize,
    out: &mut Vec<AmplifiedPath>,
) {
    let Some(&last) = path.last() else { return };
    let amplification: f64 = ratios.iter().product();
    let mut extended = false;
    if path.len() <= MAX_HOPS {
        let mut next: Vec<(Sym, f64)> = g
            .edges(last)
            .map(|(_, to, &r)| (to, r))
            .filter(|(to, _)| !path.contains(to))
            .collect();
        next.sort_by_key(|e| e.0);
        for (to, r) in next {
            if *budget == 0 {
                return;
            }
            *budget -= 1;
            // Hops that shrink the calls (a caller that calls only sometimes) end a path.
            if r < 1.0 {
                continue;
            }
            path.push(to);
            ratios.push(r);
            let before = out.len();
            walk(g, path, ratios, budget, out);
            extended |= out.len() > before;
            path.pop();
            ratios.pop();
        }
    }
    if !extended && ratios.len() >= 2 && amplification >= MIN_AMPLIFICATION {
        out.push(AmplifiedPath {
            services: path.clone(),
            hop_ratios: ratios.clone(),
            amplification,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::aggregate::stats::Samples;

    fn edge(caller: &str, callee: &str, calls: usize) -> EdgeRow {
        crate::analysis::aggregate::callgraph::test_edge(caller, callee, calls)
    }

    fn service(name: &str, requests: usize) -> RedRow {
        RedRow {
            service: Sym::new(name),
            operation: None,
            requests,
            rate_per_s: 0.0,
            errors: 0,
            error_rate: 0.0,
            duration: Samples::default().summary(),
        }
    }

    #[test]
    fn calls_multiply_along_a_path_across_traces() {
        // 10 gateway requests -> 30 order calls -> 240 inventory calls: x24 per request.
        let g = ServiceGraph::build(
            &[
                edge("gw", "orders", 30),
                edge("orders", "inventory", 240),
                edge("gw", "auth", 10),
            ],
            &[
                service("gw", 10),
                service("orders", 30),
                service("inventory", 240),
                service("auth", 10),
            ],
        );
        assert_eq!(g.amplified_paths.len(), 1, "{:?}", g.amplified_paths);
        let p = &g.amplified_paths[0];
        let names: Vec<&str> = p.services.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["gw", "orders", "inventory"]);
        assert_eq!(p.hop_ratios, [3.0, 8.0]);
        assert_eq!(p.amplification, 24.0);
        let depth: Vec<(&str, Option<usize>)> = g
            .services
            .iter()
            .map(|n| (n.service.as_str(), n.depth))
            .collect();
        assert_eq!(
            depth,
            [
                ("gw", Some(0)),
                ("auth", Some(1)),
                ("orders", Some(1)),
                ("inventory", Some(2))
            ]
        );
        assert!(g.cycles.is_empty());
    }

    #[test]
    fn cycles_are_found_and_do_not_loop_the_search() {
        let g = ServiceGraph::build(
            &[
                edge("gw", "a", 50),
                edge("a", "b", 200),
                edge("b", "a", 400),
            ],
            &[service("gw", 10), service("a", 450), service("b", 200)],
        );
        assert_eq!(g.cycles.len(), 1);
        let members: Vec<&str> = g.cycles[0].iter().map(|s| s.as_str()).collect();
        assert_eq!(members, ["a", "b"]);
        assert!(g.services.iter().filter(|n| n.in_cycle).count() == 2);
        // gw -> a x5 -> b x0.44 shrinks; the cycle is followed once at most.
        let paths: Vec<Vec<&str>> = g
            .amplified_paths
            .iter()
            .map(|p| p.services.iter().map(|s| s.as_str()).collect())
            .collect();
        assert!(paths.is_empty(), "{paths:?}");
    }
}
