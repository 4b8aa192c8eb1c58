//! The sections of the configuration that resolve into settings of their own (SharePoint,
//! TLS, network lists), each checked with errors that name the key.

use std::net::SocketAddr;
use std::time::Duration;

use super::{TlsSettings, duration, raw};
use crate::networks::NetworkList;

pub(super) fn sharepoint_settings(
    raw: raw::RawSharePoint,
) -> Result<crate::services::sharepoint::service::SharePointSettings, String> {
    use crate::services::sharepoint::service::{SharePointAuth, SharePointSettings};
    let defaults = SharePointSettings::default();
    let paths = raw.paths.unwrap_or(defaults.paths);
    if paths.is_empty() || paths.iter().any(|p| !p.starts_with('/')) {
        return Err("[sharepoint] paths: give one or more paths starting with `/`".into());
    }
    let sync_timeout = duration(
        "[sharepoint] sync_timeout",
        raw.sync_timeout,
        defaults.sync_timeout,
    )?;
    if sync_timeout.is_zero() || sync_timeout >= Duration::from_secs(30) {
        return Err("[sharepoint] sync_timeout: must be above 0 and under SharePoint's 30s".into());
    }
    // Anonymous only when written: a fresh install must not run a stranger's event.
    let auth = match raw.auth.as_deref().unwrap_or("receiver_key") {
        "receiver_key" => SharePointAuth::ReceiverKey,
        "anonymous" => SharePointAuth::Anonymous,
        "basic" => SharePointAuth::Basic,
        "context_token" => SharePointAuth::ContextToken(context_token_settings(
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
    Ok(SharePointSettings {
        paths,
        sync_timeout,
        auth,
        allow_from: networks("[sharepoint] allow_from", raw.allow_from)?,
        ..defaults
    })
}

/// An allow-list or proxy list; absent is empty.
pub(super) fn networks(key: &str, entries: Option<Vec<String>>) -> Result<NetworkList, String> {
    NetworkList::parse(key, &entries.unwrap_or_default())
}

pub(super) fn addresses(key: &str, texts: &[String]) -> Result<Vec<SocketAddr>, String> {
    texts
        .iter()
        .map(|text| {
            text.parse::<SocketAddr>()
                .map_err(|_| format!("{key}: `{text}` is not an address such as 127.0.0.1:8080"))
        })
        .collect()
}

/// `[tls]`: nothing, or a certificate, its key and at least one HTTPS address. The files
/// are read and checked when `serve` starts.
pub(super) fn tls_settings(raw: raw::RawTls) -> Result<Option<TlsSettings>, String> {
    let listen = addresses("[tls] listen", &raw.listen.unwrap_or_default())?;
    match (raw.cert, raw.key) {
        (None, None) if listen.is_empty() => Ok(None),
        (None, None) => Err("[tls] listen: needs [tls] cert and key".into()),
        (Some(_), None) => Err("[tls] key: required with [tls] cert".into()),
        (None, Some(_)) => Err("[tls] cert: required with [tls] key".into()),
        (Some(_), Some(_)) if listen.is_empty() => {
            Err("[tls] listen: give the HTTPS addresses, such as 0.0.0.0:8443".into())
        }
        (Some(cert), Some(key)) => Ok(Some(TlsSettings { cert, key, listen })),
    }
}

/// `client_id` and `client_secret` are required for context tokens; an empty realm
/// accepts any tenant.
pub(super) fn context_token_settings(
    client_id: Option<String>,
    client_secret: Option<String>,
    realm: Option<String>,
) -> Result<crate::services::sharepoint::context_token::ContextTokenSettings, String> {
    let non_empty = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    let client_id = non_empty(client_id).ok_or(
        "[sharepoint] client_id: required with auth = \"context_token\" (the add-in's client id)",
    )?;
    let client_secret = non_empty(client_secret).ok_or(
        "[sharepoint] client_secret: required with auth = \"context_token\" (base64, as issued)",
    )?;
    Ok(
        crate::services::sharepoint::context_token::ContextTokenSettings {
            client_id: client_id.trim().to_string(),
            client_secret,
            realm: non_empty(realm).map(|r| r.trim().to_string()),
        },
    )
}
