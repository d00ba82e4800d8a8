//! Cost of signing one URL, next to the bare RSA-2048 signature it contains, so the overhead
//! of canonicalisation and encoding shows as a ratio measured in the same run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use storage_signer::key::ServiceAccountKey;
use storage_signer::signing::Signer as _;
use storage_signer::signing::v2::{self, V2Request};

fn request() -> V2Request<'static> {
    V2Request {
        method: "PUT",
        bucket: "declarations-prod",
        object: "uploads/2026/11/28/scan of passport — page 1 (копия).pdf",
        content_md5: Some("1B2M2Y8AsgTpgAmY7PhCfg=="),
        content_type: Some("application/pdf"),
        extension_headers: &[],
        expires: 1_795_860_743,
    }
}

fn signing(c: &mut Criterion) {
    let key = ServiceAccountKey::generate("bench@example.invalid").expect("key");
    let request = request();
    let string_to_sign = v2::string_to_sign(&request);

    let mut group = c.benchmark_group("v2");
    group.bench_function("string_to_sign", |b| {
        b.iter(|| v2::string_to_sign(black_box(&request)));
    });
    group.bench_function("rsa2048_sign_only (baseline)", |b| {
        b.iter(|| key.sign_rsa_sha256(black_box(string_to_sign.as_bytes())));
    });
    group.bench_function("signed_url", |b| {
        b.iter(|| v2::sign("https://storage.googleapis.com", black_box(&request), &key));
    });
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
