//! The server side of an HE linear layer: products with the centred weight polynomials,
//! masking, re-randomization, noise flooding and modulus switching (protocol in [`super`]).

use std::sync::Arc;

use fhe::bfv::Ciphertext;
use fhe_math::rq::{dot_product, traits::TryConvertFrom, Context, Poly, Representation};
use fhe_traits::DeserializeParametrized;
#[cfg(test)]
use fhe_traits::Serialize;
use rand::RngCore;
use rand_chacha::ChaCha20Rng;

use super::compact;
use super::error::check_len;
use super::packing::{
    answer_order, answer_positions, effective_weights, output_slots, pack_input, pack_weight,
    weight_count, weight_uses,
};
use super::parallel::{in_parts, part_count, part_rng, part_seeds};
use super::params::{cbd, WireBits};
use super::wire;
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
    key: ServerKey,
    rng: ChaCha20Rng,
    /// Worker threads for a layer's answers (1: the calling thread only).
    threads: usize,
    /// The last answers as whole ciphertexts, for noise measurements in tests.
    #[cfg(test)]
    pub(crate) full_answers: Vec<Vec<u8>>,
}

/// What every answer needs and no answer changes: shared by the workers of a layer.
struct ServerKey {
    params: HeParams,
    /// The client's encryption of zero (b, a), top level, NTT form.
    pk: Ciphertext,
    /// Δ = ⌊Q/t⌋ modulo each top-level modulus.
    delta: Vec<u64>,
}

/// One layer's evaluation state that the workers read.
struct LayerJob<'a> {
    plan: &'a LinearPlan,
    /// Effective weights ([`effective_weights`]).
    w: &'a [u64],
    /// For each weight polynomial, its (input, output) products ([`weight_uses`]).
    uses: &'a [Vec<(usize, usize)>],
    /// Client ciphertexts plus Δ·x_s, top level, NTT form.
    inputs: &'a [[Poly; 2]],
    /// Each answer's output coefficients ([`answer_positions`]).
    positions: &'a [Vec<usize>],
    ctx: &'a Arc<Context>,
}

/// One finished answer.
struct Answer {
    output: usize,
    /// Serialized for the client.
    bytes: Vec<u8>,
    /// The server's share r at the answer's positions.
    share: Vec<u64>,
    /// The whole ciphertext, for noise measurements in tests.
    #[cfg(test)]
    full: Vec<u8>,
}

