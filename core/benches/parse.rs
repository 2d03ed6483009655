//! Cost of parsing one delivery's body in the pure-Rust core: the event the engine reads and the
//! jsonb datum the inbox stores. `cargo bench -p clerk_sync_core --bench parse`

use clerk_sync_core::event::jsonb_encode;
use clerk_sync_core::event::EVENT_FIELDS;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const BODY: &str = include_str!("../../tests/fixtures/events/user.created.email.json");

fn bench_parse(c: &mut Criterion) {
    // The receive benchmark's body: the fixture with a public_metadata bio, about 2.4 KB.
    let body = format!(
        "{},\"public_metadata\":{{\"bio\":\"{}\"}}}}",
        BODY.trim_end().trim_end_matches('}'),
        "lorem ipsum ".repeat(60)
    );
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(format!("{}-byte body into the event and its jsonb", body.len()), |b| {
        b.iter(|| jsonb_encode::parse(black_box(&body), &EVENT_FIELDS).expect("written in Rust"))
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
