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

/// vRO-style: provisions a host, waits for the custom event `provisioned-{hostname}`,
/// returns its outputs. erp runs it, ops watches it.
pub const VRO_PROVISION: &str = r#"
id = "88888888-8888-4888-8888-888888888888"
name = "Provision host"
description = "waits for the provisioning system to signal the host"
outputs = ["status", "ip", "ready_at", "disks", "cpus"]
[fields]
hostname = { type = "string" }
cpus = { type = "number", default = 1 }
requested_at = { type = "datetime" }
disks = { type = "json" }
note = { type = "string" }
ip = { type = "string" }
ready_at = { type = "datetime" }
status = { type = "string", default = "provisioning" }
[permissions]
start = ["erp"]
view = ["erp", "ops"]
[[steps]]
id = "wait-for-host"
kind = "wait_event"
event = "provisioned-{{ fields.hostname }}"
deadline = "1h"
[[steps]]
id = "mark-ready"
kind = "set"
fields = { status = "ready" }
[[steps]]
id = "done"
kind = "end"
"#;

/// vRO user interaction: waits for `answerWorkflowInput` with `approved`.
pub const VRO_APPROVAL: &str = r#"
id = "99999999-9999-4999-8999-999999999999"
name = "Approve change"
outputs = ["approved"]
[fields]
approved = { type = "boolean" }
[permissions]
start = ["erp"]
view = ["erp"]
[[steps]]
id = "ask"
kind = "wait_input"
inputs = ["approved"]
deadline = "1h"
[[steps]]
id = "done"
kind = "end"
"#;

/// Version 1: the ERP finishes `place-order`; the instance then records "v1".
pub const ORDER_V1: &str = r#"
id = "55555555-5555-4555-8555-555555555555"
name = "order-fulfilment"
[fields]
order_id = { type = "string" }
path = { type = "string" }
legacy_note = { type = "string" }
[[steps]]
id = "place-order"
kind = "server_event"
deadline = "1h"
on_timeout = "late"
[[steps]]
id = "record"
kind = "set"
fields = { path = "v1" }
[[steps]]
id = "done"
kind = "end"
[[steps]]
id = "late"
kind = "fail"
message = "late on v1"
"#;

/// Version 2: the step is renamed, a field removed and one retyped-in by name; the
/// instance records "v2", and times out somewhere v1 does not have.
pub const ORDER_V2: &str = r#"
id = "55555555-5555-4555-8555-555555555555"
name = "order-fulfilment"
[fields]
order_id = { type = "string" }
path = { type = "string" }
priority = { type = "number", default = 3 }
[[steps]]
id = "place-order-v2"
kind = "server_event"
deadline = "1h"
on_timeout = "late-v2"
[[steps]]
id = "record"
kind = "set"
fields = { path = "v2" }
[[steps]]
id = "done"
kind = "end"
[[steps]]
id = "wait-ship"
kind = "wait_event"
event = "shipped-{{ fields.order_id }}"
deadline = "1h"
[[steps]]
id = "late-v2"
kind = "set"
fields = { path = "late-v2" }
"#;

/// SharePoint: refuses orders over 1000 on "Orders" while they are being added
/// (CancelWithError); titles the others (typed ChangedItemProperties).
pub const SP_GUARD: &str = r#"
id = "66666666-6666-4666-8666-666666666666"
name = "sp-guard"
[[triggers]]
sharepoint = { web = "https://contoso.sharepoint.com/sites/sales", list = "Orders", events = ["ItemAdding"] }
action = "start"
[[steps]]
id = "check"
kind = "decide"
when = [{ if = "event.after.Amount > 1000", goto = "refuse" }]
else = "allow"
[[steps]]
id = "refuse"
kind = "reply"
status = "CancelWithError"
error_message = "orders over 1000 need approval (this one: {{ event.after.Amount }})"
next = "done"
[[steps]]
id = "allow"
kind = "reply"
status = "Continue"
changed_properties = { Title = "{{ event.after.Title }} (checked by {{ event.user_display_name }})", Priority = 2, Checked = true }
[[steps]]
id = "done"
kind = "end"
"#;