impl HeServer {
    /// A server for the client whose serialized public key is `public_key`.
    pub fn new(params: HeParams, public_key: &[u8], rng: ChaCha20Rng) -> Result<Self, HeError> {
        wire::check_seeded_ciphertext(public_key, params.desc())?;
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
            key: ServerKey { params, pk, delta },
            rng,
            threads: 1,
            #[cfg(test)]
            full_answers: Vec::new(),
        })
    }

    /// The same server with `threads` workers per layer (at least 1; 1, the default, runs
    /// on the calling thread). The answers are independent: each worker finishes its own
    /// answers with an RNG seeded from the server's, so a seeded server is reproducible
    /// for a given thread count.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Worker threads per layer.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Evaluate the layer on the client's ciphertexts `cts` and the server's share `x_s`
    /// with weights `w` (layouts of [`super::LinearLayer::weight_len`], values mod 2^ℓ).
    /// The answers are split over [`Self::threads`] workers; `cts` of the output are in
    /// answer order whatever the thread count.
    pub fn evaluate(
        &mut self,
        plan: &LinearPlan,
        w: &[u64],
        x_s: &[u64],
        cts: &[Vec<u8>],
    ) -> Result<ServerOutput, HeError> {
        let mut out_cts = vec![Vec::new(); plan.output_cts];
        let share = self.evaluate_streaming(plan, w, x_s, cts, |output, bytes| {
            out_cts[output] = bytes;
            Ok::<(), HeError>(())
        })?;
        Ok(ServerOutput {
            cts: out_cts,
            share,
        })
    }

    /// [`Self::evaluate`], handing each serialized answer to `emit(output, bytes)` in
    /// [`answer_order`] (the wire order) and returning the server's share. On one thread
    /// every answer is emitted the moment its last product is summed, so the caller can
    /// send it while the next is computed and the client decrypts it meanwhile (issue 15,
    /// both parties at once); with more threads they are emitted at the end, in the same
    /// order. An error from `emit` stops the evaluation.
    pub fn evaluate_streaming<E: From<HeError>>(
        &mut self,
        plan: &LinearPlan,
        w: &[u64],
        x_s: &[u64],
        cts: &[Vec<u8>],
        mut emit: impl FnMut(usize, Vec<u8>) -> Result<(), E>,
    ) -> Result<Vec<u64>, E> {
        let layer = &plan.layer;
        check_len("weights", w.len(), layer.weight_len())?;
        check_len("server input share", x_s.len(), layer.input_len())?;
        check_len("client ciphertexts", cts.len(), plan.input_cts)?;
        let key = &self.key;
        let par = key.params.bfv().clone();
        let ell = key.params.ell();
        let ctx = par.context_at_level(0).map_err(HeError::from)?.clone();

        let shares = pack_input(plan, x_s, ell);
        let parts = part_count(cts.len(), self.threads);
        let mut inputs = Vec::with_capacity(cts.len());
        for part in in_parts(cts.len(), parts, |_, range| {
            cts[range.clone()]
                .iter()
                .zip(&shares[range])
                .map(|(bytes, share)| {
                    let (mut c0, seed) = compact::decode_upload(
                        key.params.desc(),
                        plan.wire.upload_drop,
                        bytes,
                        &ctx,
                    )?;
                    // The client's `a`, regenerated as the `fhe` crate does for its seeded
                    // ciphertexts.
                    let c1 = Poly::random_from_seed(&ctx, Representation::Ntt, seed);
                    c0 += &key.scaled(&ctx, share)?;
                    Ok([c0, c1])
                })
                .collect::<Result<Vec<_>, HeError>>()
        }) {
            inputs.extend(part?);
        }

        let w = effective_weights(plan, w);
        let uses = weight_uses(plan);
        debug_assert_eq!(weight_count(plan), uses.len());
        let positions = answer_positions(plan);
        let job = LayerJob {
            plan,
            w: &w,
            uses: &uses,
            inputs: &inputs,
            positions: &positions,
            ctx: &ctx,
        };
        let wire_order = answer_order(plan);
        let mut masks: Vec<Vec<u64>> = vec![Vec::new(); plan.output_cts];
        #[cfg(test)]
        let mut full = vec![Vec::new(); plan.output_cts];
        let all_outputs = vec![true; plan.output_cts];
        let order = output_order(&uses, plan.output_cts);
        let parts = part_count(order.len(), self.threads);
        if parts == 1 {
            // Streamed: the walk finishes answers in `wire_order` by construction.
            let mut next = 0;
            key.answers(&job, &all_outputs, &mut self.rng, &mut |answer: Answer| {
                debug_assert_eq!(
                    wire_order[next], answer.output,
                    "answers leave in wire order"
                );
                next += 1;
                masks[answer.output] = answer.share;
                #[cfg(test)]
                {
                    full[answer.output] = answer.full;
                }
                emit(answer.output, answer.bytes)
            })?;
        } else {
            let seeds = part_seeds(&mut self.rng, parts);
            let mut answers: Vec<Option<Answer>> = (0..plan.output_cts).map(|_| None).collect();
            for part in in_parts(order.len(), parts, |index, range| {
                let mut mine = vec![false; plan.output_cts];
                order[range].iter().for_each(|&output| mine[output] = true);
                let mut done = Vec::new();
                key.answers(&job, &mine, &mut part_rng(seeds[index]), &mut |a| {
                    done.push(a);
                    Ok::<(), HeError>(())
                })?;
                Ok::<_, HeError>(done)
            }) {
                for answer in part? {
                    let output = answer.output;
                    answers[output] = Some(answer);
                }
            }
            for &output in &wire_order {
                let answer = answers[output].take().expect("every output is answered");
                masks[output] = answer.share;
                #[cfg(test)]
                {
                    full[output] = answer.full;
                }
                emit(output, answer.bytes)?;
            }
        }

        #[cfg(test)]
        {
            self.full_answers = full;
        }
        Ok(output_slots(plan)
            .iter()
            .map(|slot| {
                let at = positions[slot.ct]
                    .binary_search(&slot.coeff)
                    .expect("every output slot is an answer position");
                masks[slot.ct][at]
            })
            .collect())
    }
}

