//! The TOML shape of a workflow file, exactly as written. Unknown keys are rejected by
//! serde; [`super::compile`] then checks what serde cannot (references, kinds, templates).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::engine::fields::FieldType;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkflow {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub outputs: Vec<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, RawField>,
    #[serde(default)]
    pub permissions: super::Permissions,
    /// Validated by the dialect that uses them (SharePoint, remote events).
    #[serde(default)]
    pub triggers: Vec<toml::Table>,
    #[serde(default)]
    pub remote_events: Option<toml::Table>,
    #[serde(default)]
    pub steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    #[serde(rename = "type")]
    pub ty: FieldType,
    pub default: Option<toml::Value>,
}

/// Declares a struct with the keys of an HTTP request a step sends, after its `url`, at
/// the place marked `..http_options`: written once for both places they stand, a `notify`
/// table ([`RawHttp`]) and a `call` step, which carries them beside its own keys
/// ([`RawStep`]). serde's `flatten` would say it plainer, but it does not work with
/// `deny_unknown_fields`.
macro_rules! with_http_options {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $($(#[$head_attr:meta])* pub $head:ident: $head_ty:ty,)*
            ..http_options,
            $($(#[$tail_attr:meta])* pub $tail:ident: $tail_ty:ty,)*
        }
    ) => {
        $(#[$attr])*
        pub struct $name {
            $($(#[$head_attr])* pub $head: $head_ty,)*
            pub method: Option<String>,
            pub headers: Option<BTreeMap<String, String>>,
            pub body: Option<String>,
            pub timeout: Option<String>,
            pub max_attempts: Option<u32>,
            pub save: Option<BTreeMap<String, String>>,
            /// The environment variable holding a bearer token, read when sending.
            pub bearer_env: Option<String>,
            $($(#[$tail_attr])* pub $tail: $tail_ty,)*
        }
    };
}

with_http_options! {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawHttp {
        pub url: String,
        ..http_options,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBranch {
    #[serde(rename = "if")]
    pub condition: String,
    pub goto: String,
}

with_http_options! {
    /// Every key any step kind may carry; which ones apply to which kind is checked later.
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawStep {
        pub id: Option<String>,
        pub kind: Option<String>,
        pub next: Option<String>,
        pub deadline: Option<String>,
        pub on_timeout: Option<String>,
        pub on_error: Option<String>,
        pub notify: Option<RawHttp>,
        pub synchronous: Option<bool>,
        pub callback_url: Option<bool>,
        pub event: Option<String>,
        pub scope: Option<String>,
        pub properties: Option<BTreeMap<String, String>>,
        pub ttl: Option<String>,
        pub inputs: Option<Vec<String>>,
        pub url: Option<String>,
        ..http_options,
        pub fields: Option<BTreeMap<String, toml::Value>>,
        pub when: Option<Vec<RawBranch>>,
        #[serde(rename = "else")]
        pub otherwise: Option<String>,
        pub status: Option<String>,
        pub error_message: Option<String>,
        /// Strings are templates; numbers and booleans keep their type (`i:type`).
        pub changed_properties: Option<BTreeMap<String, toml::Value>>,
        pub content_type: Option<String>,
        pub message: Option<String>,
    }
}

impl RawStep {
    /// The optional keys this step sets, by their TOML names.
    pub fn present_keys(&self) -> Vec<&'static str> {
        let keys: [(&'static str, bool); 29] = [
            ("next", self.next.is_some()),
            ("deadline", self.deadline.is_some()),
            ("on_timeout", self.on_timeout.is_some()),
            ("on_error", self.on_error.is_some()),
            ("notify", self.notify.is_some()),
            ("synchronous", self.synchronous.is_some()),
            ("callback_url", self.callback_url.is_some()),
            ("event", self.event.is_some()),
            ("scope", self.scope.is_some()),
            ("properties", self.properties.is_some()),
            ("ttl", self.ttl.is_some()),
            ("inputs", self.inputs.is_some()),
            ("url", self.url.is_some()),
            ("method", self.method.is_some()),
            ("headers", self.headers.is_some()),
            ("body", self.body.is_some()),
            ("timeout", self.timeout.is_some()),
            ("max_attempts", self.max_attempts.is_some()),
            ("save", self.save.is_some()),
            ("bearer_env", self.bearer_env.is_some()),
            ("fields", self.fields.is_some()),
            ("when", self.when.is_some()),
            ("else", self.otherwise.is_some()),
            ("status", self.status.is_some()),
            ("error_message", self.error_message.is_some()),
            ("changed_properties", self.changed_properties.is_some()),
            ("content_type", self.content_type.is_some()),
            ("message", self.message.is_some()),
            ("id", false),
        ];
        keys.iter()
            .filter(|(_, present)| *present)
            .map(|(key, _)| *key)
            .collect()
    }
}

/// The optional keys each kind accepts (`next` applies to every kind but `end`/`fail`).
pub fn allowed_keys(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "server_event" => &[
            "next",
            "deadline",
            "on_timeout",
            "on_error",
            "notify",
            "synchronous",
            "callback_url",
        ],
        "wait_event" => &["next", "deadline", "on_timeout", "event", "scope"],
        "wait_input" => &["next", "deadline", "on_timeout", "inputs"],
        "emit" => &["next", "event", "properties", "ttl"],
        "call" => &[
            "next",
            "deadline",
            "on_timeout",
            "on_error",
            "url",
            "method",
            "headers",
            "body",
            "timeout",
            "max_attempts",
            "save",
            "bearer_env",
        ],
        "set" => &["next", "fields"],
        "decide" => &["when", "else"],
        "reply" => &[
            "next",
            "status",
            "error_message",
            "changed_properties",
            "body",
            "content_type",
        ],
        "end" => &[],
        "fail" => &["message"],
        _ => return None,
    })
}

pub const KINDS: &str =
    "server_event, wait_event, wait_input, emit, call, set, decide, reply, end, fail";
