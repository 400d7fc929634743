//! BFV parameters for the linear layers: degree, ciphertext moduli, plaintext modulus 2^ℓ,
//! and the noise budget that decides how much flooding noise the server can add.
//!
//! Two types, one per phase: [`HeParamsDesc`] is the serializable choice (pure arithmetic,
//! cheap, what planners and predictors read), [`HeParams`] holds the built
//! `Arc<BfvParameters>` that every ciphertext, key and plaintext of a session shares.
//!
//! Noise accounting (worst case, no heuristics). The ciphertext moduli are primes
//! p ≡ 1 (mod 2^ℓ) when such primes exist, so Q ≡ 1 (mod t) and the ct×pt product adds no
//! `(Q mod t)·k` term; with centred weights the weight-dependent noise after the layer is at
//! most `2^l1 · (B_e + ρ)`, where `l1` bounds every output's weight L1 norm, `B_e = 20` is
//! the fresh-encryption bound of the crate's CBD(variance 10) noise and `ρ = Q mod t`. The
//! server floods with uniform noise in `[-2^f, 2^f)`, `f` as large as the last level allows
//! with one bit spare, and the margin is `f − log2(weight noise)`.
//!
//! Per layer ([`HeParamsDesc::wire_bits`]) the weight bound is the layer's own (how many
//! weights feed one answer, from its packing), usually far below the session's. The flood is
//! then only as large as the session's margin needs, and the room it leaves at the last
//! level pays for rounding away low-order bits on the wire: of the client's uploads (the
//! rounding joins the fresh noise the weights multiply), of the answers' c1 (the error is
//! multiplied by the secret key, whose L1 norm the client keeps below [`SECRET_L1_MAX`] per
//! coefficient) and of their c0 values (added as is). Every bound stays worst case.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use fhe::bfv::{BfvParameters, BfvParametersBuilder};
use fhe_math::zq::primes::generate_prime;
use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use super::HeError;

/// Flooding margin (bits of statistical hiding per coefficient) that
/// [`HeParamsDesc::for_bitlen`] requires.
pub const FLOOD_MARGIN_BITS: u32 = 40;

/// Default bound on log2 of the weight L1 norm feeding any answer ciphertext: a CONV fan-in
/// up to 2^16 (e.g. 7·7·1024) times centred weights below 2^16 (|w| < 16 at scale 12) is
/// 2^32; the 3 extra bits leave room for FC blocks, whose every coefficient's noise sums a
/// whole `d0 × n_in` block. The largest value that keeps the 40-bit margin at ℓ = 41.
pub const DEFAULT_WEIGHT_L1_BITS: u32 = 35;

/// Largest flooding exponent the sampler supports (a signed 64+127-bit draw).
pub(crate) const MAX_FLOOD_BITS: u32 = 190;

/// Error variance of the crate's centred binomial sampler (its default).
const VARIANCE: usize = 10;

/// Largest CBD(variance 10) sample: the fresh-encryption noise bound.
const FRESH_NOISE: f64 = 2.0 * VARIANCE as f64;

/// The client's secret key has L1 norm at most this many times the degree: it redraws a key
/// above it ([`super::HeClient::new`]). A CBD(10) coefficient's mean absolute value is
/// ≈ 2.52 and the norm's standard deviation ≈ 1.9·√N, so at N = 8192 the bound is 23
/// standard deviations out and no key is ever redrawn; it replaces the per-coefficient
/// worst case (20·N) in the modulus switch's rounding and the answers' c1 rounding.
pub const SECRET_L1_MAX: usize = 3;

/// Assumed bound on one centred weight (|w| < 2^20, 256 at scale 12) when a layer's own
/// weight bound is its count of weights per answer times this; the server refuses weights
/// whose L1 norm per answer exceeds the layer's bound, as it did the session's.
const LAYER_WEIGHT_BITS: u32 = 20;

/// Low-order bits one linear layer drops on the wire, and its flooding: chosen from public
/// values only (the parameters and the layer's packing), so both parties derive them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WireBits {
    /// Bound on log2 of the L1 norm of the centred weights feeding any answer ciphertext of
    /// the layer (at most the session's [`HeParamsDesc::weight_l1_bits`]).
    pub weight_l1_bits: u32,
    /// The layer's flooding noise is uniform in `[-2^flood_bits, 2^flood_bits)`.
    pub flood_bits: u32,
    /// Low bits rounded away from every coefficient of an upload's c0 (as one integer mod
    /// the top-level Q; 0 when Q does not fit 127 bits).
    pub upload_drop: u32,
    /// Low bits rounded away from each c0 value of an answer (0 unless one modulus is left).
    pub c0_drop: u32,
    /// Low bits rounded away from each coefficient of an answer's c1 (likewise).
    pub c1_drop: u32,
}

