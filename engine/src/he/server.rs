//! The server side of an HE linear layer: products with the centred weight polynomials,
//! masking, re-randomization, noise flooding and modulus switching (protocol in [`super`]).

use std::sync::Arc;

use fhe::bfv::Ciphertext;
use fhe_math::rq::{traits::TryConvertFrom, Context, Poly, Representation};
use fhe_traits::{DeserializeParametrized, Serialize};
use rand::RngCore;
use rand_chacha::ChaCha20Rng;

use super::error::check_len;
use super::packing::{
    answer_positions, effective_weights, output_slots, pack_input, pack_weight, weight_count,
    weight_uses,
};
use super::{HeError, HeParams, LinearPlan};

/// What the server returns and keeps for one layer.
#[derive(Debug, Clone)]
pub struct ServerOutput {
    /// Serialized ciphertexts for the client, one per [`LinearPlan::output_cts`].
    pub cts: Vec<Vec<u8>>,
    /// The server's output share r (layer output order).
    pub share: Vec<u64>,
}

/// The server side: holds the client's public key.
pub struct HeServer {
    params: HeParams,
    /// The client's encryption of zero (b, a), top level, NTT form.
    pk: Ciphertext,
    /// Δ = ⌊Q/t⌋ modulo each top-level modulus.
    delta: Vec<u64>,
    rng: ChaCha20Rng,
    /// The last answers as whole ciphertexts, for noise measurements in tests.
    #[cfg(test)]
    pub(crate) full_answers: Vec<Vec<u8>>,
}

impl HeServer {
    /// A server for the client whose serialized public key is `public_key`.
    pub fn new(params: HeParams, public_key: &[u8], rng: ChaCha20Rng) -> Result<Self, HeError> {
        let pk = Ciphertext::from_bytes(public_key, params.bfv())?;
        if pk.len() != 2 || pk[0].ctx() != params.bfv().context_at_level(0)? {
            return Err(HeError::Shape(
                "the public key is not a fresh top-level ciphertext".into(),
            ));
        }
        // Q ≡ 0 (mod q_i), so Δ·t = Q − (Q mod t) gives Δ ≡ −(Q mod t)·t⁻¹ (mod q_i).
        let desc = params.desc();
        let t_mask = desc.plaintext_modulus() - 1;
        let rho = desc.moduli.iter().fold(1u64, |a, &p| a.wrapping_mul(p)) & t_mask;
        let delta = pk[0]
            .ctx()
            .moduli_operators()
            .iter()
            .map(|q| {
                let t_inv = q.inv(q.reduce(desc.plaintext_modulus())).ok_or_else(|| {
                    HeError::Shape("the plaintext modulus is not invertible".into())
                })?;
                Ok(q.neg(q.mul(q.reduce(rho), t_inv)))
            })
            .collect::<Result<Vec<_>, HeError>>()?;
        Ok(Self {
            params,
            pk,
            delta,
            rng,
            #[cfg(test)]
            full_answers: Vec::new(),
        })
    }

