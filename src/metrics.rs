//! Every metric Holdpoint exports: help texts and labels in one place, the Prometheus
//! recorder, and the small helpers the edges record through. The engine names and records
//! its own metrics (`engine::telemetry`); this module, above it, describes and exports them.
//!
//! Labels are bounded by construction: HTTP routes are route *templates* (or `unmatched`),
//! operations are the names a SOAP service declares (or the HTTP method), commands and
//! outcomes are fixed strings and [`crate::error::ErrorCode`]s. Gauges about the store
//! (open waits, queue depth, backlog, lags) are read from the store when `/metrics` is
//! scraped, so every node reports the shared truth, not its own share of it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

// The engine names and records its own metrics; they are described and served here.
pub use crate::engine::telemetry::{COMMAND_DURATION, INSTANCES_PURGED, STORE_ERRORS};
use crate::store::StoreStats;

/// Counter; labels `route`, `dialect`, `operation`, `status`.
pub const HTTP_REQUESTS: &str = "holdpoint_http_requests_total";
/// Histogram; labels `route`, `dialect`.
pub const HTTP_DURATION: &str = "holdpoint_http_request_duration_seconds";
/// Gauge; label `kind`.
pub const OPEN_WAITS: &str = "holdpoint_open_waits";
/// Gauge; label `state`.
pub const INBOUND_EVENTS: &str = "holdpoint_inbound_events";
/// Gauge.
pub const OUTBOX_BACKLOG: &str = "holdpoint_outbox_backlog";
/// Gauge.
pub const TIMER_LAG: &str = "holdpoint_timer_lag_seconds";
/// Gauge.
pub const RUNNER_LAG: &str = "holdpoint_inbound_runner_lag_seconds";
/// Counter.
pub const SHAREPOINT_UNMATCHED: &str = "holdpoint_sharepoint_unmatched_events_total";
/// Counter; read from [`crate::telemetry`] at scrape time.
pub const LOG_LINES_DROPPED: &str = "holdpoint_log_lines_dropped_total";

/// Seconds; from a fast commit to a slow fsync under load.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered");
    for (name, help) in [
        (HTTP_DURATION, "time to answer an HTTP request"),
        (
            COMMAND_DURATION,
            "time to run an engine command, commit included",
        ),
    ] {
        describe_histogram!(name, metrics::Unit::Seconds, help);
    }
    describe_gauge!(OPEN_WAITS, "open waits in the store");
    describe_gauge!(INBOUND_EVENTS, "inbound queue rows in the store");
    describe_gauge!(OUTBOX_BACKLOG, "outbound calls not yet settled");
    for (name, help) in [
        (
            TIMER_LAG,
            "how long the oldest due deadline has been waiting for the timer",
        ),
        (
            RUNNER_LAG,
            "how long the oldest due inbound event has been waiting for a runner",
        ),
    ] {
        describe_gauge!(name, metrics::Unit::Seconds, help);
    }
    describe_counter!(STORE_ERRORS, "store operations that failed");
    describe_counter!(
        SHAREPOINT_UNMATCHED,
        "SharePoint events that matched no trigger"
    );
    describe_counter!(
        LOG_LINES_DROPPED,
        "log lines dropped because stderr fell behind and the log queue was full"
    );
    describe_counter!(
        INSTANCES_PURGED,
        "ended instances purged by retention, with their waits and history"
    );
}

/// The process-wide recorder, installed on first use; `None` when another recorder was
/// installed first (then nothing is exported).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            // Histograms buffer samples until upkeep; without scrapes they would grow.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

/// The Prometheus text exposition, with the store gauges set from `stats` at `now`.
pub fn render(stats: Option<&StoreStats>, now_ms: i64) -> String {
    let Some(handle) = handle() else {
        return String::new();
    };
    if let Some(stats) = stats {
        set_store_gauges(stats, now_ms);
    }
    // The log writer counts its drops itself; the metric shows its count as of the scrape.
    counter!(LOG_LINES_DROPPED).absolute(crate::telemetry::log_lines_dropped());
    handle.render()
}

/// One gauge per key of a closed set, labelled `label` with the key's word. The store
/// leaves out keys with no rows: their gauges are set to zero, not left at a stale count.
fn set_counts<K: Copy + PartialEq>(
    name: &'static str,
    label: &'static str,
    keys: &[K],
    word: fn(K) -> &'static str,
    counts: &[(K, i64)],
) {
    for &key in keys {
        let count = counts
            .iter()
            .find(|(candidate, _)| *candidate == key)
            .map_or(0, |(_, count)| *count);
        gauge!(name, label => word(key)).set(count as f64);
    }
}