/// `n` samples of the centred binomial distribution with variance 10 (as the crate's keys).
pub(crate) fn cbd(rng: &mut ChaCha20Rng, n: usize) -> Vec<i64> {
    (0..n)
        .map(|_| {
            let x = rng.next_u64();
            i64::from((x & 0xf_ffff).count_ones()) - i64::from(((x >> 20) & 0xf_ffff).count_ones())
        })
        .collect()
}

/// Bits to store `max` (at least 1).
fn bits_of(max: u128) -> u32 {
    (128 - max.leading_zeros()).max(1)
}

/// Width of a value of [0, modulus) with `drop` low bits rounded away: the largest rounded
/// value is ⌊(modulus − 1 + 2^(drop−1)) / 2^drop⌋.
pub(crate) fn rounded_width(modulus: u128, drop: u32) -> u32 {
    bits_of(rounded_max(modulus, drop))
}

/// The largest value [`round_away`] gives for residues mod `modulus`.
pub(crate) fn rounded_max(modulus: u128, drop: u32) -> u128 {
    round_away(modulus - 1, drop)
}

/// `v` with `drop` low bits rounded away (to nearest).
pub(crate) fn round_away(v: u128, drop: u32) -> u128 {
    if drop == 0 {
        v
    } else {
        (v + (1u128 << (drop - 1))) >> drop
    }
}

/// The residue mod `modulus` a rounded value (at most [`rounded_max`]) stands for, error at
/// most 2^(drop−1): `v·2^drop` is below `modulus + 2^drop`, so one subtraction reduces it
/// (for drops below the modulus' size; a u128 division per coefficient was the slow part).
pub(crate) fn restore(v: u128, drop: u32, modulus: u128) -> u128 {
    let x = v << drop;
    if x >= modulus {
        x - modulus
    } else {
        x
    }
}

/// Largest log2 Q per degree for 128-bit security (homomorphicencryption.org standard).
const SECURE_LOGQ: [(usize, u32); 4] = [(4096, 109), (8192, 218), (16384, 438), (32768, 881)];

/// A chosen BFV parameter set and its noise budget; serializable and cheap to compute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeParamsDesc {
    /// Polynomial degree N.
    pub degree: usize,
    /// Ciphertext moduli, largest first; the first `final_moduli` remain at the last level.
    pub moduli: Vec<u64>,
    /// Bit size of each modulus.
    pub moduli_bits: Vec<u32>,
    /// Number of moduli kept after switching down (the server returns ciphertexts at level
    /// `moduli.len() − final_moduli`).
    pub final_moduli: usize,
    /// ℓ: the plaintext modulus is 2^ℓ.
    pub plaintext_bits: u32,
    /// Bound on log2 of the L1 norm of the centred weights feeding any output coefficient.
    pub weight_l1_bits: u32,
    /// Flooding noise is uniform in `[-2^flood_bits, 2^flood_bits)`.
    pub flood_bits: u32,
    /// log2(flooding bound / worst-case weight-dependent noise).
    pub flood_margin_bits: f64,
    /// Worst-case noise budget left at the last level after a layer, in bits (> 0 decrypts).
    pub final_budget_bits: f64,
}

impl HeParamsDesc {
    /// The cheapest secure parameters for shares in Z_{2^ℓ} that keep a
    /// [`FLOOD_MARGIN_BITS`] flooding margin with the default weight bound.
    pub fn for_bitlen(ell: u32) -> Result<Self, HeError> {
        Self::for_margin(ell, FLOOD_MARGIN_BITS)
    }

