//! `holdpoint finish` and `holdpoint send-event`: small clients of a running server's
//! native API, for scripts and for trying workflows out. They print the outcome and exit
//! non-zero with the server's error code and message when the call failed.

use clap::Args;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Base URL of the server.
    #[arg(long, env = "HOLDPOINT_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Account name.
    #[arg(long, short = 'u', env = "HOLDPOINT_USER")]
    pub user: String,
    /// Password of the account.
    #[arg(long, short = 'p', env = "HOLDPOINT_PASSWORD", hide_env_values = true)]
    pub password: String,
}

#[derive(Debug, Args)]
pub struct FinishArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Serial number of the server item.
    pub serial: String,
    /// Data fields as name=value.
    #[arg(value_name = "FIELD=VALUE")]
    pub fields: Vec<String>,
    /// Sent as Idempotency-Key: a repeat returns the first outcome.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print the server's report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SendEventArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Event name.
    pub name: String,
    /// Properties as name=value.
    #[arg(value_name = "NAME=VALUE")]
    pub properties: Vec<String>,
    /// A repeated message id is delivered once.
    #[arg(long)]
    pub message_id: Option<String>,
    /// How long to buffer when nobody waits (e.g. 5m; 0 drops it).
    #[arg(long)]
    pub ttl: Option<String>,
}

/// `a=b` pairs into a JSON object of strings (the server converts to field types).
fn pairs(items: &[String]) -> Result<Map<String, Value>, String> {
    items
        .iter()
        .map(|item| {
            let (name, value) = item
                .split_once('=')
                .filter(|(name, _)| !name.is_empty())
                .ok_or_else(|| format!("`{item}` is not name=value"))?;
            Ok((name.to_string(), Value::String(value.to_string())))
        })
        .collect()
}

async fn post(
    server: &ServerArgs,
    path: &str,
    body: &Value,
    idempotency_key: Option<&str>,
) -> Result<Value, String> {
    let url = format!("{}{path}", server.url.trim_end_matches('/'));
    let mut request = reqwest::Client::new()
        .post(&url)
        .basic_auth(&server.user, Some(&server.password))
        .json(body);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request
        .send()
        .await
        .map_err(|error| format!("cannot reach {url}: {error}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        return Ok(value);
    }
    Err(describe_error(status, &value))
}

fn describe_error(status: StatusCode, body: &Value) -> String {
    match (body["code"].as_str(), body["message"].as_str()) {
        (Some(code), Some(message)) => format!("{} {code}: {message}", status.as_u16()),
        _ => format!("{status}: {body}"),
    }
}

/// A path segment, percent-encoded (serials and event names may hold any character).
fn segment(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

pub async fn finish(args: &FinishArgs) -> Result<(), String> {
    let body = json!({ "fields": pairs(&args.fields)? });
    let path = format!("/api/v1/server-items/{}/finish", segment(&args.serial));
    let outcome = post(&args.server, &path, &body, args.idempotency_key.as_deref()).await?;
    let instance = &outcome["instance"];
    let replayed = if outcome["replayed"] == json!(true) {
        " (repeat: the first call did it)"
    } else {
        ""
    };
    println!(
        "finished {}{replayed}; instance {} is {}{}",
        args.serial,
        instance["id"],
        instance["status"].as_str().unwrap_or("?"),
        waiting_on(instance)
    );
    Ok(())
}

pub async fn send_event(args: &SendEventArgs) -> Result<(), String> {
    let mut body = json!({ "properties": pairs(&args.properties)? });
    if let Some(id) = &args.message_id {
        body["message_id"] = json!(id);
    }
    if let Some(ttl) = &args.ttl {
        body["ttl"] = json!(ttl);
    }
    let path = format!("/api/v1/events/{}", segment(&args.name));
    let outcome = post(&args.server, &path, &body, None).await?;
    let woken: Vec<String> = outcome["woken"]
        .as_array()
        .map(|ids| ids.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    let duplicate = if outcome["duplicate"] == json!(true) {
        " (duplicate message id: nothing done again)"
    } else {
        ""
    };
    if !woken.is_empty() {
        println!(
            "event {} woke instance(s) {}{duplicate}",
            args.name,
            woken.join(", ")
        );
    } else if let Some(id) = outcome["buffered_id"].as_i64() {
        println!(
            "event {}: nobody waits; buffered as #{id}{duplicate}",
            args.name
        );
    } else {
        println!(
            "event {}: nobody waits; dropped (ttl 0){duplicate}",
            args.name
        );
    }
    Ok(())
}

fn waiting_on(instance: &Value) -> String {
    let Some(wait) = instance["waits"].as_array().and_then(|waits| waits.first()) else {
        return String::new();
    };
    let target = wait["serial"]
        .as_str()
        .or_else(|| wait["event_name"].as_str())
        .unwrap_or("");
    format!(
        " at step {} ({} {target})",
        wait["step"].as_str().unwrap_or("?"),
        wait["kind"].as_str().unwrap_or("?")
    )
}

/// Asks a running node to re-read its workflows folder and prints what it did.
pub async fn deploy(args: &DeployArgs) -> Result<(), String> {
    let report = post(&args.server, "/api/v1/deploy", &json!({}), None).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(());
    }
    for workflow in report["workflows"].as_array().into_iter().flatten() {
        let new = if workflow["new_version"] == json!(true) {
            "  (new version)"
        } else {
            ""
        };
        println!(
            "deployed  {}  version {}{new}",
            workflow["name"].as_str().unwrap_or_default(),
            workflow["version"].as_str().unwrap_or_default()
        );
    }
    for review in report["review"].as_array().into_iter().flatten() {
        for older in review["older"].as_array().into_iter().flatten() {
            println!(
                "{}: {} live instance(s) stay on version {}",
                review["workflow"].as_str().unwrap_or_default(),
                older["instances"],
                older["version"].as_str().unwrap_or_default()
            );
            for finding in older["findings"].as_array().into_iter().flatten() {
                println!(
                    "  {}: {}",
                    finding["kind"].as_str().unwrap_or_default(),
                    finding["message"].as_str().unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_value_pairs() {
        let map = pairs(&["a=1".into(), "b=x=y".into(), "c=".into()]).unwrap();
        assert_eq!(map["a"], json!("1"));
        assert_eq!(map["b"], json!("x=y"));
        assert_eq!(map["c"], json!(""));
        assert_eq!(
            pairs(&["novalue".into()]).unwrap_err(),
            "`novalue` is not name=value"
        );
        assert!(pairs(&["=v".into()]).is_err());
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("5_31.Xk2-_"), "5_31.Xk2-_");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