fn set_store_gauges(stats: &StoreStats, now_ms: i64) {
    use crate::store::{InboundState, WaitKind};
    set_counts(
        OPEN_WAITS,
        "kind",
        WaitKind::ALL,
        WaitKind::as_str,
        &stats.open_waits,
    );
    set_counts(
        INBOUND_EVENTS,
        "state",
        InboundState::ALL,
        InboundState::as_str,
        &stats.inbound,
    );
    gauge!(OUTBOX_BACKLOG).set(stats.outbox_backlog as f64);
    let lag = |since: Option<i64>| since.map_or(0.0, |at| (now_ms - at).max(0) as f64 / 1000.0);
    gauge!(TIMER_LAG).set(lag(stats.oldest_overdue_deadline));
    gauge!(RUNNER_LAG).set(lag(stats.oldest_due_inbound));
}

/// Records one answered HTTP request. The handles are cached per worker thread, so the
/// hot path neither allocates nor takes a lock; labels are `'static` because they come
/// from bounded sets: literals, or [`intern`]ed once per distinct text, never leaked per
/// request (the cache keeps an entry per label address, [`LabelsAt`]).
pub fn http_request(
    route: &'static str,
    dialect: &'static str,
    operation: &'static str,
    status: u16,
    elapsed: Duration,
) {
    type Handles = (metrics::Counter, metrics::Histogram);
    type Cache = HashMap<LabelsAt, Handles, BuildHasherDefault<AddressHasher>>;
    thread_local! {
        static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let key = LabelsAt::of(route, dialect, operation, status);
        let (requests, duration) = cache.entry(key).or_insert_with(|| {
            (
                counter!(HTTP_REQUESTS,
                    "route" => route,
                    "dialect" => dialect,
                    "operation" => operation,
                    "status" => status.to_string()),
                histogram!(HTTP_DURATION, "route" => route, "dialect" => dialect),
            )
        });
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());
    });
}

/// A request's labels by where their text is (address, length), not by the text: the
/// labels are `'static` strings of bounded sets, so their addresses are too, and hashing
/// the text of each (SipHash) was a hundredth of an echo's instructions (callgrind). Two
/// copies of one text at two addresses get two entries, with the same handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LabelsAt([usize; 6], u16);

impl Hash for LabelsAt {
    // Word by word: an array of integers is otherwise hashed as one slice of bytes.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.iter().for_each(|word| state.write_usize(*word));
        state.write_u16(self.1);
    }
}

impl LabelsAt {
    fn of(route: &str, dialect: &str, operation: &str, status: u16) -> Self {
        let at = |text: &str| text.as_ptr() as usize;
        Self(
            [
                at(route),
                route.len(),
                at(dialect),
                dialect.len(),
                at(operation),
                operation.len(),
            ],
            status,
        )
    }
}

/// A multiply-and-rotate hash of machine words (`FxHasher`'s), enough for keys that are
/// addresses a stranger does not choose.
#[derive(Debug, Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn write_u16(&mut self, word: u16) {
        self.write_u64(u64::from(word));
    }
}

/// A `'static` copy of a label value from a bounded set (route templates), made once.
pub fn intern(text: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::RwLock;
    static SEEN: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| RwLock::new(HashSet::new()));
    if let Some(found) = seen.read().ok().and_then(|set| set.get(text).copied()) {
        return found;
    }
    let mut set = match seen.write() {
        Ok(set) => set,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(found) = set.get(text) {
        return found;
    }
    let leaked: &'static str = Box::leak(text.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

pub fn sharepoint_unmatched() {
    counter!(SHAREPOINT_UNMATCHED).increment(1);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::http_request;

    #[test]
    fn a_label_copied_elsewhere_counts_with_the_original() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let copy: &'static str = Box::leak("/counted/route".to_string().into_boxed_str());
        metrics::with_local_recorder(&recorder, || {
            for route in ["/counted/route", copy, "/counted/route"] {
                http_request(route, "api", "GET", 200, Duration::from_millis(1));
            }
            http_request(copy, "api", "GET", 404, Duration::from_millis(1));
        });
        let text = handle.render();
        let count = |status: &str| {
            text.lines()
                .find(|line| {
                    line.starts_with("holdpoint_http_requests_total{")
                        && line.contains("route=\"/counted/route\"")
                        && line.contains(&format!("status=\"{status}\""))
                })
                .and_then(|line| line.rsplit(' ').next())
                .map(str::to_string)
        };
        assert_eq!(count("200").as_deref(), Some("3"), "{text}");
        assert_eq!(count("404").as_deref(), Some("1"), "{text}");
    }
}
