//! `[sharepoint]`: the SharePoint remote event receiver's settings, resolved from their
//! raw form. The types live here, with the configuration that fills them, and the
//! receiver (`services::sharepoint`) reads them: configuration never reaches up into a
//! service.

use std::time::Duration;

use super::raw::RawSharePoint;
use super::values::{duration, networks, non_empty};
use crate::networks::NetworkList;

/// The path the receiver is served at unless `[sharepoint] paths` says otherwise.
pub const DEFAULT_PATH: &str = "/sharepoint/RemoteEventService.svc";

/// The path of the list webhook receiver unless `[sharepoint] webhook_paths` says otherwise.
pub const DEFAULT_WEBHOOK_PATH: &str = "/sharepoint/webhooks";

/// How long a node uses the receiver key it read before reading it again: a rotated key
/// is refused on every node within this time.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// How SharePoint callers are authenticated.
#[derive(Debug, Clone)]
pub enum SharePointAuth {
    /// The installation's receiver key in the registered URL (the default): SharePoint
    /// Online sends no credentials, but it sends the URL it was given.
    ReceiverKey,
    /// No check at all: anyone who can reach the receiver can start its workflows. Only
    /// when the operator writes it.
    Anonymous,
    /// HTTP Basic (an on-premises farm behind a proxy that adds credentials).
    Basic,
    /// The ContextToken JWT of each event (provider-hosted add-ins with a client secret).
    ContextToken(ContextTokenSettings),
}

/// What a context token is checked against.
#[derive(Debug, Clone)]
pub struct ContextTokenSettings {
    pub client_id: String,
    /// The secret as configured (base64, as SharePoint issues it).
    pub client_secret: String,
    /// The tenant realm; any realm when absent.
    pub realm: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SharePointSettings {
    pub paths: Vec<String>,
    /// Under SharePoint's own 30 s.
    pub sync_timeout: Duration,
    pub auth: SharePointAuth,
    /// How long a node uses the receiver key it read before reading it again (not a
    /// file setting: [`KEY_CACHE_TTL`]; tests shorten it).
    pub key_cache_ttl: Duration,
    /// With `auth = "anonymous"`: where events may come from (empty: anywhere).
    pub allow_from: NetworkList,
    /// Where list webhook notifications are received (the subscriptions' notificationUrl).
    pub webhook_paths: Vec<String>,
}

impl Default for SharePointSettings {
    fn default() -> Self {
        Self {
            paths: vec![DEFAULT_PATH.to_string()],
            sync_timeout: Duration::from_secs(20),
            auth: SharePointAuth::ReceiverKey,
            key_cache_ttl: KEY_CACHE_TTL,
            allow_from: NetworkList::default(),
            webhook_paths: vec![DEFAULT_WEBHOOK_PATH.to_string()],
        }
    }
}

impl SharePointSettings {
    pub(super) fn resolve(raw: RawSharePoint) -> Result<Self, String> {
        let defaults = Self::default();
        let paths = path_list("paths", raw.paths, &defaults.paths)?;
        let webhook_paths = path_list("webhook_paths", raw.webhook_paths, &defaults.webhook_paths)?;
        if let Some(both) = webhook_paths.iter().find(|p| paths.contains(p)) {
            return Err(format!(
                "[sharepoint] webhook_paths: `{both}` is already a path of the remote event receiver"
            ));
        }
        let sync_timeout = duration(
            "[sharepoint] sync_timeout",
            raw.sync_timeout,
            defaults.sync_timeout,
        )?;
        if sync_timeout.is_zero() || sync_timeout >= Duration::from_secs(30) {
            return Err(
                "[sharepoint] sync_timeout: must be above 0 and under SharePoint's 30s".into(),
            );
        }
        // Anonymous only when written: a fresh install must not run a stranger's event.
        let auth = match raw.auth.as_deref().unwrap_or("receiver_key") {
            "receiver_key" => SharePointAuth::ReceiverKey,
            "anonymous" => SharePointAuth::Anonymous,
            "basic" => SharePointAuth::Basic,
            "context_token" => SharePointAuth::ContextToken(ContextTokenSettings::resolve(
                raw.client_id,
                raw.client_secret,
                raw.realm,
            )?),
            other => {
                return Err(format!(
                    "[sharepoint] auth: `{other}` is not one of `receiver_key`, `anonymous`, `basic`, `context_token`"
                ));
            }
        };
        Ok(Self {
            paths,
            sync_timeout,
            auth,
            allow_from: networks("[sharepoint] allow_from", raw.allow_from)?,
            webhook_paths,
            ..defaults
        })
    }
}

/// `[sharepoint] {key}`: one or more paths starting with `/`, else `default`.
fn path_list(
    key: &str,
    raw: Option<Vec<String>>,
    default: &[String],
) -> Result<Vec<String>, String> {
    let paths = raw.unwrap_or_else(|| default.to_vec());
    if paths.is_empty() || paths.iter().any(|p| !p.starts_with('/')) {
        return Err(format!(
            "[sharepoint] {key}: give one or more paths starting with `/`"
        ));
    }
    Ok(paths)
}

impl ContextTokenSettings {
    /// `client_id` and `client_secret` are required for context tokens; an empty realm
    /// accepts any tenant.
    fn resolve(
        client_id: Option<String>,
        client_secret: Option<String>,
        realm: Option<String>,
    ) -> Result<Self, String> {
        let client_id = non_empty(client_id).ok_or(
            "[sharepoint] client_id: required with auth = \"context_token\" (the add-in's client id)",
        )?;
        let client_secret = non_empty(client_secret).ok_or(
            "[sharepoint] client_secret: required with auth = \"context_token\" (base64, as issued)",
        )?;
        Ok(Self {
            client_id: client_id.trim().to_string(),
            client_secret,
            realm: non_empty(realm).map(|r| r.trim().to_string()),
        })
    }
}
