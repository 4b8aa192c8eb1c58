//! Configuration loading: files, environment, flags, and every refusal naming its key.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Overrides that read `text` as the configuration file (kept alive by the returned dir).
fn written_file(text: &str) -> (tempfile::TempDir, Overrides) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("holdpoint.toml");
    std::fs::write(&path, text).unwrap();
    let overrides = Overrides {
        config_file: Some(path),
        ..Overrides::default()
    };
    (dir, overrides)
}

/// The configuration of these variables alone (no file, no flags).
fn from_env(pairs: &[(&str, &str)]) -> Result<Config, String> {
    load(&Overrides::default(), &env(pairs))
}

#[test]
fn defaults_use_the_embedded_store() {
    let config = load(&Overrides::default(), &[]).unwrap();
    assert_eq!(config.http.listen, vec!["127.0.0.1:8080".parse().unwrap()]);
    assert_eq!(
        config.store,
        StoreTarget::Sqlite {
            path: PathBuf::from("data/holdpoint.db")
        }
    );
    assert_eq!(config.workflows_dir, PathBuf::from("workflows"));
    assert_eq!(config.engine.buffer_ttl, Duration::from_secs(60));
}

#[test]
fn file_then_env_then_flags() {
    let (_dir, overrides) =
        written_file("[events]\nbuffer_ttl = \"5s\"\n[http]\nlisten = [\"127.0.0.1:9000\"]\n");
    let config = load(
        &overrides,
        &env(&[("HOLDPOINT_EVENTS__DEDUP_WINDOW", "1h")]),
    )
    .unwrap();
    assert_eq!(config.engine.buffer_ttl, Duration::from_secs(5));
    assert_eq!(config.engine.dedup_window, Duration::from_secs(3600));
    assert_eq!(config.http.listen, vec!["127.0.0.1:9000".parse().unwrap()]);
    let config = load(&overrides, &env(&[("HOLDPOINT_EVENTS__BUFFER_TTL", "0")])).unwrap();
    assert_eq!(config.engine.buffer_ttl, Duration::ZERO);
    let flags = Overrides {
        listen: vec!["127.0.0.1:9100".into()],
        database_url: Some("postgres://u@localhost/db".into()),
        ..overrides
    };
    let config = load(&flags, &[]).unwrap();
    assert_eq!(config.http.listen, vec!["127.0.0.1:9100".parse().unwrap()]);
    assert!(matches!(config.store, StoreTarget::Postgres { .. }));
}

#[test]
fn group_commit_lanes_leave_connections_to_the_pool() {
    let (_dir, overrides) = written_file(
        "[store]\nurl = \"postgres://u@localhost/db\"\npool_size = 4\ngroup_commit_lanes = 2\n",
    );
    let config = load(&overrides, &[]).unwrap();
    let connections = connections(&config.store).unwrap();
    assert_eq!(
        (connections.pool_size, connections.group_commit_lanes),
        (4, 2)
    );
    let error = load(
        &overrides,
        &env(&[("HOLDPOINT_STORE__GROUP_COMMIT_LANES", "4")]),
    )
    .unwrap_err();
    assert!(
        error.contains("[store] group_commit_lanes (4) must be less than [store] pool_size (4)"),
        "{error}"
    );
}

/// `[store]`'s connections of a PostgreSQL configuration.
fn connections(store: &StoreTarget) -> Option<Connections> {
    match store {
        StoreTarget::Postgres { connections, .. } => Some(*connections),
        StoreTarget::Sqlite { .. } => None,
    }
}

/// `[store] worker_connections` and `worker_lanes` of a PostgreSQL configuration loaded
/// with the environment `vars`, or why it was refused.
fn worker_settings(vars: &[(&str, &str)]) -> Result<(usize, usize), String> {
    let (_dir, overrides) = written_file("[store]\nurl = \"postgres://u@localhost/db\"\n");
    let config = load(&overrides, &env(vars))?;
    let connections = connections(&config.store).expect("a postgres configuration");
    Ok((connections.worker_connections, connections.worker_lanes))
}

#[test]
fn workers_keep_connections_of_their_own_by_default() {
    assert_eq!(worker_settings(&[]), Ok((2, 1)));
    let off = [("HOLDPOINT_STORE__WORKER_CONNECTIONS", "0")];
    assert_eq!(worker_settings(&off), Ok((0, 0)));
    let error = worker_settings(&[("HOLDPOINT_STORE__WORKER_CONNECTIONS", "65")]).unwrap_err();
    assert!(
        error.contains("[store] worker_connections (65) must be at most 64"),
        "{error}"
    );
}

