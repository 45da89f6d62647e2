//! Runs every per-trace analysis in the order of ANALYSIS.md §6 and folds the results into
//! cross-trace aggregates. A trace that completes again (higher `version`) replaces its earlier
//! findings and takes its earlier contribution back out of the aggregates.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::model::{SpanId, SpanKind, Sym, TraceId, mem};
use crate::store::Trace;

use super::aggregate::callgraph::ServiceMap;
use super::aggregate::evidence::RetiredEvidence;
use super::aggregate::folded::FoldedLists;
use super::aggregate::hotspots::{self, EndpointAgg, HotspotAgg, TraceHotspots};
use super::aggregate::lists::{self, ListIndex};
use super::aggregate::red::{self, Red, Request};
use super::trace::background::{self, BackgroundKind};
use super::trace::cold_start::{self, ColdStartConfig, Invocation};
use super::trace::critical_path::{self, CpOptions, RootPath, Section};
use super::trace::edges::{self, Call, LinkRef, ProducerRef};
use super::trace::errors::{self, ErrorOrigin, SpanLabel};
use super::trace::fanout::{self, FanOut, FanOutChain};
use super::trace::isolate;
use super::trace::self_time;
use super::trace::skew::{self, SkewNote};
use super::trace::tree::{TraceTree, TreeWarning};

#[derive(Debug, Clone, Copy)]
pub struct AnalysisConfig {
    pub critical_path: CpOptions,
    pub cold_start: ColdStartConfig,
    /// Per-trace findings kept for lists and drill-down; aggregates keep counting beyond it.
    pub max_traces_kept: usize,
    /// Largest clock-skew shift applied (§5.4); `None` leaves times as recorded (default).
    pub max_clock_skew_ns: Option<u64>,
    /// Whether a retired trace (`Engine::retire`) keeps its whole critical path (`report
    /// --per-trace` lists it) or only each operation's longest section, all the cross-trace
    /// findings name.
    pub keep_retired_paths: bool,
    /// Without `keep_retired_paths`, a retired trace's list findings are folded into summaries
    /// (`FoldedLists`): each list of single occurrences then keeps this many.
    pub retired_list_cap: usize,
    /// How long past its end (on the input's clock: the latest trace end analysed) a trace
    /// that left (`Engine::retire`) is remembered, so that a later fragment of it is counted
    /// stale; a fragment later still is analysed as a trace of its own. `None`: for the whole
    /// run. Set for batch runs (`gone_window`) so the ids held do not grow with the file.
    pub gone_window_ns: Option<u64>,
}

/// `AnalysisConfig::gone_window_ns` for a trace timeout: a hundred timeouts, at least ten
/// minutes of the input's time.
pub fn gone_window(trace_timeout: std::time::Duration) -> u64 {
    let ns = u64::try_from(trace_timeout.as_nanos()).unwrap_or(u64::MAX);
    ns.saturating_mul(100).max(600_000_000_000)
}

/// `AnalysisConfig::retired_list_cap` unless `report --top` says otherwise.
pub const RETIRED_LIST_CAP: usize = 1000;

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            critical_path: CpOptions::default(),
            cold_start: ColdStartConfig::default(),
            max_traces_kept: 200_000,
            max_clock_skew_ns: None,
            keep_retired_paths: true,
            retired_list_cap: RETIRED_LIST_CAP,
            gone_window_ns: None,
        }
    }
}

/// One critical-path section with what a view needs to show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionRef {
    pub span_id: SpanId,
    pub service: Sym,
    pub name: Sym,
    pub kind: SpanKind,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// The critical path of one root, sections in chronological order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TracePath {
    pub root: SpanLabel,
    pub orphan: bool,
    pub sections: Vec<SectionRef>,
}

/// Everything found in one complete trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceFindings {
    pub trace_id: TraceId,
    pub version: u32,
    pub root: Option<SpanLabel>,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub span_count: usize,
    pub orphan_spans: usize,
    pub warnings: Vec<TreeWarning>,
    /// Shifts made (or refused) by the clock-skew adjustment, when enabled.
    pub clock_skew: Vec<SkewNote>,
    pub critical_path: Vec<TracePath>,
    /// Time the trace path explains (ns): the roots' paths under one virtual root over the
    /// trace's extent, each instant counted once, so never more than `duration_ns`.
    pub cp_total_ns: u64,
    /// `cp_total_ns / duration_ns` (0..=1): how much of the trace its roots explain. Low on
    /// session-style traces (a short request root, spans running on long after it).
    pub cp_coverage: f64,
    pub cp_by_service_ns: Vec<(Sym, u64)>,
    /// Critical-path time of client spans waiting on another process (§2.3 `cp_gap_time`).
    pub client_gap_on_path_ns: u64,
    pub services_in_order: Vec<Sym>,
    pub services_first_seen: Vec<Sym>,
    #[serde(skip)]
    pub hotspots: TraceHotspots,
    pub calls: Vec<Call>,
    pub links: Vec<LinkRef>,
    pub producers: Vec<ProducerRef>,
    pub invocations: Vec<Invocation>,
    pub fanouts: Vec<FanOut>,
    pub chains: Vec<FanOutChain>,
    pub errors: Vec<ErrorOrigin>,
    #[serde(skip)]
    pub requests: Vec<Request>,
}

