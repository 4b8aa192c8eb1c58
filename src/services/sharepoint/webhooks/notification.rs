//! The wire format of SharePoint list webhooks, sans I/O: the validation token of a
//! subscription handshake, and the notification batch
//! `{"value": [{"subscriptionId", "clientState", "expirationDateTime", "resource",
//! "tenantId", "siteUrl", "webId"}, …]}` (every member a string; `resource` is the list
//! id, `siteUrl` server-relative such as `/sites/x`), turned into the events workflows
//! see as `event.*`.

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::super::triggers::normalize_guid;
use super::triggers::is_guid;

/// Longest validation token answered. SharePoint's are GUID-like strings far below this;
/// the bound keeps a stranger from making us echo an arbitrary page of text.
pub const MAX_VALIDATION_TOKEN: usize = 1024;

/// The `validationtoken` query parameter (name case ignored, value URL-decoded), if the
/// request is a subscription handshake; an implausible token is refused with the reason.
pub fn validation_token(query: &str) -> Result<Option<String>, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|error| format!("invalid query string: {error}"))?;
    let Some((_, token)) = pairs
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("validationtoken"))
    else {
        return Ok(None);
    };
    if token.is_empty() {
        return Err("the validationtoken query parameter is empty".into());
    }
    if token.len() > MAX_VALIDATION_TOKEN {
        return Err(format!(
            "the validationtoken query parameter is {} bytes long; at most {MAX_VALIDATION_TOKEN} are answered",
            token.len()
        ));
    }
    if token.chars().any(char::is_control) {
        return Err("the validationtoken query parameter contains control characters".into());
    }
    Ok(Some(token))
}

#[derive(Debug, Deserialize)]
struct Batch {
    value: Vec<Notification>,
}

/// One notification: "something changed in list `resource`" (which items, SharePoint
/// tells only through the list's `GetChanges`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub subscription_id: String,
    /// Absent or null when the subscription was made without one.
    #[serde(default)]
    pub client_state: Option<String>,
    pub expiration_date_time: String,
    pub resource: String,
    pub tenant_id: String,
    pub site_url: String,
    pub web_id: String,
}

/// Parses a notification batch. The body was read within the edge's limits and serde_json
/// nests at most 128 levels, so the parse is bounded whatever the sender writes.
pub fn parse(body: &[u8]) -> Result<Vec<Notification>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("the notification body is empty; expected {\"value\": [...]}".into());
    }
    let batch = serde_json::from_slice::<Batch>(body)
        .map_err(|error| format!("invalid webhook notification: {error}"))?;
    for (index, notification) in batch.value.iter().enumerate() {
        notification
            .check()
            .map_err(|why| format!("notification {}: {why}", index + 1))?;
    }
    Ok(batch.value)
}

