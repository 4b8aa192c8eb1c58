//! Outbound HTTP for `call` steps and server-event `notify` requests.
//!
//! A request is rendered inside the command's transaction and stored in the outbox as an
//! [`OutboundRequest`]; the outbox runner sends it after commit. Failures are classified:
//! network errors, timeouts, 408, 429 and 5xx are retried with backoff; other 4xx answers
//! are final (repeating them cannot help). `save` values are read from the response by JSON
//! pointer, by XML local-name path (`Envelope/Body/Result/Id`), or `$status` / `$body`.

use std::time::Duration;

use quick_xml::events::Event;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::OutboxPolicy;

/// What the outbox stores for one request (JSON column).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboundRequest {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout_ms: u64,
    pub max_attempts: u32,
    pub save: Vec<(String, String)>,
    /// `notify` of a `synchronous` server event: success finishes the item.
    #[serde(default)]
    pub synchronous: bool,
    /// The environment variable whose value is sent as `Authorization: Bearer …`. Only
    /// its name is stored: the token never enters the store, and a rotated one is used
    /// from the next attempt on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_env: Option<String>,
}

#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct OutboundFailure {
    pub retryable: bool,
    pub message: String,
}

/// Largest response body kept for `save` (bigger answers are an error, not a truncation).
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Sends `request`; a bearer token is read from the environment only for a variable
/// `policy` lends (a definition stored before the operator withdrew it cannot send it).
pub async fn send(
    client: &reqwest::Client,
    request: &OutboundRequest,
    policy: &OutboxPolicy,
) -> Result<OutboundResponse, OutboundFailure> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| final_failure(format!("invalid method {}", request.method)))?;
    let mut builder = client
        .request(method, &request.url)
        .timeout(Duration::from_millis(request.timeout_ms.max(1)));
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(name) = &request.bearer_env {
        // Both retried like a network error: another node, or this one restarted with
        // the variable set and lent, can still send it.
        if !policy.lends(name) {
            return Err(OutboundFailure {
                retryable: true,
                message: format!(
                    "environment variable {name} is not in [outbox] bearer_env on this node"
                ),
            });
        }
        let token = std::env::var(name).map_err(|_| OutboundFailure {
            retryable: true,
            message: format!("environment variable {name} is not set on this node"),
        })?;
        builder = builder.bearer_auth(token.trim());
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let response = builder.send().await.map_err(|error| {
        let retryable = !error.is_builder();
        OutboundFailure {
            retryable,
            message: describe_reqwest(&error),
        }
    })?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = response.bytes().await.map_err(|error| OutboundFailure {
        retryable: true,
        message: format!("reading the response failed: {}", describe_reqwest(&error)),
    })?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(final_failure(format!(
            "response of {} bytes is too large",
            bytes.len()
        )));
    }
    let body = String::from_utf8_lossy(&bytes).into_owned();
    if (200..300).contains(&status) {
        return Ok(OutboundResponse {
            status,
            content_type,
            body,
        });
    }
    let retryable = status >= 500 || status == 408 || status == 429;
    Err(OutboundFailure {
        retryable,
        message: format!("{} answered HTTP {status}", request.url),
    })
}

fn final_failure(message: String) -> OutboundFailure {
    OutboundFailure {
        retryable: false,
        message,
    }
}

fn describe_reqwest(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "request timed out".into()
    } else if error.is_connect() {
        "connection failed".into()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            source = inner.source();
        }
        text
    }
}

/// Reads one `save` value out of a response.
pub fn extract(response: &OutboundResponse, path: &str) -> Result<Value, String> {
    match path {
        "$status" => return Ok(Value::from(response.status)),
        "$body" => return Ok(Value::String(response.body.clone())),
        _ => {}
    }
    let trimmed = response.body.trim_start();
    if trimmed.starts_with('<') {
        return xml_path(&response.body, path);
    }
    let json: Value = serde_json::from_str(&response.body)
        .map_err(|_| "response is neither JSON nor XML".to_string())?;
    let pointer = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    json.pointer(&pointer)
        .cloned()
        .ok_or_else(|| format!("response has no value at `{path}`"))
}

