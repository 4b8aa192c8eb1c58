//! One function per implemented `VSOWebControl` operation: read the body, authenticate,
//! run the engine command, write the answer's Body content.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::wire::{self, nillable, response};
use super::{DIALECT, NAMESPACE, OrchestratorSettings, values};
use crate::engine::access::{Access, Action, Right};
use crate::engine::definition::Workflow;
use crate::engine::{Caller, CustomEvent, InstanceView, StartRequest};
use crate::error::ErrorCode;
use crate::http::soap::{SoapCall, engine_fault};
use crate::networks::refusal;
use crate::soap::{Element, SoapError};
use crate::store::EventScope;

type Answer = Result<String, SoapError>;

fn body<'a>(call: &'a SoapCall<'_>) -> &'a Element<'a> {
    &call.envelope.body
}

/// The account named by the call's own credential elements (vRO style).
async fn account(call: &SoapCall<'_>, user: &str, password: &str) -> Result<Caller, SoapError> {
    let name = body(call).required_text(NAMESPACE, user)?.trim();
    let password = body(call).required_text(NAMESPACE, password)?;
    match call.state.accounts.authenticate(name, password).await {
        Ok(Some(principal)) => Ok(principal.caller(DIALECT, call.source())),
        Ok(None) => Err(SoapError::new(
            ErrorCode::Unauthenticated,
            "invalid user name or password",
        )
        .with_credentials_in_message()),
        Err(error) => Err(engine_fault(error)),
    }
}

/// A token id is an instance id; anything else names no token.
fn token_id(text: &str) -> Result<i64, SoapError> {
    let text = text.trim();
    text.parse().map_err(|_| {
        SoapError::new(
            ErrorCode::UnknownInstance,
            format!("unknown workflow token `{text}`"),
        )
    })
}

/// The definition version the instance runs on; `None` when it is unknown or cannot be
/// read (the token is then described without its workflow's outputs).
async fn workflow_of(call: &SoapCall<'_>, instance: &InstanceView) -> Option<Arc<Workflow>> {
    match call.state.engine.version(&instance.version).await {
        Ok(Some(workflow)) => Some(workflow),
        Ok(None) => call
            .state
            .engine
            .workflows()
            .get(&instance.workflow_id)
            .cloned(),
        Err(error) => {
            tracing::warn!(%error, version = %instance.version, "definition version unreadable");
            None
        }
    }
}

/// An answer holding nothing: `<{operation}Response/>`.
fn empty_answer(operation: &str) -> String {
    let mut out = crate::soap::writer::XmlWriter::new();
    out.empty(&format!("{operation}Response"), &[("xmlns", NAMESPACE)]);
    out.finish()
}

async fn token_answer(call: &SoapCall<'_>, instance: &InstanceView) -> String {
    let operation = call.operation.name;
    let (mut out, wrapper) = response(operation);
    let workflow = workflow_of(call, instance).await;
    wire::write_token(
        &mut out,
        &format!("{operation}Return"),
        instance,
        workflow.as_deref(),
    );
    out.end(&wrapper);
    out.finish()
}

pub fn echo(call: &SoapCall<'_>) -> Answer {
    let message = body(call).optional_text(NAMESPACE, "message");
    let (mut out, wrapper) = response("echo");
    nillable(&mut out, "echoReturn", message);
    out.end(&wrapper);
    Ok(out.finish())
}

pub fn echo_workflow(call: &SoapCall<'_>) -> String {
    let (mut out, wrapper) = response("echoWorkflow");
    match body(call)
        .child(NAMESPACE, "workflowMessage")
        .filter(|workflow| !workflow.is_nil())
    {
        Some(workflow) => wire::WireWorkflow::read(workflow).write(&mut out, "echoWorkflowReturn"),
        None => nillable(&mut out, "echoWorkflowReturn", None),
    }
    out.end(&wrapper);
    out.finish()
}

pub async fn send_custom_event(call: &SoapCall<'_>, settings: &OrchestratorSettings) -> Answer {
    let name = body(call).required_text(NAMESPACE, "eventName")?;
    if name.trim().is_empty() {
        return Err(SoapError::new(
            ErrorCode::MalformedRequest,
            "`eventName` must not be empty",
        ));
    }
    let properties =
        values::parse_properties(body(call).optional_text(NAMESPACE, "serializedProperties"))
            .map_err(|why| SoapError::new(ErrorCode::MalformedRequest, why))?;
    let caller = event_sender(call, settings).await?;
    call.state
        .engine
        .send_custom_event(&CustomEvent {
            name: name.to_string(),
            properties,
            scope: EventScope::External,
            caller,
            message_id: None,
            ttl: None,
        })
        .await
        .map_err(engine_fault)?;
    Ok(empty_answer("sendCustomEvent"))
}