    /// The cheapest secure parameters for shares in Z_{2^ℓ} that keep a flooding margin of
    /// `required` bits per revealed coefficient with the default weight bound: a larger
    /// degree or more moduli (a third, a fourth) when the cheaper ones fall short.
    pub fn for_margin(ell: u32, required: u32) -> Result<Self, HeError> {
        // The search generates NTT-friendly primes (a few milliseconds); `snni predict` and
        // the dataset builder plan many networks with the same ℓ, so the answers are kept
        // for the process (a std map: a handful of entries, no eviction needed).
        static CHOSEN: Mutex<BTreeMap<(u32, u32), HeParamsDesc>> = Mutex::new(BTreeMap::new());
        let key = (ell, required);
        if let Some(desc) = CHOSEN
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(desc.clone());
        }
        let desc = Self::search_margin(ell, required)?;
        CHOSEN
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, desc.clone());
        Ok(desc)
    }

    /// [`HeParamsDesc::for_margin`] without the memo.
    fn search_margin(ell: u32, required: u32) -> Result<Self, HeError> {
        check_ell(ell)?;
        let mut candidates: Vec<(usize, usize, u32)> = Vec::new();
        for &(degree, max_logq) in &SECURE_LOGQ {
            let total = max_logq.min(62 * 14);
            for count in 2..=total.div_ceil(62) as usize {
                candidates.push((degree, count, total.min(62 * count as u32)));
            }
        }
        candidates.sort_by_key(|&(degree, count, _)| (degree * count, degree));
        for (degree, count, total) in candidates {
            let bits = split_bits(total, count);
            let Ok(desc) = Self::with_margin(ell, degree, &bits, DEFAULT_WEIGHT_L1_BITS, required)
            else {
                continue;
            };
            if desc.flood_margin_bits >= f64::from(required) {
                return Ok(desc);
            }
        }
        Err(HeError::NoParameters { ell, required })
    }

    /// Parameters with an explicit degree and moduli sizes (largest first), for tests and
    /// experiments; no security or margin requirement, only correct decryption.
    pub fn custom(
        ell: u32,
        degree: usize,
        moduli_bits: &[u32],
        weight_l1_bits: u32,
    ) -> Result<Self, HeError> {
        Self::with_margin(ell, degree, moduli_bits, weight_l1_bits, FLOOD_MARGIN_BITS)
    }

    /// [`HeParamsDesc::custom`], keeping as few moduli at the last level as a `required`-bit
    /// margin allows (else the best margin).
    fn with_margin(
        ell: u32,
        degree: usize,
        moduli_bits: &[u32],
        weight_l1_bits: u32,
        required: u32,
    ) -> Result<Self, HeError> {
        check_ell(ell)?;
        if !degree.is_power_of_two() || degree < 8 || moduli_bits.is_empty() {
            return Err(HeError::Shape(format!(
                "degree {degree} with {} moduli is not a valid BFV ring",
                moduli_bits.len()
            )));
        }
        // The crate computes −t mod q_i without reducing t first: every q_i must exceed t.
        if let Some(&bits) = moduli_bits.iter().find(|&&b| b <= ell) {
            return Err(HeError::ModulusTooSmall { bits, ell });
        }
        let moduli = find_moduli(ell, degree, moduli_bits)?;
        // Keep as few moduli at the last level as the margin allows; else the best margin.
        let budgets: Vec<(usize, Budget)> = (1..=moduli.len())
            .filter_map(|kept| {
                Budget::compute(ell, degree, &moduli, kept, weight_l1_bits).map(|b| (kept, b))
            })
            .collect();
        let (final_moduli, budget) = budgets
            .iter()
            .find(|(_, b)| b.margin_bits >= f64::from(required))
            .or_else(|| {
                budgets
                    .iter()
                    .max_by(|a, b| a.1.margin_bits.total_cmp(&b.1.margin_bits))
            })
            .ok_or(HeError::NoParameters { ell, required })?;
        Ok(Self {
            final_moduli: *final_moduli,
            degree,
            moduli_bits: moduli.iter().map(|&p| 64 - p.leading_zeros()).collect(),
            moduli,
            plaintext_bits: ell,
            weight_l1_bits,
            flood_bits: budget.flood_bits,
            flood_margin_bits: budget.margin_bits,
            final_budget_bits: budget.final_bits,
        })
    }

    /// The plaintext modulus t = 2^ℓ.
    pub fn plaintext_modulus(&self) -> u64 {
        1u64 << self.plaintext_bits
    }

    /// Serialized size of one polynomial holding the first `moduli` RNS components.
    fn poly_bytes(&self, moduli: usize) -> u64 {
        let payload: u64 = self.moduli_bits[..moduli]
            .iter()
            .map(|&b| (self.degree as u64 * u64::from(b)).div_ceil(8))
            .sum();
        payload + POLY_OVERHEAD
    }

    /// The top-level modulus Q when it fits 127 bits (uploads round it as one integer).
    pub(crate) fn top_modulus(&self) -> Option<u128> {
        self.moduli
            .iter()
            .try_fold(1u128, |acc, &q| acc.checked_mul(u128::from(q)))
            .filter(|&q| q < 1 << 127)
    }

    /// Bits per c0 coefficient of an upload that drops `drop` bits: one rounded integer mod
    /// Q, or (`drop` 0 and Q too wide) one residue per modulus.
    pub(crate) fn upload_widths(&self, drop: u32) -> Vec<u32> {
        match self.top_modulus() {
            Some(q) => vec![rounded_width(q, drop)],
            None => self
                .moduli
                .iter()
                .map(|&q| bits_of(u128::from(q) - 1))
                .collect(),
        }
    }

    /// Bytes of one client→server ciphertext: the 32-byte seed of its `a` (the server
    /// regenerates c1), c0 at the top level with `drop` low bits rounded away, and a
    /// 4-byte CRC-32.
    pub fn upload_bytes(&self, drop: u32) -> u64 {
        let n = self.degree;
        let c0: u64 = self
            .upload_widths(drop)
            .iter()
            .map(|&w| (n * w as usize).div_ceil(8) as u64)
            .sum();
        32 + c0 + 4
    }

    /// Bits per c1 residue of an answer with `drop` bits rounded away ([`Self::wire_bits`]
    /// drops bits only when one modulus is left).
    pub(crate) fn c1_widths(&self, drop: u32) -> Vec<u32> {
        self.moduli[..self.final_moduli]
            .iter()
            .map(|&q| rounded_width(u128::from(q), drop))
            .collect()
    }

    /// Bytes per c0 value of an answer with `drop` bits rounded away: whole bytes, so that an
    /// answer's size depends on its count of values alone (8 per residue with several moduli
    /// left).
    pub(crate) fn c0_value_bytes(&self, drop: u32) -> usize {
        if self.final_moduli == 1 {
            rounded_width(u128::from(self.moduli[0]), drop).div_ceil(8) as usize
        } else {
            8 * self.final_moduli
        }
    }

    /// Bytes of one server→client answer carrying `values` output coefficients: c0 at those
    /// coefficients only (whole bytes per value), then the whole c1 at the last level packed
    /// at its width, and a 4-byte CRC-32.
    pub fn answer_bytes(&self, values: usize, c0_drop: u32, c1_drop: u32) -> u64 {
        let c1: usize = self
            .c1_widths(c1_drop)
            .iter()
            .map(|&w| (self.degree * w as usize).div_ceil(8))
            .sum();
        (values * self.c0_value_bytes(c0_drop) + c1 + 4) as u64
    }

    /// Bytes of the client's public key (a seeded encryption of zero in the `fhe` crate's
    /// form), sent once per session.
    pub fn public_key_bytes(&self) -> u64 {
        self.poly_bytes(self.moduli.len()) + CT_OVERHEAD + 32
    }

    /// The wire rounding and flooding of a layer whose answers each sum at most
    /// `weights_per_answer` weights, with `inputs` uploads, `outputs` answers and `values`
    /// answer values: the drops that save the most bytes while the worst-case noise still
    /// decrypts, the flood keeping the whole bits of this session's margin
    /// (`⌊flood_margin_bits⌋`, at least what the session was chosen for) over the layer's
    /// own weight noise.
    pub fn wire_bits(
        &self,
        weights_per_answer: u64,
        inputs: usize,
        outputs: usize,
        values: usize,
    ) -> WireBits {
        let per_answer = (weights_per_answer.max(1) as f64).log2().ceil() as u32;
        let l1_bits = self.weight_l1_bits.min(per_answer + LAYER_WEIGHT_BITS);
        let kept = self.final_moduli;
        let room = Room::of(self.plaintext_bits, self.degree, &self.moduli, kept);
        let secret = (SECRET_L1_MAX * self.degree) as f64;
        let cost = |drop: u32| {
            if drop == 0 {
                0.0
            } else {
                2f64.powi(drop as i32 - 1)
            }
        };
        let flood_of = |upload_drop: u32| {
            let e_w = room.weight_noise(l1_bits, FRESH_NOISE + cost(upload_drop));
            let need = (e_w.log2() + self.flood_margin_bits.floor()).ceil() as u32;
            // Never above the session's flood, which the session's budget admits (a float
            // ceil of its own margin could otherwise land one bit over it).
            (upload_drop == 0 || need <= self.flood_bits).then(|| (e_w, need.min(self.flood_bits)))
        };
        let mut best = (
            0u128,
            WireBits {
                weight_l1_bits: l1_bits,
                flood_bits: flood_of(0).map_or(self.flood_bits, |(_, f)| f),
                upload_drop: 0,
                c0_drop: 0,
                c1_drop: 0,
            },
        );
        let max_upload = if self.top_modulus().is_some() { 100 } else { 0 };
        let max_answer = if kept == 1 {
            self.moduli_bits[0] - 1
        } else {
            0
        };
        for upload_drop in 0..=max_upload {
            let Some((e_w, flood_bits)) = flood_of(upload_drop) else {
                break;
            };
            let left = room.spare - (e_w + 2f64.powi(flood_bits as i32) + room.e_pk) / room.big_p;
            if left < 0.0 {
                break;
            }
            for c1_drop in 0..=max_answer {
                let left = left - cost(c1_drop) * secret;
                if left < 0.0 {
                    break;
                }
                let most = if left >= 1.0 {
                    (left.log2().floor() as u32 + 1).min(max_answer)
                } else {
                    0
                };
                // c0 values travel in whole bytes: the least drop with the same byte count.
                let value_bytes = self.c0_value_bytes(most);
                let c0_drop = (0..=most)
                    .find(|&d| self.c0_value_bytes(d) == value_bytes)
                    .unwrap_or(most);
                let saved = (inputs as u128 * u128::from(upload_drop)
                    + outputs as u128 * u128::from(c1_drop))
                    * self.degree as u128
                    + values as u128 * 8 * (8 * self.final_moduli - value_bytes) as u128;
                if saved > best.0 {
                    best = (
                        saved,
                        WireBits {
                            weight_l1_bits: l1_bits,
                            flood_bits,
                            upload_drop,
                            c0_drop,
                            c1_drop,
                        },
                    );
                }
            }
        }
        best.1
    }
}

