//! The pages that draw: a workflow with its map and live counts per step, and an
//! instance with its path on the map and its history as a timeline.

use std::collections::HashMap;

use maud::{Markup, html};

use super::map::{self, MapLinks};
use super::pages::{Frame, layout, when};
use crate::engine::definition::Workflow;
use crate::engine::{HistoryView, InstanceView};
use crate::store::StepCount;

pub const STYLE: &str = r#"
ol.timeline { list-style:none; margin:0; padding:0 0 0 1.1rem; border-left:3px solid var(--line); }
ol.timeline li { position:relative; margin:0 0 .7rem; padding:.45rem .7rem; background:#fff; border:1px solid var(--line); border-radius:6px; }
ol.timeline li::before { content:""; position:absolute; left:-1.6rem; top:.8rem; width:.7rem; height:.7rem; border-radius:50%; background:#7b8794; border:2px solid var(--bg); }
ol.timeline li.k-failed::before, ol.timeline li.k-wait_expired::before { background:#a61b1b; }
ol.timeline li.k-completed::before { background:#207227; }
ol.timeline li.k-wait_opened::before { background:#2f6fde; }
ol.timeline .what { font-weight:600; }
ol.timeline .meta { color:var(--muted); font-size:.85rem; }
"#;

/// A workflow: totals, the map with each step's counts, and the counts as a table.
pub fn workflow(frame: &Frame<'_>, workflow: &Workflow, counts: &[StepCount]) -> Markup {
    let links = MapLinks {
        workflow_id: &workflow.id,
    };
    let total = |pick: fn(&StepCount) -> i64| counts.iter().map(pick).sum::<i64>();
    let content = html! {
        @if !workflow.description.is_empty() { p.muted { (workflow.description) } }
        div.cards {
            div.card #total-waiting { b { (total(|c| c.waiting)) } span { "waiting" } }
            div.card #total-overdue { b { (total(|c| c.overdue)) } span { "overdue" } }
            div.card #total-failed { b { (total(|c| c.failed)) } span { "failed" } }
            div.card { b { code { (workflow.hash) } } span { "version" } }
        }
        (map::workflow_map(workflow, counts, &links))
        p.muted { a href={ "/admin/waits?workflow=" (workflow.id) } { "Deadline outlook and open waits of this workflow" } }
        h2 { "Per step" }
        table #step-counts {
            thead { tr { th { "Step" } th { "Kind" } th { "Waiting" } th { "Overdue" } th { "Failed" } } }
            tbody { @for step in &workflow.steps {
                @let found = counts.iter().find(|c| c.step_id == step.id)
                    .cloned().unwrap_or_default();
                tr data-step=(step.id) {
                    td.mono { (step.id) }
                    td { (step.kind.name()) }
                    td { (found.waiting) }
                    td class=[(found.overdue > 0).then_some("overdue")] { (found.overdue) }
                    td { (found.failed) }
                }
            } }
        }
    };
    layout(frame, &workflow.name, content)
}

/// The serial or event name each wait was opened with, by wait id, from the history.
fn wait_names(history: &[HistoryView]) -> HashMap<i64, String> {
    history
        .iter()
        .filter_map(|row| {
            let name = row
                .detail
                .get("serial")
                .or_else(|| row.detail.get("event"))?;
            Some((row.wait_id?, name.as_str()?.to_string()))
        })
        .collect()
}

/// An instance: what it is, its path on the map, its open waits, fields and timeline.
/// `definition` is the version it runs on, when that can be read.
pub fn instance(
    frame: &Frame<'_>,
    instance: &InstanceView,
    workflow_name: &str,
    definition: Option<&Workflow>,
    history: &[HistoryView],
) -> Markup {
    let fields = serde_json::to_string_pretty(&instance.fields).unwrap_or_default();
    let recorded: Vec<&str> = history
        .iter()
        .filter_map(|row| row.step.as_deref())
        .collect();
    let names = wait_names(history);
    let content = html! {
        div.cards {
            div.card { b { (super::pages::badge(instance.status.as_str())) } span { "status" } }
            div.card { b { a href={ "/admin/workflows/" (instance.workflow_id) } { (workflow_name) } } span { "workflow" } }
            div.card { b { (instance.current_step.as_deref().unwrap_or("—")) } span { "current step" } }
            div.card { b { (when(&instance.created_at, frame.now_ms)) } span { "started" } }
        }
        @if let Some(error) = &instance.error { p.error { (error) } }
        h2 { "Path" }
        @match definition {
            Some(definition) => {
                (map::instance_map(definition, &recorded, instance.current_step.as_deref()))
            }
            None => p.muted { "The definition this instance runs on is not available." },
        }
        h2 { "Open waits" }
        @if instance.waits.is_empty() { p.muted { "None." } }
        @else {
            table { thead { tr { th { "Step" } th { "Waits for" } th { "Deadline" } } }
                tbody { @for wait in &instance.waits { tr {
                    td.mono { (wait.step) }
                    td { (wait.kind.as_str()) " " code { (wait.serial.as_deref().or(wait.event_name.as_deref()).unwrap_or("")) } }
                    td class=[(wait.deadline_ms < frame.now_ms).then_some("overdue")] { (when(&wait.deadline, frame.now_ms)) }
                } } }
            }
        }
        h2 { "Fields" }
        pre { (fields) }
        h2 { "History" }
        ol.timeline #history {
            @for row in history {
                li class={ "k-" (row.kind) } {
                    span.what { (row.kind.replace('_', " ")) }
                    @if let Some(step) = &row.step { " at " code { (step) } }
                    @if let Some(name) = row.wait_id.and_then(|id| names.get(&id)) {
                        " · " span.wait-name { code { (name) } }
                    }
                    br;
                    span.meta {
                        (when(&row.at, frame.now_ms)) " · by " b.actor { (row.actor) }
                        " via " span.dialect { (row.dialect) }
                        @if let Some(source) = &row.source { " from " (source) }
                        @if let Some(id) = &row.message_id { " · message " code { (id) } }
                    }
                    @if let Some(error) = row.detail.get("error").and_then(|e| e.as_str()) {
                        br; span.overdue { (error) }
                    }
                }
            }
        }
    };
    layout(frame, &format!("Instance #{}", instance.id), content)
}