/// HTTP Basic credentials of an account with `send_events`; with anonymous custom
/// events allowed, any sender from `allow_from` may (credentials, when sent, are checked
/// and name it in history; such a sender is not anonymous, so the list does not apply).
async fn event_sender(
    call: &SoapCall<'_>,
    settings: &OrchestratorSettings,
) -> Result<Caller, SoapError> {
    if !settings.anonymous_custom_events {
        return Ok(call.authenticate().await?.caller(DIALECT, call.source()));
    }
    let name = match call.credentials {
        None if !settings.allow_from.admits(call.peer) => {
            return Err(SoapError::new(
                ErrorCode::Forbidden,
                format!(
                    "{}; send HTTP Basic credentials",
                    refusal("anonymous custom events", call.source().as_deref())
                ),
            ));
        }
        None => "anonymous".to_string(),
        Some(_) => call.authenticate().await?.name,
    };
    Ok(Caller {
        name,
        dialect: DIALECT.to_string(),
        source: call.source(),
        message_id: None,
        access: Access::Account {
            admin: false,
            rights: BTreeSet::from([Right::SendEvents]),
        },
    })
}

pub async fn get_workflow_for_id(call: &SoapCall<'_>) -> Answer {
    let caller = account(call, "username", "password").await?;
    let id = body(call).required_text(NAMESPACE, "workflowId")?.trim();
    let (mut out, wrapper) = response("getWorkflowForId");
    // As vRO: an unknown id, or one the account may not see, answers nil.
    match call
        .state
        .engine
        .workflows()
        .get(id)
        .filter(|workflow| caller.access.sees(&caller.name, workflow))
    {
        Some(workflow) => wire::write_workflow(&mut out, "getWorkflowForIdReturn", workflow),
        None => nillable(&mut out, "getWorkflowForIdReturn", None),
    }
    out.end(&wrapper);
    Ok(out.finish())
}

pub async fn get_all_workflows(call: &SoapCall<'_>) -> Answer {
    let caller = account(call, "username", "password").await?;
    Ok(workflow_list(call, &caller, |_| true))
}

pub async fn get_workflows_with_name(call: &SoapCall<'_>) -> Answer {
    let caller = account(call, "username", "password").await?;
    let pattern = body(call).required_text(NAMESPACE, "workflowName")?;
    Ok(workflow_list(call, &caller, |workflow| {
        name_matches(pattern, &workflow.name)
    }))
}

fn workflow_list(
    call: &SoapCall<'_>,
    caller: &Caller,
    wanted: impl Fn(&Workflow) -> bool,
) -> String {
    let operation = call.operation.name;
    let (mut out, wrapper) = response(operation);
    let element = format!("{operation}Return");
    for workflow in call.state.engine.workflows().iter() {
        if caller.access.sees(&caller.name, workflow) && wanted(workflow) {
            wire::write_workflow(&mut out, &element, workflow);
        }
    }
    out.end(&wrapper);
    out.finish()
}

