//! The map on the example workflows in `workflows/`: nothing overlaps, every edge is
//! drawn between its two nodes, names are escaped, and an instance's trail follows the
//! definition.

use std::path::Path;
use std::sync::Arc;

use super::layout::{Layout, Rect, layout};
use super::{MapLinks, edges, instance_map, workflow_map};
use crate::engine::definition::{Workflow, compile, load_dir};
use crate::store::StepCount;

/// Whether `point` lies on the border of `r` (within rounding).
fn on_border(point: (f64, f64), r: &Rect) -> bool {
    let (x, y) = point;
    let near = |a: f64, b: f64| (a - b).abs() < 0.01;
    let within_x = x >= r.x - 0.01 && x <= r.x + r.width + 0.01;
    let within_y = y >= r.y - 0.01 && y <= r.y + r.height + 0.01;
    (within_x && (near(y, r.y) || near(y, r.y + r.height)))
        || (within_y && (near(x, r.x) || near(x, r.x + r.width)))
}

/// No two nodes overlap, and every edge runs from its source's border to its target's,
/// inside the picture.
fn check(drawn: &Layout, edges: &[(usize, usize)]) {
    for (i, a) in drawn.nodes.iter().enumerate() {
        for (j, b) in drawn.nodes.iter().enumerate().skip(i + 1) {
            assert!(!a.overlaps(b), "nodes {i} and {j} overlap: {a:?} {b:?}");
        }
    }
    assert_eq!(drawn.edges.len(), edges.len(), "one route per edge");
    for (route, &(from, to)) in drawn.edges.iter().zip(edges) {
        assert!(route.len() >= 2, "edge {from}→{to} has a route");
        let (first, last) = (route[0], route[route.len() - 1]);
        assert!(
            on_border(first, &drawn.nodes[from]),
            "{from}→{to} leaves {from}"
        );
        assert!(
            on_border(last, &drawn.nodes[to]),
            "{from}→{to} reaches {to}"
        );
        for &(x, y) in route {
            assert!((0.0..=drawn.width).contains(&x) && (0.0..=drawn.height).contains(&y));
        }
    }
}

/// The shipped example workflow of this name.
fn example(name: &str) -> Arc<Workflow> {
    examples()
        .into_iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no example workflow `{name}`"))
}

fn examples() -> Vec<Arc<Workflow>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let loaded = load_dir(&dir).unwrap_or_else(|errors| panic!("{errors:?}"));
    let list: Vec<Arc<Workflow>> = loaded.iter().cloned().collect();
    assert!(list.len() >= 3, "the examples are there");
    list
}

#[test]
fn the_example_workflows_are_drawn_without_overlaps_and_with_every_edge() {
    for workflow in examples() {
        let edges = edges(&workflow);
        let pairs: Vec<(usize, usize)> = edges.iter().map(|e| (e.from, e.to)).collect();
        check(&layout(workflow.steps.len(), &pairs, 210.0, 72.0), &pairs);
        let links = MapLinks {
            workflow_id: &workflow.id,
        };
        let svg = workflow_map(&workflow, &[], &links).into_string();
        assert_eq!(svg.matches("<path class=\"edge ").count(), edges.len());
        assert_eq!(svg.matches("data-step=").count(), workflow.steps.len());
    }
}

#[test]
fn the_order_map_has_its_branches_timeouts_and_errors() {
    let order = example("order-fulfilment");
    let labels: Vec<String> = edges(&order).into_iter().map(|e| e.label).collect();
    for label in [
        "next",
        "if fields.approved",
        "else",
        "on_timeout",
        "on_error",
    ] {
        assert!(labels.iter().any(|l| l == label), "{label} in {labels:?}");
    }
    let counts = [StepCount {
        step_id: "place-order".into(),
        waiting: 3,
        overdue: 1,
        failed: 0,
    }];
    let links = MapLinks {
        workflow_id: &order.id,
    };
    let svg = workflow_map(&order, &counts, &links).into_string();
    let waiting = format!(
        "href=\"/admin/instances?workflow={}&amp;step=place-order&amp;status=waiting\"",
        order.id
    );
    assert!(svg.contains(&waiting), "{svg}");
    assert!(svg.contains("data-count=\"overdue\" data-n=\"1\""));
    assert!(
        svg.contains("fill-opacity=\"0.62\""),
        "the busiest step is the darkest"
    );
}

#[test]
fn names_from_definitions_are_escaped() {
    let source = include_str!("../../../../fixtures/workflows/hostile-names.toml");
    let workflow = compile(Path::new("evil.toml"), source.as_bytes()).expect("compiles");
    let counts = [StepCount {
        step_id: workflow.steps[0].id.clone(),
        waiting: 1,
        overdue: 0,
        failed: 1,
    }];
    let links = MapLinks {
        workflow_id: &workflow.id,
    };
    for svg in [
        workflow_map(&workflow, &counts, &links).into_string(),
        instance_map(&workflow, &[&workflow.steps[0].id], Some("a'b")).into_string(),
    ] {
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(&quot;x&quot;)"), "{svg}");
        assert!(svg.contains("Map of &lt;script&gt;alert('wf')"), "{svg}");
    }
    let svg = workflow_map(&workflow, &counts, &links).into_string();
    assert!(
        svg.contains("step=%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E"),
        "step ids are URL-encoded in links: {svg}"
    );
}

#[test]
fn an_instance_trail_follows_the_definition_between_recorded_steps() {
    let order = example("order-fulfilment");
    let svg = instance_map(
        &order,
        &["place-order", "wait-shipment"],
        Some("wait-shipment"),
    )
    .into_string();
    // place-order → check-approval → wait-shipment, through the decision.
    assert_eq!(svg.matches(" taken\"").count(), 2, "{svg}");
    assert_eq!(svg.matches("class=\"node on-trail").count(), 3);
    assert_eq!(svg.matches("node on-trail current").count(), 1);
}

// The layout alone, on small graphs.

fn laid_out(count: usize, edges: &[(usize, usize)]) -> Layout {
    let drawn = layout(count, edges, 100.0, 40.0);
    check(&drawn, edges);
    drawn
}

#[test]
fn a_chain_runs_down_in_one_column() {
    let drawn = laid_out(3, &[(0, 1), (1, 2)]);
    let xs: Vec<f64> = drawn.nodes.iter().map(|r| r.x).collect();
    assert!(xs.iter().all(|x| (x - xs[0]).abs() < 1e-9), "{xs:?}");
    assert!(drawn.nodes[0].y < drawn.nodes[1].y && drawn.nodes[1].y < drawn.nodes[2].y);
}

#[test]
fn cycles_and_self_loops_are_drawn() {
    let edges = [(0, 1), (1, 2), (2, 1), (2, 2), (2, 0), (0, 3), (3, 2)];
    let drawn = laid_out(4, &edges);
    assert!(
        drawn.nodes[2].y > drawn.nodes[1].y,
        "the back edge does not lift 2"
    );
    assert_eq!(drawn.edges[3].len(), 4, "a self loop is a loop");
}

#[test]
fn a_fan_out_spreads_across_a_rank() {
    let drawn = laid_out(5, &[(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4)]);
    let rank_one = [1, 2, 3].map(|n| drawn.nodes[n]);
    assert!(rank_one.iter().all(|r| (r.y - rank_one[0].y).abs() < 1e-9));
}

#[test]
fn nothing_to_draw_is_an_empty_picture() {
    let drawn = laid_out(0, &[]);
    assert!(drawn.nodes.is_empty() && drawn.edges.is_empty());
}