/// What a retired trace keeps once its lists are folded (`Engine::retire`): what the cold
/// starts and async links read of it, each over every trace (invocations are classified by
/// instance and costed against the warm ones; links are resolved against the producers).
#[derive(Debug, Clone, PartialEq)]
pub struct Remainder {
    pub trace_id: TraceId,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub invocations: Box<[Invocation]>,
    pub links: Box<[LinkRef]>,
    pub producers: Box<[ProducerRef]>,
}

/// The part of a trace's findings cold starts and async links read, held or a `Remainder`.
#[derive(Debug, Clone, Copy)]
pub struct AsyncPart<'a> {
    pub trace_id: TraceId,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub invocations: &'a [Invocation],
    pub links: &'a [LinkRef],
    pub producers: &'a [ProducerRef],
}

impl Remainder {
    fn of(f: &mut TraceFindings) -> Self {
        Remainder {
            trace_id: f.trace_id,
            start_ns: f.start_ns,
            duration_ns: f.duration_ns,
            invocations: std::mem::take(&mut f.invocations).into_boxed_slice(),
            links: std::mem::take(&mut f.links).into_boxed_slice(),
            producers: std::mem::take(&mut f.producers).into_boxed_slice(),
        }
    }

    pub fn part(&self) -> AsyncPart<'_> {
        AsyncPart {
            trace_id: self.trace_id,
            start_ns: self.start_ns,
            duration_ns: self.duration_ns,
            invocations: &self.invocations,
            links: &self.links,
            producers: &self.producers,
        }
    }

    fn heap_bytes(&self) -> usize {
        mem::vec::<Invocation>(self.invocations.len())
            + invocations_heap(&self.invocations)
            + mem::vec::<LinkRef>(self.links.len())
            + mem::vec::<ProducerRef>(self.producers.len())
    }
}

fn invocations_heap(invocations: &[Invocation]) -> usize {
    invocations
        .iter()
        .map(|i| i.instance.as_ref().map_or(0, |x| x.len()))
        .sum()
}

impl TraceFindings {
    pub fn part(&self) -> AsyncPart<'_> {
        AsyncPart {
            trace_id: self.trace_id,
            start_ns: self.start_ns,
            duration_ns: self.duration_ns,
            invocations: &self.invocations,
            links: &self.links,
            producers: &self.producers,
        }
    }

    /// Heap bytes held by the findings (not counting the struct itself), for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        let warnings: usize = self
            .warnings
            .iter()
            .map(|w| match w {
                TreeWarning::NegativeDuration { span_id }
                | TreeWarning::MissingParent { span_id }
                | TreeWarning::Cycle { span_id }
                | TreeWarning::DuplicateSpanId { span_id }
                | TreeWarning::MissingTimestamp { span_id } => span_id.capacity(),
            })
            .sum();
        let paths: usize = self
            .critical_path
            .iter()
            .map(|p| mem::vec::<SectionRef>(p.sections.capacity()))
            .sum();
        let calls: usize = self
            .calls
            .iter()
            .map(|c| mem::vec::<SpanId>(c.server_spans.capacity()))
            .sum();
        let invocations = invocations_heap(&self.invocations);
        let fanouts: usize = self.fanouts.iter().map(FanOut::heap_bytes).sum();
        let chains: usize = self
            .chains
            .iter()
            .map(|c| {
                mem::vec::<Sym>(c.services.capacity()) + mem::vec::<f64>(c.hop_degrees.capacity())
            })
            .sum();
        let errors: usize = self
            .errors
            .iter()
            .map(|e| mem::vec::<Sym>(e.propagation_services.capacity()))
            .sum();
        let h = &self.hotspots;
        let hotspots = mem::vec::<(hotspots::OpKey, u64)>(h.cp_by_op.capacity())
            + mem::vec::<(hotspots::OpKey, hotspots::OpTimes)>(h.self_by_op.capacity())
            + mem::vec::<(hotspots::OpKey, BackgroundKind, u64)>(h.background.capacity())
            + mem::vec::<(Sym, u64)>(h.cp_by_call_path.capacity());
        mem::vec::<TreeWarning>(self.warnings.capacity())
            + warnings
            + mem::vec::<SkewNote>(self.clock_skew.capacity())
            + mem::vec::<TracePath>(self.critical_path.capacity())
            + paths
            + mem::vec::<(Sym, u64)>(self.cp_by_service_ns.capacity())
            + mem::vec::<Sym>(
                self.services_in_order.capacity() + self.services_first_seen.capacity(),
            )
            + hotspots
            + mem::vec::<Call>(self.calls.capacity())
            + calls
            + mem::vec::<LinkRef>(self.links.capacity())
            + mem::vec::<ProducerRef>(self.producers.capacity())
            + mem::vec::<Invocation>(self.invocations.capacity())
            + invocations
            + mem::vec::<FanOut>(self.fanouts.capacity())
            + fanouts
            + mem::vec::<FanOutChain>(self.chains.capacity())
            + chains
            + mem::vec::<ErrorOrigin>(self.errors.capacity())
            + errors
            + mem::vec::<Request>(self.requests.capacity())
    }

    /// Gives back the spare capacity the analyses' vectors grew with: findings are kept for as
    /// long as their trace is held, and are as large as its spans.
    fn shrink_to_fit(&mut self) {
        self.warnings.shrink_to_fit();
        self.clock_skew.shrink_to_fit();
        self.critical_path.shrink_to_fit();
        for p in &mut self.critical_path {
            p.sections.shrink_to_fit();
        }
        self.cp_by_service_ns.shrink_to_fit();
        self.services_in_order.shrink_to_fit();
        self.services_first_seen.shrink_to_fit();
        self.hotspots.cp_by_op.shrink_to_fit();
        self.hotspots.self_by_op.shrink_to_fit();
        self.hotspots.cp_by_call_path.shrink_to_fit();
        self.hotspots.background.shrink_to_fit();
        self.calls.shrink_to_fit();
        for c in &mut self.calls {
            c.server_spans.shrink_to_fit();
        }
        self.links.shrink_to_fit();
        self.producers.shrink_to_fit();
        self.invocations.shrink_to_fit();
        self.fanouts.shrink_to_fit();
        self.chains.shrink_to_fit();
        self.errors.shrink_to_fit();
        self.requests.shrink_to_fit();
    }

    /// Bytes one kept finding costs: the `Arc` allocation (counts and struct) and its heap.
    fn held_bytes(&self) -> usize {
        2 * size_of::<usize>() + size_of::<TraceFindings>() + self.heap_bytes()
    }
}