/// The sessions a node may open count its HTTP workers' own connections once `serve`
/// says how many workers it starts; other commands start none. Workers never outnumber
/// the HTTP connections (each holds at least one).
#[test]
fn sessions_count_the_workers_that_serve() {
    let (_dir, overrides) = written_file("[store]\nurl = \"postgres://u@localhost/db\"\n");
    let vars = [
        ("HOLDPOINT_HTTP__WORKERS", "6"),
        ("HOLDPOINT_STORE__POOL_SIZE", "10"),
        ("HOLDPOINT_STORE__WORKER_CONNECTIONS", "3"),
    ];
    let config = load(&overrides, &env(&vars)).unwrap();
    let command = connections(&config.store).expect("a postgres configuration");
    assert_eq!((command.workers, command.sessions()), (0, 10 + 1));
    let served = config.store.served_by(config.http.workers);
    let node = connections(&served).expect("a postgres configuration");
    assert_eq!((node.workers, node.sessions()), (6, 10 + 1 + 6 * 3));
    let capped = [
        ("HOLDPOINT_HTTP__WORKERS", "6"),
        ("HOLDPOINT_HTTP__MAX_CONNECTIONS", "4"),
    ];
    assert_eq!(load(&overrides, &env(&capped)).unwrap().http.workers, 4);
}

#[test]
fn worker_lanes_keep_connections_of_the_workers() {
    let alone = [("HOLDPOINT_STORE__WORKER_LANES", "0")];
    assert_eq!(worker_settings(&alone), Ok((2, 0)));
    let one = [("HOLDPOINT_STORE__WORKER_CONNECTIONS", "1")];
    assert_eq!(worker_settings(&one), Ok((1, 0)));
    let error = worker_settings(&[("HOLDPOINT_STORE__WORKER_LANES", "2")]).unwrap_err();
    assert!(
        error.contains("[store] worker_lanes (2) must be less than [store] worker_connections (2)"),
        "{error}"
    );
}

#[test]
fn unknown_keys_are_named() {
    let (_dir, overrides) = written_file("[events]\nbufer_ttl = \"5s\"\n");
    let error = load(&overrides, &[]).unwrap_err();
    assert!(
        error.contains("bufer_ttl") && error.contains("line 2"),
        "{error}"
    );
    let error = from_env(&[("HOLDPOINT_EVENTS__BUFER_TTL", "5s")]).unwrap_err();
    assert!(
        error.contains("HOLDPOINT_EVENTS__BUFER_TTL") && error.contains("bufer_ttl"),
        "{error}"
    );
    let error = from_env(&[("HOLDPOINT_NOPE__X", "1")]).unwrap_err();
    assert!(error.contains("nope"), "{error}");
}

#[test]
fn bad_values_say_which_key() {
    let error = from_env(&[("HOLDPOINT_EVENTS__BUFFER_TTL", "soon")]).unwrap_err();
    assert!(error.contains("[events] buffer_ttl"), "{error}");
    let flags = Overrides {
        listen: vec!["localhost".into()],
        ..Overrides::default()
    };
    assert!(load(&flags, &[]).unwrap_err().contains("[http] listen"));
    let flags = Overrides {
        database_url: Some("mysql://x".into()),
        ..Overrides::default()
    };
    assert!(load(&flags, &[]).unwrap_err().contains("[store] url"));
    let error = from_env(&[("HOLDPOINT_HTTP__BODY_TIMEOUT", "0s")]).unwrap_err();
    assert!(error.contains("[http] body_timeout"), "{error}");
}

#[test]
fn sharepoint_is_anonymous_only_when_written() {
    use crate::config::sharepoint::SharePointAuth;
    let default = load(&Overrides::default(), &[]).unwrap();
    assert!(matches!(
        default.soap.sharepoint.auth,
        SharePointAuth::ReceiverKey
    ));
    let written = from_env(&[("HOLDPOINT_SHAREPOINT__AUTH", "anonymous")]).unwrap();
    assert!(matches!(
        written.soap.sharepoint.auth,
        SharePointAuth::Anonymous
    ));
    let error = from_env(&[("HOLDPOINT_SHAREPOINT__AUTH", "key")]).unwrap_err();
    assert!(error.contains("`receiver_key`"), "{error}");
}

