//! Small workflows that the suites drive.

pub const ITEM_THEN_EVENT: &str = r#"
id = "11111111-1111-4111-8111-111111111111"
name = "item-then-event"
[fields]
order_id = { type = "string" }
amount = { type = "number", default = 0 }
approved = { type = "boolean" }
carrier = { type = "string" }
event_properties = { type = "json" }
[[steps]]
id = "approve"
kind = "server_event"
deadline = "1h"
on_error = "rejected"
[[steps]]
id = "ship"
kind = "wait_event"
event = "shipped-{{ fields.order_id }}"
deadline = "2h"
[[steps]]
id = "done"
kind = "end"
[[steps]]
id = "rejected"
kind = "fail"
message = "rejected: {{ fields.order_id }}"
"#;

pub const SINGLE_ITEM: &str = r#"
id = "22222222-2222-4222-8222-222222222222"
name = "single-item"
[fields]
note = { type = "string" }
[[steps]]
id = "item"
kind = "server_event"
deadline = "1m"
[[steps]]
id = "done"
kind = "end"
"#;

pub const EVENT_WAITER: &str = r#"
id = "33333333-3333-4333-8333-333333333333"
name = "event-waiter"
[fields]
key = { type = "string" }
carrier = { type = "string" }
[[steps]]
id = "wait"
kind = "wait_event"
event = "go-{{ fields.key }}"
deadline = "1h"
on_timeout = "timed-out"
[[steps]]
id = "done"
kind = "end"
[[steps]]
id = "timed-out"
kind = "fail"
message = "timed out waiting for go-{{ fields.key }}"
"#;

pub const INPUT_WAITER: &str = r#"
id = "44444444-4444-4444-8444-444444444444"
name = "input-waiter"
[fields]
approved = { type = "boolean" }
comment = { type = "string" }
[[steps]]
id = "ask"
kind = "wait_input"
inputs = ["approved"]
deadline = "1h"
[[steps]]
id = "done"
kind = "end"
"#;

pub const ALL: &[&str] = &[ITEM_THEN_EVENT, SINGLE_ITEM, EVENT_WAITER, INPUT_WAITER];

/// A workflow with `[permissions]`: erp starts and finishes, ops (and erp) view.
pub const PERMITTED: &str = r#"
id = "55555555-5555-4555-8555-555555555555"
name = "permitted"
[fields]
order_id = { type = "string" }
approved = { type = "boolean" }
amount = { type = "number", default = 0 }
[permissions]
start = ["erp"]
server_event = ["erp"]
view = ["ops", "erp"]
[[steps]]
id = "approve"
kind = "server_event"
deadline = "1h"
on_error = "rejected"
[[steps]]
id = "ship"
kind = "wait_event"
event = "shipped-{{ fields.order_id }}"
deadline = "2h"
[[steps]]
id = "done"
kind = "end"
[[steps]]
id = "rejected"
kind = "fail"
message = "rejected: {{ fields.order_id }}"
"#;
