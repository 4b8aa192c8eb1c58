//! `holdpoint sharepoint url|rotate-key`: the SharePoint receiver's registration, straight
//! on the store (no server needed).
//!
//! `url` prints the URL(s) to register in SharePoint, one per line and nothing else, so
//! that a script can take them: each configured receiver path at each listen address, or
//! at `--base` (the address SharePoint reaches, behind a proxy or a DNS name). With
//! `[sharepoint] auth = "receiver_key"` (the default) they carry the installation's key,
//! made now if there is none yet. `rotate-key` replaces the key; every node refuses the
//! old one within [`crate::config::sharepoint::KEY_CACHE_TTL`], so the registrations must be updated.

use clap::Subcommand;

use crate::config::Config;
use crate::config::sharepoint::SharePointAuth;
use crate::services::sharepoint::receiver_key;
use crate::store;

#[derive(Debug, Subcommand)]
pub enum SharePointCommand {
    /// Print the receiver URL(s) to register in SharePoint.
    Url(UrlArgs),
    /// Replace the receiver key; the old URL stops working on every node within seconds.
    RotateKey(UrlArgs),
}

#[derive(Debug, clap::Args)]
pub struct UrlArgs {
    /// The address SharePoint reaches this installation at, e.g. https://rer.contoso.com
    /// [default: each listen address].
    #[arg(long, value_name = "URL")]
    pub base: Option<String>,
}

pub async fn run(config: &Config, command: SharePointCommand) -> Result<(), String> {
    let store = store::open(&config.store)
        .await
        .map_err(|error| format!("store: {error}"))?;
    let uses_key = matches!(config.soap.sharepoint.auth, SharePointAuth::ReceiverKey);
    match command {
        SharePointCommand::Url(args) => {
            let query = if uses_key {
                let key = receiver_key::load_or_create(store.as_ref())
                    .await
                    .map_err(|error| error.to_string())?;
                Some(key.query())
            } else {
                eprintln!(
                    "note: [sharepoint] auth is not \"receiver_key\": the URL carries no key"
                );
                None
            };
            for url in urls(config, args.base.as_deref(), query.as_deref())? {
                println!("{url}");
            }
        }
        SharePointCommand::RotateKey(args) => {
            let key = receiver_key::rotate(store.as_ref())
                .await
                .map_err(|error| error.to_string())?;
            println!(
                "receiver key rotated; every node refuses the old one within {} s. \
                 Register the new URL in SharePoint:",
                crate::config::sharepoint::KEY_CACHE_TTL.as_secs()
            );
            for url in urls(config, args.base.as_deref(), Some(&key.query()))? {
                println!("  {url}");
            }
            if !uses_key {
                println!(
                    "note: [sharepoint] auth is not \"receiver_key\", so the key is not checked now"
                );
            }
        }
    }
    Ok(())
}

/// Every receiver path at `base`, or at every listen address (HTTP, then HTTPS).
fn urls(config: &Config, base: Option<&str>, query: Option<&str>) -> Result<Vec<String>, String> {
    let bases: Vec<String> = match base {
        Some(base) if base.starts_with("http://") || base.starts_with("https://") => {
            vec![base.trim_end_matches('/').to_string()]
        }
        Some(other) => {
            return Err(format!(
                "--base: `{other}` is not a URL such as https://rer.contoso.com"
            ));
        }
        None => config
            .http
            .listen
            .iter()
            .map(|address| format!("http://{address}"))
            .chain(
                config
                    .tls
                    .iter()
                    .flat_map(|tls| tls.listen.iter())
                    .map(|address| format!("https://{address}")),
            )
            .collect(),
    };
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    Ok(bases
        .iter()
        .flat_map(|base| {
            config
                .soap
                .sharepoint
                .paths
                .iter()
                .map(move |path| format!("{base}{path}"))
        })
        .map(|url| format!("{url}{query}"))
        .collect())
}
