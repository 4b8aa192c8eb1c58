//! The deadline outlook of the waits page: open waits falling due in each of the next
//! hours, and those overdue now, as an SVG bar chart (no JavaScript) with the counts as
//! text too: each bar has its number above it and a tooltip, and a table beneath lists
//! every hour that has waits, so the page reads the same without the picture.

use maud::{Markup, html};

use crate::store::DueCount;

/// Hours the outlook looks ahead.
pub const HOURS: i64 = 48;

const BAR: f64 = 16.0;
const GAP: f64 = 4.0;
const CHART_HEIGHT: f64 = 120.0;
/// Room above the bars for their numbers and below for the hour marks.
const TOP: f64 = 18.0;
const BOTTOM: f64 = 22.0;
const LEFT: f64 = 8.0;

pub const STYLE: &str = r#"
.outlook h2 { margin-top:.2rem; }
.outlook { background:#fff; border:1px solid var(--line); border-radius:8px; padding:.6rem .8rem; margin-bottom:1rem; }
.outlook svg { display:block; max-width:100%; height:auto; font:10px system-ui,sans-serif; }
.outlook .bar { fill:#2f6fde; }
.outlook .bar.overdue { fill:#a61b1b; }
.outlook .n { fill:#1f2933; text-anchor:middle; }
.outlook .tick { fill:#616e7c; text-anchor:middle; }
.outlook .axis { stroke:#cbd2d9; }
.outlook table { margin-top:.5rem; width:auto; }
.outlook td, .outlook th { padding:.2rem .7rem; }
"#;

/// What a bucket is called: "overdue now", or the hour it falls in ("due in 0–1 h").
fn bucket_name(hour: i64) -> String {
    if hour < 0 {
        "overdue now".into()
    } else {
        format!("due in {hour}–{} h", hour + 1)
    }
}

/// The chart and its table; `scope` says whose waits these are.
pub fn outlook(counts: &[DueCount], scope: &str) -> Markup {
    let count_of = |hour: i64| {
        counts
            .iter()
            .find(|c| c.hour == hour)
            .map_or(0, |c| c.waits)
    };
    let buckets: Vec<(i64, i64)> = (-1..HOURS).map(|hour| (hour, count_of(hour))).collect();
    let tallest = buckets.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let width = LEFT * 2.0 + buckets.len() as f64 * (BAR + GAP);
    let height = TOP + CHART_HEIGHT + BOTTOM;
    let total: i64 = buckets.iter().map(|(_, n)| n).sum();
    html! {
        section.outlook #outlook {
            h2 { "Deadline outlook: " (scope) }
            svg xmlns="http://www.w3.org/2000/svg" role="img" width=(width) height=(height)
                viewBox={ "0 0 " (width) " " (height) } aria-labelledby="outlook-title" {
                title #outlook-title {
                    "Open waits falling due per hour for the next " (HOURS) " hours, and overdue now: "
                    (total) " in all"
                }
                line.axis x1=(LEFT) y1=(TOP + CHART_HEIGHT)
                    x2=(width - LEFT) y2=(TOP + CHART_HEIGHT) {}
                @for (at, (hour, n)) in buckets.iter().enumerate() {
                    @let x = LEFT + at as f64 * (BAR + GAP);
                    @let h = CHART_HEIGHT * *n as f64 / tallest as f64;
                    g.bucket data-hour=(hour) data-n=(n) {
                        title { (n) " open waits " (bucket_name(*hour)) }
                        rect class={ "bar" @if *hour < 0 { " overdue" } } x=(x)
                            y=(TOP + CHART_HEIGHT - h) width=(BAR) height=(h) {}
                        @if *n > 0 {
                            text.n x=(x + BAR / 2.0) y=(TOP + CHART_HEIGHT - h - 4.0) { (n) }
                        }
                        @if *hour < 0 {
                            text.tick x=(x + BAR / 2.0) y=(height - 6.0) { "late" }
                        } @else if (*hour + 1) % 6 == 0 {
                            text.tick x=(x + BAR / 2.0) y=(height - 6.0) { "+" (hour + 1) "h" }
                        }
                    }
                }
            }
            @if total == 0 {
                p.muted { "No open wait falls due in the next " (HOURS) " hours, and none is overdue." }
            } @else {
                table #outlook-table {
                    thead { tr { th { "When" } th { "Open waits" } } }
                    tbody {
                        @for (hour, n) in buckets.iter().filter(|(_, n)| *n > 0) {
                            tr class=[(*hour < 0).then_some("overdue")] {
                                td { (bucket_name(*hour)) }
                                td data-hour=(hour) { (n) }
                            }
                        }
                        tr { td { b { "in all" } } td { b { (total) } } }
                    }
                }
            }
        }
    }
}