/// Protobuf framing of one serialized polynomial (tags, lengths, degree, flags), upper bound.
const POLY_OVERHEAD: u64 = 16;
/// Protobuf framing of one serialized ciphertext around its polynomials, upper bound.
const CT_OVERHEAD: u64 = 8;

/// Built BFV parameters shared by every object of a session.
#[derive(Debug, Clone)]
pub struct HeParams {
    desc: HeParamsDesc,
    bfv: Arc<BfvParameters>,
}

impl HeParams {
    /// Choose ([`HeParamsDesc::for_bitlen`]) and build parameters for shares in Z_{2^ℓ}.
    pub fn for_bitlen(ell: u32) -> Result<Self, HeError> {
        Self::new(HeParamsDesc::for_bitlen(ell)?)
    }

    /// Build the BFV parameters a description names.
    pub fn new(desc: HeParamsDesc) -> Result<Self, HeError> {
        let bfv = BfvParametersBuilder::new()
            .set_degree(desc.degree)
            .set_plaintext_modulus(desc.plaintext_modulus())
            .set_moduli(&desc.moduli)
            .set_variance(VARIANCE)
            .build_arc()?;
        Ok(Self { desc, bfv })
    }

    /// The description these parameters were built from.
    pub fn desc(&self) -> &HeParamsDesc {
        &self.desc
    }

