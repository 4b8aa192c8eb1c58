//! Parsing `SPRemoteEventProperties` as WCF's DataContractSerializer writes it.
//!
//! Every section (item, list, web, app, security, entity instance) is kept, member by
//! member, with the members SharePoint types as numbers or booleans converted; a nil
//! section is absent. The item's `AfterProperties`/`BeforeProperties` are dictionaries of
//! `KeyValueOfstringanyType` whose values carry `i:type` (`b:string`, `b:int`,
//! `b:boolean`, `b:dateTime`, `b:double`, …), converted to JSON accordingly. An unknown
//! `EventType` is kept as text: SharePoint adds event types, and refusing one would lose
//! the event.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::{ARRAYS_NAMESPACE, NAMESPACE};
use crate::error::ErrorCode;
use crate::services::envelope::filled_text;
use crate::soap::{Element, SoapError};

const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";

/// Event types SharePoint sends to remote event receivers.
pub const KNOWN_EVENT_TYPES: &[&str] = &[
    "ItemAdding",
    "ItemUpdating",
    "ItemDeleting",
    "ItemCheckingIn",
    "ItemCheckingOut",
    "ItemUncheckingOut",
    "ItemAttachmentAdding",
    "ItemAttachmentDeleting",
    "ItemFileMoving",
    "ItemVersionDeleting",
    "ItemAdded",
    "ItemUpdated",
    "ItemDeleted",
    "ItemCheckedIn",
    "ItemCheckedOut",
    "ItemUncheckedOut",
    "ItemAttachmentAdded",
    "ItemAttachmentDeleted",
    "ItemFileMoved",
    "ItemFileConverted",
    "ItemVersionDeleted",
    "FieldAdding",
    "FieldUpdating",
    "FieldDeleting",
    "ListAdding",
    "ListDeleting",
    "FieldAdded",
    "FieldUpdated",
    "FieldDeleted",
    "ListAdded",
    "ListDeleted",
    "SiteDeleting",
    "WebDeleting",
    "WebMoving",
    "WebAdding",
    "SiteDeleted",
    "WebDeleted",
    "WebMoved",
    "WebProvisioned",
    "GroupAdding",
    "GroupUpdating",
    "GroupDeleting",
    "GroupUserAdding",
    "GroupUserDeleting",
    "RoleDefinitionAdding",
    "RoleDefinitionUpdating",
    "RoleDefinitionDeleting",
    "RoleAssignmentAdding",
    "RoleAssignmentDeleting",
    "InheritanceBreaking",
    "InheritanceResetting",
    "GroupAdded",
    "GroupUpdated",
    "GroupDeleted",
    "GroupUserAdded",
    "GroupUserDeleted",
    "RoleDefinitionAdded",
    "RoleDefinitionUpdated",
    "RoleDefinitionDeleted",
    "RoleAssignmentAdded",
    "RoleAssignmentDeleted",
    "InheritanceBroken",
    "InheritanceReset",
    "EntityInstanceAdded",
    "EntityInstanceUpdated",
    "EntityInstanceDeleted",
    "AppInstalled",
    "AppUpgraded",
    "AppUninstalling",
];

/// Members SharePoint serialises as integers.
const INTEGER_MEMBERS: &[&str] = &[
    "CultureLCID",
    "UICultureLCID",
    "CurrentUserId",
    "ListItemId",
    "TemplateId",
    "GroupId",
    "GroupUserId",
    "PrincipalId",
    "RoleDefinitionId",
    "ObjectType",
];
/// Members SharePoint serialises as booleans.
const BOOLEAN_MEMBERS: &[&str] = &["IsBackgroundSave", "Versionless"];
/// Dictionary-valued members.
const DICTIONARY_MEMBERS: &[&str] = &["AfterProperties", "BeforeProperties"];

/// The sections of `properties`, with the names they get in the event.
const SECTIONS: &[(&str, &str)] = &[
    ("ItemEventProperties", "item"),
    ("ListEventProperties", "list"),
    ("WebEventProperties", "web"),
    ("AppEventProperties", "app"),
    ("SecurityEventProperties", "security"),
    ("EntityInstanceEventProperties", "entity"),
];

/// A parsed remote event: the JSON object workflows see as `event`.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteEvent {
    pub event_type: String,
    /// Whether `event_type` is one SharePoint documents.
    pub known_type: bool,
    pub context_token: Option<String>,
    pub json: Value,
}

/// Parses the `properties` child of `ProcessEvent` / `ProcessOneWayEvent`.
pub fn parse(operation: &Element) -> Result<RemoteEvent, SoapError> {
    let properties = operation.child(NAMESPACE, "properties").ok_or_else(|| {
        SoapError::new(
            ErrorCode::MalformedRequest,
            format!(
                "`{}` lacks the required element `properties`",
                operation.name
            ),
        )
    })?;
    let event_type = filled_text(properties, NAMESPACE, "EventType")
        .ok_or_else(|| {
            SoapError::new(
                ErrorCode::MalformedRequest,
                "`properties` lacks `EventType`",
            )
        })?
        .to_string();
    let text = |name: &str| {
        properties
            .optional_text(NAMESPACE, name)
            .map(|t| Value::String(t.to_string()))
            .unwrap_or(Value::Null)
    };
    let context_token = filled_text(properties, NAMESPACE, "ContextToken").map(str::to_string);
    let mut event = json!({
        "event_type": event_type,
        "correlation_id": text("CorrelationId"),
        "culture_lcid": member(properties, "CultureLCID"),
        "ui_culture_lcid": member(properties, "UICultureLCID"),
        "error_code": text("ErrorCode"),
        "error_message": text("ErrorMessage"),
        "context_token": context_token.clone().map_or(Value::Null, Value::String),
    });
    for (element, key) in SECTIONS {
        let section = properties
            .child(NAMESPACE, element)
            .filter(|section| !section.is_nil())
            .map(section_object)
            .transpose()?
            .map_or(Value::Null, Value::Object);
        event[*key] = section;
    }
    flatten_common(&mut event);
    Ok(RemoteEvent {
        known_type: KNOWN_EVENT_TYPES.contains(&event_type.as_str()),
        event_type,
        context_token,
        json: event,
    })
}