fn output_order(uses: &[Vec<(usize, usize)>], outputs: usize) -> Vec<usize> {
    let mut seen = vec![false; outputs];
    let mut order = Vec::with_capacity(outputs);
    for &(_, output) in uses.iter().flatten() {
        if !std::mem::replace(&mut seen[output], true) {
            order.push(output);
        }
    }
    order
}

impl ServerKey {
    /// Products for the answers marked in `mine`, walking the weight polynomials in order
    /// and encoding each once; an answer is computed, finished (masked, flooded, switched
    /// down, serialized) and handed to `sink` as soon as its last weight is encoded, so
    /// answers come back in the order they were finished and only the weights some
    /// unfinished answer still needs are held in memory.
    ///
    /// An answer's sum of products is one [`dot_product`] per ciphertext half: the
    /// products accumulate as 128-bit integers and are reduced once at the end. Engine
    /// 0.6.0 multiplied into a fresh polynomial per product (an allocation, a copy of the
    /// input and a reduction per coefficient) and added it to the answer; the residues are
    /// the same, the answers bit for bit identical.
    fn answers<E: From<HeError>>(
        &self,
        job: &LayerJob<'_>,
        mine: &[bool],
        rng: &mut ChaCha20Rng,
        sink: &mut dyn FnMut(Answer) -> Result<(), E>,
    ) -> Result<(), E> {
        let (plan, ctx) = (job.plan, job.ctx);
        let ell = self.params.ell();
        // Each answer's (input, weight) terms, and how many terms of unfinished answers
        // still need each weight.
        let mut terms: Vec<Vec<(usize, usize)>> = vec![Vec::new(); plan.output_cts];
        let mut needed = vec![0usize; job.uses.len()];
        for (index, uses) in job.uses.iter().enumerate() {
            for &(input, output) in uses.iter().filter(|&&(_, output)| mine[output]) {
                terms[output].push((input, index));
                needed[index] += 1;
            }
        }
        let mut pending: Vec<usize> = terms.iter().map(Vec::len).collect();
        let mut weights: Vec<Option<Poly>> = vec![None; job.uses.len()];
        let mut norms = vec![0u128; plan.output_cts];
        for (index, uses) in job.uses.iter().enumerate() {
            if needed[index] == 0 {
                continue;
            }
            let coeffs = pack_weight(plan, job.w, ell, index);
            let norm: u128 = coeffs.iter().map(|v| u128::from(v.unsigned_abs())).sum();
            weights[index] = Some(weight_poly(&coeffs, ctx)?);
            for &(_, output) in uses.iter().filter(|&&(_, output)| mine[output]) {
                norms[output] += norm;
                pending[output] -= 1;
                if pending[output] == 0 {
                    self.check_weight_norm(norms[output], plan.wire.weight_l1_bits)?;
                    let [c0, c1] = self.sum_of_products(job, &terms[output], &weights)?;
                    for &(_, weight) in &terms[output] {
                        needed[weight] -= 1;
                        if needed[weight] == 0 {
                            weights[weight] = None;
                        }
                    }
                    let positions = &job.positions[output];
                    let mask = self.uniform_mask(rng, positions.len());
                    let (bytes, _full) =
                        self.finish(c0, c1, &mask, ctx, &plan.wire, positions, rng)?;
                    sink(Answer {
                        output,
                        bytes,
                        share: mask,
                        #[cfg(test)]
                        full: _full,
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Σ input × weight over an answer's `terms` (input index, weight index), both halves.
    fn sum_of_products(
        &self,
        job: &LayerJob<'_>,
        terms: &[(usize, usize)],
        weights: &[Option<Poly>],
    ) -> Result<[Poly; 2], HeError> {
        let weight = |&(_, w): &(usize, usize)| -> &Poly {
            weights[w]
                .as_ref()
                .expect("an unfinished answer's weights are kept")
        };
        let half = |k: usize| -> Result<Poly, HeError> {
            Ok(dot_product(
                terms.iter().map(|&(input, _)| &job.inputs[input][k]),
                terms.iter().map(weight),
            )?)
        };
        Ok([half(0)?, half(1)?])
    }

    /// Mask (by `mask`, the masks of the output `positions`), re-randomize, flood (at the
    /// layer's `bits.flood_bits`) and switch down one answer `(c0, c1)` (top level, NTT),
    /// and serialize it ([`compact::encode_answer`]: c0 at `positions` only, then c1, with
    /// the layer's low bits rounded away). Also returns the whole ciphertext, unrounded, in
    /// tests (empty otherwise).
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        mut c0: Poly,
        mut c1: Poly,
        mask: &[u64],
        ctx: &Arc<Context>,
        bits: &WireBits,
        positions: &[usize],
        rng: &mut ChaCha20Rng,
    ) -> Result<(Vec<u8>, Vec<u8>), HeError> {
        // Enc_pk(0) = (u·b + flood, u·a + e2); the flood also plays the part of e1.
        let u = self.small_poly(ctx, rng)?;
        c0 += &(&u * &self.pk[0]);
        c1 += &(&u * &self.pk[1]);
        c0.change_representation(Representation::PowerBasis);
        c1.change_representation(Representation::PowerBasis);

        // Flood and mask only the output coefficients (`mask` holds their masks): c0 leaves
        // at those alone, so nothing the client sees depends on the others (c1, sent whole,
        // is re-randomized by u·a + e2 on every coefficient). Engine 0.8.0 drew both for all
        // N coefficients, 80 % of them unused in a typical answer.
        let n = self.params.degree();
        let flood_bits = bits.flood_bits;
        let mut extra0 = vec![0u64; ctx.moduli().len() * n];
        let flood: Vec<(i128, u64)> = mask.iter().map(|_| uniform_wide(rng, flood_bits)).collect();
        for ((q, d), row) in ctx
            .moduli_operators()
            .iter()
            .zip(&self.delta)
            .zip(extra0.chunks_exact_mut(n))
        {
            let two64 = q.reduce_u128(1u128 << 64);
            for ((&(hi, lo), &r), &p) in flood.iter().zip(mask).zip(positions) {
                let hi_q = if hi >= 0 {
                    q.reduce_u128(hi as u128)
                } else {
                    q.neg(q.reduce_u128(hi.unsigned_abs()))
                };
                let v = q.add(q.mul(hi_q, two64), q.reduce(lo));
                row[p] = q.sub(v, q.mul(*d, q.reduce(r)));
            }
        }
        c0 += &Poly::try_convert_from(extra0, ctx, true, Representation::PowerBasis)?;
        let e2 = cbd(rng, mask.len());
        c1 += &Poly::try_convert_from(e2.as_slice(), ctx, true, Representation::PowerBasis)?;

        let switches = self.params.desc().moduli.len() - self.params.desc().final_moduli;
        for _ in 0..switches {
            c0.switch_down()?;
            c1.switch_down()?;
        }
        let bytes = compact::encode_answer(self.params.desc(), bits, &c0, &c1, positions);
        #[cfg(test)]
        let full = {
            c0.change_representation(Representation::Ntt);
            c1.change_representation(Representation::Ntt);
            Ciphertext::new(vec![c0, c1], self.params.bfv())?.to_bytes()
        };
        #[cfg(not(test))]
        let full = Vec::new();
        Ok((bytes, full))
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

    /// Reject weights whose noise would exceed what the layer's flooding was sized for
    /// (`limit_bits`, the layer's [`WireBits::weight_l1_bits`]).
    fn check_weight_norm(&self, worst: u128, limit_bits: u32) -> Result<(), HeError> {
        if worst > 1u128 << limit_bits {
            return Err(HeError::WeightNorm {
                actual_bits: (worst as f64).log2(),
                limit_bits,
            });
        }
        Ok(())
    }

    /// `count` values uniform in [0, 2^ℓ): the masks of an answer's output coefficients.
    fn uniform_mask(&self, rng: &mut ChaCha20Rng, count: usize) -> Vec<u64> {
        let mask = (1u64 << self.params.ell()) - 1;
        (0..count).map(|_| rng.next_u64() & mask).collect()
    }

    /// A CBD(variance 10) polynomial in NTT form.
    fn small_poly(&self, ctx: &Arc<Context>, rng: &mut ChaCha20Rng) -> Result<Poly, HeError> {
        let coeffs = cbd(rng, self.params.degree());
        let mut poly =
            Poly::try_convert_from(coeffs.as_slice(), ctx, true, Representation::PowerBasis)?;
        poly.change_representation(Representation::Ntt);
        Ok(poly)
    }
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
