//! `holdpoint serve` as a process: HTTPS with a certificate the test makes (never a
//! committed key) and clear start-up errors for bad key material; graceful shutdown on
//! SIGTERM (a request in flight completes, nothing stays leased).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use support::process::{Server, holdpoint, output};

/// A self-signed certificate for 127.0.0.1 and localhost: (cert PEM, key PEM).
fn certificate() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("a certificate");
    (made.cert.pem(), made.signing_key.serialize_pem())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A config file with `[tls]` over the given PEM files; returns its path.
fn tls_config(dir: &Path, cert: &str, key: &str, port: u16) -> String {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let config = dir.join("holdpoint.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\nlisten = [\"127.0.0.1:{port}\"]\n",
            cert_path.display().to_string(),
            key_path.display().to_string()
        ),
    )
    .unwrap();
    config.display().to_string()
}

#[tokio::test]
async fn https_beside_http_with_a_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate();
    let port = free_port();
    let config = tls_config(dir.path(), &cert, &key, port);
    let data = dir.path().join("data");
    let server = Server::start(&["--config", &config], &data);
    let https = format!("https://127.0.0.1:{port}");
    assert!(
        server
            .banner
            .iter()
            .any(|line| line.contains(&format!("{https}/healthz"))),
        "the HTTPS endpoints are listed: {:?}",
        server.banner
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = client
        .get(format!("{https}/healthz"))
        .send()
        .await
        .expect("https answers");
    assert_eq!(response.status(), 200);
    let wsdl = client
        .get(format!("{https}/vco/vmware-vmo-webcontrol/webservice?wsdl"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        wsdl.contains(&format!(
            "location=\"{https}/vco/vmware-vmo-webcontrol/webservice\""
        )),
        "the WSDL names the https address"
    );
    // A client that does not trust the certificate is refused by TLS itself.
    assert!(reqwest::get(format!("{https}/healthz")).await.is_err());
    // Plain HTTP still answers beside it.
    let plain = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    assert!(server.terminate(), "clean exit after SIGTERM");
}

#[test]
fn bad_key_material_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = certificate();
    let (_, other_key) = certificate();
    let config = tls_config(dir.path(), &cert, &other_key, free_port());
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "--config",
        &config,
        "--data-dir",
        data,
        "serve",
    ]));
    assert!(!ok);
    assert!(
        stderr.contains("is not the key of the certificate"),
        "{stderr}"
    );

    std::fs::write(dir.path().join("key.pem"), "not a key").unwrap();
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "--config",
        &config,
        "--data-dir",
        data,
        "serve",
    ]));
    assert!(!ok);
    assert!(
        stderr.contains("[tls] key:") && stderr.contains("no usable private key"),
        "{stderr}"
    );

    std::fs::remove_file(dir.path().join("cert.pem")).unwrap();
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "--config",
        &config,
        "--data-dir",
        data,
        "serve",
    ]));
    assert!(!ok);
    assert!(stderr.contains("[tls] cert: cannot read"), "{stderr}");
}

const ECHO: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><echo xmlns="http://webservice.vso.dunes.ch"><message>still here</message></echo></s:Body></s:Envelope>"#;

/// A node stopped the moment it says `ready` (a supervisor's quick restart) still stops
/// gracefully: its signal handlers are in place before it says so.
#[test]
fn a_sigterm_right_after_ready_stops_gracefully() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(&[], dir.path());
        assert!(server.terminate(), "clean exit after an early SIGTERM");
    }
}

#[test]
fn a_request_in_flight_at_sigterm_completes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[], dir.path());
    let address = server.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (first, rest) = ECHO.split_at(ECHO.len() / 2);
    write!(
        stream,
        "POST /vco/vmware-vmo-webcontrol/webservice HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        ECHO.len()
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // The listener is closed: no new connections.
    let refused = (0..20).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        TcpStream::connect(&address).is_err()
    });
    assert!(refused, "new connections are refused after SIGTERM");
    stream.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("<echoReturn>still here</echoReturn>"),
        "{answer}"
    );
    assert!(
        server.terminate(),
        "clean exit once the request is answered"
    );
}

