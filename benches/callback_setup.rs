//! Prepares a durable-callback benchmark (`benches/callbacks.sh`): starts N instances of a
//! workflow on a running Holdpoint through the native API, with `fields.n` = 0..N-1, and
//! writes one line per instance in the order of `n`: the serial number of its open server
//! item, or `n` itself when the wait has no serial (a custom-event wait, whose event name
//! is derived from `n`).
//!
//!     cargo bench --bench callback_setup -- --url http://127.0.0.1:18080 \
//!         --workflow callback-item --count 50000 --user bench:bench-pw --out serials.txt
//!
//! Loopback targets only; 16 connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Parser;

#[path = "common/loopback.rs"]
mod loopback;

#[derive(Parser, Debug)]
#[command(about = "Start N waiting instances and write their serials")]
struct Args {
    /// Base URL of the server, e.g. http://127.0.0.1:18080 (loopback only).
    #[arg(long)]
    url: String,
    /// Workflow name or GUID.
    #[arg(long)]
    workflow: String,
    #[arg(long)]
    count: usize,
    /// HTTP Basic credentials, `name:password` (needs `start` on the workflow).
    #[arg(long)]
    user: String,
    /// Where the serials go, one per line.
    #[arg(long)]
    out: std::path::PathBuf,
    /// First value of `n` (to add instances to an earlier batch).
    #[arg(long, default_value_t = 0)]
    first: usize,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Ignored: `cargo bench` passes it to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    let base = reqwest::Url::parse(&args.url).unwrap_or_else(|e| panic!("--url: {e}"));
    assert!(
        loopback::is_loopback(&base),
        "--url must point at this machine, not {base}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let serials = runtime.block_on(start_all(&args, base));
    let text: String = serials.iter().map(|s| format!("{s}\n")).collect();
    std::fs::write(&args.out, text).unwrap_or_else(|e| panic!("{}: {e}", args.out.display()));
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "started {} instances of {} in {seconds:.1}s ({:.0}/s); serials in {}",
        serials.len(),
        args.workflow,
        serials.len() as f64 / seconds,
        args.out.display()
    );
}

async fn start_all(args: &Args, base: reqwest::Url) -> Vec<String> {
    let (name, password) = args.user.split_once(':').expect("--user name:password");
    let url = base
        .join(&format!("/api/v1/workflows/{}/instances", args.workflow))
        .expect("start url");
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new((client, url, name.to_string(), password.to_string()));
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| {
            let (next, shared, count, first) =
                (next.clone(), shared.clone(), args.count, args.first);
            tokio::spawn(async move {
                let (client, url, name, password) = &*shared;
                let mut mine = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let body = serde_json::json!({ "fields": { "n": first + index } });
                    let response = client
                        .post(url.clone())
                        .basic_auth(name, Some(password))
                        .json(&body)
                        .send()
                        .await
                        .expect("start request");
                    let status = response.status();
                    let text = response.text().await.expect("start answer");
                    assert!(status.is_success(), "start answered {status}: {text}");
                    let answer: serde_json::Value =
                        serde_json::from_str(&text).expect("start answer is JSON");
                    let serial = answer
                        .pointer("/instance/waits/0/serial")
                        .and_then(|serial| serial.as_str())
                        .map_or_else(|| (first + index).to_string(), str::to_string);
                    mine.push((index, serial));
                }
                mine
            })
        })
        .collect();
    let mut serials = vec![String::new(); args.count];
    for task in tasks {
        for (index, serial) in task.await.expect("a start task") {
            serials[index] = serial;
        }
    }
    serials
}
