//! Drawing a laid-out workflow as SVG: nodes with their kind, edges with their labels,
//! and what the page lays over them (live counts as a heatmap, or an instance's trail).
//! The SVG is markup in the page, styled by [`STYLE`]; maud escapes every name.

use maud::{Markup, html};

use super::layout::{Layout, Rect, layout};
use super::{Edge, Trail};
use crate::engine::definition::{StepKind, Workflow};
use crate::store::StepCount;

const NODE_WIDTH: f64 = 210.0;
const NODE_HEIGHT: f64 = 72.0;
/// Characters of a step id or an edge label drawn; the whole text is in the tooltip.
const NAME_CHARS: usize = 24;
const LABEL_CHARS: usize = 22;

/// The map's part of the admin stylesheet.
pub const STYLE: &str = r#"
.map-wrap { background:#fff; border:1px solid var(--line); border-radius:8px; overflow:auto; padding:.4rem; margin-bottom:1rem; }
svg.map { display:block; margin:0 auto; font:12px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
svg.map .edge { fill:none; stroke:#9aa5b1; stroke-width:1.4; }
svg.map .edge.timeout { stroke:#d97706; stroke-dasharray:5 3; }
svg.map .edge.error { stroke:#a61b1b; stroke-dasharray:2 3; }
svg.map .edge.taken { stroke:#2f6fde; stroke-width:3; stroke-dasharray:none; }
svg.map .label { fill:#52606d; font-size:10.5px; }
svg.map .label-bg { fill:#fff; opacity:.85; }
svg.map .box { fill:#fff; stroke:#cbd2d9; stroke-width:1.2; }
svg.map .on-trail .box { stroke:#2f6fde; stroke-width:2.5; }
svg.map .current .box { stroke:#e8590c; stroke-width:4; }
svg.map .here { fill:#e8590c; font-weight:700; font-size:11px; }
svg.map .kind { font-size:9.5px; letter-spacing:.06em; font-weight:700; }
svg.map .name { font-size:13px; font-weight:600; fill:#1f2933; }
svg.map .count { font-size:11px; fill:#616e7c; }
svg.map a .count { fill:#1c4f9c; text-decoration:underline; }
svg.map .count.hot { fill:#a61b1b; font-weight:700; }
"#;

/// Where the counts on a workflow's map link to.
pub struct MapLinks<'a> {
    pub workflow_id: &'a str,
}

impl MapLinks<'_> {
    /// The listing behind one count: instances at the step (waiting or failed), or its
    /// waits (where the overdue ones are marked).
    fn href(&self, step: &str, count: &str) -> String {
        let query = |pairs: &[(&str, &str)]| serde_urlencoded::to_string(pairs).unwrap_or_default();
        let (workflow, step) = (("workflow", self.workflow_id), ("step", step));
        match count {
            "overdue" => format!("/admin/waits?{}", query(&[workflow, step])),
            status => format!(
                "/admin/instances?{}",
                query(&[workflow, step, ("status", status)])
            ),
        }
    }
}

pub enum Overlay<'a> {
    Counts(&'a [StepCount], &'a MapLinks<'a>),
    Trail(&'a Trail),
}

/// The badge text and colour of a step kind.
fn kind_look(kind: &StepKind) -> (&'static str, &'static str) {
    match kind {
        StepKind::ServerEvent { .. } => ("SERVER EVENT", "#2f6fde"),
        StepKind::WaitEvent { .. } => ("CUSTOM EVENT", "#7b61ff"),
        StepKind::WaitInput { .. } => ("INPUT", "#0e9f6e"),
        StepKind::Emit { .. } => ("EMIT", "#0891b2"),
        StepKind::Call { .. } => ("CALL", "#d97706"),
        StepKind::Set { .. } => ("SET", "#64748b"),
        StepKind::Decide { .. } => ("DECIDE", "#a16207"),
        StepKind::Reply(_) => ("REPLY", "#0d9488"),
        StepKind::End => ("END", "#207227"),
        StepKind::Fail { .. } => ("FAIL", "#a61b1b"),
    }
}

/// Width of an edge label's background: its clipped text at about 5.6 units a character.
fn label_width(label: &str) -> f64 {
    clipped(label, LABEL_CHARS).chars().count() as f64 * 5.6 + 4.0
}

fn clipped(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        let kept: String = text.chars().take(chars - 1).collect();
        format!("{kept}…")
    }
}

fn path_of(points: &[(f64, f64)]) -> String {
    let mut d = String::new();
    for (at, (x, y)) in points.iter().enumerate() {
        let command = if at == 0 { 'M' } else { 'L' };
        d.push_str(&format!("{command}{x:.1},{y:.1} "));
    }
    d.trim_end().to_string()
}

/// Where an edge's label sits: a little way along its first segment.
fn label_at(points: &[(f64, f64)]) -> (f64, f64) {
    match points {
        [(x0, y0), (x1, y1), ..] => {
            let length = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt().max(1.0);
            let along = (length * 0.5).min(30.0) / length;
            (x0 + (x1 - x0) * along + 4.0, y0 + (y1 - y0) * along + 4.0)
        }
        _ => (0.0, 0.0),
    }
}

/// The outline of a node: decisions are hexagons, endings rounded to a pill.
fn shape(kind: &StepKind, r: &Rect) -> Markup {
    let (x, y, w, h) = (r.x, r.y, r.width, r.height);
    match kind {
        StepKind::Decide { .. } => {
            let points = format!(
                "{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                x + 14.0,
                y,
                x + w - 14.0,
                y,
                x + w,
                y + h / 2.0,
                x + w - 14.0,
                y + h,
                x + 14.0,
                y + h,
                x,
                y + h / 2.0
            );
            html! { polygon.box points=(points) {} }
        }
        StepKind::End | StepKind::Fail { .. } => {
            html! { rect.box x=(x) y=(y) width=(w) height=(h) rx=(h / 2.0) {} }
        }
        _ => html! { rect.box x=(x) y=(y) width=(w) height=(h) rx="8" {} },
    }
}

/// The map of `workflow` with `overlay` on it.
pub fn draw(workflow: &Workflow, edges: &[Edge], overlay: Overlay<'_>) -> Markup {
    let pairs: Vec<(usize, usize)> = edges.iter().map(|e| (e.from, e.to)).collect();
    let Layout {
        nodes,
        edges: routes,
        width,
        height,
    } = layout(workflow.steps.len(), &pairs, NODE_WIDTH, NODE_HEIGHT);
    let trail = match &overlay {
        Overlay::Trail(trail) => Some(*trail),
        Overlay::Counts(..) => None,
    };
    let hottest = match &overlay {
        Overlay::Counts(counts, _) => counts.iter().map(|c| c.waiting).max().unwrap_or(0),
        Overlay::Trail(_) => 0,
    };
    html! {
        div.map-wrap {
            svg.map xmlns="http://www.w3.org/2000/svg" role="img" width=(width) height=(height)
                viewBox={ "0 0 " (width) " " (height) } {
                title { "Map of " (workflow.name) }
                defs {
                    marker #arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"
                        markerHeight="7" orient="auto-start-reverse" {
                        path d="M0,0 L10,5 L0,10 z" fill="#7b8794" {}
                    }
                }
                g.edges {
                    @for (index, (edge, route)) in edges.iter().zip(&routes).enumerate() {
                        @let taken = trail.is_some_and(|t| t.edges.contains(&index));
                        @let (lx, ly) = label_at(route);
                        g.link data-from=(workflow.steps[edge.from].id)
                            data-to=(workflow.steps[edge.to].id) {
                            path class={ "edge " (edge.why.class()) @if taken { " taken" } }
                                d=(path_of(route)) marker-end="url(#arrow)" {
                                title { (edge.label) }
                            }
                            rect.label-bg x=(lx - 2.0) y=(ly - 9.0)
                                width=(label_width(&edge.label))
                                height="12" {}
                            text.label x=(lx) y=(ly) { (clipped(&edge.label, LABEL_CHARS)) }
                        }
                    }
                }
                g.nodes {
                    @for (index, (step, r)) in workflow.steps.iter().zip(&nodes).enumerate() {
                        @let (kind, colour) = kind_look(&step.kind);
                        @let on_trail = trail.is_some_and(|t| t.steps.contains(&index));
                        @let current = trail.is_some_and(|t| t.current == Some(index));
                        g class={ "node" @if on_trail { " on-trail" } @if current { " current" } }
                            data-step=(step.id) data-kind=(step.kind.name()) {
                            title { (step.id) " (" (step.kind.name()) ")" }
                            (shape(&step.kind, r))
                            @if let Overlay::Counts(counts, links) = &overlay {
                                (heat(step.id.as_str(), counts, hottest, r, &step.kind))
                                (count_line(step.id.as_str(), counts, links, r))
                            }
                            rect x=(r.x + 10.0) y=(r.y + 9.0) width="4" height="14" rx="2" fill=(colour) {}
                            text.kind x=(r.x + 19.0) y=(r.y + 20.0) fill=(colour) { (kind) }
                            @if current {
                                text.here x=(r.x + r.width - 38.0) y=(r.y + 20.0) { "● now" }
                            }
                            text.name x=(r.x + 12.0) y=(r.y + 41.0) {
                                (clipped(&step.id, NAME_CHARS))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn counts_of<'a>(step: &str, counts: &'a [StepCount]) -> Option<&'a StepCount> {
    counts.iter().find(|c| c.step_id == step)
}

/// The heatmap: a fill whose strength is the step's share of the busiest step's waits.
fn heat(step: &str, counts: &[StepCount], hottest: i64, r: &Rect, kind: &StepKind) -> Markup {
    let waiting = counts_of(step, counts).map_or(0, |c| c.waiting);
    if waiting == 0 || hottest == 0 {
        return html! {};
    }
    let strength = 0.12 + 0.5 * waiting as f64 / hottest as f64;
    let rx = match kind {
        StepKind::End | StepKind::Fail { .. } => r.height / 2.0,
        _ => 8.0,
    };
    html! {
        rect.heat x=(r.x) y=(r.y) width=(r.width) height=(r.height) rx=(rx)
            fill="#2f6fde" fill-opacity=(format!("{strength:.2}")) {}
    }
}

/// "3 waiting · 1 overdue · 2 failed", each a link to the listing behind it when not 0.
fn count_line(step: &str, counts: &[StepCount], links: &MapLinks<'_>, r: &Rect) -> Markup {
    let found = counts_of(step, counts).cloned().unwrap_or_default();
    let parts = [
        ("waiting", found.waiting, 0.0),
        ("overdue", found.overdue, 72.0),
        ("failed", found.failed, 140.0),
    ];
    html! {
        @for (what, n, dx) in parts {
            @let hot = n > 0 && what != "waiting";
            @let class = if hot { "count hot" } else { "count" };
            @if n > 0 {
                a href=(links.href(step, what)) {
                    text class=(class) data-count=(what) data-n=(n) x=(r.x + 12.0 + dx) y=(r.y + 61.0) { (n) " " (what) }
                }
            } @else {
                text class=(class) data-count=(what) data-n=(n) x=(r.x + 12.0 + dx) y=(r.y + 61.0) { (n) " " (what) }
            }
        }
    }
}
