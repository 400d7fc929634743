//! The wire forms of the client's uploads and the server's answers, with the low-order bits
//! a layer's noise budget lets them drop ([`WireBits`], chosen in
//! [`HeParamsDesc::wire_bits`]).
//!
//! - Upload: the 32-byte seed of its `a` (the server regenerates c1 from it, as the `fhe`
//!   crate's seeded ciphertexts do), then c0 in coefficient form: each coefficient as one
//!   integer mod the top-level Q with `upload_drop` low bits rounded away, packed at the
//!   rounded width (or, when Q exceeds 127 bits, one residue per modulus, nothing dropped).
//! - Answer: c0 at the answer's positions, each value rounded by `c0_drop` bits and stored in
//!   whole bytes, then c1 at the last level in coefficient form rounded by `c1_drop` bits and
//!   packed (several moduli left: residues, nothing dropped).
//!
//! Both end in a CRC-32 of what precedes it. The protocol is semi-honest, so this is no
//! defence against a peer; it turns a frame damaged in transit into an error rather than a
//! silently wrong layer, which the packed forms (every bit pattern of the right length is
//! nearly always in range) could not otherwise detect. `crc32fast` is the maintained crate
//! for it.
//!
//! Every rounded value is range-checked before the `fhe` crates see the polynomial; the
//! errors name what was out of range.

use std::sync::Arc;

use fhe_math::rq::{traits::TryConvertFrom, Context, Poly, Representation};
use fhe_math::zq::Modulus;

use super::params::{restore, round_away, rounded_max, WireBits};
use super::{HeError, HeParamsDesc};
use crate::ot::bits::{pack, unpack, BitReader, BitWriter};

/// Bytes of the CRC-32 trailer.
const CRC_BYTES: usize = 4;
/// Bytes of an upload's seed.
pub(crate) const SEED_BYTES: usize = 32;

fn wire(detail: impl Into<String>) -> HeError {
    HeError::Wire(detail.into())
}

/// `body` followed by its CRC-32.
fn sealed(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// The body of a sealed frame of `expected` bytes, after its length and CRC-32 check out.
fn opened<'a>(bytes: &'a [u8], expected: u64, what: &str) -> Result<&'a [u8], HeError> {
    if bytes.len() as u64 != expected {
        return Err(wire(format!(
            "{what} of {} bytes, the plan's is {expected}",
            bytes.len()
        )));
    }
    let (body, crc) = bytes.split_at(bytes.len() - CRC_BYTES);
    let crc = u32::from_le_bytes(crc.try_into().expect("4-byte trailer"));
    if crc32fast::hash(body) != crc {
        return Err(wire(format!("{what} damaged: its CRC-32 does not match")));
    }
    Ok(body)
}

/// Values of up to 127 bits packed at `width` bits each, one after the other, little-endian
/// bit order (low 64 bits, then the rest; [`pack`] stops at 64 bits).
fn pack_wide(values: &[u128], width: u32) -> Vec<u8> {
    let mut out = BitWriter::with_capacity((values.len() * width as usize).div_ceil(8));
    for &v in values {
        out.put(v as u64, width.min(64));
        out.put((v >> 64) as u64, width.saturating_sub(64));
    }
    out.finish()
}

/// The inverse of [`pack_wide`] for `n` values; `bytes` must be exactly their length.
fn unpack_wide(bytes: &[u8], width: u32, n: usize, what: &str) -> Result<Vec<u128>, HeError> {
    let expected = (n * width as usize).div_ceil(8);
    if bytes.len() != expected {
        return Err(wire(format!(
            "{what} of {} bytes, expected {expected}",
            bytes.len()
        )));
    }
    let mut bits = BitReader::new(bytes);
    Ok((0..n)
        .map(|_| {
            let lo = u128::from(bits.take(width.min(64)));
            lo | u128::from(bits.take(width.saturating_sub(64))) << 64
        })
        .collect())
}

