//! SharePoint remote event receiver (DESIGN §6 "SharePoint"): the `IRemoteEventService`
//! wire format. [`properties`] turns the `properties` element of `ProcessEvent` and
//! `ProcessOneWayEvent` into the event that workflows see (`event.*` in templates).
//! [`webhooks`] receives list webhook notifications, SharePoint Online's successor.

pub mod answer;
pub mod context_token;
pub mod properties;
pub mod receiver_key;
pub mod service;
pub mod triggers;
pub mod webhooks;

/// Namespace of `IRemoteEventService` and of the `properties` members.
pub const NAMESPACE: &str = "http://schemas.microsoft.com/sharepoint/remoteapp/";
/// Namespace of WCF's serialized dictionaries (`KeyValueOfstringanyType`).
pub const ARRAYS_NAMESPACE: &str = "http://schemas.microsoft.com/2003/10/Serialization/Arrays";
