//! `IRemoteEventService` over SOAP 1.1 (WCF basicHttpBinding) at the configured paths.
//!
//! `ProcessEvent` (synchronous "-ing" events, app events) runs every matching trigger
//! inline within `[sharepoint] sync_timeout` and answers `ProcessEventResult` with its
//! children in the order WCF's serializer expects: `ChangedItemProperties`,
//! `ErrorMessage`, `RedirectUrl`, `Status`. The first `reply` step of a started instance
//! decides the answer; without one, or without a match, the answer is `Continue`. A run
//! that fails or is late answers `Continue`, or `CancelWithError` when its trigger says
//! `on_error = "cancel"`.
//!
//! `ProcessOneWayEvent` ("-ed" events) stores one inbound queue row per matching trigger
//! and answers an empty 202 (or 200) once they are committed; runners deliver them with
//! retries and dead letters ([`crate::engine::inbound`]). No match: still success.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::context_token::{self, ContextTokenSettings};
use super::properties::{self, RemoteEvent};
use super::triggers::{SharePointTrigger, TriggerAction, TriggerCache};
use super::{ARRAYS_NAMESPACE, NAMESPACE};
use crate::engine::inbound::{InboundAction, InboundPayload, InboundRequest};
use crate::engine::template::Templates;
use crate::engine::{Caller, CustomEvent, Engine, StartRequest};
use crate::error::ErrorCode;
use crate::http::soap::{SoapCall, SoapService, engine_fault};
use crate::networks::NetworkList;
use crate::soap::element::XSI_NS;
use crate::soap::service::{Operation, ServiceDescriptor};
use crate::soap::writer::XmlWriter;
use crate::soap::{SoapError, SoapVersion};
use crate::store::{EventScope, InstanceStatus};

/// The dialect recorded in history.
pub const DIALECT: &str = "sharepoint";
pub const DEFAULT_PATH: &str = "/sharepoint/RemoteEventService.svc";

const OPERATIONS: &[Operation] = &[
    Operation {
        name: "ProcessEvent",
        one_way: false,
    },
    Operation {
        name: "ProcessOneWayEvent",
        one_way: true,
    },
];

const WSDL: &str = include_str!("../../../wsdl/remote-event-service.wsdl");

/// How SharePoint callers are authenticated.
#[derive(Debug, Clone)]
pub enum SharePointAuth {
    /// What SharePoint Online sends without ACS: no credentials at all.
    Anonymous,
    /// HTTP Basic (an on-premises farm behind a proxy that adds credentials).
    Basic,
    /// The ContextToken JWT of each event (provider-hosted add-ins with a client secret).
    ContextToken(ContextTokenSettings),
}

#[derive(Debug, Clone)]
pub struct SharePointSettings {
    pub paths: Vec<String>,
    /// Under SharePoint's own 30 s.
    pub sync_timeout: Duration,
    pub auth: SharePointAuth,
    /// With `auth = "anonymous"`: where events may come from (empty: anywhere).
    pub allow_from: NetworkList,
}

impl Default for SharePointSettings {
    fn default() -> Self {
        Self {
            paths: vec![DEFAULT_PATH.to_string()],
            sync_timeout: Duration::from_secs(20),
            auth: SharePointAuth::Anonymous,
            allow_from: NetworkList::default(),
        }
    }
}

pub struct RemoteEventService {
    descriptor: ServiceDescriptor,
    settings: SharePointSettings,
    triggers: TriggerCache,
    templates: Templates,
}

impl RemoteEventService {
    /// Triggers come from the engine's current definitions, read at each event.
    pub fn new(settings: SharePointSettings) -> Self {
        Self {
            descriptor: ServiceDescriptor {
                name: "IRemoteEventService",
                dialect: DIALECT,
                paths: settings.paths.clone(),
                namespace: NAMESPACE,
                operations: OPERATIONS,
                versions: &[SoapVersion::V11],
                wsdl: WSDL.to_string(),
            },
            settings,
            triggers: TriggerCache::default(),
            templates: Templates::new(),
        }
    }
}

/// What `ProcessEvent` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct EventResult {
    pub status: String,
    pub error_message: Option<String>,
    pub changed_properties: Map<String, Value>,
}

impl EventResult {
    fn proceed() -> Self {
        Self {
            status: "Continue".into(),
            error_message: None,
            changed_properties: Map::new(),
        }
    }

    fn cancel(message: String) -> Self {
        Self {
            status: "CancelWithError".into(),
            error_message: Some(message),
            changed_properties: Map::new(),
        }
    }

    /// From what a `reply` step stored on the instance.
    fn from_reply(reply: &Value) -> Self {
        let changed = reply["changed_properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        Self {
            status: reply["status"].as_str().unwrap_or("Continue").to_string(),
            error_message: reply["error_message"].as_str().map(str::to_string),
            changed_properties: changed,
        }
    }
}