    /// The shared BFV parameters.
    pub fn bfv(&self) -> &Arc<BfvParameters> {
        &self.bfv
    }

    /// Polynomial degree N.
    pub fn degree(&self) -> usize {
        self.desc.degree
    }

    /// ℓ, the share bit length.
    pub fn ell(&self) -> u32 {
        self.desc.plaintext_bits
    }
}

fn check_ell(ell: u32) -> Result<(), HeError> {
    if (2..=60).contains(&ell) {
        Ok(())
    } else {
        Err(HeError::BitLength { ell })
    }
}

/// Split `total` bits into `count` sizes, largest first, each at most 62.
fn split_bits(total: u32, count: usize) -> Vec<u32> {
    let count32 = count as u32;
    (0..count32)
        .map(|i| (total / count32 + u32::from(i < total % count32)).min(62))
        .collect()
}

/// Distinct NTT-friendly primes of the given sizes, each ≡ 1 mod 2^a with a as close to ℓ
/// as the size allows, so that Q mod 2^ℓ stays small.
fn find_moduli(ell: u32, degree: usize, bits: &[u32]) -> Result<Vec<u64>, HeError> {
    let min_a = (2 * degree).trailing_zeros();
    let mut moduli: Vec<u64> = Vec::with_capacity(bits.len());
    for &size in bits {
        if !(20..=62).contains(&size) {
            return Err(HeError::Primes { bits: size, degree });
        }
        let mut found = None;
        let mut a = ell.min(size - 8).max(min_a);
        while found.is_none() && a >= min_a {
            found = next_prime(size, 1u64 << a, &moduli);
            a -= 1;
        }
        moduli.push(found.ok_or(HeError::Primes { bits: size, degree })?);
    }
    Ok(moduli)
}