/// The integer in [0, Q) of each coefficient from its residues (Garner's mixed radix; Q
/// below 2^127).
fn crt(residues: &[Vec<u64>], ops: &[Modulus]) -> Vec<u128> {
    let n = residues[0].len();
    let mut x: Vec<u128> = residues[0].iter().map(|&r| u128::from(r)).collect();
    let mut radix = u128::from(*ops[0]);
    for (rows, q) in residues.iter().zip(ops).skip(1) {
        // (radix mod q)^(−1) mod q; q is prime.
        let inverse = q.pow(q.reduce_u128(radix), **q - 2);
        for (j, x) in x.iter_mut().enumerate().take(n) {
            let digit = q.mul(q.sub(rows[j], q.reduce_u128(*x)), inverse);
            *x += radix * u128::from(digit);
        }
        radix *= u128::from(**q);
    }
    x
}

/// The residue rows (modulus-major) of a polynomial in coefficient form.
fn rows_of(poly: &Poly) -> Vec<Vec<u64>> {
    poly.coefficients()
        .rows()
        .into_iter()
        .map(|row| row.to_vec())
        .collect()
}

/// A polynomial of `ctx` from residue rows, in NTT form.
fn ntt_poly(rows: Vec<Vec<u64>>, ctx: &Arc<Context>) -> Result<Poly, HeError> {
    let mut poly = Poly::try_convert_from(rows.concat(), ctx, true, Representation::PowerBasis)?;
    poly.change_representation(Representation::Ntt);
    Ok(poly)
}

/// The bytes of an upload whose c0 is `c0` (top level, coefficient form) and whose `a` came
/// from `seed`.
pub(crate) fn encode_upload(
    desc: &HeParamsDesc,
    drop: u32,
    c0: &Poly,
    seed: &[u8; SEED_BYTES],
) -> Vec<u8> {
    let rows = rows_of(c0);
    let mut out = seed.to_vec();
    match desc.top_modulus() {
        Some(q) => {
            let values: Vec<u128> = crt(&rows, c0.ctx().moduli_operators())
                .into_iter()
                .map(|x| round_away(x, drop))
                .collect();
            out.extend(pack_wide(&values, desc.upload_widths(drop)[0]));
            debug_assert!(values.iter().all(|&v| v <= rounded_max(q, drop)));
        }
        None => {
            for (row, width) in rows.iter().zip(desc.upload_widths(0)) {
                out.extend(pack(row, width));
            }
        }
    }
    sealed(out)
}

/// An upload's c0 (NTT form, top level) and seed, from its bytes; `ctx` is the top level's.
pub(crate) fn decode_upload(
    desc: &HeParamsDesc,
    drop: u32,
    bytes: &[u8],
    ctx: &Arc<Context>,
) -> Result<(Poly, [u8; SEED_BYTES]), HeError> {
    let body = opened(bytes, desc.upload_bytes(drop), "a ciphertext")?;
    let (seed, packed) = body.split_at(SEED_BYTES);
    let seed: [u8; SEED_BYTES] = seed.try_into().expect("32-byte seed");
    let n = desc.degree;
    let ops = ctx.moduli_operators();
    let rows = match desc.top_modulus() {
        Some(q) => {
            let values = unpack_wide(packed, desc.upload_widths(drop)[0], n, "c0")?;
            let max = rounded_max(q, drop);
            if let Some((k, v)) = values.iter().enumerate().find(|(_, &v)| v > max) {
                return Err(wire(format!(
                    "residue {k} of c0 is {v:#x}, not below the modulus Q = {q:#x} with {drop} \
                     bits rounded away (at most {max:#x})"
                )));
            }
            ops.iter()
                .map(|q| values.iter().map(|&v| q.reduce_u128(v << drop)).collect())
                .collect()
        }
        None => {
            let mut rest = packed;
            let mut rows = Vec::with_capacity(ops.len());
            for (i, (q, width)) in ops.iter().zip(desc.upload_widths(0)).enumerate() {
                let (row, tail) = rest.split_at((n * width as usize).div_ceil(8));
                let row = unpack(row, width, n, "residues").map_err(|e| wire(e.to_string()))?;
                if let Some((k, v)) = row.iter().enumerate().find(|(_, &v)| v >= **q) {
                    return Err(wire(format!(
                        "residue {k} of modulus {i} is {v:#x}, not below the modulus {:#x}",
                        **q
                    )));
                }
                rows.push(row);
                rest = tail;
            }
            rows
        }
    };
    Ok((ntt_poly(rows, ctx)?, seed))
}