#[async_trait]
impl SoapService for RemoteEventService {
    fn descriptor(&self) -> &ServiceDescriptor {
        &self.descriptor
    }

    /// The context token's audience names the host the event was sent to.
    fn needs_host(&self) -> bool {
        matches!(self.settings.auth, SharePointAuth::ContextToken(_))
    }

    async fn call(&self, call: SoapCall<'_>) -> Result<Option<String>, SoapError> {
        let event = properties::parse(&call.envelope.body)?;
        let caller = match &self.settings.auth {
            SharePointAuth::Anonymous => {
                if !self.settings.allow_from.admits(call.peer) {
                    return Err(SoapError::new(
                        ErrorCode::Forbidden,
                        format!(
                            "anonymous SharePoint events are not accepted from {}",
                            call.source().as_deref().unwrap_or("an unknown address")
                        ),
                    ));
                }
                let mut caller = Caller::new("sharepoint", DIALECT);
                caller.source = call.source();
                caller
            }
            SharePointAuth::Basic => call.authenticate().await?.caller(DIALECT, call.source()),
            SharePointAuth::ContextToken(settings) => {
                let token = event.context_token.as_deref().ok_or_else(|| {
                    SoapError::new(
                        ErrorCode::Unauthenticated,
                        "the event carries no ContextToken",
                    )
                })?;
                let now = call.state.engine.now_ms() / 1000;
                context_token::validate(token, settings, call.host.as_deref().unwrap_or(""), now)
                    .map_err(|why| SoapError::new(ErrorCode::Unauthenticated, why))?;
                let mut caller = Caller::new("sharepoint", DIALECT);
                caller.source = call.source();
                caller
            }
        };
        if !event.known_type {
            tracing::warn!(event_type = %event.event_type, "unknown SharePoint event type, kept as text");
        }
        match call.operation.name {
            "ProcessEvent" => {
                let result = self.process(&call.state.engine, &event, &caller).await;
                Ok(Some(result_envelope_body(&result)))
            }
            "ProcessOneWayEvent" => {
                self.enqueue(&call.state.engine, &event, &caller).await?;
                Ok(None)
            }
            other => Err(SoapError::new(
                ErrorCode::UnknownOperation,
                format!("`{other}` is not an operation of IRemoteEventService"),
            )),
        }
    }
}

impl RemoteEventService {
    /// Queues the event once per matching trigger, in one transaction; returns after the
    /// commit, so the empty answer SharePoint gets means the events are stored.
    async fn enqueue(
        &self,
        engine: &Arc<Engine>,
        event: &RemoteEvent,
        caller: &Caller,
    ) -> Result<(), SoapError> {
        let triggers = self.triggers.of(engine.workflows());
        let requests: Vec<InboundRequest> = triggers
            .iter()
            .filter(|t| t.matches(&event.event_type, &event.json))
            .map(|trigger| InboundRequest {
                workflow: Arc::clone(&trigger.workflow),
                kind: DIALECT.to_string(),
                payload: InboundPayload {
                    action: match &trigger.action {
                        TriggerAction::Start => InboundAction::Start,
                        TriggerAction::Signal { event } => InboundAction::Signal {
                            name: event.clone(),
                        },
                    },
                    event: event.json.clone(),
                    sender: caller.name.clone(),
                },
                idempotency_key: None,
            })
            .collect();
        if requests.is_empty() {
            tracing::info!(event_type = %event.event_type, web = %event.json["web_url"], list = %event.json["list_title"], "no trigger matches the SharePoint event");
            crate::metrics::sharepoint_unmatched();
            return Ok(());
        }
        let ids = engine
            .enqueue_remote_events(&requests)
            .await
            .map_err(engine_fault)?;
        tracing::info!(?ids, event_type = %event.event_type, "SharePoint event queued");
        Ok(())
    }

    /// Runs the matching triggers within the sync timeout and decides the answer.
    async fn process(
        &self,
        engine: &Arc<Engine>,
        event: &RemoteEvent,
        caller: &Caller,
    ) -> EventResult {
        let triggers = self.triggers.of(engine.workflows());
        let matching: Vec<&SharePointTrigger> = triggers
            .iter()
            .filter(|t| t.matches(&event.event_type, &event.json))
            .collect();
        if matching.is_empty() {
            tracing::info!(event_type = %event.event_type, web = %event.json["web_url"], list = %event.json["list_title"], "no trigger matches the SharePoint event");
            crate::metrics::sharepoint_unmatched();
            return EventResult::proceed();
        }
        let cancel_on_error = matching.iter().any(|t| t.cancel_on_error);
        let run = async {
            let mut answer: Option<EventResult> = None;
            for trigger in &matching {
                match self.fire(engine, trigger, event, caller).await {
                    Ok(Some(reply)) if answer.is_none() => answer = Some(reply),
                    Ok(_) => {}
                    Err(message) if trigger.cancel_on_error => return EventResult::cancel(message),
                    Err(message) => {
                        tracing::warn!(workflow = %trigger.workflow.name, %message, "SharePoint trigger failed; answering Continue");
                    }
                }
            }
            answer.unwrap_or_else(EventResult::proceed)
        };
        match tokio::time::timeout(self.settings.sync_timeout, run).await {
            Ok(result) => result,
            Err(_) if cancel_on_error => EventResult::cancel(format!(
                "the workflow did not answer within {} s",
                self.settings.sync_timeout.as_secs()
            )),
            Err(_) => {
                tracing::warn!(timeout = ?self.settings.sync_timeout, "SharePoint event timed out; answering Continue");
                EventResult::proceed()
            }
        }
    }