/// A trace id in 64 bits, for the set of traces that left: two ids sharing one are as unlikely
/// as two random 64-bit values colliding (both halves go through a bijective mix).
fn fingerprint(id: TraceId) -> u64 {
    fn mix(mut z: u64) -> u64 {
        // splitmix64's finaliser.
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let v = id.as_u128();
    mix((v as u64) ^ mix((v >> 64) as u64))
}

/// Analyses one complete trace. Pure: the same trace always gives the same findings.
pub fn analyse_trace(trace: &Trace, cfg: &AnalysisConfig) -> TraceFindings {
    let (adjusted, clock_skew) = match cfg.max_clock_skew_ns {
        Some(max) => skew::adjust(trace, max),
        None => (None, Vec::new()),
    };
    let trace = adjusted.as_ref().unwrap_or(trace);
    let tree = TraceTree::new(trace);
    let self_ns = self_time::self_times(&tree);
    let (links, producers) = edges::links_and_producers(&tree);
    let paths = critical_path::critical_paths(&tree, cfg.critical_path);
    let merged = critical_path::trace_path(&paths);
    let cp = critical_path::cp_time_per_span(tree.len(), &merged);
    // Calls are charged request time only: a stream's or detached span's path time is listed
    // apart (`trace::background`), so no edge share is taken of time the shares leave out.
    let background_top = background::background(&tree);
    let apart = background::in_background(&tree, &background_top);
    let request_cp: Vec<u64> = cp
        .iter()
        .zip(&apart)
        .map(|(&t, &a)| if a { 0 } else { t })
        .collect();
    let calls = edges::calls(&tree, &critical_path::inclusive_cp(&tree, &request_cp));
    let root_ns = critical_path::path_time(&merged);
    let main = tree
        .effective_root()
        .and_then(|r| paths.iter().find(|p| p.root == r));
    let (services_in_order, services_first_seen) =
        main.map(|p| service_order(&tree, p)).unwrap_or_default();
    let mut cp_by_service: FxHashMap<Sym, u64> = FxHashMap::default();
    for (i, &t) in cp.iter().enumerate() {
        if t > 0 {
            *cp_by_service.entry(tree.service(i)).or_default() += t;
        }
    }
    let mut cp_by_service_ns: Vec<(Sym, u64)> = cp_by_service.into_iter().collect();
    cp_by_service_ns.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut f = TraceFindings {
        trace_id: trace.trace_id,
        version: trace.version,
        root: tree.effective_root().map(|r| SpanLabel::of(&tree, r)),
        start_ns: tree.trace_start(),
        duration_ns: tree.trace_duration(),
        span_count: trace.spans.len(),
        orphan_spans: trace.orphans.len(),
        critical_path: paths.iter().map(|p| trace_path(&tree, p)).collect(),
        cp_total_ns: root_ns,
        cp_coverage: critical_path::coverage(root_ns, tree.trace_duration()),
        cp_by_service_ns,
        client_gap_on_path_ns: client_gap_on_path(&tree, &merged),
        services_in_order,
        services_first_seen,
        hotspots: hotspots::trace_hotspots(&tree, &cp, &self_ns, root_ns, &background_top, &apart),
        invocations: cold_start::invocations(&tree, &merged),
        fanouts: fanout::fanouts(&tree, &cp),
        chains: fanout::chains(&tree, &cp),
        errors: errors::error_origins(&tree),
        requests: red::requests(&tree),
        calls,
        links,
        producers,
        warnings: tree.warnings.clone(),
        clock_skew,
    };
    f.shrink_to_fit();
    f
}

fn trace_path(tree: &TraceTree<'_>, p: &RootPath) -> TracePath {
    TracePath {
        root: SpanLabel::of(tree, p.root),
        orphan: p.orphan,
        sections: p
            .sections
            .iter()
            .rev()
            .map(|s| {
                let span = tree.span(s.span);
                SectionRef {
                    span_id: span.span_id,
                    service: span.service(),
                    name: span.name,
                    kind: span.kind,
                    start_ns: s.start,
                    end_ns: s.end,
                }
            })
            .collect(),
    }
}

/// Services of the path's sections in time order, consecutive repeats merged, and the order in
/// which services first appear.
fn service_order(tree: &TraceTree<'_>, p: &RootPath) -> (Vec<Sym>, Vec<Sym>) {
    let mut in_order: Vec<Sym> = p
        .sections
        .iter()
        .rev()
        .map(|s| tree.service(s.span))
        .collect();
    in_order.dedup();
    let mut first = Vec::new();
    for s in &in_order {
        if !first.contains(s) {
            first.push(*s);
        }
    }
    (in_order, first)
}

fn client_gap_on_path(tree: &TraceTree<'_>, sections: &[Section]) -> u64 {
    let waits = |i: usize| {
        matches!(tree.span(i).kind, SpanKind::Client | SpanKind::Producer)
            && tree.children[i].iter().any(|&c| tree.other_process(i, c))
    };
    sections
        .iter()
        .filter(|s| waits(s.span))
        .map(|s| s.len())
        .sum()
}

/// Aggregates that can take a trace's contribution back.
#[derive(Debug, Clone, Default)]
pub struct Aggregates {
    pub traces: usize,
    pub spans: usize,
    pub min_start_ns: Option<u64>,
    pub max_end_ns: Option<u64>,
    pub hotspots: HotspotAgg,
    /// Per endpoint (root service and operation), the hotspots of its traces alone.
    pub endpoints: BTreeMap<hotspots::OpKey, EndpointAgg>,
    pub red: Red,
    pub service_map: ServiceMap,
    pub durations: super::aggregate::stats::Samples,
}

impl Aggregates {
    /// Heap bytes held, for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        self.hotspots.heap_bytes()
            + mem::btree::<hotspots::OpKey, EndpointAgg>(self.endpoints.len())
            + self
                .endpoints
                .values()
                .map(|e| e.hotspots.heap_bytes())
                .sum::<usize>()
            + self.red.heap_bytes()
            + self.service_map.heap_bytes()
            + self.durations.heap_bytes()
    }

    /// Adds another set of aggregates (another instance's, or another shard's) to these: exact
    /// for counts, sums and time bounds; distributions merge as `Samples::merge` does.
    pub fn merge(&mut self, other: &Aggregates) {
        self.traces += other.traces;
        self.spans += other.spans;
        self.min_start_ns = match (self.min_start_ns, other.min_start_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_end_ns = match (self.max_end_ns, other.max_end_ns) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.hotspots.merge(&other.hotspots);
        for (k, e) in &other.endpoints {
            let mine = self.endpoints.entry(*k).or_default();
            mine.traces += e.traces;
            mine.hotspots.merge(&e.hotspots);
        }
        self.red.merge(&other.red);
        self.service_map.merge(&other.service_map);
        self.durations.merge(&other.durations);
    }
}

impl Aggregates {
    fn apply(&mut self, f: &TraceFindings, add: bool) {
        if add {
            self.traces += 1;
            self.spans += f.span_count;
            self.durations.push(f.duration_ns as i64);
            let end = f.start_ns + f.duration_ns;
            self.min_start_ns = Some(self.min_start_ns.map_or(f.start_ns, |m| m.min(f.start_ns)));
            self.max_end_ns = Some(self.max_end_ns.map_or(end, |m| m.max(end)));
        } else {
            self.traces = self.traces.saturating_sub(1);
            self.spans = self.spans.saturating_sub(f.span_count);
            self.durations.remove(f.duration_ns as i64);
        }
        self.hotspots.apply(&f.hotspots, add);
        if let Some(r) = &f.root {
            let key = (r.service, r.name);
            let e = self.endpoints.entry(key).or_default();
            e.traces = if add {
                e.traces + 1
            } else {
                e.traces.saturating_sub(1)
            };
            e.hotspots.apply_ops(&f.hotspots, add);
            if e.traces == 0 {
                self.endpoints.remove(&key);
            }
        }
        self.red.apply(&f.requests, add);
        self.service_map.apply(&f.calls, add);
    }

    /// Seconds the data covers (first span start to last span end).
    pub fn window_s(&self) -> f64 {
        match (self.min_start_ns, self.max_end_ns) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
            _ => 0.0,
        }
    }
}

