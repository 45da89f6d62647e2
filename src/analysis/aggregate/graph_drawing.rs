//! The service graph laid out for a terminal: layers by topological order (petgraph's
//! condensation merges each cycle into one node, so the layering is of a DAG: cycles broken),
//! each service in the layer of its longest chain of callers, and the graph drawn as an
//! indented tree in which every call edge is one row. A service is drawn with its callees
//! once, under a caller one layer up; its other callers point at it (`↑`), and a call back
//! into a service already drawn above it in a cycle is marked as such (`↻`).
//!
//! What the Map tab shows in graph mode and `report` prints under the service map.

use petgraph::algo::{condensation, toposort};
use petgraph::graph::NodeIndex;
use petgraph::graphmap::DiGraphMap;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::analysis::aggregate::callgraph::EdgeRow;
use crate::model::Sym;

/// How a row of the drawing reaches its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// An entry point (no caller in the map), or a service only a cycle reaches.
    Entry,
    /// The call under which the callee and its own calls are drawn.
    First,
    /// A call to a service drawn elsewhere (under another caller).
    Elsewhere,
    /// A call back into a service of the same cycle, or a service calling itself.
    Cycle,
}

/// One row of the drawing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrawnRow {
    /// Nesting in the tree (0: an entry point).
    pub depth: usize,
    /// The service's layer: the longest chain of callers above it, cycles counted once.
    pub layer: usize,
    pub service: Sym,
    /// Index of the call edge into `Findings::service_map`; none for an entry point.
    pub edge: Option<usize>,
    pub link: Link,
    /// Tree guides before the row's connector (`│  ` and `   ` per level), as `tree` prints.
    pub guides: Box<str>,
    /// Whether another row follows at this row's depth under the same parent (`├─` vs `└─`).
    pub more_siblings: bool,
    /// Place in the drawing (the order that keeps the tree readable).
    pub order: usize,
}

impl DrawnRow {
    /// The row as `tree` draws it: guides, connector, the service, and how the call reaches it.
    pub fn tree_text(&self) -> String {
        let name = self.service.as_str();
        match self.link {
            Link::Entry => format!("● {name}"),
            link => {
                let branch = if self.more_siblings {
                    "├─▶ "
                } else {
                    "└─▶ "
                };
                let mark = match link {
                    Link::Elsewhere => " ↑",
                    Link::Cycle => " ↻ cycle",
                    Link::Entry | Link::First => "",
                };
                format!("{}{branch}{name}{mark}", self.guides)
            }
        }
    }
}

/// Each service's layer: sources of the condensed graph are 0, everything else one more than
/// its deepest caller; the members of one cycle share a layer.
pub fn layers(services: &[Sym], edges: &[EdgeRow]) -> FxHashMap<Sym, usize> {
    let mut g: DiGraphMap<Sym, ()> = DiGraphMap::new();
    for &s in services {
        g.add_node(s);
    }
    for e in edges {
        g.add_edge(e.caller, e.callee, ());
    }
    let dag = condensation(g.into_graph::<u32>(), true);
    let order = toposort(&dag, None).unwrap_or_default();
    let mut layer_of: FxHashMap<NodeIndex, usize> = FxHashMap::default();
    for n in order {
        let layer = dag
            .neighbors_directed(n, petgraph::Direction::Incoming)
            .filter_map(|p| layer_of.get(&p))
            .map(|l| l + 1)
            .max()
            .unwrap_or(0);
        layer_of.insert(n, layer);
    }
    let mut out = FxHashMap::default();
    for (n, members) in dag.node_indices().zip(dag.node_weights()) {
        let layer = layer_of.get(&n).copied().unwrap_or(0);
        for &s in members {
            out.insert(s, layer);
        }
    }
    out
}

/// The drawing of `edges` (the service map) over `services` (every service, callers or not).
pub fn draw(services: &[Sym], edges: &[EdgeRow]) -> Vec<DrawnRow> {
    let layer = layers(services, edges);
    let layer_of = |s: Sym| layer.get(&s).copied().unwrap_or(0);
    let mut calls: FxHashMap<Sym, Vec<usize>> = FxHashMap::default();
    let mut called: FxHashSet<Sym> = FxHashSet::default();
    for (i, e) in edges.iter().enumerate() {
        calls.entry(e.caller).or_default().push(i);
        if e.caller != e.callee {
            called.insert(e.callee);
        }
    }
    // Callees nearest first, then by name: the order a reader follows the request in.
    for v in calls.values_mut() {
        v.sort_by_key(|&i| (layer_of(edges[i].callee), edges[i].callee, edges[i].kind));
    }
    let mut all: Vec<Sym> = services.to_vec();
    all.extend(edges.iter().flat_map(|e| [e.caller, e.callee]));
    all.sort_by_key(|&s| (layer_of(s), s));
    all.dedup();
    let mut drawer = Drawer {
        edges,
        calls: &calls,
        layer_of: &layer_of,
        drawn: FxHashSet::default(),
        rows: Vec::new(),
    };
    // Entry points first; then whatever only a cycle reaches (no entry above it).
    for pass in [true, false] {
        let roots: Vec<Sym> = all
            .iter()
            .copied()
            .filter(|s| !drawer.drawn.contains(s) && (!pass || !called.contains(s)))
            .collect();
        for s in roots {
            if drawer.drawn.contains(&s) {
                continue;
            }
            drawer.drawn.insert(s);
            drawer.rows.push(DrawnRow {
                depth: 0,
                layer: layer_of(s),
                service: s,
                edge: None,
                link: Link::Entry,
                guides: "".into(),
                more_siblings: false,
                order: drawer.rows.len(),
            });
            drawer.children(s, 1, String::new());
        }
    }
    drawer.rows
}