/// The bytes of an answer: `c0` at `positions` and the whole `c1`, both at the last level in
/// coefficient form.
pub(crate) fn encode_answer(
    desc: &HeParamsDesc,
    bits: &WireBits,
    c0: &Poly,
    c1: &Poly,
    positions: &[usize],
) -> Vec<u8> {
    // [`HeParamsDesc::wire_bits`] drops nothing from answers with several moduli left.
    let (c0_drop, c1_drop) = (bits.c0_drop, bits.c1_drop);
    debug_assert!(desc.final_moduli == 1 || c0_drop + c1_drop == 0);
    let value_bytes = desc.c0_value_bytes(c0_drop);
    let mut out = Vec::with_capacity(desc.answer_bytes(positions.len(), c0_drop, c1_drop) as usize);
    for row in c0.coefficients().rows() {
        for &p in positions {
            let v = round_away(u128::from(row[p]), c0_drop) as u64;
            out.extend_from_slice(&v.to_le_bytes()[..value_bytes / desc.final_moduli]);
        }
    }
    for (row, width) in rows_of(c1).iter().zip(desc.c1_widths(c1_drop)) {
        let rounded: Vec<u64> = row
            .iter()
            .map(|&v| round_away(u128::from(v), c1_drop) as u64)
            .collect();
        out.extend(pack(&rounded, width));
    }
    sealed(out)
}