/// The per-trace analysis an engine runs: `analyse_trace`, or in tests one that fails on cue.
pub type Analyser = fn(&Trace, &AnalysisConfig) -> TraceFindings;

/// One trace's findings, or the message of the panic that cost them.
pub type Analysis = Result<TraceFindings, String>;

/// The pure per-trace half of the engine: any thread may run it, on any trace.
#[derive(Debug, Clone, Copy)]
pub struct TraceAnalyser {
    analyser: Analyser,
    config: AnalysisConfig,
}

impl TraceAnalyser {
    /// Analyses `trace`, a panic caught (see `Engine::add_trace`).
    pub fn run(&self, trace: &Trace) -> Analysis {
        isolate::catch(|| (self.analyser)(trace, &self.config))
    }
}

/// Per-trace findings plus aggregates; fed complete traces in any order.
#[derive(Debug)]
pub struct Engine {
    config: AnalysisConfig,
    analyser: Analyser,
    traces: FxHashMap<TraceId, Arc<TraceFindings>>,
    /// Arrival order of kept findings, for the `max_traces_kept` bound.
    order: VecDeque<TraceId>,
    agg: Aggregates,
    /// The held findings' fan-outs, patterns and chains, ranked: what the lists read.
    lists: ListIndex,
    /// Traces whose findings were dropped for the bound (still in the aggregates).
    pub dropped_findings: usize,
    /// Traces whose analysis panicked: caught, logged, and left out of findings and aggregates.
    pub analysis_failures: usize,
    /// `TraceFindings::held_bytes` of the kept findings, kept up to date as they come and go.
    findings_bytes: usize,
    /// Completions of a trace no newer than the findings held for it: in batch mode, spans
    /// that arrived after their trace was analysed and let go of (`retire`), a fragment left
    /// out of every figure; with their spans.
    pub stale_completions: usize,
    pub stale_spans: usize,
    /// The worst cases (hotspot and gap evidence) of the retired traces, which keep none of
    /// what names them.
    retired: RetiredEvidence,
    /// The list findings of the retired traces, summed (`retire` without `keep_retired_paths`).
    folded: FoldedLists,
    /// What the cold starts and async links read of retired traces that left, in the order
    /// they left.
    rest: Vec<Remainder>,
    /// `Remainder::heap_bytes` of `rest`.
    rest_bytes: usize,
    /// Retired traces whose findings left altogether, by `fingerprint`: a later completion of
    /// one is a late fragment, counted stale as when its findings are held.
    gone: FxHashSet<u64>,
    /// The same fingerprints with the end of their trace, in the order they left: the oldest
    /// are forgotten past `gone_window_ns`.
    gone_order: VecDeque<(u64, u64)>,
    /// The latest trace end analysed: the input's clock.
    clock_ns: u64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(AnalysisConfig::default())
    }
}