/// vRO's name search: a full name, a part of one, or `*` wildcards (`*Clone`, `Clone*`),
/// ignoring case. The parts between wildcards must appear in order.
fn name_matches(pattern: &str, name: &str) -> bool {
    let name = name.to_lowercase();
    let mut rest = name.as_str();
    for part in pattern.trim().to_lowercase().split('*') {
        if part.is_empty() {
            continue;
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

pub async fn has_rights(call: &SoapCall<'_>) -> Answer {
    let caller = account(call, "username", "password").await?;
    let task = body(call).required_text(NAMESPACE, "taskId")?.trim();
    let right = body(call).required_text(NAMESPACE, "right")?.trim();
    let right = right
        .parse::<u32>()
        .ok()
        .and_then(char::from_u32)
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| "rxica".contains(*c))
        .ok_or_else(|| {
            SoapError::new(
                ErrorCode::MalformedRequest,
                format!("`right` must be the character code of r, x, i, c or a (114 for r), not `{right}`"),
            )
        })?;
    // As vRO: a workflow the account may not see is "unable to find".
    let workflows = call.state.engine.workflows();
    let workflow = workflows
        .get(task)
        .filter(|workflow| caller.access.sees(&caller.name, workflow))
        .ok_or_else(|| {
            SoapError::new(
                ErrorCode::UnknownWorkflow,
                format!("unable to find workflow `{task}`"),
            )
        })?;
    let granted = match right {
        'r' => caller.access.permits(&caller.name, workflow, Action::View),
        'x' => caller.access.permits(&caller.name, workflow, Action::Start),
        // Inspect, edit and administer the definition: files on disk, admins only.
        _ => caller.access.has_every_permission(),
    };
    let (mut out, wrapper) = response("hasRights");
    out.element("hasRightsReturn", if granted { "true" } else { "false" });
    out.end(&wrapper);
    Ok(out.finish())
}

pub async fn execute_workflow(call: &SoapCall<'_>) -> Answer {
    let caller = account(call, "username", "password").await?;
    let workflow = body(call).required_text(NAMESPACE, "workflowId")?.trim();
    let fields = wire::read_attributes(body(call), "workflowInputs")?;
    start(call, workflow, fields, caller).await
}

pub async fn simple_execute_workflow(call: &SoapCall<'_>) -> Answer {
    let caller = account(call, "in1", "in2").await?;
    let workflow = body(call).required_text(NAMESPACE, "in0")?.trim();
    let fields =
        wire::read_simple_inputs(body(call).optional_text(NAMESPACE, "in3").unwrap_or(""))?;
    start(call, workflow, fields, caller).await
}

async fn start(
    call: &SoapCall<'_>,
    workflow: &str,
    fields: Map<String, Value>,
    caller: Caller,
) -> Answer {
    let outcome = call
        .state
        .engine
        .start(StartRequest {
            workflow: workflow.to_string(),
            fields,
            folio: None,
            event: json!({}),
            caller,
            idempotency_key: None,
        })
        .await
        .map_err(engine_fault)?;
    Ok(token_answer(call, &outcome.instance).await)
}

/// The instance behind a `workflowTokenId`, if the account may view it.
async fn token(call: &SoapCall<'_>, caller: &Caller) -> Result<InstanceView, SoapError> {
    let id = token_id(body(call).required_text(NAMESPACE, "workflowTokenId")?)?;
    call.state
        .engine
        .get(id, caller)
        .await
        .map_err(engine_fault)
}

pub async fn get_workflow_token_for_id(call: &SoapCall<'_>) -> Answer {
    let caller = account(call, "username", "password").await?;
    let instance = token(call, &caller).await?;
    Ok(token_answer(call, &instance).await)
}

pub async fn get_workflow_token_result(call: &SoapCall<'_>) -> Answer {
    let caller = account(call, "username", "password").await?;
    let instance = token(call, &caller).await?;
    let (mut out, wrapper) = response("getWorkflowTokenResult");
    // An instance of a workflow no longer loaded has no declared outputs to return.
    if let Some(workflow) = workflow_of(call, &instance).await {
        wire::write_outputs(
            &mut out,
            "getWorkflowTokenResultReturn",
            &instance.fields,
            &workflow,
        );
    }
    out.end(&wrapper);
    Ok(out.finish())
}

pub async fn get_workflow_token_status(call: &SoapCall<'_>) -> Answer {
    let caller = account(call, "username", "password").await?;
    let mut states = Vec::new();
    for id in body(call).children_named(NAMESPACE, "workflowTokenIds") {
        let id = token_id(&id.text)?;
        let instance = call
            .state
            .engine
            .get(id, &caller)
            .await
            .map_err(engine_fault)?;
        states.push(wire::global_state(&instance));
    }
    let (mut out, wrapper) = response("getWorkflowTokenStatus");
    for state in states {
        out.element("getWorkflowTokenStatusReturn", state);
    }
    out.end(&wrapper);
    Ok(out.finish())
}

pub async fn cancel_workflow(call: &SoapCall<'_>) -> Answer {
    let caller = account(call, "username", "password").await?;
    let id = token_id(body(call).required_text(NAMESPACE, "workflowTokenId")?)?;
    call.state
        .engine
        .cancel(id, &caller)
        .await
        .map_err(engine_fault)?;
    Ok(empty_answer("cancelWorkflow"))
}

pub async fn answer_workflow_input(call: &SoapCall<'_>) -> Answer {
    let caller = account(call, "username", "password").await?;
    let id = token_id(body(call).required_text(NAMESPACE, "workflowTokenId")?)?;
    let inputs = wire::read_attributes(body(call), "answerInputs")?;
    call.state
        .engine
        .answer_input(id, &inputs, &caller)
        .await
        .map_err(engine_fault)?;
    Ok(empty_answer("answerWorkflowInput"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_like_vro() {
        assert!(name_matches("*", "order-fulfilment"));
        assert!(name_matches("", "order-fulfilment"));
        assert!(name_matches("Order", "order-fulfilment"));
        assert!(name_matches("*fulfil", "order-fulfilment"));
        assert!(name_matches("order*ment", "order-fulfilment"));
        assert!(!name_matches("ment*order", "order-fulfilment"));
        assert!(!name_matches("shipping", "order-fulfilment"));
    }

    #[test]
    fn token_ids_are_instance_ids() {
        assert_eq!(token_id(" 42 ").unwrap(), 42);
        let error = token_id("ff8080813c").unwrap_err();
        assert_eq!(error.code, ErrorCode::UnknownInstance);
        assert_eq!(error.message, "unknown workflow token `ff8080813c`");
    }
}