    /// Evaluate the layer on the client's ciphertexts `cts` and the server's share `x_s`
    /// with weights `w` (layouts of [`super::LinearLayer::weight_len`], values mod 2^ℓ).
    pub fn evaluate(
        &mut self,
        plan: &LinearPlan,
        w: &[u64],
        x_s: &[u64],
        cts: &[Vec<u8>],
    ) -> Result<ServerOutput, HeError> {
        let layer = &plan.layer;
        check_len("weights", w.len(), layer.weight_len())?;
        check_len("server input share", x_s.len(), layer.input_len())?;
        check_len("client ciphertexts", cts.len(), plan.input_cts)?;
        let par = self.params.bfv().clone();
        let ell = self.params.ell();
        let ctx = par.context_at_level(0)?.clone();

        // Client ciphertexts plus Δ·x_s.
        let inputs = cts
            .iter()
            .zip(pack_input(plan, x_s, ell))
            .map(|(bytes, share)| {
                let ct = Ciphertext::from_bytes(bytes, &par)?;
                if ct.len() != 2 || ct[0].ctx() != &ctx {
                    return Err(HeError::Shape("a client ciphertext is not fresh".into()));
                }
                let m = self.scaled(&ctx, &share)?;
                let mut c0 = ct[0].clone();
                c0 += &m;
                Ok([c0, ct[1].clone()])
            })
            .collect::<Result<Vec<_>, HeError>>()?;

        // Products, one weight polynomial at a time; an answer is finished (masked,
        // flooded, switched down, serialized) as soon as its last product is in, so only the
        // answers in progress are held in memory.
        let w = effective_weights(plan, w);
        let uses = weight_uses(plan);
        debug_assert_eq!(weight_count(plan), uses.len());
        let mut pending = vec![0usize; plan.output_cts];
        uses.iter()
            .flatten()
            .for_each(|&(_, output)| pending[output] += 1);
        let mut acc: Vec<Option<[Poly; 2]>> = vec![None; plan.output_cts];
        let mut norms = vec![0u128; plan.output_cts];
        let positions = answer_positions(plan);
        let mut out_cts = vec![Vec::new(); plan.output_cts];
        #[cfg(test)]
        self.full_answers.clear();
        // The server's share: r at each answer's positions.
        let mut masks: Vec<Vec<u64>> = vec![Vec::new(); plan.output_cts];
        for (index, uses) in uses.iter().enumerate() {
            let coeffs = pack_weight(plan, &w, ell, index);
            let norm: u128 = coeffs.iter().map(|v| u128::from(v.unsigned_abs())).sum();
            let weight = weight_poly(&coeffs, &ctx)?;
            for &(input, output) in uses {
                norms[output] += norm;
                let [p0, p1] = [&inputs[input][0] * &weight, &inputs[input][1] * &weight];
                match &mut acc[output] {
                    Some([a0, a1]) => {
                        *a0 += &p0;
                        *a1 += &p1;
                    }
                    slot => *slot = Some([p0, p1]),
                }
                pending[output] -= 1;
                if pending[output] == 0 {
                    self.check_weight_norm(norms[output])?;
                    let [c0, c1] = acc[output].take().expect("an output with products");
                    let mask = self.uniform_mask();
                    out_cts[output] = self.finish(c0, c1, &mask, &ctx, &positions[output])?;
                    masks[output] = positions[output].iter().map(|&p| mask[p]).collect();
                }
            }
        }

        let share = output_slots(plan)
            .iter()
            .map(|slot| {
                let at = positions[slot.ct]
                    .binary_search(&slot.coeff)
                    .expect("every output slot is an answer position");
                masks[slot.ct][at]
            })
            .collect();
        Ok(ServerOutput {
            cts: out_cts,
            share,
        })
    }

    /// Mask, re-randomize, flood and switch down one answer `(c0, c1)` (top level, NTT), and
    /// serialize it: c0 at `positions` only (8-byte residues, modulus-major), then c1.
    fn finish(
        &mut self,
        mut c0: Poly,
        mut c1: Poly,
        mask: &[u64],
        ctx: &Arc<Context>,
        positions: &[usize],
    ) -> Result<Vec<u8>, HeError> {
        // Enc_pk(0) = (u·b + flood, u·a + e2); the flood also plays the part of e1.
        let u = self.small_poly(ctx)?;
        c0 += &(&u * &self.pk[0]);
        c1 += &(&u * &self.pk[1]);
        c0.change_representation(Representation::PowerBasis);
        c1.change_representation(Representation::PowerBasis);

        let bits = self.params.desc().flood_bits;
        let mut extra0 = Vec::with_capacity(ctx.moduli().len() * mask.len());
        let mut flood = Vec::with_capacity(mask.len());
        for _ in 0..mask.len() {
            flood.push(uniform_wide(&mut self.rng, bits));
        }
        for (q, d) in ctx.moduli_operators().iter().zip(&self.delta) {
            let two64 = q.reduce_u128(1u128 << 64);
            for (&(hi, lo), &r) in flood.iter().zip(mask) {
                let hi_q = if hi >= 0 {
                    q.reduce_u128(hi as u128)
                } else {
                    q.neg(q.reduce_u128(hi.unsigned_abs()))
                };
                let v = q.add(q.mul(hi_q, two64), q.reduce(lo));
                extra0.push(q.sub(v, q.mul(*d, q.reduce(r))));
            }
        }
        c0 += &Poly::try_convert_from(extra0, ctx, true, Representation::PowerBasis)?;
        let e2 = cbd(&mut self.rng, mask.len());
        c1 += &Poly::try_convert_from(e2.as_slice(), ctx, true, Representation::PowerBasis)?;

        let switches = self.params.desc().moduli.len() - self.params.desc().final_moduli;
        for _ in 0..switches {
            c0.switch_down()?;
            c1.switch_down()?;
        }
        c1.change_representation(Representation::Ntt);
        let residues = c0.coefficients();
        let mut bytes = Vec::with_capacity(residues.nrows() * positions.len() * 8);
        for row in residues.rows() {
            for &p in positions {
                bytes.extend_from_slice(&row[p].to_le_bytes());
            }
        }
        bytes.extend_from_slice(&c1.to_bytes());
        #[cfg(test)]
        {
            c0.change_representation(Representation::Ntt);
            let full = Ciphertext::new(vec![c0, c1], self.params.bfv())?;
            self.full_answers.push(full.to_bytes());
        }
        Ok(bytes)
    }