impl Engine {
    pub fn new(config: AnalysisConfig) -> Self {
        Engine::with_analyser(config, analyse_trace)
    }

    pub fn with_analyser(config: AnalysisConfig, analyser: Analyser) -> Self {
        Engine {
            config,
            analyser,
            traces: FxHashMap::default(),
            order: VecDeque::new(),
            agg: Aggregates::default(),
            lists: ListIndex::default(),
            dropped_findings: 0,
            analysis_failures: 0,
            findings_bytes: 0,
            stale_completions: 0,
            stale_spans: 0,
            retired: RetiredEvidence::default(),
            folded: FoldedLists::new(config.retired_list_cap),
            rest: Vec::new(),
            rest_bytes: 0,
            gone: FxHashSet::default(),
            gone_order: VecDeque::new(),
            clock_ns: 0,
        }
    }

    pub fn config(&self) -> &AnalysisConfig {
        &self.config
    }

    /// Analyses a complete trace; a newer version of a known trace replaces the older one.
    /// A trace whose findings were already dropped for `max_traces_kept` cannot take its old
    /// contribution back, so a late re-completion of it counts twice in the aggregates.
    ///
    /// A panic in the analysis is caught: the trace is counted in `analysis_failures`, logged,
    /// and changes nothing else (an earlier version's findings stay as they were).
    pub fn add_trace(&mut self, trace: &Trace) {
        if self.is_stale(trace) {
            self.count_stale(trace);
            return;
        }
        let analysis = self.trace_analyser().run(trace);
        self.add_analysed(trace, analysis);
    }

    /// The per-trace analysis alone, for another thread to run: `add_analysed` then takes its
    /// result, in completion order (the figures are the same as with `add_trace`).
    pub fn trace_analyser(&self) -> TraceAnalyser {
        TraceAnalyser {
            analyser: self.analyser,
            config: self.config,
        }
    }

    /// A completion no newer than what is held (or of a trace retired altogether): a late
    /// fragment, left out.
    pub fn is_stale(&self, trace: &Trace) -> bool {
        self.traces
            .get(&trace.trace_id)
            .is_some_and(|old| old.version >= trace.version)
            || self.gone.contains(&fingerprint(trace.trace_id))
    }

    fn count_stale(&mut self, trace: &Trace) {
        self.stale_completions += 1;
        self.stale_spans += trace.spans.len();
    }