/// Whether a path has a segment of dots only (`.`, `..`, `...`: Windows servers trim
/// trailing dots), or could hide one or a separator behind escapes a server decodes: an
/// escaped dot, slash, backslash or percent sign (decoded twice), IIS's `%u`, or a `%` not
/// followed by two hex digits. Such a path would reach another site's.
fn climbs(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let bad_escape = bytes.iter().enumerate().any(|(at, byte)| {
        *byte == b'%'
            && !bytes
                .get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    bad_escape
        || ["%2e", "%2f", "%5c", "%25"]
            .iter()
            .any(|escape| lower.contains(escape))
        || path
            .split('/')
            .any(|segment| !segment.is_empty() && segment.bytes().all(|b| b == b'.'))
}

impl Notification {
    /// `resource` and `siteUrl` end up in the URLs workflows call (`GetChanges`), with a
    /// token: a list id that is not a GUID, or a site that is not a server-relative path,
    /// could point such a call elsewhere (`siteUrl = "@evil.example"`), so they are
    /// refused here, whatever a trigger would do with them.
    fn check(&self) -> Result<(), String> {
        if !is_guid(&normalize_guid(&self.resource)) {
            return Err(format!(
                "`resource` must be a list id (a GUID), not `{}`",
                self.resource
            ));
        }
        let path_safe = |c: char| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c);
        if !self.site_url.starts_with('/')
            || self.site_url.starts_with("//")
            || !self.site_url.chars().all(path_safe)
            || climbs(&self.site_url)
        {
            return Err(format!(
                "`siteUrl` must be a server-relative path such as /sites/x, not `{}`",
                self.site_url
            ));
        }
        Ok(())
    }

    /// The event workflows see. The client state is left out: it is the subscription's
    /// secret and has no business in the queue, an instance or its history.
    pub fn event(&self) -> Value {
        json!({
            "subscription_id": self.subscription_id,
            "resource": normalize_guid(&self.resource),
            "site_url": self.site_url,
            // Without the trailing slash, so that `{{ event.site_path }}/_api/…` is a path
            // for the root site ("/") as for any other.
            "site_path": self.site_url.trim_end_matches('/'),
            "web_id": self.web_id,
            "tenant_id": self.tenant_id,
            "expiration": self.expiration_date_time,
        })
    }

    /// Names this notification's content: SharePoint's notifications carry no id of
    /// their own, and a retry repeats every member.
    pub fn content_key(&self) -> String {
        let digest = Sha256::digest(self.event().to_string().as_bytes());
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("sharepoint_webhook:{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"value":[{"subscriptionId":"91779246-afe9-4525-b122-6c199ae89211","clientState":"00000000-0000-0000-0000-000000000000","expirationDateTime":"2016-04-30T17:27:00.0000000Z","resource":"b9f6f714-9df8-470b-b22e-653855e1c181","tenantId":"00000000-0000-0000-0000-000000000000","siteUrl":"/","webId":"dbc5a806-e4d4-46e5-951c-6344d70b62fa"}]}"#;

    #[test]
    fn tokens() {
        assert_eq!(validation_token("").unwrap(), None);
        assert_eq!(
            validation_token("key=1&validationToken=a%2Bb%20c").unwrap(),
            Some("a+b c".into())
        );
        let long = format!("validationtoken={}", "x".repeat(MAX_VALIDATION_TOKEN + 1));
        assert!(
            validation_token(&long)
                .unwrap_err()
                .contains("at most 1024")
        );
        assert!(
            validation_token("validationtoken=a%0Ab")
                .unwrap_err()
                .contains("control characters")
        );
        assert!(validation_token("validationtoken=").is_err());
    }

    #[test]
    fn notifications() {
        let batch = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(batch.len(), 1);
        let event = batch[0].event();
        assert_eq!(event["resource"], "b9f6f714-9df8-470b-b22e-653855e1c181");
        assert_eq!(event["site_path"], "");
        assert!(event.get("client_state").is_none());
        assert_eq!(
            batch[0].content_key(),
            parse(SAMPLE.as_bytes()).unwrap()[0].content_key()
        );
        let missing = SAMPLE.replace("\"resource\"", "\"resources\"");
        assert!(
            parse(missing.as_bytes())
                .unwrap_err()
                .contains("missing field `resource`"),
            "names the member"
        );
        assert!(parse(b"  ").unwrap_err().contains("empty"));
        let elsewhere = SAMPLE.replace("\"siteUrl\":\"/\"", "\"siteUrl\":\"@evil.example/\"");
        assert!(
            parse(elsewhere.as_bytes())
                .unwrap_err()
                .starts_with("notification 1: `siteUrl`")
        );
        for climbing in [
            "/sites/x/../y",
            "/sites/./x",
            "/sites/.../x",
            "/sites/%252e%252e/y",
            "/sites/%u002e%u002e/y",
            "/sites/x%",
            "/sites/%2E%2E/y",
            "/sites/x%2fy",
            "/..",
        ] {
            let text = SAMPLE.replace("\"siteUrl\":\"/\"", &format!("\"siteUrl\":\"{climbing}\""));
            assert!(
                parse(text.as_bytes())
                    .unwrap_err()
                    .contains("`siteUrl` must be"),
                "{climbing}"
            );
        }
        let spaced = SAMPLE.replace("\"siteUrl\":\"/\"", "\"siteUrl\":\"/sites/my%20site/\"");
        assert!(
            parse(spaced.as_bytes()).is_ok(),
            "other escapes are a site's own"
        );
        let not_a_list = SAMPLE.replace("b9f6f714-9df8-470b-b22e-653855e1c181", "x')/x");
        assert!(
            parse(not_a_list.as_bytes())
                .unwrap_err()
                .contains("`resource` must be a list id")
        );
        assert!(parse(b"[1]").is_err());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let nested = format!("{{\"value\":[],\"x\":{deep}}}");
        // An unknown member is skipped, however deep, without recursing.
        assert!(parse(nested.as_bytes()).is_ok_and(|batch| batch.is_empty()));
        let deep_value = format!("{{\"value\":{deep}}}");
        assert!(parse(deep_value.as_bytes()).is_err(), "nesting is bounded");
    }

    proptest::proptest! {
        /// What the `sharepoint_webhook` fuzz target checks, on every `cargo test`.
        #[test]
        fn anything_is_parsed_or_refused_without_panicking(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512), query in ".{0,64}") {
            if let Ok(batch) = parse(&data) {
                for notification in &batch {
                    proptest::prop_assert!(notification.site_url.starts_with('/'));
                }
            }
            if let Ok(Some(token)) = validation_token(&query) {
                proptest::prop_assert!(!token.chars().any(char::is_control));
            }
        }
    }
}