struct Drawer<'a, F: Fn(Sym) -> usize> {
    edges: &'a [EdgeRow],
    calls: &'a FxHashMap<Sym, Vec<usize>>,
    layer_of: &'a F,
    drawn: FxHashSet<Sym>,
    rows: Vec<DrawnRow>,
}

impl<F: Fn(Sym) -> usize> Drawer<'_, F> {
    /// The rows of `caller`'s calls at `depth`, each callee drawn under the first call from the
    /// layer above it (or from its own cycle) that reaches it.
    fn children(&mut self, caller: Sym, depth: usize, guides: String) {
        let Some(out) = self.calls.get(&caller) else {
            return;
        };
        let out = out.clone();
        for (k, &i) in out.iter().enumerate() {
            let callee = self.edges[i].callee;
            let (lc, le) = ((self.layer_of)(caller), (self.layer_of)(callee));
            let link = if callee == caller || (self.drawn.contains(&callee) && le <= lc) {
                Link::Cycle
            } else if !self.drawn.contains(&callee) && (le == lc + 1 || le == lc) {
                Link::First
            } else {
                Link::Elsewhere
            };
            let more = k + 1 < out.len();
            self.rows.push(DrawnRow {
                depth,
                layer: le,
                service: callee,
                edge: Some(i),
                link,
                guides: guides.as_str().into(),
                more_siblings: more,
                order: self.rows.len(),
            });
            if link == Link::First {
                self.drawn.insert(callee);
                let next = format!("{guides}{}", if more { "│  " } else { "   " });
                self.children(callee, depth + 1, next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(caller: &str, callee: &str) -> EdgeRow {
        crate::analysis::aggregate::callgraph::test_edge(caller, callee, 1)
    }

    fn lines(rows: &[DrawnRow]) -> Vec<String> {
        rows.iter()
            .map(|r| {
                let mark = match r.link {
                    Link::Entry => "",
                    Link::First => "",
                    Link::Elsewhere => " ↑",
                    Link::Cycle => " ↻",
                };
                format!("{}{} L{}{mark}", "  ".repeat(r.depth), r.service, r.layer)
            })
            .collect()
    }

    #[test]
    fn each_service_is_drawn_once_in_its_longest_path_layer() {
        // gw calls orders and inventory; orders calls inventory too: inventory is layer 2 and
        // drawn under orders, the direct call from gw points at it.
        let edges = [
            edge("gw", "orders"),
            edge("gw", "inventory"),
            edge("orders", "inventory"),
            edge("orders", "db"),
        ];
        let rows = draw(&[Sym::new("gw"), Sym::new("lonely")], &edges);
        assert_eq!(
            lines(&rows),
            [
                "gw L0",
                "  orders L1",
                "    db L2",
                "    inventory L2",
                "  inventory L2 ↑",
                "lonely L0",
            ]
        );
        assert_eq!(
            rows.iter().filter(|r| r.edge.is_some()).count(),
            edges.len()
        );
    }

    #[test]
    fn cycles_are_broken_and_marked() {
        let edges = [
            edge("gw", "a"),
            edge("a", "b"),
            edge("b", "a"),
            edge("b", "b"),
            edge("x", "y"),
            edge("y", "x"),
        ];
        let rows = draw(&[], &edges);
        assert_eq!(
            lines(&rows),
            [
                "gw L0",
                "  a L1",
                "    b L1",
                "      a L1 ↻",
                "      b L1 ↻",
                // Only a cycle reaches x and y: drawn from the first of them.
                "x L0",
                "  y L0",
                "    x L0 ↻",
            ]
        );
        let guides: Vec<(&str, bool)> =
            rows.iter().map(|r| (&*r.guides, r.more_siblings)).collect();
        assert_eq!(guides[3], ("      ", true));
        assert_eq!(guides[4], ("      ", false));
    }
}