    /// Adds what `TraceAnalyser::run` made of `trace`, as `add_trace` does.
    pub fn add_analysed(&mut self, trace: &Trace, analysis: Analysis) {
        if self.is_stale(trace) {
            self.count_stale(trace);
            return;
        }
        let f = match analysis {
            Ok(f) => f,
            Err(panic) => {
                self.analysis_failures += 1;
                tracing::warn!(trace_id = %trace.trace_id, spans = trace.spans.len(), "analysis of the trace failed, it is left out: {panic}");
                return;
            }
        };
        // The earlier contribution goes first, so a distribution at its exact limit stays exact.
        if let Some(old) = self.traces.remove(&trace.trace_id) {
            self.agg.apply(&old, false);
            self.lists.apply(&old, false);
            self.findings_bytes -= old.held_bytes();
        } else {
            self.order.push_back(trace.trace_id);
        }
        self.clock_ns = self.clock_ns.max(f.start_ns.saturating_add(f.duration_ns));
        self.agg.apply(&f, true);
        self.lists.apply(&f, true);
        self.findings_bytes += f.held_bytes();
        self.traces.insert(trace.trace_id, Arc::new(f));
        while self.traces.len() > self.config.max_traces_kept {
            let Some(id) = self.order.pop_front() else {
                break;
            };
            self.drop_findings(id);
        }
    }

    fn drop_findings(&mut self, id: TraceId) {
        if let Some(old) = self.traces.remove(&id) {
            self.lists.apply(&old, false);
            self.findings_bytes -= old.held_bytes();
            self.dropped_findings += 1;
        }
    }

    /// Bytes the engine holds: kept findings, their index, and the aggregates. A published view
    /// that still holds an `Arc` of a finding dropped here keeps it alive a while longer.
    pub fn held_bytes(&self) -> usize {
        self.findings_bytes
            + mem::hash_table::<(TraceId, Arc<TraceFindings>)>(self.traces.capacity())
            + mem::vec::<TraceId>(self.order.capacity())
            + self.agg.heap_bytes()
            + self.lists.heap_bytes()
            + self.retired.heap_bytes()
            + self.folded.heap_bytes()
            + mem::vec::<Remainder>(self.rest.capacity())
            + self.rest_bytes
            + mem::hash_table::<u64>(self.gone.capacity())
            + mem::vec::<(u64, u64)>(self.gone_order.capacity())
    }

    /// Drops the findings of a trace the store no longer holds (evicted for its memory
    /// budget), so per-trace findings never outlive their spans. Aggregates keep its
    /// contribution.
    pub fn forget(&mut self, id: TraceId) {
        self.drop_findings(id);
        self.compact_order();
    }

    /// Remembers a trace that left, and forgets those that left longer than the window ago.
    fn remember_gone(&mut self, id: TraceId, end_ns: u64) {
        let fp = fingerprint(id);
        self.gone.insert(fp);
        self.gone_order.push_back((end_ns, fp));
        self.clock_ns = self.clock_ns.max(end_ns);
        let Some(window) = self.config.gone_window_ns else {
            return;
        };
        let horizon = self.clock_ns.saturating_sub(window);
        while let Some(&(end, fp)) = self.gone_order.front()
            && end < horizon
        {
            self.gone.remove(&fp);
            self.gone_order.pop_front();
        }
        if self.gone_order.capacity() > 2 * self.gone_order.len() + 1024 {
            self.gone_order.shrink_to_fit();
            self.gone.shrink_to_fit();
        }
    }

    /// `order` keeps ids of forgotten and gone traces until the bound pops them; compacted so
    /// that it cannot grow past the findings it orders.
    fn compact_order(&mut self) {
        if self.order.len() > 2 * self.traces.len() + 1024 {
            let traces = &self.traces;
            self.order.retain(|id| traces.contains_key(id));
        }
    }

    /// Batch mode: the store let go of the trace's spans, so it cannot complete again. Its
    /// worst cases go into `retired_evidence`, and its findings stay for the report less what
    /// only taking its contribution back or naming those worst cases needed (the requests,
    /// calls, per-operation, background and call-path times). Unless `keep_retired_paths`
    /// (the per-trace entries show the rest), its fan-outs, chains, errors, coverage and
    /// data-quality counts are folded into summaries (`FoldedLists`, `GoneTotals`) and its
    /// findings leave, so what is held no longer grows with the file; only its invocations,
    /// links and producers, if any, stay (a `Remainder`, one entry each).
    pub fn retire(&mut self, id: TraceId) {
        let keep_paths = self.config.keep_retired_paths;
        let Some(f) = self.traces.get_mut(&id) else {
            return;
        };
        self.findings_bytes -= f.held_bytes();
        self.retired.fold(f);
        let f = Arc::make_mut(f);
        f.requests = Vec::new();
        f.calls = Vec::new();
        let h = &mut f.hotspots;
        (h.cp_by_op, h.self_by_op) = (Vec::new(), Vec::new());
        (h.background, h.cp_by_call_path) = (Vec::new(), Vec::new());
        if !keep_paths {
            f.critical_path = Vec::new();
            f.cp_by_service_ns = Vec::new();
            (f.services_in_order, f.services_first_seen) = (Vec::new(), Vec::new());
            self.lists.apply(f, false);
            self.folded.fold(f);
            self.retired.gone.add(f);
            // What only cold starts and async links read of it stays, apart; the rest leaves.
            if lists::listed(f) {
                let rest = Remainder::of(f);
                self.rest_bytes += rest.heap_bytes();
                self.rest.push(rest);
            }
            let end_ns = f.start_ns.saturating_add(f.duration_ns);
            self.traces.remove(&id);
            self.remember_gone(id, end_ns);
            self.compact_order();
            return;
        }
        self.findings_bytes += f.held_bytes();
    }

