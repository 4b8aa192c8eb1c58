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
//!
//! Who may send events is `[sharepoint] auth`: by default the installation's receiver key
//! in the query string ([`super::receiver_key`]), checked before the body is read; a
//! missing or wrong key is an `unauthenticated` Client fault and nothing is queued or run.
//! `GET {path}?wsdl` needs no key: the WSDL is public metadata and names no key.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, json};

use super::NAMESPACE;
use super::answer::{EventResult, result_envelope_body};
use super::context_token;
use super::properties::{self, RemoteEvent};
use super::receiver_key::KeyCache;
use super::triggers::{SharePointTrigger, TriggerAction, TriggerCache};
use crate::config::sharepoint::{SharePointAuth, SharePointSettings};
use crate::engine::inbound::{InboundPayload, InboundRequest};
use crate::engine::template::Templates;
use crate::engine::{Caller, CustomEvent, Engine, StartRequest};
use crate::error::ErrorCode;
use crate::http::EdgeState;
use crate::http::soap::{
    HeaderCredentials, SoapCall, SoapService, engine_fault, one_way, request_response,
};
use crate::networks::refusal;
use crate::soap::service::{Operation, ServiceDescriptor};
use crate::soap::{SoapError, SoapVersion};
use crate::store::{EventScope, InstanceStatus};

/// The dialect recorded in history.
pub const DIALECT: &str = "sharepoint";

const OPERATIONS: &[Operation] = &[
    request_response("ProcessEvent"),
    one_way("ProcessOneWayEvent"),
];

const WSDL: &str = include_str!("../../../wsdl/remote-event-service.wsdl");

pub struct RemoteEventService {
    descriptor: ServiceDescriptor,
    settings: SharePointSettings,
    triggers: TriggerCache<SharePointTrigger>,
    templates: Templates,
    key: KeyCache,
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
            key: KeyCache::new(settings.key_cache_ttl),
            settings,
            triggers: TriggerCache::default(),
            templates: Templates::new(),
        }
    }
}

#[async_trait]
impl SoapService for RemoteEventService {
    fn descriptor(&self) -> &ServiceDescriptor {
        &self.descriptor
    }

    /// In `basic` mode every event takes HTTP Basic, checked before the body is read.
    fn header_credentials(&self) -> HeaderCredentials {
        match self.settings.auth {
            SharePointAuth::Basic => HeaderCredentials::Required,
            SharePointAuth::ReceiverKey
            | SharePointAuth::Anonymous
            | SharePointAuth::ContextToken(_) => HeaderCredentials::Unused,
        }
    }

    /// The context token's audience names the host the event was sent to.
    fn needs_host(&self) -> bool {
        matches!(self.settings.auth, SharePointAuth::ContextToken(_))
    }

    /// The receiver key is in the query string: a request without it is refused before
    /// anything is read, parsed or stored.
    async fn admit(&self, state: &EdgeState, query: &str) -> Result<(), SoapError> {
        if !matches!(self.settings.auth, SharePointAuth::ReceiverKey) {
            return Ok(());
        }
        let key = self
            .key
            .current(state.engine.store().as_ref())
            .await
            .map_err(engine_fault)?;
        if key.admits(query) {
            return Ok(());
        }
        Err(SoapError::new(
            ErrorCode::Unauthenticated,
            "the receiver key is missing or wrong: register the URL `holdpoint sharepoint url` prints",
        )
        .with_credentials_in_message())
    }

    async fn registration_query(&self, state: &EdgeState) -> Result<Option<String>, SoapError> {
        if !matches!(self.settings.auth, SharePointAuth::ReceiverKey) {
            return Ok(None);
        }
        let key = self
            .key
            .current(state.engine.store().as_ref())
            .await
            .map_err(engine_fault)?;
        Ok(Some(key.query()))
    }

    async fn call(&self, call: SoapCall<'_>) -> Result<Option<String>, SoapError> {
        let event = properties::parse(&call.envelope.body)?;
        // The farm as the caller, for every mode but `basic` (which names an account).
        let farm = || {
            let mut caller = Caller::new("sharepoint", DIALECT);
            caller.source = call.source();
            caller
        };
        let caller = match &self.settings.auth {
            // Checked by `admit` before the body was read.
            SharePointAuth::ReceiverKey => farm(),
            SharePointAuth::Anonymous => {
                if !self.settings.allow_from.admits(call.peer) {
                    return Err(SoapError::new(
                        ErrorCode::Forbidden,
                        refusal("anonymous SharePoint events", call.source().as_deref()),
                    ));
                }
                farm()
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
                farm()
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
                    action: trigger.action.queued(),
                    event: event.json.clone(),
                    sender: caller.name.clone(),
                },
                idempotency_key: None,
                coalesce_key: None,
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
