//! A load generator that needs nothing but this repository: N connections POST (or GET)
//! one request as fast as they can for a bounded time or request count, against loopback
//! only, and report throughput and latency percentiles.
//!
//!     cargo bench --bench load -- --url http://127.0.0.1:8080/vco/vmware-vmo-webcontrol/webservice \
//!         --body ../shared/peers/requests/echo.xml --connections 16 --duration 10s
//!
//! `{n}` in the body, the URL or a header becomes a number unique to each request, so that
//! every request can carry its own message id or event name; with `--values FILE`, `{v}`
//! becomes line n of that file (serial numbers written by `benches/callback_setup.rs`, put
//! in as they are: URL-safe) and the run ends when the lines run out. The last line is
//! machine-readable: `load_result rps=… p50_ms=… p99_ms=… requests=… non2xx=… errors=…`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use clap::Parser;

#[path = "common/http1.rs"]
mod http1;
#[path = "common/loopback.rs"]
mod loopback;

#[derive(Parser, Debug)]
#[command(about = "HTTP load against a Holdpoint on this machine")]
struct Args {
    /// Target URL; its host must be a loopback address or `localhost`.
    #[arg(long)]
    url: String,
    /// File whose contents are POSTed (`{n}` replaced per request); none: GET.
    #[arg(long)]
    body: Option<std::path::PathBuf>,
    #[arg(long, default_value = "text/xml; charset=utf-8")]
    content_type: String,
    /// Extra headers, `Name: value` (repeatable). `SOAPAction: ""` is sent unless given.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// HTTP Basic credentials, `name:password`.
    #[arg(long)]
    user: Option<String>,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// How long to send, e.g. `10s` (after the warm-up).
    #[arg(long, default_value = "10s")]
    duration: String,
    /// A file with one value per line: request n gets line n as `{v}`; the run stops when
    /// the lines run out.
    #[arg(long)]
    values: Option<std::path::PathBuf>,
    /// Stop after this many requests, whichever comes first.
    #[arg(long)]
    requests: Option<u64>,
    #[arg(long, default_value = "1s")]
    warmup: String,
    /// Ignored: `cargo bench` passes it to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

struct Totals {
    latencies: Vec<Duration>,
    /// From the end of the warm-up to the last measured answer: shorter than `--duration`
    /// when `--requests` or `--values` ends the run first.
    measured: Duration,
    non2xx: u64,
    errors: u64,
}

fn main() {
    let args = Args::parse();
    let url = reqwest::Url::parse(&args.url).unwrap_or_else(|e| panic!("--url: {e}"));
    assert!(
        loopback::is_loopback(&url),
        "--url must point at this machine (loopback), not {url}"
    );
    let duration = holdpoint::duration::parse_duration(&args.duration).expect("--duration");
    let warmup = holdpoint::duration::parse_duration(&args.warmup).expect("--warmup");
    let body = args.body.as_ref().map(|path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let totals = runtime.block_on(run(&args, url, body, warmup, duration));
    let mut latencies = totals.latencies;
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let at = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[at].as_secs_f64() * 1000.0
    };
    let seconds = totals.measured.as_secs_f64().max(1e-9);
    let count = latencies.len() as u64 + totals.non2xx + totals.errors;
    println!(
        "{} requests in {seconds:.1}s over {} connections: {:.1} req/s, p50 {:.3} ms, p99 {:.3} ms, {} non-2xx, {} errors",
        count,
        args.connections,
        latencies.len() as f64 / seconds,
        percentile(0.50),
        percentile(0.99),
        totals.non2xx,
        totals.errors
    );
    println!(
        "load_result rps={:.1} p50_ms={:.3} p99_ms={:.3} requests={count} non2xx={} errors={} \
         p90_ms={:.3} p999_ms={:.3} max_ms={:.3}",
        latencies.len() as f64 / seconds,
        percentile(0.50),
        percentile(0.99),
        totals.non2xx,
        totals.errors,
        percentile(0.90),
        percentile(0.999),
        percentile(1.0),
    );
}

async fn run(
    args: &Args,
    url: reqwest::Url,
    body: Option<String>,
    warmup: Duration,
    duration: Duration,
) -> Totals {
    let addresses: Arc<[std::net::SocketAddr]> =
        url.socket_addrs(|| None).expect("--url: an address").into();
    let request = Arc::new(request_of(args, &url, body.as_deref()));
    let values: Arc<Vec<String>> = Arc::new(match &args.values {
        Some(path) => std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    });
    let use_values = args.values.is_some();
    let counter = Arc::new(AtomicU64::new(0));
    let measured_count = Arc::new(AtomicU64::new(0));
    let limit = args.requests.unwrap_or(u64::MAX);
    let warm_until = Instant::now() + warmup;
    let stop_at = warm_until + duration;
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| {
            let request = request.clone();
            let addresses = addresses.clone();
            let counter = counter.clone();
            let measured_count = measured_count.clone();
            let values = values.clone();
            tokio::spawn(async move {
                let mut totals = Totals {
                    latencies: Vec::new(),
                    measured: Duration::ZERO,
                    non2xx: 0,
                    errors: 0,
                };
                let (mut wire, mut scratch) = (Vec::new(), Vec::new());
                let mut connection: Option<http1::Connection> = None;
                loop {
                    let now = Instant::now();
                    if now >= stop_at {
                        break;
                    }
                    let measured = now >= warm_until;
                    if measured && measured_count.fetch_add(1, Ordering::Relaxed) >= limit {
                        break;
                    }
                    // Unique across warm-up and measurement alike.
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let value = match values.get(n as usize) {
                        Some(value) => value.as_str(),
                        None if use_values => break,
                        None => "",
                    };
                    request.write(
                        &mut wire,
                        &mut scratch,
                        itoa::Buffer::new().format(n).as_bytes(),
                        value.as_bytes(),
                    );
                    let started = Instant::now();
                    let outcome = match exchange(&mut connection, &addresses, &wire).await {
                        Ok(answer) => {
                            if answer.closes {
                                connection = None;
                            }
                            Ok((200..300).contains(&answer.status))
                        }
                        Err(_) => {
                            connection = None;
                            Err(())
                        }
                    };
                    if !measured {
                        continue;
                    }
                    totals.measured = Instant::now().saturating_duration_since(warm_until);
                    match outcome {
                        Ok(true) => totals.latencies.push(started.elapsed()),
                        Ok(false) => totals.non2xx += 1,
                        Err(()) => totals.errors += 1,
                    }
                }
                totals
            })
        })
        .collect();
    let mut all = Totals {
        latencies: Vec::new(),
        measured: Duration::ZERO,
        non2xx: 0,
        errors: 0,
    };
    for task in tasks {
        let totals = task.await.expect("a load task");
        all.latencies.extend(totals.latencies);
        all.measured = all.measured.max(totals.measured);
        all.non2xx += totals.non2xx;
        all.errors += totals.errors;
    }
    all
}