    /// The worst cases of the retired traces (`retire`), for the rows' evidence.
    pub fn retired_evidence(&self) -> &RetiredEvidence {
        &self.retired
    }

    pub fn aggregates(&self) -> &Aggregates {
        &self.agg
    }

    /// The held findings' fan-outs, patterns and chains, ranked.
    pub fn lists(&self) -> &ListIndex {
        &self.lists
    }

    /// The list findings of the retired traces, summed.
    pub fn folded(&self) -> &FoldedLists {
        &self.folded
    }

    /// What cold starts and async links read of the retired traces that left.
    pub fn rest(&self) -> &[Remainder] {
        &self.rest
    }

    /// The held findings by trace.
    pub fn held(&self) -> &FxHashMap<TraceId, Arc<TraceFindings>> {
        &self.traces
    }

    pub fn trace(&self, id: TraceId) -> Option<&Arc<TraceFindings>> {
        self.traces.get(&id)
    }

    /// Kept findings in a stable order (trace start, then id), for deterministic reports.
    pub fn findings(&self) -> Vec<&Arc<TraceFindings>> {
        let mut v: Vec<&Arc<TraceFindings>> = self.traces.values().collect();
        v.sort_by_key(|f| (f.start_ns, f.trace_id));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::{TraceBuilder, gateway_call};

    fn trace(extra: bool) -> Trace {
        let mut b = TraceBuilder::new();
        let r = b.span("gw", "GET /").kind(SpanKind::Server).at(0, 100).id();
        let c = b
            .span("gw", "call")
            .kind(SpanKind::Client)
            .at(10, 90)
            .parent(r)
            .id();
        b.span("svc", "serve")
            .kind(SpanKind::Server)
            .at(20, 80)
            .parent(c)
            .id();
        if extra {
            b.span("svc", "late").at(30, 40).parent(c).id();
        }
        let mut t = b.build();
        if extra {
            t.version = 2;
        }
        t
    }

    #[test]
    fn recompleted_trace_replaces_its_contribution() {
        let mut e = Engine::new(AnalysisConfig::default());
        e.add_trace(&trace(false));
        e.add_trace(&trace(false)); // same version again: ignored
        assert_eq!(e.aggregates().traces, 1);
        e.add_trace(&trace(true));
        let agg = e.aggregates();
        assert_eq!((agg.traces, agg.spans), (1, 4));
        assert_eq!(agg.service_map.rows()[0].calls, 1);
        assert_eq!(e.findings().len(), 1);
    }

    /// Analyses normally, except a trace with a span named "boom", whose analysis panics.
    fn fragile(t: &Trace, cfg: &AnalysisConfig) -> TraceFindings {
        assert!(
            !t.spans.iter().any(|s| s.name.as_str() == "boom"),
            "injected analysis failure"
        );
        analyse_trace(t, cfg)
    }

    #[test]
    fn a_panicking_analysis_costs_that_trace_only() {
        let mut e = Engine::with_analyser(AnalysisConfig::default(), fragile);
        for id in 1..=3u128 {
            let mut b = TraceBuilder::with_trace_id(id);
            b.span("a", if id == 2 { "boom" } else { "ok" })
                .at(0, 10)
                .id();
            e.add_trace(&b.build());
        }
        assert_eq!(e.analysis_failures, 1);
        assert_eq!(e.findings().len(), 2);
        assert_eq!(e.aggregates().traces, 2);
    }

    #[test]
    fn trace_findings_report_path_services_and_client_gap() {
        let f = analyse_trace(&trace(false), &AnalysisConfig::default());
        let names: Vec<&str> = f.services_in_order.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["gw", "svc", "gw"]);
        assert_eq!(f.client_gap_on_path_ns, 20_000_000);
        assert_eq!(f.calls.len(), 1);
        assert_eq!(f.calls[0].cp_ns, 80_000_000, "the call and its server span");
        let total: u64 = f.cp_by_service_ns.iter().map(|x| x.1).sum();
        assert_eq!(total, f.duration_ns);
    }

    #[test]
    fn clock_skew_adjustment_is_opt_in() {
        let mut b = TraceBuilder::new();
        let p = b.span("a", "parent").res("host.name", "a").at(10, 110).id();
        b.span("b", "child")
            .res("host.name", "b")
            .at(0, 50)
            .parent(p)
            .id();
        let t = b.build();
        let off = analyse_trace(&t, &AnalysisConfig::default());
        assert!(off.clock_skew.is_empty());
        let on = analyse_trace(
            &t,
            &AnalysisConfig {
                max_clock_skew_ns: Some(1_000_000_000),
                ..AnalysisConfig::default()
            },
        );
        assert_eq!(on.clock_skew.len(), 1);
        // Shifted to [35, 85]: now inside the parent and on its critical path.
        let child_cp: u64 = on
            .cp_by_service_ns
            .iter()
            .filter(|x| x.0.as_str() == "b")
            .map(|x| x.1)
            .sum();
        assert_eq!(child_cp, 50_000_000);
    }