/// A top-level member converted like a section member.
fn member(properties: &Element, name: &str) -> Value {
    properties
        .child(NAMESPACE, name)
        .map_or(Value::Null, |child| scalar(name, child))
}

/// One section as an object of its members (original member names).
fn section_object(section: &Element) -> Result<Map<String, Value>, SoapError> {
    let mut object = Map::new();
    for child in &section.children {
        let value = if DICTIONARY_MEMBERS.contains(&child.name) {
            if child.is_nil() {
                Value::Null
            } else {
                Value::Object(dictionary(child)?)
            }
        } else if !child.children.is_empty() && !child.is_nil() {
            // A nested data contract (an app's `Version`, …): kept as an object.
            Value::Object(section_object(child)?)
        } else {
            scalar(child.name, child)
        };
        object.insert(child.name.to_string(), value);
    }
    Ok(object)
}

/// A leaf member: nil → null, known numbers and booleans converted, base64 decoded.
fn scalar(name: &str, element: &Element) -> Value {
    if element.is_nil() {
        return Value::Null;
    }
    let text = element.text.trim();
    if INTEGER_MEMBERS.contains(&name)
        && let Ok(number) = text.parse::<i64>()
    {
        return Value::from(number);
    }
    if BOOLEAN_MEMBERS.contains(&name)
        && let Some(flag) = boolean(text)
    {
        return Value::Bool(flag);
    }
    if name == "ExternalNotificationMessage"
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text)
    {
        return Value::String(String::from_utf8_lossy(&bytes).into_owned());
    }
    Value::String(element.text.to_string())
}

fn boolean(text: &str) -> Option<bool> {
    match text {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// `KeyValueOfstringanyType` entries → an object of typed values.
pub fn dictionary(element: &Element) -> Result<Map<String, Value>, SoapError> {
    let mut map = Map::new();
    for entry in element.children_named(ARRAYS_NAMESPACE, "KeyValueOfstringanyType") {
        let key = entry
            .optional_text(ARRAYS_NAMESPACE, "Key")
            .ok_or_else(|| {
                SoapError::new(
                    ErrorCode::MalformedRequest,
                    format!("an entry of `{}` lacks its `Key`", element.name),
                )
            })?;
        let value = match entry.child(ARRAYS_NAMESPACE, "Value") {
            None => Value::Null,
            Some(value) if value.is_nil() => Value::Null,
            Some(value) => typed_value(value),
        };
        map.insert(key.to_string(), value);
    }
    Ok(map)
}

/// A dictionary value by its `i:type`; text that does not fit its type is kept as text.
fn typed_value(value: &Element) -> Value {
    let text: &str = &value.text;
    let Some((namespace, local)) = &value.xsi_type else {
        return Value::String(text.to_string());
    };
    if *namespace != XSD_NS {
        // `ser:guid`, `ser:char`, … (the serialization namespace): their text is the value.
        return Value::String(text.to_string());
    }
    let trimmed = text.trim();
    match local.as_ref() {
        "int" | "long" | "short" | "byte" | "unsignedInt" | "unsignedShort" | "unsignedByte"
        | "unsignedLong" | "integer" => trimmed
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_string())),
        "double" | "float" | "decimal" => trimmed
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(text.to_string())),
        "boolean" => boolean(trimmed).map_or_else(|| Value::String(text.to_string()), Value::Bool),
        _ => Value::String(text.to_string()),
    }
}

/// The members templates use most, lifted from whichever section carries them:
/// `web_url`, `list_id`, `list_title`, `item_id`, `after`, `before`, `user_login`, ….
fn flatten_common(event: &mut Value) {
    const LIFTED: &[(&str, &str)] = &[
        ("WebUrl", "web_url"),
        ("ListId", "list_id"),
        ("ListTitle", "list_title"),
        ("ListItemId", "item_id"),
        ("UserLoginName", "user_login"),
        ("UserDisplayName", "user_display_name"),
        ("CurrentUserId", "current_user_id"),
        ("AfterUrl", "after_url"),
        ("BeforeUrl", "before_url"),
        ("FullUrl", "web_url"),
    ];
    let mut lifted = Map::new();
    for section in ["item", "list", "web", "app", "security", "entity"] {
        let Some(object) = event[section].as_object() else {
            continue;
        };
        for (member, key) in LIFTED {
            if let Some(value) = object.get(*member)
                && !lifted.contains_key(*key)
            {
                lifted.insert(key.to_string(), value.clone());
            }
        }
    }
    for key in [
        "web_url",
        "list_id",
        "list_title",
        "item_id",
        "user_login",
        "user_display_name",
    ] {
        event[key] = lifted.remove(key).unwrap_or(Value::Null);
    }
    for (key, value) in lifted {
        event[key] = value;
    }
    let item = event["item"].clone();
    event["after"] = item
        .get("AfterProperties")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    event["before"] = item
        .get("BeforeProperties")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
}
