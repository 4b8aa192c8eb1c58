//! The admin pages as server-rendered HTML (maud): no JavaScript, one inline stylesheet,
//! times shown relative to now with the exact time on hover, states as coloured badges.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{map, outlook, views};
use crate::engine::definition::Workflow;
use crate::engine::inbound::InboundView;
use crate::engine::{InstanceView, WaitView};

const STYLE: &str = r#"
:root { --fg:#1f2933; --muted:#616e7c; --line:#e4e7eb; --bg:#f5f7fa; --accent:#2f6fde; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
header { background:#1f2933; color:#fff; display:flex; align-items:center; gap:2rem; padding:.7rem 1.5rem; }
header .brand { font-weight:700; letter-spacing:.02em; }
header nav a { color:#cbd2d9; text-decoration:none; margin-right:1.2rem; }
header nav a.active, header nav a:hover { color:#fff; border-bottom:2px solid #7cc4fa; }
header .who { margin-left:auto; color:#cbd2d9; font-size:.9rem; display:flex; gap:.8rem; align-items:center; }
header .who button { background:none; border:1px solid #52606d; color:#cbd2d9; border-radius:4px; padding:.15rem .6rem; cursor:pointer; }
main { max-width:1200px; margin:1.5rem auto; padding:0 1.5rem; }
h1 { font-size:1.4rem; margin:.2rem 0 1rem; }
h2 { font-size:1.1rem; margin:1.6rem 0 .6rem; }
.cards { display:flex; gap:1rem; margin-bottom:1.2rem; flex-wrap:wrap; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:.7rem 1rem; min-width:9rem; }
.card b { display:block; font-size:1.4rem; }
.card span { color:var(--muted); font-size:.85rem; }
form.filters { display:flex; gap:.6rem; flex-wrap:wrap; align-items:end; margin-bottom:1rem; }
form.filters label { display:flex; flex-direction:column; font-size:.8rem; color:var(--muted); }
input, select { font:inherit; padding:.3rem .5rem; border:1px solid #cbd2d9; border-radius:4px; background:#fff; }
button { font:inherit; }
.button { background:var(--accent); color:#fff; border:0; border-radius:4px; padding:.35rem .9rem; cursor:pointer; }
table { width:100%; border-collapse:collapse; background:#fff; border:1px solid var(--line); border-radius:8px; overflow:hidden; }
th, td { text-align:left; padding:.5rem .7rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f0f4f8; font-size:.8rem; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
tr:nth-child(even) td { background:#fafbfc; }
td.mono, code { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:.85rem; }
.badge { display:inline-block; padding:.05rem .55rem; border-radius:999px; font-size:.8rem; font-weight:600; }
.s-open, .s-queued { background:#e3f0ff; color:#1c4f9c; }
.s-waiting, .s-running { background:#fff3c4; color:#8d6708; }
.s-completed, .s-done, .s-finished { background:#e3f9e5; color:#207227; }
.s-failed, .s-dead, .s-expired { background:#ffe3e3; color:#a61b1b; }
.s-cancelled { background:#e4e7eb; color:#3e4c59; }
.overdue { color:#a61b1b; font-weight:600; }
.muted { color:var(--muted); }
.empty { background:#fff; border:1px dashed #cbd2d9; border-radius:8px; padding:1.5rem; text-align:center; color:var(--muted); }
.flash { background:#e3f9e5; border:1px solid #a3d9a5; color:#207227; padding:.6rem 1rem; border-radius:6px; margin-bottom:1rem; }
.error { background:#ffe3e3; border:1px solid #f29b9b; color:#a61b1b; padding:.6rem 1rem; border-radius:6px; margin-bottom:1rem; }
.login { max-width:22rem; margin:10vh auto; background:#fff; border:1px solid var(--line); border-radius:10px; padding:1.6rem; }
.login label { display:block; margin-bottom:.8rem; font-size:.9rem; }
.login input { width:100%; margin-top:.2rem; }
pre { background:#fff; border:1px solid var(--line); border-radius:6px; padding:.6rem; overflow:auto; font-size:.85rem; }
"#;

/// What every page shows in its header.
pub struct Frame<'a> {
    pub user: &'a str,
    pub csrf: &'a str,
    pub active: &'a str,
    pub now_ms: i64,
}

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Holdpoint" }
                style {
                    (PreEscaped(STYLE)) (PreEscaped(map::STYLE)) (PreEscaped(outlook::STYLE))
                    (PreEscaped(views::STYLE))
                }
            }
            body { (body) }
        }
    }
}

pub fn layout(frame: &Frame<'_>, title: &str, content: Markup) -> Markup {
    let link = |href: &str, label: &str, key: &str| {
        html! { a href=(href) class=[(frame.active == key).then_some("active")] { (label) } }
    };
    page(
        title,
        html! {
            header {
                span.brand { "Holdpoint" }
                nav {
                    (link("/admin/waits", "Waits", "waits"))
                    (link("/admin/instances", "Instances", "instances"))
                    (link("/admin/inbound", "Inbound queue", "inbound"))
                    (link("/admin/workflows", "Workflows", "workflows"))
                }
                div.who {
                    span { "signed in as " b { (frame.user) } }
                    form method="post" action="/admin/logout" {
                        input type="hidden" name="csrf" value=(frame.csrf);
                        button type="submit" { "Sign out" }
                    }
                }
            }
            main { h1 { (title) } (content) }
        },
    )
}

pub fn login(error: Option<&str>) -> Markup {
    page(
        "Sign in",
        html! {
            form.login method="post" action="/admin/login" {
                h1 { "Holdpoint admin" }
                @if let Some(error) = error { p.error { (error) } }
                label { "Account" input #user type="text" name="user" autocomplete="username" required; }
                label { "Password" input #password type="password" name="password" autocomplete="current-password" required; }
                button.button #signin type="submit" { "Sign in" }
            }
        },
    )
}

pub fn message(title: &str, text: &str) -> Markup {
    page(
        title,
        html! { main { h1 { (title) } p.error { (text) } p { a href="/admin/login" { "Sign in" } } } },
    )
}

/// "in 3 h", "5 min ago", with the exact time on hover.
pub fn when(rfc3339: &str, now_ms: i64) -> Markup {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|at| at.timestamp_millis())
        .unwrap_or(now_ms);
    html! { time datetime=(rfc3339) title=(rfc3339) { (relative(at, now_ms)) } }
}

pub fn relative(at_ms: i64, now_ms: i64) -> String {
    let delta = (at_ms - now_ms) / 1000;
    let span = delta.unsigned_abs();
    let amount = match span {
        0..=44 => return "just now".into(),
        45..=5_399 => format!("{} min", span.div_ceil(60).max(1)),
        5_400..=129_599 => format!("{} h", (span + 1_800) / 3_600),
        _ => format!("{} d", (span + 43_200) / 86_400),
    };
    if delta > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

pub(super) fn badge(state: &str) -> Markup {
    html! { span class={ "badge s-" (state) } { (state) } }
}

/// A text field, or a select whose "any" choice submits `""`.
fn filter_field(label: &str, name: &str, value: &str, options: Option<&[&str]>) -> Markup {
    select_field(label, name, value, options, "")
}

fn select_field(
    label: &str,
    name: &str,
    value: &str,
    options: Option<&[&str]>,
    any: &str,
) -> Markup {
    html! {
        label { (label)
            @match options {
                Some(options) => select name=(name) {
                    option value=(any) selected[value == any] { "any" }
                    @for option in options {
                        option value=(option) selected[*option == value] { (option) }
                    }
                },
                None => input type="text" name=(name) value=(value);,
            }
        }
    }
}

pub struct WaitFilters<'a> {
    pub workflow: &'a str,
    pub step: &'a str,
    pub kind: &'a str,
    pub event: &'a str,
    pub state: &'a str,
}

/// What is waiting, under the deadline outlook of the same workflow (or of all).
pub fn waits(
    frame: &Frame<'_>,
    waits: &[WaitView],
    filters: &WaitFilters<'_>,
    outlook: Markup,
) -> Markup {
    let content = html! {
        (outlook)
        form.filters method="get" {
            (filter_field("Workflow", "workflow", filters.workflow, None))
            (filter_field("Step", "step", filters.step, None))
            (filter_field("Kind", "kind", filters.kind, Some(&["server_item", "custom_event", "input", "call"])))
            (filter_field("Event name", "event", filters.event, None))
            // Open waits unless asked otherwise; "any" is every state.
            (select_field("State", "state", if filters.state.is_empty() { "open" } else { filters.state },
                Some(&["open", "finished", "failed", "expired", "cancelled"]), "all"))
            button.button type="submit" { "Filter" }
        }
        @if waits.is_empty() {
            p.empty { "Nothing is waiting that matches." }
        } @else {
            table #waits {
                thead { tr { th { "Instance" } th { "Step" } th { "Waits for" } th { "State" } th { "Deadline" } th { "Since" } } }
                tbody {
                    @for wait in waits {
                        @let overdue = wait.state.as_str() == "open" && wait.deadline_ms < frame.now_ms;
                        tr {
                            td { a href={ "/admin/instances/" (wait.instance_id) } { "#" (wait.instance_id) } }
                            td.mono { (wait.step) }
                            td {
                                (wait.kind.as_str())
                                @if let Some(serial) = &wait.serial { br; code { (serial) } }
                                @if let Some(event) = &wait.event_name { br; code { (event) } }
                            }
                            td { (badge(wait.state.as_str())) }
                            td class=[overdue.then_some("overdue")] { (when(&wait.deadline, frame.now_ms)) }
                            td { (when(&wait.created_at, frame.now_ms)) }
                        }
                    }
                }
            }
        }
    };
    layout(frame, "What is waiting", content)
}

pub fn instances(
    frame: &Frame<'_>,
    list: &[InstanceView],
    [workflow, step, status]: [&str; 3],
    names: &dyn Fn(&str) -> String,
) -> Markup {
    let content = html! {
        form.filters method="get" {
            (filter_field("Workflow", "workflow", workflow, None))
            (filter_field("Step", "step", step, None))
            (filter_field("Status", "status", status, Some(&["running", "waiting", "completed", "failed", "cancelled"])))
            button.button type="submit" { "Filter" }
        }
        @if list.is_empty() {
            p.empty { "No instances match." }
        } @else {
            table #instances {
                thead { tr { th { "Id" } th { "Workflow" } th { "Folio" } th { "Status" } th { "Step" } th { "Started" } th { "Updated" } } }
                tbody {
                    @for instance in list {
                        tr {
                            td { a href={ "/admin/instances/" (instance.id) } { "#" (instance.id) } }
                            td { (names(&instance.workflow_id)) }
                            td { (instance.folio) }
                            td { (badge(instance.status.as_str())) }
                            td.mono { (instance.current_step.as_deref().unwrap_or("—")) }
                            td { (when(&instance.created_at, frame.now_ms)) }
                            td { (when(&instance.updated_at, frame.now_ms)) }
                        }
                    }
                }
            }
        }
    };
    layout(frame, "Instances", content)
}

pub fn inbound(
    frame: &Frame<'_>,
    rows: &[InboundView],
    state: &str,
    flash: Option<&str>,
    names: &dyn Fn(&str) -> String,
) -> Markup {
    let content = html! {
        @if let Some(flash) = flash { p.flash #flash { (flash) } }
        form.filters method="get" {
            (filter_field("State", "state", state, Some(&["queued", "running", "done", "dead"])))
            button.button type="submit" { "Filter" }
        }
        @if rows.is_empty() {
            p.empty { "The queue holds nothing that matches." }
        } @else {
            table #inbound {
                thead { tr { th { "Id" } th { "Workflow" } th { "Kind" } th { "State" } th { "Attempts" } th { "Last error" } th { "Received" } th { "" } } }
                tbody { @for row in rows { tr {
                    td { (row.id) }
                    td { (names(&row.workflow_id)) }
                    td { (row.kind) }
                    td { (badge(row.state.as_str())) }
                    td { (row.attempts) }
                    td { (row.last_error.as_deref().unwrap_or("")) }
                    td { (when(&row.received_at, frame.now_ms)) }
                    td {
                        @if row.state.as_str() == "dead" {
                            form.retry method="post" action={ "/admin/inbound/" (row.id) "/retry" } {
                                input type="hidden" name="csrf" value=(frame.csrf);
                                button.button type="submit" { "Retry" }
                            }
                        } @else if let Some(instance) = row.instance_id {
                            a href={ "/admin/instances/" (instance) } { "#" (instance) }
                        }
                    }
                } } }
            }
        }
    };
    layout(frame, "Inbound queue", content)
}

/// The workflows; those with SharePoint triggers name the receiver URL(s) to register,
/// those with list webhook triggers the notificationUrl(s) to subscribe.
pub fn workflows<'a>(
    frame: &Frame<'_>,
    workflows: impl Iterator<Item = &'a Workflow>,
    receiver_urls: &[String],
    webhook_urls: &[String],
) -> Markup {
    let content = html! {
        table #workflows {
            thead { tr { th { "Name" } th { "Id" } th { "Fields" } th { "Steps" } th { "Start" } th { "Server events" } th { "View" } } }
            tbody { @for workflow in workflows { tr {
                td {
                    b { a href={ "/admin/workflows/" (workflow.id) } { (workflow.name) } }
                    @if !workflow.description.is_empty() {
                        br; span.muted { (workflow.description) }
                    }
                    @if workflow.triggers.iter().any(|t| t.contains_key("sharepoint")) {
                        @for url in receiver_urls { br; span.muted { "SharePoint: register " } code.receiver { (url) } }
                    }
                    @if workflow.triggers.iter().any(|t| t.contains_key("sharepoint_webhook")) {
                        @for url in webhook_urls { br; span.muted { "SharePoint list webhook: subscribe " } code.receiver { (url) } }
                    }
                }
                td.mono { (workflow.id) }
                td { (workflow.fields.keys().cloned().collect::<Vec<_>>().join(", ")) }
                td { (workflow.steps.len()) }
                td { (who(&workflow.permissions.start)) }
                td { (who(&workflow.permissions.server_event)) }
                td { (who(&workflow.permissions.view)) }
            } } }
        }
    };
    layout(frame, "Workflows", content)
}

fn who(accounts: &[String]) -> String {
    if accounts.is_empty() {
        "admins".into()
    } else {
        accounts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn relative_times_read_naturally() {
        let now = 1_000_000_000;
        assert_eq!(relative(now + 10_000, now), "just now");
        assert_eq!(relative(now + 5 * 60_000, now), "in 5 min");
        assert_eq!(relative(now - 5 * 60_000, now), "5 min ago");
        assert_eq!(relative(now + 3 * 3_600_000, now), "in 3 h");
        assert_eq!(relative(now - 2 * 86_400_000, now), "2 d ago");
    }
}
