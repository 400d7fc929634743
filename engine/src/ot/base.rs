//! Base OT: the Chou–Orlandi "simplest OT" over the Ristretto group, batched.
//!
//! Random-key 1-of-2 OT, semi-honest: the sender picks `a`, sends `A = aG`; for choice `c`
//! the receiver picks `b` and sends `B = bG + c·A`; the sender derives
//! `k0 = H(i, A, B, aB)` and `k1 = H(i, A, B, a(B − A))`, the receiver `k_c = H(i, A, B, bA)`.
//! `H` is blake3 in key-derivation mode over the session tag, the index `i` and the points,
//! truncated to 128 bits. One `A` serves the whole batch (the index separates the keys).
//! The IKNP extension runs 128 of these once per direction.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use rand::CryptoRng;

use super::error::{expect_len, OtError};
use super::Block;
use crate::channel::Channel;

const POINT_LEN: usize = 32;
const KDF_CONTEXT: &str = "snni-lab 2026-11 ot/base chou-orlandi key";

fn random_scalar<R: CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn decompress(bytes: &[u8], index: usize) -> Result<RistrettoPoint, OtError> {
    CompressedRistretto::from_slice(bytes)
        .ok()
        .and_then(|c| c.decompress())
        .ok_or(OtError::InvalidPoint { index })
}

fn derive_key(
    session: u64,
    index: usize,
    a: &CompressedRistretto,
    b: &[u8],
    shared: &RistrettoPoint,
) -> Block {
    let mut h = blake3::Hasher::new_derive_key(KDF_CONTEXT);
    h.update(&session.to_le_bytes());
    h.update(&(index as u64).to_le_bytes());
    h.update(a.as_bytes());
    h.update(b);
    h.update(shared.compress().as_bytes());
    let out = h.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&out.as_bytes()[..16]);
    u128::from_le_bytes(key)
}

/// Sender side of `n` random base OTs: returns the key pair `[k0, k1]` of every instance.
pub fn send<R: CryptoRng + ?Sized>(
    ch: &mut dyn Channel,
    n: usize,
    session: u64,
    rng: &mut R,
) -> Result<Vec<[Block; 2]>, OtError> {
    let a = random_scalar(rng);
    let big_a = &a * RISTRETTO_BASEPOINT_TABLE;
    let big_a_c = big_a.compress();
    ch.send(big_a_c.as_bytes())?;
    let msg = ch.recv()?;
    expect_len(&msg, n * POINT_LEN, "base-ot receiver points")?;
    let a_a = a * big_a;
    msg.chunks_exact(POINT_LEN)
        .enumerate()
        .map(|(i, bytes)| {
            let big_b = decompress(bytes, i)?;
            let a_b = a * big_b;
            Ok([
                derive_key(session, i, &big_a_c, bytes, &a_b),
                derive_key(session, i, &big_a_c, bytes, &(a_b - a_a)),
            ])
        })
        .collect()
}

/// Receiver side of random base OTs with the given choices: returns `k_c` per instance.
pub fn receive<R: CryptoRng + ?Sized>(
    ch: &mut dyn Channel,
    choices: &[bool],
    session: u64,
    rng: &mut R,
) -> Result<Vec<Block>, OtError> {
    let msg = ch.recv()?;
    expect_len(&msg, POINT_LEN, "base-ot sender point")?;
    let big_a = decompress(&msg, 0)?;
    let big_a_c = big_a.compress();
    let mut points = Vec::with_capacity(choices.len() * POINT_LEN);
    let mut secrets = Vec::with_capacity(choices.len());
    for &c in choices {
        let b = random_scalar(rng);
        let mut big_b = &b * RISTRETTO_BASEPOINT_TABLE;
        if c {
            big_b += big_a;
        }
        points.extend_from_slice(big_b.compress().as_bytes());
        secrets.push(b);
    }
    ch.send(&points)?;
    ch.flush()?;
    Ok(secrets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let bytes = &points[i * POINT_LEN..(i + 1) * POINT_LEN];
            derive_key(session, i, &big_a_c, bytes, &(b * big_a))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::mem_pair;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn receiver_gets_exactly_the_chosen_key() {
        for seed in 0..3u64 {
            let (mut cs, mut cr) = mem_pair();
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let choices: Vec<bool> = (0..128).map(|_| rng.random()).collect();
            let (pairs, got) = std::thread::scope(|s| {
                let sender = s.spawn(|| {
                    let mut rng = ChaCha20Rng::seed_from_u64(seed + 100);
                    send(&mut cs, 128, 9, &mut rng).unwrap()
                });
                let mut rng = ChaCha20Rng::seed_from_u64(seed + 200);
                let got = receive(&mut cr, &choices, 9, &mut rng).unwrap();
                (sender.join().unwrap(), got)
            });
            for i in 0..128 {
                let c = choices[i] as usize;
                assert_eq!(got[i], pairs[i][c]);
                assert_ne!(got[i], pairs[i][1 - c]);
            }
        }
    }

    #[test]
    fn invalid_point_is_rejected() {
        let (mut cs, mut cr) = mem_pair();
        cr.send(&[0xffu8; 32]).unwrap();
        cr.flush().unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        assert!(matches!(
            receive(&mut cs, &[true], 0, &mut rng),
            Err(OtError::InvalidPoint { index: 0 })
        ));
    }
}