/// An answer's c0 (zero off `positions`) and c1, in NTT form at the last level (`ctx`).
pub(crate) fn decode_answer(
    desc: &HeParamsDesc,
    bits: &WireBits,
    bytes: &[u8],
    positions: &[usize],
    ctx: &Arc<Context>,
) -> Result<(Poly, Poly), HeError> {
    let (c0_drop, c1_drop) = (bits.c0_drop, bits.c1_drop);
    let expected = desc.answer_bytes(positions.len(), c0_drop, c1_drop);
    let body = opened(bytes, expected, "an answer")?;
    let n = desc.degree;
    let value_bytes = desc.c0_value_bytes(c0_drop) / desc.final_moduli;
    let (c0_bytes, mut c1_bytes) = body.split_at(positions.len() * value_bytes * desc.final_moduli);
    let ops = ctx.moduli_operators();
    let mut c0_rows = vec![vec![0u64; n]; desc.final_moduli];
    let mut c1_rows = Vec::with_capacity(desc.final_moduli);
    let widths = desc.c1_widths(c1_drop);
    for (i, (q, &width)) in ops.iter().zip(&widths).enumerate() {
        let modulus = u128::from(**q);
        let max = rounded_max(modulus, c0_drop);
        let own = &c0_bytes[i * positions.len() * value_bytes..][..positions.len() * value_bytes];
        for (chunk, &p) in own.chunks_exact(value_bytes).zip(positions) {
            let mut le = [0u8; 8];
            le[..value_bytes].copy_from_slice(chunk);
            let v = u128::from(u64::from_le_bytes(le));
            if v > max {
                return Err(wire(format!(
                    "an answer's c0 residue {v:#x} is not below its modulus {modulus:#x} \
                     ({c0_drop} bits rounded away: at most {max:#x})"
                )));
            }
            c0_rows[i][p] = restore(v, c0_drop, modulus) as u64;
        }
        let (row, tail) = c1_bytes.split_at((n * width as usize).div_ceil(8));
        c1_bytes = tail;
        let row = unpack(row, width, n, "c1").map_err(|e| wire(e.to_string()))?;
        let max = rounded_max(modulus, c1_drop);
        if let Some((k, v)) = row.iter().enumerate().find(|(_, &v)| u128::from(v) > max) {
            return Err(wire(format!(
                "an answer's c1 coefficient {k} is {v:#x}, not below its modulus {modulus:#x} \
                 ({c1_drop} bits rounded away: at most {max:#x})"
            )));
        }
        c1_rows.push(
            row.into_iter()
                .map(|v| restore(u128::from(v), c1_drop, modulus) as u64)
                .collect(),
        );
    }
    Ok((ntt_poly(c0_rows, ctx)?, ntt_poly(c1_rows, ctx)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_restores_within_half_a_step_modulo_q() {
        let q: u128 = (1 << 62) - 57;
        for drop in [0, 1, 7, 19, 40] {
            let max = rounded_max(q, drop);
            for x in [0, 1, q / 3, q - (1 << drop.saturating_sub(1)), q - 1] {
                let v = round_away(x, drop);
                assert!(v <= max);
                let back = restore(v, drop, q);
                let diff = (back + q - x) % q;
                let err = diff.min(q - diff);
                assert!(drop == 0 && err == 0 || err <= 1 << drop.saturating_sub(1));
            }
        }
    }

    #[test]
    fn wide_values_pack_and_unpack() {
        let values: Vec<u128> = (0..64u128)
            .map(|i| (i * 0x1234_5678_9abc_def1) << 50)
            .collect();
        for width in [112, 120, 127] {
            let mask = (1u128 << width) - 1;
            let masked: Vec<u128> = values.iter().map(|&v| v & mask).collect();
            let bytes = pack_wide(&masked, width);
            assert_eq!(bytes.len(), 64 * width as usize / 8);
            assert_eq!(unpack_wide(&bytes, width, 64, "x").unwrap(), masked);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever a peer seals (a correct CRC-32 over arbitrary bytes of the right
        /// length), decoding is an answer or an error, never a panic, for every drop.
        #[test]
        fn any_sealed_bytes_decode_or_fail_cleanly(
            seed in proptest::prelude::any::<u64>(),
            drop in 0u32..40,
            answer in proptest::prelude::any::<bool>(),
            values in 0usize..256,
        ) {
            use rand::{RngCore, SeedableRng};
            let desc = HeParamsDesc::custom(20, 256, &[50, 50], 24).unwrap();
            let params = super::super::HeParams::new(desc.clone()).unwrap();
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
            let (len, ctx_level) = if answer {
                (desc.answer_bytes(values, drop, drop), desc.moduli.len() - desc.final_moduli)
            } else {
                (desc.upload_bytes(drop), 0)
            };
            let mut body = vec![0u8; len as usize - CRC_BYTES];
            rng.fill_bytes(&mut body);
            // Saturated stretches too, where range checks bite.
            if seed % 2 == 0 {
                let at = (seed as usize / 2) % body.len();
                let end = (at + 24).min(body.len());
                body[at..end].fill(0xff);
            }
            let frame = sealed(body);
            let ctx = params.bfv().context_at_level(ctx_level).unwrap();
            if answer {
                let bits = WireBits {
                    weight_l1_bits: 20,
                    flood_bits: 40,
                    upload_drop: 0,
                    c0_drop: drop,
                    c1_drop: drop,
                };
                let positions: Vec<usize> = (0..values).collect();
                let _ = decode_answer(&desc, &bits, &frame, &positions, ctx);
            } else {
                let _ = decode_upload(&desc, drop, &frame, ctx);
            }
        }
    }

    #[test]
    fn sealed_frames_refuse_damage_and_wrong_lengths() {
        let frame = sealed(vec![1, 2, 3, 4, 5]);
        assert_eq!(opened(&frame, 9, "a frame").unwrap(), &[1, 2, 3, 4, 5]);
        let mut bad = frame.clone();
        bad[2] ^= 1;
        assert!(opened(&bad, 9, "a frame")
            .unwrap_err()
            .to_string()
            .contains("CRC-32"));
        assert!(opened(&frame, 10, "a frame").is_err());
    }
}