    #[test]
    fn bounded_findings_keep_aggregates() {
        let mut e = Engine::new(AnalysisConfig {
            max_traces_kept: 1,
            ..AnalysisConfig::default()
        });
        for id in 1..=3u128 {
            let mut b = TraceBuilder::with_trace_id(id);
            b.span("a", "x").at(0, 10).id();
            e.add_trace(&b.build());
        }
        assert_eq!(e.findings().len(), 1);
        assert_eq!(e.dropped_findings, 2);
        assert_eq!(e.aggregates().traces, 3);
    }

    #[test]
    fn forgetting_an_evicted_trace_drops_its_findings_not_its_aggregates() {
        let mut e = Engine::new(AnalysisConfig::default());
        let mut ids = Vec::new();
        for id in 1..=3000u128 {
            let mut b = TraceBuilder::with_trace_id(id);
            b.span("a", "x").at(0, 10).id();
            let t = b.build();
            ids.push(t.trace_id);
            e.add_trace(&t);
        }
        for id in &ids[..2990] {
            e.forget(*id);
        }
        assert_eq!(e.findings().len(), 10);
        assert!(e.trace(ids[0]).is_none());
        assert_eq!(e.aggregates().traces, 3000);
        assert!(
            e.order.len() <= 2 * 10 + 1024,
            "the arrival order is compacted"
        );
    }

    fn traces(n: u128, first: u128) -> Vec<Trace> {
        (first..first + n).map(gateway_call).collect()
    }

    #[test]
    fn merged_aggregates_equal_one_engine_fed_everything() {
        // Enough traces that the distributions are sketches on every side.
        let all = traces(3000, 1);
        let (mut one, mut a, mut b) = (Engine::default(), Engine::default(), Engine::default());
        for (k, t) in all.iter().enumerate() {
            one.add_trace(t);
            if k % 3 == 0 {
                a.add_trace(t)
            } else {
                b.add_trace(t)
            }
        }
        let mut merged = a.aggregates().clone();
        merged.merge(b.aggregates());
        let whole = one.aggregates();
        assert!(!whole.durations.is_exact());
        assert_eq!((merged.traces, merged.spans), (whole.traces, whole.spans));
        assert_eq!(merged.window_s(), whole.window_s());
        assert_eq!(merged.durations, whole.durations);
        assert_eq!(merged.red, whole.red);
        assert_eq!(merged.service_map, whole.service_map);
        assert_eq!(merged.hotspots, whole.hotspots);
        assert_eq!(merged.endpoints, whole.endpoints);
        assert_eq!(merged.red.services(1.0), whole.red.services(1.0));
    }

    /// One span at `at_ms` (ms of the input's clock), trace `id`; `version` 2 for a fragment.
    fn one_span(id: u128, at_ms: u64, version: u32) -> Trace {
        let mut b = TraceBuilder::with_trace_id(id);
        b.span("a", "x").at(at_ms, at_ms + 1).id();
        let mut t = b.build();
        t.version = version;
        t
    }

    #[test]
    fn the_ids_of_traces_that_left_are_kept_for_the_window_only() {
        let mut e = Engine::new(AnalysisConfig {
            keep_retired_paths: false,
            gone_window_ns: Some(1_000_000_000),
            ..AnalysisConfig::default()
        });
        // A trace every 10 ms for 100 s of input, each let go of once analysed.
        for id in 1..=10_000u128 {
            e.add_trace(&one_span(id, id as u64 * 10, 1));
            e.retire(TraceId::from_u128(id).expect("id"));
        }
        assert!(e.findings().is_empty(), "every trace left");
        // A second's worth of ids, not the whole input's.
        assert!(e.gone.len() <= 102, "{} ids", e.gone.len());
        assert!(e.gone_order.len() == e.gone.len());
        // A fragment of a recent trace is stale; one of a trace long gone is a trace again.
        e.add_trace(&one_span(9_990, 99_950, 2));
        assert_eq!((e.stale_completions, e.aggregates().traces), (1, 10_000));
        e.add_trace(&one_span(5, 99_960, 2));
        assert_eq!((e.stale_completions, e.aggregates().traces), (1, 10_001));
    }

    #[test]
    fn held_bytes_follow_the_kept_findings() {
        let mut e = Engine::default();
        let empty = e.held_bytes();
        let ts = traces(200, 1);
        for t in &ts {
            e.add_trace(t);
        }
        let full = e.held_bytes();
        let per_trace = (full - empty) / 200;
        assert!(
            per_trace >= size_of::<TraceFindings>(),
            "{per_trace} bytes a trace"
        );
        for t in &ts {
            e.forget(t.trace_id);
        }
        // The aggregates stay (and the emptied index keeps its capacity).
        let after = e.held_bytes();
        assert!(after < full / 4, "{after} of {full}");
        assert!(after >= e.aggregates().heap_bytes());
    }
}
