//! Cost of minting and verifying purchase tokens (target: verify < 2 µs).
//!
//! `cargo bench -p clipstore-core --bench token`; results go in
//! `docs/benchmarks.md` ("Purchase tokens").

use std::hint::black_box;

use clipstore_core::{sign_token, verify_token, Claims, Keyring, SigningKey, TokenError};
use criterion::{criterion_group, criterion_main, Criterion};

fn claims(clips: usize) -> Claims {
    let mut clips: Vec<String> = (0..clips).map(|i| format!("harbor-dawn-{i:02}")).collect();
    clips.sort();
    Claims {
        key_id: "2025-01".into(),
        order_id: "ORD-2025-000123".into(),
        clips,
        issued_at: 1_750_000_000,
        expires_at: 1_750_000_000 + 30 * 86_400,
        downloads: 3,
        customer_ref: None,
        choices: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let key = SigningKey::new("2025-01", (0u8..32).collect()).unwrap();
    // A realistic keyring during a rotation: the signing key is the second.
    let ring = Keyring::new(vec![SigningKey::new("2025-07", vec![9; 32]).unwrap(), key.clone()]);
    let now = 1_750_000_100;
    for n in [1, 10] {
        let claims = claims(n);
        let token = sign_token(&claims, &key).unwrap();
        assert_eq!(verify_token(&token, &ring, now).unwrap(), claims);
        c.bench_function(&format!("mint/{n}_clip"), |b| {
            b.iter(|| sign_token(black_box(&claims), black_box(&key)).unwrap())
        });
        c.bench_function(&format!("verify/{n}_clip"), |b| {
            b.iter(|| verify_token(black_box(&token), black_box(&ring), black_box(now)).unwrap())
        });
    }
    // Rejections must not be slower than acceptance (no extra work on bad input).
    let token = sign_token(&claims(1), &key).unwrap();
    // Change a character inside the MAC tag (not the last one, whose low bits
    // are unused), so the token fails exactly at the MAC check.
    let mut tampered = token.into_bytes();
    let i = tampered.len() - 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    c.bench_function("verify/1_clip_bad_signature", |b| {
        b.iter(|| {
            let err = verify_token(black_box(&tampered), black_box(&ring), black_box(now)).unwrap_err();
            assert_eq!(err, TokenError::BadSignature);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