const QUEUED: &str = r#"
id = "abababab-abab-4bab-8bab-abababababab"
name = "queued-start"
[remote_events]
custom_data = true
[[steps]]
id = "done"
kind = "end"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_stays_leased_after_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(workflows.join("queued-start.toml"), QUEUED).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    const ROWS: i64 = 20_000;
    let target = holdpoint::store::StoreTarget::Sqlite {
        path: data.join("holdpoint.db"),
    };
    {
        let store = holdpoint::store::open(&target).await.unwrap();
        let te = support::engine_with(store, &[QUEUED], support::test_config()).await;
        // Due now for the real server, not at the test clock's epoch.
        te.clock.set(chrono::Utc::now().timestamp_millis());
        let workflow = te
            .engine
            .workflows()
            .get("queued-start")
            .cloned()
            .expect("loaded");
        let requests: Vec<_> = (0..ROWS)
            .map(|n| holdpoint::engine::inbound::InboundRequest {
                workflow: workflow.clone(),
                kind: "custom_data".into(),
                payload: holdpoint::engine::inbound::InboundPayload {
                    action: holdpoint::engine::inbound::InboundAction::Start,
                    event: serde_json::json!({ "n": n }),
                    sender: "tester".into(),
                },
                idempotency_key: None,
                coalesce_key: None,
            })
            .collect();
        te.engine.enqueue_remote_events(&requests).await.unwrap();
    }
    let server = Server::start(&["--workflows", workflows.to_str().unwrap()], &data);
    let store = holdpoint::store::open(&target).await.unwrap();
    let counts = || async {
        // The test reads beside a server that writes without pause: on a loaded machine
        // SQLite's busy handler can starve this second process past its 5 s timeout, which
        // is a fact about the reader, not about the server under test; so it tries again.
        let mut tries = 0;
        let stats = loop {
            tries += 1;
            let read = async {
                let mut tx = store.begin().await?;
                let stats = tx.stats(i64::MAX).await?;
                tx.commit().await?;
                Ok::<_, holdpoint::store::StoreError>(stats)
            };
            match read.await {
                Ok(stats) => break stats,
                Err(error) if tries < 5 => eprintln!("reading the counts again: {error}"),
                Err(error) => panic!("cannot read the counts: {error}"),
            }
        };
        let of = |state| {
            stats
                .inbound
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n)
        };
        use holdpoint::store::InboundState::*;
        (of(Queued), of(Running), of(Done), of(Dead))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while counts().await.2 < 20 {
        assert!(
            Instant::now() < deadline,
            "the server delivers queued events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.terminate(), "clean exit after SIGTERM");
    let (queued, running, done, dead) = counts().await;
    assert_eq!(running, 0, "no row stays leased by the stopped node");
    assert_eq!(dead, 0);
    assert_eq!(queued + done, ROWS, "nothing lost");
    assert!(queued > 0, "stopped before the end ({done} done)");
    // Another node claims the rest at once.
    let mut tx = store.begin().await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let claimed = tx
        .claim_inbound(now, now + 30_000, "node-b", 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 10);
}

/// Custom events sent by 8 clients while the server gets SIGTERM: every event that was
/// acknowledged (200) is in the database afterwards; the others were refused or never
/// connected, and the clients know it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&[], &data);
    let password = server
        .banner
        .iter()
        .find_map(|line| line.strip_prefix("created account `admin` with password "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the admin password is printed")
        .to_string();
    let base = server.base.clone();
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let base = base.clone();
            let password = password.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    let id = format!("load-{client}-{n}");
                    let sent = http
                        .post(format!("{base}/api/v1/events/no-waiter"))
                        .basic_auth("admin", Some(&password))
                        .json(&serde_json::json!({"message_id": id, "ttl": "1h"}))
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == 200 => acknowledged.push(id),
                        Ok(response) if response.status().is_server_error() => {}
                        Ok(response) => panic!("unexpected {}", response.status()),
                        // The listener is gone: the server has stopped.
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(server.terminate(), "clean exit after SIGTERM under load");
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    assert!(
        acknowledged.len() > 50,
        "load was applied: {}",
        acknowledged.len()
    );
    let target = holdpoint::store::StoreTarget::Sqlite {
        path: data.join("holdpoint.db"),
    };
    let store = holdpoint::store::open(&target).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    for id in &acknowledged {
        let claim = tx
            .claim_dedup_key(&format!("event:external:{id}"), 0, i64::MAX)
            .await
            .unwrap();
        assert!(
            matches!(claim, holdpoint::store::DedupClaim::Existing(Some(_))),
            "acknowledged event {id} is stored with its outcome"
        );
    }
    eprintln!("{} acknowledged events, all stored", acknowledged.len());
}

/// `[http] keep_alive` closes idle connections, and `[http] max_connections` holds further
/// connections in the backlog until one is free: a node cannot be made to hold more.
#[test]
fn idle_connections_close_and_the_connection_limit_holds() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &[],
        data.path(),
        &[
            ("HOLDPOINT_HTTP__KEEP_ALIVE", "3s"),
            ("HOLDPOINT_HTTP__MAX_CONNECTIONS", "2"),
        ],
    );
    let address = server.base.trim_start_matches("http://").to_string();
    let get = |stream: &mut TcpStream| -> String {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buffer = [0u8; 1024];
        let n = stream.read(&mut buffer).unwrap_or(0);
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    // Idle keep-alive: answered, then closed by the server after about 3 s.
    let mut idle = TcpStream::connect(&address).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(get(&mut idle).starts_with("HTTP/1.1 200"));
    let began = Instant::now();
    let mut rest = [0u8; 16];
    assert_eq!(idle.read(&mut rest).unwrap_or(0), 0, "closed by the server");
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "{:?}",
        began.elapsed()
    );
    // Two connections per node (the node runs no more workers than that, one each): a
    // third waits for a free one.
    let mut held: Vec<_> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            assert!(get(&mut stream).starts_with("HTTP/1.1 200"));
            stream
        })
        .collect();
    let mut third = TcpStream::connect(&address).unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buffer = [0u8; 1024];
    assert!(
        third.read(&mut buffer).is_err(),
        "not served while two connections are held"
    );
    held.clear();
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let n = third.read(&mut buffer).unwrap_or(0);
    assert!(
        buffer[..n].starts_with(b"HTTP/1.1 200"),
        "served once one is free"
    );
    assert!(server.terminate());
}
