//! Parse throughput of the SOAP envelope reader (decode + parse + body tree), on one core.
//! `cargo bench --bench soap_parse`; figures go to BENCHMARKS.md.
//!
//! Inputs: a typical ServerItemService `FinishServerItem` envelope (our fixture), and the
//! real SharePoint ItemAdded capture from `../shared/reference/sharepoint/` when present
//! (never copied into the repository).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use holdpoint::soap::{Limits, decode, read_envelope};

fn inputs() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = vec![(
        "finish_server_item".to_string(),
        std::fs::read(root.join("fixtures/soap/requests/finish.soap11.xml")).expect("fixture"),
    )];
    let capture = root
        .join("../shared/reference/sharepoint/itemadded_online_no_contexttoken_onrocks_azfunc.xml");
    match std::fs::read(&capture) {
        Ok(bytes) => inputs.push(("sharepoint_item_added".to_string(), bytes)),
        Err(error) => eprintln!(
            "skipping the SharePoint capture ({}): {error}",
            capture.display()
        ),
    }
    inputs
}

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("soap_parse");
    for (name, bytes) in inputs() {
        let bytes = bytes.replace_placeholder();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(&name, |b| {
            b.iter(|| {
                let text = decode::to_utf8(black_box(&bytes), None).expect("utf-8");
                let envelope = read_envelope(&text, &limits).expect("a valid envelope");
                // The tree borrows from `text`, so it is observed here rather than
                // returned; it is dropped inside the timed loop either way.
                black_box(&envelope);
            })
        });
    }
    group.finish();
}

trait Placeholder {
    fn replace_placeholder(self) -> Vec<u8>;
}

impl Placeholder for Vec<u8> {
    /// Fills the fixture's `{{serial}}` with a serial of realistic length.
    fn replace_placeholder(self) -> Vec<u8> {
        String::from_utf8(self)
            .expect("utf-8 input")
            .replace("{{serial}}", "4711_93.Xk2aQ0pL7zR9sT1u")
            .into_bytes()
    }
}

/// The reference for our reader: quick-xml's namespace-resolving reader alone, every
/// event read and resolved, nothing built. `read_envelope` reads with quick-xml's plain
/// `Reader` and resolves namespaces itself while it builds the element tree (borrowed
/// from the text) and applies the limits and the checks.
fn events_only(c: &mut Criterion) {
    let mut group = c.benchmark_group("quick_xml_events_only");
    for (name, bytes) in inputs() {
        let bytes = bytes.replace_placeholder();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(&name, |b| {
            b.iter(|| {
                let text = std::str::from_utf8(black_box(&bytes)).expect("utf-8");
                let mut reader = quick_xml::NsReader::from_str(text);
                reader.config_mut().expand_empty_elements = true;
                let mut events = 0usize;
                loop {
                    match reader.read_resolved_event() {
                        Ok((_, quick_xml::events::Event::Eof)) => break,
                        Ok((_, quick_xml::events::Event::Start(start))) => {
                            events += start.attributes().count();
                        }
                        Ok(_) => events += 1,
                        Err(error) => panic!("{error}"),
                    }
                }
                events
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse, events_only);
criterion_main!(benches);