    /// Δ·m in NTT form, m in [0, 2^ℓ) per coefficient.
    fn scaled(&self, ctx: &Arc<Context>, m: &[u64]) -> Result<Poly, HeError> {
        let mut residues = Vec::with_capacity(ctx.moduli().len() * m.len());
        for (q, d) in ctx.moduli_operators().iter().zip(&self.delta) {
            residues.extend(m.iter().map(|&v| q.mul(*d, q.reduce(v))));
        }
        let mut poly = Poly::try_convert_from(residues, ctx, true, Representation::PowerBasis)?;
        poly.change_representation(Representation::Ntt);
        Ok(poly)
    }

    /// Reject weights whose noise would exceed what the flooding was sized for.
    fn check_weight_norm(&self, worst: u128) -> Result<(), HeError> {
        let limit_bits = self.params.desc().weight_l1_bits;
        if worst > 1u128 << limit_bits {
            return Err(HeError::WeightNorm {
                actual_bits: (worst as f64).log2(),
                limit_bits,
            });
        }
        Ok(())
    }

    /// N coefficients uniform in [0, 2^ℓ).
    fn uniform_mask(&mut self) -> Vec<u64> {
        let mask = (1u64 << self.params.ell()) - 1;
        (0..self.params.degree())
            .map(|_| self.rng.next_u64() & mask)
            .collect()
    }

    /// A CBD(variance 10) polynomial in NTT form.
    fn small_poly(&mut self, ctx: &Arc<Context>) -> Result<Poly, HeError> {
        let coeffs = cbd(&mut self.rng, self.params.degree());
        let mut poly =
            Poly::try_convert_from(coeffs.as_slice(), ctx, true, Representation::PowerBasis)?;
        poly.change_representation(Representation::Ntt);
        Ok(poly)
    }
}

/// `n` samples of the centred binomial distribution with variance 10 (as the crate's keys).
fn cbd(rng: &mut ChaCha20Rng, n: usize) -> Vec<i64> {
    (0..n)
        .map(|_| {
            let x = rng.next_u64();
            i64::from((x & 0xf_ffff).count_ones()) - i64::from(((x >> 20) & 0xf_ffff).count_ones())
        })
        .collect()
}

/// v uniform in [-2^bits, 2^bits) as (hi, lo) with v = hi·2^64 + lo; bits ≤ 190.
fn uniform_wide(rng: &mut ChaCha20Rng, bits: u32) -> (i128, u64) {
    if bits >= 64 {
        (uniform_signed(rng, bits - 64), rng.next_u64())
    } else {
        let v = uniform_signed(rng, bits);
        (v >> 64, v as u64)
    }
}

/// Uniform in [-2^bits, 2^bits), bits ≤ 126.
fn uniform_signed(rng: &mut ChaCha20Rng, bits: u32) -> i128 {
    let raw = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
    let masked = raw & ((1u128 << (bits + 1)) - 1);
    masked as i128 - (1i128 << bits)
}

/// A centred weight polynomial in the top-level context, NTT form. The residues are
/// written directly (weights are sparse) and converted in variable time: the weights never
/// leave the server.
fn weight_poly(coeffs: &[i64], ctx: &Arc<Context>) -> Result<Poly, HeError> {
    let n = coeffs.len();
    let mut residues = vec![0u64; ctx.moduli().len() * n];
    for (i, &q) in ctx.moduli().iter().enumerate() {
        for (k, &v) in coeffs.iter().enumerate().filter(|(_, v)| **v != 0) {
            let r = v.unsigned_abs() % q;
            residues[i * n + k] = if v < 0 && r != 0 { q - r } else { r };
        }
    }
    let mut poly = Poly::try_convert_from(residues, ctx, true, Representation::PowerBasis)?;
    poly.change_representation(Representation::Ntt);
    Ok(poly)
}
