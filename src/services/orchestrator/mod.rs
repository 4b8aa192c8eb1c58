//! Orchestrator-compatible `VSOWebControl` (DESIGN §6): the vCO 4.1 SOAP contract,
//! namespace `http://webservice.vso.dunes.ch`, SOAP 1.1 document/literal wrapped, served at
//! `/vmware-vmo-webcontrol/webservice` and `/vco/vmware-vmo-webcontrol/webservice`, so that
//! clients generated for vCO run workflows on Holdpoint without a line changed.
//!
//! Mapping: `workflowId` is the definition's GUID (or name); a workflow token is an
//! instance, its id the instance id; token attributes are typed data fields
//! ([`values`]); `sendCustomEvent` is the engine's custom event with scope external.
//!
//! Authentication, as in vRO: `echo` and `echoWorkflow` are open; every other operation
//! carries `username`/`password` elements, checked like Basic credentials (a wrong pair is
//! a plain Client fault, not a 401 challenge); `sendCustomEvent` has no such elements, so
//! it takes HTTP Basic credentials of an account with the `send_events` right, unless
//! `[orchestrator] anonymous_custom_events = true` (vRO's own, insecure, default), and
//! then only from the networks `[orchestrator] allow_from` lists (empty: anywhere).
//! The inventory and plug-in operations are declared but answer `not_supported`.

mod operations;
pub mod values;
mod wire;

use std::sync::LazyLock;

use async_trait::async_trait;
use futures_util::future::BoxFuture;

use crate::config::OrchestratorSettings;
use crate::error::ErrorCode;
use crate::http::soap::{HeaderCredentials, SoapCall, SoapService, request_response};
use crate::soap::service::{Operation, ServiceDescriptor, inline_schema};
use crate::soap::{SoapError, SoapVersion};

pub const NAMESPACE: &str = "http://webservice.vso.dunes.ch";
pub const PATHS: [&str; 2] = [
    "/vmware-vmo-webcontrol/webservice",
    "/vco/vmware-vmo-webcontrol/webservice",
];
/// The dialect recorded in history.
pub const DIALECT: &str = "orchestrator";

/// Every operation of the 4.1 contract, in the WSDL's order.
const OPERATIONS: &[Operation] = &[
    request_response("echo"),
    request_response("echoWorkflow"),
    request_response("sendCustomEvent"),
    request_response("getWorkflowForId"),
    request_response("getAllWorkflows"),
    request_response("getWorkflowsWithName"),
    request_response("hasRights"),
    request_response("executeWorkflow"),
    request_response("simpleExecuteWorkflow"),
    request_response("cancelWorkflow"),
    request_response("getWorkflowTokenResult"),
    request_response("getWorkflowTokenForId"),
    request_response("getWorkflowTokenStatus"),
    request_response("answerWorkflowInput"),
    request_response("find"),
    request_response("findForId"),
    request_response("findRelation"),
    request_response("hasChildrenInRelation"),
    request_response("getAllPlugins"),
    request_response("getAllPlugin"),
];

const WSDL_TEMPLATE: &str = include_str!("../../../wsdl/vso-webcontrol.wsdl");
const SCHEMA: &str = include_str!("../../../schemas/vso-webcontrol.xsd");
static WSDL: LazyLock<String> = LazyLock::new(|| inline_schema(WSDL_TEMPLATE, SCHEMA));

pub struct OrchestratorService {
    descriptor: ServiceDescriptor,
    settings: OrchestratorSettings,
}

impl OrchestratorService {
    pub fn new(settings: OrchestratorSettings) -> Self {
        Self {
            descriptor: ServiceDescriptor {
                name: "VSOWebControl",
                dialect: DIALECT,
                paths: PATHS.iter().map(|path| path.to_string()).collect(),
                namespace: NAMESPACE,
                operations: OPERATIONS,
                versions: &[SoapVersion::V11],
                wsdl: WSDL.clone(),
            },
            settings,
        }
    }

    /// The operations that reach the engine, in a future of their own. Awaited inline,
    /// their state (kilobytes: a command's) made every call's future as large, and
    /// `echo`, which needs none of it, paid for it: the future is built and then moved
    /// into its box on every call (callgrind: copying it was a sixth of an echo's
    /// instructions). One allocation more for a call that goes to the database is nothing.
    fn call_engine<'a>(
        &'a self,
        call: &'a SoapCall<'_>,
    ) -> BoxFuture<'a, Result<String, SoapError>> {
        Box::pin(async move {
            match call.operation.name {
                "sendCustomEvent" => operations::send_custom_event(call, &self.settings).await,
                "getWorkflowForId" => operations::get_workflow_for_id(call).await,
                "getAllWorkflows" => operations::get_all_workflows(call).await,
                "getWorkflowsWithName" => operations::get_workflows_with_name(call).await,
                "hasRights" => operations::has_rights(call).await,
                "executeWorkflow" => operations::execute_workflow(call).await,
                "simpleExecuteWorkflow" => operations::simple_execute_workflow(call).await,
                "cancelWorkflow" => operations::cancel_workflow(call).await,
                "getWorkflowTokenResult" => operations::get_workflow_token_result(call).await,
                "getWorkflowTokenForId" => operations::get_workflow_token_for_id(call).await,
                "getWorkflowTokenStatus" => operations::get_workflow_token_status(call).await,
                "answerWorkflowInput" => operations::answer_workflow_input(call).await,
                other => Err(SoapError::new(
                    ErrorCode::UnknownOperation,
                    format!("`{other}` is not an operation of VSOWebControl"),
                )),
            }
        })
    }
}

#[async_trait]
impl SoapService for OrchestratorService {
    fn descriptor(&self) -> &ServiceDescriptor {
        &self.descriptor
    }

    /// `sendCustomEvent` takes HTTP Basic (checked before the body when sent); the other
    /// operations carry `username`/`password` in the envelope, so the body is needed.
    fn header_credentials(&self) -> HeaderCredentials {
        HeaderCredentials::WhenSent
    }

    async fn call(&self, call: SoapCall<'_>) -> Result<Option<String>, SoapError> {
        let answer = match call.operation.name {
            "echo" => operations::echo(&call),
            "echoWorkflow" => Ok(operations::echo_workflow(&call)),
            inventory @ ("find"
            | "findForId"
            | "findRelation"
            | "hasChildrenInRelation"
            | "getAllPlugins"
            | "getAllPlugin") => Err(SoapError::new(
                ErrorCode::NotSupported,
                format!(
                    "`{inventory}` is not supported: Holdpoint has workflows but no plug-in inventory"
                ),
            )),
            _ => self.call_engine(&call).await,
        }?;
        Ok(Some(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_wsdl_declares_every_operation_once() {
        assert!(WSDL.contains("<xs:schema"), "schema inlined");
        assert_eq!(WSDL.matches("<?xml").count(), 1, "one XML declaration");
        for operation in OPERATIONS {
            let declared = format!("<wsdl:operation name=\"{}\">", operation.name);
            assert_eq!(WSDL.matches(&declared).count(), 2, "{}", operation.name);
            assert!(
                WSDL.contains(&format!("<xs:element name=\"{}\">", operation.name)),
                "{}",
                operation.name
            );
        }
        assert_eq!(
            WSDL.matches("<wsdl:operation ").count(),
            2 * OPERATIONS.len()
        );
    }
}