/// The largest `size`-bit prime ≡ 1 mod `step` (a power of two) not already in `taken`.
fn next_prime(size: u32, step: u64, taken: &[u64]) -> Option<u64> {
    // `generate_prime` starts at `upper − 1` and walks down by `modulo` once it is ≡ 1.
    let mut upper = (((1u64 << size) - 1) & !(step - 1)) + 2;
    loop {
        let p = generate_prime(size as usize, step, upper)?;
        if !taken.contains(&p) {
            return Some(p);
        }
        upper = p.checked_sub(step)? + 2;
    }
}

/// The worst-case noise budget of one linear layer.
struct Budget {
    flood_bits: u32,
    margin_bits: f64,
    final_bits: f64,
}

/// The worst-case noise terms at the last level of a layer's answers, for `kept` moduli
/// left: what the session's [`Budget`] and each layer's [`HeParamsDesc::wire_bits`] share.
struct Room {
    /// Q mod t: the wrap term of the ct×pt product.
    rho_q: f64,
    /// Enc_pk(0)'s noise: e_pk·u + e1 + e2·s.
    e_pk: f64,
    /// The product of the moduli switched away.
    big_p: f64,
    /// What decrypts at the last level: q_last / 2t − (q_last mod t) − 1.
    limit: f64,
    /// Half the limit less the switch's rounding and the wrap terms: the room for the
    /// flood (divided by `big_p`) and the wire rounding, one bit spare.
    spare: f64,
    /// The modulus switch's rounding.
    r_ms: f64,
    /// q_last mod t.
    rho_0: f64,
}

impl Room {
    fn of(ell: u32, degree: usize, moduli: &[u64], kept: usize) -> Self {
        let t = 2f64.powi(ell as i32);
        let mask = (1u64 << ell) - 1;
        let wrap =
            |moduli: &[u64]| (moduli.iter().fold(1u64, |a, &p| a.wrapping_mul(p)) & mask) as f64;
        let (rho_q, rho_0) = (wrap(moduli), wrap(&moduli[..kept]));
        let n = degree as f64;
        // Rounding of each modulus switch: (1 + ||s||_1)/2, twice for the geometric tail,
        // with ||s||_1 at most SECRET_L1_MAX·N.
        let r_ms = if kept == moduli.len() {
            0.0
        } else {
            1.0 + (SECRET_L1_MAX as f64) * n
        };
        let q0: f64 = moduli[..kept].iter().map(|&p| p as f64).product();
        let limit = q0 / (2.0 * t) - rho_0 - 1.0;
        Room {
            rho_q,
            e_pk: 2.0 * FRESH_NOISE * FRESH_NOISE * n + FRESH_NOISE,
            big_p: moduli[kept..].iter().map(|&p| p as f64).product(),
            limit,
            spare: limit / 2.0 - r_ms - rho_0 - 1.0,
            r_ms,
            rho_0,
        }
    }

    /// Weight-dependent noise with weight L1 norm 2^`l1_bits` on fresh noise bounded by
    /// `fresh`: e·ŵ plus the (Q mod t)·k wrap term, plus the additions.
    fn weight_noise(&self, l1_bits: u32, fresh: f64) -> f64 {
        2f64.powi(l1_bits as i32) * (fresh + self.rho_q) + 3.0 * self.rho_q
    }
}

