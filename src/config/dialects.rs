//! `[soap]`, `[orchestrator]` and `[remote_events]`: the settings of the wire dialects,
//! resolved from their raw form (`[sharepoint]` is in [`super::sharepoint`]). The types
//! live here, with the configuration that fills them, and the services read them.

use super::raw::{RawOrchestrator, RawRemoteEvents, RawSharePoint, RawSoap};
use super::sharepoint::SharePointSettings;
use super::values::{at_least_one, networks};
use crate::error::SenderFaultStatus;
use crate::networks::NetworkList;

/// The configuration of the SOAP dialects.
#[derive(Debug, Clone)]
pub struct SoapSettings {
    /// What the SOAP reader accepts; `max_body` is the `[http] max_body`.
    pub limits: crate::soap::Limits,
    /// Status of an answered one-way SOAP operation (202 or 200).
    pub one_way_status: u16,
    /// Status of SOAP 1.2 Sender faults (400, or 500 for clients that read faults on 500 only).
    pub sender_fault_status: SenderFaultStatus,
    pub sharepoint: SharePointSettings,
    pub orchestrator: OrchestratorSettings,
}

impl Default for SoapSettings {
    fn default() -> Self {
        Self {
            limits: crate::soap::Limits::default(),
            one_way_status: 202,
            sender_fault_status: SenderFaultStatus::default(),
            sharepoint: SharePointSettings::default(),
            orchestrator: OrchestratorSettings::default(),
        }
    }
}

/// What `[orchestrator]` configures.
#[derive(Debug, Clone, Default)]
pub struct OrchestratorSettings {
    /// Accept `sendCustomEvent` without credentials (vRO's default); off unless set.
    pub anonymous_custom_events: bool,
    /// Where such anonymous calls may come from (empty: anywhere).
    pub allow_from: NetworkList,
}

/// `[remote_events]`: where the kenaflow-style endpoints are and who may use the
/// anonymous variants.
#[derive(Debug, Clone, Default)]
pub struct RemoteEventSettings {
    /// `instance_guid`: the path prefix of every endpoint.
    pub prefix: Option<String>,
    /// `allow_from`: where the anonymous `a` variants may come from (empty: anywhere).
    pub allow_from: NetworkList,
}

impl SoapSettings {
    /// `max_body` is the resolved `[http] max_body`, which the SOAP reader follows.
    pub(super) fn resolve(
        soap: RawSoap,
        sharepoint: RawSharePoint,
        orchestrator: RawOrchestrator,
        max_body: usize,
    ) -> Result<Self, String> {
        let defaults = crate::soap::Limits::default();
        let limits = crate::soap::Limits {
            max_body,
            max_depth: at_least_one("[soap] max_depth", soap.max_depth, defaults.max_depth)?,
            max_attributes: at_least_one(
                "[soap] max_attributes",
                soap.max_attributes,
                defaults.max_attributes,
            )?,
            max_text: at_least_one("[soap] max_text", soap.max_text, defaults.max_text)?,
        };
        let one_way_status = match soap.one_way_status {
            None => 202,
            Some(status @ (200 | 202)) => status,
            Some(other) => {
                return Err(format!(
                    "[soap] one_way_status: {other} is neither 202 nor 200"
                ));
            }
        };
        let sender_fault_status = match soap.sender_fault_status {
            None => SenderFaultStatus::default(),
            Some(status) => SenderFaultStatus::from_status(status).ok_or_else(|| {
                format!("[soap] sender_fault_status: {status} is neither 400 nor 500")
            })?,
        };
        Ok(Self {
            limits,
            one_way_status,
            sender_fault_status,
            sharepoint: SharePointSettings::resolve(sharepoint)?,
            orchestrator: OrchestratorSettings {
                anonymous_custom_events: orchestrator.anonymous_custom_events.unwrap_or(false),
                allow_from: networks("[orchestrator] allow_from", orchestrator.allow_from)?,
            },
        })
    }
}

impl RemoteEventSettings {
    pub(super) fn resolve(raw: RawRemoteEvents) -> Result<Self, String> {
        let prefix = match raw.instance_guid {
            Some(guid) if guid.trim().is_empty() => None,
            Some(guid) if guid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') => Some(guid),
            Some(other) => {
                return Err(format!(
                    "[remote_events] instance_guid: `{other}` is not a GUID such as 5f0c0a9e-1b1e-4b61-9d7e-3a1f0c2b4d5e"
                ));
            }
            None => None,
        };
        Ok(Self {
            prefix,
            allow_from: networks("[remote_events] allow_from", raw.allow_from)?,
        })
    }
}