/// Text of the first element whose chain of local names from the root is `path`.
fn xml_path(xml: &str, path: &str) -> Result<Value, String> {
    let wanted: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut text: Option<String> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|error| format!("response is not well-formed xml: {error}"))?;
        match event {
            Event::Start(start) => {
                stack.push(start.local_name().as_ref().to_string());
                if stack == wanted {
                    text = Some(String::new());
                }
            }
            Event::Empty(start) => {
                stack.push(start.local_name().as_ref().to_string());
                if stack == wanted {
                    return Ok(Value::String(String::new()));
                }
                stack.pop();
            }
            Event::End(_) => {
                if stack == wanted
                    && let Some(found) = text.take()
                {
                    return Ok(Value::String(found));
                }
                stack.pop();
            }
            Event::Text(content) => {
                if let Some(found) = text.as_mut() {
                    found.push_str(&content.xml10_content());
                }
            }
            Event::CData(content) => {
                if let Some(found) = text.as_mut() {
                    found.push_str(&content.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(found) = text.as_mut() {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(ch)) => ch.to_string(),
                        _ => {
                            let name = reference.xml10_content();
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .map(str::to_string)
                                .ok_or_else(|| format!("unknown entity &{name};"))?
                        }
                    };
                    found.push_str(&resolved);
                }
            }
            Event::Eof => return Err(format!("response has no element at `{path}`")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{OutboundRequest, OutboundResponse, Value, extract, send};
    use crate::engine::EngineConfig;

    /// A variable the operator did not lend is never read: the attempt fails, saying so,
    /// before anything is sent (the address would refuse a connection anyway).
    #[tokio::test]
    async fn a_variable_not_lent_is_not_sent() {
        let request = OutboundRequest {
            url: "http://127.0.0.1:9/".into(),
            method: "POST".into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: 1000,
            max_attempts: 1,
            save: Vec::new(),
            synchronous: false,
            bearer_env: Some("PATH".into()),
        };
        let mut policy = EngineConfig::default().outbox;
        let failure = send(&reqwest::Client::new(), &request, &policy)
            .await
            .unwrap_err();
        assert!(failure.retryable);
        assert_eq!(
            failure.message,
            "environment variable PATH is not in [outbox] bearer_env on this node"
        );
        policy.bearer_env = vec!["PATH".into()];
        let failure = send(&reqwest::Client::new(), &request, &policy)
            .await
            .unwrap_err();
        assert!(
            !failure.message.contains("bearer_env"),
            "{}",
            failure.message
        );
    }

    fn response(body: &str) -> OutboundResponse {
        OutboundResponse {
            status: 201,
            content_type: String::new(),
            body: body.into(),
        }
    }

    #[test]
    fn json_pointer_and_specials() {
        let answer = response(r#"{"order": {"id": "A-7", "lines": [1, 2]}}"#);
        assert_eq!(extract(&answer, "/order/id"), Ok(Value::from("A-7")));
        assert_eq!(extract(&answer, "order/lines/1"), Ok(Value::from(2)));
        assert_eq!(extract(&answer, "$status"), Ok(Value::from(201)));
        assert!(
            extract(&answer, "/order/missing")
                .unwrap_err()
                .contains("no value")
        );
    }

    #[test]
    fn xml_local_name_path() {
        let answer = response(
            "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"urn:s\"><s:Body><r:Result xmlns:r=\"urn:r\">\
             <r:Id>A &amp; B&#33;</r:Id><r:Empty/></r:Result></s:Body></s:Envelope>",
        );
        assert_eq!(
            extract(&answer, "Envelope/Body/Result/Id"),
            Ok(Value::from("A & B!"))
        );
        assert_eq!(
            extract(&answer, "/Envelope/Body/Result/Empty"),
            Ok(Value::from(""))
        );
        assert!(extract(&answer, "Envelope/Body/Nope").is_err());
    }
}