impl Budget {
    /// The budget when `kept` moduli remain after switching down.
    fn compute(ell: u32, degree: usize, moduli: &[u64], kept: usize, l1_bits: u32) -> Option<Self> {
        let room = Room::of(ell, degree, moduli, kept);
        let e_w = room.weight_noise(l1_bits, FRESH_NOISE);
        let flood_max = room.spare * room.big_p - e_w - room.e_pk;
        if flood_max < 2.0 || room.spare < 1.0 {
            return None;
        }
        let flood_bits = (flood_max.log2().floor() as u32).min(MAX_FLOOD_BITS);
        let flood = 2f64.powi(flood_bits as i32);
        let noise = (e_w + flood + room.e_pk) / room.big_p + room.r_ms + room.rho_0 + 1.0;
        Some(Self {
            flood_bits,
            margin_bits: f64::from(flood_bits) - e_w.log2(),
            final_bits: room.limit.log2() - noise.log2(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ell_41_uses_degree_8192_with_a_40_bit_margin() {
        let desc = HeParamsDesc::for_bitlen(41).unwrap();
        assert_eq!(desc.degree, 8192);
        assert!(desc.flood_margin_bits >= 40.0, "{desc:?}");
        assert!(desc.final_budget_bits >= 1.0, "{desc:?}");
        let logq: u32 = desc.moduli_bits.iter().sum();
        assert!(logq <= 218);
        for &p in &desc.moduli {
            assert_eq!(p % (1 << 41), 1, "prime {p} is not 1 mod 2^41");
        }
        // The choice round-trips through JSON.
        let json = serde_json::to_string(&desc).unwrap();
        assert_eq!(serde_json::from_str::<HeParamsDesc>(&json).unwrap(), desc);
    }

    #[test]
    fn every_supported_bitlen_has_parameters() {
        for ell in [8, 16, 24, 32, 37, 41, 48, 52, 56, 60] {
            let desc = HeParamsDesc::for_bitlen(ell).unwrap();
            assert!(desc.flood_margin_bits >= 40.0, "ℓ={ell}: {desc:?}");
            assert!(desc.final_budget_bits >= 1.0, "ℓ={ell}: {desc:?}");
        }
        assert!(HeParamsDesc::for_bitlen(61).is_err());
    }

    #[test]
    fn wire_bits_follow_the_layer_weight_bound() {
        let desc = HeParamsDesc::for_bitlen(41).unwrap();
        // A layer as heavy as the session's bound floods as the session does (its uploads
        // drop only the few bits the margin's fraction leaves).
        let heavy = desc.wire_bits(1 << 19, 10, 10, 10_000);
        assert_eq!(heavy.weight_l1_bits, desc.weight_l1_bits);
        assert_eq!(heavy.flood_bits, desc.flood_bits);
        assert!(heavy.upload_drop <= 5, "{heavy:?}");
        // Lighter layers: a smaller bound, and never fewer bits dropped from uploads.
        let mut last = heavy;
        for log_weights in (0..19).rev() {
            let bits = desc.wire_bits(1 << log_weights, 10, 10, 10_000);
            assert_eq!(
                bits.weight_l1_bits,
                desc.weight_l1_bits.min(log_weights + LAYER_WEIGHT_BITS)
            );
            assert!(
                bits.upload_drop >= last.upload_drop,
                "{bits:?} after {last:?}"
            );
            assert!(bits.flood_bits <= desc.flood_bits);
            // The flood keeps the whole bits of the session's margin over the layer's noise.
            let e_w = 2f64.powi(bits.weight_l1_bits as i32)
                * (20.0 + 2f64.powi(bits.upload_drop as i32 - 1) + 1.0);
            assert!(f64::from(bits.flood_bits) - e_w.log2() >= desc.flood_margin_bits.floor());
            last = bits;
        }
        // c0 values keep whole bytes: the drop is the least with its byte count.
        let bytes = desc.c0_value_bytes(last.c0_drop);
        assert!(last.c0_drop == 0 || desc.c0_value_bytes(last.c0_drop - 1) > bytes);
        // Several moduli left (a 40-bit margin per inference): nothing dropped from answers.
        let wide = HeParamsDesc::for_margin(41, 62).unwrap();
        if wide.final_moduli > 1 {
            let bits = wide.wire_bits(64, 10, 10, 10_000);
            assert_eq!(
                wide.answer_bytes(7, bits.c0_drop, bits.c1_drop),
                wide.answer_bytes(7, 0, 0)
            );
        }
    }

    #[test]
    fn power_of_two_plaintext_modulus_builds() {
        let params = HeParams::for_bitlen(41).unwrap();
        assert_eq!(params.bfv().plaintext(), 1 << 41);
        assert_eq!(params.bfv().degree(), 8192);
    }
}
