//! The workflow map: a workflow drawn as server-rendered SVG (no JavaScript), its steps
//! as nodes whose badge and stripe say their kind, its transitions as labelled edges
//! (`next`, a decision's branches and `else`, `on_timeout`, `on_error`). On the
//! workflow's page each node carries the live counts of the step (waiting, overdue,
//! failed) as a heatmap and as links to the listings; on an instance's page the path
//! the instance took is highlighted and its current step marked.
//!
//! The layout ([`layout`]) is our own, about 300 lines. The layered-layout crates
//! (rust-sugiyama, dagre, bra0-layout) are young (a few releases each), pull in a graph
//! library (petgraph) for graphs that here have a dozen nodes, and decide node sizes,
//! bends and cycle handling their own way, where the map needs fixed node sizes, bends
//! it can route labels on, and the same picture for the same definition every time.
//! Every name drawn comes from a definition or the store and goes through maud, which
//! escapes it.

mod layout;
mod svg;

use std::collections::{HashSet, VecDeque};

use maud::Markup;

use crate::engine::definition::{StepKind, Workflow};
use crate::store::StepCount;

pub use svg::{MapLinks, STYLE};

/// Why an edge is taken, which is also its label's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Next,
    Branch,
    Else,
    Timeout,
    Error,
}

impl Why {
    fn class(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Branch => "branch",
            Self::Else => "else",
            Self::Timeout => "timeout",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone)]
struct Edge {
    from: usize,
    to: usize,
    why: Why,
    label: String,
}

/// Every transition of the workflow, step by step, in file order.
fn edges(workflow: &Workflow) -> Vec<Edge> {
    let mut edges = Vec::new();
    for (from, step) in workflow.steps.iter().enumerate() {
        let mut add = |to: Option<usize>, why: Why, label: &str| {
            if let Some(to) = to {
                let label = label.to_string();
                edges.push(Edge {
                    from,
                    to,
                    why,
                    label,
                });
            }
        };
        let next = workflow.after(from);
        match &step.kind {
            StepKind::End | StepKind::Fail { .. } => {}
            StepKind::Decide { when, otherwise } => {
                for (condition, to) in when {
                    add(Some(*to), Why::Branch, &format!("if {condition}"));
                }
                add(otherwise.or(next), Why::Else, "else");
            }
            StepKind::ServerEvent { wait, on_error, .. }
            | StepKind::Call { wait, on_error, .. } => {
                add(next, Why::Next, "next");
                add(wait.on_timeout, Why::Timeout, "on_timeout");
                add(*on_error, Why::Error, "on_error");
            }
            StepKind::WaitEvent { wait, .. } | StepKind::WaitInput { wait, .. } => {
                add(next, Why::Next, "next");
                add(wait.on_timeout, Why::Timeout, "on_timeout");
            }
            StepKind::Emit { .. } | StepKind::Set { .. } | StepKind::Reply(_) => {
                add(next, Why::Next, "next");
            }
        }
    }
    edges
}

/// What an instance's page highlights: the steps and edges its history shows it took,
/// and where it stands.
#[derive(Debug, Default)]
pub struct Trail {
    steps: HashSet<usize>,
    edges: HashSet<usize>,
    current: Option<usize>,
}

impl Trail {
    /// From the steps the history names, in order, and the current step. History records
    /// waits, events and endings, not every step passed (a `set`, a `decide`): between two
    /// recorded steps the trail follows the shortest way the definition allows, from the
    /// first step on.
    fn new(workflow: &Workflow, edges: &[Edge], recorded: &[&str], current: Option<&str>) -> Self {
        let index = |id: &str| workflow.step(id).map(|(at, _)| at);
        let mut trail = Trail {
            current: current.and_then(index),
            ..Trail::default()
        };
        let mut at = (!workflow.steps.is_empty()).then_some(0);
        if let Some(first) = at {
            trail.steps.insert(first);
        }
        for step in recorded.iter().filter_map(|id| index(id)) {
            if let Some(from) = at
                && let Some(path) = shortest_path(edges, from, step)
            {
                trail.edges.extend(path.iter().copied());
                trail.steps.extend(path.iter().map(|&edge| edges[edge].to));
            }
            trail.steps.insert(step);
            at = Some(step);
        }
        trail
    }
}

/// The edges of a shortest path from `from` to `to` (none when they are the same).
fn shortest_path(edges: &[Edge], from: usize, to: usize) -> Option<Vec<usize>> {
    let nodes = edges
        .iter()
        .map(|e| e.from.max(e.to) + 1)
        .max()
        .unwrap_or(0);
    let mut came_by: Vec<Option<usize>> = vec![None; nodes.max(from + 1).max(to + 1)];
    let mut seen = HashSet::from([from]);
    let mut queue = VecDeque::from([from]);
    while let Some(node) = queue.pop_front() {
        if node == to {
            let mut path = Vec::new();
            let mut at = to;
            while at != from {
                let edge = came_by[at]?;
                path.push(edge);
                at = edges[edge].from;
            }
            path.reverse();
            return Some(path);
        }
        for (index, edge) in edges.iter().enumerate() {
            if edge.from == node && seen.insert(edge.to) {
                came_by[edge.to] = Some(index);
                queue.push_back(edge.to);
            }
        }
    }
    None
}

/// The workflow's map with each step's live counts, linked through `links`.
pub fn workflow_map(workflow: &Workflow, counts: &[StepCount], links: &MapLinks<'_>) -> Markup {
    let edges = edges(workflow);
    svg::draw(workflow, &edges, svg::Overlay::Counts(counts, links))
}

/// The workflow's map with the path an instance took, from the steps its history names
/// in order, and its current step.
pub fn instance_map(workflow: &Workflow, recorded: &[&str], current: Option<&str>) -> Markup {
    let edges = edges(workflow);
    let trail = Trail::new(workflow, &edges, recorded, current);
    svg::draw(workflow, &edges, svg::Overlay::Trail(&trail))
}

#[cfg(test)]
mod tests;