#[test]
fn sender_fault_status_is_400_or_500() {
    use crate::error::SenderFaultStatus;
    let default = load(&Overrides::default(), &[]).unwrap();
    assert_eq!(
        default.soap.sender_fault_status,
        SenderFaultStatus::BadRequest
    );
    let config = from_env(&[("HOLDPOINT_SOAP__SENDER_FAULT_STATUS", "500")]).unwrap();
    assert_eq!(
        config.soap.sender_fault_status,
        SenderFaultStatus::InternalServerError
    );
    let (_dir, overrides) = written_file("[soap]\nsender_fault_status = 500\n");
    let written = load(&overrides, &[]).unwrap();
    assert_eq!(
        written.soap.sender_fault_status,
        SenderFaultStatus::InternalServerError
    );
    let back = load(
        &overrides,
        &env(&[("HOLDPOINT_SOAP__SENDER_FAULT_STATUS", "400")]),
    )
    .unwrap();
    assert_eq!(back.soap.sender_fault_status, SenderFaultStatus::BadRequest);
    let error = from_env(&[("HOLDPOINT_SOAP__SENDER_FAULT_STATUS", "422")]).unwrap_err();
    assert_eq!(
        error,
        "[soap] sender_fault_status: 422 is neither 400 nor 500"
    );
    let error = from_env(&[("HOLDPOINT_SOAP__SENDER_FAULT_STATUS", "bad")]).unwrap_err();
    assert!(
        error.contains("HOLDPOINT_SOAP__SENDER_FAULT_STATUS"),
        "{error}"
    );
}

#[test]
fn network_lists_are_checked_and_name_their_key() {
    let config = from_env(&[
        (
            "HOLDPOINT_HTTP__TRUSTED_PROXIES",
            "[\"10.0.0.1\", \"10.1.0.0/24\"]",
        ),
        ("HOLDPOINT_ORCHESTRATOR__ALLOW_FROM", "[\"192.168.1.7\"]"),
        ("HOLDPOINT_SHAREPOINT__ALLOW_FROM", "[\"::1/128\"]"),
        ("HOLDPOINT_REMOTE_EVENTS__ALLOW_FROM", "[\"10.20.0.0/16\"]"),
    ])
    .unwrap();
    let ip = |text: &str| text.parse::<std::net::IpAddr>().unwrap();
    assert!(config.http.trusted_proxies.contains(ip("10.1.0.9")));
    let soap = &config.soap;
    assert!(soap.orchestrator.allow_from.contains(ip("192.168.1.7")));
    assert!(soap.sharepoint.allow_from.contains(ip("::1")));
    assert!(config.remote_events.allow_from.contains(ip("10.20.3.4")));
    for (key, name) in [
        ("HOLDPOINT_HTTP__TRUSTED_PROXIES", "[http] trusted_proxies"),
        (
            "HOLDPOINT_ORCHESTRATOR__ALLOW_FROM",
            "[orchestrator] allow_from",
        ),
        (
            "HOLDPOINT_SHAREPOINT__ALLOW_FROM",
            "[sharepoint] allow_from",
        ),
        (
            "HOLDPOINT_REMOTE_EVENTS__ALLOW_FROM",
            "[remote_events] allow_from",
        ),
    ] {
        let error = from_env(&[(key, "[\"10.0.0.0/40\"]")]).unwrap_err();
        assert!(
            error.starts_with(name) && error.contains("10.0.0.0/40"),
            "{error}"
        );
    }
}

#[test]
fn context_token_auth_needs_client_id_and_secret() {
    let missing = from_env(&[("HOLDPOINT_SHAREPOINT__AUTH", "context_token")]).unwrap_err();
    assert!(missing.contains("[sharepoint] client_id"), "{missing}");
    let config = from_env(&[
        ("HOLDPOINT_SHAREPOINT__AUTH", "context_token"),
        ("HOLDPOINT_SHAREPOINT__CLIENT_ID", "c0ffee"),
        ("HOLDPOINT_SHAREPOINT__CLIENT_SECRET", "c2VjcmV0"),
    ])
    .unwrap();
    match config.soap.sharepoint.auth {
        crate::config::sharepoint::SharePointAuth::ContextToken(settings) => {
            assert_eq!(settings.client_id, "c0ffee");
            assert_eq!(settings.realm, None);
        }
        other => panic!("expected context_token, got {other:?}"),
    }
}

#[test]
fn outbox_lends_only_the_variables_named() {
    let default = load(&Overrides::default(), &[]).unwrap();
    assert!(!default.engine.outbox.lends("SHAREPOINT_TOKEN"));
    let config = from_env(&[("HOLDPOINT_OUTBOX__BEARER_ENV", "[\"SHAREPOINT_TOKEN\"]")]).unwrap();
    assert!(config.engine.outbox.lends("SHAREPOINT_TOKEN"));
    assert!(!config.engine.outbox.lends("AWS_SECRET_ACCESS_KEY"));
    let error =
        from_env(&[("HOLDPOINT_OUTBOX__BEARER_ENV", "[\"HOLDPOINT_STORE__URL\"]")]).unwrap_err();
    assert!(
        error.starts_with("[outbox] bearer_env") && error.contains("node's own settings"),
        "{error}"
    );
}
