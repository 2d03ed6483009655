//! Cost of verifying one delivery in the pure-Rust core, on a Clerk-shaped body.
//! `cargo bench -p clerk_sync_core`

use clerk_sync_core::{sign, verify_delivery, HeaderEntry, SigningKey};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const BODY: &str = include_str!("../../tests/fixtures/events/user.created.email.json");
const TS: i64 = 1_767_225_600;

fn bench_verify(c: &mut Criterion) {
    let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    // The same ~2.5 KB body as bench/verify.sql.
    let body = format!("{},\"public_metadata_pad\":\"{}\"}}", BODY.trim_end().trim_end_matches('}'), "x".repeat(700));
    let ts = TS.to_string();
    let signature = sign(&key, "msg_2zQmA7bXkP4rLwN9sT1vC3dE5fG", TS, body.as_bytes());
    let keys = [key];
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(format!("{}-byte body, 1 key", body.len()), |b| {
        b.iter(|| {
            let entries = [
                HeaderEntry { name: "content-type", value: Some("application/json") },
                HeaderEntry { name: "svix-id", value: Some("msg_2zQmA7bXkP4rLwN9sT1vC3dE5fG") },
                HeaderEntry { name: "svix-timestamp", value: Some(&ts) },
                HeaderEntry { name: "svix-signature", value: Some(&signature) },
            ];
            verify_delivery(black_box(entries), black_box(body.as_bytes()), &keys, TS, 300).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