/// Sends one request on the client's connection, opening one if it has none (the
/// latency then includes the connect, as with any client). A connection the server
/// closed while it was idle is replaced and the request sent once more, as hyper's pool
/// does.
async fn exchange(
    connection: &mut Option<http1::Connection>,
    addresses: &[std::net::SocketAddr],
    request: &[u8],
) -> std::io::Result<http1::Answer> {
    for _ in 0..2 {
        let open = match connection {
            Some(open) => open,
            None => connection.insert(http1::Connection::open(addresses).await?),
        };
        match open.exchange(request).await {
            Ok(answer) => return Ok(answer),
            Err(http1::Failed::Stale) => *connection = None,
            Err(http1::Failed::Io(error)) => return Err(error),
        }
    }
    Err(std::io::Error::other(
        "the server closed two connections in a row",
    ))
}

/// The request every client sends: `POST` with the body or `GET`, the headers of the
/// arguments, and unless they give them, `SOAPAction: ""`, Basic credentials and the
/// content type.
fn request_of(args: &Args, url: &reqwest::Url, body: Option<&str>) -> http1::Request {
    let mut headers: Vec<(String, String)> = args
        .headers
        .iter()
        .map(|h| {
            let (name, value) = h.split_once(':').expect("--header Name: value");
            (name.trim().to_string(), value.trim().to_string())
        })
        .collect();
    let mut unless_given = |name: &str, value: String| {
        if !headers
            .iter()
            .any(|(given, _)| given.eq_ignore_ascii_case(name))
        {
            headers.push((name.to_string(), value));
        }
    };
    unless_given("SOAPAction", "\"\"".into());
    if let Some(user) = &args.user {
        assert!(user.contains(':'), "--user name:password");
        unless_given(
            "Authorization",
            format!("Basic {}", BASE64_STANDARD.encode(user)),
        );
    }
    if body.is_some() {
        unless_given("Content-Type", args.content_type.clone());
    }
    let headers: Vec<String> = headers
        .into_iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().expect("--url: a host")),
        None => url.host_str().expect("--url: a host").to_string(),
    };
    let method = if body.is_some() { "POST" } else { "GET" };
    http1::Request::new(method, &target, &host, &headers, body)
}