    /// One trigger: `Ok(Some(result))` when a started instance set a reply.
    async fn fire(
        &self,
        engine: &Arc<Engine>,
        trigger: &SharePointTrigger,
        event: &RemoteEvent,
        caller: &Caller,
    ) -> Result<Option<EventResult>, String> {
        match &trigger.action {
            TriggerAction::Start => {
                let outcome = engine
                    .start(StartRequest {
                        workflow: trigger.workflow.id.clone(),
                        fields: Map::new(),
                        folio: None,
                        event: event.json.clone(),
                        caller: caller.clone(),
                        idempotency_key: None,
                    })
                    .await
                    .map_err(|error| engine_fault(error).message)?;
                let instance = outcome.instance;
                if instance.status == InstanceStatus::Failed {
                    return Err(instance
                        .error
                        .unwrap_or_else(|| "the workflow failed".into()));
                }
                Ok(instance.reply.as_ref().map(EventResult::from_reply))
            }
            TriggerAction::Signal { event: template } => {
                let name = self
                    .templates
                    .render(template, &json!({"event": event.json}))
                    .map_err(|why| format!("the signal name template failed: {why}"))?;
                let properties = event.json.as_object().cloned().unwrap_or_default();
                engine
                    .send_custom_event(&CustomEvent {
                        name,
                        properties,
                        scope: EventScope::Internal,
                        caller: caller.clone(),
                        message_id: event.json["correlation_id"]
                            .as_str()
                            .map(|id| format!("sharepoint:{id}:{}", trigger.workflow.id)),
                        ttl: None,
                    })
                    .await
                    .map_err(|error| engine_fault(error).message)?;
                Ok(None)
            }
        }
    }
}

/// `ProcessEventResponse/ProcessEventResult`, children in WCF's order.
pub fn result_envelope_body(result: &EventResult) -> String {
    let mut out = XmlWriter::new();
    out.start("ProcessEventResponse", &[("xmlns", NAMESPACE)])
        .start("ProcessEventResult", &[("xmlns:i", XSI_NS)]);
    if result.changed_properties.is_empty() {
        out.empty("ChangedItemProperties", &[("xmlns:a", ARRAYS_NAMESPACE)]);
    } else {
        out.start("ChangedItemProperties", &[("xmlns:a", ARRAYS_NAMESPACE)]);
        for (key, value) in &result.changed_properties {
            let (xsd_type, text) = match value {
                Value::Bool(flag) => ("b:boolean", flag.to_string()),
                Value::Number(number) if number.is_i64() => ("b:int", number.to_string()),
                Value::Number(number) => ("b:double", number.to_string()),
                Value::String(text) => ("b:string", text.clone()),
                other => ("b:string", other.to_string()),
            };
            out.start("a:KeyValueOfstringanyType", &[])
                .element("a:Key", key)
                .start(
                    "a:Value",
                    &[
                        ("i:type", xsd_type),
                        ("xmlns:b", "http://www.w3.org/2001/XMLSchema"),
                    ],
                )
                .text(&text)
                .end("a:Value")
                .end("a:KeyValueOfstringanyType");
        }
        out.end("ChangedItemProperties");
    }
    match &result.error_message {
        Some(message) => {
            out.element("ErrorMessage", message);
        }
        None => {
            out.empty("ErrorMessage", &[("i:nil", "true")]);
        }
    }
    out.empty("RedirectUrl", &[("i:nil", "true")])
        .element("Status", &result.status)
        .end("ProcessEventResult")
        .end("ProcessEventResponse");
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_in_wcf_order() {
        let mut changed = Map::new();
        changed.insert("Title".into(), Value::String("A & B".into()));
        let body = result_envelope_body(&EventResult {
            status: "Continue".into(),
            error_message: None,
            changed_properties: changed,
        });
        let order: Vec<usize> = [
            "<ChangedItemProperties",
            "<ErrorMessage",
            "<RedirectUrl",
            "<Status",
        ]
        .iter()
        .map(|tag| body.find(tag).expect(tag))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{body}");
        assert!(body.contains("<a:Value i:type=\"b:string\" xmlns:b=\"http://www.w3.org/2001/XMLSchema\">A &amp; B</a:Value>"));
        assert!(body.contains("<ErrorMessage i:nil=\"true\"/>"));
    }
}
